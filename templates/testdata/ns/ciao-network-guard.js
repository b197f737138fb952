// nstest trusted ciao-network-guard preload: the image-owned bytes. Loading it
// leaves a marker the test gateway records.
(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('ciao:trusted');
