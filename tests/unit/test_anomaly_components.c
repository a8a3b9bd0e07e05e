/* The anomaly processor and connector and their shared module: series
 * identity, rates from cumulative sums (resets, gaps, priming), histogram
 * rate and mean, template mining (masking, joining, novelty), hysteresis and
 * rate limiting of events, event text, caps and evictions, bytes per series;
 * then both factories on a real uv loop with capture consumers (scores on
 * spans and log records, score metrics, events, back-pressure with pending
 * events and drops), failing allocations in turn, and the loop closing
 * cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "component.h"
#include "error.h"
#include "mem.h"
#include "otlp_build.h"
#include "otlp_json.h"
#include "processors/anomaly/anomaly_int.h"

extern const vg_factory_t vg_anomaly_processor_factory;
extern const vg_factory_t vg_anomaly_connector_factory;

#define SEC 1000000000LL
#define T0 (1767225600LL * SEC)

/* deterministic noise */
typedef struct {
    uint64_t s;
} rng_t;
static double unif(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(rng_t *r) { return sqrt(-2.0 * log(unif(r))) * cos(6.283185307179586 * unif(r)); }

/* ---- configurations: parsed from YAML with the factories' own tables ------------ */

typedef struct {
    vg_ydoc_t *doc;
    vg_errs_t errs;
    void *cfg;
    const vg_factory_t *f;
} conf_t;

static void conf_load(conf_t *c, const vg_factory_t *f, const char *yaml)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    vg_errs_init(&c->errs);
    assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &c->doc, &c->errs), 0);
    c->cfg = vg_calloc(1, f->config_size);
    assert_non_null(c->cfg);
    int rc = vg_options_parse(f->options, c->cfg, c->doc->root, "anomaly", &c->errs);
    if (rc == 0 && f->validate) rc = f->validate(c->cfg, "anomaly", &c->errs);
    assert_int_equal(rc, 0);
}

static void conf_free(conf_t *c)
{
    vg_options_free(c->f->options, c->cfg);
    vg_free(c->cfg);
    vg_ydoc_free(c->doc);
    vg_errs_free(&c->errs);
}

/* The connector config starts with vg_anl_cfg_t, then vg_anl_events_cfg_t. */
typedef struct {
    vg_anl_cfg_t common;
    vg_anl_events_cfg_t events;
} conn_cfg_head_t;

static vg_anl_t *scorer(conf_t *c, const char *yaml, bool events)
{
    conf_load(c, events ? &vg_anomaly_connector_factory : &vg_anomaly_processor_factory, yaml);
    vg_anl_t *a = NULL;
    conn_cfg_head_t *h = c->cfg;
    assert_int_equal(vg_anl_new(&a, &h->common, events ? &h->events : NULL), 0);
    return a;
}

/* ---- batch builders --------------------------------------------------------------- */

static vg_resource_metrics_t *res_metrics(vg_batch_t *b, const char *ctr, const char *pod)
{
    vg_resource_metrics_t *rm = vg_build_resource_metrics(b);
    assert_non_null(rm);
    vg_kv_t ***kv = &rm->resource->attributes;
    size_t *n = &rm->resource->n_attributes;
    if (ctr) assert_int_equal(vg_build_attr_str(b->arena, kv, n, "container.id", ctr), 0);
    if (pod) assert_int_equal(vg_build_attr_str(b->arena, kv, n, "k8s.pod.name", pod), 0);
    if (pod) assert_int_equal(vg_build_attr_str(b->arena, kv, n, "k8s.namespace.name", "default"), 0);
    assert_int_equal(vg_build_attr_str(b->arena, kv, n, "cgroup.path", "/kubepods/x"), 0);
    return rm;
}

/* One gauge point in a new batch. */
static vg_batch_t *gauge_batch(const char *ctr, const char *pod, const char *name, const char *unit, int64_t ts,
                               double v)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_METRICS);
    vg_resource_metrics_t *rm = res_metrics(b, ctr, pod);
    vg_scope_metrics_t *sm = vg_build_scope_metrics(b, rm, "test", "1");
    vg_metric_t *m = vg_build_metric(b, sm, name, "", unit, VG_METRIC_GAUGE, false);
    assert_non_null(vg_build_point_double(b, m, 0, (uint64_t)ts, v));
    vg_batch_recount(b);
    return b;
}

static vg_batch_t *counter_batch(const char *ctr, const char *name, const char *unit, int64_t start, int64_t ts,
                                 double v)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_METRICS);
    vg_resource_metrics_t *rm = res_metrics(b, ctr, NULL);
    vg_scope_metrics_t *sm = vg_build_scope_metrics(b, rm, "test", "1");
    vg_metric_t *m = vg_build_metric(b, sm, name, "", unit, VG_METRIC_SUM_CUMULATIVE, true);
    assert_non_null(vg_build_point_double(b, m, (uint64_t)start, (uint64_t)ts, v));
    vg_batch_recount(b);
    return b;
}

static void feed_metrics(vg_anl_t *a, vg_batch_t *b, int64_t now)
{
    assert_int_equal(vg_anl_metrics(a, (vg_metrics_req_t *)vg_batch_req(b), NULL, now), 0);
    vg_batch_unref(b);
}

/* Events taken from the scorer, flattened. */
typedef struct {
    int n;
    char body[16][512];
    char state[16][16];
    char detector[16][32];
    int severity[16];
    char res[16][512]; /* resource attributes, "k=v;" */
    double value[16], score[16];
    char event_name[16][32];
} evs_t;

static void collect(vg_anl_t *a, evs_t *ev)
{
    vg_batch_t *b = vg_anl_take_events(a);
    if (!b) return;
    vg_logs_req_t *r = (vg_logs_req_t *)vg_batch_req(b);
    for (size_t i = 0; i < r->n_resource_logs; i++) {
        vg_resource_logs_t *rl = r->resource_logs[i];
        for (size_t j = 0; j < rl->n_scope_logs; j++)
            for (size_t k = 0; k < rl->scope_logs[j]->n_log_records; k++) {
                vg_log_record_t *lr = rl->scope_logs[j]->log_records[k];
                assert_true(ev->n < 16);
                int e = ev->n++;
                snprintf(ev->body[e], sizeof ev->body[e], "%s", lr->body->string_value);
                snprintf(ev->event_name[e], sizeof ev->event_name[e], "%s", lr->event_name);
                ev->severity[e] = (int)lr->severity_number;
                const char *s = vg_attr_get_str(lr->attributes, lr->n_attributes, "anomaly.state");
                snprintf(ev->state[e], sizeof ev->state[e], "%s", s ? s : "");
                s = vg_attr_get_str(lr->attributes, lr->n_attributes, "anomaly.detector");
                snprintf(ev->detector[e], sizeof ev->detector[e], "%s", s ? s : "");
                assert_string_equal(vg_attr_get_str(lr->attributes, lr->n_attributes, "event.name"),
                                    "vigil.anomaly");
                vg_anyvalue_t *v = vg_attr_get(lr->attributes, lr->n_attributes, "anomaly.value");
                ev->value[e] = v ? v->double_value : NAN;
                v = vg_attr_get(lr->attributes, lr->n_attributes, "anomaly.score");
                assert_non_null(v);
                ev->score[e] = v->double_value;
                ev->res[e][0] = '\0';
                for (size_t q = 0; q < rl->resource->n_attributes; q++) {
                    size_t o = strlen(ev->res[e]);
                    snprintf(ev->res[e] + o, sizeof ev->res[e] - o, "%s=%s;", rl->resource->attributes[q]->key,
                             rl->resource->attributes[q]->value->string_value);
                }
            }
    }
    vg_batch_unref(b);
}

/* ---- pure parts ------------------------------------------------------------------------ */

static void test_sizes(void **state)
{
    (void)state;
    size_t per = vg_anl_series_entry_bytes();
    printf("bytes per series: %zu (engine state %zu), per log source: %zu, per template: %zu\n", per,
           vg_anom_series_bytes(), vg_anl_source_entry_bytes(), vg_anl_template_entry_bytes());
    assert_true(per < 2048); /* the stated bound, engine state included */
    assert_true(vg_anl_template_entry_bytes() < 512);
    /* a full table costs about that per series */
    conf_t c;
    vg_anl_t *a = scorer(&c, "max_series: 1000\nwarmup: 2\n", false);
    for (int i = 0; i < 1000; i++) {
        char ctr[32];
        snprintf(ctr, sizeof ctr, "c%04d", i);
        feed_metrics(a, gauge_batch(ctr, NULL, "m", "1", T0, 1), T0);
    }
    assert_int_equal(vg_anl_series_count(a), 1000);
    size_t total = vg_anl_bytes(a);
    printf("1000 series: %zu bytes (%.0f per series, tables and templates included)\n", total, total / 1000.0);
    assert_true(total / 1000 < 2048 + 64);
    vg_anl_free(a);
    conf_free(&c);
}

static void test_identity(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 2\n", false);
    /* same container, a non-identity resource attribute differs: one series */
    vg_batch_t *b = gauge_batch("abc", "web-1", "m", "1", T0, 1);
    feed_metrics(a, b, T0);
    b = gauge_batch("abc", "web-1", "m", "1", T0 + SEC, 1);
    vg_resource_metrics_t *rm = ((vg_metrics_req_t *)vg_batch_req(b))->resource_metrics[0];
    assert_int_equal(vg_attr_set_str(b->arena, &rm->resource->attributes, &rm->resource->n_attributes, "cgroup.path",
                                     "/elsewhere"), 0);
    feed_metrics(a, b, T0);
    assert_int_equal(vg_anl_series_count(a), 1);
    /* attribute order does not matter */
    b = vg_batch_new(VG_SIG_METRICS);
    rm = vg_build_resource_metrics(b);
    vg_kv_t ***kv = &rm->resource->attributes;
    size_t *nkv = &rm->resource->n_attributes;
    vg_build_attr_str(b->arena, kv, nkv, "k8s.namespace.name", "default");
    vg_build_attr_str(b->arena, kv, nkv, "k8s.pod.name", "web-1");
    vg_build_attr_str(b->arena, kv, nkv, "container.id", "abc");
    vg_metric_t *m = vg_build_metric(b, vg_build_scope_metrics(b, rm, "x", ""), "m", "", "1", VG_METRIC_GAUGE, false);
    vg_build_point_double(b, m, 0, T0 + 2 * SEC, 1);
    feed_metrics(a, b, T0);
    assert_int_equal(vg_anl_series_count(a), 1);
    /* another container, another metric name, another point attribute: new series */
    feed_metrics(a, gauge_batch("abd", "web-1", "m", "1", T0, 1), T0);
    feed_metrics(a, gauge_batch("abc", "web-1", "m2", "1", T0, 1), T0);
    assert_int_equal(vg_anl_series_count(a), 3);
    b = gauge_batch("abc", "web-1", "m", "1", T0 + 3 * SEC, 1);
    vg_number_point_t *p = ((vg_metrics_req_t *)vg_batch_req(b))->resource_metrics[0]->scope_metrics[0]->metrics[0]->gauge
                               ->data_points[0];
    vg_build_attr_str(b->arena, &p->attributes, &p->n_attributes, "cpu.mode", "user");
    feed_metrics(a, b, T0);
    assert_int_equal(vg_anl_series_count(a), 4);
    /* the readable identity of a series */
    anl_ident_t e;
    memset(&e, 0, sizeof e);
    anl_ident_init(&e, "container.cpu.usage");
    anl_ident_add(&e, "container.id", "0123456789abcdef0123", true);
    anl_ident_add(&e, "k8s.pod.name", "web-1", true);
    anl_ident_add(&e, "k8s.namespace.name", "shop", true);
    anl_ident_add(&e, "cpu.mode", "user", false);
    assert_string_equal(anl_ident_name(&e), "container.cpu.usage");
    assert_string_equal(anl_ident_get(&e, "k8s.pod.name"), "web-1");
    assert_string_equal(anl_ident_get(&e, "cpu.mode"), "user");
    assert_null(anl_ident_get(&e, "host.name"));
    char s[256];
    anl_subject(&e, s, sizeof s);
    assert_string_equal(s, "container 0123456789ab in pod shop/web-1");
    /* bounded: a long identity is cut, flagged, never overflows */
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 10; i++) anl_ident_add(&e, "k", big, false);
    assert_true(e.trunc);
    assert_true(e.len <= ANL_IDENT_MAX);
    assert_string_equal(anl_ident_get(&e, "cpu.mode"), "user"); /* what fitted is intact */
    vg_anl_free(a);
    conf_free(&c);
}

static void test_counter_rates(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 10\n", true);
    const vg_anl_stats_t *st = vg_anl_stats(a);
    double v = 1000;
    int64_t ts = T0;
    /* first point only primes */
    feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 - SEC, ts, v), ts);
    assert_int_equal(st->points, 0);
    for (int i = 0; i < 30; i++) {
        ts += SEC;
        v += 10; /* 10/s */
        feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 - SEC, ts, v), ts);
    }
    assert_int_equal(st->points, 30);
    /* the same timestamp again: not a point */
    feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 - SEC, ts, v), ts);
    assert_int_equal(st->points, 30);
    /* a reset (value drops, new start time): re-primes, no event */
    ts += SEC;
    v = 5;
    feed_metrics(a, counter_batch("c1", "requests", "{request}", ts - SEC / 2, ts, v), ts);
    assert_int_equal(st->resets, 1);
    assert_int_equal(st->points, 30);
    for (int i = 0; i < 5; i++) {
        ts += SEC;
        v += 10;
        feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 + 31 * SEC + SEC / 2, ts, v), ts);
    }
    /* a gap of a minute: re-primes */
    ts += 60 * SEC;
    v += 600;
    feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 + 31 * SEC + SEC / 2, ts, v), ts);
    assert_int_equal(st->gaps, 1);
    evs_t ev = { 0 };
    collect(a, &ev);
    assert_int_equal(ev.n, 0); /* resets and gaps are not anomalies */
    assert_int_equal(st->incidents_opened, 0);
    /* the rate jumps 10x: an incident, the value is the rate */
    for (int i = 0; i < 4; i++) {
        ts += SEC;
        v += 100;
        feed_metrics(a, counter_batch("c1", "requests", "{request}", T0 + 31 * SEC + SEC / 2, ts, v), ts);
    }
    collect(a, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.detector[0], "rate");
    assert_true(fabs(ev.value[0] - 100) < 1e-6);
    assert_non_null(strstr(ev.body[0], "container c1: rate of requests 100 request/s, expected"));
    vg_anl_free(a);
    conf_free(&c);
}

static void test_histograms(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 10\n", true);
    int64_t ts = T0;
    uint64_t count = 0;
    double sum = 0;
    for (int i = 0; i < 40; i++) {
        ts += SEC;
        count += 20;                      /* 20 requests/s */
        sum += 20 * (i < 30 ? 0.1 : 1.0); /* mean latency 0.1 s, then 1 s */
        vg_batch_t *b = vg_batch_new(VG_SIG_METRICS);
        vg_resource_metrics_t *rm = res_metrics(b, NULL, NULL);
        assert_int_equal(vg_build_attr_str(b->arena, &rm->resource->attributes, &rm->resource->n_attributes,
                                           "service.name", "api"), 0);
        vg_scope_metrics_t *sm = vg_build_scope_metrics(b, rm, "t", "1");
        vg_metric_t *m = vg_arena_zalloc(b->arena, sizeof *m);
        opentelemetry__proto__metrics__v1__metric__init(m);
        m->name = "http.server.duration";
        m->unit = "s";
        m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
        m->histogram = vg_arena_zalloc(b->arena, sizeof *m->histogram);
        opentelemetry__proto__metrics__v1__histogram__init(m->histogram);
        m->histogram->aggregation_temporality =
            OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
        Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p = vg_arena_zalloc(b->arena, sizeof *p);
        opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
        p->time_unix_nano = (uint64_t)ts;
        p->start_time_unix_nano = T0;
        p->count = count;
        p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
        p->sum = sum;
        assert_int_equal(vg_build_append(b->arena, (void ***)&m->histogram->data_points,
                                         &m->histogram->n_data_points, p), 0);
        assert_int_equal(vg_build_append(b->arena, (void ***)&sm->metrics, &sm->n_metrics, m), 0);
        feed_metrics(a, b, ts);
    }
    assert_int_equal(vg_anl_series_count(a), 2); /* count rate and mean */
    evs_t ev = { 0 };
    collect(a, &ev);
    assert_int_equal(ev.n, 1); /* the mean jumped; the count rate did not */
    assert_string_equal(ev.detector[0], "histogram.mean");
    assert_true(fabs(ev.value[0] - 1.0) < 1e-9);
    assert_non_null(strstr(ev.body[0], "service api: mean http.server.duration 1 s, expected"));
    vg_anl_free(a);
    conf_free(&c);
}

static void test_mask_and_mine(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "1234", "<NUM>" },           { "12.5ms", "<NUM>" },         { "-3", "<NUM>" },
        { "80%", "<NUM>" },            { "10.0.0.1", "<IP>" },        { "10.0.0.1:22,", "<IP>," },
        { "[fe80::1]", "[<IP>]" },     { "::1", "<IP>" },             { "12:34:56", "<NUM>" },
        { "0x7fff1234", "<HEX>" },     { "deadbeef01", "<HEX>" },     { "deadbeef", "deadbeef" },
        { "123e4567-e89b-12d3-a456-426614174000", "<ID>" },           { "sshd[1234]:", "sshd[#]:" },
        { "user=bob", "user=bob" },    { "port=22", "port=<NUM>" },   { "(pid", "(pid" },
        { "session9f8e7d6c5b4a", "<ID>" }, { "Failed", "Failed" },    { "v2", "v#" },
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        anl_mask_token(cases[i].in, strlen(cases[i].in), out, sizeof out);
        if (strcmp(out, cases[i].out) != 0) fprintf(stderr, "mask(%s) = %s, want %s\n", cases[i].in, out, cases[i].out);
        assert_string_equal(out, cases[i].out);
    }
    /* a tiny output buffer is never overrun */
    assert_true(anl_mask_token("abcdefghijklmnop", 16, out, 4) <= 3);

    anl_miner_t m;
    assert_int_equal(anl_miner_init(&m, 100, 0.6), 0);
    anl_mined_t r;
    const char *l1 = "Failed password for invalid user admin from 10.1.2.3 port 52344 ssh2";
    const char *l2 = "Failed password for invalid user guest from 192.168.7.9 port 40022 ssh2";
    const char *l3 = "Accepted publickey for deploy from 10.1.2.3 port 52000 ssh2";
    const char *l4 = "Kernel panic - not syncing: Fatal exception in interrupt";
    assert_int_equal(anl_miner_add(&m, l1, strlen(l1), &r), 0);
    assert_true(r.created);
    assert_int_equal(r.count_before, 0);
    uint64_t tid = r.t->tid;
    assert_string_equal(r.t->text, "Failed password for invalid user admin from <IP> port <NUM> ssh#");
    assert_int_equal(anl_miner_add(&m, l2, strlen(l2), &r), 0);
    assert_false(r.created); /* only the user name differs: joined, it becomes <*> */
    assert_int_equal(r.count_before, 1);
    assert_true(r.t->tid == tid);
    assert_string_equal(r.t->text, "Failed password for invalid user <*> from <IP> port <NUM> ssh#");
    assert_int_equal(anl_miner_add(&m, l3, strlen(l3), &r), 0);
    assert_true(r.created); /* another first word: another template */
    assert_int_equal(anl_miner_add(&m, l4, strlen(l4), &r), 0);
    assert_true(r.created);
    assert_int_equal(anl_miner_add(&m, l4, strlen(l4), &r), 0);
    assert_false(r.created);
    assert_int_equal(m.tab.count, 3);
    /* novelty: new 1, then halving */
    assert_true(anl_novelty(0) == 1.0);
    assert_true(anl_novelty(1) == 0.5);
    assert_true(anl_novelty(3) < 0.2);
    /* empty and whitespace-only messages make no template */
    assert_int_equal(anl_miner_add(&m, "   ", 3, &r), 0);
    assert_null(r.t);
    /* a very long message: bounded tokens and text */
    char longmsg[4000];
    size_t o = 0;
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(longmsg + o, sizeof longmsg - o, "word%c ", 'a' + i % 26);
    assert_int_equal(anl_miner_add(&m, longmsg, o, &r), 0);
    assert_int_equal(r.t->ntok, ANL_MAX_TOK);
    assert_true(strlen(r.t->text) < ANL_TEXT_MAX);
    anl_miner_free(&m);

    /* the template table is capped: least recently matched evicted */
    assert_int_equal(anl_miner_init(&m, 4, 0.6), 0);
    for (int i = 0; i < 10; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "event%c happened", 'a' + i);
        assert_int_equal(anl_miner_add(&m, msg, strlen(msg), &r), 0);
        assert_true(r.created);
    }
    assert_int_equal(m.tab.count, 4);
    assert_int_equal(m.tab.evictions, 6);
    assert_int_equal(anl_miner_add(&m, "eventa happened", 15, &r), 0);
    assert_true(r.created); /* evicted: new again */
    anl_miner_free(&m);
}

static void test_text(void **state)
{
    (void)state;
    char s[96];
    anl_fmt_value(s, sizeof s, 3.9, "{cpu}", "container.cpu.usage", false);
    assert_string_equal(s, "3.9 cores");
    anl_fmt_value(s, sizeof s, 512.0 * 1048576, "By", "container.memory.usage", false);
    assert_string_equal(s, "512 MiB");
    anl_fmt_value(s, sizeof s, 12.5 * 1048576, "By", "container.disk.io", true);
    assert_string_equal(s, "12.5 MiB/s");
    anl_fmt_value(s, sizeof s, 0.95, "s", "container.cpu.time", true);
    assert_string_equal(s, "0.95 cores");
    anl_fmt_value(s, sizeof s, 0.0123, "s", NULL, false);
    assert_string_equal(s, "12.3 ms");
    anl_fmt_value(s, sizeof s, 37, "{process}", "container.pids.count", false);
    assert_string_equal(s, "37 processes");
    anl_fmt_value(s, sizeof s, 1, "{process}", NULL, false);
    assert_string_equal(s, "1 process");
    anl_fmt_value(s, sizeof s, 2.5, "{request}", NULL, true);
    assert_string_equal(s, "2.5 request/s");
    anl_fmt_value(s, sizeof s, 1234567, "", NULL, true);
    assert_string_equal(s, "1.23e+06 /s");
    anl_fmt_range(s, sizeof s, 0.1, 0.3, "{cpu}", NULL, false);
    assert_string_equal(s, "0.1\u20130.3 cores");
    anl_fmt_range(s, sizeof s, 900.0 * 1024, 3.0 * 1048576, "By", NULL, false);
    assert_string_equal(s, "0.879\u20133 MiB");
    char buf[64];
    assert_string_equal(anl_metric_label("container.cpu.usage", false, buf, sizeof buf), "CPU usage");
    assert_string_equal(anl_metric_label("container.cpu.time", true, buf, sizeof buf), "CPU usage");
    assert_string_equal(anl_metric_label("foo.bar", true, buf, sizeof buf), "rate of foo.bar");
    /* subjects */
    anl_ident_t e;
    memset(&e, 0, sizeof e);
    anl_ident_init(&e, "");
    anl_ident_add(&e, "service.name", "checkout", true);
    anl_subject(&e, s, sizeof s);
    assert_string_equal(s, "service checkout");
    anl_ident_init(&e, "");
    anl_ident_add(&e, "hostname", "web1", true);
    anl_ident_add(&e, "appname", "sshd", true);
    anl_subject(&e, s, sizeof s);
    assert_string_equal(s, "host web1 (sshd)");
    anl_ident_init(&e, "");
    anl_ident_add(&e, "container.id", "ffeeddccbbaa99887766", true);
    anl_ident_add(&e, "host.name", "node1", true);
    anl_subject(&e, s, sizeof s);
    assert_string_equal(s, "container ffeeddccbbaa on host node1");
    anl_ident_init(&e, "");
    anl_subject(&e, s, sizeof s);
    assert_string_equal(s, "an unnamed source");
}

/* A container idle at ~0.1 cores, then 3.9 cores, then idle again. */
static void cpu_story(vg_anl_t *a, evs_t *ev, int base, int burn, int after, int64_t *tsp)
{
    rng_t r = { 42 };
    int64_t ts = *tsp;
    for (int i = 0; i < base + burn + after; i++) {
        double v = (i >= base && i < base + burn) ? 3.9 + 0.05 * gauss(&r) : 0.1 + 0.01 * gauss(&r);
        ts += SEC;
        feed_metrics(a, gauge_batch("0123456789abcdef", "web-1", "container.cpu.usage", "{cpu}", ts, v), ts);
        collect(a, ev);
    }
    *tsp = ts;
}

static void test_incident_hysteresis(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 20\nevents: {resolve_points: 5}\n", true);
    evs_t ev = { 0 };
    int64_t ts = T0;
    cpu_story(a, &ev, 40, 15, 60, &ts);
    for (int i = 0; i < ev.n; i++)
        printf("event %d: %s [%s %s %.2f]\n", i, ev.body[i], ev.state[i], ev.detector[i], ev.score[i]);
    assert_int_equal(ev.n, 2); /* one open, one resolve */
    assert_string_equal(ev.state[0], "open");
    assert_string_equal(ev.state[1], "resolved");
    assert_string_equal(ev.event_name[0], "vigil.anomaly");
    assert_string_equal(ev.detector[0], "value");
    assert_int_equal(ev.severity[0], OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR);
    assert_int_equal(ev.severity[1], OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO);
    assert_non_null(strstr(ev.body[0], "container 0123456789ab in pod default/web-1: CPU usage 3.9"));
    assert_non_null(strstr(ev.body[0], " cores, expected 0"));
    assert_non_null(strstr(ev.res[0], "container.id=0123456789abcdef;"));
    assert_non_null(strstr(ev.res[0], "k8s.pod.name=web-1;"));
    assert_null(strstr(ev.res[0], "cgroup.path")); /* only identifying attributes */
    assert_true(ev.value[0] > 3.5);
    assert_true(ev.score[0] >= 0.9);
    assert_int_equal(vg_anl_open_incidents(a), 0);
    const vg_anl_stats_t *st = vg_anl_stats(a);
    assert_int_equal(st->incidents_opened, 1);
    assert_int_equal(st->incidents_resolved, 1);
    vg_anl_free(a);
    conf_free(&c);

    /* a steady noisy series: no incident, no event */
    a = scorer(&c, "warmup: 20\n", true);
    rng_t r = { 7 };
    ev.n = 0;
    for (int i = 0; i < 400; i++) {
        ts += SEC;
        feed_metrics(a, gauge_batch("c", NULL, "container.cpu.usage", "{cpu}", ts, 0.6 + 0.15 * gauss(&r)), ts);
        feed_metrics(a, gauge_batch("c", NULL, "container.memory.usage", "By", ts, 2e8 + 1e5 * gauss(&r)), ts);
        collect(a, &ev);
    }
    for (int i = 0; i < ev.n; i++) printf("unexpected: %s\n", ev.body[i]);
    assert_int_equal(ev.n, 0);
    vg_anl_free(a);
    conf_free(&c);

    /* one noisy point does not open an incident (open_points 2) */
    a = scorer(&c, "warmup: 20\n", true);
    ev.n = 0;
    for (int i = 0; i < 60; i++) {
        ts += SEC;
        feed_metrics(a, gauge_batch("c", NULL, "container.cpu.usage", "{cpu}", ts, i == 40 ? 2.0 : 0.1), ts);
        collect(a, &ev);
    }
    assert_int_equal(ev.n, 0);
    vg_anl_free(a);
    conf_free(&c);
}

static void test_rate_limits(void **state)
{
    (void)state;
    conf_t c;
    /* 30 containers burn at once: the global bucket (burst 5) lets 5 opens through */
    vg_anl_t *a = scorer(&c,
                         "warmup: 20\nevents: {rate_limit: {global_burst: 5, global_per_minute: 1}}\n", true);
    evs_t ev = { 0 };
    int64_t ts = T0;
    for (int i = 0; i < 30; i++) {
        ts += SEC;
        for (int k = 0; k < 30; k++) {
            char ctr[16];
            snprintf(ctr, sizeof ctr, "c%02d", k);
            feed_metrics(a, gauge_batch(ctr, NULL, "container.cpu.usage", "{cpu}", ts, i < 25 ? 0.1 : 2.0), ts);
        }
    }
    collect(a, &ev);
    const vg_anl_stats_t *st = vg_anl_stats(a);
    assert_int_equal(st->incidents_opened, 30);
    assert_int_equal(ev.n, 5);
    assert_int_equal(st->events_suppressed, 25);
    vg_anl_free(a);
    conf_free(&c);

    /* one series flapping: opens, resolves, opens... its own bucket (burst 2,
     * one token per 5 minutes) announces two incidents, then is quiet */
    a = scorer(&c, "warmup: 20\nevents: {resolve_points: 2}\n", true);
    memset(&ev, 0, sizeof ev);
    for (int i = 0; i < 20; i++) {
        ts += SEC;
        feed_metrics(a, gauge_batch("f", NULL, "container.cpu.usage", "{cpu}", ts, 0.1), ts);
    }
    for (int cycle = 0; cycle < 6; cycle++) {
        for (int i = 0; i < 30; i++) {
            ts += SEC;
            feed_metrics(a, gauge_batch("f", NULL, "container.cpu.usage", "{cpu}", ts, i < 3 ? 4.0 * (cycle + 1) : 0.1),
                         ts);
        }
    }
    collect(a, &ev);
    st = vg_anl_stats(a);
    printf("flapping: %llu incidents, %d events\n", (unsigned long long)st->incidents_opened, ev.n);
    assert_true(st->incidents_opened >= 4);
    int opens = 0, resolves = 0;
    for (int i = 0; i < ev.n; i++) {
        opens += strcmp(ev.state[i], "open") == 0;
        resolves += strcmp(ev.state[i], "resolved") == 0;
    }
    assert_int_equal(opens, 2);
    assert_int_equal(resolves, 2); /* each announced open gets its resolve */
    vg_anl_free(a);
    conf_free(&c);
}

static void test_caps(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 2\nmax_series: 5\n", false);
    for (int i = 0; i < 8; i++) {
        char ctr[16];
        snprintf(ctr, sizeof ctr, "c%d", i);
        feed_metrics(a, gauge_batch(ctr, NULL, "m", "1", T0, 1), T0);
    }
    assert_int_equal(vg_anl_series_count(a), 5);
    assert_int_equal(vg_anl_stats(a)->series_evictions, 3);
    /* c3..c7 are tracked, c3 least recently: touching it keeps it */
    feed_metrics(a, gauge_batch("c3", NULL, "m", "1", T0, 1), T0);
    assert_int_equal(vg_anl_stats(a)->series_evictions, 3);
    feed_metrics(a, gauge_batch("c0", NULL, "m", "1", T0, 1), T0); /* evicted before: new again, evicts c4 */
    assert_int_equal(vg_anl_stats(a)->series_evictions, 4);
    feed_metrics(a, gauge_batch("c3", NULL, "m", "1", T0, 1), T0);
    assert_int_equal(vg_anl_stats(a)->series_evictions, 4);
    size_t bytes = vg_anl_bytes(a);
    feed_metrics(a, gauge_batch("c9", NULL, "m", "1", T0, 1), T0);
    assert_int_equal(vg_anl_bytes(a), bytes); /* at the cap memory stays put */
    vg_anl_free(a);
    conf_free(&c);
}

/* ---- spans and logs --------------------------------------------------------------------- */

static vg_batch_t *spans_batch(const char *svc, const char *name, int n, int64_t end, double dur_ms, int errors)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_TRACES);
    vg_traces_req_t *r = (vg_traces_req_t *)vg_batch_req(b);
    vg_resource_spans_t *rs = vg_arena_zalloc(b->arena, sizeof *rs);
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    rs->resource = vg_arena_zalloc(b->arena, sizeof *rs->resource);
    opentelemetry__proto__resource__v1__resource__init(rs->resource);
    vg_build_attr_str(b->arena, &rs->resource->attributes, &rs->resource->n_attributes, "service.name", svc);
    vg_scope_spans_t *ss = vg_arena_zalloc(b->arena, sizeof *ss);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    for (int i = 0; i < n; i++) {
        vg_span_t *sp = vg_arena_zalloc(b->arena, sizeof *sp);
        opentelemetry__proto__trace__v1__span__init(sp);
        sp->name = (char *)name;
        sp->end_time_unix_nano = (uint64_t)(end + i * 1000000LL);
        sp->start_time_unix_nano = sp->end_time_unix_nano - (uint64_t)(dur_ms * 1e6);
        if (i < errors) {
            sp->status = vg_arena_zalloc(b->arena, sizeof *sp->status);
            opentelemetry__proto__trace__v1__status__init(sp->status);
            sp->status->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        }
        vg_build_append(b->arena, (void ***)&ss->spans, &ss->n_spans, sp);
    }
    vg_build_append(b->arena, (void ***)&rs->scope_spans, &rs->n_scope_spans, ss);
    vg_build_append(b->arena, (void ***)&r->resource_spans, &r->n_resource_spans, rs);
    vg_batch_recount(b);
    return b;
}

static double span_score(vg_batch_t *b, size_t i)
{
    vg_span_t *sp = ((vg_traces_req_t *)vg_batch_req(b))->resource_spans[0]->scope_spans[0]->spans[i];
    vg_anyvalue_t *v = vg_attr_get(sp->attributes, sp->n_attributes, "anomaly.score");
    assert_non_null(v);
    return v->double_value;
}

static void test_spans(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 20\n", true);
    rng_t r = { 3 };
    int64_t ts = T0;
    evs_t ev = { 0 };
    /* two services at ~20 ms; then checkout's GET /cart goes to ~200 ms */
    for (int i = 0; i < 60; i++) {
        ts += SEC / 10;
        bool slow = i >= 40;
        vg_batch_t *b1 = spans_batch("checkout", "GET /cart", 2, ts, 20 * (slow ? 10 : 1) * exp(0.1 * gauss(&r)), 0);
        vg_batch_t *b2 = spans_batch("catalog", "GET /items", 2, ts, 20 * exp(0.1 * gauss(&r)), 0);
        assert_int_equal(vg_anl_traces(a, (vg_traces_req_t *)vg_batch_req(b1), b1->arena, ts), 0);
        assert_int_equal(vg_anl_traces(a, (vg_traces_req_t *)vg_batch_req(b2), b2->arena, ts), 0);
        if (i < 40) assert_true(span_score(b1, 0) < 0.5);
        if (i >= 40) assert_true(span_score(b1, 0) >= 0.7); /* 20 spans a second: memory is time, not points */
        assert_true(span_score(b2, 0) < 0.5);
        vg_batch_unref(b1);
        vg_batch_unref(b2);
        collect(a, &ev);
    }
    for (int i = 0; i < ev.n; i++) printf("event %d: %s\n", i, ev.body[i]);
    assert_true(ev.n >= 1);
    assert_string_equal(ev.detector[0], "span.duration");
    assert_non_null(strstr(ev.body[0], "service checkout: span 'GET /cart' took 2"));
    assert_non_null(strstr(ev.res[0], "service.name=checkout;"));
    for (int i = 0; i < ev.n; i++) assert_null(strstr(ev.body[i], "catalog"));

    /* an error burst: windows of 1 s, 10 spans each, then 6 of 10 fail */
    memset(&ev, 0, sizeof ev);
    int64_t now = T0 + 100 * SEC;
    double burst_score = 0;
    for (int w = 0; w < 40; w++) {
        vg_batch_t *b = spans_batch("payments", "charge", 10, now, 30, w >= 30 ? 6 : 0);
        assert_int_equal(vg_anl_traces(a, (vg_traces_req_t *)vg_batch_req(b), b->arena, now), 0);
        if (w == 30) burst_score = span_score(b, 5); /* the 6th error of the window */
        vg_batch_unref(b);
        now += SEC;
        vg_anl_tick(a, now);
        collect(a, &ev);
    }
    printf("error burst: span score %.2f, %d events\n", burst_score, ev.n);
    for (int i = 0; i < ev.n; i++) printf("event %d: %s\n", i, ev.body[i]);
    assert_true(burst_score >= 0.7);
    assert_true(ev.n >= 1);
    assert_string_equal(ev.detector[0], "span.errors");
    assert_non_null(strstr(ev.body[0], "service payments: 60% of spans failed in 1 s"));
    vg_anl_free(a);
    conf_free(&c);
}

static vg_batch_t *syslog_batch(const char *host, const char *app, const char *const *msgs, int n)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_LOGS);
    vg_resource_logs_t *rl = vg_build_resource_logs(b);
    vg_scope_logs_t *sl = vg_build_scope_logs(b, rl, "syslog", "1");
    for (int i = 0; i < n; i++) {
        vg_log_record_t *lr = vg_build_log_record(b, sl);
        lr->body = vg_build_value_str(b->arena, msgs[i], strlen(msgs[i]));
        vg_build_attr_str(b->arena, &lr->attributes, &lr->n_attributes, "hostname", host);
        vg_build_attr_str(b->arena, &lr->attributes, &lr->n_attributes, "appname", app);
        vg_build_attr_str(b->arena, &lr->attributes, &lr->n_attributes, "message", msgs[i]);
    }
    vg_batch_recount(b);
    return b;
}

static double log_score(vg_batch_t *b, size_t i)
{
    vg_log_record_t *lr = ((vg_logs_req_t *)vg_batch_req(b))->resource_logs[0]->scope_logs[0]->log_records[i];
    vg_anyvalue_t *v = vg_attr_get(lr->attributes, lr->n_attributes, "anomaly.score");
    assert_non_null(v);
    return v->double_value;
}

static void test_logs(void **state)
{
    (void)state;
    conf_t c;
    vg_anl_t *a = scorer(&c, "warmup: 10\nlogs: {template_warmup: 20}\n", true);
    const char *normal[] = { "Accepted publickey for deploy from 10.0.0.5 port 50022 ssh2",
                             "pam_unix(sshd:session): session opened for user deploy by (uid=0)",
                             "Failed password for root from 10.0.0.9 port 40001 ssh2" };
    evs_t ev = { 0 };
    int64_t now = T0;
    for (int w = 0; w < 30; w++) { /* 3 lines a second from web1, 1 from web2 */
        vg_batch_t *b = syslog_batch("web1", "sshd", normal, 3);
        assert_int_equal(vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(b), b->arena, now), 0);
        if (w > 10) for (int i = 0; i < 3; i++) assert_true(log_score(b, (size_t)i) < 0.5);
        vg_batch_unref(b);
        b = syslog_batch("web2", "sshd", normal, 1);
        assert_int_equal(vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(b), b->arena, now), 0);
        vg_batch_unref(b);
        now += SEC;
        vg_anl_tick(a, now);
        collect(a, &ev);
    }
    assert_int_equal(ev.n, 0);
    /* a burst of failed logins from web1 */
    const char *fails[100];
    char fbuf[100][128];
    for (int i = 0; i < 100; i++) {
        snprintf(fbuf[i], sizeof fbuf[i], "Failed password for root from 203.0.113.%d port %d ssh2", i, 30000 + i);
        fails[i] = fbuf[i];
    }
    vg_batch_t *b = syslog_batch("web1", "sshd", fails, 100);
    assert_int_equal(vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(b), b->arena, now), 0);
    assert_true(log_score(b, 99) >= 0.7); /* the rate so far is already far above */
    vg_batch_unref(b);
    now += SEC;
    vg_anl_tick(a, now);
    collect(a, &ev);
    for (int i = 0; i < ev.n; i++) printf("event %d: %s\n", i, ev.body[i]);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.detector[0], "log.rate");
    assert_non_null(strstr(ev.body[0], "host web1 (sshd): 100 log records in 1 s, expected"));
    assert_non_null(strstr(ev.res[0], "hostname=web1;"));
    /* a never-seen template: scored 1 on the record, one event */
    const char *panic[] = { "kernel: Out of memory: Killed process 4242 (java) total-vm:8123456kB" };
    b = syslog_batch("web2", "kernel", panic, 1);
    assert_int_equal(vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(b), b->arena, now), 0);
    assert_true(log_score(b, 0) == 1.0);
    vg_batch_unref(b);
    collect(a, &ev);
    if (ev.n > 1) printf("event 1: %s\n", ev.body[1]);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.detector[1], "log.template");
    assert_non_null(strstr(ev.body[1], "host web2 (kernel): never-seen log message: kernel: Out of memory: Killed "
                                       "process <NUM> (java) total-vm:#kB"));
    /* the same message again is no longer new */
    b = syslog_batch("web2", "kernel", panic, 1);
    assert_int_equal(vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(b), b->arena, now), 0);
    assert_true(log_score(b, 0) <= 0.5);
    vg_batch_unref(b);
    collect(a, &ev);
    assert_int_equal(ev.n, 2);
    vg_anl_free(a);
    conf_free(&c);
}

/* ---- the factories on a real loop ---------------------------------------------------------- */

typedef struct {
    vg_consumer_t base;
    vg_batch_t *got[64];
    size_t n;
    int refuse;
} capture_t;

static int capture_consume(vg_consumer_t *self, vg_batch_t *b)
{
    capture_t *c = (capture_t *)self;
    if (c->refuse) {
        vg_batch_unref(b);
        return VG_EREFUSED;
    }
    assert_true(c->n < 64);
    c->got[c->n++] = b;
    return 0;
}

typedef struct {
    uv_loop_t loop;
    capture_t cap;
    vg_component_t comp;
    conf_t conf;
} fixture_t;

static int comp_consume(vg_consumer_t *self, vg_batch_t *b)
{
    vg_component_t *c = self->ud;
    return c->f->consume(c, b);
}

static void fx_setup(fixture_t *fx, const vg_factory_t *f, const char *yaml)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cap.base.consume = capture_consume;
    conf_load(&fx->conf, f, yaml);
    fx->comp.f = f;
    fx->comp.id = "anomaly";
    fx->comp.pipeline = "p";
    fx->comp.loop = &fx->loop;
    fx->comp.cfg = fx->conf.cfg;
    fx->comp.in.consume = comp_consume;
    fx->comp.in.ud = &fx->comp;
    fx->comp.in.mutates = f->mutates;
    for (int s = 0; s < VG_SIG_COUNT; s++) fx->comp.next[s] = &fx->cap.base;
    assert_int_equal(f->create(&fx->comp), 0);
    assert_int_equal(f->start(&fx->comp), 0);
}

static void fx_teardown(fixture_t *fx)
{
    fx->comp.f->shutdown(&fx->comp);
    fx->comp.f->shutdown(&fx->comp); /* idempotent */
    uint64_t t0 = uv_now(&fx->loop);
    while (fx->comp.f->busy(&fx->comp) && uv_now(&fx->loop) - t0 < 3000) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_false(fx->comp.f->busy(&fx->comp));
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    fx->comp.f->destroy(&fx->comp);
    for (size_t i = 0; i < fx->cap.n; i++) vg_batch_unref(fx->cap.got[i]);
    conf_free(&fx->conf);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* no handle left behind */
}

static void test_processor_on_loop(void **state)
{
    (void)state;
    fixture_t fx;
    fx_setup(&fx, &vg_anomaly_processor_factory, "warmup: 5\nemit_score_metrics: true\n");
    /* spans and logs come out with anomaly.score */
    int64_t now = vg_anl_now();
    assert_int_equal(vg_consume(&fx.comp.in, spans_batch("svc", "op", 3, now, 10, 0)), 0);
    const char *msg[] = { "hello world 1" };
    assert_int_equal(vg_consume(&fx.comp.in, syslog_batch("h", "a", msg, 1)), 0);
    assert_int_equal(fx.cap.n, 2);
    assert_true(span_score(fx.cap.got[0], 2) == 0); /* warming up */
    assert_true(log_score(fx.cap.got[1], 0) == 0);
    /* metrics: one anomaly.score point per scored point, in its own scope */
    assert_int_equal(vg_consume(&fx.comp.in, gauge_batch("c", NULL, "container.cpu.usage", "{cpu}", now, 0.5)), 0);
    assert_int_equal(fx.cap.n, 3);
    vg_batch_t *b = fx.cap.got[2];
    assert_int_equal(b->items, 2);
    vg_resource_metrics_t *rm = ((vg_metrics_req_t *)vg_batch_req(b))->resource_metrics[0];
    assert_int_equal(rm->n_scope_metrics, 2);
    assert_string_equal(rm->scope_metrics[1]->scope->name, "vigil/processor/anomaly");
    vg_metric_t *m = rm->scope_metrics[1]->metrics[0];
    assert_string_equal(m->name, "anomaly.score");
    vg_number_point_t *p = m->gauge->data_points[0];
    assert_string_equal(vg_attr_get_str(p->attributes, p->n_attributes, "anomaly.metric"), "container.cpu.usage");
    /* the score metric round-trips through OTLP/JSON */
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(vg_otlp_json_encode(VG_SIG_METRICS, vg_batch_req(b), &json, &len), 0);
    assert_non_null(strstr(json, "\"anomaly.score\""));
    vg_free(json);
    /* the timer runs (windows close) and the loop closes cleanly */
    uint64_t t0 = uv_now(&fx.loop);
    while (uv_now(&fx.loop) - t0 < 1100) uv_run(&fx.loop, UV_RUN_ONCE);
    fx_teardown(&fx);
}

static void test_connector_on_loop(void **state)
{
    (void)state;
    fixture_t fx;
    fx_setup(&fx, &vg_anomaly_connector_factory,
             "warmup: 5\nmax_pending_events: 3\nretry_interval: 20ms\nlogs: {template_warmup: 3}\n"
             "events: {rate_limit: {per_series_burst: 100}}\n");
    const char *warm[] = { "alpha one", "beta two", "gamma three" };
    vg_batch_t *in = syslog_batch("h", "a", warm, 3);
    in->readonly = true; /* shared input: the connector must not write */
    assert_int_equal(vg_consume(&fx.comp.in, in), 0);
    assert_int_equal(fx.cap.n, 0);
    /* a new template: one event, straight through */
    const char *novel[] = { "completely different words here now" };
    assert_int_equal(vg_consume(&fx.comp.in, syslog_batch("h", "a", novel, 1)), 0);
    assert_int_equal(fx.cap.n, 1);
    vg_logs_req_t *r = (vg_logs_req_t *)vg_batch_req(fx.cap.got[0]);
    assert_string_equal(r->resource_logs[0]->scope_logs[0]->log_records[0]->event_name, "vigil.anomaly");
    assert_int_equal(fx.comp.stats.sent[VG_SIG_LOGS], 1);
    /* the logs pipeline refuses: events wait (3 at most), later ones are dropped */
    fx.cap.refuse = 1;
    char m[8][64];
    for (int i = 0; i < 5; i++) {
        snprintf(m[i], sizeof m[i], "novel%c message number %c", 'a' + i, 'a' + i);
        const char *one[] = { m[i] };
        assert_int_equal(vg_consume(&fx.comp.in, syslog_batch("h", "a", one, 1)), 0);
    }
    assert_int_equal(fx.comp.stats.queue_size, 3);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_LOGS], 2);
    size_t pending = 3;
    /* accepted again: the retry timer delivers what waited */
    fx.cap.refuse = 0;
    uint64_t t0 = uv_now(&fx.loop);
    while (fx.comp.stats.queue_size > 0 && uv_now(&fx.loop) - t0 < 2000) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(fx.comp.stats.queue_size, 0);
    assert_int_equal(fx.comp.stats.sent[VG_SIG_LOGS], 1 + pending);
    fx_teardown(&fx);
}

static void test_connector_drops_when_full(void **state)
{
    (void)state;
    fixture_t fx;
    fx_setup(&fx, &vg_anomaly_connector_factory,
             "warmup: 5\nmax_pending_events: 2\nretry_interval: 1h\nlogs: {template_warmup: 0}\n"
             "events: {rate_limit: {per_series_burst: 100}}\n");
    fx.cap.refuse = 1;
    char m[8][64];
    for (int i = 0; i < 6; i++) {
        snprintf(m[i], sizeof m[i], "distinct%c text %c", 'a' + i, 'a' + i);
        const char *one[] = { m[i] };
        assert_int_equal(vg_consume(&fx.comp.in, syslog_batch("h", "a", one, 1)), 0);
    }
    assert_int_equal(fx.comp.stats.queue_size, 2);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_LOGS], 4);
    /* shutdown while refused: busy while it retries (every 50 ms, 1 s at most),
     * then the rest is dropped and counted and the timers close */
    fx.comp.f->shutdown(&fx.comp);
    assert_true(fx.comp.f->busy(&fx.comp));
    uint64_t t0 = uv_now(&fx.loop);
    while (fx.comp.f->busy(&fx.comp) && uv_now(&fx.loop) - t0 < 3000) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_false(fx.comp.f->busy(&fx.comp));
    assert_true(uv_now(&fx.loop) - t0 >= 900);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_LOGS], 6);
    assert_int_equal(fx.comp.stats.queue_size, 0);
    fx_teardown(&fx);
}

static void test_connector_shutdown_delivers(void **state)
{
    (void)state;
    fixture_t fx;
    fx_setup(&fx, &vg_anomaly_connector_factory,
             "warmup: 5\nretry_interval: 1h\nlogs: {template_warmup: 0}\n");
    fx.cap.refuse = 1;
    const char *one[] = { "the only message" };
    assert_int_equal(vg_consume(&fx.comp.in, syslog_batch("h", "a", one, 1)), 0);
    assert_int_equal(fx.comp.stats.queue_size, 1);
    fx.comp.f->shutdown(&fx.comp);
    fx.cap.refuse = 0; /* the pipeline recovers during the drain: the event gets through */
    uint64_t t0 = uv_now(&fx.loop);
    while (fx.comp.f->busy(&fx.comp) && uv_now(&fx.loop) - t0 < 3000) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_true(uv_now(&fx.loop) - t0 < 500);
    assert_int_equal(fx.comp.stats.sent[VG_SIG_LOGS], 1);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_LOGS], 0);
    fx_teardown(&fx);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    /* fail every allocation in turn while scoring: errors, never crashes or leaks */
    for (long n = 1; n < 400; n++) {
        conf_t c;
        conf_load(&c, &vg_anomaly_connector_factory, "warmup: 2\nlogs: {template_warmup: 0}\n");
        conn_cfg_head_t *h = c.cfg;
        vg_batch_t *g = gauge_batch("c", "p", "container.cpu.usage", "{cpu}", T0, 1);
        const char *msg[] = { "some message 1" };
        vg_batch_t *l = syslog_batch("h", "a", msg, 1);
        vg_batch_t *t = spans_batch("s", "op", 2, T0, 5, 1);
        vg_anl_t *a = NULL;
        vg_mem_fail_after(n);
        int rc = vg_anl_new(&a, &h->common, &h->events);
        if (rc == 0) {
            for (int i = 0; i < 4; i++) {
                vg_anl_metrics(a, (vg_metrics_req_t *)vg_batch_req(g), g, T0 + i * SEC);
                vg_anl_logs(a, (vg_logs_req_t *)vg_batch_req(l), l->arena, T0 + i * SEC);
                vg_anl_traces(a, (vg_traces_req_t *)vg_batch_req(t), t->arena, T0 + i * SEC);
                vg_anl_tick(a, T0 + (i + 1) * SEC);
            }
            vg_batch_unref(vg_anl_take_events(a));
        } else {
            assert_int_equal(rc, VG_ENOMEM);
        }
        vg_mem_fail_reset();
        vg_anl_free(a);
        vg_batch_unref(g);
        vg_batch_unref(l);
        vg_batch_unref(t);
        conf_free(&c);
    }
}

static void test_alloc_failures_growth(void **state)
{
    (void)state;
    /* tables growing (entry chunks, hash index doubling) with allocations failing */
    enum { N = 200 };
    vg_batch_t *b[N];
    for (int i = 0; i < N; i++) {
        char ctr[16];
        snprintf(ctr, sizeof ctr, "c%03d", i);
        b[i] = gauge_batch(ctr, NULL, "m", "1", T0, 1);
    }
    for (long n = 1; n < 40; n++) {
        conf_t c;
        vg_anl_t *a = scorer(&c, "warmup: 2\nmax_series: 150\n", false);
        vg_mem_fail_after(n);
        for (int i = 0; i < N; i++) vg_anl_metrics(a, (vg_metrics_req_t *)vg_batch_req(b[i]), NULL, T0);
        vg_mem_fail_reset();
        assert_true(vg_anl_series_count(a) <= 150);
        /* after the failures it works again */
        for (int i = 0; i < N; i++) vg_anl_metrics(a, (vg_metrics_req_t *)vg_batch_req(b[i]), NULL, T0 + SEC);
        assert_int_equal(vg_anl_series_count(a), 150);
        vg_anl_free(a);
        conf_free(&c);
    }
    for (int i = 0; i < N; i++) vg_batch_unref(b[i]);
}

static void test_config_errors(void **state)
{
    (void)state;
    const char *bad[] = { "engine: {nope: 1}\n", "engine: {bins: x}\n", "engine: {warmup: 3}\n",
                          "metrics: {min_change: {By: lots}}\n", "threshold: 0.5\nevents: {resolve_threshold: 0.6}\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vg_ydoc_t *doc;
        vg_errs_t errs;
        vg_errs_init(&errs);
        assert_int_equal(vg_ydoc_load_string("t.yaml", bad[i], strlen(bad[i]), &doc, &errs), 0);
        void *cfg = vg_calloc(1, vg_anomaly_connector_factory.config_size);
        int rc = vg_options_parse(vg_anomaly_connector_factory.options, cfg, doc->root, "connectors.anomaly", &errs);
        if (rc == 0) rc = vg_anomaly_connector_factory.validate(cfg, "connectors.anomaly", &errs);
        assert_int_equal(rc, VG_ECONFIG);
        vg_options_free(vg_anomaly_connector_factory.options, cfg);
        vg_free(cfg);
        vg_ydoc_free(doc);
        vg_errs_free(&errs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_counter_rates),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_mask_and_mine),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_incident_hysteresis),
        cmocka_unit_test(test_rate_limits),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_processor_on_loop),
        cmocka_unit_test(test_connector_on_loop),
        cmocka_unit_test(test_connector_drops_when_full),
        cmocka_unit_test(test_connector_shutdown_delivers),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_alloc_failures_growth),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
