/* Anomaly engine on synthetic series (steps, spikes, drifts, noise, gaps,
 * irregular intervals, constant series, NaN/Inf), the engine's LRU cap and
 * eviction count, and the anomaly-score CLI (bad header, bad number, round
 * trip, folders). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/anomaly/engine.h"
#include "collector/anomaly/nab_cli.h"
#include "collector/error.h"
#include "collector/mem.h"

#define MIN5 (300LL * 1000000000LL) /* 5 minutes in ns */
#define T0 (1396310400LL * 1000000000LL)

/* deterministic N(0,1) noise: xorshift + Box-Muller */
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

static vg_anom_config_t cfg_default(void)
{
    vg_anom_config_t c;
    vg_anom_config_default(&c);
    return c;
}

static void test_state_size(void **st)
{
    (void)st;
    assert_int_equal(vg_anom_series_bytes(), sizeof(vg_anom_series_t));
    assert_true(sizeof(vg_anom_series_t) < 2048); /* the stated bound */
}

static void test_config_set(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    assert_int_equal(vg_anom_config_set(&c, "bins", 24), 0);
    assert_int_equal(c.bins, 24);
    assert_int_equal(vg_anom_config_set(&c, "nope", 1), VG_ENOTFOUND);
    assert_int_equal(vg_anom_config_set(&c, "short_window", 0), VG_EINVAL);
    assert_int_equal(vg_anom_config_set(&c, "short_window", VG_ANOM_RING + 1), VG_EINVAL);
    assert_int_equal(vg_anom_config_set(&c, "level_alpha", NAN), VG_EINVAL);
    assert_int_equal(vg_anom_config_set(&c, "level_alpha", -1), VG_EINVAL);
}

/* Pure Gaussian noise: after the warm-up, the only scores above 0.9 are new
 * extremes (the out-of-range rule: a record beyond 2 % of the range seen),
 * which noise produces a few times in 18000 points; scores above 0.5 stay
 * under 0.1 % of the points. */
static void test_noise_quiet(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    for (uint64_t seed = 1; seed <= 5; seed++) {
        rng_t r = {seed * 0x9E3779B97F4A7C15ULL};
        vg_anom_series_t s;
        vg_anom_series_init(&s, &c);
        int hi = 0, mid = 0;
        /* a long learning stretch first, as a collector would have */
        for (int i = 0; i < 20000; i++) {
            vg_anom_result_t res;
            double sc = vg_anom_update(&s, T0 + i * MIN5, 50.0 + 2.0 * gauss(&r), &res);
            assert_true(sc >= 0.0 && sc <= 1.0);
            if (i < 2000) {
                if (i < (int)c.warmup) assert_true(sc == 0.0 && !res.warm);
                continue;
            }
            if (sc >= 0.9) {
                assert_true(res.spatial);
                hi++;
            }
            mid += sc >= 0.5;
        }
        assert_true(hi <= 8);
        assert_true(mid <= 20); /* <= 0.1 % of 18000 points */
    }
}

static void feed_noise(vg_anom_series_t *s, rng_t *r, int from, int to, double mean, double sd)
{
    for (int i = from; i < to; i++) vg_anom_update(s, T0 + i * MIN5, mean + sd * gauss(r), NULL);
}

static void test_spike(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    rng_t r = {42};
    vg_anom_series_t s;
    vg_anom_series_init(&s, &c);
    feed_noise(&s, &r, 0, 3000, 10.0, 1.0);
    vg_anom_result_t res;
    double sc = vg_anom_update(&s, T0 + 3000 * MIN5, 40.0, &res);
    assert_true(sc >= 0.99);
    assert_true(res.spatial && res.warm && res.valid);
    assert_true(res.hi < 40.0 && res.lo < 10.0 && res.hi > 10.0); /* expected range for event text */
    assert_true(fabs(res.expected - 10.0) < 2.0);
    /* the following points are suppressed: one incident, one alarm */
    int after = 0;
    for (int i = 3001; i < 3050; i++) after += vg_anom_update(&s, T0 + i * MIN5, 10.0 + gauss(&r), NULL) >= 0.5;
    assert_int_equal(after, 0);
}

static int first_alarm(vg_anom_series_t *s, rng_t *r, int from, int to, double (*f)(int, rng_t *), double level)
{
    for (int i = from; i < to; i++)
        if (vg_anom_update(s, T0 + i * MIN5, f(i, r), NULL) >= level) return i;
    return -1;
}

static double step_up(int i, rng_t *r) { return (i < 3000 ? 10.0 : 16.0) + gauss(r); }
static double step_down_inside(int i, rng_t *r) { return (i < 3000 ? 10.0 : 8.5) + 0.2 * gauss(r); }
static double drift(int i, rng_t *r) { return 10.0 + (i < 3000 ? 0.0 : 0.01 * (i - 3000)) + gauss(r); }

static void test_steps(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    rng_t r = {7};
    vg_anom_series_t s;
    vg_anom_series_init(&s, &c);
    (void)first_alarm(&s, &r, 0, 3000, step_up, 2.0); /* learn */
    int at = first_alarm(&s, &r, 3000, 3100, step_up, 0.5);
    assert_true(at >= 3000 && at < 3010);

    /* a step to a level inside the old range but never held before: the
     * novelty of the new value sequence catches it */
    rng_t r2 = {8};
    vg_anom_series_init(&s, &c);
    /* the range includes 8.5 thanks to a few early excursions */
    for (int i = 0; i < 3000; i++) {
        double v = step_down_inside(i, &r2);
        if (i % 500 == 250) v = 8.0;
        vg_anom_update(&s, T0 + i * MIN5, v, NULL);
    }
    at = first_alarm(&s, &r2, 3000, 3200, step_down_inside, 0.5);
    assert_true(at >= 3000 && at < 3030);
}

static void test_drift(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    rng_t r = {11};
    vg_anom_series_t s;
    vg_anom_series_init(&s, &c);
    (void)first_alarm(&s, &r, 0, 3000, drift, 2.0); /* learn the flat part */
    int at = first_alarm(&s, &r, 3000, 4500, drift, 0.5);
    assert_true(at >= 3000 && at < 4500); /* +15 sigma over 1500 points */
}

static void test_constant(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    vg_anom_series_t s;
    vg_anom_series_init(&s, &c);
    for (int i = 0; i < 2000; i++) assert_true(vg_anom_update(&s, T0 + i * MIN5, 45.0, NULL) < 0.1);
    vg_anom_result_t res;
    assert_true(vg_anom_update(&s, T0 + 2000 * MIN5, 46.0, &res) >= 0.99);
    assert_true(res.spatial);
}

/* NaN and Inf are ignored: the scores of the finite points are exactly those
 * of the same series without them. */
static void test_nan_inf_ignored(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    vg_anom_series_t a, b;
    vg_anom_series_init(&a, &c);
    vg_anom_series_init(&b, &c);
    rng_t r = {3};
    for (int i = 0; i < 4000; i++) {
        double v = 20.0 + 3.0 * gauss(&r) + (i > 3500 ? 30.0 : 0.0);
        int64_t ts = T0 + i * MIN5;
        if (i % 97 == 0) {
            vg_anom_result_t res;
            double bad = (i % 3 == 0) ? NAN : (i % 3 == 1) ? INFINITY : -INFINITY;
            assert_true(vg_anom_update(&b, ts - 1, bad, &res) == 0.0);
            assert_int_equal(res.valid, 0);
        }
        double sa = vg_anom_update(&a, ts, v, NULL), sb = vg_anom_update(&b, ts, v, NULL);
        assert_true(sa == sb);
        assert_true(isfinite(sb));
    }
    assert_memory_equal(&a, &b, sizeof a);
}

/* Irregular intervals and a long gap: no alarm from the timing itself, and a
 * spike after the gap is still caught. */
static void test_gaps_irregular(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    vg_anom_series_t s;
    vg_anom_series_init(&s, &c);
    rng_t r = {99};
    int64_t ts = T0;
    int alarms = 0;
    for (int i = 0; i < 6000; i++) {
        ts += (int64_t)((0.5 + 2.0 * unif(&r)) * (double)MIN5); /* 0.5x .. 2.5x */
        if (i == 4000) ts += 500 * MIN5;                        /* a gap of ~40 hours */
        if (i == 4500) ts -= 3 * MIN5;                          /* a clock step back */
        double sc = vg_anom_update(&s, ts, 100.0 + 5.0 * gauss(&r), NULL);
        if (i > 2000) alarms += sc >= 0.9;
    }
    assert_int_equal(alarms, 0);
    assert_true(s.dt_typ > 0.5 * (double)MIN5 && s.dt_typ < 3.0 * (double)MIN5);
    ts += 20 * MIN5;
    assert_true(vg_anom_update(&s, ts, 300.0, NULL) >= 0.99);
}

/* A daily pattern (a plateau of 80 from 09:00 to 17:00 UTC, 20 otherwise,
 * noise sd 2, 5-minute points): days that follow the pattern raise no alarm;
 * a day whose plateau is missing (all values inside the range seen, and a
 * value sequence seen every night) is caught by the time-of-day profile
 * early in the missing plateau. With the profile off, it is not. */
static double daily(int i, int missing_day, rng_t *r)
{
    int day = i / 288, slot = i % 288; /* T0 is midnight UTC */
    int plateau = slot >= 108 && slot < 204 && day != missing_day;
    return (plateau ? 80.0 : 20.0) + 2.0 * gauss(r);
}

static int seasonal_run(const vg_anom_config_t *c, int *quiet_alarms)
{
    rng_t r = {77};
    vg_anom_series_t s;
    vg_anom_series_init(&s, c);
    int first = -1;
    *quiet_alarms = 0;
    for (int i = 0; i < 12 * 288; i++) {
        vg_anom_result_t res;
        double sc = vg_anom_update(&s, T0 + i * MIN5, daily(i, 10, &r), &res);
        if (i >= 5 * 288 && i < 10 * 288) *quiet_alarms += sc >= 0.5;
        if (i >= 10 * 288 + 108 && i < 10 * 288 + 204 && sc >= 0.5 && first < 0) first = i - (10 * 288 + 108);
    }
    return first;
}

static void test_seasonal_missing_plateau(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    int quiet;
    int at = seasonal_run(&c, &quiet);
    assert_int_equal(quiet, 0);
    assert_true(at >= 0 && at < 12); /* within an hour of the missing rise */
    c.season_bins = 0;
    assert_int_equal(seasonal_run(&c, &quiet), -1);
    /* the profile is bounded: the per-series state stays under 2 KiB */
    assert_true(sizeof(vg_anom_series_t) < 2048);
}

/* ---- engine with a cap ------------------------------------------------- */

static void test_engine_lru(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    vg_anom_engine_t *e = NULL;
    assert_int_equal(vg_anom_engine_new(&e, &c, 0), VG_EINVAL);
    assert_int_equal(vg_anom_engine_new(&e, &c, 3), 0);
    for (uint64_t id = 1; id <= 3; id++) assert_true(vg_anom_engine_update(e, id, T0, 1.0, NULL) >= 0);
    assert_int_equal(vg_anom_engine_count(e), 3);
    assert_true(vg_anom_engine_update(e, 1, T0 + MIN5, 1.0, NULL) >= 0); /* 1 is now the most recent */
    assert_true(vg_anom_engine_update(e, 4, T0 + MIN5, 1.0, NULL) >= 0); /* evicts 2 */
    assert_int_equal(vg_anom_engine_count(e), 3);
    assert_int_equal(vg_anom_engine_evictions(e), 1);
    assert_null(vg_anom_engine_find(e, 2));
    assert_non_null(vg_anom_engine_find(e, 1));
    assert_non_null(vg_anom_engine_find(e, 3));
    assert_non_null(vg_anom_engine_find(e, 4));
    assert_int_equal(vg_anom_engine_find(e, 1)->n, 2);
    assert_true(vg_anom_engine_update(e, 5, T0, 1.0, NULL) >= 0); /* evicts 3 */
    assert_null(vg_anom_engine_find(e, 3));
    assert_int_equal(vg_anom_engine_evictions(e), 2);
    vg_anom_engine_free(e);

    /* many ids through a cap of 100: the index stays consistent */
    assert_int_equal(vg_anom_engine_new(&e, &c, 100), 0);
    rng_t r = {5};
    uint64_t created = 0;
    for (int i = 0; i < 50000; i++) {
        uint64_t id = (uint64_t)(unif(&r) * 300.0) * 0x100000001ULL;
        if (!vg_anom_engine_find(e, id)) created++;
        assert_true(vg_anom_engine_update(e, id, T0 + i, (double)(i % 7), NULL) >= 0);
        assert_non_null(vg_anom_engine_find(e, id));
        assert_true(vg_anom_engine_count(e) <= 100);
    }
    assert_int_equal(vg_anom_engine_count(e), 100);
    assert_int_equal(vg_anom_engine_evictions(e), created - 100);
    assert_true(vg_anom_engine_bytes(e) >= 100 * sizeof(vg_anom_series_t));
    vg_anom_engine_free(e);
    vg_anom_engine_free(NULL);
}

static void test_engine_nomem(void **st)
{
    (void)st;
    vg_anom_config_t c = cfg_default();
    vg_anom_engine_t *e = NULL;
    vg_mem_fail_after(1);
    assert_int_equal(vg_anom_engine_new(&e, &c, 10), VG_ENOMEM);
    assert_null(e);
    vg_mem_fail_reset();
    for (long k = 1; k <= 6; k++) {
        assert_int_equal(vg_anom_engine_new(&e, &c, 1000), 0);
        vg_mem_fail_after(k);
        int failed = 0;
        for (uint64_t id = 0; id < 40; id++) {
            double rc = vg_anom_engine_update(e, id, T0, 1.0, NULL);
            if (rc < 0) {
                assert_true(rc == VG_ENOMEM);
                failed = 1;
            }
        }
        vg_mem_fail_reset();
        assert_true(failed);
        for (uint64_t id = 0; id < 40; id++) assert_true(vg_anom_engine_update(e, id, T0 + MIN5, 1.0, NULL) >= 0);
        assert_int_equal(vg_anom_engine_count(e), 40);
        vg_anom_engine_free(e);
    }
}

/* ---- CLI --------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int run_file(const char *in, const char *out, char *err, size_t errcap)
{
    vg_anom_config_t c = cfg_default();
    FILE *ef = tmpfile();
    assert_non_null(ef);
    int rc = vg_anomaly_score_file(&c, in, out, ef, NULL);
    rewind(ef);
    size_t n = fread(err, 1, errcap - 1, ef);
    err[n] = 0;
    fclose(ef);
    return rc;
}

static void test_cli_errors(void **st)
{
    (void)st;
    char dir[] = "/tmp/vigil-anom-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[128], out[128], err[1024];
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/out.csv", dir);

    write_file(in, "time,value\n2014-04-01 00:00:00,1\n");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);
    assert_non_null(strstr(err, "in.csv:1: bad header"));

    write_file(in, "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,1.5x\n");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);
    assert_non_null(strstr(err, "in.csv:3: bad number \"1.5x\""));
    assert_null(read_all(out)); /* no half-written results */

    write_file(in, "timestamp,value\n2014-04-01 00:00:00,\n");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);
    assert_non_null(strstr(err, "in.csv:2: bad number"));

    write_file(in, "timestamp,value\n2014-13-01 00:00:00,1\n");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);
    assert_non_null(strstr(err, "in.csv:2: bad timestamp"));

    write_file(in, "timestamp,value\n2014-04-01 00:00:00,1,2\n");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);

    write_file(in, "");
    assert_int_equal(run_file(in, out, err, sizeof err), VG_EPARSE);

    assert_int_equal(run_file("/nonexistent/x.csv", out, err, sizeof err), VG_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.csv: cannot open"));

    /* the subcommand: usage errors and missing files give exit status 1 */
    char *a1[] = {"anomaly-score", "--input", "/nonexistent/x.csv", "--output", out, NULL};
    assert_int_equal(vg_anomaly_score_main(5, a1), 1);
    char *a2[] = {"vigil", "anomaly-score", "--input", in, NULL};
    assert_int_equal(vg_anomaly_score_main(4, a2), 1);
    char *a3[] = {"vigil", "--bogus", NULL};
    assert_int_equal(vg_anomaly_score_main(2, a3), 1);
    char *a4[] = {"vigil", "--input-dir", "/nonexistent", "--output-dir", dir, NULL};
    assert_int_equal(vg_anomaly_score_main(5, a4), 1);
    char *a5[] = {"vigil", "--input", in, "--output", out, "--param", "nope=1", NULL};
    assert_int_equal(vg_anomaly_score_main(7, a5), 1);
    char *a6[] = {"vigil", "--input", in, "--output", out, "--param", "bins", NULL};
    assert_int_equal(vg_anomaly_score_main(7, a6), 1);

    remove(in);
    remove(out);
    rmdir(dir);
}

static void test_cli_roundtrip(void **st)
{
    (void)st;
    char dir[] = "/tmp/vigil-anom-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[128], out[128], sub[128], sub2[128], outdir[128], p[256];
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/out.csv", dir);
    /* a small CSV with a NaN, a repeated timestamp and a CRLF line */
    const char *csv = "timestamp,value\n"
                      "2014-04-01 00:00:00,20.0\n"
                      "2014-04-01 00:05:00,21.5\r\n"
                      "2014-04-01 00:05:00,nan\n"
                      "2014-04-01 00:10:00.500000,1e3\n"
                      "2014-04-01 00:15:00,-3\n";
    write_file(in, csv);
    char *args[] = {"vigil", "anomaly-score", "--input", in, "--output", out, NULL};
    assert_int_equal(vg_anomaly_score_main(6, args), 0);
    char *got = read_all(out);
    assert_non_null(got);
    assert_string_equal(got, "timestamp,value,anomaly_score\n"
                             "2014-04-01 00:00:00,20.0,0.000000000\n"
                             "2014-04-01 00:05:00,21.5,0.000000000\n"
                             "2014-04-01 00:05:00,nan,0.000000000\n"
                             "2014-04-01 00:10:00.500000,1e3,0.000000000\n"
                             "2014-04-01 00:15:00,-3,0.000000000\n");

    /* a tree: relative paths kept, folders created */
    snprintf(sub, sizeof sub, "%s/data", dir);
    snprintf(sub2, sizeof sub2, "%s/data/cat", dir);
    snprintf(outdir, sizeof outdir, "%s/res/deep", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(mkdir(sub2, 0777), 0);
    snprintf(p, sizeof p, "%s/a.csv", sub2);
    write_file(p, csv);
    snprintf(p, sizeof p, "%s/notes.txt", sub);
    write_file(p, "ignored\n");
    char *dargs[] = {"vigil", "--input-dir", sub, "--output-dir", outdir, NULL};
    assert_int_equal(vg_anomaly_score_main(5, dargs), 0);
    snprintf(p, sizeof p, "%s/cat/a.csv", outdir);
    got = read_all(p);
    assert_non_null(got);
    assert_non_null(strstr(got, "timestamp,value,anomaly_score\n2014-04-01 00:00:00,20.0,"));
    remove(p);
    snprintf(p, sizeof p, "%s/cat", outdir);
    rmdir(p);
    rmdir(outdir);
    snprintf(p, sizeof p, "%s/res", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/a.csv", sub2);
    remove(p);
    snprintf(p, sizeof p, "%s/notes.txt", sub);
    remove(p);
    rmdir(sub2);
    rmdir(sub);
    remove(in);
    remove(out);
    rmdir(dir);
}

static void test_parse_ts(void **st)
{
    (void)st;
    int64_t ns;
    assert_int_equal(vg_anomaly_parse_ts("1970-01-01 00:00:00", 19, &ns), 0);
    assert_true(ns == 0);
    assert_int_equal(vg_anomaly_parse_ts("2014-04-01 00:00:00", 19, &ns), 0);
    assert_true(ns == T0);
    assert_int_equal(vg_anomaly_parse_ts("2016-02-29T12:00:01.25", 22, &ns), 0);
    assert_true(ns == (1456747201LL * 1000000000LL + 250000000LL));
    assert_int_equal(vg_anomaly_parse_ts("2015-02-29 00:00:00", 19, &ns), VG_EPARSE);
    assert_int_equal(vg_anomaly_parse_ts("2014-04-01 24:00:00", 19, &ns), VG_EPARSE);
    assert_int_equal(vg_anomaly_parse_ts("2014-04-01 00:00", 16, &ns), VG_EPARSE);
    assert_int_equal(vg_anomaly_parse_ts("", 0, &ns), VG_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_size),     cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_noise_quiet),    cmocka_unit_test(test_spike),
        cmocka_unit_test(test_steps),          cmocka_unit_test(test_drift),
        cmocka_unit_test(test_constant),       cmocka_unit_test(test_nan_inf_ignored),
        cmocka_unit_test(test_gaps_irregular), cmocka_unit_test(test_seasonal_missing_plateau),
        cmocka_unit_test(test_engine_lru),
        cmocka_unit_test(test_engine_nomem),   cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_cli_roundtrip),  cmocka_unit_test(test_parse_ts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
