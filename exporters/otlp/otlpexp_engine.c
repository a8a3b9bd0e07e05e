/* The export engine: libcurl's multi interface driven by the instance's libuv
 * loop (one uv_poll_t per socket curl asks for, one uv_timer_t for curl's
 * timeout), a fixed set of consumer slots (sending_queue.num_consumers) that
 * each carry one request through its attempts, and the lifecycle.
 *
 * Ownership: consume() takes the batch reference and releases it at once
 * (the request is encoded into its own body). A request belongs to the queue,
 * then to one slot until it is sent, given up, or counted as dropped at
 * destroy. All gRPC exports share one HTTP/2 connection (CURLPIPE_MULTIPLEX,
 * CURLOPT_PIPEWAIT); connections live in the multi handle's cache and are
 * reused. A connection failure pauses dispatch from the queue for a backoff
 * that grows like the retry schedule (reconnect with backoff).
 *
 * Handles: every uv handle is counted in open_handles; busy() is true while
 * any is open. The handles are closed only when the queue is empty and
 * nothing is in flight after shutdown(); if the drain deadline passes first,
 * the service closes them at exit (or destroy does, after a reload) and
 * destroy() counts what is left as dropped. */
#include "otlpexp.h"

#include "collector/error.h"
#include "collector/log.h"
#include "collector/mem.h"
#include "collector/telemetry.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (64u << 10)    /* answer bytes kept for parsing */
#define DETAILS_MAX 4096        /* base64 grpc-status-details-bin kept */
#define RESP_INFLATE_MAX (4u << 20)

typedef struct oe_exp oe_exp_t;

typedef struct {
    oe_exp_t *e;
    uv_timer_t timer; /* backoff before the next attempt */
    CURL *easy;
    oe_req_t *req; /* NULL: free */
    bool in_multi;
    bool parked; /* waiting for the connection gate (see attempt()) */
    bool reuse;  /* h2c attempt sent as CURL_HTTP_VERSION_2_0 to reuse the connection */
    /* the answer */
    int grpc_status; /* -1: none seen */
    char grpc_msg[256];
    char details[DETAILS_MAX];
    size_t details_len;
    char ctype[64];
    char resp_enc[16];
    int64_t retry_after_ns;
    uint8_t *rbuf;
    size_t rlen, rcap;
    char errbuf[CURL_ERROR_SIZE];
} oe_slot_t;

typedef struct oe_sock {
    oe_exp_t *e;
    uv_poll_t poll;
    curl_socket_t fd;
    bool closing; /* uv_close called by us: the close callback frees */
    struct oe_sock *prev, *next;
} oe_sock_t;

struct oe_exp {
    vg_component_t *c;
    const oe_cfg_t *cfg;
    int proto;
    bool tls;
    oe_codec_t *codec;
    oe_queue_t q;
    oe_slot_t *slots;
    size_t nslots, nbusy;
    size_t *free_idx, nfree;
    size_t held_mem; /* memory of the requests in slots */
    size_t in_multi;  /* transfers handed to curl */
    bool gate_open;   /* a connection answered: transfers may run side by side */
    CURLM *multi;
    uv_timer_t curl_timer, conn_timer;
    char *url[VG_SIG_COUNT];
    struct curl_slist *hdrs[VG_SIG_COUNT];
    struct curl_slist *connect_to;
    char *unix_path;
    oe_sock_t *socks;
    int open_handles;
    bool curl_inited, started, shutting, closing, timers_closing, orphan;
    uint64_t conn_down_until; /* loop ms */
    int64_t reconnect_ns;
    uint64_t rng;
    /* telemetry */
    uint64_t retries, req_ok, req_failed, req_partial, wire_bytes, partial_rejected[VG_SIG_COUNT];
    /* rate-limited error log */
    uint64_t log_window;
    unsigned log_count, log_suppressed;
};

static const char *const grpc_paths[VG_SIG_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};
static const char *const http_paths[VG_SIG_COUNT] = { "v1/traces", "v1/metrics", "v1/logs" };

const char *oe_grpc_path(vg_signal_t sig) { return (unsigned)sig < VG_SIG_COUNT ? grpc_paths[sig] : NULL; }

static void pump(oe_exp_t *e);

/* ---- logging ------------------------------------------------------------- */

/* At most 5 error lines per second per exporter; the rest are counted. */
__attribute__((format(printf, 2, 3))) static void log_fail(oe_exp_t *e, const char *fmt, ...)
{
    uint64_t now = e->started ? uv_now(e->c->loop) : 0;
    if (now - e->log_window >= 1000) {
        if (e->log_suppressed)
            VG_WARN(e->c->id, "%u similar error messages suppressed in the last second", e->log_suppressed);
        e->log_window = now;
        e->log_count = e->log_suppressed = 0;
    }
    if (e->log_count >= 5) { e->log_suppressed++; return; }
    e->log_count++;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    VG_ERROR(e->c->id, "%s", msg);
}

/* ---- handles ------------------------------------------------------------- */

static void free_state(oe_exp_t *e)
{
    for (size_t i = 0; i < e->nslots; i++) vg_free(e->slots[i].rbuf);
    vg_free(e->slots);
    vg_free(e->free_idx);
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        vg_free(e->url[s]);
        curl_slist_free_all(e->hdrs[s]);
    }
    curl_slist_free_all(e->connect_to);
    vg_free(e->unix_path);
    oe_codec_free(e->codec);
    vg_free(e);
}

static void handle_closed(uv_handle_t *h)
{
    oe_exp_t *e = h->data;
    if (--e->open_handles == 0 && e->orphan) free_state(e);
}

static void slot_timer_closed(uv_handle_t *h)
{
    oe_slot_t *s = h->data;
    oe_exp_t *e = s->e;
    if (--e->open_handles == 0 && e->orphan) free_state(e);
}

static void sock_closed(uv_handle_t *h)
{
    oe_sock_t *sk = h->data;
    oe_exp_t *e = sk->e;
    vg_free(sk);
    if (--e->open_handles == 0 && e->orphan) free_state(e);
}

/* Stops watching a socket and frees its watcher (now, when someone else
 * already closed the handle, e.g. the service at exit; else in the close
 * callback). */
static void sock_release(oe_exp_t *e, oe_sock_t *sk)
{
    if (sk->prev) sk->prev->next = sk->next;
    else if (e->socks == sk) e->socks = sk->next;
    if (sk->next) sk->next->prev = sk->prev;
    sk->prev = sk->next = NULL;
    if (sk->closing) return;
    if (!uv_is_closing((uv_handle_t *)&sk->poll)) {
        sk->closing = true;
        uv_poll_stop(&sk->poll);
        uv_close((uv_handle_t *)&sk->poll, sock_closed);
        return;
    }
    vg_free(sk);
    e->open_handles--;
}

/* ---- curl on the loop ---------------------------------------------------- */

static void check_done(oe_exp_t *e);

static void on_poll(uv_poll_t *h, int status, int events)
{
    oe_sock_t *sk = h->data;
    oe_exp_t *e = sk->e;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(e->multi, sk->fd, flags, &running);
    check_done(e);
    pump(e);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    oe_exp_t *e = userp;
    oe_sock_t *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            if (e->multi) curl_multi_assign(e->multi, fd, NULL);
            sock_release(e, sk);
        }
        return 0;
    }
    if (e->timers_closing) return -1; /* closing down: no new watchers */
    if (!sk) {
        sk = vg_calloc(1, sizeof *sk);
        if (!sk) return -1;
        sk->e = e;
        sk->fd = fd;
        if (uv_poll_init_socket(e->c->loop, &sk->poll, fd)) { vg_free(sk); return -1; }
        sk->poll.data = sk;
        e->open_handles++;
        sk->next = e->socks;
        if (e->socks) e->socks->prev = sk;
        e->socks = sk;
        curl_multi_assign(e->multi, fd, sk);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    if (uv_poll_start(&sk->poll, ev, on_poll)) return -1;
    return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
    oe_exp_t *e = t->data;
    int running;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(e);
    pump(e);
}

static int timer_cb(CURLM *multi, long ms, void *userp)
{
    (void)multi;
    oe_exp_t *e = userp;
    if (e->timers_closing) return 0;
    if (ms < 0) uv_timer_stop(&e->curl_timer);
    else uv_timer_start(&e->curl_timer, on_curl_timeout, (uint64_t)ms, 0);
    return 0;
}

/* ---- answers ------------------------------------------------------------- */

static bool hname(const char *buf, size_t n, const char *name)
{
    size_t l = strlen(name);
    return n == l && strncasecmp(buf, name, l) == 0;
}

static void copy_val(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    oe_slot_t *s = ud;
    size_t len = size * nitems;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a (new) status line */
        s->grpc_status = -1;
        s->grpc_msg[0] = s->ctype[0] = s->resp_enc[0] = '\0';
        s->details_len = 0;
        s->retry_after_ns = -1;
        s->rlen = 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t vl = (size_t)(end - v);
    if (hname(buf, nl, "grpc-status")) {
        char tmp[16];
        copy_val(tmp, sizeof tmp, v, vl);
        s->grpc_status = atoi(tmp);
    } else if (hname(buf, nl, "grpc-message")) {
        copy_val(s->grpc_msg, sizeof s->grpc_msg, v, vl);
        oe_percent_decode(s->grpc_msg, strlen(s->grpc_msg));
    } else if (hname(buf, nl, "grpc-status-details-bin")) {
        if (vl < sizeof s->details) { memcpy(s->details, v, vl); s->details_len = vl; }
    } else if (hname(buf, nl, "retry-after")) {
        char tmp[128];
        copy_val(tmp, sizeof tmp, v, vl);
        s->retry_after_ns = oe_parse_retry_after(tmp, (int64_t)time(NULL));
    } else if (hname(buf, nl, "content-type")) {
        copy_val(s->ctype, sizeof s->ctype, v, vl);
    } else if (hname(buf, nl, "grpc-encoding") || hname(buf, nl, "content-encoding")) {
        copy_val(s->resp_enc, sizeof s->resp_enc, v, vl);
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    oe_slot_t *s = ud;
    size_t len = size * nitems;
    size_t take = s->rlen + len > RESP_MAX ? RESP_MAX - s->rlen : len; /* the rest is read and dropped */
    if (take == 0) return len;
    if (s->rlen + take > s->rcap) {
        size_t nc = s->rcap ? s->rcap : 512;
        while (nc < s->rlen + take) nc *= 2;
        if (nc > RESP_MAX) nc = RESP_MAX;
        uint8_t *nb = vg_realloc(s->rbuf, nc);
        if (!nb) return len; /* answer unreadable; the status still counts */
        s->rbuf = nb;
        s->rcap = nc;
    }
    memcpy(s->rbuf + s->rlen, buf, take);
    s->rlen += take;
    return len;
}

/* The body of an answer, decompressed when its encoding says so. *owned is
 * set when the caller must vg_free *out. */
static int answer_body(oe_slot_t *s, const uint8_t *p, size_t n, bool compressed, const uint8_t **out, size_t *outlen,
                       uint8_t **owned)
{
    *owned = NULL;
    *out = p;
    *outlen = n;
    if (!compressed || !s->resp_enc[0] || strcmp(s->resp_enc, "identity") == 0) return 0;
    size_t dl;
    int rc = oe_decompress(s->resp_enc, p, n, RESP_INFLATE_MAX, owned, &dl);
    if (rc) return rc;
    *out = *owned;
    *outlen = dl;
    return 0;
}

/* Partial success in a successful answer: logged and counted, never retried. */
static size_t read_partial(oe_exp_t *e, oe_slot_t *s)
{
    oe_req_t *r = s->req;
    const uint8_t *p = s->rbuf;
    size_t n = s->rlen;
    bool compressed = true;
    if (e->proto == OE_PROTO_GRPC) {
        if (n < 5) return 0; /* no message: fine */
        uint32_t ml = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        compressed = p[0] == 1;
        if (ml > n - 5) return 0; /* truncated (over RESP_MAX): ignore */
        p += 5;
        n = ml;
    }
    const uint8_t *body;
    size_t bl;
    uint8_t *owned;
    if (answer_body(s, p, n, compressed, &body, &bl, &owned)) return 0;
    oe_partial_t ps;
    bool json = e->proto == OE_PROTO_HTTP && strstr(s->ctype, "json");
    int rc = oe_decode_response(r->signal, json, body, bl, &ps);
    vg_free(owned);
    if (rc || !ps.present) return 0;
    size_t rej = ps.rejected > (int64_t)r->items ? r->items : (size_t)ps.rejected;
    if (rej || ps.message[0]) {
        e->req_partial++;
        e->partial_rejected[r->signal] += rej;
        log_fail(e, "partial success: backend rejected %zu of %zu %s: %s", rej, r->items, vg_signal_items(r->signal),
                 ps.message[0] ? ps.message : "(no message)");
    }
    return rej;
}

/* The message of an OTLP/HTTP error answer (google.rpc.Status, protobuf or JSON). */
static void http_error_message(oe_slot_t *s, char *out, size_t cap)
{
    out[0] = '\0';
    if (!s->rlen) return;
    const uint8_t *body;
    size_t bl;
    uint8_t *owned;
    if (answer_body(s, s->rbuf, s->rlen, true, &body, &bl, &owned)) return;
    if (strstr(s->ctype, "protobuf")) {
        oe_rpc_status_t st;
        if (oe_parse_rpc_status(body, bl, &st) == 0 && st.message)
            snprintf(out, cap, "%.*s", (int)(st.message_len > 300 ? 300 : st.message_len), st.message);
    } else {
        size_t k = bl > 300 ? 300 : bl;
        size_t o = 0;
        for (size_t i = 0; i < k && o + 1 < cap; i++) out[o++] = (body[i] >= 0x20 && body[i] < 0x7f) ? (char)body[i] : ' ';
        out[o] = '\0';
    }
    vg_free(owned);
}

/* ---- slots --------------------------------------------------------------- */

static void slot_release(oe_exp_t *e, oe_slot_t *s)
{
    e->held_mem -= oe_req_mem(s->req);
    oe_req_free(s->req);
    s->req = NULL;
    e->nbusy--;
    e->free_idx[e->nfree++] = (size_t)(s - e->slots);
}

static void give_up(oe_exp_t *e, oe_slot_t *s, const char *why)
{
    oe_req_t *r = s->req;
    e->c->stats.send_failed[r->signal] += r->items;
    e->req_failed++;
    log_fail(e, "dropping %zu %s after %u attempt%s: %s", r->items, vg_signal_items(r->signal), r->attempts,
             r->attempts == 1 ? "" : "s", why);
    slot_release(e, s);
}

static void on_slot_timer(uv_timer_t *t);
static void attempt(oe_exp_t *e, oe_slot_t *s);

/* A retryable failure: wait (backoff, at least the server's hint) or give up. */
static void retry_later(oe_exp_t *e, oe_slot_t *s, int64_t hint_ns, const char *why)
{
    const oe_cfg_t *cfg = e->cfg;
    oe_req_t *r = s->req;
    if (!cfg->retry.enabled) { give_up(e, s, why); return; }
    int64_t elapsed = (int64_t)(uv_now(e->c->loop) - r->first_ms) * 1000000;
    int64_t delay = oe_backoff_next(&cfg->retry, &r->interval_ns, elapsed, oe_rand01(&e->rng));
    if (delay >= 0 && hint_ns > delay) delay = hint_ns;
    if (delay < 0 || (cfg->retry.max_elapsed_time > 0 && elapsed + delay > cfg->retry.max_elapsed_time)) {
        char m[700];
        snprintf(m, sizeof m, "%s (no more retries: max_elapsed_time %llds)", why,
                 (long long)(cfg->retry.max_elapsed_time / 1000000000));
        give_up(e, s, m);
        return;
    }
    e->retries++;
    VG_DEBUG(e->c->id, "retrying %zu %s in %lld ms: %s", r->items, vg_signal_items(r->signal),
             (long long)(delay / 1000000), why);
    uv_timer_start(&s->timer, on_slot_timer, (uint64_t)(delay / 1000000), 0);
}

static void conn_failed(oe_exp_t *e)
{
    const oe_retry_cfg_t *rc = &e->cfg->retry;
    int64_t d = e->reconnect_ns ? (int64_t)((double)e->reconnect_ns * rc->multiplier) : rc->initial_interval;
    if (d > rc->max_interval) d = rc->max_interval;
    e->reconnect_ns = d;
    double j = 1.0 + 0.2 * (2.0 * oe_rand01(&e->rng) - 1.0);
    e->conn_down_until = uv_now(e->c->loop) + (uint64_t)((double)d * j / 1e6);
}

static void finish(oe_exp_t *e, oe_slot_t *s, CURLcode res)
{
    oe_req_t *r = s->req;
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(e->multi, s->easy);
    s->in_multi = false;
    e->in_multi--;
    char why[600];
    oe_verdict_t v;
    int64_t hint = -1;
    bool answered = status > 0 || s->grpc_status >= 0;
    long nconn = 0;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nconn);
    if (s->reuse && nconn > 0 && s->grpc_status < 0) {
        /* The h2c connection was gone, so curl opened an HTTP/1.1 one (see
         * attempt()): not the server's fault; again at once with prior
         * knowledge, without charging a retry. */
        e->gate_open = false;
        r->attempts--;
        uv_timer_start(&s->timer, on_slot_timer, 0, 0);
        return;
    }
    if (res != CURLE_OK && !(e->proto == OE_PROTO_GRPC && s->grpc_status >= 0)) {
        bool conn;
        v = oe_classify_transport(res, &conn);
        snprintf(why, sizeof why, "%s%s%s", res == CURLE_OPERATION_TIMEDOUT ? "deadline exceeded: " : "",
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(res), conn ? " (connection)" : "");
        if (conn) { conn_failed(e); e->gate_open = false; }
        answered = false;
    } else if (e->proto == OE_PROTO_GRPC) {
        if (s->grpc_status < 0 && status != 200) {
            int code = oe_grpc_code_from_http(status);
            v = oe_classify_grpc(code, false);
            hint = s->retry_after_ns;
            snprintf(why, sizeof why, "HTTP status %ld (gRPC %s)", status, oe_grpc_code_name(code));
        } else if (s->grpc_status < 0) {
            v = OE_PERMANENT;
            snprintf(why, sizeof why, "answer without grpc-status (gRPC INTERNAL)");
        } else if (s->grpc_status == 0) {
            v = OE_OK;
        } else {
            oe_rpc_status_t st = { 0 };
            if (s->details_len) {
                uint8_t *bin = vg_malloc(s->details_len);
                long bl = bin ? oe_base64_decode(s->details, s->details_len, bin) : -1;
                if (bl < 0 || oe_parse_rpc_status(bin, (size_t)bl, &st)) memset(&st, 0, sizeof st);
                vg_free(bin);
            }
            v = oe_classify_grpc(s->grpc_status, st.has_retry_info);
            if (st.has_retry_info) hint = st.retry_delay_ns;
            snprintf(why, sizeof why, "gRPC %s: %s", oe_grpc_code_name(s->grpc_status),
                     s->grpc_msg[0] ? s->grpc_msg : "(no message)");
        }
    } else {
        v = oe_classify_http(status);
        if (v != OE_OK) {
            char m[320];
            http_error_message(s, m, sizeof m);
            if (status == 429 || status == 503) hint = s->retry_after_ns;
            snprintf(why, sizeof why, "HTTP status %ld%s%s", status, m[0] ? ": " : "", m);
        }
    }
    if (answered) { e->reconnect_ns = 0; e->gate_open = true; } /* the connection works */
    switch (v) {
    case OE_OK: {
        size_t rej = read_partial(e, s);
        e->c->stats.sent[r->signal] += r->items - rej;
        e->c->stats.send_failed[r->signal] += rej;
        e->req_ok++;
        e->wire_bytes += r->body_len;
        slot_release(e, s);
        break;
    }
    case OE_RETRY: retry_later(e, s, hint, why); break;
    default: give_up(e, s, why); break;
    }
}

static void check_done(oe_exp_t *e)
{
    CURLMsg *m;
    int left;
    while (e->multi && (m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        oe_slot_t *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s && s->req) finish(e, s, m->data.result);
    }
}

static CURL *make_easy(oe_exp_t *e, oe_slot_t *s)
{
    const oe_cfg_t *cfg = e->cfg;
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    long tmo = (long)(cfg->timeout / 1000000);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo > 0 ? tmo : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, tmo > 0 ? tmo : 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (e->proto == OE_PROTO_GRPC)
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                         e->tls ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    else
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (e->tls) {
        curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (cfg->tls.ca_file && *cfg->tls.ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, cfg->tls.ca_file);
        if (cfg->tls.cert_file && *cfg->tls.cert_file) curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->tls.cert_file);
        if (cfg->tls.key_file && *cfg->tls.key_file) curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->tls.key_file);
        if (cfg->tls.insecure_skip_verify) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    if (e->connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, e->connect_to);
    if (e->unix_path) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
    return h;
}

/* Starts one attempt of the slot's request. Failures that happen before
 * anything is sent go through the same retry/give-up path. */
static void attempt(oe_exp_t *e, oe_slot_t *s)
{
    oe_req_t *r = s->req;
    /* The connection gate: until a connection has answered, one transfer at a
     * time. libcurl 7.88's CURLOPT_PIPEWAIT (wait for the connection, then
     * multiplex) fails the waiting HTTP/2 transfers with a framing error, and
     * without waiting every concurrent transfer opens its own connection. */
    if (!e->gate_open && e->in_multi > 0) {
        s->parked = true;
        return;
    }
    s->parked = false;
    r->attempts++;
    if (!e->url[r->signal]) {
        give_up(e, s, "no endpoint configured for this signal");
        return;
    }
    if (!s->easy && !(s->easy = make_easy(e, s))) {
        retry_later(e, s, -1, "out of memory creating a transfer");
        return;
    }
    s->grpc_status = -1;
    s->grpc_msg[0] = s->ctype[0] = s->resp_enc[0] = s->errbuf[0] = '\0';
    s->details_len = 0;
    s->retry_after_ns = -1;
    s->rlen = 0;
    /* libcurl 7.88 fails every request that reuses an HTTP/2 prior-knowledge
     * connection (curl issue 10634, fixed in 8.0): once a connection has
     * answered, h2c requests ask for plain HTTP/2, which reuses it. */
    s->reuse = e->proto == OE_PROTO_GRPC && !e->tls && e->gate_open;
    if (e->proto == OE_PROTO_GRPC && !e->tls)
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
                         s->reuse ? (long)CURL_HTTP_VERSION_2_0 : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(s->easy, CURLOPT_URL, e->url[r->signal]);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, e->hdrs[r->signal]);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (char *)r->body);
    CURLMcode mc = curl_multi_add_handle(e->multi, s->easy);
    if (mc != CURLM_OK) {
        retry_later(e, s, -1, curl_multi_strerror(mc));
        return;
    }
    s->in_multi = true;
    e->in_multi++;
}

static void on_slot_timer(uv_timer_t *t)
{
    oe_slot_t *s = t->data;
    oe_exp_t *e = s->e;
    if (s->req) attempt(e, s);
    pump(e);
}

static void on_conn_timer(uv_timer_t *t) { pump(t->data); }

/* ---- dispatch and closing ------------------------------------------------ */

static void update_stats(oe_exp_t *e)
{
    e->c->stats.queue_size = (int64_t)oe_queue_size(&e->q);
}

static void close_handles(oe_exp_t *e)
{
    e->closing = true;
    e->timers_closing = true; /* curl may still call back during the cleanup */
    for (size_t i = 0; i < e->nslots; i++) {
        oe_slot_t *s = &e->slots[i];
        if (s->easy) {
            if (s->in_multi) curl_multi_remove_handle(e->multi, s->easy);
            curl_easy_cleanup(s->easy);
            s->easy = NULL;
            s->in_multi = false;
        }
    }
    if (e->multi) {
        CURLM *m = e->multi;
        curl_multi_cleanup(m);
        e->multi = NULL;
    }
    while (e->socks) sock_release(e, e->socks);
    if (e->started) {
        for (size_t i = 0; i < e->nslots; i++) uv_close((uv_handle_t *)&e->slots[i].timer, slot_timer_closed);
        uv_close((uv_handle_t *)&e->curl_timer, handle_closed);
        uv_close((uv_handle_t *)&e->conn_timer, handle_closed);
    }
    e->in_multi = 0;
}

static void pump(oe_exp_t *e)
{
    if (e->closing || !e->started) return;
    uint64_t now = uv_now(e->c->loop);
    for (size_t i = 0; i < e->nslots && (e->gate_open || e->in_multi == 0); i++)
        if (e->slots[i].parked) attempt(e, &e->slots[i]);
    while (e->nfree > 0 && e->q.head) {
        if (now < e->conn_down_until) {
            if (!uv_is_active((uv_handle_t *)&e->conn_timer))
                uv_timer_start(&e->conn_timer, on_conn_timer, e->conn_down_until - now, 0);
            break;
        }
        oe_slot_t *s = &e->slots[e->free_idx[--e->nfree]];
        oe_req_t *r = oe_queue_pop(&e->q);
        e->nbusy++;
        e->held_mem += oe_req_mem(r);
        s->req = r;
        r->first_ms = now;
        attempt(e, s);
    }
    update_stats(e);
    if (e->shutting && !e->q.head && e->nbusy == 0) close_handles(e);
}

/* ---- configuration into URLs and headers --------------------------------- */

static int add_hdr(struct curl_slist **l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_hdr(struct curl_slist **l, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct curl_slist *n = curl_slist_append(*l, buf);
    if (!n) return VG_ENOMEM;
    *l = n;
    return 0;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = vg_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* host:port of an authority (brackets kept for IPv6) split at the port. */
static int split_hostport(const char *hp, char *host, size_t hcap, const char **port)
{
    const char *c = strrchr(hp, ':');
    if (!c || c == hp || (strchr(hp, ']') && c < strchr(hp, ']'))) return VG_EINVAL;
    size_t hl = (size_t)(c - hp);
    if (hl >= hcap) return VG_EINVAL;
    memcpy(host, hp, hl);
    host[hl] = '\0';
    *port = c + 1;
    return 0;
}

/* otlp: endpoint "host:port", optionally with http://, https://, dns:/// or a
 * unix:///path. TLS unless tls.insecure (and no ca_file), or https://. */
static int build_grpc(oe_exp_t *e)
{
    const oe_cfg_t *cfg = e->cfg;
    const char *ep = cfg->endpoint ? cfg->endpoint : "";
    bool https = false;
    char hp[1024] = "localhost";
    if (strncmp(ep, "unix:", 5) == 0) {
        const char *p = ep + 5;
        if (strncmp(p, "//", 2) == 0) p += 2;
        if (!(e->unix_path = vg_strdup(p))) return VG_ENOMEM;
    } else {
        if (strncmp(ep, "dns:///", 7) == 0) ep += 7;
        else if (strncmp(ep, "http://", 7) == 0) ep += 7;
        else if (strncmp(ep, "https://", 8) == 0) { ep += 8; https = true; }
        snprintf(hp, sizeof hp, "%s", ep);
        size_t l = strlen(hp);
        while (l && hp[l - 1] == '/') hp[--l] = '\0';
    }
    e->tls = !cfg->tls.insecure || (cfg->tls.ca_file && *cfg->tls.ca_file) || https;
    const char *authority = hp;
    char host[1024], over[1100];
    const char *port = NULL;
    if (e->tls && cfg->tls.server_name_override && *cfg->tls.server_name_override && !e->unix_path &&
        split_hostport(hp, host, sizeof host, &port) == 0) {
        snprintf(over, sizeof over, "%s:%s", cfg->tls.server_name_override, port);
        char *ct = dupf("%s:%s:%s:%s", cfg->tls.server_name_override, port, host, port);
        if (!ct) return VG_ENOMEM;
        int rc = add_hdr(&e->connect_to, "%s", ct);
        vg_free(ct);
        if (rc) return rc;
        authority = over;
    }
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        if (!(e->url[s] = dupf("%s://%s%s", e->tls ? "https" : "http", authority, grpc_paths[s]))) return VG_ENOMEM;
        struct curl_slist **l = &e->hdrs[s];
        if (add_hdr(l, "content-type: application/grpc") || add_hdr(l, "te: trailers") || add_hdr(l, "accept:") ||
            add_hdr(l, "grpc-accept-encoding: identity,gzip,zstd") ||
            add_hdr(l, "grpc-timeout: %lldm", (long long)(cfg->timeout / 1000000)))
            return VG_ENOMEM;
        if (cfg->compression != OE_COMP_NONE &&
            add_hdr(l, "grpc-encoding: %s", cfg->compression == OE_COMP_GZIP ? "gzip" : "zstd"))
            return VG_ENOMEM;
    }
    return 0;
}

/* otlphttp: per-signal URL as given, else endpoint + "/v1/<signal>". TLS by scheme. */
static int build_http(oe_exp_t *e)
{
    const oe_cfg_t *cfg = e->cfg;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        const char *se = cfg->signal_endpoint[s];
        if (se && *se) e->url[s] = vg_strdup(se);
        else if (cfg->endpoint && *cfg->endpoint) {
            size_t l = strlen(cfg->endpoint);
            e->url[s] = dupf("%s%s%s", cfg->endpoint, l && cfg->endpoint[l - 1] == '/' ? "" : "/", http_paths[s]);
        } else continue;
        if (!e->url[s]) return VG_ENOMEM;
        if (strncasecmp(e->url[s], "https://", 8) == 0) e->tls = true;
        struct curl_slist **l = &e->hdrs[s];
        if (add_hdr(l, "Content-Type: %s", cfg->encoding == OE_ENC_JSON ? "application/json" : "application/x-protobuf") ||
            add_hdr(l, "Expect:") || add_hdr(l, "Accept:"))
            return VG_ENOMEM;
        if (cfg->compression != OE_COMP_NONE &&
            add_hdr(l, "Content-Encoding: %s", cfg->compression == OE_COMP_GZIP ? "gzip" : "zstd"))
            return VG_ENOMEM;
    }
    /* server_name_override: connect to the URL's host, talk TLS to the override. */
    if (e->tls && cfg->tls.server_name_override && *cfg->tls.server_name_override) {
        for (int s = 0; s < VG_SIG_COUNT; s++) {
            if (!e->url[s]) continue;
            CURLU *u = curl_url();
            char *host = NULL, *port = NULL, *nu = NULL;
            int rc = VG_EINVAL;
            if (u && curl_url_set(u, CURLUPART_URL, e->url[s], 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
                curl_url_set(u, CURLUPART_HOST, cfg->tls.server_name_override, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_URL, &nu, 0) == CURLUE_OK) {
                char *ct = dupf("%s:%s:%s:%s", cfg->tls.server_name_override, port, host, port);
                char *copy = vg_strdup(nu);
                if (ct && copy && add_hdr(&e->connect_to, "%s", ct) == 0) {
                    vg_free(e->url[s]);
                    e->url[s] = copy;
                    copy = NULL;
                    rc = 0;
                }
                vg_free(ct);
                vg_free(copy);
            }
            curl_free(host);
            curl_free(port);
            curl_free(nu);
            curl_url_cleanup(u);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- the factory callbacks ----------------------------------------------- */

int oe_create(vg_component_t *c, int proto)
{
    const oe_cfg_t *cfg = c->cfg;
    oe_exp_t *e = vg_calloc(1, sizeof *e);
    if (!e) return VG_ENOMEM;
    e->c = c;
    e->cfg = cfg;
    e->proto = proto;
    e->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)e;
    oe_queue_init(&e->q, cfg->queue.sizer, cfg->queue.enabled ? (uint64_t)cfg->queue.queue_size : 0,
                  cfg->queue.max_bytes);
    int rc = VG_ENOMEM;
    if (!(e->codec = oe_codec_new(proto, proto == OE_PROTO_HTTP ? cfg->encoding : OE_ENC_PROTO, cfg->compression)))
        goto fail;
    /* libcurl >= 7.84 counts init/cleanup, so per-instance calls are safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto fail;
    e->curl_inited = true;
    rc = proto == OE_PROTO_GRPC ? build_grpc(e) : build_http(e);
    if (rc) goto fail;
    for (int s = 0; s < VG_SIG_COUNT; s++)
        for (size_t i = 0; i < cfg->headers.n && e->hdrs[s]; i++)
            if (add_hdr(&e->hdrs[s], "%s: %s", cfg->headers.k[i], cfg->headers.v[i] ? cfg->headers.v[i] : "")) {
                rc = VG_ENOMEM;
                goto fail;
            }
    c->stats.queue_capacity = cfg->queue.enabled ? cfg->queue.queue_size : 0;
    c->state = e;
    return 0;
fail:
    if (e->curl_inited) curl_global_cleanup();
    free_state(e);
    return rc;
}

int oe_start(vg_component_t *c)
{
    oe_exp_t *e = c->state;
    const oe_cfg_t *cfg = c->cfg;
    size_t n = (size_t)cfg->queue.num_consumers;
    if (!(e->multi = curl_multi_init())) return VG_ENOMEM;
    e->slots = vg_calloc(n, sizeof *e->slots);
    e->free_idx = vg_calloc(n, sizeof *e->free_idx);
    if (!e->slots || !e->free_idx) {
        curl_multi_cleanup(e->multi);
        e->multi = NULL;
        return VG_ENOMEM;
    }
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(e->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)n);
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)n);
    e->nslots = n;
    for (size_t i = 0; i < n; i++) {
        oe_slot_t *s = &e->slots[i];
        s->e = e;
        uv_timer_init(c->loop, &s->timer);
        s->timer.data = s;
        e->free_idx[e->nfree++] = n - 1 - i; /* slot 0 is handed out first */
    }
    uv_timer_init(c->loop, &e->curl_timer);
    uv_timer_init(c->loop, &e->conn_timer);
    e->curl_timer.data = e->conn_timer.data = e;
    e->open_handles += (int)n + 2;
    e->started = true;
    e->log_window = uv_now(c->loop);
    return 0;
}

/* The room test of oe_consume for a batch of one item. */
bool oe_ready(vg_component_t *c, vg_signal_t sig)
{
    (void)sig;
    oe_exp_t *e = c->state;
    const oe_cfg_t *cfg = c->cfg;
    if (!e || !e->started || e->shutting) return true; /* consume says why */
    if (!cfg->queue.enabled)
        return e->nfree > 0 && uv_now(c->loop) >= e->conn_down_until &&
               (e->held_mem < cfg->queue.max_bytes || e->nbusy == 0);
    return oe_queue_has_room(&e->q, 1, e->held_mem);
}

int oe_consume(vg_component_t *c, vg_batch_t *b)
{
    oe_exp_t *e = c->state;
    const oe_cfg_t *cfg = c->cfg;
    vg_signal_t sig = b->signal;
    size_t items = b->items;
    if (items == 0) { vg_batch_unref(b); return 0; }
    if (!e->started || e->shutting) {
        c->stats.enqueue_failed[sig] += items;
        vg_batch_unref(b);
        return VG_ESHUTDOWN;
    }
    bool direct = !cfg->queue.enabled;
    bool room = direct ? e->nfree > 0 && uv_now(c->loop) >= e->conn_down_until &&
                             (e->held_mem < cfg->queue.max_bytes || e->nbusy == 0)
                       : oe_queue_has_room(&e->q, items, e->held_mem);
    if (!room) {
        c->stats.enqueue_failed[sig] += items;
        vg_batch_unref(b);
        return VG_EFULL;
    }
    oe_req_t *r = NULL;
    int rc = oe_codec_encode_batch(e->codec, b, &r);
    vg_batch_unref(b);
    if (rc) {
        if (rc == VG_ENOMEM) {
            c->stats.enqueue_failed[sig] += items;
            return rc;
        }
        c->stats.send_failed[sig] += items;
        log_fail(e, "cannot encode %zu %s: %s", items, vg_signal_items(sig), vg_strerror(rc));
        return rc;
    }
    if (direct) {
        oe_queue_append(&e->q, r); /* a consumer is free: pump() takes it at once */
    } else if (oe_queue_push(&e->q, r, e->held_mem)) {
        c->stats.enqueue_failed[sig] += items;
        oe_req_free(r);
        return VG_EFULL;
    }
    pump(e);
    return 0;
}

/* Counts everything still queued or in a slot as dropped, logs it and frees it.
 * Transfers must be out of curl already. */
static void drop_all(oe_exp_t *e, const char *when)
{
    vg_component_t *c = e->c;
    uint64_t lost[VG_SIG_COUNT] = { 0 };
    oe_queue_clear(&e->q, lost);
    for (size_t i = 0; i < e->nslots; i++) {
        oe_slot_t *s = &e->slots[i];
        if (!s->req) continue;
        lost[s->req->signal] += s->req->items;
        e->held_mem -= oe_req_mem(s->req);
        oe_req_free(s->req);
        s->req = NULL;
        s->parked = false;
    }
    e->nbusy = 0;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        if (!lost[s]) continue;
        c->stats.dropped[s] += lost[s];
        VG_ERROR(c->id, "dropping %llu %s still queued or in flight %s", (unsigned long long)lost[s],
                 vg_signal_items((vg_signal_t)s), when);
    }
    update_stats(e);
}

void oe_shutdown(vg_component_t *c)
{
    oe_exp_t *e = c->state;
    if (!e) return;
    if (!e->shutting) {
        e->shutting = true;
        if (e->started) pump(e); /* closes the handles at once when there is nothing to send */
    }
    if (c->abandoned && e->started && !e->timers_closing) {
        /* The drain deadline passed: stop sending, close everything now. */
        close_handles(e);
        drop_all(e, "at the drain deadline");
    }
}

bool oe_busy(vg_component_t *c)
{
    oe_exp_t *e = c->state;
    return e && e->open_handles > 0;
}

void oe_destroy(vg_component_t *c)
{
    oe_exp_t *e = c->state;
    if (!e) return;
    bool drained = e->timers_closing;
    e->closing = e->timers_closing = true; /* no new watchers or timers from curl callbacks */
    for (size_t i = 0; i < e->nslots; i++) {
        oe_slot_t *s = &e->slots[i];
        if (s->easy && s->in_multi && e->multi) curl_multi_remove_handle(e->multi, s->easy);
        s->in_multi = false;
    }
    drop_all(e, "at exit");
    if (e->started && !drained) {
        /* Handles still open (destroy without an abandon, e.g. a test): close
         * them; the last close callback frees the state. Handles someone else
         * already closed are only counted. */
        for (size_t i = 0; i < e->nslots; i++)
            if (e->slots[i].easy) { curl_easy_cleanup(e->slots[i].easy); e->slots[i].easy = NULL; }
        if (e->multi) { curl_multi_cleanup(e->multi); e->multi = NULL; }
        while (e->socks) sock_release(e, e->socks);
        uv_handle_t *hs[2] = { (uv_handle_t *)&e->curl_timer, (uv_handle_t *)&e->conn_timer };
        for (size_t i = 0; i < e->nslots + 2; i++) {
            uv_handle_t *h = i < e->nslots ? (uv_handle_t *)&e->slots[i].timer : hs[i - e->nslots];
            if (!uv_is_closing(h)) uv_close(h, i < e->nslots ? slot_timer_closed : handle_closed);
            else e->open_handles--;
        }
    } else {
        while (e->socks) sock_release(e, e->socks);
    }
    bool inited = e->curl_inited;
    c->state = NULL;
    if (e->open_handles == 0) free_state(e);
    else e->orphan = true; /* the last close callback frees */
    if (inited) curl_global_cleanup();
}

void oe_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    oe_exp_t *e = c->state;
    if (!e) return;
    char labels[512], name[160];
    const char *type = c->f->type;
    snprintf(labels, sizeof labels, "exporter=\"%s\"", c->id);
#define TM(what, kind, help, val)                                                       \
    do {                                                                                \
        snprintf(name, sizeof name, "vigil_exporter_%s_%s", type, what);                \
        vg_tm_add(t, name, kind, help, labels, (double)(val));                          \
    } while (0)
    TM("retries", "counter", "Attempts scheduled again after a retryable failure.", e->retries);
    TM("in_flight_requests", "gauge", "Requests being sent or waiting for their next attempt.", e->nbusy);
    TM("wire_bytes_sent", "counter", "Request bytes (compressed, framed) of successful exports.", e->wire_bytes);
    TM("requests_succeeded", "counter", "Export requests the backend accepted (maybe partially).", e->req_ok);
    TM("requests_failed", "counter", "Export requests given up (permanent error or retries exhausted).",
       e->req_failed);
    TM("requests_partial", "counter", "Successful answers that carried a partial-success message.", e->req_partial);
    TM("queue_bytes", "gauge", "Memory of queued and in-flight request bodies (bounded by max_bytes).",
       e->q.mem + e->held_mem);
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        if (!((c->in_signals) & VG_SIGBIT(s))) continue;
        char what[64];
        snprintf(what, sizeof what, "partial_rejected_%s", vg_signal_items((vg_signal_t)s));
        TM(what, "counter", "Items the backend rejected in a partial-success answer (not retried).",
           e->partial_rejected[s]);
    }
#undef TM
}
