/* syslog receiver: stream connections (TCP, TLS, unix stream) and their
 * back-pressure.
 *
 * Each read is run through the connection's framer; the frames become
 * records in one batch (sent early when it reaches SYSLOG_BATCH_MAX_RECORDS
 * or _BYTES), emitted when the read is done. While a batch is built, the
 * frames behind its records are remembered as slices of the read buffer
 * (a frame the framer assembled across reads is copied). When the pipeline
 * refuses the batch (retryable), the connection
 *   - serialises those frames into `pend` (the batch itself went to the
 *     pipeline, which released it: a batch we held a reference to could not
 *     be made writable by a mutating processor),
 *   - keeps the unread rest of the read buffer in `held`,
 *   - stops reading its socket (vg_conn_read_stop: uv_read_stop, so the
 *     kernel's receive buffer fills and TCP flow control stalls the sender),
 *   - joins the receiver's FIFO of blocked connections.
 * A timer (5 ms doubling to 200 ms while nothing goes through) rebuilds the
 * batch from `pend` and offers it again; once it is accepted, `held` is
 * framed and sent the same way, and only then does the connection read
 * again. Memory per connection stays below 2 x (64 KiB + max_octets) plus
 * the framer's max_octets, whatever the sender does.
 *
 * A connection the peer closes while it holds refused data lives on as an
 * orphan (no socket) until its data is accepted, within a receiver-wide
 * budget (SYSLOG_ORPHAN_MAX_BYTES; beyond it the data is dropped and
 * counted). At shutdown the listeners close, every connection's framer is
 * flushed, connections close, and refused data is retried until 70% of the
 * service's drain timeout, then dropped and counted. */
#include "receivers/syslog/syslog_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *p;  /* in the current input, or NULL when copied */
    size_t off;     /* in `copy` when copied */
    uint32_t len;
    int32_t status;
} frame_ref_t;

struct syslog_conn {
    syslog_rx_t *rx;
    vg_conn_t *conn; /* NULL once closed */
    vg_syslog_net_t net;
    bool add_attrs;
    vg_peer_t peer;
    vg_syslog_framer_t *fr;
    syslog_conn_t *prev, *next; /* rx->conns */
    syslog_conn_t *bnext;       /* rx->blocked */
    bool queued;                /* in rx->blocked */
    bool blocked;               /* holds refused data; not reading */
    bool eof;                   /* peer finished; framer flush still due */
    bool orphan_counted;
    int64_t observed;           /* arrival time of what is being framed */
    /* the input being framed */
    const char *in;
    size_t in_len;
    /* frames behind the records of the batch being built */
    frame_ref_t *fs;
    size_t nfs, capfs;
    char *copy;
    size_t copy_len, copy_cap;
    /* refused data */
    char *pend; /* frames: u32 len, i32 status, bytes */
    size_t pend_len, pend_cap, pend_frames;
    int64_t pend_observed;
    char *held; /* input not framed yet */
    size_t held_len;
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t conn_held_bytes(const syslog_conn_t *sc) { return sc->pend_len + sc->held_len; }

/* ---- conn state: allocation and lists -------------------------------------------- */

static void conn_free(syslog_conn_t *sc)
{
    syslog_rx_t *rx = sc->rx;
    if (sc->prev) sc->prev->next = sc->next;
    else rx->conns = sc->next;
    if (sc->next) sc->next->prev = sc->prev;
    rx->nconns--;
    if (sc->orphan_counted) rx->orphan_bytes -= conn_held_bytes(sc);
    vg_syslog_framer_free(sc->fr);
    vg_free(sc->fs);
    vg_free(sc->copy);
    vg_free(sc->pend);
    vg_free(sc->held);
    vg_free(sc);
}

static void blocked_push(syslog_rx_t *rx, syslog_conn_t *sc)
{
    if (sc->queued) return;
    sc->queued = true;
    sc->bnext = NULL;
    if (rx->blocked_tail) rx->blocked_tail->bnext = sc;
    else rx->blocked = sc;
    rx->blocked_tail = sc;
    rx->nblocked++;
}

static syslog_conn_t *blocked_pop(syslog_rx_t *rx)
{
    syslog_conn_t *sc = rx->blocked;
    if (!sc) return NULL;
    rx->blocked = sc->bnext;
    if (!rx->blocked) rx->blocked_tail = NULL;
    sc->bnext = NULL;
    sc->queued = false;
    rx->nblocked--;
    return sc;
}

static void on_retry(uv_timer_t *t);

static void arm_retry(syslog_rx_t *rx)
{
    if (!rx->retry_open || uv_is_closing((uv_handle_t *)&rx->retry)) return;
    if (!uv_is_active((uv_handle_t *)&rx->retry)) uv_timer_start(&rx->retry, on_retry, rx->retry_ms, 0);
}

/* ---- remembering frames ------------------------------------------------------------ */

static void notes_reset(syslog_conn_t *sc)
{
    sc->nfs = 0;
    sc->copy_len = 0;
}

static int note_frame(syslog_conn_t *sc, const vg_syslog_frame_t *f)
{
    if (sc->nfs == sc->capfs) {
        size_t nc = sc->capfs ? sc->capfs * 2 : 64;
        frame_ref_t *n = vg_realloc(sc->fs, nc * sizeof *n);
        if (!n) return VG_ENOMEM;
        sc->fs = n;
        sc->capfs = nc;
    }
    frame_ref_t *r = &sc->fs[sc->nfs];
    r->len = (uint32_t)f->len;
    r->status = f->status;
    if (f->len == 0 || (sc->in && f->data >= sc->in && f->data + f->len <= sc->in + sc->in_len)) {
        r->p = f->data;
        r->off = 0;
    } else {
        /* Assembled by the framer (valid only during the callback): copy. */
        if (sc->copy_len + f->len > sc->copy_cap) {
            size_t nc = sc->copy_cap ? sc->copy_cap : 4096;
            while (nc < sc->copy_len + f->len) nc *= 2;
            char *n = vg_realloc(sc->copy, nc);
            if (!n) return VG_ENOMEM;
            sc->copy = n;
            sc->copy_cap = nc;
        }
        memcpy(sc->copy + sc->copy_len, f->data, f->len);
        r->p = NULL;
        r->off = sc->copy_len;
        sc->copy_len += f->len;
    }
    sc->nfs++;
    return 0;
}

static int pend_reserve(syslog_conn_t *sc, size_t need)
{
    if (need <= sc->pend_cap) return 0;
    size_t nc = sc->pend_cap ? sc->pend_cap : 4096;
    while (nc < need) nc *= 2;
    char *n = vg_realloc(sc->pend, nc);
    if (!n) return VG_ENOMEM;
    sc->pend = n;
    sc->pend_cap = nc;
    return 0;
}

/* Moves the noted frames into `pend` (which must be empty). Returns 0, or
 * VG_ENOMEM (the frames are lost and counted). */
static int notes_to_pend(syslog_conn_t *sc)
{
    size_t need = 0;
    for (size_t i = 0; i < sc->nfs; i++) need += 8 + sc->fs[i].len;
    if (pend_reserve(sc, need)) {
        sc->rx->sbld->st.nomem += sc->nfs;
        VG_ERROR(sc->rx->c->id, "out of memory keeping %zu refused messages; they are lost", sc->nfs);
        notes_reset(sc);
        return VG_ENOMEM;
    }
    char *o = sc->pend;
    for (size_t i = 0; i < sc->nfs; i++) {
        const frame_ref_t *r = &sc->fs[i];
        uint32_t len = r->len;
        int32_t status = r->status;
        memcpy(o, &len, 4);
        memcpy(o + 4, &status, 4);
        if (len) memcpy(o + 8, r->p ? r->p : sc->copy + r->off, len);
        o += 8 + len;
    }
    sc->pend_len = need;
    sc->pend_frames = sc->nfs;
    sc->pend_observed = sc->observed;
    notes_reset(sc);
    return 0;
}

/* ---- building and sending -------------------------------------------------------------- */

static bool batch_full(const syslog_rx_t *rx)
{
    return vg_syslog_builder_count(rx->sbld) >= SYSLOG_BATCH_MAX_RECORDS ||
           vg_syslog_builder_bytes(rx->sbld) >= SYSLOG_BATCH_MAX_BYTES;
}

static int on_frame(void *ud, const vg_syslog_frame_t *f)
{
    syslog_conn_t *sc = ud;
    syslog_rx_t *rx = sc->rx;
    int r = vg_syslog_builder_add(rx->sbld, f->data, f->len, f->status, sc->observed);
    if (r == 1) {
        if (note_frame(sc, f)) {
            /* Cannot remember it: if this batch is refused, the record is lost (counted then). */
            VG_DEBUG(rx->c->id, "out of memory noting a frame");
        }
    } else if (r == 0) {
        rx->c->stats.rejected[VG_SIG_LOGS]++;
    }
    return batch_full(rx) ? 1 : 0;
}

/* Sends the batch being built. 0 when it is gone (or empty); a retryable
 * error when refused, its frames then being in `pend`. */
static int send_built(syslog_conn_t *sc)
{
    syslog_rx_t *rx = sc->rx;
    vg_batch_t *b = vg_syslog_builder_take(rx->sbld);
    if (!b) {
        notes_reset(sc);
        return 0;
    }
    size_t items = b->items;
    int rc = syslog_emit(rx, b);
    if (rc == 0) {
        notes_reset(sc);
        return 0;
    }
    if (sc->nfs < items) {
        rx->sbld->st.nomem += items - sc->nfs;
        VG_ERROR(rx->c->id, "%zu refused messages could not be kept (out of memory)", items - sc->nfs);
    }
    notes_to_pend(sc);
    return rc;
}

static void set_blocked(syslog_conn_t *sc, const char *rest, size_t rest_len)
{
    syslog_rx_t *rx = sc->rx;
    if (rest_len) {
        char *h = vg_malloc(rest_len);
        if (!h) {
            rx->sbld->st.nomem++;
            VG_ERROR(rx->c->id, "out of memory keeping %zu unread bytes of a refused connection; they are lost",
                     rest_len);
        } else {
            memcpy(h, rest, rest_len);
            sc->held = h;
            sc->held_len = rest_len;
        }
    }
    if (!sc->blocked) {
        sc->blocked = true;
        rx->n.stream_blocks++;
        if (sc->conn) vg_conn_read_stop(sc->conn);
    }
    blocked_push(rx, sc);
    arm_retry(rx);
}

/* Frames data[0..len) and sends the records. Returns 0 when everything went
 * to the pipeline, 1 when it refused: the connection is then blocked and
 * holds the refused frames and the rest of data. */
static int process(syslog_conn_t *sc, const char *data, size_t len)
{
    syslog_rx_t *rx = sc->rx;
    vg_syslog_builder_set_peer(rx->sbld, sc->net, &sc->peer, sc->add_attrs);
    sc->in = data;
    sc->in_len = len;
    size_t off = 0;
    for (;;) {
        off += vg_syslog_framer_feed(sc->fr, data + off, len - off, on_frame, sc);
        if (off >= len) break;
        /* The batch is full: send it before framing the rest. */
        if (send_built(sc)) {
            set_blocked(sc, data + off, len - off);
            sc->in = NULL;
            return 1;
        }
    }
    int rc = send_built(sc);
    sc->in = NULL;
    if (rc) {
        set_blocked(sc, NULL, 0);
        return 1;
    }
    return 0;
}

/* The peer is done: what the framer holds is the last message. */
static int flush_framer(syslog_conn_t *sc)
{
    syslog_rx_t *rx = sc->rx;
    sc->eof = false;
    vg_syslog_builder_set_peer(rx->sbld, sc->net, &sc->peer, sc->add_attrs);
    sc->in = NULL;
    sc->in_len = 0;
    vg_syslog_framer_flush(sc->fr, on_frame, sc);
    if (send_built(sc)) {
        set_blocked(sc, NULL, 0);
        return 1;
    }
    return 0;
}

/* Offers what a blocked connection holds. Returns true when all of it was
 * accepted (the connection reads again), false when the pipeline refused
 * (the connection is queued again). */
static bool try_unblock(syslog_conn_t *sc)
{
    syslog_rx_t *rx = sc->rx;
    if (sc->pend_len) {
        vg_syslog_builder_set_peer(rx->sbld, sc->net, &sc->peer, sc->add_attrs);
        /* These frames were counted (parse errors, repairs) when they first came. */
        vg_syslog_map_stats_t counted = rx->sbld->st;
        const char *p = sc->pend, *end = sc->pend + sc->pend_len;
        while (p < end) {
            uint32_t len;
            int32_t status;
            memcpy(&len, p, 4);
            memcpy(&status, p + 4, 4);
            vg_syslog_builder_add(rx->sbld, p + 8, len, status, sc->pend_observed);
            p += 8 + len;
        }
        uint64_t nomem = rx->sbld->st.nomem;
        rx->sbld->st = counted;
        rx->sbld->st.nomem = nomem;
        vg_batch_t *b = vg_syslog_builder_take(rx->sbld);
        if (b && syslog_emit(rx, b)) {
            blocked_push(rx, sc);
            return false;
        }
        if (sc->orphan_counted) rx->orphan_bytes -= sc->pend_len;
        /* Blocks are rare: give the buffer back rather than keep it per connection. */
        vg_free(sc->pend);
        sc->pend = NULL;
        sc->pend_len = sc->pend_cap = 0;
        sc->pend_frames = 0;
    }
    if (sc->held) {
        char *h = sc->held;
        size_t hl = sc->held_len;
        if (sc->orphan_counted) rx->orphan_bytes -= hl;
        sc->held = NULL;
        sc->held_len = 0;
        sc->observed = sc->pend_observed;
        int blocked = process(sc, h, hl);
        vg_free(h);
        if (sc->orphan_counted) rx->orphan_bytes += conn_held_bytes(sc);
        if (blocked) return false;
    }
    if (sc->eof && flush_framer(sc)) {
        if (sc->orphan_counted) rx->orphan_bytes += conn_held_bytes(sc);
        return false;
    }
    sc->blocked = false;
    if (sc->conn && !rx->shutting) vg_conn_read_start(sc->conn);
    return true;
}

static void drop_held(syslog_conn_t *sc, uint64_t *counter)
{
    syslog_rx_t *rx = sc->rx;
    uint64_t lost = sc->pend_frames + (sc->held_len ? 1 : 0);
    if (sc->held_len || sc->eof) lost += vg_syslog_framer_buffered(sc->fr) ? 1 : 0;
    *counter += lost;
    if (lost)
        VG_ERROR(rx->c->id, "dropping %llu+ refused messages (%zu bytes) from %s%s%d",
                 (unsigned long long)lost, conn_held_bytes(sc), sc->peer.addr[0] ? sc->peer.addr : "unix peer",
                 sc->peer.port ? ":" : "", sc->peer.port);
    if (sc->orphan_counted) rx->orphan_bytes -= conn_held_bytes(sc);
    sc->pend_len = 0;
    sc->pend_frames = 0;
    vg_free(sc->held);
    sc->held = NULL;
    sc->held_len = 0;
    sc->eof = false;
    sc->blocked = false;
}

static void retry_closed(uv_handle_t *h)
{
    syslog_rx_t *rx = h->data;
    rx->retry_open = false;
}

/* During shutdown: once nothing is left, the retry timer goes too. */
static void maybe_finish(syslog_rx_t *rx)
{
    if (!rx->shutting || rx->conns || !rx->retry_open) return;
    if (!uv_is_closing((uv_handle_t *)&rx->retry)) uv_close((uv_handle_t *)&rx->retry, retry_closed);
}

void syslog_streams_retry(syslog_rx_t *rx)
{
    bool late = rx->shutting && uv_now(rx->c->loop) >= rx->drain_deadline_ms;
    size_t rounds = rx->nblocked, progressed = 0;
    while (rounds-- > 0) {
        syslog_conn_t *sc = blocked_pop(rx);
        if (!sc) break;
        if (late) {
            drop_held(sc, &rx->n.dropped_shutdown);
        } else if (!try_unblock(sc)) {
            break; /* still refusing: the others would be refused too */
        } else {
            progressed++;
        }
        if (!sc->conn && !sc->blocked) conn_free(sc);
    }
    if (rx->blocked) {
        rx->retry_ms = progressed ? SYSLOG_RETRY_MIN_MS
                                  : (rx->retry_ms * 2 > SYSLOG_RETRY_MAX_MS ? SYSLOG_RETRY_MAX_MS : rx->retry_ms * 2);
        if (rx->shutting && rx->retry_ms > 50) rx->retry_ms = 50;
        arm_retry(rx);
    } else {
        rx->retry_ms = SYSLOG_RETRY_MIN_MS;
    }
    maybe_finish(rx);
}

static void on_retry(uv_timer_t *t) { syslog_streams_retry(t->data); }

/* ---- connection callbacks ------------------------------------------------------------- */

static void on_read(vg_conn_t *c, const char *data, size_t len, void *arg)
{
    (void)c;
    syslog_conn_t *sc = arg;
    if (sc->blocked) {
        /* Not expected (reading stopped), but never lose bytes: keep them. */
        char *h = vg_realloc(sc->held, sc->held_len + len);
        if (!h) {
            sc->rx->sbld->st.nomem++;
            return;
        }
        memcpy(h + sc->held_len, data, len);
        sc->held = h;
        sc->held_len += len;
        return;
    }
    sc->observed = wall_ns();
    process(sc, data, len);
}

static void on_end(vg_conn_t *c, int err, void *arg)
{
    (void)c;
    syslog_conn_t *sc = arg;
    if (err == VG_EAUTH) return; /* handshake failed: nothing was framed */
    if (err && err != VG_ETIMEOUT)
        VG_DEBUG(sc->rx->c->id, "connection from %s ended: %s", sc->peer.addr, vg_strerror(err));
    if (sc->blocked) {
        sc->eof = true; /* flushed after what is held */
        return;
    }
    sc->observed = wall_ns();
    flush_framer(sc);
}

static void on_close(vg_conn_t *c, void *arg)
{
    (void)c;
    syslog_conn_t *sc = arg;
    syslog_rx_t *rx = sc->rx;
    sc->conn = NULL;
    if (!sc->blocked) {
        conn_free(sc);
        maybe_finish(rx);
        return;
    }
    /* Closed with refused data: an orphan until the pipeline takes it. */
    if (rx->orphan_bytes + conn_held_bytes(sc) > SYSLOG_ORPHAN_MAX_BYTES) {
        if (sc->queued) {
            /* unlink from the FIFO */
            syslog_conn_t **pp = &rx->blocked, *prev = NULL;
            while (*pp && *pp != sc) { prev = *pp; pp = &(*pp)->bnext; }
            if (*pp) {
                *pp = sc->bnext;
                if (rx->blocked_tail == sc) rx->blocked_tail = prev;
                rx->nblocked--;
                sc->queued = false;
            }
        }
        drop_held(sc, &rx->n.dropped_orphan);
        conn_free(sc);
        maybe_finish(rx);
        return;
    }
    sc->orphan_counted = true;
    rx->orphan_bytes += conn_held_bytes(sc);
}

static const vg_conn_handler_t handler = { .on_read = on_read, .on_end = on_end, .on_close = on_close };

static void on_accept(vg_listener_t *l, vg_conn_t *c, void *arg)
{
    syslog_rx_t *rx = arg;
    if (rx->shutting) {
        vg_conn_close(c);
        return;
    }
    syslog_conn_t *sc = vg_calloc(1, sizeof *sc);
    if (!sc || vg_syslog_framer_new(&rx->fopts, &sc->fr)) {
        VG_ERROR(rx->c->id, "out of memory accepting a connection; closing it");
        vg_free(sc);
        vg_conn_abort(c);
        return;
    }
    sc->rx = rx;
    sc->conn = c;
    sc->peer = *vg_conn_peer(c);
    if (l == rx->tcp_l) {
        sc->net = VG_SYSLOG_NET_TCP;
        sc->add_attrs = rx->cfg->tcp.add_attributes;
        rx->n.tcp_accepted++;
    } else {
        sc->net = VG_SYSLOG_NET_UNIX;
        sc->add_attrs = rx->cfg->unix_.add_attributes;
        rx->n.unix_accepted++;
    }
    sc->next = rx->conns;
    if (rx->conns) rx->conns->prev = sc;
    rx->conns = sc;
    rx->nconns++;
    int rc = vg_conn_start(c, &handler, sc);
    if (rc == VG_ESTATE) {
        /* Closing already, without our handler: on_close will not come. */
        sc->conn = NULL;
        conn_free(sc);
    } else if (rc) {
        VG_DEBUG(rx->c->id, "connection failed as it started; on_close frees it");
    }
}

/* ---- start / shutdown ---------------------------------------------------------------------- */

static void on_listener_closed(vg_listener_t *l, void *arg)
{
    syslog_rx_t *rx = arg;
    if (l == rx->tcp_l) rx->tcp_l = NULL;
    if (l == rx->unix_l) rx->unix_l = NULL;
    rx->open_listeners--;
    maybe_finish(rx);
}

int syslog_streams_start(syslog_rx_t *rx, char *err, size_t errlen)
{
    const syslog_cfg_t *cfg = rx->cfg;
    uv_loop_t *loop = rx->c->loop;
    bool tcp = cfg->tcp_set, ustream = cfg->unix_set && cfg->unix_.type == SYSLOG_UNIX_STREAM;
    if (!tcp && !ustream) return 0;
    uv_timer_init(loop, &rx->retry);
    rx->retry.data = rx;
    rx->retry_init = rx->retry_open = true;
    if (tcp) {
        vg_endpoint_t ep;
        int rc = vg_endpoint_parse(&ep, "tcp", cfg->tcp.listen_address, err, errlen);
        if (rc) return rc;
        SSL_CTX *ctx = NULL;
        if (cfg->tcp.tls_set) {
            static const char *const versions[] = { "1.2", "1.3" };
            vg_tls_config_t tc = {
                .cert_file = cfg->tcp.tls.cert_file,
                .key_file = cfg->tcp.tls.key_file,
                .client_ca_file = cfg->tcp.tls.client_ca_file && *cfg->tcp.tls.client_ca_file
                                      ? cfg->tcp.tls.client_ca_file
                                      : NULL,
                .min_version = versions[cfg->tcp.tls.min_version ? 1 : 0],
            };
            if ((rc = vg_tls_server_ctx_new(&tc, &ctx, err, errlen))) return rc;
        }
        vg_listener_opts_t lo = {
            .max_connections = (int)cfg->tcp.max_connections,
            .idle_timeout_ms = (uint64_t)(cfg->tcp.idle_timeout / 1000000),
            .tls = ctx,
        };
        rc = vg_listener_start(loop, &ep, &lo, on_accept, rx, &rx->tcp_l, err, errlen);
        if (ctx) SSL_CTX_free(ctx);
        if (rc) return rc;
        rx->open_listeners++;
        char text[300];
        vg_endpoint_format(&ep, text, sizeof text);
        VG_INFO(rx->c->id, "listening for syslog on %s %s (port %d)", cfg->tcp.tls_set ? "tls" : "tcp", text,
                vg_listener_port(rx->tcp_l));
    }
    if (ustream) {
        vg_endpoint_t ep;
        int rc = vg_endpoint_parse(&ep, "unix", cfg->unix_.path, err, errlen);
        if (rc) return rc;
        unsigned mode = 0666;
        if (cfg->unix_.mode) {
            char *end;
            unsigned long v = strtoul(cfg->unix_.mode, &end, 8);
            if (!*end && v <= 07777) mode = (unsigned)v;
        }
        vg_listener_opts_t lo = { .max_connections = (int)cfg->unix_.max_connections, .unix_mode = (int)mode };
        rc = vg_listener_start(loop, &ep, &lo, on_accept, rx, &rx->unix_l, err, errlen);
        if (rc) return rc;
        rx->open_listeners++;
        VG_INFO(rx->c->id, "listening for syslog on unix stream socket %s", cfg->unix_.path);
    }
    return 0;
}

void syslog_streams_shutdown(syslog_rx_t *rx)
{
    if (rx->tcp_l) vg_listener_close(rx->tcp_l, on_listener_closed, rx);
    if (rx->unix_l) vg_listener_close(rx->unix_l, on_listener_closed, rx);
    /* Deliver what the framers hold, then close. Blocked conns flush after
     * their held data (retry timer). */
    syslog_conn_t *next;
    for (syslog_conn_t *sc = rx->conns; sc; sc = next) {
        next = sc->next;
        if (!sc->conn) continue;
        vg_conn_t *c = sc->conn;
        vg_conn_read_stop(c);
        if (sc->blocked) sc->eof = true;
        else flush_framer(sc);
        vg_conn_close(c); /* on_close may free sc */
    }
    if (rx->blocked) {
        rx->retry_ms = SYSLOG_RETRY_MIN_MS;
        arm_retry(rx);
    }
    maybe_finish(rx);
}

bool syslog_streams_busy(const syslog_rx_t *rx)
{
    return rx->open_listeners > 0 || rx->conns != NULL || rx->retry_open;
}

void syslog_streams_destroy(syslog_rx_t *rx)
{
    while (rx->conns) {
        syslog_conn_t *sc = rx->conns;
        if (sc->blocked) drop_held(sc, &rx->n.dropped_shutdown);
        conn_free(sc);
    }
    rx->blocked = rx->blocked_tail = NULL;
    rx->nblocked = 0;
}
