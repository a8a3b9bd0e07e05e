/* The HTTP/1.1 engine alone (collector/net/http_session.h) with a stub io
 * layer: deterministic checks of back-pressure decisions, timers, headers,
 * and a failmalloc sweep (every allocation fails in turn, nothing crashes or
 * leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "mem.h"
#include "net/http_session.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char out[16384];
    size_t out_len;
    size_t queued;      /* not yet "taken by the peer" */
    int reading, timer_ms_set, defers, busy, closed, h2;
    uint64_t timer_ms;
    int hold;           /* keep requests instead of answering */
    vg_http_request_t *held;
    int requests, cancels;
    char seen[1024];
} stub_t;

static int s_write(void *io, const uv_buf_t *b, unsigned n)
{
    stub_t *s = io;
    if (s->closed) return VG_ESHUTDOWN;
    for (unsigned i = 0; i < n; i++) {
        size_t room = sizeof s->out - 1 - s->out_len;
        size_t k = b[i].len < room ? b[i].len : room;
        memcpy(s->out + s->out_len, b[i].base, k);
        s->out_len += k;
        s->out[s->out_len] = '\0';
        s->queued += b[i].len;
    }
    return 0;
}
static size_t s_queued(void *io) { return ((stub_t *)io)->queued; }
static void s_read(void *io, int on) { ((stub_t *)io)->reading = on; }
static void s_timer(void *io, uint64_t ms) { ((stub_t *)io)->timer_ms = ms; }
static void s_defer(void *io) { ((stub_t *)io)->defers++; }
static void s_busy(void *io, int b) { ((stub_t *)io)->busy = b; }
static void s_close(void *io) { ((stub_t *)io)->closed = 1; }
static void s_h2(void *io, const char *d, size_t l) { (void)d; (void)l; ((stub_t *)io)->h2 = 1; }
static const vg_http_io_t ops = { s_write, s_queued, s_read, s_timer, s_defer, s_busy, s_close, s_h2 };

static void on_req(vg_http_request_t *req, void *arg)
{
    stub_t *s = arg;
    s->requests++;
    size_t blen;
    const char *body = vg_http_request_body(req, &blen);
    size_t n = strlen(s->seen);
    snprintf(s->seen + n, sizeof s->seen - n, "%s %s ?%s [%.*s]|", vg_http_request_method(req),
             vg_http_request_path(req), vg_http_request_query(req), (int)blen, body);
    if (s->hold) {
        assert_null(s->held);
        s->held = req;
        return;
    }
    vg_http_respond(req, 200, NULL, NULL, "ok", 2);
}

static void on_cancel(vg_http_request_t *req, void *arg)
{
    stub_t *s = arg;
    s->cancels++;
    assert_ptr_equal(req, s->held);
    assert_true(vg_http_request_cancelled(req));
    s->held = NULL;
    assert_int_equal(vg_http_respond(req, 200, NULL, NULL, NULL, 0), VG_ESHUTDOWN);
}

static vg_http_session_cfg_t cfg_for(stub_t *s)
{
    vg_http_session_cfg_t c = { .on_request = on_req, .on_cancel = on_cancel, .arg = s };
    vg_http_session_cfg_defaults(&c);
    return c;
}

static vg_http_session_t *new_session(const vg_http_session_cfg_t *cfg, stub_t *s)
{
    vg_http_session_t *hs = NULL;
    memset(s, 0, sizeof *s);
    s->reading = 1;
    assert_int_equal(vg_http_session_new(cfg, &ops, s, NULL, &hs), 0);
    return hs;
}

static void feed(vg_http_session_t *hs, const char *text) { vg_http_session_feed(hs, text, strlen(text)); }

static void headers_and_url(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    vg_http_session_t *hs = new_session(&cfg, &s);
    s.hold = 1;
    feed(hs, "GET http://example.com:8080/v1/logs?a=1&b=%20 HTTP/1.1\r\nHost: x\r\n"
             "Content-TYPE:\t application/json \t\r\nX-Empty:\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n");
    assert_non_null(s.held);
    vg_http_request_t *r = s.held;
    assert_string_equal(vg_http_request_path(r), "/v1/logs");
    assert_string_equal(vg_http_request_query(r), "a=1&b=%20");
    assert_string_equal(vg_http_request_header(r, "content-type"), "application/json");
    assert_string_equal(vg_http_request_header(r, "X-EMPTY"), "");
    assert_string_equal(vg_http_request_header(r, "X-DUP"), "1");
    assert_null(vg_http_request_header(r, "missing"));
    assert_int_equal(vg_http_request_header_count(r), 5);
    const char *k, *v;
    assert_int_equal(vg_http_request_header_at(r, 4, &k, &v), 0);
    assert_string_equal(k, "X-Dup");
    assert_string_equal(v, "2");
    assert_int_equal(vg_http_request_header_at(r, 5, &k, &v), VG_ENOTFOUND);
    assert_int_equal(vg_http_request_version_minor(r), 1);
    assert_int_equal(vg_http_request_peer(r)->pid, -1);
    assert_int_equal(s.busy, 1);
    vg_http_request_set_user(r, &s);
    assert_ptr_equal(vg_http_request_user(r), &s);
    /* a bad status becomes a 500 */
    assert_int_equal(vg_http_respond(r, 99, NULL, NULL, "x", 1), VG_EINVAL);
    s.held = NULL;
    assert_non_null(strstr(s.out, "HTTP/1.1 500 "));
    assert_int_equal(s.busy, 0);
    vg_http_session_free(hs);
}

static void pipeline_backpressure(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    cfg.max_pipeline_buffer = 256;
    vg_http_session_t *hs = new_session(&cfg, &s);
    s.hold = 1;
    char big[2048] = "";
    for (int i = 0; i < 20; i++) strcat(big, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    feed(hs, "POST /first HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(s.requests, 1);
    feed(hs, big); /* 640 bytes while the handler holds /first */
    assert_int_equal(s.requests, 1);
    assert_int_equal(s.reading, 0); /* over max_pipeline_buffer: stop reading */
    vg_http_request_t *r = s.held;
    s.held = NULL;
    s.hold = 0;
    assert_int_equal(vg_http_respond(r, 202, "text/plain", "Retry-After: 1", NULL, 0), 0);
    assert_int_equal(s.requests, 1); /* nothing dispatched from inside respond */
    assert_int_equal(s.defers, 1);
    vg_http_session_resume(hs);
    assert_int_equal(s.requests, 21);
    assert_int_equal(s.reading, 1);
    assert_non_null(strstr(s.out, "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
                                  "Retry-After: 1\r\n\r\n"));
    vg_http_session_free(hs);
}

static void output_backpressure(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    cfg.max_output_buffer = 30; /* one 40-byte answer is over it */
    vg_http_session_t *hs = new_session(&cfg, &s);
    feed(hs, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    assert_int_equal(s.requests, 1); /* the client is not reading our answers */
    vg_http_session_resume(hs);
    assert_int_equal(s.requests, 1);
    s.queued = 0; /* the peer took them */
    vg_http_session_resume(hs);
    assert_int_equal(s.requests, 2);
    s.queued = 0;
    vg_http_session_resume(hs);
    assert_int_equal(s.requests, 3);
    vg_http_session_free(hs);
}

static void timer_and_continue(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    cfg.request_timeout_ms = 1234;
    vg_http_session_t *hs = new_session(&cfg, &s);
    feed(hs, "POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n");
    assert_int_equal(s.timer_ms, 1234);
    assert_string_equal(s.out, "HTTP/1.1 100 Continue\r\n\r\n");
    feed(hs, "da");
    vg_http_session_timeout(hs);
    assert_true(s.closed);
    assert_non_null(strstr(s.out, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_int_equal(s.timer_ms, 0);
    assert_int_equal(s.requests, 0);
    vg_http_session_free(hs);

    /* a complete request disarms the timer; a late expiry does nothing */
    hs = new_session(&cfg, &s);
    feed(hs, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(s.timer_ms, 0);
    vg_http_session_timeout(hs);
    assert_false(s.closed);
    vg_http_session_drain(hs);
    assert_true(s.closed);
    assert_true(vg_http_session_done(hs));
    vg_http_session_free(hs);
}

static void cancel_on_free(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    vg_http_session_t *hs = new_session(&cfg, &s);
    s.hold = 1;
    feed(hs, "GET /held HTTP/1.1\r\n\r\nGET /partial HTTP/1.1\r\nX: ");
    assert_non_null(s.held);
    vg_http_session_drain(hs); /* answer still owed: stays open */
    assert_false(s.closed);
    vg_http_session_free(hs); /* connection gone */
    assert_int_equal(s.cancels, 1);
    assert_null(s.held);
}

static void drain_answers_with_close(void **state)
{
    (void)state;
    stub_t s;
    vg_http_session_cfg_t cfg = cfg_for(&s);
    vg_http_session_t *hs = new_session(&cfg, &s);
    s.hold = 1;
    feed(hs, "GET /a HTTP/1.1\r\n\r\n");
    vg_http_session_drain(hs);
    vg_http_request_t *r = s.held;
    s.held = NULL;
    assert_int_equal(vg_http_respond(r, 200, NULL, NULL, "x", 1), 0);
    assert_non_null(strstr(s.out, "Connection: close\r\n"));
    assert_true(s.closed);
    vg_http_session_free(hs);
    assert_int_equal(s.cancels, 0);
}

/* Every allocation fails in turn: each run must end cleanly (ASan checks leaks). */
static void failmalloc(void **state)
{
    (void)state;
    static const char *input =
        "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        "GET /b HTTP/1.1\r\n\r\n";
    for (int hold = 0; hold < 2; hold++) {
        int completed = 0;
        for (long n = 1; n < 200 && !completed; n++) {
            stub_t s;
            vg_http_session_cfg_t cfg = cfg_for(&s);
            vg_http_session_t *hs = NULL;
            memset(&s, 0, sizeof s);
            vg_mem_fail_after(n);
            int rc = vg_http_session_new(&cfg, &ops, &s, NULL, &hs);
            if (rc != 0) {
                assert_int_equal(rc, VG_ENOMEM);
                vg_mem_fail_reset();
                continue;
            }
            s.hold = hold;
            size_t total = strlen(input);
            for (size_t off = 0; off < total; off += 7) /* small pieces: more buffering paths */
                vg_http_session_feed(hs, input + off, total - off < 7 ? total - off : 7);
            while (s.held) {
                vg_http_request_t *r = s.held;
                s.held = NULL;
                vg_http_respond(r, 200, NULL, NULL, "ok", 2);
                vg_http_session_resume(hs);
            }
            completed = vg_mem_alloc_count() < n; /* no failure was injected */
            vg_mem_fail_reset();
            vg_http_session_free(hs);
            if (completed) assert_int_equal(s.requests, 3);
        }
        assert_true(completed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_and_url),
        cmocka_unit_test(pipeline_backpressure),
        cmocka_unit_test(output_backpressure),
        cmocka_unit_test(timer_and_continue),
        cmocka_unit_test(cancel_on_free),
        cmocka_unit_test(drain_answers_with_close),
        cmocka_unit_test(failmalloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
