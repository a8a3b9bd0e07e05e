// Sends rich telemetry with the official OpenTelemetry JS SDK and its OTLP
// exporters to a receiver, and writes what it sent as OTLP/JSON lines (the
// SDK's own JSON serializer over the very batches handed to the exporter), so
// a test can check that the receiver's output holds exactly those items.
//
//   node otlp_sdk_receive.js --protocol grpc|proto|json --compression gzip|none
//        --grpc http://127.0.0.1:4317 --http http://127.0.0.1:4318
//        --out expected.jsonl --tag NAME [--signals traces,metrics,logs]
//
// Exits 0 when every export succeeded, 1 otherwise (with the error on stderr).
'use strict';

const fs = require('fs');
const api = require('@opentelemetry/api');
const { ExportResultCode } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const {
  MeterProvider, PeriodicExportingMetricReader, AggregationType,
} = require('@opentelemetry/sdk-metrics');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const {
  JsonTraceSerializer, JsonMetricsSerializer, JsonLogsSerializer,
} = require('@opentelemetry/otlp-transformer');

function args() {
  const a = { protocol: 'grpc', compression: 'none', grpc: 'http://127.0.0.1:4317', http: 'http://127.0.0.1:4318',
    out: 'expected.jsonl', tag: 'run', signals: 'traces,metrics,logs' };
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return a;
}
const opt = args();
const signals = new Set(opt.signals.split(','));

function exporterFor(signal) {
  const pkgs = {
    grpc: { traces: 'exporter-trace-otlp-grpc', metrics: 'exporter-metrics-otlp-grpc', logs: 'exporter-logs-otlp-grpc' },
    proto: { traces: 'exporter-trace-otlp-proto', metrics: 'exporter-metrics-otlp-proto', logs: 'exporter-logs-otlp-proto' },
    json: { traces: 'exporter-trace-otlp-http', metrics: 'exporter-metrics-otlp-http', logs: 'exporter-logs-otlp-http' },
  };
  const cls = { traces: 'OTLPTraceExporter', metrics: 'OTLPMetricExporter', logs: 'OTLPLogExporter' };
  const mod = require('@opentelemetry/' + pkgs[opt.protocol][signal]);
  const url = opt.protocol === 'grpc' ? opt.grpc : `${opt.http}/v1/${signal}`;
  return new mod[cls[signal]]({ url, compression: opt.compression, timeoutMillis: 10000 });
}

const failures = [];
const out = fs.openSync(opt.out, 'a');

// Wraps an exporter: records the batch as OTLP/JSON, then exports it.
function recording(real, serializer) {
  const w = Object.create(real);
  w.export = (items, done) => {
    fs.writeSync(out, Buffer.from(serializer.serializeRequest(items)).toString('utf8') + '\n');
    real.export(items, (res) => {
      if (res.code !== ExportResultCode.SUCCESS) failures.push(String(res.error && (res.error.message || res.error)));
      done(res);
    });
  };
  w.shutdown = () => real.shutdown();
  w.forceFlush = () => (real.forceFlush ? real.forceFlush() : Promise.resolve());
  return w;
}

const resource = resourceFromAttributes({
  'service.name': 'interop-' + opt.tag,
  'service.version': '1.2.3',
  'test.run': opt.tag,
  'host.cpu.count': 8,
  'host.load': 0.75,
  'deployment.canary': true,
  'k8s.labels': ['app', 'web', 'tier'],
});

const T0 = 1700000000;
const hr = (s, ns) => [T0 + s, ns];

async function traces() {
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor(recording(exporterFor('traces'), JsonTraceSerializer))],
  });
  const tracer = provider.getTracer('vigil.interop.tracer', '0.9.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
  const root = tracer.startSpan('GET /checkout', {
    kind: api.SpanKind.SERVER,
    startTime: hr(0, 123456789),
    attributes: {
      'http.method': 'GET', 'http.status_code': 200, 'http.duration': 12.5, 'http.ok': true,
      'tags': ['a', 'b', 'c'], 'ports': [80, 443], 'ratios': [0.25, 0.5], 'flags': [true, false],
      'unicode': 'naïve ✓ 日本',
    },
  });
  const ctx = api.trace.setSpan(api.ROOT_CONTEXT, root);
  const child = tracer.startSpan('SELECT orders', {
    kind: api.SpanKind.CLIENT,
    startTime: hr(0, 200000000),
    links: [{
      context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1,
        traceState: api.createTraceState('vendor=value') },
      attributes: { 'link.kind': 'follows', 'link.n': 3 },
    }],
  }, ctx);
  child.setAttribute('db.system', 'postgresql');
  child.setAttribute('db.rows', -42);
  child.addEvent('cache miss', { 'cache.key': 'orders:17', 'cache.size': 1024, 'cache.hit_ratio': 0.125 }, hr(0, 250000000));
  child.addEvent('retry', hr(0, 260000001));
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'deadlock detected' });
  child.end(hr(0, 300000000));
  for (const [i, kind] of [api.SpanKind.INTERNAL, api.SpanKind.PRODUCER, api.SpanKind.CONSUMER].entries()) {
    const s = tracer.startSpan('kind-' + kind, { kind, startTime: hr(1, i) }, ctx);
    s.setStatus({ code: api.SpanStatusCode.OK });
    s.end(hr(2, i * 1000));
  }
  root.end(hr(3, 999999999));
  await provider.forceFlush();
  await provider.shutdown();
}

async function metrics() {
  const reader = new PeriodicExportingMetricReader({
    exporter: recording(exporterFor('metrics'), JsonMetricsSerializer),
    exportIntervalMillis: 3600000,
  });
  const provider = new MeterProvider({
    resource,
    readers: [reader],
    views: [{ instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM, options: { maxSize: 20 } } }],
  });
  const meter = provider.getMeter('vigil.interop.meter', '2.0.0', { schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
  const requests = meter.createCounter('requests', { description: 'Requests served', unit: '{request}' });
  requests.add(5, { route: '/a', ok: true });
  requests.add(7, { route: '/b', ok: false });
  const bytes = meter.createCounter('bytes', { unit: 'By' });
  bytes.add(1.5, { dir: 'in' });
  const inflight = meter.createUpDownCounter('inflight', { description: 'In flight' });
  inflight.add(3);
  inflight.add(-5);
  const temp = meter.createGauge('temperature', { unit: 'Cel' });
  temp.record(21.25, { room: 'lab' });
  temp.record(-3, { room: 'roof' });
  meter.createObservableGauge('queue.depth').addCallback((r) => { r.observe(17, { queue: 'q1' }); r.observe(0.5, { queue: 'q2' }); });
  const lat = meter.createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [1, 5, 10, 50] } });
  for (const v of [0.5, 3, 3, 7, 12, 99, 1000]) lat.record(v, { route: '/a' });
  const exp = meter.createHistogram('latency.exp', { unit: 's' });
  for (const v of [0.001, 0.02, 0.02, 0.3, 4, 50, -1, 0]) exp.record(v);
  await provider.forceFlush();
  await provider.shutdown();
}

async function logs() {
  const provider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: recording(exporterFor('logs'), JsonLogsSerializer) })],
  });
  const logger = provider.getLogger('vigil.interop.logger', '3.1.4', { schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
  const spanCtx = api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1,
  });
  logger.emit({
    timestamp: hr(10, 1),
    observedTimestamp: hr(10, 2),
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: {
      msg: 'payment failed', code: 402, amount: 12.75, retry: false,
      items: ['sku-1', 7, 2.5, true, { nested: 'yes' }],
      detail: { card: { last4: '4242', brand: 'visa' }, attempts: [1, 2] },
      raw: new Uint8Array([0, 1, 2, 253, 254, 255]),
    },
    attributes: {
      'user.id': 'u-17', 'http.status_code': 402, 'amount': 12.75, 'flagged': true,
      'tags': ['x', 'y'], 'ctx': { region: 'eu', zone: 3 }, 'blob': new Uint8Array([222, 173, 190, 239]),
    },
    context: spanCtx,
  });
  logger.emit({ timestamp: hr(11, 5), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'plain text body ✓' });
  logger.emit({ timestamp: hr(12, 6), severityNumber: SeverityNumber.DEBUG2, body: 42 });
  logger.emit({ timestamp: hr(13, 7), severityNumber: SeverityNumber.FATAL4, body: ['a', 1], eventName: 'app.crash' });
  await provider.forceFlush();
  await provider.shutdown();
}

(async () => {
  try {
    if (signals.has('traces')) await traces();
    if (signals.has('metrics')) await metrics();
    if (signals.has('logs')) await logs();
  } catch (e) {
    failures.push(e && e.stack ? e.stack : String(e));
  }
  fs.closeSync(out);
  if (failures.length) {
    console.error(`otlp_sdk_receive ${opt.tag}: ${failures.length} export(s) failed:\n` + failures.join('\n'));
    process.exit(1);
  }
  console.log(`otlp_sdk_receive ${opt.tag}: all exports succeeded`);
})();
