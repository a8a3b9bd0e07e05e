// A third-party OTLP server for Vigil's exporter tests: OTLP/gRPC with
// @grpc/grpc-js (the .proto files of the repository, loaded by
// @grpc/proto-loader) and OTLP/HTTP (protobuf and JSON) with node's http.
// Every request it accepts is appended to --out as one OTLP/JSON line, so the
// test can compare what arrived with what Vigil read (tests/otlp_items.py).
//
//   node otlp_server.js --grpc-port P --http-port Q --out FILE [options]
//     --fail-rate R       fail this share of requests (seeded): UNAVAILABLE / 503 + Retry-After
//     --retry-after S     seconds in Retry-After (HTTP) / RetryInfo (gRPC, with --exhausted)
//     --exhausted         gRPC failures are RESOURCE_EXHAUSTED with RetryInfo instead
//     --delay-ms N        delay each accepted answer by up to N ms (seeded)
//     --permanent         answer every request INVALID_ARGUMENT / 400
//     --partial N         accept, but answer partial success with N rejected items
//     --tls-cert F --tls-key F [--tls-client-ca F]   TLS (and mTLS) on both ports
//     --seed N
// GET /_stats on the HTTP port (or --admin-port, plain HTTP) returns the counters as JSON.
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const https = require('https');
const zlib = require('zlib');
const { spawnSync } = require('child_process');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) continue;
  const k = a.slice(2);
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith('--')) args[k] = true;
  else { args[k] = next; i++; }
}
const repo = path.resolve(__dirname, '../../..');
const protoDir = path.join(repo, 'proto');
const failRate = Number(args['fail-rate'] || 0);
const delayMs = Number(args['delay-ms'] || 0);
const retryAfter = Number(args['retry-after'] || 1);
const partial = Number(args.partial || 0);
let seed = Number(args.seed || 12345) >>> 0;
function rand() { // mulberry32: reproducible failure patterns
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const opts = { keepCase: false, longs: String, enums: Number, bytes: String, defaults: false, oneofs: false,
               includeDirs: [protoDir] };
const files = ['trace', 'metrics', 'logs'].map(
  (s) => `opentelemetry/proto/collector/${s}/v1/${s === 'trace' ? 'trace' : s}_service.proto`);
const pkg = loader.loadSync(files, opts);
const SIGNALS = {
  traces: { svc: 'opentelemetry.proto.collector.trace.v1.TraceService', res: 'resourceSpans', scope: 'scopeSpans',
            items: 'spans', rejected: 'rejectedSpans' },
  metrics: { svc: 'opentelemetry.proto.collector.metrics.v1.MetricsService', res: 'resourceMetrics',
             scope: 'scopeMetrics', items: 'metrics', rejected: 'rejectedDataPoints' },
  logs: { svc: 'opentelemetry.proto.collector.logs.v1.LogsService', res: 'resourceLogs', scope: 'scopeLogs',
          items: 'logRecords', rejected: 'rejectedLogRecords' },
};

const stats = { grpc: { attempts: 0, ok: 0, failed: 0 }, http: { attempts: 0, ok: 0, failed: 0 }, items: 0,
                requests: [], encodings: {}, headers: null };
const out = args.out ? fs.openSync(args.out, 'a') : null;

function b64hex(v) { return Buffer.from(v, 'base64').toString('hex'); }
const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
// proto-loader objects → OTLP/JSON (ids in hex, other bytes stay base64).
function toOtlpJson(v, key) {
  if (Array.isArray(v)) return v.map((x) => toOtlpJson(x));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = toOtlpJson(x, k);
    return o;
  }
  if (typeof v === 'string' && ID_KEYS.has(key)) return b64hex(v);
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  return v;
}

function countItems(sig, req) {
  const d = SIGNALS[sig];
  let n = 0;
  for (const r of req[d.res] || [])
    for (const s of r[d.scope] || [])
      for (const it of s[d.items] || []) {
        if (sig !== 'metrics') { n++; continue; }
        for (const kind of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'])
          if (it[kind]) n += (it[kind].dataPoints || []).length;
      }
  return n;
}

function record(sig, proto, json, meta) {
  stats[proto].ok++;
  const n = countItems(sig, json);
  stats.items += n;
  stats.requests.push({ sig, proto, items: n });
  if (stats.requests.length > 2000) stats.requests.shift();
  if (meta) stats.headers = meta;
  if (out !== null) fs.writeSync(out, JSON.stringify(json) + '\n');
  return n;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// google.rpc.Status{code, message, details:[Any{RetryInfo{retry_delay}}]} by hand.
function varint(n) { const b = []; n = BigInt(n); do { let x = Number(n & 0x7fn); n >>= 7n; if (n) x |= 0x80; b.push(x); } while (n); return Buffer.from(b); }
function field(num, wt, payload) {
  if (wt === 0) return Buffer.concat([varint((num << 3) | 0), varint(payload)]);
  return Buffer.concat([varint((num << 3) | 2), varint(payload.length), payload]);
}
function statusWithRetryInfo(code, msg, seconds) {
  const dur = field(1, 0, seconds);
  const ri = field(1, 2, dur);
  const any = Buffer.concat([field(1, 2, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), field(2, 2, ri)]);
  return Buffer.concat([field(1, 0, code), field(2, 2, Buffer.from(msg)), field(3, 2, any)]);
}

// ---- decide the fate of one request ----------------------------------------
function fate() {
  if (args.permanent) return 'permanent';
  if (failRate > 0 && rand() < failRate) return 'fail';
  return 'ok';
}

// ---- gRPC ---------------------------------------------------------------------
function grpcHandler(sig) {
  return async (call, callback) => {
    stats.grpc.attempts++;
    const enc = call.metadata.get('grpc-encoding')[0] || 'identity';
    stats.encodings[enc] = (stats.encodings[enc] || 0) + 1;
    const f = fate();
    if (f === 'permanent') {
      stats.grpc.failed++;
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'injected permanent error' });
    }
    if (f === 'fail') {
      stats.grpc.failed++;
      if (args.exhausted) {
        const md = new grpc.Metadata();
        md.set('grpc-status-details-bin', statusWithRetryInfo(8, 'slow down', retryAfter));
        return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down', metadata: md });
      }
      return callback({ code: grpc.status.UNAVAILABLE, details: 'injected failure' });
    }
    if (delayMs) await sleep(Math.floor(rand() * delayMs));
    const json = toOtlpJson(call.request);
    record(sig, 'grpc', json, call.metadata.getMap());
    const resp = partial ? { partialSuccess: { [SIGNALS[sig].rejected]: String(partial), errorMessage: 'injected partial' } } : {};
    callback(null, resp);
  };
}

// ---- HTTP ---------------------------------------------------------------------
function decodeBody(req, buf) {
  const ce = (req.headers['content-encoding'] || 'identity').toLowerCase();
  stats.encodings[ce] = (stats.encodings[ce] || 0) + 1;
  if (ce === 'gzip') return zlib.gunzipSync(buf);
  if (ce === 'zstd') { // node 20 has no zstd: the zstd command decodes
    const r = spawnSync('zstd', ['-dc'], { input: buf, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error('zstd: ' + r.stderr);
    return r.stdout;
  }
  if (ce === 'identity' || ce === 'none') return buf;
  throw new Error('unsupported content-encoding ' + ce);
}

function httpHandler(req, res) {
  if (req.method === 'GET' && req.url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  const m = /^\/v1\/(traces|metrics|logs)$/.exec(req.url.split('?')[0]);
  if (!m || req.method !== 'POST') { res.writeHead(404); return res.end(); }
  const sig = m[1];
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    stats.http.attempts++;
    const isJson = (req.headers['content-type'] || '').includes('json');
    const ctype = isJson ? 'application/json' : 'application/x-protobuf';
    const f = fate();
    if (f !== 'ok') {
      stats.http.failed++;
      if (f === 'permanent') {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ code: 3, message: 'injected permanent error' }));
      }
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': String(retryAfter) });
      return res.end(JSON.stringify({ code: 14, message: 'injected failure' }));
    }
    let json;
    try {
      const body = decodeBody(req, Buffer.concat(chunks));
      if (isJson) json = JSON.parse(body.toString('utf8'));
      else json = toOtlpJson(pkg[SIGNALS[sig].svc].Export.requestDeserialize(body));
    } catch (e) {
      stats.http.failed++;
      res.writeHead(400, { 'content-type': 'text/plain' });
      return res.end(String(e.message || e));
    }
    if (delayMs) await sleep(Math.floor(rand() * delayMs));
    record(sig, 'http', json, req.headers);
    const resp = partial ? { partialSuccess: { [SIGNALS[sig].rejected]: String(partial), errorMessage: 'injected partial' } } : {};
    res.writeHead(200, { 'content-type': ctype });
    if (isJson) res.end(JSON.stringify(resp));
    else res.end(pkg[SIGNALS[sig].svc].Export.responseSerialize(resp));
  });
}

// ---- start ----------------------------------------------------------------------
const tls = args['tls-cert'] ? {
  cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']),
  ca: args['tls-client-ca'] ? fs.readFileSync(args['tls-client-ca']) : null,
} : null;

let pending = 0;
function ready() { if (--pending === 0) console.log('otlp_server ready'); }
if (args['grpc-port']) {
  pending++;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
  for (const [sig, d] of Object.entries(SIGNALS)) server.addService(pkg[d.svc], { Export: grpcHandler(sig) });
  const creds = tls
    ? grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], !!tls.ca)
    : grpc.ServerCredentials.createInsecure();
  server.bindAsync(`127.0.0.1:${args['grpc-port']}`, creds, (err) => {
    if (err) { console.error('grpc bind: ' + err.message); process.exit(1); }
    ready();
  });
}
if (args['http-port']) {
  pending++;
  const srv = tls
    ? https.createServer({ cert: tls.cert, key: tls.key, ca: tls.ca || undefined, requestCert: !!tls.ca,
                           rejectUnauthorized: !!tls.ca }, httpHandler)
    : http.createServer(httpHandler);
  srv.keepAliveTimeout = 60000;
  srv.listen(Number(args['http-port']), '127.0.0.1', ready);
  srv.on('error', (e) => { console.error('http: ' + e.message); process.exit(1); });
}
if (args['admin-port']) { // plain HTTP /_stats, also when the data ports use TLS
  pending++;
  const adm = http.createServer(httpHandler);
  adm.listen(Number(args['admin-port']), '127.0.0.1', ready);
}
process.on('SIGTERM', () => process.exit(0));
