// nemoclaw-lab trusted preload: ciao network guard.
//
// The real guard stops @homebridge/ciao from crashing the gateway when
// os.networkInterfaces() fails with EPERM inside a sandbox. This one wraps
// os.networkInterfaces() the same way (a failure returns an empty list) and
// sets a marker the lab's stub gateways check before they agree to run.
'use strict';
const os = require('os');
if (!globalThis.__nemoclawLabCiaoGuard) {
  const original = os.networkInterfaces;
  os.networkInterfaces = function guardedNetworkInterfaces(...args) {
    try {
      return original.apply(this, args);
    } catch (err) {
      process.stderr.write(`[ciao-network-guard] os.networkInterfaces() failed, returning none: ${err && err.message}\n`);
      return {};
    }
  };
  Object.defineProperty(globalThis, '__nemoclawLabCiaoGuard', { value: { loadedFrom: __filename, pid: process.pid } });
}
