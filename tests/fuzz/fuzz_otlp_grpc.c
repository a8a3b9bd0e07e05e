/* Fuzzes the otlp receiver without sockets: bytes go into its HTTP/2 server
 * session (receivers/otlp/otlp_h2.c with the gRPC or the OTLP/HTTP protocol on
 * top) through a stub I/O layer, in chunks, with a pipeline that accepts,
 * pushes back or rejects; then the session's timers run far in the future
 * (request timeouts, keepalive), it is shut down and freed. Or, in decode
 * mode, the bytes are a gRPC request body that goes through framing,
 * decompression and the protobuf pre-check and unpacking.
 *
 * Input: byte 0 = flags
 *   bit 0     0: gRPC session, 1: OTLP/HTTP session (h2c on the HTTP port)
 *   bits 1-2  pipeline: 0 accept, 1 VG_EFULL, 2 VG_EPARSE, 3 alternate
 *   bits 3-5  chunk size: 1 << n bytes per feed (1..128), 7 = everything at once
 *   bit 6     do not prepend the client preface
 *   bit 7     decode mode: the rest is a gRPC body (byte 1 picks the signal and
 *             whether the message is gzip/zstd/deflate compressed)
 * then the stream. */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp_json.h"
#include "receivers/otlp/otlp_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern const vg_factory_t vg_otlp_receiver_factory;

typedef struct {
    int closed, reading;
    unsigned sum;
    size_t written;
} fio_t;

static int f_write(void *io, const uint8_t *d, size_t n)
{
    fio_t *f = io;
    if (f->closed) return VG_ESHUTDOWN;
    for (size_t i = 0; i < n; i++) f->sum += d[i]; /* ASan sees stale buffers */
    f->written += n;
    return 0;
}
static size_t f_queued(void *io) { (void)io; return 0; }
static void f_read(void *io, int on) { ((fio_t *)io)->reading = on; }
static void f_close(void *io, int abort_it) { (void)abort_it; ((fio_t *)io)->closed = 1; }
static const otlp_h2_io_t fio_ops = { f_write, f_queued, f_read, f_close };

typedef struct {
    int mode, calls;
} sink_t;

static int sink_consume(vg_consumer_t *self, vg_batch_t *b)
{
    sink_t *s = self->ud;
    /* touch the batch like a downstream component would; the receiver's check
     * counted the items without unpacking: protobuf-c must agree */
    const ProtobufCMessage *req = vg_batch_req(b);
    if (!req && vg_batch_err(b) != VG_ENOMEM) abort(); /* the check let in what cannot be decoded */
    if (req && vg_otlp_count_items(b->signal, req) != b->items) abort();
    vg_batch_unref(b);
    int m = s->mode == 3 ? s->calls % 3 : s->mode;
    s->calls++;
    return m == 0 ? 0 : m == 1 ? VG_EFULL : VG_EPARSE;
}

/* The check's memory estimate must bound what protobuf-c really allocates:
 * a checked request is decoded later in the pipeline, under that bound. */
typedef struct {
    size_t bytes;
    vg_arena_t *arena;
} counting_t;
static void *count_alloc(void *ud, size_t n)
{
    counting_t *c = ud;
    c->bytes += (n + 15) & ~(size_t)15;
    return vg_arena_alloc(c->arena, n);
}
static void count_free(void *ud, void *p) { (void)ud; (void)p; }

static void estimate_bounds_unpack(vg_signal_t sig, const uint8_t *m, size_t len)
{
    const ProtobufCMessageDescriptor *d = vg_otlp_request_descriptor(sig);
    size_t mem = 0;
    if (otlp_pb_check(d, m, len, &mem, NULL, NULL, 0) != 0) return;
    counting_t c = { 0, vg_arena_new() };
    if (!c.arena) abort();
    ProtobufCAllocator a = { count_alloc, count_free, &c };
    if (!protobuf_c_message_unpack(d, &a, len, m)) abort(); /* checked but not decodable */
    if (c.bytes > mem) abort();                                /* estimate below the real cost */
    vg_arena_destroy(c.arena);
}

static void decode_mode(otlp_recv_t *r, const uint8_t *data, size_t size)
{
    if (size < 1) return;
    vg_signal_t sig = (vg_signal_t)(data[0] % 3);
    otlp_comp_t comp = (otlp_comp_t)((data[0] >> 2) % 4);
    otlp_req_t q = { OTLP_PROTO_GRPC, sig, OTLP_ENC_PROTO, OTLP_COMP_NONE, NULL, 0, 1u << 20, NULL };
    char msg[320];
    int compressed = 0;
    const uint8_t *m;
    size_t ml;
    if (otlp_grpc_frame_parse(data + 1, size - 1, r->grpc_limit, &compressed, &m, &ml, msg, sizeof msg) != 0) {
        /* not a frame: take the bytes as the message itself */
        m = data + 1;
        ml = size - 1;
        compressed = comp != OTLP_COMP_NONE;
    }
    q.comp = compressed ? (comp ? comp : OTLP_COMP_GZIP) : OTLP_COMP_NONE;
    if (q.comp == OTLP_COMP_NONE) estimate_bounds_unpack(sig, m, ml);
    q.body = m;
    q.len = ml;
    otlp_res_t res;
    otlp_handle(r, &q, &res);
    /* the JSON decoder too */
    q.enc = OTLP_ENC_JSON;
    q.comp = OTLP_COMP_NONE;
    otlp_handle(r, &q, &res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    vg_log_set_level(VG_LOG_OFF); /* the receiver logs rejections; not useful here */
    uint8_t flags = data[0];
    data++;
    size--;
    const vg_factory_t *f = &vg_otlp_receiver_factory;
    vg_component_t c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.id = "otlp";
    c.cfg = vg_calloc(1, f->config_size);
    if (!c.cfg || vg_options_defaults(f->options, c.cfg) != 0) abort();
    otlp_cfg_t *cfg = c.cfg;
    cfg->protocols.grpc_set = cfg->protocols.http_set = true;
    cfg->protocols.grpc.max_recv_msg_size_mib = 1;
    cfg->protocols.http.max_request_body_size = 1u << 20;
    sink_t sink = { (flags >> 1) & 3, 0 };
    vg_consumer_t cons = { .consume = sink_consume, .ud = &sink };
    for (int s = 0; s < VG_SIG_COUNT; s++) c.next[s] = &cons;
    otlp_recv_t *r = vg_calloc(1, sizeof *r);
    if (!r || otlp_recv_init(r, &c) != 0) abort();
    c.state = r;

    if (flags & 0x80) {
        decode_mode(r, data, size);
    } else {
        fio_t io = { 0, 1, 0, 0 };
        int kind = (flags & 1) ? OTLP_PROTO_HTTP : OTLP_PROTO_GRPC;
        otlp_h2_t *h = otlp_h2_new(r, kind, &fio_ops, &io, NULL);
        if (!h) abort();
        static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        if (!(flags & 0x40)) otlp_h2_feed(h, preface, sizeof preface - 1);
        unsigned shift = (flags >> 3) & 7;
        size_t chunk = shift == 7 ? size : (size_t)1 << shift;
        if (!chunk) chunk = 1;
        for (size_t off = 0; off < size && !io.closed; off += chunk)
            otlp_h2_feed(h, data + off, size - off < chunk ? size - off : chunk);
        uint64_t now = otlp_now_ms(r);
        otlp_h2_tick(h, now + 60 * 1000);      /* request timeouts */
        otlp_h2_tick(h, now + 3 * 3600 * 1000); /* keepalive ping */
        otlp_h2_tick(h, now + 4 * 3600 * 1000); /* ping not answered */
        otlp_h2_shutdown(h);
        otlp_h2_free(h);
        if (r->h2_live != 0 || r->h2s) abort();
    }
    otlp_recv_free_paths(r);
    vg_free(r);
    vg_options_free(f->options, c.cfg);
    vg_free(c.cfg);
    return 0;
}
