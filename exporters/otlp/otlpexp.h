/* The OTLP export engine shared by the `otlp` (gRPC) and `otlphttp` exporters.
 *
 * Pieces, each in its own file:
 *   otlpexp_conf.c   option sub-tables shared by both exporters (tls,
 *                    retry_on_failure, sending_queue) and the cross-field checks
 *   otlpexp_queue.c  the bounded FIFO sending queue (pure logic)
 *   otlpexp_retry.c  backoff schedule, status classification (one table),
 *                    google.rpc.Status / RetryInfo parsing, Retry-After (pure)
 *   otlpexp_codec.c  request encoding (protobuf or JSON, gzip/zstd, gRPC
 *                    framing) and response decoding (partial success)
 *   otlpexp_engine.c libcurl's multi interface driven by the libuv loop: the
 *                    consumers (in-flight slots), dispatch, retries, lifecycle
 *
 * Data path: consume() encodes the batch once into the wire body (compressed,
 * framed for gRPC), releases the batch and queues the body; a free consumer
 * slot takes the oldest body and sends it; a retryable failure keeps the body
 * in its slot until the backoff timer fires. The queue is bounded in the
 * configured sizer unit and, always, in memory (sending_queue.max_bytes).
 * Everything runs on the owning loop; no state outside the instance. */
#ifndef VIGIL_OTLPEXP_H
#define VIGIL_OTLPEXP_H

#include "collector/component.h"
#include "collector/options.h"
#include "collector/signal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ------------------------------------------------------- */

typedef struct {
    bool insecure;
    char *ca_file, *cert_file, *key_file;
    bool insecure_skip_verify;
    char *server_name_override;
} oe_tls_cfg_t;

typedef struct {
    bool enabled;
    int64_t initial_interval, max_interval, max_elapsed_time; /* ns; max_elapsed_time 0 = no limit */
    double multiplier, randomization_factor;
} oe_retry_cfg_t;

enum { OE_SIZER_REQUESTS = 0, OE_SIZER_ITEMS, OE_SIZER_BYTES };

typedef struct {
    bool enabled;
    int64_t num_consumers;
    int64_t queue_size; /* in `sizer` units */
    int sizer;
    bool block_on_overflow;
    uint64_t max_bytes; /* Vigil: memory held by queued and in-flight bodies */
} oe_queue_cfg_t;

enum { OE_COMP_GZIP = 0, OE_COMP_ZSTD, OE_COMP_NONE };
enum { OE_ENC_PROTO = 0, OE_ENC_JSON };
enum { OE_PROTO_GRPC = 0, OE_PROTO_HTTP };

/* One struct for both exporters; otlp leaves the otlphttp-only fields unset. */
typedef struct {
    char *endpoint;
    char *signal_endpoint[VG_SIG_COUNT]; /* otlphttp: traces/metrics/logs_endpoint */
    oe_tls_cfg_t tls;
    vg_strmap_t headers;
    int compression;
    int encoding; /* otlphttp */
    int64_t timeout;
    oe_retry_cfg_t retry;
    oe_queue_cfg_t queue;
} oe_cfg_t;

extern const vg_option_t oe_tls_opts[];
extern const vg_option_t oe_retry_opts[];
extern const vg_option_t oe_queue_opts[];
extern const char *const oe_compressions[];

/* Cross-field checks shared by both exporters (add errors; 0 or VG_ECONFIG). */
int oe_validate_common(const oe_cfg_t *cfg, const char *path, vg_errs_t *errs);

/* ---- the sending queue (otlpexp_queue.c) ---------------------------------- */

typedef struct oe_req oe_req_t;
struct oe_req {
    oe_req_t *next;
    vg_signal_t signal;
    size_t items;
    size_t raw_bytes; /* encoded size before compression: the `bytes` sizer's unit */
    uint8_t *body;    /* wire body (compressed; with the gRPC frame prefix) */
    size_t body_len;
    /* retry state */
    uint64_t first_ms;       /* loop time of the first attempt */
    int64_t interval_ns;     /* backoff's current interval; 0 before the first retry */
    unsigned attempts;
};

/* Memory a request holds (body and bookkeeping). */
static inline size_t oe_req_mem(const oe_req_t *r) { return r->body_len + sizeof *r; }
void oe_req_free(oe_req_t *r); /* NULL is fine */

typedef struct {
    oe_req_t *head, *tail;
    size_t requests, items, bytes; /* queued */
    size_t mem;                    /* memory of the queued requests */
    int sizer;
    uint64_t capacity;             /* in sizer units; 0 = hold nothing (no queue) */
    uint64_t max_bytes;            /* bound on mem + memory held outside (in flight) */
} oe_queue_t;

void oe_queue_init(oe_queue_t *q, int sizer, uint64_t capacity, uint64_t max_bytes);
/* Size in the sizer's unit. */
uint64_t oe_queue_size(const oe_queue_t *q);
/* Cheap test before encoding: false when the queue is certainly full for one
 * more request of `items` items (given `held` bytes in flight). */
bool oe_queue_has_room(const oe_queue_t *q, size_t items, size_t held);
/* Appends r when it fits: the sizer's capacity and max_bytes (counting `held`,
 * the memory of requests already taken out and still in flight). A request
 * larger than either bound alone is accepted only when nothing else is held,
 * so that it can still be sent. Returns 0 (the queue owns r) or VG_EFULL
 * (the caller keeps r). */
int oe_queue_push(oe_queue_t *q, oe_req_t *r, size_t held);
/* Appends r whatever the bounds (the caller checked them). */
void oe_queue_append(oe_queue_t *q, oe_req_t *r);
/* Removes and returns the oldest request, or NULL. */
oe_req_t *oe_queue_pop(oe_queue_t *q);
/* Frees everything queued; returns the items per signal through `items`
 * (array of VG_SIG_COUNT, may be NULL). */
void oe_queue_clear(oe_queue_t *q, uint64_t *items);

/* ---- retry, status and classification (otlpexp_retry.c) ------------------- */

/* The exponential backoff of the Collector's retry_on_failure (same algorithm
 * as cenkalti/backoff): the next delay is `interval` randomized by ±factor
 * (rnd in [0,1) picks the point), then interval *= multiplier up to
 * max_interval. Returns the delay in ns, or -1 when elapsed + delay would
 * pass max_elapsed_time (give up). `*interval` 0 means "start". */
int64_t oe_backoff_next(const oe_retry_cfg_t *cfg, int64_t *interval, int64_t elapsed_ns, double rnd);

/* xorshift64* random numbers in [0,1), state per exporter instance. */
double oe_rand01(uint64_t *state);

typedef enum { OE_OK = 0, OE_RETRY, OE_PERMANENT } oe_verdict_t;
enum { OE_TAB_GRPC = 0, OE_TAB_HTTP };

typedef struct {
    int table; /* OE_TAB_GRPC or OE_TAB_HTTP */
    int code;
    const char *name;
    oe_verdict_t verdict;
} oe_status_row_t;

/* The one classification table (gRPC codes, then the HTTP statuses that are
 * not permanent). NULL-name terminated. */
extern const oe_status_row_t oe_status_table[];
/* gRPC status → verdict. RESOURCE_EXHAUSTED retries only with RetryInfo. */
oe_verdict_t oe_classify_grpc(int code, bool has_retry_info);
/* HTTP status of an OTLP/HTTP answer → verdict (2xx OK; 429/502/503/504 retry). */
oe_verdict_t oe_classify_http(long status);
/* A gRPC call answered with a non-200 HTTP status: the gRPC code it means. */
int oe_grpc_code_from_http(long status);
const char *oe_grpc_code_name(int code);
/* libcurl result of a transfer that got no usable answer → verdict; *conn is
 * set when the failure was the connection itself (reconnect with backoff). */
oe_verdict_t oe_classify_transport(int curlcode, bool *conn);

/* google.rpc.Status (binary protobuf). message points into buf. */
typedef struct {
    int code;
    const char *message;
    size_t message_len;
    bool has_retry_info;
    int64_t retry_delay_ns;
} oe_rpc_status_t;
/* Parses a google.rpc.Status and its details, looking for
 * type.googleapis.com/google.rpc.RetryInfo. 0 or VG_EPARSE. */
int oe_parse_rpc_status(const uint8_t *buf, size_t len, oe_rpc_status_t *out);
/* Base64 (standard or URL-safe, padding optional) into out (at least
 * len*3/4+3 bytes). Returns the decoded length or -1. */
long oe_base64_decode(const char *in, size_t len, uint8_t *out);
/* grpc-message percent-decoding, in place. Returns the new length. */
size_t oe_percent_decode(char *s, size_t len);
/* Retry-After: delta-seconds or an HTTP-date (now_s: current wall clock).
 * Returns the delay in ns, or -1 when absent/invalid. */
int64_t oe_parse_retry_after(const char *v, int64_t now_s);

/* ---- codec (otlpexp_codec.c) ---------------------------------------------- */

typedef struct oe_codec oe_codec_t;
/* proto: OE_PROTO_GRPC (5-byte frame) or OE_PROTO_HTTP; encoding OE_ENC_*;
 * compression OE_COMP_*. NULL on allocation failure. */
oe_codec_t *oe_codec_new(int proto, int encoding, int compression);
void oe_codec_free(oe_codec_t *cd);
/* Encodes one request into a new oe_req_t (batch is only read). 0, VG_ENOMEM,
 * VG_EPARSE (JSON: nesting too deep) or VG_EIO (compressor failed). */
int oe_codec_encode(oe_codec_t *cd, vg_signal_t sig, const ProtobufCMessage *msg, size_t items, oe_req_t **out);
/* Same for a batch: a protobuf request of a batch in wire form is sent as the
 * bytes that came in (concatenated segments), without decoding or packing;
 * otherwise the batch is decoded (VG_ENOMEM when that fails) and encoded. */
int oe_codec_encode_batch(oe_codec_t *cd, vg_batch_t *b, oe_req_t **out);
/* Decompresses gzip or zstd (`enc` "gzip"/"zstd") into a vg_malloc buffer,
 * at most `limit` bytes. 0, VG_ETOOBIG, VG_EPARSE, VG_ENOMEM. */
int oe_decompress(const char *enc, const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outlen);

/* Partial success of an Export*ServiceResponse. */
typedef struct {
    int64_t rejected;
    char message[512];
    bool present;
} oe_partial_t;
/* Decodes a response body (protobuf, or OTLP/JSON when json) of signal sig.
 * 0 or VG_EPARSE / VG_ENOMEM. An empty body is a response without partial
 * success. */
int oe_decode_response(vg_signal_t sig, bool json, const uint8_t *body, size_t len, oe_partial_t *out);

/* ---- the engine (otlpexp_engine.c) --------------------------------------- */

/* The factories' callbacks, shared. proto is taken from the factory type. */
int oe_create(vg_component_t *c, int proto);
int oe_start(vg_component_t *c);
int oe_consume(vg_component_t *c, vg_batch_t *b);
bool oe_ready(vg_component_t *c, vg_signal_t sig);
void oe_shutdown(vg_component_t *c);
bool oe_busy(vg_component_t *c);
void oe_destroy(vg_component_t *c);
void oe_telemetry(vg_component_t *c, vg_telemetry_t *t);

/* The gRPC method path of a signal: "/opentelemetry.proto.collector.trace.v1.TraceService/Export". */
const char *oe_grpc_path(vg_signal_t sig);

#endif
