/* Internals of the anomaly components' shared module (anomaly_core.h):
 * the capped LRU table, the series entry, the template miner, identity
 * hashing and event text. Exposed for the unit tests. */
#ifndef VIGIL_PROCESSORS_ANOMALY_INT_H
#define VIGIL_PROCESSORS_ANOMALY_INT_H

#include "anomaly_core.h"
#include "collector/anomaly/engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- capped LRU hash table of fixed-size entries --------------------------
 * Entries start with an anl_hdr_t. They live in chunks that never move, so a
 * pointer stays valid until the entry is evicted. Keys need not be unique
 * (the template table chains templates of one group under one key); lookups
 * return the first entry with the key and anl_table_next_same the others.
 * Insertion at the cap evicts the least recently used entry (on_evict is told
 * first). */
#define ANL_NIL UINT32_MAX
#define ANL_CHUNK 32

typedef struct {
    uint64_t key;
    uint32_t hnext;      /* bucket chain */
    uint32_t prev, next; /* LRU list, head = most recent */
    uint32_t idx;        /* own slot number */
} anl_hdr_t;

typedef void (*anl_evict_fn)(void *ud, void *entry);

typedef struct {
    size_t esz, cap, count;
    char **chunks;     /* ceil(cap / ANL_CHUNK) pointers, allocated on use */
    size_t nchunks;
    uint32_t *buckets; /* heads */
    size_t nbuckets;   /* power of two, 64 at first, doubled when count reaches it */
    uint32_t head, tail;
    uint64_t evictions;
    anl_evict_fn on_evict;
    void *ud;
} anl_table_t;

int anl_table_init(anl_table_t *t, size_t esz, size_t cap, anl_evict_fn on_evict, void *ud);
void anl_table_free(anl_table_t *t);
void *anl_table_find(const anl_table_t *t, uint64_t key);
void *anl_table_next_same(const anl_table_t *t, const void *e);
/* A zeroed entry with `key` at the head of the LRU list. NULL: VG_ENOMEM. */
void *anl_table_insert(anl_table_t *t, uint64_t key);
void anl_table_touch(anl_table_t *t, void *e);
void *anl_table_at(const anl_table_t *t, size_t i); /* 0 <= i < count */
size_t anl_table_bytes(const anl_table_t *t);

/* ---- hashing -------------------------------------------------------------- */
uint64_t anl_hash_bytes(uint64_t h, const void *p, size_t n);
uint64_t anl_hash_str(uint64_t h, const char *s);
uint64_t anl_mix(uint64_t h);
/* Hash of one attribute value (type and content; arrays and maps recursively). */
uint64_t anl_hash_value(const vg_anyvalue_t *v, int depth);
/* Order-independent hash of a whole attribute list. */
uint64_t anl_hash_attrs(vg_kv_t *const *kv, size_t n);

/* ---- series ---------------------------------------------------------------- */
typedef enum {
    ANL_DET_VALUE = 0,  /* gauge, non-monotonic sum: value */
    ANL_DET_RATE,       /* monotonic sum: rate per second */
    ANL_DET_HIST_RATE,  /* histogram / summary: count per second */
    ANL_DET_HIST_MEAN,  /* histogram / summary: mean of the new observations */
    ANL_DET_DURATION,   /* spans: ln(1 + duration in microseconds) */
    ANL_DET_ERRORS,     /* spans: error ratio per window (windowed) */
    ANL_DET_LOG_RATE,   /* logs: records per window (windowed) */
    ANL_DET_TEMPLATE,   /* logs: template novelty (no series; events only) */
    ANL_DET_COUNT
} anl_det_t;
const char *anl_det_name(anl_det_t d); /* "value", "rate", ... as in anomaly.detector */

enum {
    ANL_F_PRIMED = 1u << 0,    /* prev_* hold a previous point */
    ANL_F_OPEN = 1u << 1,      /* an incident is open */
    ANL_F_ANNOUNCED = 1u << 2, /* its open event was built (so a resolve follows) */
    ANL_F_NEG = 1u << 3,       /* a negative value was seen: expected ranges may go below 0 */
};

#define ANL_IDENT_MAX 256

/* A readable identity: the name (metric or span name; "" for log sources)
 * then n_pairs key/value pairs, each string NUL-terminated; the first n_res
 * pairs come from the resource (or are source attributes), the rest are point
 * attributes. Bounded: pairs that do not fit are left out (trunc set). */
typedef struct {
    uint16_t len;
    uint8_t n_res, n_pairs;
    bool trunc;
    char buf[ANL_IDENT_MAX];
} anl_ident_t;

/* One series (metrics, span durations): the engine state plus what the OTLP
 * side needs. Its readable identity is not stored: events of these series are
 * built while their point, and so its resource, is at hand. */
typedef struct {
    anl_hdr_t h;
    uint8_t det, flags, high_run, calm_run;
    float floor_abs, floor_rel; /* significance floor: max(abs, rel * |expected|) */
    float peak, tokens;         /* incident peak score; rate-limit bucket */
    uint32_t b_n;
    float b_w;                  /* time-decayed count of points in the baseline */
    /* previous point, for rates and histogram means */
    double prev_v, prev_v2;
    int64_t prev_ts, prev_start;
    /* robust baseline (Huber-clipped EW mean and mean absolute deviation) */
    double b_mean, b_mad;
    int64_t opened_ts, tok_ns;
    vg_anom_series_t eng;
} anl_series_t;

/* A windowed source (log rate per source, span errors per service): a series
 * fed one point per window, with its identity stored for timer-closed windows. */
typedef struct {
    anl_series_t s;
    uint32_t win_n, win_err, idle_windows;
    int64_t win_start;
    anl_ident_t id;
} anl_source_t;

/* Score of one point against a series. */
typedef struct {
    double score;    /* 0..1 */
    double engine;   /* the engine's own score */
    double value, expected, lo, hi;
    bool warm;
} anl_point_t;

/* How a series learns: points before it may score, and the baseline's
 * memory: at least ~20 points and at least memory_s seconds. */
typedef struct {
    uint32_t warmup;
    double memory_s;
} anl_learn_t;

/* Feeds one value to e (engine and baseline) and scores it. */
void anl_series_score(anl_series_t *e, const anl_learn_t *l, int64_t ts, double v, anl_point_t *out);
/* Scores v against e's baseline without learning (partial windows). */
void anl_series_peek(const anl_series_t *e, uint32_t warmup, double v, anl_point_t *out);

/* Readable identity: name + pairs appended while they fit. */
void anl_ident_init(anl_ident_t *id, const char *name);
void anl_ident_add(anl_ident_t *id, const char *key, const char *val, bool resource);
/* Iterate: returns the next pair after *pos (start with 0); false at the end. */
bool anl_ident_next(const anl_ident_t *id, size_t *pos, const char **key, const char **val, bool *resource);
const char *anl_ident_name(const anl_ident_t *id);
const char *anl_ident_get(const anl_ident_t *id, const char *key);

/* ---- template mining --------------------------------------------------------- */
#define ANL_MAX_TOK 32
#define ANL_TEXT_MAX 128
#define ANL_WILD 0u /* token hash of a wildcard position */

typedef struct {
    anl_hdr_t h;       /* key: group (token count, first token) */
    uint64_t tid;      /* stable template id */
    uint32_t count;    /* records matched (saturating) */
    uint8_t ntok, text_len;
    uint32_t tok[ANL_MAX_TOK];
    char text[ANL_TEXT_MAX];
} anl_tmpl_t;

typedef struct {
    anl_table_t tab;
    double similarity;
    uint64_t seen;     /* records mined */
    uint64_t created;
} anl_miner_t;

/* Masks one token into out (cap bytes): numbers <NUM>, hex and uuids <HEX>/<ID>,
 * IP addresses <IP>, digit runs inside words '#'. Returns the length. */
size_t anl_mask_token(const char *tok, size_t len, char *out, size_t cap);
/* Result of mining one message. */
typedef struct {
    const anl_tmpl_t *t; /* NULL when the message was empty or memory ran out */
    uint32_t count_before; /* records the template had matched before this one (0 = new) */
    bool created;
} anl_mined_t;
int anl_miner_init(anl_miner_t *m, size_t cap, double similarity);
void anl_miner_free(anl_miner_t *m);
int anl_miner_add(anl_miner_t *m, const char *msg, size_t len, anl_mined_t *out);
/* Novelty score of a mined record: 1 for a new template, halving with each
 * earlier match. */
double anl_novelty(uint32_t count_before);

/* ---- text ------------------------------------------------------------------ */
/* Number for people: 3 significant digits, no exponent in everyday ranges. */
void anl_fmt_num(char *out, size_t cap, double v);
/* A value with its unit ("3.9 cores", "512 MiB", "12 MiB/s", "1.2 s"). */
void anl_fmt_value(char *out, size_t cap, double v, const char *unit, const char *metric, bool rate);
/* A range in one unit: "0.1–0.3 cores", "100–120 MiB". */
void anl_fmt_range(char *out, size_t cap, double lo, double hi, const char *unit, const char *metric, bool rate);
/* "CPU usage", "memory usage", or the metric name. */
const char *anl_metric_label(const char *metric, bool rate, char *buf, size_t cap);
/* "container 3f2a9c1b7d4e in pod default/web-1", "service checkout", "host web1 (sshd)". */
void anl_subject(const anl_ident_t *id, char *out, size_t cap);

#endif
