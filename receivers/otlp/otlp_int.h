/* The otlp receiver's internals, shared by its files:
 *
 *   otlp.c         factory, option table, lifecycle, self-telemetry
 *   otlp_status.c  the one mapping from vg_errno_t (and where it happened) to
 *                  gRPC status codes and HTTP statuses, and the encoders of
 *                  error answers (google.rpc.Status, RetryInfo, grpc-message)
 *   otlp_decode.c  decompression with limits, gRPC message framing, the
 *                  protobuf pre-check (well-formedness, UTF-8, id lengths,
 *                  nesting, memory estimate) and unpacking, and otlp_handle():
 *                  one request in, one batch to the pipeline, one result out
 *   otlp_h2.c      HTTP/2 server sessions (nghttp2) over a vg_conn or a stub:
 *                  streams, flow control, admission, keepalive, timeouts
 *   otlp_grpc.c    gRPC semantics on HTTP/2 streams, the gRPC listener
 *   otlp_http.c    OTLP/HTTP over HTTP/1.1 (collector/net/http_server.h) and
 *                  over HTTP/2 streams (h2c on the same port)
 *
 * Everything runs on the loop that owns the receiver instance. */
#ifndef VIGIL_RECEIVERS_OTLP_INT_H
#define VIGIL_RECEIVERS_OTLP_INT_H

#include "component.h"
#include "net/conn.h"
#include "net/http_server.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration (option tables in otlp.c) ------------------------------ */

enum { OTLP_TRANSPORT_TCP = 0, OTLP_TRANSPORT_TCP4, OTLP_TRANSPORT_TCP6, OTLP_TRANSPORT_UNIX };

typedef struct {
    char *cert_file, *key_file, *client_ca_file;
    int min_version; /* index into "1.2", "1.3" */
} otlp_tls_cfg_t;

typedef struct {
    int64_t max_connection_idle, max_connection_age, max_connection_age_grace, time, timeout; /* ns */
} otlp_ka_server_cfg_t;

typedef struct {
    int64_t min_time; /* ns */
    bool permit_without_stream;
} otlp_ka_policy_cfg_t;

typedef struct {
    otlp_ka_server_cfg_t server_parameters;
    otlp_ka_policy_cfg_t enforcement_policy;
} otlp_keepalive_cfg_t;

typedef struct {
    char *endpoint;
    int transport;
    otlp_tls_cfg_t tls;
    bool tls_set;
    int64_t max_recv_msg_size_mib;
    int64_t max_concurrent_streams;
    int64_t read_buffer_size, write_buffer_size; /* accepted for compatibility */
    otlp_keepalive_cfg_t keepalive;
    int64_t max_connections;
    int64_t request_timeout; /* ns */
} otlp_grpc_cfg_t;

typedef struct {
    char *endpoint;
    int transport;
    otlp_tls_cfg_t tls;
    bool tls_set;
    uint64_t max_request_body_size;
    char *traces_url_path, *metrics_url_path, *logs_url_path;
    int64_t read_timeout, idle_timeout; /* ns */
    int64_t max_connections;
    int64_t max_concurrent_streams;
} otlp_http_cfg_t;

typedef struct {
    otlp_grpc_cfg_t grpc;
    bool grpc_set;
    otlp_http_cfg_t http;
    bool http_set;
} otlp_protocols_cfg_t;

typedef struct {
    otlp_protocols_cfg_t protocols;
} otlp_cfg_t;

/* ---- requests ----------------------------------------------------------------- */

enum { OTLP_PROTO_GRPC = 0, OTLP_PROTO_HTTP = 1, OTLP_PROTO_COUNT = 2 };
typedef enum { OTLP_ENC_PROTO = 0, OTLP_ENC_JSON = 1 } otlp_enc_t;
typedef enum { OTLP_COMP_NONE = 0, OTLP_COMP_GZIP, OTLP_COMP_ZSTD, OTLP_COMP_DEFLATE } otlp_comp_t;

/* Where a failure happened; together with the vg_errno_t it picks the answer. */
typedef enum {
    OTLP_AT_PATH = 0,   /* unknown URL path or gRPC method; no pipeline for the signal */
    OTLP_AT_METHOD,     /* HTTP method other than POST */
    OTLP_AT_MEDIA_TYPE, /* Content-Type not supported */
    OTLP_AT_ENCODING,   /* Content-Encoding / grpc-encoding not supported */
    OTLP_AT_BODY,       /* receiving, decompressing or decoding the request */
    OTLP_AT_PIPELINE,   /* vg_component_emit() said so */
    OTLP_AT_COUNT
} otlp_origin_t;

/* ---- status mapping (otlp_status.c) -------------------------------------------- */

/* google.rpc.Code values used here. */
enum {
    OTLP_GRPC_OK = 0, OTLP_GRPC_CANCELLED = 1, OTLP_GRPC_UNKNOWN = 2, OTLP_GRPC_INVALID_ARGUMENT = 3,
    OTLP_GRPC_DEADLINE_EXCEEDED = 4, OTLP_GRPC_NOT_FOUND = 5, OTLP_GRPC_PERMISSION_DENIED = 7,
    OTLP_GRPC_RESOURCE_EXHAUSTED = 8, OTLP_GRPC_UNIMPLEMENTED = 12, OTLP_GRPC_INTERNAL = 13,
    OTLP_GRPC_UNAVAILABLE = 14, OTLP_GRPC_UNAUTHENTICATED = 16,
};

/* Seconds a client is asked to wait before retrying a refused request
 * (RetryInfo.retry_delay, Retry-After). */
#define OTLP_RETRY_AFTER_S 1

typedef struct {
    int grpc;          /* google.rpc.Code for grpc-status */
    int http;          /* HTTP status for OTLP/HTTP (and :status of a gRPC answer when grpc_http) */
    int retry_after_s; /* > 0: retryable; RetryInfo / Retry-After carry it */
    bool grpc_http;    /* gRPC answer uses `http` as :status (not a gRPC request at all) */
} otlp_status_t;

/* The mapping table: err 0 (success) or a negative vg_errno_t, and where it happened. */
otlp_status_t otlp_status_map(int err, otlp_origin_t at);
const char *otlp_grpc_code_name(int code);
const char *otlp_origin_name(otlp_origin_t at);

/* grpc-message value: percent-encodes bytes outside 0x20..0x7e and '%'. Writes
 * at most len-1 chars plus NUL (truncating whole escapes); returns the length. */
size_t otlp_grpc_message_encode(const char *msg, char *out, size_t len);
/* grpc-status-details-bin value for a google.rpc.Status {code, message,
 * details: [RetryInfo{retry_delay: delay_s}]} (unpadded base64). NUL-terminated
 * in a vg_malloc buffer; NULL on allocation failure. */
char *otlp_grpc_status_details(int code, const char *msg, int delay_s);
/* Body of an OTLP/HTTP error answer: google.rpc.Status {code, message} as
 * protobuf or JSON. vg_malloc'd; *len set; NULL on allocation failure. */
char *otlp_http_status_body(otlp_enc_t enc, int code, const char *msg, size_t *len);

/* ---- decoding (otlp_decode.c) ---------------------------------------------------- */

typedef struct {
    size_t peak_alloc; /* largest output buffer allocated */
} otlp_decomp_stats_t;

/* Decompresses `in` into a new vg_malloc buffer of at most `limit` bytes of
 * output; the output buffer never grows past limit + 1 bytes, whatever the
 * input claims (a gzip bomb costs at most that much memory). COMP_NONE:
 * *out = NULL and the input is the message (checked against limit).
 * Returns 0, VG_ETOOBIG (more than `limit` bytes), VG_EPARSE (corrupt or
 * truncated data, trailing garbage) or VG_ENOMEM; err names the problem.
 * stats may be NULL. */
int otlp_decompress(otlp_comp_t comp, const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outlen,
                    otlp_decomp_stats_t *stats, char *err, size_t errlen);
const char *otlp_comp_name(otlp_comp_t c);
/* "gzip", "x-gzip", "zstd", "deflate", "identity", "" (none). 0 or VG_EUNSUPPORTED. */
int otlp_comp_parse(const char *s, otlp_comp_t *out);

/* gRPC length-prefixed message framing (1 flag byte, 4-byte big-endian length).
 * Checks that `body` is exactly one message: 0 and *compressed, *msg, *msglen;
 * VG_EPARSE (no message, truncated, bad flag, trailing bytes) or VG_ETOOBIG
 * (declared length over `limit`); err names the problem. */
int otlp_grpc_frame_parse(const uint8_t *body, size_t len, size_t limit, int *compressed, const uint8_t **msg,
                          size_t *msglen, char *err, size_t errlen);
/* Writes a 5-byte frame header. */
void otlp_grpc_frame_header(uint8_t hdr[5], int compressed, uint32_t len);
/* Declared message length once 5 bytes are there: 0 and *msglen, or VG_EAGAIN-like 1 when fewer
 * than 5 bytes, VG_EPARSE for a bad flag byte. */
int otlp_grpc_frame_peek(const uint8_t *body, size_t len, size_t *msglen);

/* Memory a decoded request may take, relative to its encoded size. */
#define OTLP_DECODE_AMPLIFICATION 16
#define OTLP_DECODE_SLACK (1u << 20)
/* Deepest message nesting accepted in protobuf (stack safety for unpacking). */
#define OTLP_PB_MAX_DEPTH 200

/* Checks an encoded protobuf request before unpacking it: well-formed
 * varints, lengths and wire types for every known field, valid UTF-8 without
 * NUL in strings, trace ids of 16 and span ids of 8 bytes (or empty), AnyValue
 * nesting within VG_OTLP_JSON_MAX_DEPTH, and an upper bound of the memory
 * protobuf-c will allocate (*mem). 0, VG_EPARSE (err names the field path) or
 * VG_EINVAL. */
int otlp_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, size_t *mem, size_t *items,
                  char *err, size_t errlen);
/* Decodes one request body (decompressed) of `enc` into `arena`: protobuf is
 * pre-checked (otlp_pb_check), refused with VG_ETOOBIG when it would need more
 * than OTLP_DECODE_AMPLIFICATION * len + OTLP_DECODE_SLACK bytes, then
 * unpacked with an allocator capped at that; JSON goes to the OTLP/JSON
 * codec. 0, VG_EPARSE, VG_ETOOBIG or VG_ENOMEM; err names the problem. */
int otlp_decode_request(vg_signal_t sig, otlp_enc_t enc, const uint8_t *data, size_t len, vg_arena_t *arena,
                        ProtobufCMessage **out, char *err, size_t errlen);
/* Items in an encoded request found by walking only the fields that lead to
 * them (no validation: for counting what is refused without decoding it; a
 * malformed request counts what was found before the damage). */
size_t otlp_pb_count_items(vg_signal_t sig, const uint8_t *data, size_t len);
/* One request body (decompressed) as a new batch: protobuf is checked as
 * above and kept in wire form (not unpacked; see collector/batch.h), JSON is
 * decoded. Same results as otlp_decode_request. */
int otlp_decode_batch(vg_signal_t sig, otlp_enc_t enc, const uint8_t *data, size_t len, vg_batch_t **out, char *err,
                      size_t errlen);

/* ---- the receiver instance --------------------------------------------------------- */

typedef struct otlp_h2 otlp_h2_t;

/* Per protocol and signal. */
enum { OTLP_OUT_ACCEPTED = 0, OTLP_OUT_REFUSED, OTLP_OUT_REJECTED, OTLP_OUT_COUNT };
#define OTLP_SIZE_BUCKETS 10
typedef struct {
    uint64_t requests[OTLP_OUT_COUNT];
    uint64_t items[OTLP_OUT_COUNT];
    uint64_t wire_bytes, body_bytes;
    uint64_t shed; /* refused before decoding: the pipeline was pushing back */
    uint64_t size_hist[OTLP_SIZE_BUCKETS + 1]; /* decompressed request bytes */
} otlp_pstats_t;

typedef struct otlp_recv {
    vg_component_t *c;
    const otlp_cfg_t *cfg;
    uv_loop_t *loop;
    /* gRPC */
    vg_listener_t *grpc_l;
    bool grpc_open;
    size_t grpc_limit;        /* max_recv_msg_size_mib in bytes */
    /* HTTP */
    vg_http_server_t *http_srv;
    bool http_open;
    char *paths[VG_SIG_COUNT];
    /* HTTP/2 connections of both ports */
    otlp_h2_t *h2s;
    size_t h2_live;
    uv_timer_t tick;
    bool tick_open;
    uint64_t tick_ms;
    bool shutting;
    uint64_t shutdown_ms;
    uint64_t drain_ms;        /* how long connections may finish at shutdown */
    /* telemetry */
    otlp_pstats_t st[OTLP_PROTO_COUNT][VG_SIG_COUNT];
    uint64_t unrouted[OTLP_PROTO_COUNT];      /* no signal: unknown path, method */
    uint64_t h2_conns[OTLP_PROTO_COUNT];      /* HTTP/2 connections served */
    uint64_t stream_timeouts, keepalive_closes, h2_errors;
} otlp_recv_t;

extern const double otlp_size_buckets[OTLP_SIZE_BUCKETS];

/* Shutting down and every listener and connection closed: closes the timer. */
void otlp_recv_maybe_done(otlp_recv_t *r);
/* Sets defaults that do not need I/O (limits, paths); used by start and the fuzz target. */
int otlp_recv_init(otlp_recv_t *r, vg_component_t *c);
void otlp_recv_free_paths(otlp_recv_t *r);

typedef struct {
    int proto;            /* OTLP_PROTO_* */
    vg_signal_t sig;
    otlp_enc_t enc;
    otlp_comp_t comp;
    const uint8_t *body;  /* the message as received (maybe compressed) */
    size_t len;
    size_t limit;         /* bytes after decompression */
    const vg_peer_t *peer;
} otlp_req_t;

typedef struct {
    int err;              /* 0 or a negative vg_errno_t */
    otlp_origin_t at;
    size_t items;
    char msg[320];
} otlp_res_t;

/* Decompresses, decodes, wraps one batch (with the peer), emits it and counts
 * the outcome. Returns after the pipeline answered; res says how it went. */
void otlp_handle(otlp_recv_t *r, const otlp_req_t *q, otlp_res_t *res);
/* Counts a request that failed before decoding (known signal) or was not routed (sig < 0). */
void otlp_count_early(otlp_recv_t *r, int proto, int sig);

/* ---- HTTP/2 sessions (otlp_h2.c) ------------------------------------------------------ */

typedef struct otlp_stream otlp_stream_t;

/* The I/O below a session: a vg_conn, or a stub in the fuzz target. */
typedef struct {
    int (*write)(void *io, const uint8_t *data, size_t len);
    size_t (*queued)(void *io);
    void (*read_enable)(void *io, int on);
    void (*close)(void *io, int abort);
} otlp_h2_io_t;

/* Request fields gathered from the HEADERS of a stream. */
typedef struct {
    char method[16];
    char path[192];
    char ctype[96];
    char cenc[48];      /* content-encoding, or grpc-encoding for gRPC */
    char grpc_timeout[24];
    int64_t content_length; /* -1: none */
    bool path_long;     /* longer than path[] holds */
} otlp_h2_headers_t;

/* Protocol semantics on top of the HTTP/2 engine. */
typedef struct {
    /* Headers complete. Return 0 to receive the body (after setting the
     * stream's limit and request fields with otlp_stream_set), or answer with
     * otlp_h2_respond and return nonzero. */
    int (*on_headers)(otlp_h2_t *h, otlp_stream_t *s, const otlp_h2_headers_t *hd);
    /* More body arrived (optional). Return 0, or answer and return nonzero. */
    int (*on_data)(otlp_h2_t *h, otlp_stream_t *s, const uint8_t *body, size_t len);
    /* The request is complete: answer it. */
    void (*on_request)(otlp_h2_t *h, otlp_stream_t *s, const uint8_t *body, size_t len);
    /* Answer a failure (err, at) with message msg. */
    void (*on_error)(otlp_h2_t *h, otlp_stream_t *s, int err, otlp_origin_t at, const char *msg);
} otlp_h2_proto_t;

extern const otlp_h2_proto_t otlp_grpc_proto;
extern const otlp_h2_proto_t otlp_http_h2_proto;

/* Creates a session for protocol `kind` (OTLP_PROTO_*) and submits the server
 * SETTINGS; the caller then feeds bytes. Linked into r->h2s. NULL on
 * allocation failure. */
otlp_h2_t *otlp_h2_new(otlp_recv_t *r, int kind, const otlp_h2_io_t *io, void *io_ctx, const vg_peer_t *peer);
/* Bytes from the peer; answers are written through io before it returns. */
void otlp_h2_feed(otlp_h2_t *h, const uint8_t *data, size_t len);
/* Output drained (some of it): resume reading if it was paused. */
void otlp_h2_written(otlp_h2_t *h);
/* Timers: stream deadlines, keepalive pings, idle/age limits, drain deadline. */
void otlp_h2_tick(otlp_h2_t *h, uint64_t now_ms);
/* Graceful stop: GOAWAY, finish the streams already started, then close. */
void otlp_h2_shutdown(otlp_h2_t *h);
/* The I/O is gone: frees the session and its streams; unlinks it. */
void otlp_h2_free(otlp_h2_t *h);
int otlp_h2_closing(const otlp_h2_t *h);
otlp_h2_t *otlp_h2_next(const otlp_h2_t *h); /* the receiver's list */

/* Binds a new session to an accepted (and started, or handed-off) conn:
 * installs the conn handler and feeds `data`. */
int otlp_h2_attach(otlp_recv_t *r, int kind, vg_conn_t *conn, const char *data, size_t len);

/* For protocol code. */
otlp_recv_t *otlp_h2_recv(const otlp_h2_t *h);
const vg_peer_t *otlp_h2_peer(const otlp_h2_t *h);
/* Request fields a protocol keeps on the stream. */
typedef struct {
    bool routed;       /* sig is known (for counting failures) */
    vg_signal_t sig;
    otlp_enc_t enc;
    otlp_comp_t comp;
    size_t limit;      /* most body bytes accepted (as received) */
    size_t need;       /* body bytes expected when known, else 0 */
    uint64_t deadline_ms; /* 0: the receiver's request timeout */
} otlp_stream_req_t;
otlp_stream_req_t *otlp_stream_req(otlp_stream_t *s);
/* Submits the answer: headers, optional body, optional trailers (copied).
 * With no body and trailers, the trailers' fields are sent in the HEADERS
 * frame (gRPC Trailers-Only). When the client has not finished sending, the
 * rest of its body is discarded (window given back at once) and the stream is
 * reset with NO_ERROR if it is still open a request timeout later, or right
 * after the answer when the answer is a timeout. 0 or VG_ENOMEM. */
int otlp_h2_respond(otlp_h2_t *h, otlp_stream_t *s, const nghttp2_nv *hdrs, size_t nh, const void *body,
                    size_t len, const nghttp2_nv *trl, size_t nt);

#define OTLP_NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

/* ---- gRPC and HTTP (otlp_grpc.c, otlp_http.c) -------------------------------------------- */

int otlp_grpc_start(otlp_recv_t *r, char *err, size_t errlen);
void otlp_grpc_stop(otlp_recv_t *r);
int otlp_http_start(otlp_recv_t *r, char *err, size_t errlen);
void otlp_http_stop(otlp_recv_t *r);

/* OTLP/HTTP request routing shared by HTTP/1.1 and HTTP/2: 0 with the
 * signal, encoding and compression; or the failure (err, at, message). */
typedef struct {
    vg_signal_t sig;
    otlp_enc_t enc;
    otlp_comp_t comp;
} otlp_route_t;
int otlp_http_route(otlp_recv_t *r, const char *method, const char *path, const char *ctype, const char *cenc,
                    otlp_route_t *rt, otlp_origin_t *at, char *msg, size_t msglen);

/* Listener TLS context from a tls: block. */
int otlp_tls_ctx(const otlp_tls_cfg_t *t, SSL_CTX **out, char *err, size_t errlen);
/* Parses the endpoint for a transport index. */
int otlp_endpoint(const char *text, int transport, vg_endpoint_t *ep, char *err, size_t errlen);

uint64_t otlp_now_ms(const otlp_recv_t *r);

#endif
