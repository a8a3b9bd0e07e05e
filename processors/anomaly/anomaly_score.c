/* The scorer (anomaly_core.h): OTLP in, points into series, scores out,
 * incidents and events for the connector. */
#include "anomaly_int.h"

#include "attrs.h"
#include "error.h"
#include "mem.h"
#include "otlp_build.h"
#include "telemetry.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ID_ATTRS 24     /* identity attributes looked at per resource */
#define IDLE_WINDOWS 300    /* a quiet source gets zero-count points for this many windows */
#define GAP_FACTOR 10.0     /* a counter silent this many typical intervals re-primes */
#define SCOPE_EVENTS "vigil/connector/anomaly"
#define SCOPE_SCORES "vigil/processor/anomaly"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0"
#endif

struct vg_anl {
    const vg_anl_cfg_t *cfg;
    const vg_anl_events_cfg_t *ev; /* NULL: no incidents */
    vg_anom_config_t ecfg;
    anl_table_t series, sources;
    anl_miner_t miner;
    vg_anl_stats_t st;
    size_t open_now;
    double g_tokens;
    int64_t g_ns;
    anl_learn_t learn;
    vg_batch_t *events;
};

int64_t vg_anl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_evict(void *ud, void *entry)
{
    vg_anl_t *a = ud;
    anl_series_t *e = entry; /* a source starts with its series */
    if ((e->flags & ANL_F_OPEN) && a->open_now) a->open_now--;
}

int vg_anl_new(vg_anl_t **out, const vg_anl_cfg_t *cfg, const vg_anl_events_cfg_t *ev)
{
    *out = NULL;
    vg_anl_t *a = vg_calloc(1, sizeof *a);
    if (!a) return VG_ENOMEM;
    a->cfg = cfg;
    a->ev = ev;
    a->learn.warmup = (uint32_t)cfg->warmup;
    a->learn.memory_s = (double)cfg->memory / 1e9;
    vg_anom_config_default(&a->ecfg);
    for (size_t i = 0; i < cfg->engine.n; i++) {
        double v = strtod(cfg->engine.v[i] ? cfg->engine.v[i] : "", NULL);
        if (vg_anom_config_set(&a->ecfg, cfg->engine.k[i], v) != 0) { vg_free(a); return VG_EINVAL; }
    }
    a->ecfg.warmup = a->learn.warmup;
    int rc = anl_table_init(&a->series, sizeof(anl_series_t), (size_t)cfg->max_series, on_evict, a);
    if (!rc) rc = anl_table_init(&a->sources, sizeof(anl_source_t), (size_t)cfg->max_sources, on_evict, a);
    if (!rc) rc = anl_miner_init(&a->miner, (size_t)cfg->max_templates, cfg->logs.template_similarity);
    if (rc) {
        vg_anl_free(a);
        return rc;
    }
    if (ev) a->g_tokens = (double)ev->rate_limit.global_burst;
    *out = a;
    return 0;
}

void vg_anl_free(vg_anl_t *a)
{
    if (!a) return;
    anl_table_free(&a->series);
    anl_table_free(&a->sources);
    anl_miner_free(&a->miner);
    vg_batch_unref(a->events);
    vg_free(a);
}

/* ---- resources: the identifying attributes ---------------------------------------- */

typedef struct {
    const char *key[MAX_ID_ATTRS];
    const vg_anyvalue_t *val[MAX_ID_ATTRS];
    size_t n;
    uint64_t hash;
} res_id_t;

static void res_id(const vg_anl_t *a, const vg_resource_t *r, res_id_t *out)
{
    const vg_strlist_t *l = &a->cfg->identity_attributes;
    out->n = 0;
    out->hash = anl_hash_str(0, "resource");
    for (size_t i = 0; i < l->n && r; i++) {
        const vg_anyvalue_t *v = vg_attr_get(r->attributes, r->n_attributes, l->v[i]);
        if (!v) continue;
        out->hash = anl_mix(out->hash ^ anl_hash_str(0, l->v[i]) ^ anl_hash_value(v, 0));
        if (out->n < MAX_ID_ATTRS) {
            out->key[out->n] = l->v[i];
            out->val[out->n] = v;
            out->n++;
        }
    }
}

/* A scalar attribute value as text (arrays and maps: "[…]"). */
static const char *value_text(const vg_anyvalue_t *v, char *buf, size_t cap)
{
    if (!v) return "";
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: return v->string_value ? v->string_value : "";
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE: return v->bool_value ? "true" : "false";
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        snprintf(buf, cap, "%" PRId64, v->int_value);
        return buf;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        snprintf(buf, cap, "%g", v->double_value);
        return buf;
    default: return "[\u2026]";
    }
}

static void ident_resource(anl_ident_t *e, const res_id_t *r)
{
    char buf[64];
    for (size_t i = 0; i < r->n; i++) anl_ident_add(e, r->key[i], value_text(r->val[i], buf, sizeof buf), true);
}

static void ident_attrs(anl_ident_t *e, vg_kv_t *const *kv, size_t n, bool resource)
{
    char buf[64];
    for (size_t i = 0; i < n; i++)
        if (kv[i] && kv[i]->key) anl_ident_add(e, kv[i]->key, value_text(kv[i]->value, buf, sizeof buf), resource);
}

/* ---- significance floors ------------------------------------------------------------ */

static double unit_floor(const vg_anl_cfg_t *cfg, const char *metric, const char *unit)
{
    const vg_strmap_t *m = &cfg->metrics.min_change;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->k[i], metric) == 0) return strtod(m->v[i] ? m->v[i] : "0", NULL);
    for (size_t i = 0; i < m->n; i++)
        if (unit && strcmp(m->k[i], unit) == 0) return strtod(m->v[i] ? m->v[i] : "0", NULL);
    if (!unit) return 0;
    if (strcmp(unit, "By") == 0) return 1048576.0;
    if (strcmp(unit, "{cpu}") == 0 || strcmp(unit, "s") == 0 || strcmp(unit, "1") == 0) return 0.05;
    if (strcmp(unit, "ms") == 0) return 50;
    if (strcmp(unit, "us") == 0) return 5e4;
    if (strcmp(unit, "ns") == 0) return 5e7;
    if (strcmp(unit, "%") == 0) return 5;
    if (strcmp(unit, "{process}") == 0 || strcmp(unit, "{thread}") == 0 || strcmp(unit, "{task}") == 0) return 2;
    if (unit[0] == '{') return 1;
    return 0;
}

/* ---- entries ------------------------------------------------------------------------ */

/* The entry (series or source) with this id, created if new. NULL: no memory. */
static void *entry_get(vg_anl_t *a, anl_table_t *t, uint64_t id, int64_t now, bool *created)
{
    anl_series_t *e = anl_table_find(t, id);
    *created = false;
    if (e) {
        anl_table_touch(t, e);
        return e;
    }
    uint64_t ev0 = t->evictions;
    e = anl_table_insert(t, id);
    if (!e) return NULL;
    if (t->evictions != ev0) {
        if (t == &a->series) a->st.series_evictions++;
        else a->st.source_evictions++;
    }
    vg_anom_series_init(&e->eng, &a->ecfg);
    if (a->ev) {
        e->tokens = (float)a->ev->rate_limit.series_burst;
        e->tok_ns = now;
    }
    *created = true;
    return e;
}

/* ---- events ------------------------------------------------------------------------- */

enum { EV_OPEN, EV_RESOLVED, EV_NOVEL };

/* How an event names its series: a stored identity (sources) or one built
 * from the point at hand (metric and span series). */
typedef void (*ident_fn)(const void *ctx, anl_ident_t *out);
typedef struct {
    const anl_ident_t *id;
    ident_fn fn;
    const void *ctx;
    const char *unit;    /* of the values, for the text */
    int64_t open_points; /* points at or above threshold that open an incident */
} inc_ctx_t;

static bool take_token(vg_anl_t *a, anl_series_t *e, int64_t now)
{
    const vg_anl_ratelimit_cfg_t *rl = &a->ev->rate_limit;
    if (now > a->g_ns) {
        a->g_tokens += (double)(now - a->g_ns) * rl->global_per_minute / 60e9;
        if (a->g_tokens > (double)rl->global_burst) a->g_tokens = (double)rl->global_burst;
    }
    a->g_ns = now;
    if (now > e->tok_ns && rl->series_interval > 0) {
        double t = e->tokens + (double)(now - e->tok_ns) / (double)rl->series_interval;
        e->tokens = (float)(t > (double)rl->series_burst ? (double)rl->series_burst : t);
    } else if (rl->series_interval == 0) {
        e->tokens = (float)rl->series_burst; /* no per-series limit */
    }
    e->tok_ns = now;
    if (e->tokens < 1.0f || a->g_tokens < 1.0) return false;
    e->tokens -= 1.0f;
    a->g_tokens -= 1.0;
    return true;
}

/* Natural units of a point for event attributes and text. */
static double natural(anl_det_t d, double x)
{
    if (d == ANL_DET_DURATION) return expm1(x) / 1e6; /* ln(1+us) -> seconds */
    return x;
}

static bool is_rate(anl_det_t d) { return d == ANL_DET_RATE || d == ANL_DET_HIST_RATE; }

/* "container.cpu.usage{container.id=…,cpu.mode=user}" */
static void series_text(const anl_ident_t *id, anl_det_t det, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%s", anl_ident_name(id)[0] ? anl_ident_name(id) : anl_det_name(det));
    size_t pos = 0;
    const char *k, *v;
    bool first = true;
    while (o + 1 < cap && anl_ident_next(id, &pos, &k, &v, NULL)) {
        o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", first ? "{" : ",", k, v);
        first = false;
    }
    if (!first && o + 1 < cap) snprintf(out + o, cap - o, "}");
}

static void event_body(const vg_anl_t *a, const anl_series_t *e, const anl_ident_t *id, const char *unit,
                       const anl_point_t *p, int kind, int64_t ts, char *out, size_t cap)
{
    char subj[256], val[64], range[96], lbuf[160], win[32];
    anl_det_t det = (anl_det_t)e->det;
    anl_subject(id, subj, sizeof subj);
    const char *name = anl_ident_name(id);
    double v = natural(det, p->value), lo = natural(det, p->lo), hi = natural(det, p->hi);
    double after = (double)(ts - e->opened_ts) / 1e9;
    anl_fmt_value(win, sizeof win, (double)a->cfg->window / 1e9, "s", NULL, false);
    switch (det) {
    case ANL_DET_DURATION:
        anl_fmt_value(val, sizeof val, v, "s", NULL, false);
        anl_fmt_range(range, sizeof range, lo, hi, "s", NULL, false);
        if (kind == EV_OPEN) snprintf(out, cap, "%s: span '%s' took %s, expected %s", subj, name, val, range);
        else
            snprintf(out, cap, "%s: span '%s' durations back to normal after %.0f s (last %s, expected %s)", subj,
                     name, after, val, range);
        return;
    case ANL_DET_ERRORS:
        anl_fmt_num(val, sizeof val, v * 100);
        snprintf(range, sizeof range, "%.0f\u2013%.0f%%", lo * 100, hi * 100 > 100 ? 100 : hi * 100);
        if (kind == EV_OPEN) snprintf(out, cap, "%s: %s%% of spans failed in %s, expected %s", subj, val, win, range);
        else
            snprintf(out, cap, "%s: span errors back to normal after %.0f s (%s%%, expected %s)", subj, after, val,
                     range);
        return;
    case ANL_DET_LOG_RATE:
        anl_fmt_num(val, sizeof val, v);
        anl_fmt_range(range, sizeof range, lo, hi, "", NULL, false);
        if (kind == EV_OPEN) snprintf(out, cap, "%s: %s log records in %s, expected %s", subj, val, win, range);
        else
            snprintf(out, cap, "%s: log rate back to normal after %.0f s (%s records in %s, expected %s)", subj,
                     after, val, win, range);
        return;
    default: {
        const char *label = anl_metric_label(name, is_rate(det), lbuf, sizeof lbuf);
        if (det == ANL_DET_HIST_MEAN) {
            snprintf(lbuf, sizeof lbuf, "mean %s", name);
            label = lbuf;
        } else if (det == ANL_DET_HIST_RATE) {
            snprintf(lbuf, sizeof lbuf, "rate of %s observations", name);
            label = lbuf;
            unit = "";
        }
        anl_fmt_value(val, sizeof val, v, unit, name, is_rate(det));
        anl_fmt_range(range, sizeof range, lo, hi, unit, name, is_rate(det));
        if (kind == EV_OPEN) snprintf(out, cap, "%s: %s %s, expected %s", subj, label, val, range);
        else
            snprintf(out, cap, "%s: %s back to normal after %.0f s (%s, expected %s)", subj, label, after, val,
                     range);
    }
    }
}

/* A new record in the events batch, in a resource of its own carrying the
 * series' identifying resource attributes. */
static vg_log_record_t *event_record(vg_anl_t *a, const anl_ident_t *id)
{
    if (!a->events && !(a->events = vg_batch_new(VG_SIG_LOGS))) return NULL;
    vg_batch_t *b = a->events;
    vg_resource_logs_t *rl = vg_build_resource_logs(b);
    if (!rl) return NULL;
    size_t pos = 0;
    const char *k, *v;
    bool res;
    while (anl_ident_next(id, &pos, &k, &v, &res))
        if (res && vg_build_attr_str(b->arena, &rl->resource->attributes, &rl->resource->n_attributes, k, v))
            return NULL;
    vg_scope_logs_t *sl = vg_build_scope_logs(b, rl, SCOPE_EVENTS, VIGIL_VERSION);
    return sl ? vg_build_log_record(b, sl) : NULL;
}

#define A(call)                                                                                                   \
    do {                                                                                                          \
        if (call) goto oom;                                                                                       \
    } while (0)

static void build_event(vg_anl_t *a, const anl_series_t *e, const inc_ctx_t *ic, const anl_point_t *p, int kind,
                        int64_t ts, int64_t now, const anl_mined_t *mined, const char *example, size_t example_len)
{
    anl_ident_t tmp;
    const anl_ident_t *id = ic->id;
    if (!id) {
        ic->fn(ic->ctx, &tmp);
        id = &tmp;
    }
    anl_det_t det = kind == EV_NOVEL ? ANL_DET_TEMPLATE : (anl_det_t)e->det;
    vg_log_record_t *lr = event_record(a, id);
    if (!lr) goto oom;
    vg_arena_t *ar = a->events->arena;
    vg_kv_t ***kv = &lr->attributes;
    size_t *n = &lr->n_attributes;
    double score = kind == EV_RESOLVED ? (double)e->peak : kind == EV_NOVEL ? anl_novelty(mined->count_before)
                                                                            : p->score;
    char body[768], sbuf[ANL_IDENT_MAX + 64], idhex[20];
    lr->time_unix_nano = (uint64_t)(ts > 0 ? ts : now);
    lr->observed_time_unix_nano = (uint64_t)now;
    if (kind == EV_RESOLVED) {
        lr->severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
        lr->severity_text = "INFO";
    } else if (kind == EV_OPEN && score >= a->ev->error_threshold) {
        lr->severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR;
        lr->severity_text = "ERROR";
    } else {
        lr->severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
        lr->severity_text = "WARN";
    }
    A(!(lr->event_name = vg_arena_strdup(ar, "vigil.anomaly")));
    if (kind == EV_NOVEL) {
        char subj[256];
        anl_subject(id, subj, sizeof subj);
        snprintf(body, sizeof body, "%s: never-seen log message: %s", subj, mined->t->text);
    } else {
        event_body(a, e, id, ic->unit, p, kind, ts, body, sizeof body);
    }
    A(!(lr->body = vg_build_value_str(ar, body, strlen(body))));
    A(vg_build_attr_str(ar, kv, n, "event.name", "vigil.anomaly"));
    A(vg_build_attr_str(ar, kv, n, "anomaly.state", kind == EV_RESOLVED ? "resolved" : "open"));
    A(vg_build_attr_str(ar, kv, n, "anomaly.detector", anl_det_name(det)));
    A(vg_build_attr_double(ar, kv, n, "anomaly.score", score));
    snprintf(idhex, sizeof idhex, "%016" PRIx64, e->h.key);
    A(vg_build_attr_str(ar, kv, n, "anomaly.series_id", idhex));
    series_text(id, (anl_det_t)e->det, sbuf, sizeof sbuf);
    A(vg_build_attr_str(ar, kv, n, "anomaly.series", sbuf));
    if (anl_ident_name(id)[0]) A(vg_build_attr_str(ar, kv, n, "anomaly.name", anl_ident_name(id)));
    if (kind == EV_NOVEL) {
        char tid[20];
        snprintf(tid, sizeof tid, "%016" PRIx64, mined->t->tid);
        A(vg_build_attr_str(ar, kv, n, "anomaly.template", mined->t->text));
        A(vg_build_attr_str(ar, kv, n, "anomaly.template_id", tid));
        A(vg_build_attr_strn(ar, kv, n, "anomaly.example", example, example_len > 512 ? 512 : example_len));
    } else {
        A(vg_build_attr_double(ar, kv, n, "anomaly.value", natural(det, p->value)));
        A(vg_build_attr_double(ar, kv, n, "anomaly.expected", natural(det, p->expected)));
        A(vg_build_attr_double(ar, kv, n, "anomaly.expected_min", natural(det, p->lo)));
        A(vg_build_attr_double(ar, kv, n, "anomaly.expected_max", natural(det, p->hi)));
        if (ic->unit && *ic->unit) A(vg_build_attr_str(ar, kv, n, "anomaly.unit", ic->unit));
        if (kind == EV_RESOLVED)
            A(vg_build_attr_double(ar, kv, n, "anomaly.duration", (double)(ts - e->opened_ts) / 1e9));
    }
    if (kind == EV_OPEN) a->st.events_open++;
    else if (kind == EV_RESOLVED) a->st.events_resolved++;
    else a->st.events_novel++;
    return;
oom:
    a->st.events_failed++;
}

/* Incident state machine of one series after a scored point. */
static void incident_step(vg_anl_t *a, anl_series_t *e, const anl_point_t *p, int64_t ts, int64_t now,
                          const inc_ctx_t *ic)
{
    if (!a->ev || !p->warm) return;
    const vg_anl_events_cfg_t *ev = a->ev;
    if (!(e->flags & ANL_F_OPEN)) {
        if (p->score >= a->cfg->threshold) {
            if (e->high_run < UINT8_MAX) e->high_run++;
        } else {
            e->high_run = 0;
        }
        if (e->high_run < ic->open_points) return;
        e->flags |= ANL_F_OPEN;
        e->high_run = e->calm_run = 0;
        e->peak = (float)p->score;
        e->opened_ts = ts;
        a->open_now++;
        a->st.incidents_opened++;
        if (take_token(a, e, now)) {
            e->flags |= ANL_F_ANNOUNCED;
            build_event(a, e, ic, p, EV_OPEN, ts, now, NULL, NULL, 0);
        } else {
            a->st.events_suppressed++;
        }
        return;
    }
    if (p->score > e->peak) e->peak = (float)p->score;
    if (p->score < ev->resolve_threshold) {
        if (e->calm_run < UINT8_MAX) e->calm_run++;
    } else {
        e->calm_run = 0;
    }
    if (e->calm_run < ev->resolve_points) return;
    e->flags &= (uint8_t)~ANL_F_OPEN;
    e->calm_run = 0;
    if (a->open_now) a->open_now--;
    a->st.incidents_resolved++;
    /* a resolve is never rate-limited: at most one follows each announced open */
    if (e->flags & ANL_F_ANNOUNCED) build_event(a, e, ic, p, EV_RESOLVED, ts, now, NULL, NULL, 0);
    e->flags &= (uint8_t)~ANL_F_ANNOUNCED;
}

static const char *source_unit(anl_det_t d) { return d == ANL_DET_ERRORS ? "1" : "{record}"; }

/* ---- metrics ------------------------------------------------------------------------ */

typedef struct {
    vg_batch_t *b;        /* score metrics go here (processor option) */
    vg_metric_t *gauge;   /* anomaly.score of the current resource */
    vg_scope_metrics_t *sm;
} score_out_t;

static bool metric_selected(const vg_anl_cfg_t *cfg, const char *name)
{
    if (strcmp(name, "anomaly.score") == 0) return false;
    const vg_strlist_t *inc = &cfg->metrics.include, *exc = &cfg->metrics.exclude;
    bool in = inc->n == 0;
    for (size_t i = 0; i < inc->n && !in; i++) in = fnmatch(inc->v[i], name, 0) == 0;
    for (size_t i = 0; i < exc->n && in; i++) in = fnmatch(exc->v[i], name, 0) != 0;
    return in;
}

typedef struct {
    const res_id_t *res;
    const vg_metric_t *m;
    vg_kv_t *const *attrs;
    size_t nattrs;
    uint64_t ts, start;
    bool cumulative;
} mpoint_t;

static void emit_score(vg_anl_t *a, score_out_t *so, const mpoint_t *mp, anl_det_t det, double score)
{
    if (!so->b) return;
    vg_batch_t *b = so->b;
    vg_arena_t *ar = b->arena;
    if (!so->sm) {
        vg_scope_metrics_t *sm = vg_arena_zalloc(ar, sizeof *sm);
        vg_scope_t *sc = vg_arena_zalloc(ar, sizeof *sc);
        if (!sm || !sc) goto oom;
        opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
        opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
        sc->name = SCOPE_SCORES;
        sc->version = VIGIL_VERSION;
        sm->scope = sc;
        so->gauge = vg_build_metric(b, sm, "anomaly.score", "Anomaly score of the series (0..1), by vigil's anomaly "
                                    "processor.", "1", VG_METRIC_GAUGE, false);
        if (!so->gauge) goto oom;
        so->sm = sm;
    }
    vg_number_point_t *p = vg_build_point_double(b, so->gauge, 0, mp->ts, score);
    if (!p) goto oom;
    for (size_t i = 0; i < mp->nattrs; i++)
        if (vg_build_append(ar, (void ***)&p->attributes, &p->n_attributes, mp->attrs[i])) goto oom;
    if (vg_build_attr_str(ar, &p->attributes, &p->n_attributes, "anomaly.metric", mp->m->name) ||
        vg_build_attr_str(ar, &p->attributes, &p->n_attributes, "anomaly.detector", anl_det_name(det)))
        goto oom;
    return;
oom:
    a->st.events_failed++;
}

static void metric_ident(const void *ctx, anl_ident_t *out)
{
    const mpoint_t *mp = ctx;
    anl_ident_init(out, mp->m->name);
    ident_resource(out, mp->res);
    ident_attrs(out, mp->attrs, mp->nattrs, false);
}

/* Feeds one derived value of a metric point. v2: histogram sum. */
static void metric_feed(vg_anl_t *a, score_out_t *so, const mpoint_t *mp, anl_det_t det, double v, double v2,
                        int64_t now)
{
    uint64_t id = anl_hash_str(0, "metric");
    unsigned char d = (unsigned char)det;
    id = anl_hash_bytes(id, &d, 1);
    id = anl_mix(id ^ mp->res->hash);
    id = anl_mix(anl_hash_str(id, mp->m->name) ^ anl_hash_attrs(mp->attrs, mp->nattrs));
    bool created;
    anl_series_t *e = entry_get(a, &a->series, id, now, &created);
    if (!e) {
        a->st.skipped++;
        return;
    }
    const char *unit = mp->m->unit ? mp->m->unit : "";
    if (created) {
        e->det = (uint8_t)det;
        e->floor_abs = det == ANL_DET_HIST_RATE ? 1.0f : (float)unit_floor(a->cfg, mp->m->name, unit);
        e->floor_rel = (float)a->cfg->metrics.relative_change;
    }
    int64_t ts = mp->ts ? (int64_t)mp->ts : now, start = (int64_t)mp->start;
    double x = v;
    bool feed = true;
    if (det != ANL_DET_VALUE) {
        bool primed = e->flags & ANL_F_PRIMED;
        int64_t dt = primed ? ts - e->prev_ts : 0;
        if (mp->cumulative) {
            if (!primed) feed = false;
            else if (dt <= 0) return; /* a repeat: keep the previous point */
            else if (v < e->prev_v || (start > 0 && e->prev_start > 0 && start != e->prev_start)) {
                a->st.resets++;
                feed = false;
            } else if (e->eng.dt_typ > 0 && (double)dt > GAP_FACTOR * e->eng.dt_typ) {
                a->st.gaps++;
                feed = false;
            } else if (det == ANL_DET_HIST_MEAN) {
                double dc = v - e->prev_v;
                if (dc <= 0) { /* no new observations: no mean; keep the older point */
                    e->prev_ts = ts;
                    return;
                }
                x = (v2 - e->prev_v2) / dc;
            } else {
                x = (v - e->prev_v) / ((double)dt / 1e9);
            }
        } else { /* delta */
            int64_t interval = start > 0 && ts > start ? ts - start : dt;
            if (det == ANL_DET_HIST_MEAN) {
                if (v <= 0) feed = false;
                else x = v2 / v;
            } else if (interval <= 0) {
                feed = false;
            } else {
                x = v / ((double)interval / 1e9);
            }
        }
        e->prev_v = v;
        e->prev_v2 = v2;
        e->prev_ts = ts;
        e->prev_start = start;
        e->flags |= ANL_F_PRIMED;
    }
    if (!feed) return;
    if (!isfinite(x)) {
        a->st.skipped++;
        return;
    }
    anl_point_t p;
    anl_series_score(e, &a->learn, ts, x, &p);
    a->st.points++;
    inc_ctx_t ic = { .fn = metric_ident, .ctx = mp, .unit = unit, .open_points = a->ev ? a->ev->open_points : 1 };
    incident_step(a, e, &p, ts, now, &ic);
    emit_score(a, so, mp, det, p.score);
}

static double number_value(const vg_number_point_t *p, bool *ok)
{
    *ok = true;
    if (p->flags & OPENTELEMETRY__PROTO__METRICS__V1__DATA_POINT_FLAGS__DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)
        *ok = false;
    if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE) return p->as_double;
    if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT) return (double)p->as_int;
    *ok = false;
    return 0;
}

#define CUMULATIVE OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define NO_VALUE OPENTELEMETRY__PROTO__METRICS__V1__DATA_POINT_FLAGS__DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK

static void metric_points(vg_anl_t *a, score_out_t *so, const res_id_t *res, const vg_metric_t *m, int64_t now)
{
    mpoint_t mp = { .res = res, .m = m };
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: {
        bool gauge = m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        if ((gauge && !m->gauge) || (!gauge && !m->sum)) return;
        size_t np = gauge ? m->gauge->n_data_points : m->sum->n_data_points;
        vg_number_point_t **pts = gauge ? m->gauge->data_points : m->sum->data_points;
        anl_det_t det = !gauge && m->sum->is_monotonic ? ANL_DET_RATE : ANL_DET_VALUE;
        mp.cumulative = !gauge && m->sum->aggregation_temporality == CUMULATIVE;
        for (size_t i = 0; i < np; i++) {
            bool ok;
            double v = number_value(pts[i], &ok);
            if (!ok) { a->st.skipped++; continue; }
            mp.attrs = pts[i]->attributes;
            mp.nattrs = pts[i]->n_attributes;
            mp.ts = pts[i]->time_unix_nano;
            mp.start = pts[i]->start_time_unix_nano;
            metric_feed(a, so, &mp, det, v, 0, now);
        }
        return;
    }
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        if (!m->histogram) return;
        mp.cumulative = m->histogram->aggregation_temporality == CUMULATIVE;
        for (size_t i = 0; i < m->histogram->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p = m->histogram->data_points[i];
            if (p->flags & NO_VALUE) { a->st.skipped++; continue; }
            mp.attrs = p->attributes;
            mp.nattrs = p->n_attributes;
            mp.ts = p->time_unix_nano;
            mp.start = p->start_time_unix_nano;
            metric_feed(a, so, &mp, ANL_DET_HIST_RATE, (double)p->count, 0, now);
            if (p->_sum_case == OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM)
                metric_feed(a, so, &mp, ANL_DET_HIST_MEAN, (double)p->count, p->sum, now);
        }
        return;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        if (!m->exponential_histogram) return;
        mp.cumulative = m->exponential_histogram->aggregation_temporality == CUMULATIVE;
        for (size_t i = 0; i < m->exponential_histogram->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *p =
                m->exponential_histogram->data_points[i];
            if (p->flags & NO_VALUE) { a->st.skipped++; continue; }
            mp.attrs = p->attributes;
            mp.nattrs = p->n_attributes;
            mp.ts = p->time_unix_nano;
            mp.start = p->start_time_unix_nano;
            metric_feed(a, so, &mp, ANL_DET_HIST_RATE, (double)p->count, 0, now);
            if (p->_sum_case == OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT___SUM_SUM)
                metric_feed(a, so, &mp, ANL_DET_HIST_MEAN, (double)p->count, p->sum, now);
        }
        return;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        if (!m->summary) return;
        mp.cumulative = true;
        for (size_t i = 0; i < m->summary->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *p = m->summary->data_points[i];
            if (p->flags & NO_VALUE) { a->st.skipped++; continue; }
            mp.attrs = p->attributes;
            mp.nattrs = p->n_attributes;
            mp.ts = p->time_unix_nano;
            mp.start = p->start_time_unix_nano;
            metric_feed(a, so, &mp, ANL_DET_HIST_RATE, (double)p->count, 0, now);
            metric_feed(a, so, &mp, ANL_DET_HIST_MEAN, (double)p->count, p->sum, now);
        }
        return;
    default:
        return;
    }
}

/* Adds so->sm to rm (the decoded scope array is copied into a longer one). */
static int attach_scores(vg_arena_t *ar, vg_resource_metrics_t *rm, score_out_t *so)
{
    if (!so->sm) return 0;
    vg_scope_metrics_t **arr = vg_arena_alloc(ar, (rm->n_scope_metrics + 1) * sizeof *arr);
    if (!arr) return VG_ENOMEM;
    if (rm->n_scope_metrics) memcpy(arr, rm->scope_metrics, rm->n_scope_metrics * sizeof *arr);
    arr[rm->n_scope_metrics] = so->sm;
    rm->scope_metrics = arr;
    rm->n_scope_metrics++;
    return 0;
}

int vg_anl_metrics(vg_anl_t *a, vg_metrics_req_t *r, vg_batch_t *score_into, int64_t now)
{
    if (!a->cfg->metrics.enabled || !r) return 0;
    int rc = 0;
    for (size_t i = 0; i < r->n_resource_metrics; i++) {
        vg_resource_metrics_t *rm = r->resource_metrics[i];
        if (!rm) continue;
        res_id_t res;
        res_id(a, rm->resource, &res);
        score_out_t so = { .b = score_into };
        size_t nsm = rm->n_scope_metrics; /* not the scope added below */
        for (size_t j = 0; j < nsm; j++) {
            vg_scope_metrics_t *sm = rm->scope_metrics[j];
            for (size_t k = 0; sm && k < sm->n_metrics; k++) {
                const vg_metric_t *m = sm->metrics[k];
                if (m && m->name && metric_selected(a->cfg, m->name)) metric_points(a, &so, &res, m, now);
            }
        }
        if (score_into && attach_scores(score_into->arena, rm, &so)) rc = VG_ENOMEM;
    }
    return rc;
}

/* ---- windows (log rate, span errors) ---------------------------------------------------------- */

static void window_feed(vg_anl_t *a, anl_source_t *src, int64_t end, int64_t now)
{
    anl_series_t *s = &src->s;
    anl_point_t p;
    if (s->det == ANL_DET_LOG_RATE && !a->cfg->logs.rate) return; /* the source exists for its templates */
    if (s->det == ANL_DET_ERRORS) {
        if (src->win_n == 0) return; /* no spans: no ratio */
        anl_series_score(s, &a->learn, end, (double)src->win_err / (double)src->win_n, &p);
        if ((int64_t)src->win_err < a->cfg->traces.min_errors) p.score = 0;
    } else {
        anl_series_score(s, &a->learn, end, (double)src->win_n, &p);
    }
    inc_ctx_t ic = { .id = &src->id, .unit = source_unit((anl_det_t)s->det), .open_points = 1 };
    incident_step(a, s, &p, end, now, &ic);
}

/* Closes every window of src that ended by now. */
static void window_advance(vg_anl_t *a, anl_source_t *src, int64_t now)
{
    int64_t w = a->cfg->window;
    if (src->win_start == 0) {
        src->win_start = now - now % w;
        return;
    }
    while (now >= src->win_start + w) {
        int64_t end = src->win_start + w;
        if (src->win_n > 0 || src->idle_windows < IDLE_WINDOWS) window_feed(a, src, end, now);
        if (src->win_n == 0) {
            if (src->idle_windows < UINT32_MAX) src->idle_windows++;
        } else {
            src->idle_windows = 0;
        }
        src->win_n = src->win_err = 0;
        src->win_start = end;
        if (now - src->win_start > (int64_t)16 * w) { /* long silence: skip ahead, the engine sees a gap */
            int64_t skip = (now - src->win_start) / w;
            src->win_start += skip * w;
            uint64_t idle = (uint64_t)src->idle_windows + (uint64_t)skip;
            src->idle_windows = idle > UINT32_MAX ? UINT32_MAX : (uint32_t)idle;
        }
    }
}

void vg_anl_tick(vg_anl_t *a, int64_t now)
{
    for (size_t i = 0; i < a->sources.count; i++) window_advance(a, anl_table_at(&a->sources, i), now);
}

bool vg_anl_needs_tick(const vg_anl_t *a) { return a->cfg->logs.rate || a->cfg->traces.errors; }

/* ---- traces -------------------------------------------------------------------------------- */

#define SPAN_ERROR OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR

typedef struct {
    const char *svc, *sns, *name;
} span_ctx_t;

static void span_ident(const void *ctx, anl_ident_t *out)
{
    const span_ctx_t *sc = ctx;
    anl_ident_init(out, sc->name);
    if (sc->sns) anl_ident_add(out, "service.namespace", sc->sns, true);
    anl_ident_add(out, "service.name", sc->svc, true);
}

int vg_anl_traces(vg_anl_t *a, vg_traces_req_t *r, vg_arena_t *ar, int64_t now)
{
    const vg_anl_traces_cfg_t *tc = &a->cfg->traces;
    int rc = 0;
    if (!r || (!tc->duration && !tc->errors && !ar)) return 0;
    for (size_t i = 0; i < r->n_resource_spans; i++) {
        vg_resource_spans_t *rs = r->resource_spans[i];
        if (!rs) continue;
        const vg_resource_t *res = rs->resource;
        span_ctx_t sc = { 0 };
        sc.svc = res ? vg_attr_get_str(res->attributes, res->n_attributes, "service.name") : NULL;
        sc.sns = res ? vg_attr_get_str(res->attributes, res->n_attributes, "service.namespace") : NULL;
        if (!sc.svc || !*sc.svc) sc.svc = "unknown_service";
        if (sc.sns && !*sc.sns) sc.sns = NULL;
        uint64_t sid = anl_hash_str(anl_hash_str(0, sc.svc), sc.sns ? sc.sns : "");
        anl_source_t *errs = NULL;
        if (tc->errors) {
            bool created;
            errs = entry_get(a, &a->sources, anl_mix(anl_hash_str(sid, "span.errors")), now, &created);
            if (errs && created) {
                errs->s.det = ANL_DET_ERRORS;
                errs->s.floor_abs = 0.1f;
                sc.name = "";
                span_ident(&sc, &errs->id);
            }
            if (errs) window_advance(a, errs, now);
            else a->st.skipped++;
        }
        inc_ctx_t ic = { .fn = span_ident, .ctx = &sc, .unit = "s", .open_points = a->ev ? a->ev->open_points : 1 };
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            vg_scope_spans_t *ss = rs->scope_spans[j];
            for (size_t k = 0; ss && k < ss->n_spans; k++) {
                vg_span_t *sp = ss->spans[k];
                if (!sp) continue;
                double score = 0;
                bool is_err = sp->status && sp->status->code == SPAN_ERROR;
                if (tc->duration && sp->start_time_unix_nano && sp->end_time_unix_nano >= sp->start_time_unix_nano) {
                    sc.name = sp->name ? sp->name : "";
                    bool created;
                    uint64_t id = anl_mix(anl_hash_str(anl_hash_str(sid, "span.duration"), sc.name));
                    anl_series_t *e = entry_get(a, &a->series, id, now, &created);
                    if (e && created) {
                        e->det = ANL_DET_DURATION;
                        e->floor_abs = (float)log(tc->min_duration_ratio);
                    }
                    if (e) {
                        double us = (double)(sp->end_time_unix_nano - sp->start_time_unix_nano) / 1e3;
                        anl_point_t p;
                        int64_t ts = (int64_t)sp->end_time_unix_nano;
                        anl_series_score(e, &a->learn, ts, log1p(us), &p);
                        incident_step(a, e, &p, ts, now, &ic);
                        score = p.score;
                    } else {
                        a->st.skipped++;
                    }
                }
                if (errs) {
                    errs->win_n++;
                    if (is_err) {
                        errs->win_err++;
                        if ((int64_t)errs->win_err >= tc->min_errors) {
                            anl_point_t p;
                            anl_series_peek(&errs->s, a->learn.warmup, (double)errs->win_err / (double)errs->win_n, &p);
                            if (p.value > p.expected && p.score > score) score = p.score;
                        }
                    }
                }
                a->st.points++;
                if (ar && vg_attr_set_double(ar, &sp->attributes, &sp->n_attributes, "anomaly.score", score))
                    rc = VG_ENOMEM;
            }
        }
    }
    return rc;
}

/* ---- logs ------------------------------------------------------------------------------------- */

static const char *record_text(const vg_log_record_t *lr, size_t *len)
{
    const char *s = vg_attr_get_str(lr->attributes, lr->n_attributes, "message");
    if (!s && lr->body && lr->body->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
        s = lr->body->string_value;
    *len = s ? strlen(s) : 0;
    return s;
}

/* The source of a record: identifying resource attributes + source attributes. */
static anl_source_t *log_source(vg_anl_t *a, const res_id_t *res, const vg_log_record_t *lr, int64_t now)
{
    const vg_anl_logs_cfg_t *lc = &a->cfg->logs;
    const vg_strlist_t *sa = &lc->source_attributes;
    uint64_t id = anl_mix(res->hash ^ anl_hash_str(0, "log.source"));
    for (size_t q = 0; q < sa->n; q++) {
        const vg_anyvalue_t *v = vg_attr_get(lr->attributes, lr->n_attributes, sa->v[q]);
        if (v) id = anl_mix(id ^ anl_hash_str(0, sa->v[q]) ^ anl_hash_value(v, 0));
    }
    bool created;
    anl_source_t *src = entry_get(a, &a->sources, id, now, &created);
    if (src && created) {
        src->s.det = ANL_DET_LOG_RATE;
        src->s.floor_abs = (float)lc->min_rate_change;
        src->s.floor_rel = (float)lc->relative_change;
        anl_ident_init(&src->id, "");
        ident_resource(&src->id, res);
        char buf[64];
        for (size_t q = 0; q < sa->n; q++) {
            const vg_anyvalue_t *v = vg_attr_get(lr->attributes, lr->n_attributes, sa->v[q]);
            if (v) anl_ident_add(&src->id, sa->v[q], value_text(v, buf, sizeof buf), true);
        }
    }
    return src;
}

int vg_anl_logs(vg_anl_t *a, vg_logs_req_t *r, vg_arena_t *ar, int64_t now)
{
    const vg_anl_logs_cfg_t *lc = &a->cfg->logs;
    int rc = 0;
    if (!r || (!lc->rate && !lc->templates && !ar)) return 0;
    for (size_t i = 0; i < r->n_resource_logs; i++) {
        vg_resource_logs_t *rl = r->resource_logs[i];
        if (!rl) continue;
        res_id_t res;
        res_id(a, rl->resource, &res);
        for (size_t j = 0; j < rl->n_scope_logs; j++) {
            vg_scope_logs_t *sl = rl->scope_logs[j];
            for (size_t k = 0; sl && k < sl->n_log_records; k++) {
                vg_log_record_t *lr = sl->log_records[k];
                if (!lr) continue;
                double score = 0;
                anl_source_t *src = log_source(a, &res, lr, now);
                if (src) {
                    window_advance(a, src, now);
                    src->win_n++;
                    if (lc->rate) {
                        anl_point_t p;
                        anl_series_peek(&src->s, a->learn.warmup, (double)src->win_n, &p);
                        if (p.value > p.expected) score = p.score;
                    }
                } else {
                    a->st.skipped++;
                }
                size_t len;
                const char *text = lc->templates ? record_text(lr, &len) : NULL;
                if (text) {
                    anl_mined_t mined;
                    bool warm = a->miner.seen >= (uint64_t)lc->template_warmup;
                    if (anl_miner_add(&a->miner, text, len, &mined) == 0 && mined.t) {
                        if (mined.created) a->st.templates_created++;
                        double nov = warm ? anl_novelty(mined.count_before) : 0;
                        if (nov > score) score = nov;
                        if (a->ev && src && warm && mined.created && nov >= a->cfg->threshold) {
                            inc_ctx_t ic = { .id = &src->id, .unit = "" };
                            int64_t ts = lr->time_unix_nano ? (int64_t)lr->time_unix_nano : now;
                            if (take_token(a, &src->s, now))
                                build_event(a, &src->s, &ic, NULL, EV_NOVEL, ts, now, &mined, text, len);
                            else
                                a->st.events_suppressed++;
                        }
                    } else if (!mined.t && len) {
                        a->st.skipped++;
                    }
                    a->st.template_evictions = a->miner.tab.evictions;
                }
                a->st.points++;
                if (ar && vg_attr_set_double(ar, &lr->attributes, &lr->n_attributes, "anomaly.score", score))
                    rc = VG_ENOMEM;
            }
        }
    }
    return rc;
}

/* ---- results and accounting ------------------------------------------------------------------ */

vg_batch_t *vg_anl_take_events(vg_anl_t *a)
{
    vg_batch_t *b = a->events;
    a->events = NULL;
    if (b) vg_batch_recount(b);
    if (b && b->items == 0) {
        vg_batch_unref(b);
        return NULL;
    }
    return b;
}

const vg_anl_stats_t *vg_anl_stats(const vg_anl_t *a) { return &a->st; }
size_t vg_anl_series_count(const vg_anl_t *a) { return a->series.count; }
size_t vg_anl_sources_count(const vg_anl_t *a) { return a->sources.count; }
size_t vg_anl_templates_count(const vg_anl_t *a) { return a->miner.tab.count; }
size_t vg_anl_open_incidents(const vg_anl_t *a) { return a->open_now; }
size_t vg_anl_bytes(const vg_anl_t *a)
{
    return sizeof *a + anl_table_bytes(&a->series) + anl_table_bytes(&a->sources) + anl_table_bytes(&a->miner.tab);
}
/* An entry and its share of the bucket array (one bucket per slot at most). */
size_t vg_anl_series_entry_bytes(void) { return sizeof(anl_series_t) + sizeof(uint32_t); }
size_t vg_anl_source_entry_bytes(void) { return sizeof(anl_source_t) + sizeof(uint32_t); }
size_t vg_anl_template_entry_bytes(void) { return sizeof(anl_tmpl_t) + sizeof(uint32_t); }

void vg_anl_telemetry(const vg_anl_t *a, vg_telemetry_t *t, const char *labels)
{
    const vg_anl_stats_t *s = &a->st;
    char l[700];
#define G(name, help, v) vg_tm_add(t, "vigil_anomaly_" name, "gauge", help, labels, (double)(v))
#define C(name, help, v) vg_tm_add(t, "vigil_anomaly_" name, "counter", help, labels, (double)(v))
    G("series", "Metric and span-duration series tracked.", a->series.count);
    G("sources", "Windowed series (log sources, span error ratios) tracked.", a->sources.count);
    G("templates", "Log message templates remembered.", a->miner.tab.count);
    G("memory_bytes", "Heap bytes held by the anomaly state (engine state included).", vg_anl_bytes(a));
    G("incidents_open", "Incidents open now.", a->open_now);
    C("points_total", "Metric points, spans and log records scored.", s->points);
    C("skipped_total", "Points not scored (no value, NaN, no memory).", s->skipped);
    C("counter_resets_total", "Cumulative counters that restarted (re-primed, not scored).", s->resets);
    C("gaps_total", "Counters silent for over 10 typical intervals (re-primed, not scored).", s->gaps);
    C("templates_created_total", "New log message templates.", s->templates_created);
    C("incidents_opened_total", "Incidents opened.", s->incidents_opened);
    C("incidents_resolved_total", "Incidents resolved.", s->incidents_resolved);
    C("events_suppressed_total", "Events not sent because of the rate limits.", s->events_suppressed);
    C("events_failed_total", "Events or score points that could not be built (out of memory).", s->events_failed);
    snprintf(l, sizeof l, "%s%skind=\"series\"", labels ? labels : "", labels && *labels ? "," : "");
    vg_tm_add(t, "vigil_anomaly_evictions_total", "counter", "Least recently seen entries evicted at a cap.", l,
              (double)s->series_evictions);
    snprintf(l, sizeof l, "%s%skind=\"sources\"", labels ? labels : "", labels && *labels ? "," : "");
    vg_tm_add(t, "vigil_anomaly_evictions_total", "counter", "Least recently seen entries evicted at a cap.", l,
              (double)s->source_evictions);
    snprintf(l, sizeof l, "%s%skind=\"templates\"", labels ? labels : "", labels && *labels ? "," : "");
    vg_tm_add(t, "vigil_anomaly_evictions_total", "counter", "Least recently seen entries evicted at a cap.", l,
              (double)a->miner.tab.evictions);
    static const char *const states[] = { "open", "resolved", "novel" };
    const uint64_t counts[] = { s->events_open, s->events_resolved, s->events_novel };
    for (int i = 0; i < 3; i++) {
        snprintf(l, sizeof l, "%s%sstate=\"%s\"", labels ? labels : "", labels && *labels ? "," : "", states[i]);
        vg_tm_add(t, "vigil_anomaly_events_total", "counter", "Anomaly events built, by state.", l,
                  (double)counts[i]);
    }
#undef G
#undef C
}
