/* One series: the engine, a robust baseline beside it, the readable identity,
 * and the words and numbers events are written with.
 *
 * Score of a point (anomaly_int.h): the engine (collector/anomaly/engine.h)
 * finds changes in a series' pattern, tuned on NAB, but it does not know how
 * big a change matters: a CPU series moving from 0.50 to 0.52 cores is as
 * "novel" to it as 0.5 to 3.9. So beside it each series keeps a baseline (an
 * exponentially weighted mean and mean absolute deviation, their updates
 * clipped at 3 sigma so an incident is absorbed over ~20 points instead of
 * at once) and a significance floor (metric unit or option; a fraction of the
 * expected value). The point's score is
 *
 *   max(engine score * min(1, |v - mean| / floor),  clamp((z - 3) / 3, 0, 1))
 *
 * with z = |v - mean| / sigma and sigma = max(1.2533 * MAD, floor / 3): an
 * engine alarm on an insignificant change is scaled down, and a change of
 * 6 sigma (and at least twice the floor) scores 1 even while the engine is
 * suppressing after its first alarm.
 *
 * The baseline remembers at least 20 points and at least `memory` seconds
 * (a time-decayed point count): a span series at 100 spans/s must not take a
 * tenfold latency for normal within a second, a metric scraped every 10 s
 * must not wait 10 minutes. */
#include "anomaly_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BASE_ALPHA 0.05 /* baseline memory: at least ~20 points */
#define CLIP_SIGMAS 3.0

static inline double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static double floor_of(const anl_series_t *e)
{
    double f = e->floor_rel * fabs(e->b_mean);
    return f > e->floor_abs ? f : e->floor_abs;
}

static double sigma_of(const anl_series_t *e, double floor)
{
    double s = 1.2533 * e->b_mad;
    if (s < floor / 3.0) s = floor / 3.0;
    double eps = 1e-12 * (fabs(e->b_mean) + 1.0);
    return s < eps ? eps : s;
}

void anl_series_peek(const anl_series_t *e, uint32_t warmup, double v, anl_point_t *o)
{
    double floor = floor_of(e), sig = sigma_of(e, floor);
    double dev = fabs(v - e->b_mean);
    memset(o, 0, sizeof *o);
    o->value = v;
    o->expected = e->b_mean;
    o->lo = e->b_mean - 3.0 * sig;
    o->hi = e->b_mean + 3.0 * sig;
    if (!(e->flags & ANL_F_NEG) && o->lo < 0) o->lo = 0;
    o->warm = e->b_n >= warmup && e->b_n > 0;
    if (o->warm) o->score = clampd((dev / sig - 3.0) / 3.0, 0.0, 1.0);
}

void anl_series_score(anl_series_t *e, const anl_learn_t *l, int64_t ts, double v, anl_point_t *o)
{
    if (!isfinite(v)) {
        memset(o, 0, sizeof *o);
        o->value = v;
        return;
    }
    double floor = floor_of(e), sig = sigma_of(e, floor);
    double dev = fabs(v - e->b_mean);
    double dt = e->b_n > 0 && ts > e->eng.last_ts ? (double)(ts - e->eng.last_ts) / 1e9 : 0;
    anl_series_peek(e, l->warmup, v, o);
    vg_anom_result_t r;
    double se = vg_anom_update(&e->eng, ts, v, &r);
    if (o->warm) {
        double weight = floor > 0 ? clampd(dev / floor, 0.0, 1.0) : 1.0;
        o->engine = se;
        if (se * weight > o->score) o->score = se * weight;
    }
    /* learn */
    if (e->b_n == 0) {
        e->b_mean = v;
        e->b_mad = 0;
        e->b_w = 1;
    } else {
        e->b_w = (float)((double)e->b_w * (l->memory_s > 0 ? exp(-dt / l->memory_s) : 0.0) + 1.0);
        double al = 1.0 / (double)e->b_w;
        if (al > BASE_ALPHA) al = BASE_ALPHA;
        if (al < 1.0 / (double)(e->b_n + 1)) al = 1.0 / (double)(e->b_n + 1);
        double res = v - e->b_mean;
        if (o->warm) res = clampd(res, -CLIP_SIGMAS * sig, CLIP_SIGMAS * sig);
        e->b_mean += al * res;
        e->b_mad += al * (fabs(res) - e->b_mad);
    }
    if (e->b_n < UINT32_MAX) e->b_n++;
    if (v < 0) e->flags |= ANL_F_NEG;
}

/* ---- readable identity --------------------------------------------------------- */

static void ident_put(anl_ident_t *id, const char *s, size_t n)
{
    memcpy(id->buf + id->len, s, n);
    id->len = (uint16_t)(id->len + n);
    id->buf[id->len++] = '\0';
}

void anl_ident_init(anl_ident_t *id, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    id->len = 0;
    id->n_pairs = id->n_res = 0;
    id->trunc = false;
    if (n > 96) {
        n = 96;
        id->trunc = true;
    }
    ident_put(id, name ? name : "", n);
}

#define VAL_MAX 96

void anl_ident_add(anl_ident_t *id, const char *key, const char *val, bool resource)
{
    size_t kl = strlen(key), vl = strlen(val);
    if (vl > VAL_MAX) vl = VAL_MAX;
    if (kl > 64 || id->len + kl + vl + 2 > ANL_IDENT_MAX || id->n_pairs == UINT8_MAX ||
        (resource && id->n_res != id->n_pairs)) {
        id->trunc = true;
        return;
    }
    ident_put(id, key, kl);
    ident_put(id, val, vl);
    id->n_pairs++;
    if (resource) id->n_res++;
}

const char *anl_ident_name(const anl_ident_t *id) { return id->len ? id->buf : ""; }

bool anl_ident_next(const anl_ident_t *id, size_t *pos, const char **key, const char **val, bool *resource)
{
    /* *pos: 0 = before the first pair, else (pair index + 1) */
    if (!id->len || *pos >= id->n_pairs) return false;
    size_t off = strlen(id->buf) + 1;
    for (size_t i = 0; i < *pos; i++) {
        off += strlen(id->buf + off) + 1;
        off += strlen(id->buf + off) + 1;
    }
    *key = id->buf + off;
    off += strlen(*key) + 1;
    *val = id->buf + off;
    if (resource) *resource = *pos < id->n_res;
    (*pos)++;
    return true;
}

const char *anl_ident_get(const anl_ident_t *id, const char *key)
{
    size_t pos = 0;
    const char *k, *v;
    while (anl_ident_next(id, &pos, &k, &v, NULL))
        if (strcmp(k, key) == 0) return v;
    return NULL;
}

const char *anl_det_name(anl_det_t d)
{
    static const char *const n[ANL_DET_COUNT] = { "value", "rate", "histogram.count_rate", "histogram.mean",
                                                  "span.duration", "span.errors", "log.rate", "log.template" };
    return (unsigned)d < ANL_DET_COUNT ? n[d] : "?";
}

/* ---- text ----------------------------------------------------------------------- */

void anl_fmt_num(char *out, size_t cap, double v)
{
    double a = fabs(v);
    if (a == 0) snprintf(out, cap, "0");
    else if (a >= 1e6 || a < 1e-3) snprintf(out, cap, "%.3g", v);
    else if (a >= 100) snprintf(out, cap, "%.0f", v);
    else if (a >= 10) {
        snprintf(out, cap, "%.1f", v);
        size_t n = strlen(out);
        if (n > 2 && strcmp(out + n - 2, ".0") == 0) out[n - 2] = '\0';
    } else {
        snprintf(out, cap, "%.3g", v);
    }
}

/* A number and the unit words for it; `ref` picks the scale (bytes, time) so
 * that a range is written in one unit. */
static void value_parts(double v, double ref, const char *unit, const char *metric, bool rate, char *num,
                        size_t ncap, char *uw, size_t ucap)
{
    const char *u = unit ? unit : "";
    const char *per = rate ? "/s" : "";
    double a = fabs(ref);
    if (strcmp(u, "By") == 0) {
        static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        int k = 0;
        while (k < 5 && a >= 1024.0) { a /= 1024.0; v /= 1024.0; k++; }
        anl_fmt_num(num, ncap, v);
        snprintf(uw, ucap, " %s%s", names[k], per);
        return;
    }
    bool cpu_time = strcmp(u, "s") == 0 && rate && metric && strstr(metric, "cpu");
    if (strcmp(u, "{cpu}") == 0 || cpu_time) {
        anl_fmt_num(num, ncap, v);
        snprintf(uw, ucap, " cores%s", cpu_time ? "" : per);
        return;
    }
    double to_s = strcmp(u, "s") == 0 ? 1 : strcmp(u, "ms") == 0 ? 1e-3 : strcmp(u, "us") == 0 ? 1e-6
                : strcmp(u, "ns") == 0 ? 1e-9 : 0;
    if (to_s > 0) {
        double s = v * to_s, as = a * to_s;
        const char *w = " s";
        if (as < 1e-3) { s *= 1e6; w = " µs"; }
        else if (as < 1) { s *= 1e3; w = " ms"; }
        anl_fmt_num(num, ncap, s);
        snprintf(uw, ucap, "%s%s", w, per);
        return;
    }
    anl_fmt_num(num, ncap, v);
    if (strcmp(u, "%") == 0) snprintf(uw, ucap, "%%%s", per);
    else if (u[0] == '{') { /* "{process}": 1 process, 64 processes, 3 process/s */
        size_t n = strlen(u);
        int wl = (int)(n > 2 && u[n - 1] == '}' ? n - 2 : n - 1);
        const char *w = u + 1, *pl = "";
        if (!rate && v != 1 && wl > 0) {
            char last = w[wl - 1];
            pl = last == 's' || last == 'x' || (wl > 1 && w[wl - 1] == 'h' && (w[wl - 2] == 's' || w[wl - 2] == 'c'))
                     ? "es"
                     : "s";
        }
        snprintf(uw, ucap, " %.*s%s%s", wl, w, pl, per);
    } else if (!u[0] || strcmp(u, "1") == 0) snprintf(uw, ucap, "%s", rate ? " /s" : "");
    else snprintf(uw, ucap, " %s%s", u, per);
}

void anl_fmt_value(char *out, size_t cap, double v, const char *unit, const char *metric, bool rate)
{
    char num[48], uw[48];
    value_parts(v, v, unit, metric, rate, num, sizeof num, uw, sizeof uw);
    snprintf(out, cap, "%s%s", num, uw);
}

void anl_fmt_range(char *out, size_t cap, double lo, double hi, const char *unit, const char *metric, bool rate)
{
    char a[48], b[48], uw[48], uw2[48];
    double ref = fabs(hi) > fabs(lo) ? hi : lo;
    value_parts(lo, ref, unit, metric, rate, a, sizeof a, uw, sizeof uw);
    value_parts(hi, ref, unit, metric, rate, b, sizeof b, uw2, sizeof uw2);
    snprintf(out, cap, "%s\u2013%s%s", a, b, uw2);
}

static const struct {
    const char *name, *label, *rate_label;
} labels[] = {
    { "container.cpu.usage", "CPU usage", NULL },
    { "container.cpu.time", "CPU time", "CPU usage" },
    { "container.cpu.throttling_data.throttled_periods", "throttled periods", "CPU throttling" },
    { "container.cpu.throttling_data.throttled_time", "throttled time", "CPU throttled time" },
    { "container.cpu.throttling_data.periods", "CPU periods", "CPU periods" },
    { "container.memory.usage", "memory usage", NULL },
    { "container.memory.working_set", "memory working set", NULL },
    { "container.memory.rss", "memory RSS", NULL },
    { "container.memory.cache", "page cache", NULL },
    { "container.memory.swap", "swap usage", NULL },
    { "container.memory.available", "memory available", NULL },
    { "container.memory.oom.events", "OOM events", "OOM events" },
    { "container.memory.oom.kills", "OOM kills", "OOM kills" },
    { "container.memory.limit_hits", "memory limit hits", "memory limit hits" },
    { "container.pids.count", "task count", NULL },
    { "container.disk.io", "disk I/O", "disk I/O" },
    { "container.disk.operations", "disk operations", "disk operations" },
    { "container.cpu.pressure.stall_ratio", "CPU pressure", NULL },
    { "container.memory.pressure.stall_ratio", "memory pressure", NULL },
    { "container.io.pressure.stall_ratio", "IO pressure", NULL },
    { "container.cpu.pressure.stall_time", "CPU stall time", "CPU stall" },
    { "container.memory.pressure.stall_time", "memory stall time", "memory stall" },
    { "container.io.pressure.stall_time", "IO stall time", "IO stall" },
};

const char *anl_metric_label(const char *metric, bool rate, char *buf, size_t cap)
{
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        if (strcmp(labels[i].name, metric) == 0) {
            if (!rate) return labels[i].label;
            if (labels[i].rate_label) return labels[i].rate_label;
            break;
        }
    if (rate) {
        snprintf(buf, cap, "rate of %s", metric);
        return buf;
    }
    return metric;
}

static const char *first_of(const anl_ident_t *e, const char *a, const char *b)
{
    const char *v = anl_ident_get(e, a);
    if ((!v || !*v) && b) v = anl_ident_get(e, b);
    return v && *v ? v : NULL;
}

void anl_subject(const anl_ident_t *e, char *out, size_t cap)
{
    const char *ctr = first_of(e, "k8s.container.name", "container.name");
    char idbuf[16];
    if (!ctr && (ctr = first_of(e, "container.id", NULL))) {
        snprintf(idbuf, sizeof idbuf, "%.12s", ctr);
        ctr = idbuf;
    }
    const char *pod = first_of(e, "k8s.pod.name", "k8s.pod.uid");
    const char *ns = first_of(e, "k8s.namespace.name", NULL);
    const char *svc = first_of(e, "service.name", NULL);
    const char *unit = first_of(e, "systemd.unit.name", NULL);
    const char *host = first_of(e, "host.name", "hostname");
    const char *app = first_of(e, "appname", NULL);
    char podtxt[200] = "";
    if (pod) snprintf(podtxt, sizeof podtxt, "%s%s%s", ns ? ns : "", ns ? "/" : "", pod);
    if (ctr && pod) snprintf(out, cap, "container %s in pod %s", ctr, podtxt);
    else if (ctr) snprintf(out, cap, "container %s%s%s", ctr, host ? " on host " : "", host ? host : "");
    else if (pod) snprintf(out, cap, "pod %s", podtxt);
    else if (svc) snprintf(out, cap, "service %s%s%s", svc, host ? " on host " : "", host ? host : "");
    else if (unit) snprintf(out, cap, "%s%s%s", unit, host ? " on host " : "", host ? host : "");
    else if (host) snprintf(out, cap, "host %s%s%s%s", host, app ? " (" : "", app ? app : "", app ? ")" : "");
    else if (app) snprintf(out, cap, "app %s", app);
    else {
        size_t pos = 0;
        const char *k, *v;
        bool res;
        if (anl_ident_next(e, &pos, &k, &v, &res) && res) snprintf(out, cap, "source %s=%s", k, v);
        else snprintf(out, cap, "an unnamed source");
    }
}
