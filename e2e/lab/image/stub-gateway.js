// nemoclaw-lab stub gateway, installed inside a lab sandbox as
// /usr/local/bin/openclaw or /usr/local/bin/hermes (the basename picks the
// agent). The lab prepends one line defining LAB_HERMES_DASHBOARD_PORT.
//
// It exists to make the guard chain testable: like a real gateway without its
// library guards, it dies at start unless BOTH trusted preloads really ran
// (their markers are set), so a stub that stays up proves they were loaded.
'use strict';
const http = require('http');
const path = require('path');

const agent = path.basename(process.argv[1] || 'openclaw');
const args = process.argv.slice(2);
const tag = `[${agent}-stub]`;

function say(msg) { process.stderr.write(`${tag} ${msg}\n`); }

function usage(msg) {
  say(msg);
  say(agent === 'hermes'
    ? 'usage: hermes gateway run | hermes dashboard --host H --port P [--skip-build] [--no-open]'
    : 'usage: openclaw gateway run --port P');
  process.exit(2);
}

function flagValue(name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(name + '=')) return args[i].slice(name.length + 1);
  }
  return undefined;
}

function portFlag(fallback) {
  const v = flagValue('--port');
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) usage(`invalid --port ${JSON.stringify(v)}`);
  return n;
}

// requireGuards ends the process unless both preload markers are present.
function requireGuards() {
  const missing = [];
  if (!globalThis.__nemoclawLabSafetyNet) missing.push('sandbox-safety-net');
  if (!globalThis.__nemoclawLabCiaoGuard) missing.push('ciao-network-guard');
  if (missing.length === 0) return;
  say(`guard preload(s) not loaded: ${missing.join(', ')} (NODE_OPTIONS=${JSON.stringify(process.env.NODE_OPTIONS || '')})`);
  say('Error: uv_interface_addresses returned Unknown system error 1 - exiting like an unguarded gateway does');
  process.exit(1);
}

function serve(host, port, routes, name) {
  const server = http.createServer((req, res) => {
    const url = (req.url || '/').split('?')[0];
    const route = routes[url] || routes['*'];
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found', path: url }) + '\n');
      return;
    }
    const [status, type, body] = route();
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  });
  server.on('error', (err) => {
    say(`${name}: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => say(`${name} listening on ${host}:${port} (pid ${process.pid})`));
}

function health() {
  return [200, 'application/json', JSON.stringify({ ok: true, status: 'live', agent, pid: process.pid }) + '\n'];
}

function page(title) {
  return () => [200, 'text/html; charset=utf-8',
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>` +
    `<body><h1>${title}</h1><p>nemoclaw-lab stub gateway, pid ${process.pid}</p></body></html>\n`];
}

if (args[0] === '--version' || args[0] === 'version') {
  process.stdout.write(`${agent} 0.0.0-nemoclaw-lab-stub\n`);
  process.exit(0);
}

if (agent === 'hermes') {
  if (args[0] === 'gateway' && args[1] === 'run') {
    requireGuards();
    serve('127.0.0.1', 8642, { '/health': health, '/v1/health': health }, 'hermes gateway API');
    serve('127.0.0.1', LAB_HERMES_DASHBOARD_PORT, { '/health': health, '*': page('Hermes Agent') }, 'hermes dashboard');
  } else if (args[0] === 'dashboard') {
    requireGuards();
    const host = flagValue('--host') || '127.0.0.1';
    serve(host, portFlag(9119), { '/health': health, '*': page('Hermes Agent') }, 'hermes dashboard');
  } else {
    usage(`unknown command: ${args.join(' ')}`);
  }
} else {
  if (args[0] === 'gateway' && (args[1] === 'run' || args[1] === undefined || args[1].startsWith('-'))) {
    requireGuards();
    serve('127.0.0.1', portFlag(18789), { '/health': health, '/healthz': health, '*': page('OpenClaw Control') }, 'openclaw gateway');
  } else {
    usage(`unknown command: ${args.join(' ')}`);
  }
}
