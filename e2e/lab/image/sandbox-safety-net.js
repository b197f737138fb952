// nemoclaw-lab trusted preload: sandbox safety net.
//
// Installed root:root 0644 under /usr/local/lib/nemoclaw/preloads/ and staged
// into /tmp by the sandbox entrypoint, like the real image's. It installs
// last-resort handlers so one stray error does not take the gateway down, and
// sets a marker the lab's stub gateways check: a stub that runs without this
// marker exits at once, so a stub that stays up proves the preload loaded.
'use strict';
if (!globalThis.__nemoclawLabSafetyNet) {
  Object.defineProperty(globalThis, '__nemoclawLabSafetyNet', { value: { loadedFrom: __filename, pid: process.pid } });
  process.on('uncaughtException', (err) => {
    process.stderr.write(`[sandbox-safety-net] uncaught exception kept the process alive: ${err && err.stack || err}\n`);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`[sandbox-safety-net] unhandled rejection kept the process alive: ${reason && reason.stack || reason}\n`);
  });
}
