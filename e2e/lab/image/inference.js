// nemoclaw-lab stand-in for https://inference.local: an OpenAI-compatible
// endpoint answering GET /v1/models (and a canned chat completion), on
// 127.0.0.1:443 inside the sandbox with the lab's self-signed certificate.
// Usage: node inference.js KEY CERT
'use strict';
const fs = require('fs');
const https = require('https');

const models = { object: 'list', data: [{ id: 'nemoclaw-lab/stub-model', object: 'model', created: 0, owned_by: 'nemoclaw-lab' }] };

https.createServer({ key: fs.readFileSync(process.argv[2]), cert: fs.readFileSync(process.argv[3]) }, (req, res) => {
  const url = (req.url || '/').split('?')[0];
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body) + '\n');
  };
  if (req.method === 'GET' && url === '/v1/models') return json(200, models);
  if (req.method === 'POST' && url === '/v1/chat/completions') {
    req.resume();
    return req.on('end', () => json(200, {
      id: 'chatcmpl-nemoclaw-lab', object: 'chat.completion', created: 0, model: models.data[0].id,
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }],
    }));
  }
  json(404, { error: { message: `no route ${req.method} ${url}`, type: 'invalid_request_error' } });
}).listen(443, '127.0.0.1', () => process.stderr.write(`inference stub listening on 127.0.0.1:443 (pid ${process.pid})\n`));
