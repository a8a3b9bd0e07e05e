#include "collector/anomaly/engine.h"

#include <math.h>
#include <string.h>

#include "collector/error.h"
#include "collector/mem.h"

void vg_anom_config_default(vg_anom_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->warmup = 150;
    c->bins = 16;
    c->grids = 1;
    c->soft = 0.5;
    c->decay_every = 0;
    c->level_alpha = 0.1;
    c->scale_alpha = 0.01;
    c->spatial_tol = 0.02;
    c->short_window = 10;
    c->long_alpha = 0.002;
    c->min_sigma = 0.01;
    c->w_novel = 1.0;
    c->w_resid = 0.0;
    c->w_res2 = 0.0;
    c->suppress = 200;
    c->alarm_level = 0.5;
    c->gap_factor = 10.0;
    c->season_bins = 48;
    c->season_alpha = 0.2;
    c->season_days = 3;
    c->season_gate = 0.8;
    c->season_z = 6;
    c->season_z1 = 12;
    c->season_quiet = 2;
    c->season_quiet_factor = 0.6;
}

int vg_anom_config_set(vg_anom_config_t *c, const char *name, double v)
{
    if (!name || !isfinite(v) || v < 0) return VG_EINVAL;
#define U32(f, lo, hi)                                           \
    if (strcmp(name, #f) == 0) {                                 \
        if (v < (lo) || v > (hi)) return VG_EINVAL;              \
        c->f = (uint32_t)v;                                      \
        return 0;                                                \
    }
#define DBL(f, hi)                                               \
    if (strcmp(name, #f) == 0) {                                 \
        if (v > (hi)) return VG_EINVAL;                          \
        c->f = v;                                                \
        return 0;                                                \
    }
    U32(warmup, 0, 1e9) U32(bins, 1, 1e6) U32(grids, 1, VG_ANOM_GRIDS) U32(short_window, 1, VG_ANOM_RING)
    U32(suppress, 0, 1e9)
    DBL(soft, 1) DBL(decay_every, 1e9) DBL(level_alpha, 1) DBL(scale_alpha, 1) DBL(spatial_tol, 1e3)
    DBL(long_alpha, 1) DBL(min_sigma, 1) DBL(w_novel, 1) DBL(w_resid, 1) DBL(w_res2, 1) DBL(alarm_level, 1)
    DBL(gap_factor, 1e9) U32(season_bins, 0, VG_ANOM_SEASON_BINS) U32(hash_seed, 0, 1e9) DBL(season_alpha, 1) DBL(season_days, 1e6)
    DBL(season_gate, 1e3) DBL(season_z, 1e6) DBL(season_z1, 1e6)
    DBL(season_quiet, 1e6) DBL(season_quiet_factor, 1)
#undef U32
#undef DBL
    return VG_ENOTFOUND;
}

size_t vg_anom_series_bytes(void) { return sizeof(vg_anom_series_t); }

void vg_anom_series_init(vg_anom_series_t *s, const vg_anom_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
}

static inline double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* 1 - (1-a)^r: an EWMA weight stretched over r typical intervals. */
static inline double alpha_dt(double a, double r) { return r == 1.0 ? a : 1.0 - pow(1.0 - a, r); }

static inline uint32_t mix32(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static inline uint32_t slot_of(uint32_t salt, const int32_t *ctx, int32_t q, uint32_t order)
{
    uint64_t h = (uint64_t)(salt + 1) * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)(uint32_t)q;
    for (uint32_t i = 0; i < order; i++) h = (h * 0x100000001b3ULL) ^ ((uint64_t)(uint32_t)ctx[i] + 0x51ed27ULL * (i + 1));
    return mix32(h) & (VG_ANOM_CTX_SLOTS - 1);
}

static void halve_counts(vg_anom_series_t *s)
{
    for (size_t i = 0; i < VG_ANOM_CTX_SLOTS; i++) s->counts[i] >>= 1;
}

static inline void bump(vg_anom_series_t *s, uint32_t slot)
{
    if (s->counts[slot] == 255) halve_counts(s);
    s->counts[slot]++;
}

double vg_anom_update(vg_anom_series_t *s, int64_t ts_ns, double value, vg_anom_result_t *out)
{
    const vg_anom_config_t *c = s->cfg;
    vg_anom_result_t r = {0};
    if (!isfinite(value)) {
        if (out) *out = r;
        return 0.0;
    }
    r.valid = 1;

    /* ---- time: typical interval, gaps, stretch of the EWMA weights */
    double ratio = 1.0;
    int gap = 0;
    if (s->n > 0) {
        int64_t dt = ts_ns - s->last_ts;
        if (dt > 0) {
            double d = (double)dt;
            if (s->dt_typ <= 0) {
                s->dt_typ = d;
            } else {
                gap = d > c->gap_factor * s->dt_typ;
                ratio = clampd(d / s->dt_typ, 0.25, 4.0);
                s->dt_typ += 0.05 * (clampd(d, 0.25 * s->dt_typ, 4.0 * s->dt_typ) - s->dt_typ);
                if (ratio > 0.9 && ratio < 1.1) ratio = 1.0;
            }
        }
    }
    if (s->n == 0 || ts_ns > s->last_ts) s->last_ts = ts_ns;
    if (gap) s->ctx_fill = 0;

    if (s->n == 0) {
        s->vmin = s->vmax = s->level = value;
        s->scale = 0;
        s->first_ts = ts_ns;
        s->gmean = value;
    }

    /* ---- expected range (before this point) */
    double range = s->vmax - s->vmin;
    double sig = 1.2533 * s->scale; /* mean |resid| -> sigma for a normal */
    double floor_sig = 1e-9 * (fabs(s->level) + 1.0) + 1e-3 * range;
    if (sig < floor_sig) sig = floor_sig;
    r.expected = s->level;
    r.lo = s->level - 3.0 * sig;
    r.hi = s->level + 3.0 * sig;

    /* ---- spatial: out of the range seen so far */
    if (s->n >= 2 && range > 0) {
        double tol = c->spatial_tol * range;
        r.spatial = value > s->vmax + tol || value < s->vmin - tol;
    } else if (s->n >= 2) {
        r.spatial = value != s->vmin; /* first move of a constant series */
    }

    /* ---- residual surprise against the level predictor */
    double z = fabs(value - s->level) / sig;
    double raw_res = erf(z * M_SQRT1_2 / 2.0); /* 0 at z=0, ~0.87 at z=3, ~1 beyond 5 */

    /* ---- sequence novelty on the quantised value */
    if (s->width <= 0 && s->n >= 32 && range > 0) {
        s->width = range / (double)(c->bins ? c->bins : 1);
        s->origin = s->vmin;
        s->ctx_fill = 0;
    } else if (s->width > 0 && range > 4.0 * c->bins * s->width) {
        s->width = range / (double)c->bins;
        s->origin = s->vmin;
        memset(s->counts, 0, sizeof s->counts);
        s->ctx_fill = 0;
    }
    double nov = 0.0;
    if (s->width > 0) {
        /* G grids offset by 1/G of a bin: a value near a bin edge is judged by
         * the grids where it is not, like overlapping buckets */
        uint32_t G = c->grids ? c->grids : 1;
        if (G > VG_ANOM_GRIDS) G = VG_ANOM_GRIDS;
        double nsum = 0, nw = 0;
        for (uint32_t g = 0; g < G; g++) {
            double b = floor((value - s->origin) / s->width + (double)g / (double)G);
            int32_t q = (int32_t)clampd(b, -1e6, 1e6);
            for (uint32_t o = 1; o <= 2; o++) {
                if (s->ctx_fill < o) break;
                int32_t cx[2] = {s->ctx[g][0], s->ctx[g][1]};
                uint32_t sl = slot_of(o + 4 * g + 17 * c->hash_seed, cx, q, o);
                double u = s->counts[sl] ? 0.0 : 1.0;
                if (u > 0 && c->soft > 0) {
                    if (s->counts[slot_of(o + 4 * g + 17 * c->hash_seed, cx, q - 1, o)] || s->counts[slot_of(o + 4 * g + 17 * c->hash_seed, cx, q + 1, o)])
                        u = 1.0 - c->soft;
                }
                nsum += u;
                nw += 1.0;
                bump(s, sl);
            }
            s->ctx[g][1] = s->ctx[g][0];
            s->ctx[g][0] = q;
        }
        if (s->ctx_fill < 2) s->ctx_fill++;
        if (nw > 0) nov = nsum / nw;
        if (c->decay_every > 0 && ++s->decay_count >= (uint32_t)c->decay_every) {
            s->decay_count = 0;
            halve_counts(s);
        }
    }
    double raw = clampd(c->w_novel * nov + c->w_resid * raw_res, 0.0, 1.0);
    r.raw = raw;

    /* ---- likelihood of the short-term mean raw score */
    uint32_t w = c->short_window ? c->short_window : 1;
    if (s->ring_fill == w) s->ring_sum -= s->ring[s->ring_pos];
    else s->ring_fill++;
    s->ring[s->ring_pos] = (float)raw;
    s->ring_sum += (float)raw;
    s->ring_pos = (s->ring_pos + 1) % w;
    if (s->ring_pos == 0) { /* re-add now and then: no rounding drift */
        s->ring_sum = 0;
        for (uint32_t i = 0; i < s->ring_fill; i++) s->ring_sum += s->ring[i];
    }
    double m = s->ring_sum / s->ring_fill;

    double score = 0.0;
    int warm = s->n >= c->warmup;
    if (warm && s->lik_n > 0) {
        double sd = sqrt(s->lvar);
        if (sd < c->min_sigma) sd = c->min_sigma;
        double zz = (m - s->lmean) / sd;
        double tail = 0.5 * erfc(zz * M_SQRT1_2);
        score = log(tail + 1e-10) / log(1e-10);
        score = clampd(score, 0.0, 1.0);
    }
    /* long-run distribution (EW mean/variance) */
    double la = s->lik_n < 1.0 / c->long_alpha ? 1.0 / (double)(s->lik_n + 1) : c->long_alpha;
    double dm = m - s->lmean;
    s->lmean += la * dm;
    s->lvar = (1.0 - la) * (s->lvar + la * dm * dm);
    if (s->lik_n < UINT32_MAX) s->lik_n++;

    if (c->w_res2 > 0) {
        /* a second likelihood stream on the residual surprise */
        double a = 2.0 / (double)(w + 1);
        s->r2_short += a * (raw_res - s->r2_short);
        if (warm && s->lik_n > 1) {
            double sd = sqrt(s->r2_var);
            if (sd < c->min_sigma) sd = c->min_sigma;
            double zz = (s->r2_short - s->r2_mean) / sd;
            double tail = 0.5 * erfc(zz * M_SQRT1_2);
            double sc2 = c->w_res2 * clampd(log(tail + 1e-10) / log(1e-10), 0.0, 1.0);
            if (sc2 > score) score = sc2;
        }
        double d2 = s->r2_short - s->r2_mean;
        s->r2_mean += la * d2;
        s->r2_var = (1.0 - la) * (s->r2_var + la * d2 * d2);
    }
    if (warm && r.spatial) score = 1.0;

    /* ---- seasonal profile: value against the same time of day on past days */
    uint32_t sb = c->season_bins;
    int bin = -1;
    double se = 0;
    if (sb > 0 && sb <= VG_ANOM_SEASON_BINS) {
        int64_t day = 86400LL * 1000000000LL;
        int64_t tod = ts_ns % day;
        if (tod < 0) tod += day;
        bin = (int)((double)tod / (double)day * sb);
        if (bin >= (int)sb) bin = (int)sb - 1;
        if (s->s_cnt[bin]) {
            se = value - s->s_mean[bin];
            double ddev = s->s_dev[bin];
            double fl = 0.02 * range;
            if (ddev < fl) ddev = fl;
            if (ddev <= 0) ddev = 1e-12;
            double zs = fabs(se) / (1.2533 * ddev);
            int ok = warm && s->s_cnt[bin] >= 3 && (double)(ts_ns - s->first_ts) >= c->season_days * (double)day &&
                     s->svar < c->season_gate * c->season_gate * s->gvar;
            /* the profile explains this series and the value fits it: a
             * likelihood alarm (a novel value sequence) is weaker evidence */
            if (ok && zs < c->season_quiet && score < 1.0) score *= c->season_quiet_factor;
            if (ok && zs > c->season_z) {
                double ss = 0.5 + 0.5 * clampd((zs - c->season_z) / (c->season_z1 - c->season_z + 1e-9), 0, 1);
                r.seasonal = ss;
                if (ss > score) score = ss;
            }
        }
    }

    /* ---- suppression: after an alarm, scores ramp back up linearly over
     * `suppress` points, so one incident raises one alarm, not a burst */
    if (warm) {
        if (c->suppress && s->since_alarm < c->suppress) score *= (double)s->since_alarm / (double)c->suppress;
        if (s->since_alarm < UINT32_MAX) s->since_alarm++;
        if (score >= c->alarm_level) s->since_alarm = 0;
    } else {
        s->since_alarm = UINT32_MAX;
    }
    r.warm = warm;
    r.score = score;

    /* ---- learn */
    if (value < s->vmin) s->vmin = value;
    if (value > s->vmax) s->vmax = value;
    double res = value - s->level;
    s->scale += alpha_dt(c->scale_alpha, ratio) * (fabs(res) - s->scale);
    s->level += alpha_dt(c->level_alpha, ratio) * res;
    {
        double ga = s->n < 500 ? 1.0 / (double)(s->n + 1) : 0.002;
        double gd = value - s->gmean;
        s->gmean += ga * gd;
        s->gvar += ga * (gd * gd - s->gvar);
    }
    if (bin >= 0) {
        if (s->s_cnt[bin] == 0) {
            s->s_mean[bin] = (float)value;
            s->s_dev[bin] = 0;
        } else {
            double ga = s->n < 500 ? 1.0 / (double)(s->n + 1) : 0.002;
            s->svar += ga * (se * se - s->svar);
            /* season_alpha is the weight of one day's visit to the bin,
             * spread over the points that fall in it (first order in
             * -ln(1 - alpha) per point; exact enough and cheap) */
            double bin_ns = 86400e9 / (double)sb;
            double per = s->dt_typ > 0 && s->dt_typ < bin_ns ? s->dt_typ / bin_ns : 1.0;
            double a = -log1p(-clampd(c->season_alpha, 0.0, 0.999)) * per;
            if (a > c->season_alpha) a = c->season_alpha;
            s->s_dev[bin] += (float)(a * (fabs(se) - s->s_dev[bin]));
            s->s_mean[bin] += (float)(a * se);
        }
        if (s->s_cnt[bin] < 255) s->s_cnt[bin]++;
    }
    s->n++;

    if (out) *out = r;
    return score;
}

/* ---- engine ------------------------------------------------------------ */

typedef struct {
    uint64_t id;
    uint32_t prev, next; /* LRU list, NIL-terminated; head = most recent */
    vg_anom_series_t s;
} slot_t;

#define NIL UINT32_MAX

struct vg_anom_engine {
    const vg_anom_config_t *cfg;
    size_t cap, count, alloc;
    slot_t *slots;
    uint32_t *index; /* open addressing, linear probing: slot number or NIL */
    size_t index_size; /* power of two, >= 2 * alloc */
    uint32_t head, tail;
    uint64_t evictions;
};

int vg_anom_engine_new(vg_anom_engine_t **out, const vg_anom_config_t *cfg, size_t max_series)
{
    *out = NULL;
    if (!cfg || max_series == 0 || max_series > (size_t)1 << 30) return VG_EINVAL;
    vg_anom_engine_t *e = vg_calloc(1, sizeof *e);
    if (!e) return VG_ENOMEM;
    e->cfg = cfg;
    e->cap = max_series;
    e->head = e->tail = NIL;
    *out = e;
    return 0;
}

void vg_anom_engine_free(vg_anom_engine_t *e)
{
    if (!e) return;
    vg_free(e->slots);
    vg_free(e->index);
    vg_free(e);
}

static inline size_t hash_id(uint64_t id, size_t mask) { return (size_t)mix32(id ^ 0x2545f4914f6cdd1dULL) & mask; }

static size_t index_find(const vg_anom_engine_t *e, uint64_t id)
{
    size_t mask = e->index_size - 1;
    for (size_t i = hash_id(id, mask);; i = (i + 1) & mask) {
        uint32_t k = e->index[i];
        if (k == NIL || e->slots[k].id == id) return i;
    }
}

static void index_remove(vg_anom_engine_t *e, size_t pos)
{
    size_t mask = e->index_size - 1;
    e->index[pos] = NIL;
    /* backward-shift deletion keeps probe chains intact */
    for (size_t j = (pos + 1) & mask; e->index[j] != NIL; j = (j + 1) & mask) {
        size_t home = hash_id(e->slots[e->index[j]].id, mask);
        /* move j to pos if home is not cyclically in (pos, j] */
        int in_range = pos <= j ? (home > pos && home <= j) : (home > pos || home <= j);
        if (!in_range) {
            e->index[pos] = e->index[j];
            e->index[j] = NIL;
            pos = j;
        }
    }
}

static int grow(vg_anom_engine_t *e)
{
    size_t na = e->alloc ? e->alloc * 2 : 16;
    if (na > e->cap) na = e->cap;
    slot_t *ns = vg_realloc(e->slots, na * sizeof *ns);
    if (!ns) return VG_ENOMEM;
    e->slots = ns;
    size_t isz = 16;
    while (isz < 2 * na) isz *= 2;
    if (isz != e->index_size) {
        uint32_t *ni = vg_malloc(isz * sizeof *ni);
        if (!ni) return VG_ENOMEM; /* slots grew but alloc not raised: consistent */
        for (size_t i = 0; i < isz; i++) ni[i] = NIL;
        vg_free(e->index);
        e->index = ni;
        e->index_size = isz;
        for (uint32_t k = 0; k < e->count; k++) e->index[index_find(e, e->slots[k].id)] = k;
    }
    e->alloc = na;
    return 0;
}

static void lru_unlink(vg_anom_engine_t *e, uint32_t k)
{
    slot_t *s = &e->slots[k];
    if (s->prev != NIL) e->slots[s->prev].next = s->next;
    else e->head = s->next;
    if (s->next != NIL) e->slots[s->next].prev = s->prev;
    else e->tail = s->prev;
    s->prev = s->next = NIL;
}

static void lru_push_front(vg_anom_engine_t *e, uint32_t k)
{
    slot_t *s = &e->slots[k];
    s->prev = NIL;
    s->next = e->head;
    if (e->head != NIL) e->slots[e->head].prev = k;
    e->head = k;
    if (e->tail == NIL) e->tail = k;
}

double vg_anom_engine_update(vg_anom_engine_t *e, uint64_t id, int64_t ts_ns, double value,
                             vg_anom_result_t *out)
{
    uint32_t k;
    size_t pos = e->index ? index_find(e, id) : 0;
    if (e->index && e->index[pos] != NIL) {
        k = e->index[pos];
        if (e->head != k) {
            lru_unlink(e, k);
            lru_push_front(e, k);
        }
    } else {
        if (e->count == e->alloc && e->alloc < e->cap) {
            int rc = grow(e);
            if (rc) return rc;
            pos = index_find(e, id);
        }
        if (e->count < e->alloc) {
            k = (uint32_t)e->count++;
        } else { /* at the cap: evict the least recently seen */
            k = e->tail;
            lru_unlink(e, k);
            index_remove(e, index_find(e, e->slots[k].id));
            e->evictions++;
            pos = index_find(e, id);
        }
        e->slots[k].id = id;
        vg_anom_series_init(&e->slots[k].s, e->cfg);
        e->index[pos] = k;
        lru_push_front(e, k);
    }
    return vg_anom_update(&e->slots[k].s, ts_ns, value, out);
}

const vg_anom_series_t *vg_anom_engine_find(const vg_anom_engine_t *e, uint64_t id)
{
    if (!e->index) return NULL;
    uint32_t k = e->index[index_find(e, id)];
    return k == NIL ? NULL : &e->slots[k].s;
}

size_t vg_anom_engine_count(const vg_anom_engine_t *e) { return e->count; }
uint64_t vg_anom_engine_evictions(const vg_anom_engine_t *e) { return e->evictions; }
size_t vg_anom_engine_bytes(const vg_anom_engine_t *e)
{
    return sizeof *e + e->alloc * sizeof(slot_t) + e->index_size * sizeof(uint32_t);
}
