// A third-party OTLP client for Vigil's tests: sends the trace requests of an
// OTLP/JSON lines file (cycling over them) over gRPC (@grpc/grpc-js) or
// OTLP/HTTP JSON (node's http), a few at a time, and prints the answers it got
// as JSON: {"grpc": {"OK": n, "UNAVAILABLE": n, ...}} or {"http": {"200": n, "503": n}}.
//   node otlp_client.js (--grpc HOST:PORT | --http URL) --file F --count N [--concurrency C]
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const lines = fs.readFileSync(args.file, 'utf8').split('\n').filter((l) => l.trim());
const count = Number(args.count || lines.length);
const conc = Number(args.concurrency || 4);
const codes = {};
const bump = (k) => { codes[k] = (codes[k] || 0) + 1; };

function hexToB64(v) { return Buffer.from(v, 'hex').toString('base64'); }
const IDS = new Set(['traceId', 'spanId', 'parentSpanId']);
function fromJson(v, key) {
  if (Array.isArray(v)) return v.map((x) => fromJson(x));
  if (v && typeof v === 'object') { const o = {}; for (const [k, x] of Object.entries(v)) o[k] = fromJson(x, k); return o; }
  if (typeof v === 'string' && IDS.has(key)) return hexToB64(v);
  return v;
}

let send;
if (args.grpc) {
  const protoDir = path.resolve(__dirname, '../../../proto');
  const pkg = loader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto',
    { keepCase: false, longs: String, enums: Number, bytes: String, defaults: false, includeDirs: [protoDir] });
  const Client = grpc.makeGenericClientConstructor(pkg['opentelemetry.proto.collector.trace.v1.TraceService'], 'Trace');
  const client = new Client(args.grpc, grpc.credentials.createInsecure());
  const reqs = lines.map((l) => fromJson(JSON.parse(l)));
  const names = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
  send = (i) => new Promise((resolve) => {
    client.Export(reqs[i % reqs.length], { deadline: Date.now() + 10000 }, (err) => {
      bump(err ? names[err.code] || String(err.code) : 'OK');
      resolve();
    });
  });
} else {
  const u = new URL(args.http);
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  send = (i) => new Promise((resolve) => {
    const body = Buffer.from(lines[i % lines.length]);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => { bump(String(res.statusCode) + (res.headers['retry-after'] ? '+retry-after' : '')); resolve(); });
    });
    req.on('error', (e) => { bump('error:' + e.code); resolve(); });
    req.end(body);
  });
}

(async () => {
  let next = 0;
  const worker = async () => { while (next < count) await send(next++); };
  await Promise.all(Array.from({ length: conc }, worker));
  console.log(JSON.stringify(args.grpc ? { grpc: codes } : { http: codes }));
  process.exit(0);
})();
