#!/usr/bin/node
'use strict';
// Test gateway for the payload namespace tests (templates/nstest_harness_test.go).
// Installed as /usr/local/bin/openclaw and /usr/local/bin/hermes inside the
// test namespace. It records how it was started (argv, ids, NODE_OPTIONS, the
// whole environment, which preloads really ran, where its stdio points) to
// /run/ns/rec before serving, so a test can prove what the payload launched.
// Behaviour knobs come from /run/ns/gw.json, never from the environment the
// payload controls.
const fs = require('fs');
const http = require('http');
const path = require('path');
const childProcess = require('child_process');

const args = process.argv.slice(2);
const bin = path.basename(process.argv[1] || '');
let cfg = {};
try {
  cfg = JSON.parse(fs.readFileSync('/run/ns/gw.json', 'utf8'));
} catch (e) {
  cfg = {};
}

function fdTarget(n) {
  try {
    return fs.readlinkSync('/proc/self/fd/' + n);
  } catch (e) {
    return '';
  }
}

// statField returns field n (1-based, as in proc(5)) of /proc/self/stat.
function statField(n) {
  try {
    const s = fs.readFileSync('/proc/self/stat', 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[n - 3];
  } catch (e) {
    return '';
  }
}

function flag(name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(name + '=')) return args[i].slice(name.length + 1);
  }
  return '';
}

let role = 'unknown';
let port = 0;
if (args[0] === 'gateway' && args[1] === 'run') {
  role = bin + '-gateway';
  port = Number(flag('--port')) || (bin === 'hermes' ? 8642 : 18789);
} else if (args[0] === 'dashboard') {
  role = bin + '-dashboard';
  port = Number(flag('--port')) || 9119;
}

// PID 1 of the namespace in the stale-gateway case: an "openclaw gateway"
// that no signal from inside the namespace can stop (the kernel drops
// signals to a PID namespace's init that it has no handler for, SIGKILL
// included). It runs the case's inner script as its child and never serves.
if (process.pid === 1 && process.env.NSTEST_INIT_CHILD) {
  const child = process.env.NSTEST_INIT_CHILD;
  fs.writeFileSync('/run/ns/rec/stale-init.json', JSON.stringify({pid: 1, args}));
  childProcess.spawn('/bin/bash', [child], {stdio: 'inherit', env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'}});
  setInterval(() => {}, 1 << 30);
  return;
}

// statusField returns a field of /proc/self/status ("Umask" is the one
// the tests need: what the payload launched us with).
function statusField(name) {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + name + ':\\s*(\\S+)', 'm'));
    return m ? m[1] : '';
  } catch (e) {
    return '';
  }
}

const fixture = process.env.NSTEST_FIXTURE === '1';
// A fixture process may play a stale gateway: renamed the way OpenClaw
// renames itself, and never listening.
if (fixture && cfg.fixtureTitle) process.title = cfg.fixtureTitle;

const rec = {
  pid: process.pid,
  ppid: process.ppid,
  uid: process.getuid(),
  gid: process.getgid(),
  euid: process.geteuid(),
  bin: process.argv[1],
  args,
  role,
  port,
  env: process.env,
  preloads: globalThis.__nstestPreloads || [],
  fds: [0, 1, 2].map(fdTarget),
  sid: statField(6),
  pgid: statField(5),
  cwd: process.cwd(),
  umask: statusField('Umask'),
  fixture,
};
fs.writeFileSync('/run/ns/rec/start-' + role + '-' + process.pid + '.json', JSON.stringify(rec));
console.log('nstest-gateway ' + role + ' pid ' + process.pid + ' starting on port ' + port);

if (cfg.noListen || role === 'unknown' || (fixture && cfg.fixtureNoListen)) {
  setInterval(() => {}, 1 << 30);
  return;
}

let healthy = false;
const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, {'content-type': 'application/json'});
    res.end('{"ok":true}\n');
    if (!healthy && cfg.dieAfterFirstHealthMs && !process.env.NSTEST_FIXTURE) {
      healthy = true;
      setTimeout(() => {
        console.log('nstest-gateway: ' + (cfg.dieMessage || 'dying during settle'));
        process.exit(3);
      }, cfg.dieAfterFirstHealthMs);
    }
    return;
  }
  if (fixture && cfg.fixtureRootStatus) {
    res.writeHead(cfg.fixtureRootStatus, {'location': '/'});
    res.end();
    return;
  }
  res.writeHead(200, {'content-type': 'text/html'});
  res.end('<!doctype html><title>OpenClaw Control</title>\n');
});
setTimeout(() => {
  server.listen(port, '127.0.0.1', () => {
    console.log('nstest-gateway ' + role + ' listening on 127.0.0.1:' + port);
  });
}, process.env.NSTEST_FIXTURE ? 0 : cfg.startDelayMs || 0);
