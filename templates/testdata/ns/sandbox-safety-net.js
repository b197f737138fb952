// nstest trusted sandbox-safety-net preload: the image-owned bytes. Loading it
// leaves a marker the test gateway records.
(globalThis.__nstestPreloads = globalThis.__nstestPreloads || []).push('safety-net:trusted');
