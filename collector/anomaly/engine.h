/* Streaming anomaly detector engine: one pass, O(1) memory per series, no
 * knowledge of OTLP. Shared by the `anomaly` processor and connector and by
 * `vigil anomaly-score` (the NAB tool), so all three score identically.
 *
 * A series is fed (timestamp, value) pairs in arrival order and returns, for
 * every point, an anomaly score in [0, 1] that depends only on the points seen
 * so far. The algorithm (docs/anomaly.md has the details and the NAB figures):
 *
 *   1. raw scores: sequence novelty of the quantised value (a hashed count
 *      table of short value contexts, like a tiny sequence memory), a robust
 *      residual z-score against an EWMA level, and a "spatial" test (value out
 *      of the range seen so far);
 *   2. an anomaly-likelihood layer: the tail probability of the short-term
 *      mean of the raw scores against their long-run distribution;
 *   3. a time-of-day profile (48 half-hour bins of the UTC day): on series
 *      the profile explains, a value far from its bin is an alarm (a missing
 *      daily plateau) and a likelihood alarm on a value that fits it is damped;
 *   4. post-detection suppression so one incident gives one alarm.
 *
 * Time: the engine learns the typical sampling interval; a gap (no point for
 * many intervals) restarts the short-term context without forgetting the
 * long-run statistics. Timestamps that repeat or go backwards are accepted
 * (treated as one typical interval). Counters must be turned into rates by
 * the caller; a restart then shows as one odd point, not a jump forever.
 *
 * NaN and +-Inf values are ignored: they return score 0 with out->valid = 0
 * and leave the state untouched.
 *
 * Not thread-safe: a series (and an engine) belongs to one loop. */
#ifndef VIGIL_ANOMALY_ENGINE_H
#define VIGIL_ANOMALY_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* Tunables. One configuration for every series: vg_anom_config_default() is
 * what the NAB figures were measured with. The caller keeps the config alive
 * as long as any series initialised with it. */
typedef struct vg_anom_config {
    uint32_t warmup;       /* points before a series may alarm (score stays 0): 150 */
    /* sequence novelty */
    uint32_t bins;         /* quantisation levels across the range seen at point 32: 16 */
    uint32_t grids;        /* quantisation grids offset by 1/grids of a bin (1..4): 1 */
    double soft;           /* novelty credit when only a neighbouring level was seen: 0.5 */
    double decay_every;    /* halve the context counts every this many points (0 = only on saturation) */
    /* level predictor (expected range, residual scores) */
    double level_alpha;    /* EWMA weight of the level: 0.1 */
    double scale_alpha;    /* EWMA weight of the mean |residual|: 0.01 */
    double spatial_tol;    /* out-of-range tolerance, fraction of the range seen: 0.02 */
    /* likelihood layer */
    uint32_t short_window; /* points in the short-term mean of raw scores (1..32): 10 */
    double long_alpha;     /* EW weight of the long-run mean/variance of that mean: 0.002 */
    double min_sigma;      /* floor of the long-run std-dev: 0.01 */
    double w_novel;        /* raw score = w_novel * novelty + w_resid * residual surprise: 1 */
    double w_resid;        /* 0 */
    double w_res2;         /* weight of a second likelihood stream on the residual alone: 0 */
    /* alarms */
    uint32_t suppress;     /* points over which scores ramp back up after an alarm: 200 */
    double alarm_level;    /* score at/above which an alarm starts the suppression: 0.5 */
    double gap_factor;     /* dt > gap_factor * typical interval = a gap: 10 */
    uint32_t hash_seed;    /* salt of the context hash; only for robustness checks (the NAB
                            * score must not hinge on which contexts collide): 0 */
    /* seasonal (time-of-day) profile: a downsampled copy of "a usual day" */
    uint32_t season_bins;  /* bins per UTC day (0 = off, <= VG_ANOM_SEASON_BINS): 48 (30 min) */
    double season_alpha;   /* EW weight of one day in a bin's mean and mean |deviation|: 0.2 */
    double season_days;    /* days since the first point before the profile is used: 3 */
    double season_gate;    /* used only while RMS(value - profile) < gate * std-dev(value): 0.8 */
    double season_z;       /* |value - profile| / bin sigma at which the score reaches 0.5: 6 */
    double season_z1;      /* ... and 1: 12 */
    double season_quiet;   /* bin z below which the value fits the profile: 2 */
    double season_quiet_factor; /* likelihood score multiplied by this when it fits: 0.6 */
} vg_anom_config_t;

void vg_anom_config_default(vg_anom_config_t *c);
/* Set one tunable by name (for experiments: `anomaly-score --param k=v`).
 * Returns 0, VG_ENOTFOUND for an unknown name, VG_EINVAL for a bad value. */
int vg_anom_config_set(vg_anom_config_t *c, const char *name, double value);

/* Per-point result, for event text ("value 3.9, expected 0.1-0.3"). */
typedef struct vg_anom_result {
    double score;    /* same as the return value, 0..1 */
    double raw;      /* raw (pre-likelihood) score of this point, 0..1 */
    double expected; /* the level predictor's forecast for this point */
    double lo, hi;   /* expected range for this point (before seeing it) */
    int valid;       /* 0: value was NaN/Inf and was ignored */
    int warm;        /* 1 once the warm-up is over */
    int spatial;     /* 1: value outside the range seen so far */
    double seasonal; /* seasonal (time-of-day) surprise score of this point, 0..1 */
} vg_anom_result_t;

#define VG_ANOM_GRIDS 4
#define VG_ANOM_CTX_SLOTS 1024 /* hashed context counts per series (uint8 each) */
#define VG_ANOM_RING 32       /* max short_window */
#define VG_ANOM_SEASON_BINS 48 /* max season_bins */

/* Per-series state. Plain data: caller-allocated (or owned by an engine),
 * fixed size (see vg_anom_series_bytes()), no pointers except the config. */
typedef struct vg_anom_series {
    const vg_anom_config_t *cfg;
    uint64_t n;           /* finite points seen */
    int64_t last_ts;      /* ns, the latest timestamp seen */
    double dt_typ;        /* typical interval, ns (0 = unknown) */
    double vmin, vmax;    /* range seen */
    double level, scale;  /* EWMA level, EW mean |residual| */
    double origin, width; /* quantisation grid (width 0 = not set yet) */
    double lmean, lvar;   /* long-run mean / variance of the short-term raw mean */
    double r2_short, r2_mean, r2_var; /* the residual likelihood stream (w_res2) */
    double ring_sum;
    float ring[VG_ANOM_RING]; /* last raw scores */
    uint32_t ring_pos, ring_fill;
    int32_t ctx[VG_ANOM_GRIDS][2]; /* previous quantised values, per grid */
    uint32_t ctx_fill;    /* valid entries of ctx (reset at gaps) */
    uint32_t since_alarm; /* points since the last alarm */
    uint32_t decay_count;
    uint32_t lik_n;       /* samples in the long-run distribution */
    int64_t first_ts;     /* ns, timestamp of the first point */
    double gmean, gvar;   /* long-run mean and variance of the value */
    double svar;          /* long-run mean square of value - profile (seasonal residual) */
    float s_mean[VG_ANOM_SEASON_BINS], s_dev[VG_ANOM_SEASON_BINS];
    uint8_t s_cnt[VG_ANOM_SEASON_BINS];
    uint8_t counts[VG_ANOM_CTX_SLOTS]; /* hashed context counts, saturating */
} vg_anom_series_t;

void vg_anom_series_init(vg_anom_series_t *s, const vg_anom_config_t *cfg);
size_t vg_anom_series_bytes(void); /* sizeof(vg_anom_series_t) */

/* Feed one point; returns its anomaly score in [0, 1]. `out` may be NULL. */
double vg_anom_update(vg_anom_series_t *s, int64_t ts_ns, double value, vg_anom_result_t *out);

/* ---- an engine: many series keyed by a 64-bit id, with a cap ----------
 * At most `max_series` series are tracked; a new id beyond the cap evicts the
 * least recently updated series (its state is lost, the eviction counted). */
typedef struct vg_anom_engine vg_anom_engine_t;

int vg_anom_engine_new(vg_anom_engine_t **out, const vg_anom_config_t *cfg, size_t max_series);
void vg_anom_engine_free(vg_anom_engine_t *e);
/* Update series `id` (created on first use). Returns the score (>= 0) or a
 * negative VG_E* code (VG_ENOMEM). */
double vg_anom_engine_update(vg_anom_engine_t *e, uint64_t id, int64_t ts_ns, double value,
                             vg_anom_result_t *out);
/* The state of `id`, or NULL if it is not tracked (does not touch recency). */
const vg_anom_series_t *vg_anom_engine_find(const vg_anom_engine_t *e, uint64_t id);
size_t vg_anom_engine_count(const vg_anom_engine_t *e);
uint64_t vg_anom_engine_evictions(const vg_anom_engine_t *e);
/* Heap bytes held by the engine (slots + index). */
size_t vg_anom_engine_bytes(const vg_anom_engine_t *e);

#endif
