/* Fuzzes the HTTP/1.1 engine (collector/net/http_session.h) without sockets:
 * the bytes are fed in chunks to a session bound to a stub io layer, with the
 * handler answering at once or holding requests and answering between
 * chunks (pipelining, deferral, output back-pressure, cancel on teardown).
 *
 * Input: byte 0 = flags (bit 0: hold answers; bits 1-3: chunk size 1..128;
 * bit 4: answer HEAD-style 204s; bit 5: slow output), then the stream. */
#include "error.h"
#include "mem.h"
#include "net/http_session.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t queued;
    unsigned sum;
    int closed, h2, deferred, reading, timer_armed, busy;
    int hold, nocontent, slow;
    vg_http_request_t *held;
    vg_http_session_t *s;
} fio_t;

static int f_write(void *io, const uv_buf_t *bufs, unsigned n)
{
    fio_t *f = io;
    if (f->closed) return VG_ESHUTDOWN;
    for (unsigned i = 0; i < n; i++) {
        if (bufs[i].len && !bufs[i].base) abort();
        for (size_t j = 0; j < bufs[i].len; j++) f->sum += (unsigned char)bufs[i].base[j]; /* ASan sees stale buffers */
        f->queued += bufs[i].len;
    }
    return 0;
}
static size_t f_queued(void *io) { return ((fio_t *)io)->queued; }
static void f_read(void *io, int on) { ((fio_t *)io)->reading = on; }
static void f_timer(void *io, uint64_t ms) { ((fio_t *)io)->timer_armed = ms != 0; }
static void f_defer(void *io) { ((fio_t *)io)->deferred = 1; }
static void f_busy(void *io, int b) { ((fio_t *)io)->busy = b; }
static void f_close(void *io) { ((fio_t *)io)->closed = 1; }
static void f_h2(void *io, const char *d, size_t len)
{
    (void)d;
    if (len < 24) abort();
    ((fio_t *)io)->h2 = 1;
}

static const vg_http_io_t fio_ops = { f_write, f_queued, f_read, f_timer, f_defer, f_busy, f_close, f_h2 };

static void answer(fio_t *f, vg_http_request_t *req)
{
    size_t blen;
    const char *body = vg_http_request_body(req, &blen);
    const char *path = vg_http_request_path(req);
    const char *q = vg_http_request_query(req);
    const char *m = vg_http_request_method(req);
    const char *h = vg_http_request_header(req, "content-type");
    size_t n = vg_http_request_header_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (vg_http_request_header_at(req, i, &k, &v) != 0 || !k || !v) abort();
        (void)strlen(k);
        (void)strlen(v);
    }
    if (!path || !q || !m || !body || (blen && body[blen - 1] == 0x7f && h)) {
        /* touch everything; nothing to do */
    }
    if (blen > 8 && body[0] == 't') {
        size_t tl;
        char *taken = vg_http_request_take_body(req, &tl);
        if (tl != blen) abort();
        vg_free(taken);
        body = vg_http_request_body(req, &blen);
        if (blen != 0) abort();
    }
    vg_http_respond(req, f->nocontent ? 204 : 200, h ? h : "text/plain", "X-A: b", body, blen);
}

static void on_req(vg_http_request_t *req, void *arg)
{
    fio_t *f = arg;
    if (f->hold && !f->held) {
        f->held = req;
        return;
    }
    answer(f, req);
}

static void on_cancel(vg_http_request_t *req, void *arg)
{
    fio_t *f = arg;
    if (req != f->held) abort();
    f->held = NULL;
    vg_http_respond(req, 200, NULL, NULL, NULL, 0); /* no-op, frees */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fio_t f;
    memset(&f, 0, sizeof f);
    f.reading = 1;
    f.hold = data[0] & 1;
    size_t chunk = (size_t)1 << ((data[0] >> 1) & 7);
    f.nocontent = (data[0] >> 4) & 1;
    f.slow = (data[0] >> 5) & 1;
    data++;
    size--;

    vg_http_stats_t stats;
    memset(&stats, 0, sizeof stats);
    vg_http_session_cfg_t cfg = {
        .max_request_body_size = 4096,
        .max_header_size = 2048,
        .request_timeout_ms = 1000,
        .max_pipeline_buffer = 1024,
        .max_output_buffer = 1024,
        .h2_enabled = (chunk & 2) != 0,
        .on_request = on_req,
        .on_cancel = on_cancel,
        .arg = &f,
        .stats = &stats,
    };
    vg_http_session_cfg_defaults(&cfg);
    vg_http_session_t *s = NULL;
    if (vg_http_session_new(&cfg, &fio_ops, &f, NULL, &s) != 0) return 0;
    f.s = s;

    size_t off = 0;
    int stalls = 0;
    while (off < size && !vg_http_session_done(s)) {
        if (f.reading) {
            size_t n = size - off < chunk ? size - off : chunk;
            vg_http_session_feed(s, (const char *)data + off, n);
            off += n;
            stalls = 0;
        } else if (++stalls > 64) {
            break; /* the session stopped reading and nothing we can do resumes it */
        }
        /* the "loop": drain output, answer held requests, run deferred work */
        if (f.queued) f.queued = f.slow ? f.queued / 2 : 0;
        if (f.held && !f.closed) {
            vg_http_request_t *r = f.held;
            f.held = NULL;
            answer(&f, r);
        }
        if (f.deferred || f.queued < 1024) {
            f.deferred = 0;
            vg_http_session_resume(s);
        }
    }
    if (f.timer_armed) vg_http_session_timeout(s);
    vg_http_session_drain(s);
    if (f.held && !vg_http_session_done(s)) {
        vg_http_request_t *r = f.held;
        f.held = NULL;
        answer(&f, r);
    }
    vg_http_session_free(s); /* cancels a held request */
    if (f.held) abort();
    if (stats.responses > stats.requests + 1 + stats.bad_requests + stats.too_large + stats.timeouts) abort();
    return 0;
}
