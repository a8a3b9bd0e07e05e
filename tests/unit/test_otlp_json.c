/* OTLP/JSON codec: round trips, field mapping, lenient input, errors with
 * their messages, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/arena.h"
#include "collector/error.h"
#include "collector/mem.h"
#include "collector/otlp_json.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req_t;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req_t;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_req_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue anyvalue_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;

#define AV(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

/* ---- helpers ---------------------------------------------------------- */

/* Reads tests/data/otlp/<name> into lines; returns the line count. */
static size_t read_lines(const char *name, char ***lines_out)
{
    const char *src = getenv("VIGIL_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/otlp/%s", src ? src : "../..", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char **lines = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        lines = realloc(lines, (n + 1) * sizeof *lines);
        assert_non_null(lines);
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *lines_out = lines;
    return n;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* JSON equality where numbers compare by value (1 == 1.0) and object key
 * order does not matter. */
static int json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return 0;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !json_same(v, w)) {
                fprintf(stderr, "json_same: differs at key %s\n", k);
                return 0;
            }
        }
        return 1;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default: return 1;
    }
}

static ProtobufCMessage *decode_ok(vg_signal_t sig, const char *json, vg_arena_t *a)
{
    ProtobufCMessage *m = NULL;
    char err[512];
    int rc = vg_otlp_json_decode(sig, json, strlen(json), a, &m, err, sizeof err);
    if (rc != 0) fprintf(stderr, "decode failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    return m;
}

static char *encode_ok(vg_signal_t sig, const ProtobufCMessage *m)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(vg_otlp_json_encode(sig, m, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    assert_null(strchr(out, '\n'));
    return out;
}

/* Decodes `json` expecting failure `rc` with `want` inside the message. */
static void expect_error(vg_signal_t sig, const char *json, int rc, const char *want)
{
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char err[1024];
    int got = vg_otlp_json_decode(sig, json, strlen(json), a, &m, err, sizeof err);
    if (got != rc || !strstr(err, want))
        fprintf(stderr, "input: %.200s\n  rc %d, error: \"%s\"\n  wanted %d with \"%s\"\n", json, got, err, rc, want);
    assert_int_equal(got, rc);
    assert_null(m);
    assert_non_null(strstr(err, want));
    vg_arena_destroy(a);
}

/* ---- round trips over the sample files ---------------------------------- */

static void roundtrip_file(vg_signal_t sig, const char *file, const size_t *counts, size_t ncounts)
{
    char **lines;
    size_t n = read_lines(file, &lines);
    assert_int_equal(n, ncounts);
    for (size_t i = 0; i < n; i++) {
        vg_arena_t *a = vg_arena_new();
        ProtobufCMessage *m = decode_ok(sig, lines[i], a);
        assert_int_equal(vg_otlp_count_items(sig, m), counts[i]);

        /* JSON -> proto -> JSON keeps the content (the samples are canonical). */
        char *j1 = encode_ok(sig, m);
        json_error_t je;
        json_t *in = json_loads(lines[i], 0, &je), *back = json_loads(j1, 0, &je);
        assert_non_null(in);
        assert_non_null(back);
        if (!json_same(in, back)) fprintf(stderr, "in:  %s\nout: %s\n", lines[i], j1);
        assert_true(json_same(in, back));
        json_decref(in);
        json_decref(back);

        /* proto -> binary -> unpack -> JSON is byte-identical. */
        size_t sz = protobuf_c_message_get_packed_size(m);
        uint8_t *bin = malloc(sz + 1);
        assert_int_equal(protobuf_c_message_pack(m, bin), sz);
        ProtobufCMessage *u = protobuf_c_message_unpack(vg_otlp_request_descriptor(sig), vg_arena_pbc(a), sz, bin);
        assert_non_null(u);
        char *j2 = encode_ok(sig, u);
        assert_string_equal(j1, j2);
        assert_int_equal(vg_otlp_count_items(sig, u), counts[i]);

        /* clone into another arena, drop the first one, then encode the copy */
        vg_arena_t *b = vg_arena_new();
        ProtobufCMessage *c = NULL;
        assert_int_equal(vg_otlp_clone(sig, m, b, &c), 0);
        vg_arena_destroy(a);
        char *j3 = encode_ok(sig, c);
        assert_string_equal(j1, j3);
        /* the clone packs to the same bytes */
        uint8_t *bin2 = malloc(sz + 1);
        assert_int_equal(protobuf_c_message_get_packed_size(c), sz);
        protobuf_c_message_pack(c, bin2);
        assert_memory_equal(bin, bin2, sz);

        /* and decoding our own output is a fixed point */
        vg_arena_t *d = vg_arena_new();
        char *j4 = encode_ok(sig, decode_ok(sig, j1, d));
        assert_string_equal(j1, j4);

        free(bin);
        free(bin2);
        vg_free(j1);
        vg_free(j2);
        vg_free(j3);
        vg_free(j4);
        vg_arena_destroy(b);
        vg_arena_destroy(d);
    }
    free_lines(lines, n);
}

static void test_roundtrip_traces(void **state)
{
    (void)state;
    static const size_t counts[] = {2, 4, 1};
    roundtrip_file(VG_SIG_TRACES, "traces.jsonl", counts, 3);
}

static void test_roundtrip_metrics(void **state)
{
    (void)state;
    static const size_t counts[] = {12, 2};
    roundtrip_file(VG_SIG_METRICS, "metrics.jsonl", counts, 2);
}

static void test_roundtrip_logs(void **state)
{
    (void)state;
    static const size_t counts[] = {7, 1};
    roundtrip_file(VG_SIG_LOGS, "logs.jsonl", counts, 2);
}

/* ---- field mapping --------------------------------------------------------- */

static const anyvalue_t *attr(kv_t **kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kvs[i]->key, key) == 0) return kvs[i]->value;
    fail_msg("attribute %s missing", key);
    return NULL;
}

static void test_trace_fields(void **state)
{
    (void)state;
    char **lines;
    size_t n = read_lines("traces.jsonl", &lines);
    vg_arena_t *a = vg_arena_new();
    trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, lines[0], a);
    assert_int_equal(r->n_resource_spans, 1);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[0];
    assert_string_equal(rs->schema_url, "https://opentelemetry.io/schemas/1.21.0");
    assert_int_equal(rs->resource->n_attributes, 5);
    assert_string_equal(rs->resource->attributes[0]->key, "service.name");
    assert_string_equal(rs->resource->attributes[0]->value->string_value, "checkout");
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    assert_string_equal(ss->scope->name, "io.vigil.test");
    assert_string_equal(ss->scope->version, "1.2.3");
    assert_int_equal(ss->scope->dropped_attributes_count, 1);
    assert_int_equal(ss->scope->n_attributes, 1);
    Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[0];
    static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                    0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
    static const uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
    assert_int_equal(sp->trace_id.len, 16);
    assert_memory_equal(sp->trace_id.data, tid, 16);
    assert_int_equal(sp->span_id.len, 8);
    assert_memory_equal(sp->span_id.data, sid, 8);
    assert_int_equal(sp->parent_span_id.len, 8);
    assert_string_equal(sp->trace_state, "vg=1,rojo=00f067aa0ba902b7");
    assert_string_equal(sp->name, "GET /api/cart");
    assert_int_equal(sp->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    assert_true(sp->start_time_unix_nano == 1544712660000000000ull);
    assert_true(sp->end_time_unix_nano == 1544712661000000000ull);
    assert_int_equal(sp->flags, 769);
    assert_int_equal(sp->dropped_attributes_count, 2);
    assert_int_equal(sp->dropped_events_count, 3);
    assert_int_equal(sp->dropped_links_count, 4);

    /* every AnyValue kind */
    const anyvalue_t *v = attr(sp->attributes, sp->n_attributes, "http.request.method");
    assert_int_equal(v->value_case, AV(STRING_VALUE));
    assert_string_equal(v->string_value, "GET");
    v = attr(sp->attributes, sp->n_attributes, "http.response.status_code");
    assert_int_equal(v->value_case, AV(INT_VALUE));
    assert_int_equal(v->int_value, 200);
    v = attr(sp->attributes, sp->n_attributes, "http.ok");
    assert_int_equal(v->value_case, AV(BOOL_VALUE));
    assert_true(v->bool_value);
    v = attr(sp->attributes, sp->n_attributes, "latency.ratio");
    assert_int_equal(v->value_case, AV(DOUBLE_VALUE));
    assert_true(v->double_value == 0.25);
    v = attr(sp->attributes, sp->n_attributes, "payload");
    assert_int_equal(v->value_case, AV(BYTES_VALUE));
    assert_int_equal(v->bytes_value.len, 5);
    assert_memory_equal(v->bytes_value.data, "\x00\x01\x02\x03\xff", 5);
    v = attr(sp->attributes, sp->n_attributes, "tags");
    assert_int_equal(v->value_case, AV(ARRAY_VALUE));
    assert_int_equal(v->array_value->n_values, 4);
    assert_int_equal(v->array_value->values[1]->int_value, -7);
    assert_int_equal(v->array_value->values[3]->value_case, AV(BOOL_VALUE));
    assert_false(v->array_value->values[3]->bool_value);
    v = attr(sp->attributes, sp->n_attributes, "nested");
    assert_int_equal(v->value_case, AV(KVLIST_VALUE));
    v = v->kvlist_value->values[0]->value; /* inner */
    assert_int_equal(v->value_case, AV(KVLIST_VALUE));
    v = v->kvlist_value->values[0]->value; /* deep */
    assert_int_equal(v->value_case, AV(ARRAY_VALUE));
    assert_int_equal(v->array_value->values[1]->kvlist_value->values[0]->value->int_value, 9007199254740993LL);

    /* events, links, status */
    assert_int_equal(sp->n_events, 2);
    assert_true(sp->events[0]->time_unix_nano == 1544712660300000000ull);
    assert_string_equal(sp->events[0]->name, "exception");
    assert_int_equal(sp->events[0]->dropped_attributes_count, 1);
    v = attr(sp->events[0]->attributes, sp->events[0]->n_attributes, "exception.message");
    assert_string_equal(v->string_value, "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xc3\xbcn\xc3\xaf" "code \xe2\x9c\x93 "
                                         "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \"quoted\" \\ back\nline\ttab");
    assert_int_equal(sp->n_links, 1);
    assert_int_equal(sp->links[0]->trace_id.len, 16);
    assert_string_equal(sp->links[0]->trace_state, "k=v");
    assert_int_equal(sp->links[0]->flags, 257);
    assert_int_equal(sp->links[0]->dropped_attributes_count, 1);
    assert_int_equal(sp->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    assert_string_equal(sp->status->message, "upstream timeout");
    /* an empty AnyValue stays set but without a kind */
    v = attr(ss->spans[1]->attributes, ss->spans[1]->n_attributes, "empty");
    assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET);
    vg_arena_destroy(a);

    /* NaN / Infinity / extremes in double attributes */
    a = vg_arena_new();
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, lines[2], a);
    sp = r->resource_spans[0]->scope_spans[0]->spans[0];
    assert_true(isnan(attr(sp->attributes, sp->n_attributes, "float.nan")->double_value));
    assert_true(attr(sp->attributes, sp->n_attributes, "float.inf")->double_value == INFINITY);
    assert_true(attr(sp->attributes, sp->n_attributes, "float.ninf")->double_value == -INFINITY);
    assert_true(attr(sp->attributes, sp->n_attributes, "float.tiny")->double_value == 5e-324);
    assert_true(attr(sp->attributes, sp->n_attributes, "float.big")->double_value == 1.7976931348623157e308);
    assert_true(attr(sp->attributes, sp->n_attributes, "int.min")->int_value == INT64_MIN);
    assert_true(attr(sp->attributes, sp->n_attributes, "int.max")->int_value == INT64_MAX);
    assert_int_equal(r->resource_spans[0]->resource->dropped_attributes_count, 5);
    vg_arena_destroy(a);
    free_lines(lines, n);
}

static void test_metric_fields(void **state)
{
    (void)state;
    char **lines;
    size_t n = read_lines("metrics.jsonl", &lines);
    vg_arena_t *a = vg_arena_new();
    metrics_req_t *r = (metrics_req_t *)decode_ok(VG_SIG_METRICS, lines[0], a);
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = r->resource_metrics[0]->scope_metrics[0];
    assert_int_equal(sm->n_metrics, 6);

    Opentelemetry__Proto__Metrics__V1__Metric *g = sm->metrics[0];
    assert_string_equal(g->name, "system.cpu.utilization");
    assert_string_equal(g->description, "CPU use");
    assert_int_equal(g->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *np = g->gauge->data_points[0];
    assert_int_equal(np->value_case, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    assert_true(np->as_double == 0.625);
    assert_int_equal(np->n_exemplars, 1);
    Opentelemetry__Proto__Metrics__V1__Exemplar *ex = np->exemplars[0];
    assert_int_equal(ex->value_case, OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_AS_DOUBLE);
    assert_true(ex->as_double == 0.75);
    assert_int_equal(ex->trace_id.len, 16);
    assert_int_equal(ex->span_id.len, 8);
    assert_string_equal(ex->filtered_attributes[0]->key, "user.id");
    /* asDouble 0 is still set: oneof members keep their presence */
    assert_int_equal(g->gauge->data_points[1]->value_case, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    assert_true(isnan(g->gauge->data_points[2]->as_double));
    assert_int_equal(g->gauge->data_points[2]->flags, 1);

    Opentelemetry__Proto__Metrics__V1__Metric *s = sm->metrics[1];
    assert_int_equal(s->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    assert_true(s->sum->is_monotonic);
    assert_int_equal(s->sum->aggregation_temporality,
                     OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
    assert_int_equal(s->sum->data_points[0]->value_case, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    assert_int_equal(s->sum->data_points[0]->as_int, -12);
    assert_int_equal(s->sum->data_points[0]->exemplars[0]->as_int, 3);
    assert_int_equal(s->n_metadata, 1);

    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *hp = sm->metrics[2]->histogram->data_points[0];
    assert_int_equal(hp->count, 10);
    assert_int_equal(hp->_sum_case, OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM);
    assert_true(hp->sum == 123.5);
    assert_int_equal(hp->n_bucket_counts, 4);
    assert_int_equal(hp->bucket_counts[3], 4);
    assert_int_equal(hp->n_explicit_bounds, 3);
    assert_true(hp->explicit_bounds[1] == 10.5);
    assert_true(hp->min == 0.5 && hp->max == 99.25);
    hp = sm->metrics[2]->histogram->data_points[1];
    assert_int_equal(hp->_sum_case, OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM__NOT_SET);
    assert_int_equal(hp->_min_case, OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN__NOT_SET);
    hp = sm->metrics[2]->histogram->data_points[2];
    assert_int_equal(hp->_sum_case, OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM);
    assert_true(hp->sum == 0);
    assert_true(hp->min == -INFINITY && hp->max == INFINITY);

    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *ep =
        sm->metrics[3]->exponential_histogram->data_points[0];
    assert_int_equal(ep->scale, -3);
    assert_int_equal(ep->zero_count, 2);
    assert_true(ep->zero_threshold == 1e-9);
    assert_int_equal(ep->positive->offset, -2);
    assert_int_equal(ep->positive->n_bucket_counts, 4);
    assert_true(ep->positive->bucket_counts[3] == UINT64_MAX);
    assert_int_equal(ep->negative->offset, 5);
    assert_int_equal(ep->negative->bucket_counts[0], 4);
    assert_true(ep->min == -3.5 && ep->max == 1e300 && ep->sum == 42.75);
    ep = sm->metrics[3]->exponential_histogram->data_points[1];
    assert_non_null(ep->positive);
    assert_int_equal(ep->positive->n_bucket_counts, 0);
    assert_null(ep->negative);

    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *qp = sm->metrics[4]->summary->data_points[0];
    assert_int_equal(qp->count, 100);
    assert_true(qp->sum == 12.25);
    assert_int_equal(qp->n_quantile_values, 4);
    assert_true(qp->quantile_values[0]->quantile == 0 && qp->quantile_values[0]->value == 0.001);
    assert_true(qp->quantile_values[2]->quantile == 0.99 && qp->quantile_values[2]->value == 1.5);
    assert_true(qp->quantile_values[3]->value == INFINITY);

    assert_int_equal(sm->metrics[5]->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA__NOT_SET);
    vg_arena_destroy(a);
    free_lines(lines, n);
}

static void test_log_fields(void **state)
{
    (void)state;
    char **lines;
    size_t n = read_lines("logs.jsonl", &lines);
    vg_arena_t *a = vg_arena_new();
    logs_req_t *r = (logs_req_t *)decode_ok(VG_SIG_LOGS, lines[0], a);
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = r->resource_logs[0]->scope_logs[0];
    Opentelemetry__Proto__Logs__V1__LogRecord *lr = sl->log_records[0];
    assert_true(lr->time_unix_nano == 1700000000000000000ull);
    assert_true(lr->observed_time_unix_nano == 1700000000000000500ull);
    assert_int_equal(lr->severity_number, OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR);
    assert_string_equal(lr->severity_text, "ERROR");
    assert_string_equal(lr->body->string_value, "payment failed: card declined\nretry in 5s");
    assert_int_equal(lr->dropped_attributes_count, 1);
    assert_int_equal(lr->flags, 1);
    assert_int_equal(lr->trace_id.len, 16);
    assert_int_equal(lr->span_id.len, 8);
    lr = sl->log_records[1];
    assert_string_equal(lr->event_name, "user.login");
    assert_int_equal(lr->body->value_case, AV(KVLIST_VALUE));
    assert_int_equal(lr->body->kvlist_value->n_values, 6);
    const anyvalue_t *raw = lr->body->kvlist_value->values[4]->value;
    assert_int_equal(raw->bytes_value.len, 11);
    assert_memory_equal(raw->bytes_value.data, "hello world", 11);
    lr = sl->log_records[2];
    assert_true(lr->time_unix_nano == 0);
    assert_int_equal(lr->body->array_value->n_values, 3);
    assert_true(isnan(lr->body->array_value->values[1]->double_value));
    assert_int_equal(sl->log_records[3]->severity_number, 24);
    assert_int_equal(sl->log_records[3]->body->int_value, -1);
    assert_true(sl->log_records[4]->body->double_value == 3.141592653589793);
    assert_int_equal(sl->log_records[5]->body->value_case, AV(BOOL_VALUE));
    assert_int_equal(sl->log_records[6]->body->bytes_value.len, 1);
    vg_arena_destroy(a);
    free_lines(lines, n);
}

/* ---- lenient input ----------------------------------------------------- */

static void test_lenient_input(void **state)
{
    (void)state;
    vg_arena_t *a = vg_arena_new();
    const char *in =
        "{\"resource_spans\":[{\"unknownTop\":{\"x\":[1,2,{\"y\":null}]},\"scope_spans\":[{\"spans\":[{"
        "\"trace_id\":\"5B8EFFF798038103D269B633813FC60C\",\"span_id\":\"EeE19b7eC3c1B174\","
        "\"parent_span_id\":\"\",\"name\":\"n\",\"kind\":\"SPAN_KIND_CLIENT\","
        "\"start_time_unix_nano\":1544712660000000000,\"endTimeUnixNano\":\"1544712661000000000\","
        "\"dropped_attributes_count\":\"7\",\"flags\":1.0,\"traceState\":null,\"futureField\":42,"
        "\"attributes\":[{\"key\":\"i\",\"value\":{\"int_value\":-5}},{\"key\":\"d\",\"value\":{\"doubleValue\":\"1.5\"}},"
        "{\"key\":\"b\",\"value\":{\"bytes_value\":\"-_8\"}},{\"key\":\"e\",\"value\":{\"doubleValue\":2}},"
        "{\"key\":\"n\",\"value\":null},{\"key\":\"kv\",\"value\":{\"kvlist_value\":{\"values\":[{\"key\":\"x\"}]}}}],"
        "\"status\":{\"code\":\"STATUS_CODE_OK\"}}]}]}]}";
    trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, in, a);
    Opentelemetry__Proto__Trace__V1__Span *sp = r->resource_spans[0]->scope_spans[0]->spans[0];
    assert_int_equal(sp->trace_id.len, 16);
    assert_int_equal(sp->trace_id.data[0], 0x5b);
    assert_int_equal(sp->span_id.data[1], 0xe1);
    assert_int_equal(sp->parent_span_id.len, 0);
    assert_int_equal(sp->kind, 3);
    assert_true(sp->start_time_unix_nano == 1544712660000000000ull);
    assert_true(sp->end_time_unix_nano == 1544712661000000000ull);
    assert_int_equal(sp->dropped_attributes_count, 7);
    assert_int_equal(sp->flags, 1);
    assert_int_equal(sp->attributes[0]->value->int_value, -5);
    assert_true(sp->attributes[1]->value->double_value == 1.5);
    assert_int_equal(sp->attributes[2]->value->bytes_value.len, 2);
    assert_memory_equal(sp->attributes[2]->value->bytes_value.data, "\xfb\xff", 2);
    assert_true(sp->attributes[3]->value->double_value == 2.0);
    assert_null(sp->attributes[4]->value);
    assert_null(sp->attributes[5]->value->kvlist_value->values[0]->value);
    assert_int_equal(sp->status->code, 1);

    /* output is canonical: lowercase hex, camelCase, strings for 64-bit */
    char *out = encode_ok(VG_SIG_TRACES, &r->base);
    assert_non_null(strstr(out, "\"traceId\":\"5b8efff798038103d269b633813fc60c\""));
    assert_non_null(strstr(out, "\"spanId\":\"eee19b7ec3c1b174\""));
    assert_non_null(strstr(out, "\"startTimeUnixNano\":\"1544712660000000000\""));
    assert_non_null(strstr(out, "\"kind\":3"));
    assert_non_null(strstr(out, "{\"key\":\"i\",\"value\":{\"intValue\":\"-5\"}}"));
    assert_non_null(strstr(out, "{\"key\":\"b\",\"value\":{\"bytesValue\":\"+/8=\"}}"));
    assert_non_null(strstr(out, "{\"key\":\"n\"}"));
    assert_null(strstr(out, "parentSpanId"));
    assert_null(strstr(out, "futureField"));
    vg_free(out);

    /* enum names for severity and temporality, numbers for 64-bit fields */
    logs_req_t *lr = (logs_req_t *)decode_ok(
        VG_SIG_LOGS, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityNumber\":\"SEVERITY_NUMBER_WARN\","
                     "\"timeUnixNano\":5,\"body\":{\"stringValue\":\"\"}}]}]}]}", a);
    assert_int_equal(lr->resource_logs[0]->scope_logs[0]->log_records[0]->severity_number, 13);
    assert_int_equal(lr->resource_logs[0]->scope_logs[0]->log_records[0]->time_unix_nano, 5);
    out = encode_ok(VG_SIG_LOGS, &lr->base);
    /* an empty string body is still a string body (oneof presence) */
    assert_non_null(strstr(out, "\"body\":{\"stringValue\":\"\"}"));
    vg_free(out);
    metrics_req_t *mr = (metrics_req_t *)decode_ok(
        VG_SIG_METRICS, "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"m\",\"sum\":{"
                        "\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_DELTA\",\"dataPoints\":[{\"asInt\":-3}]}}]}]}]}", a);
    assert_int_equal(mr->resource_metrics[0]->scope_metrics[0]->metrics[0]->sum->aggregation_temporality, 1);
    assert_int_equal(mr->resource_metrics[0]->scope_metrics[0]->metrics[0]->sum->data_points[0]->as_int, -3);

    /* empty object and empty arrays */
    assert_int_equal(((trace_req_t *)decode_ok(VG_SIG_TRACES, "{}", a))->n_resource_spans, 0);
    assert_int_equal(((trace_req_t *)decode_ok(VG_SIG_TRACES, " {\"resourceSpans\":[]} \n", a))->n_resource_spans, 0);
    vg_arena_destroy(a);
}

/* ---- errors -------------------------------------------------------------- */

#define SP_OPEN "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
#define SP_CLOSE "}]}]}]}"
#define SPAN(x) SP_OPEN x SP_CLOSE
#define LOG(x) "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{" x "}]}]}]}"
#define ATTR(x) SPAN("\"attributes\":[{\"key\":\"k\",\"value\":" x "}]")
#define METRIC(x) "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{" x "}]}]}]}"
#define SP0 "resourceSpans[0].scopeSpans[0].spans[0]."

static void test_error_ids(void **state)
{
    (void)state;
    expect_error(VG_SIG_TRACES,
                 "{\"resourceSpans\":[{\"scopeSpans\":[{},{\"spans\":[{},{},{},{\"traceId\":\"5b8efff798038103d269b633813fc60\"}]}]}]}",
                 VG_EPARSE, "resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters (got 31)");
    expect_error(VG_SIG_TRACES, SPAN("\"traceId\":\"5b8efff798038103d269b633813fc60cc0\""), VG_EPARSE,
                 SP0 "traceId: expected 32 hex characters (got 34)");
    expect_error(VG_SIG_TRACES, SPAN("\"traceId\":\"5b8efff798038103d269b633813fc6zz\""), VG_EPARSE,
                 SP0 "traceId: expected 32 hex characters (non-hex character at offset 30)");
    expect_error(VG_SIG_TRACES, SPAN("\"spanId\":\"eee19b7ec3c1b17\""), VG_EPARSE,
                 SP0 "spanId: expected 16 hex characters (got 15)");
    expect_error(VG_SIG_TRACES, SPAN("\"parentSpanId\":\"eee19b7ec3c1b17g\""), VG_EPARSE,
                 SP0 "parentSpanId: expected 16 hex characters (non-hex character at offset 15)");
    expect_error(VG_SIG_TRACES, SPAN("\"links\":[{\"spanId\":\"0x112233445566\"}]"), VG_EPARSE,
                 SP0 "links[0].spanId: expected 16 hex characters (got 14)");
    /* base64 (the protobuf JSON mapping) is not accepted for ids */
    expect_error(VG_SIG_TRACES, SPAN("\"traceId\":\"W47/95gDgQPSabYzgT/GDA==\""), VG_EPARSE,
                 "traceId: expected 32 hex characters (got 24)");
    expect_error(VG_SIG_LOGS, LOG("\"traceId\":12"), VG_EPARSE,
                 "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: expected a hex string, got a number");
    expect_error(VG_SIG_METRICS,
                 METRIC("\"gauge\":{\"dataPoints\":[{\"exemplars\":[{\"spanId\":\"abc\"}]}]}"), VG_EPARSE,
                 "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].spanId: expected 16 hex "
                 "characters (got 3)");
}

static void test_error_numbers(void **state)
{
    (void)state;
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"12a\""), VG_EPARSE,
                 SP0 "startTimeUnixNano: expected a decimal integer string, got \"12a\"");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"\""), VG_EPARSE,
                 "startTimeUnixNano: expected a decimal integer string, got \"\"");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\" 12\""), VG_EPARSE, "expected a decimal integer string");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"+12\""), VG_EPARSE, "expected a decimal integer string");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"18446744073709551616\""), VG_EPARSE,
                 "startTimeUnixNano: integer \"18446744073709551616\" out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"-1\""), VG_EPARSE,
                 "startTimeUnixNano: integer \"-1\" out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":-1"), VG_EPARSE, "startTimeUnixNano: integer -1 out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":1.5"), VG_EPARSE,
                 "startTimeUnixNano: expected an integer, got 1.5");
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":true"), VG_EPARSE,
                 "startTimeUnixNano: expected an integer (number or decimal string), got a boolean");
    expect_error(VG_SIG_TRACES, ATTR("{\"intValue\":\"9223372036854775808\"}"), VG_EPARSE,
                 SP0 "attributes[0].value.intValue: integer \"9223372036854775808\" out of range");
    expect_error(VG_SIG_TRACES, ATTR("{\"intValue\":\"-9223372036854775809\"}"), VG_EPARSE, "out of range");
    expect_error(VG_SIG_TRACES, ATTR("{\"intValue\":\"1e3\"}"), VG_EPARSE,
                 "intValue: expected a decimal integer string, got \"1e3\"");
    expect_error(VG_SIG_TRACES, SPAN("\"flags\":4294967296"), VG_EPARSE, SP0 "flags: integer 4294967296 out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"droppedAttributesCount\":-2"), VG_EPARSE, "integer -2 out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"kind\":2147483648"), VG_EPARSE, SP0 "kind: integer 2147483648 out of range");
    expect_error(VG_SIG_TRACES, SPAN("\"kind\":\"SPAN_KIND_BOGUS\""), VG_EPARSE,
                 SP0 "kind: unknown SpanKind value \"SPAN_KIND_BOGUS\"");
    expect_error(VG_SIG_TRACES, SPAN("\"kind\":[]"), VG_EPARSE, "kind: expected an enum value (integer or name), got an array");
    expect_error(VG_SIG_TRACES, ATTR("{\"doubleValue\":\"abc\"}"), VG_EPARSE,
                 "doubleValue: expected a number or \"NaN\", \"Infinity\", \"-Infinity\", got \"abc\"");
    expect_error(VG_SIG_TRACES, ATTR("{\"doubleValue\":\"nan\"}"), VG_EPARSE, "expected a number or \"NaN\"");
    expect_error(VG_SIG_TRACES, ATTR("{\"doubleValue\":\"1e999\"}"), VG_EPARSE, "expected a number or \"NaN\"");
    expect_error(VG_SIG_TRACES, ATTR("{\"doubleValue\":{}}"), VG_EPARSE, "doubleValue: expected a number, got an object");
    /* the JSON reader refuses integers beyond 64 bits itself (as jansson did) */
    expect_error(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":18446744073709551616"), VG_EPARSE, "invalid JSON");
}

static void test_error_types(void **state)
{
    (void)state;
    expect_error(VG_SIG_TRACES, "[]", VG_EPARSE, "expected a JSON object at the top level, got an array");
    expect_error(VG_SIG_TRACES, "42", VG_EPARSE, "expected a JSON object at the top level, got a number");
    expect_error(VG_SIG_LOGS, "\"x\"", VG_EPARSE, "expected a JSON object at the top level, got a string");
    expect_error(VG_SIG_METRICS, "", VG_EPARSE, "invalid JSON at line 1");
    expect_error(VG_SIG_METRICS, "{\"resourceMetrics\":[", VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_METRICS, "{} {}", VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":{}}", VG_EPARSE, "resourceSpans: expected an array, got an object");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":[7]}", VG_EPARSE, "resourceSpans[0]: expected an object, got a number");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":[null]}", VG_EPARSE, "resourceSpans[0]: expected an object, got null");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":5"), VG_EPARSE, SP0 "name: expected a string, got a number");
    expect_error(VG_SIG_TRACES, SPAN("\"status\":\"ok\""), VG_EPARSE, SP0 "status: expected an object, got a string");
    expect_error(VG_SIG_TRACES, SPAN("\"attributes\":[null]"), VG_EPARSE, SP0 "attributes[0]: expected an object, got null");
    expect_error(VG_SIG_TRACES, SPAN("\"events\":[{\"attributes\":[{\"key\":1}]}]"), VG_EPARSE,
                 SP0 "events[0].attributes[0].key: expected a string, got a number");
    expect_error(VG_SIG_TRACES, ATTR("{\"boolValue\":\"true\"}"), VG_EPARSE,
                 "value.boolValue: expected true or false, got a string");
    expect_error(VG_SIG_TRACES, ATTR("{\"arrayValue\":{\"values\":{}}}"), VG_EPARSE,
                 "value.arrayValue.values: expected an array, got an object");
    expect_error(VG_SIG_TRACES, ATTR("{\"bytesValue\":\"a!==\"}"), VG_EPARSE,
                 "value.bytesValue: invalid base64 (bad character at offset 1)");
    expect_error(VG_SIG_TRACES, ATTR("{\"bytesValue\":\"abcde\"}"), VG_EPARSE, "value.bytesValue: invalid base64 (bad length)");
    expect_error(VG_SIG_TRACES, ATTR("{\"bytesValue\":false}"), VG_EPARSE, "expected a base64 string, got a boolean");
    expect_error(VG_SIG_METRICS, METRIC("\"sum\":{\"isMonotonic\":1}"), VG_EPARSE,
                 "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.isMonotonic: expected true or false, got a number");
    expect_error(VG_SIG_METRICS, METRIC("\"histogram\":{\"dataPoints\":[{\"bucketCounts\":[\"1\",\"x\"]}]}"), VG_EPARSE,
                 "metrics[0].histogram.dataPoints[0].bucketCounts[1]: expected a decimal integer string, got \"x\"");
    expect_error(VG_SIG_METRICS, METRIC("\"summary\":{\"dataPoints\":[{\"quantileValues\":[{\"value\":\"x\"}]}]}"),
                 VG_EPARSE, "summary.dataPoints[0].quantileValues[0].value: expected a number or");
    expect_error(VG_SIG_METRICS,
                 METRIC("\"exponentialHistogram\":{\"dataPoints\":[{\"positive\":{\"offset\":\"a\"}}]}"), VG_EPARSE,
                 "exponentialHistogram.dataPoints[0].positive.offset: expected a decimal integer string, got \"a\"");
    expect_error(VG_SIG_LOGS, LOG("\"severityNumber\":\"LOUD\""), VG_EPARSE,
                 "logRecords[0].severityNumber: unknown SeverityNumber value \"LOUD\"");
    expect_error(VG_SIG_LOGS, LOG("\"body\":\"text\""), VG_EPARSE,
                 "resourceLogs[0].scopeLogs[0].logRecords[0].body: expected an object, got a string");
}

static void test_error_utf8(void **state)
{
    (void)state;
    /* invalid UTF-8 in a value, in a key, overlong encoding, NUL, lone surrogate */
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"a\xff" "b\""), VG_EPARSE, "invalid JSON at line 1");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"a\xc3\""), VG_EPARSE, "unable to decode byte");
    expect_error(VG_SIG_TRACES, SPAN("\"n\xfe\":1"), VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\xc0\xaf\""), VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\xed\xa0\x80\""), VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"a\\u0000b\""), VG_EPARSE, "invalid JSON");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\ud800\""), VG_EPARSE, "invalid JSON");
    /* a valid escaped pair is fine */
    vg_arena_t *a = vg_arena_new();
    trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"name\":\"\\ud83d\\ude00\""), a);
    assert_string_equal(r->resource_spans[0]->scope_spans[0]->spans[0]->name, "\xf0\x9f\x98\x80");
    vg_arena_destroy(a);
}

/* body nested `levels` AnyValues deep */
static char *nested_body(int levels)
{
    size_t cap = (size_t)levels * 40 + 200;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
    for (int i = 1; i < levels; i++) n += (size_t)snprintf(s + n, cap - n, "{\"arrayValue\":{\"values\":[");
    n += (size_t)snprintf(s + n, cap - n, "{\"intValue\":\"1\"}");
    for (int i = 1; i < levels; i++) n += (size_t)snprintf(s + n, cap - n, "]}}");
    snprintf(s + n, cap - n, "}]}]}]}");
    return s;
}

static void test_error_depth(void **state)
{
    (void)state;
    char *ok = nested_body(VG_OTLP_JSON_MAX_DEPTH);
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = decode_ok(VG_SIG_LOGS, ok, a);
    char *out = encode_ok(VG_SIG_LOGS, m);
    vg_free(out);
    vg_arena_destroy(a);
    free(ok);

    char *deep = nested_body(VG_OTLP_JSON_MAX_DEPTH + 1);
    expect_error(VG_SIG_LOGS, deep, VG_EPARSE, "values[0]: AnyValue nested deeper than 64 levels");
    /* a small error buffer keeps the reason and the tail of the path */
    char err[128];
    a = vg_arena_new();
    assert_int_equal(vg_otlp_json_decode(VG_SIG_LOGS, deep, strlen(deep), a, &m, err, sizeof err), VG_EPARSE);
    assert_non_null(strstr(err, ": AnyValue nested deeper than 64 levels"));
    assert_memory_equal(err, "...", 3);
    vg_arena_destroy(a);
    free(deep);

    /* far deeper than JSON nesting may go (2048): still a clean error */
    char *huge = nested_body(5000);
    expect_error(VG_SIG_LOGS, huge, VG_EPARSE, "invalid JSON");
    free(huge);

    /* an over-deep message built in memory is refused by the encoder */
    anyvalue_t vals[VG_OTLP_JSON_MAX_DEPTH + 1];
    Opentelemetry__Proto__Common__V1__ArrayValue arrs[VG_OTLP_JSON_MAX_DEPTH + 1];
    anyvalue_t *ptrs[VG_OTLP_JSON_MAX_DEPTH + 1];
    for (int i = 0; i <= VG_OTLP_JSON_MAX_DEPTH; i++) {
        opentelemetry__proto__common__v1__any_value__init(&vals[i]);
        opentelemetry__proto__common__v1__array_value__init(&arrs[i]);
        ptrs[i] = &vals[i];
    }
    for (int i = 0; i < VG_OTLP_JSON_MAX_DEPTH; i++) {
        vals[i].value_case = AV(ARRAY_VALUE);
        vals[i].array_value = &arrs[i];
        arrs[i].n_values = 1;
        arrs[i].values = &ptrs[i + 1];
    }
    Opentelemetry__Proto__Logs__V1__LogRecord lr = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    Opentelemetry__Proto__Logs__V1__LogRecord *lrp = &lr;
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *slp = &sl;
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    Opentelemetry__Proto__Logs__V1__ResourceLogs *rlp = &rl;
    logs_req_t req = OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    lr.body = &vals[0];
    sl.n_log_records = 1;
    sl.log_records = &lrp;
    rl.n_scope_logs = 1;
    rl.scope_logs = &slp;
    req.n_resource_logs = 1;
    req.resource_logs = &rlp;
    out = (char *)1;
    assert_int_equal(vg_otlp_json_encode(VG_SIG_LOGS, &req.base, &out, NULL), VG_EPARSE);
    assert_null(out);
    lr.body = &vals[1]; /* one level less: fine */
    out = encode_ok(VG_SIG_LOGS, &req.base);
    vg_free(out);
}

/* ---- encoder specifics ------------------------------------------------- */

static void test_encode_strings_and_doubles(void **state)
{
    (void)state;
    Opentelemetry__Proto__Trace__V1__Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    Opentelemetry__Proto__Trace__V1__Span *spp = &sp;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    trace_req_t req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    ss.n_spans = 1;
    ss.spans = &spp;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;

    /* invalid UTF-8 from binary protobuf becomes U+FFFD; controls are escaped */
    sp.name = "ok\x01\x1f\"\\/\xff\xc3\x28 \xe2\x82\xac";
    enum { N = 6 };
    static const double dv[N] = {0.1, 1e300, -0.0, 5e-324, 100, 1.0 / 3};
    anyvalue_t v[N];
    kv_t kv[N], *kvp[N];
    char keys[N][4];
    for (int i = 0; i < N; i++) {
        opentelemetry__proto__common__v1__any_value__init(&v[i]);
        opentelemetry__proto__common__v1__key_value__init(&kv[i]);
        v[i].value_case = AV(DOUBLE_VALUE);
        v[i].double_value = dv[i];
        snprintf(keys[i], sizeof keys[i], "d%d", i);
        kv[i].key = keys[i];
        kv[i].value = &v[i];
        kvp[i] = &kv[i];
    }
    sp.n_attributes = N;
    sp.attributes = kvp;
    char *out = encode_ok(VG_SIG_TRACES, &req.base);
    assert_non_null(strstr(out, "\"name\":\"ok\\u0001\\u001f\\\"\\\\/\xef\xbf\xbd\xef\xbf\xbd( \xe2\x82\xac\""));
    assert_non_null(strstr(out, "\"doubleValue\":0.1}"));
    assert_non_null(strstr(out, "\"doubleValue\":1e+300}"));
    assert_non_null(strstr(out, "\"doubleValue\":-0.0}"));
    assert_non_null(strstr(out, "\"doubleValue\":100}"));
    assert_non_null(strstr(out, "\"doubleValue\":0.3333333333333333}"));
    /* decoding the output gives the same doubles back */
    vg_arena_t *a = vg_arena_new();
    trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, out, a);
    for (int i = 0; i < N; i++) {
        double x = r->resource_spans[0]->scope_spans[0]->spans[0]->attributes[i]->value->double_value;
        assert_memory_equal(&x, &dv[i], sizeof x);
    }
    vg_free(out);

    /* empty request, wrong descriptor, bad arguments */
    ProtobufCMessage *empty = NULL;
    assert_int_equal(vg_otlp_new_request(VG_SIG_METRICS, a, &empty), 0);
    assert_ptr_equal(empty->descriptor, vg_otlp_request_descriptor(VG_SIG_METRICS));
    out = encode_ok(VG_SIG_METRICS, empty);
    assert_string_equal(out, "{}");
    vg_free(out);
    assert_int_equal(vg_otlp_count_items(VG_SIG_METRICS, empty), 0);
    assert_int_equal(vg_otlp_count_items(VG_SIG_TRACES, empty), 0); /* wrong signal */
    assert_int_equal(vg_otlp_count_items(VG_SIG_TRACES, NULL), 0);
    assert_int_equal(vg_otlp_json_encode(VG_SIG_TRACES, empty, &out, NULL), VG_EINVAL);
    assert_int_equal(vg_otlp_json_encode_response(VG_SIG_METRICS, empty, &out, NULL), VG_EINVAL);
    assert_int_equal(vg_otlp_json_encode(VG_SIG_METRICS, NULL, &out, NULL), VG_EINVAL);
    assert_int_equal(vg_otlp_json_encode(VG_SIG_COUNT, empty, &out, NULL), VG_EINVAL);
    assert_int_equal(vg_otlp_new_request(VG_SIG_COUNT, a, &empty), VG_EINVAL);
    ProtobufCMessage *c = NULL;
    assert_int_equal(vg_otlp_clone(VG_SIG_LOGS, &req.base, a, &c), VG_EINVAL);
    assert_int_equal(vg_otlp_json_decode(VG_SIG_LOGS, NULL, 0, a, &c, NULL, 0), VG_EINVAL);
    assert_int_equal(vg_otlp_json_decode(VG_SIG_COUNT, "{}", 2, a, &c, NULL, 0), VG_EINVAL);
    /* errbuf is optional */
    assert_int_equal(vg_otlp_json_decode(VG_SIG_LOGS, "[", 1, a, &c, NULL, 0), VG_EPARSE);
    /* input need not be NUL-terminated */
    assert_int_equal(vg_otlp_json_decode(VG_SIG_LOGS, "{}garbage", 2, a, &c, NULL, 0), 0);
    vg_arena_destroy(a);
}

/* ---- responses ----------------------------------------------------------- */

static void test_responses(void **state)
{
    (void)state;
    static const char *rejected[] = {"rejectedSpans", "rejectedDataPoints", "rejectedLogRecords"};
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        vg_arena_t *a = vg_arena_new();
        char in[256], err[256];
        snprintf(in, sizeof in, "{\"partialSuccess\":{\"%s\":\"5\",\"errorMessage\":\"quota exceeded\"}}", rejected[s]);
        ProtobufCMessage *m = NULL;
        assert_int_equal(vg_otlp_json_decode_response((vg_signal_t)s, in, strlen(in), a, &m, err, sizeof err), 0);
        assert_ptr_equal(m->descriptor, vg_otlp_response_descriptor((vg_signal_t)s));
        char *out = NULL;
        assert_int_equal(vg_otlp_json_encode_response((vg_signal_t)s, m, &out, NULL), 0);
        assert_string_equal(out, in);
        vg_free(out);
        /* the request decoder does not take a response */
        assert_int_equal(vg_otlp_json_encode((vg_signal_t)s, m, &out, NULL), VG_EINVAL);

        /* full success: no partialSuccess at all */
        assert_int_equal(vg_otlp_json_decode_response((vg_signal_t)s, "{}", 2, a, &m, err, sizeof err), 0);
        assert_int_equal(vg_otlp_json_encode_response((vg_signal_t)s, m, &out, NULL), 0);
        assert_string_equal(out, "{}");
        vg_free(out);
        snprintf(in, sizeof in, "{\"partialSuccess\":{\"%s\":\"x\"}}", rejected[s]);
        assert_int_equal(vg_otlp_json_decode_response((vg_signal_t)s, in, strlen(in), a, &m, err, sizeof err),
                         VG_EPARSE);
        char want[128];
        snprintf(want, sizeof want, "partialSuccess.%s: expected a decimal integer string, got \"x\"", rejected[s]);
        assert_string_equal(err, want);
        vg_arena_destroy(a);
    }
    /* typed check on one */
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = NULL;
    const char *in = "{\"partial_success\":{\"rejected_spans\":7,\"error_message\":\"bad spans\"}}";
    assert_int_equal(vg_otlp_json_decode_response(VG_SIG_TRACES, in, strlen(in), a, &m, NULL, 0), 0);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r = (void *)m;
    assert_int_equal(r->partial_success->rejected_spans, 7);
    assert_string_equal(r->partial_success->error_message, "bad spans");
    vg_arena_destroy(a);
}

/* ---- allocation failures ------------------------------------------------- */

/* A request big enough to make the arena grow several times. */
static char *big_request(void)
{
    char **lines;
    size_t n = read_lines("traces.jsonl", &lines);
    /* the first line's resourceSpans array, repeated */
    const char *open = strchr(lines[0], '[');
    size_t body = strlen(open + 1) - 2; /* without the closing "]}" */
    size_t reps = 60, cap = reps * (body + 1) + 64;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "{\"resourceSpans\":[");
    for (size_t i = 0; i < reps; i++) {
        if (i) *p++ = ',';
        memcpy(p, open + 1, body);
        p += body;
    }
    sprintf(p, "]}");
    free_lines(lines, n);
    return s;
}

/* Decodes json failing the n-th allocation, n = 1, 2, ... until it succeeds:
 * every failure is VG_ENOMEM with "out of memory" and nothing leaks. */
static void decode_failures(vg_signal_t sig, const char *json)
{
    char err[256];
    int saw_fail = 0;
    for (long n = 1; n < 100000; n++) {
        vg_arena_t *a = vg_arena_new();
        assert_non_null(a);
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        vg_mem_fail_after(n);
        int rc = vg_otlp_json_decode(sig, json, strlen(json), a, &m, err, sizeof err);
        vg_mem_fail_reset();
        if (rc == 0) {
            assert_non_null(m);
            vg_arena_destroy(a);
            break;
        }
        saw_fail = 1;
        assert_int_equal(rc, VG_ENOMEM);
        assert_string_equal(err, "out of memory");
        assert_null(m);
        vg_arena_destroy(a);
    }
    assert_true(saw_fail);
}

static void alloc_failures(vg_signal_t sig, const char *json)
{
    long n;
    decode_failures(sig, json);

    /* encode and clone under failing allocations */
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = decode_ok(sig, json, a);
    char *expect = encode_ok(sig, m);
    for (n = 1;; n++) {
        char *out = (char *)1;
        vg_mem_fail_after(n);
        int rc = vg_otlp_json_encode(sig, m, &out, NULL);
        vg_mem_fail_reset();
        if (rc == 0) {
            assert_string_equal(out, expect);
            vg_free(out);
            break;
        }
        assert_int_equal(rc, VG_ENOMEM);
        assert_null(out);
    }
    for (n = 1;; n++) {
        vg_arena_t *b = vg_arena_new();
        ProtobufCMessage *c = (ProtobufCMessage *)1;
        vg_mem_fail_after(n);
        int rc = vg_otlp_clone(sig, m, b, &c);
        vg_mem_fail_reset();
        if (rc == 0) {
            char *out = encode_ok(sig, c);
            assert_string_equal(out, expect);
            vg_free(out);
            vg_arena_destroy(b);
            break;
        }
        assert_int_equal(rc, VG_ENOMEM);
        assert_null(c);
        vg_arena_destroy(b);
    }
    vg_arena_t *b = vg_arena_new();
    ProtobufCMessage *e = NULL;
    vg_mem_fail_after(1);
    assert_int_equal(vg_otlp_new_request(sig, b, &e), VG_ENOMEM);
    vg_mem_fail_reset();
    assert_null(e);
    vg_arena_destroy(b);
    vg_free(expect);
    vg_arena_destroy(a);
}

/* ---- streaming decoder: memory cap, nesting, escapes, repeated keys ---- */

/* {"resourceSpans":[{"scopeSpans":[{"spans":[{},{},...]}]}]} with n spans */
static char *empty_spans(size_t n)
{
    static const char head[] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[", tail[] = "]}]}]}";
    char *s = malloc(sizeof head + 3 * n + sizeof tail), *p = s;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '{';
        *p++ = '}';
    }
    memcpy(p, tail, sizeof tail);
    return s;
}

static void test_decode_cap(void **state)
{
    (void)state;
    char err[256];
    ProtobufCMessage *m = NULL;

    /* "{}" is a whole span: ~70 times its size once decoded, far over the default cap */
    char *body = empty_spans(200000);
    size_t len = strlen(body);
    size_t cap = VG_OTLP_JSON_DECODE_AMPLIFICATION * len + VG_OTLP_JSON_DECODE_SLACK;
    vg_arena_t *a = vg_arena_new();
    m = (ProtobufCMessage *)1;
    assert_int_equal(vg_otlp_json_decode(VG_SIG_TRACES, body, len, a, &m, err, sizeof err), VG_ETOOBIG);
    assert_null(m);
    char want[128];
    snprintf(want, sizeof want, "request needs more than %zu bytes of memory once decoded", cap);
    assert_string_equal(err, want);
    /* decoding stopped at the cap: the arena holds at most one more chunk */
    assert_true(vg_arena_bytes(a) <= cap + (1u << 20) + 4096);
    vg_arena_destroy(a);

    /* the same body decodes without a cap; what it took is the exact limit */
    a = vg_arena_new();
    assert_int_equal(vg_otlp_json_decode_capped(VG_SIG_TRACES, body, len, a, SIZE_MAX, &m, err, sizeof err), 0);
    assert_int_equal(vg_otlp_count_items(VG_SIG_TRACES, m), 200000);
    size_t need = vg_arena_bytes(a);
    assert_true(need > cap);
    vg_arena_destroy(a);
    a = vg_arena_new();
    assert_int_equal(vg_otlp_json_decode_capped(VG_SIG_TRACES, body, len, a, need, &m, err, sizeof err), 0);
    vg_arena_destroy(a);
    a = vg_arena_new();
    assert_int_equal(vg_otlp_json_decode_capped(VG_SIG_TRACES, body, len, a, need - 1, &m, err, sizeof err), VG_ETOOBIG);
    assert_null(m);
    snprintf(want, sizeof want, "request needs more than %zu bytes of memory once decoded", need - 1);
    assert_string_equal(err, want);
    vg_arena_destroy(a);
    free(body);

    /* the cap counts what this call adds to the arena, not what was there */
    a = vg_arena_new();
    assert_non_null(vg_arena_alloc(a, 3u << 20));
    body = empty_spans(1000);
    len = strlen(body);
    assert_int_equal(vg_otlp_json_decode(VG_SIG_TRACES, body, len, a, &m, err, sizeof err), 0);
    assert_int_equal(vg_otlp_count_items(VG_SIG_TRACES, m), 1000);
    vg_arena_destroy(a);
    free(body);

    /* a body just under the default cap passes: empty spans that fit the slack */
    size_t n = 4000;
    body = empty_spans(n);
    len = strlen(body);
    a = vg_arena_new();
    assert_int_equal(vg_otlp_json_decode(VG_SIG_TRACES, body, len, a, &m, err, sizeof err), 0);
    assert_true(vg_arena_bytes(a) <= VG_OTLP_JSON_DECODE_AMPLIFICATION * len + VG_OTLP_JSON_DECODE_SLACK);
    assert_true(vg_arena_bytes(a) > VG_OTLP_JSON_DECODE_SLACK / 2);
    vg_arena_destroy(a);
    free(body);

    /* real data stays far below the amplification bound */
    char **lines;
    size_t nl = read_lines("traces.jsonl", &lines);
    for (size_t i = 0; i < nl; i++) {
        a = vg_arena_new();
        size_t l = strlen(lines[i]);
        assert_int_equal(vg_otlp_json_decode_capped(VG_SIG_TRACES, lines[i], l, a, 16 * l + 4096, &m, err, sizeof err), 0);
        vg_arena_destroy(a);
    }
    free_lines(lines, nl);
}

/* `depth` nested arrays (or objects) as the value of an unknown key */
static char *deep_unknown(size_t depth, int objects)
{
    size_t cap = depth * 6 + 64;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "{\"unknownKey\":");
    for (size_t i = 0; i < depth; i++) p += sprintf(p, objects ? "{\"a\":" : "[");
    *p++ = '1';
    for (size_t i = 0; i < depth; i++) *p++ = objects ? '}' : ']';
    sprintf(p, ",\"resourceSpans\":[]}");
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* Values of unknown keys are skipped without recursion, but JSON nesting
     * is limited to 2048 levels wherever it is (jansson's limit, kept):
     * 100k nested arrays fail cleanly as invalid JSON. */
    char *s = deep_unknown(100000, 0);
    expect_error(VG_SIG_TRACES, s, VG_EPARSE, "maximum parsing depth reached");
    free(s);
    s = deep_unknown(100000, 1);
    expect_error(VG_SIG_TRACES, s, VG_EPARSE, "maximum parsing depth reached");
    free(s);
    /* the top-level object is level 1, the key's value level 2: the innermost
     * scalar of 2046 arrays sits at level 2048, the most allowed */
    vg_arena_t *a = vg_arena_new();
    s = deep_unknown(2046, 0);
    decode_ok(VG_SIG_TRACES, s, a);
    free(s);
    s = deep_unknown(2047, 0);
    expect_error(VG_SIG_TRACES, s, VG_EPARSE, "invalid JSON at line 1, column 2062: maximum parsing depth reached");
    free(s);
    s = deep_unknown(2046, 1);
    decode_ok(VG_SIG_TRACES, s, a);
    free(s);
    /* a skipped value is still checked */
    expect_error(VG_SIG_TRACES, "{\"x\":[1,{\"a\":\"\\ud800\"}]}", VG_EPARSE, "invalid JSON at line 1, column 20: invalid Unicode");
    expect_error(VG_SIG_TRACES, "{\"x\":[1,]}", VG_EPARSE, "unexpected token near ']'");
    expect_error(VG_SIG_TRACES, "{\"x\":1e400}", VG_EPARSE, "real number overflow near '1e400'");
    expect_error(VG_SIG_TRACES, "{\"x\":-9223372036854775809}", VG_EPARSE, "too big negative integer");
    decode_ok(VG_SIG_TRACES, "{\"x\":[-9223372036854775808,1e-400,{\"a\":[]},\"\\u00e9\",true,false,null]}", a);
    vg_arena_destroy(a);
}

static void test_escapes(void **state)
{
    (void)state;
    vg_arena_t *a = vg_arena_new();
    /* every escape, surrogate pairs in both cases, escaped keys */
    trace_req_t *r = (trace_req_t *)decode_ok(
        VG_SIG_TRACES,
        SPAN("\"na\\u006de\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t|\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\uD834\\uDD1E\\u007f\\u0080\\uffff\","
             "\"trace\\u005fid\":\"\\u0035b8efff798038103d269b633813fc60\\u0063\",\"kind\":\"SPAN_KIND_\\u0053ERVER\","
             "\"startTimeUnixNano\":\"\\u00312\",\"attributes\":[{\"key\":\"b\",\"value\":{\"bytesValue\":\"AA\\u0045\\u003d\"}}]"),
        a);
    Opentelemetry__Proto__Trace__V1__Span *sp = r->resource_spans[0]->scope_spans[0]->spans[0];
    assert_string_equal(sp->name, "\"\\/\b\f\n\r\t|A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9d\x84\x9e\x7f\xc2\x80\xef\xbf\xbf");
    assert_int_equal(sp->trace_id.len, 16);
    assert_int_equal(sp->trace_id.data[0], 0x5b);
    assert_int_equal(sp->trace_id.data[15], 0x0c);
    assert_int_equal(sp->kind, 2);
    assert_true(sp->start_time_unix_nano == 12);
    assert_int_equal(sp->attributes[0]->value->bytes_value.len, 2);
    assert_memory_equal(sp->attributes[0]->value->bytes_value.data, "\x00\x01", 2);
    /* raw UTF-8 of every length passes through */
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"name\":\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""), a);
    assert_string_equal(r->resource_spans[0]->scope_spans[0]->spans[0]->name,
                        "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    vg_arena_destroy(a);

    /* lone or mismatched surrogates, bad escapes, raw controls, bad UTF-8 */
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\udc00\""), VG_EPARSE, "invalid Unicode '\\uDC00'");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\ud800x\""), VG_EPARSE, "invalid Unicode '\\uD800'");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\ud800\\u0041\""), VG_EPARSE, "invalid Unicode '\\uD800\\u0041'");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\ud800\\ud800\""), VG_EPARSE, "invalid Unicode '\\uD800\\uD800'");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\u12\""), VG_EPARSE, "invalid escape");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\\x41\""), VG_EPARSE, "invalid escape");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"a\tb\""), VG_EPARSE, "control character 0x9");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"a\nb\""), VG_EPARSE, "invalid JSON at line 1, column 53: unexpected newline near '\"a'");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\xf4\x90\x80\x80\""), VG_EPARSE, "unable to decode byte 0xf4");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\xe0\x9f\xbf\""), VG_EPARSE, "unable to decode byte 0xe0");
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"\x80\""), VG_EPARSE, "unable to decode byte 0x80");
    expect_error(VG_SIG_TRACES, SPAN("\"na\\u0000me\":1"), VG_EPARSE, "\\u0000 is not allowed");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":[]}\n\"", VG_EPARSE, "invalid JSON at line 2, column 1: end of file expected");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":[],\"x\":\"abc", VG_EPARSE, "premature end of input near '\"abc'");
    /* escaped ids are counted decoded */
    expect_error(VG_SIG_TRACES, SPAN("\"spanId\":\"\\u0030\""), VG_EPARSE, "spanId: expected 16 hex characters (got 1)");
    expect_error(VG_SIG_TRACES, ATTR("{\"bytesValue\":\"\\u0041\\u0021==\"}"), VG_EPARSE,
                 "invalid base64 (bad character at offset 1)");
}

static void test_repeated_keys(void **state)
{
    (void)state;
    /* as jansson kept it: each key once, at its first place, with its last value */
    vg_arena_t *a = vg_arena_new();
    trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"name\":5,\"kind\":[],\"name\":\"x\",\"kind\":2"), a);
    assert_string_equal(r->resource_spans[0]->scope_spans[0]->spans[0]->name, "x");
    assert_int_equal(r->resource_spans[0]->scope_spans[0]->spans[0]->kind, 2);
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"name\":\"x\",\"name\":null"), a);
    assert_string_equal(r->resource_spans[0]->scope_spans[0]->spans[0]->name, "");
    /* distinct keys for one field: the later key wins, a null value sets nothing */
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"1\",\"start_time_unix_nano\":\"2\","
                                                     "\"startTimeUnixNano\":\"3\""), a);
    assert_true(r->resource_spans[0]->scope_spans[0]->spans[0]->start_time_unix_nano == 2);
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, SPAN("\"startTimeUnixNano\":\"1\",\"start_time_unix_nano\":\"2\","
                                                     "\"start_time_unix_nano\":null"), a);
    assert_true(r->resource_spans[0]->scope_spans[0]->spans[0]->start_time_unix_nano == 1);
    /* oneof: the member taken last wins, in first-appearance order */
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, ATTR("{\"stringValue\":\"a\",\"intValue\":\"1\",\"stringValue\":\"b\"}"), a);
    const anyvalue_t *v = r->resource_spans[0]->scope_spans[0]->spans[0]->attributes[0]->value;
    assert_int_equal(v->value_case, AV(INT_VALUE));
    assert_int_equal(v->int_value, 1);
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, ATTR("{\"kvlistValue\":{},\"stringValue\":\"s\",\"stringValue\":null}"), a);
    v = r->resource_spans[0]->scope_spans[0]->spans[0]->attributes[0]->value;
    assert_int_equal(v->value_case, AV(KVLIST_VALUE));
    assert_non_null(v->kvlist_value);
    /* a repeated array key replaces the whole array */
    r = (trace_req_t *)decode_ok(VG_SIG_TRACES, "{\"resourceSpans\":[{},{}],\"resourceSpans\":[{}]}", a);
    assert_int_equal(r->n_resource_spans, 1);
    vg_arena_destroy(a);
    /* the value left last is what counts, also for errors */
    expect_error(VG_SIG_TRACES, SPAN("\"name\":\"x\",\"name\":5"), VG_EPARSE, SP0 "name: expected a string, got a number");
    expect_error(VG_SIG_TRACES, "{\"resourceSpans\":[],\"resourceSpans\":{}}", VG_EPARSE,
                 "resourceSpans: expected an array, got an object");
    /* the first failure left stands even when a later one was replaced */
    expect_error(VG_SIG_TRACES, SPAN("\"name\":5,\"kind\":\"BAD\",\"kind\":1"), VG_EPARSE, SP0 "name: expected a string");
    /* when the failure reported first was replaced, the one left is named by its key */
    expect_error(VG_SIG_TRACES, SPAN("\"name\":5,\"kind\":\"BAD\",\"name\":\"x\""), VG_EPARSE, SP0 "kind: invalid value");
}

static void test_long_numbers(void **state)
{
    (void)state;
    /* numbers longer than any double needs are still rounded exactly */
    static const char *nums[] = {
        "0.000000000000000000000000000000000000000000000000000000000000000000000000000123456789012345678901234567890",
        "17976931348623157081452742373170435679807056752584499659891747680315726078002853876058955863276687817154045"
        "89535143824642343213268894641827684675467035375169860499105765512820762454900903893289440758685541171.0",
        "-2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828"
        "2347722081e-324",
        "1.00000000000000011102230246251565404236316680908203125000000000000000000000000000000000000000000000000000001",
        "2.22507385850720138309023271733240406421921598046233183055332741688720443481391819585428315901251102056406"
        "733973103581100515243416155346010885601238537771882113077799353200233047961014744258363607192156504694250373"
        "420837525080665061665815894872049627e-308",
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const char *num = nums[i];
        char in[2048];
        snprintf(in, sizeof in, "%s%s%s", SP_OPEN "\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":", num,
                 "}}]" SP_CLOSE);
        vg_arena_t *a = vg_arena_new();
        trace_req_t *r = (trace_req_t *)decode_ok(VG_SIG_TRACES, in, a);
        double got = r->resource_spans[0]->scope_spans[0]->spans[0]->attributes[0]->value->double_value;
        double want = strtod(num, NULL);
        assert_memory_equal(&got, &want, sizeof got);
        vg_arena_destroy(a);
    }
}

/* Failing allocations over inputs that need the key stack on the heap
 * (deep AnyValue nesting) and that fail only after decoding much. */
static void test_alloc_failures_streaming(void **state)
{
    (void)state;
    char *deep = nested_body(VG_OTLP_JSON_MAX_DEPTH);
    char *dup = strdup(SPAN("\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"}}],\"name\":5,"
                            "\"attributes\":[{\"key\":\"b\"}],\"name\":\"n\""));
    const char *inputs[] = {deep, dup};
    vg_signal_t sigs[] = {VG_SIG_LOGS, VG_SIG_TRACES};
    for (size_t k = 0; k < 2; k++) decode_failures(sigs[k], inputs[k]);
    free(deep);
    free(dup);
}


static void test_alloc_failures(void **state)
{
    (void)state;
    static const struct {
        vg_signal_t sig;
        const char *file;
    } files[] = {{VG_SIG_TRACES, "traces.jsonl"}, {VG_SIG_METRICS, "metrics.jsonl"}, {VG_SIG_LOGS, "logs.jsonl"}};
    for (size_t f = 0; f < 3; f++) {
        char **lines;
        size_t n = read_lines(files[f].file, &lines);
        for (size_t i = 0; i < n; i++) alloc_failures(files[f].sig, lines[i]);
        free_lines(lines, n);
    }
    char *big = big_request();
    alloc_failures(VG_SIG_TRACES, big);
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = decode_ok(VG_SIG_TRACES, big, a);
    assert_int_equal(vg_otlp_count_items(VG_SIG_TRACES, m), 120);
    vg_arena_destroy(a);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_traces),
        cmocka_unit_test(test_roundtrip_metrics),
        cmocka_unit_test(test_roundtrip_logs),
        cmocka_unit_test(test_trace_fields),
        cmocka_unit_test(test_metric_fields),
        cmocka_unit_test(test_log_fields),
        cmocka_unit_test(test_lenient_input),
        cmocka_unit_test(test_error_ids),
        cmocka_unit_test(test_error_numbers),
        cmocka_unit_test(test_error_types),
        cmocka_unit_test(test_error_utf8),
        cmocka_unit_test(test_error_depth),
        cmocka_unit_test(test_encode_strings_and_doubles),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_decode_cap),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_repeated_keys),
        cmocka_unit_test(test_long_numbers),
        cmocka_unit_test(test_alloc_failures_streaming),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
