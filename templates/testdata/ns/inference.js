'use strict';
// Test stand-in for the sandbox's inference route: an HTTPS server on
// 127.0.0.1:443 (inference.local in the namespace's hosts file) with a
// throwaway self-signed certificate. argv: key cert status.
const fs = require('fs');
const https = require('https');
const [key, cert, status] = process.argv.slice(2);
https.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)}, (req, res) => {
  const code = Number(status) || 200;
  res.writeHead(code, {'content-type': 'application/json'});
  res.end(code === 200 ? '{"object":"list","data":[{"id":"nstest-model"}]}\n' : '{"error":"nstest upstream unavailable 503"}\n');
}).listen(443, '127.0.0.1');
