/* syslog receiver: RFC 5424 and RFC 3164 messages over TCP (optionally TLS,
 * RFC 5425), UDP (RFC 5426) and unix stream or datagram sockets (/dev/log
 * style), as OpenTelemetry log records. Options follow the OpenTelemetry
 * Collector's syslog receiver; docs/receivers-syslog.md lists the differences.
 *
 * Files: syslog.c options, factory, lifecycle, telemetry; syslog_conn.c
 * stream connections and back-pressure; syslog_dgram.c datagram sockets;
 * syslog_otlp.c message -> log record; syslog_parse.c / syslog_frame.c the
 * parser and the RFC 6587 framer.
 *
 * Back-pressure: a stream connection whose batch the pipeline refuses keeps
 * the refused frames and the unread rest of its input, stops reading its
 * socket (the kernel buffers fill, TCP flow control stalls the sender) and
 * retries on a timer; it reads again once the pipeline accepted everything
 * it held. Datagram sockets cannot push back: what the pipeline refuses is
 * counted as dropped, as is what the kernel drops when the socket's receive
 * buffer overflows. */
#include "receivers/syslog/syslog_int.h"

#include "config.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "service.h"
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const protocols[] = { "rfc5424", "rfc3164", "auto", NULL };
static const char *const trailers[] = { "LF", "NUL", NULL };
static const char *const on_errors[] = { "keep", "drop", NULL };
static const char *const unix_types[] = { "dgram", "stream", NULL };
static const char *const tls_versions[] = { "1.2", "1.3", NULL };

static const vg_option_t tls_opts[] = {
    { .name = "cert_file", .type = VG_OPT_STRING, .offset = offsetof(syslog_tls_cfg_t, cert_file),
      .flags = VG_OPT_REQUIRED, .doc = "PEM certificate chain the server presents." },
    { .name = "key_file", .type = VG_OPT_STRING, .offset = offsetof(syslog_tls_cfg_t, key_file),
      .flags = VG_OPT_REQUIRED, .doc = "PEM private key of cert_file." },
    { .name = "client_ca_file", .type = VG_OPT_STRING, .offset = offsetof(syslog_tls_cfg_t, client_ca_file),
      .doc = "PEM CA bundle. When set, clients must present a certificate it verifies (mutual TLS)." },
    { .name = "min_version", .type = VG_OPT_ENUM, .offset = offsetof(syslog_tls_cfg_t, min_version), .def = "1.2",
      .values = tls_versions, .doc = "Oldest TLS version accepted." },
    { 0 },
};

static const vg_option_t tcp_opts[] = {
    { .name = "listen_address", .type = VG_OPT_ENDPOINT, .offset = offsetof(syslog_tcp_cfg_t, listen_address),
      .flags = VG_OPT_REQUIRED, .doc = "host:port to listen on for TCP (or TLS) syslog, e.g. 0.0.0.0:54526." },
    { .name = "tls", .type = VG_OPT_TABLE, .offset = offsetof(syslog_tcp_cfg_t, tls), .sub = tls_opts,
      .present = VG_OPT_PRESENT(syslog_tcp_cfg_t, tls_set),
      .doc = "Serve TLS (RFC 5425) instead of plain TCP; only when this section is given." },
    { .name = "max_connections", .type = VG_OPT_INT, .offset = offsetof(syslog_tcp_cfg_t, max_connections),
      .def = "1024", .min = "0",
      .doc = "Open connections at once; more are closed when accepted and counted. 0 = no limit. A connection "
             "holds at most about 3 x max_octets + 200 KiB, also while the pipeline refuses (Vigil-specific)." },
    { .name = "idle_timeout", .type = VG_OPT_DURATION, .offset = offsetof(syslog_tcp_cfg_t, idle_timeout),
      .def = "0s", .min = "0",
      .doc = "Close a connection that sends nothing for this long (the wait for a refusing pipeline does not "
             "count). 0 = never: syslog senders keep quiet connections open (Vigil-specific)." },
    { .name = "add_attributes", .type = VG_OPT_BOOL, .offset = offsetof(syslog_tcp_cfg_t, add_attributes),
      .def = "true",
      .doc = "Add the peer's address as net.peer.ip, net.peer.port, network.peer.address, network.peer.port and "
             "network.transport. (The Collector's default is false.)" },
    { 0 },
};

static const vg_option_t udp_opts[] = {
    { .name = "listen_address", .type = VG_OPT_ENDPOINT, .offset = offsetof(syslog_udp_cfg_t, listen_address),
      .flags = VG_OPT_REQUIRED, .doc = "host:port to listen on for UDP syslog, e.g. 0.0.0.0:54526." },
    { .name = "receive_buffer_size", .type = VG_OPT_SIZE, .offset = offsetof(syslog_udp_cfg_t, receive_buffer_size),
      .def = "4MiB", .min = "0", .max = "1GiB",
      .doc = "Kernel receive buffer (SO_RCVBUF; SO_RCVBUFFORCE when the process may). Bursts beyond it are "
             "dropped by the kernel and counted in vigil_receiver_syslog_dropped_total{reason=\"kernel\"}. 0 "
             "keeps the system default (Vigil-specific)." },
    { .name = "one_log_per_packet", .type = VG_OPT_BOOL, .offset = offsetof(syslog_udp_cfg_t, one_log_per_packet),
      .def = "false",
      .doc = "Take each datagram as one message even when it holds trailer-separated (or octet-counted) ones." },
    { .name = "add_attributes", .type = VG_OPT_BOOL, .offset = offsetof(syslog_udp_cfg_t, add_attributes),
      .def = "true", .doc = "Add the sender's address attributes, as tcp.add_attributes." },
    { 0 },
};

static const vg_option_t unix_opts[] = {
    { .name = "path", .type = VG_OPT_STRING, .offset = offsetof(syslog_unix_cfg_t, path), .flags = VG_OPT_REQUIRED,
      .doc = "Socket file to create, e.g. /run/vigil/log (a stale one is replaced; removed at shutdown)." },
    { .name = "type", .type = VG_OPT_ENUM, .offset = offsetof(syslog_unix_cfg_t, type), .def = "dgram",
      .values = unix_types,
      .doc = "dgram: one message per datagram, as glibc's syslog(3) and logger write to /dev/log; stream: framed "
             "like TCP." },
    { .name = "mode", .type = VG_OPT_STRING, .offset = offsetof(syslog_unix_cfg_t, mode), .def = "0666",
      .doc = "Permissions of the socket file, in octal." },
    { .name = "receive_buffer_size", .type = VG_OPT_SIZE, .offset = offsetof(syslog_unix_cfg_t, receive_buffer_size),
      .def = "4MiB", .min = "0", .max = "1GiB", .doc = "dgram: kernel receive buffer, as udp.receive_buffer_size." },
    { .name = "max_connections", .type = VG_OPT_INT, .offset = offsetof(syslog_unix_cfg_t, max_connections),
      .def = "1024", .min = "0", .doc = "stream: open connections at once, as tcp.max_connections." },
    { .name = "one_log_per_packet", .type = VG_OPT_BOOL, .offset = offsetof(syslog_unix_cfg_t, one_log_per_packet),
      .def = "true",
      .doc = "dgram: each datagram is one message (local senders never frame). false splits datagrams as UDP "
             "does." },
    { .name = "add_attributes", .type = VG_OPT_BOOL, .offset = offsetof(syslog_unix_cfg_t, add_attributes),
      .def = "true",
      .doc = "Add network.transport=unix and the sender's credentials (unix.peer.pid, unix.peer.uid, "
             "unix.peer.gid from SO_PEERCRED / SCM_CREDENTIALS)." },
    { 0 },
};

static const vg_option_t syslog_opts[] = {
    { .name = "protocol", .type = VG_OPT_ENUM, .offset = offsetof(syslog_cfg_t, protocol), .def = "rfc5424",
      .values = protocols,
      .doc = "Message format: rfc5424, rfc3164 (BSD syslog as real senders write it), or auto (Vigil: "
             "RFC 5424 when the message says so, else RFC 3164; for /dev/log, which gets both)." },
    { .name = "location", .type = VG_OPT_STRING, .offset = offsetof(syslog_cfg_t, location), .def = "UTC",
      .doc = "IANA time zone (America/New_York, Local for /etc/localtime) of timestamps that carry no offset, "
             "as RFC 3164 ones." },
    { .name = "enable_octet_counting", .type = VG_OPT_BOOL, .offset = offsetof(syslog_cfg_t, enable_octet_counting),
      .def = "false",
      .doc = "Streams: accept RFC 6587 octet-counted framing (\"MSG-LEN SP MSG\"). Each connection is detected "
             "from its first byte, so trailer-framed senders keep working (the Collector takes one or the "
             "other)." },
    { .name = "non_transparent_framing_trailer", .type = VG_OPT_ENUM,
      .offset = offsetof(syslog_cfg_t, trailer), .def = "LF", .values = trailers,
      .doc = "Streams: the byte that ends a message without octet counting: LF (a CR before it is dropped too) "
             "or NUL." },
    { .name = "max_octets", .type = VG_OPT_SIZE, .offset = offsetof(syslog_cfg_t, max_octets), .def = "8192",
      .min = "64", .max = "64MiB",
      .doc = "Longest message. A longer one is cut there (the rest is skipped without being buffered) and "
             "treated like a message that does not parse." },
    { .name = "allow_skip_pri_header", .type = VG_OPT_BOOL,
      .offset = offsetof(syslog_cfg_t, allow_skip_pri_header), .def = "false",
      .doc = "rfc5424: accept messages without the <PRI> header (RFC 3164 never requires it)." },
    { .name = "on_error", .type = VG_OPT_ENUM, .offset = offsetof(syslog_cfg_t, on_error), .def = "keep",
      .values = on_errors,
      .doc = "A message that does not parse: keep sends it with body = the raw bytes and the attribute "
             "syslog.parse_error; drop leaves it out. Both are counted." },
    { .name = "attributes", .type = VG_OPT_MAP, .offset = offsetof(syslog_cfg_t, attributes),
      .doc = "key: value labels added to every record's attributes (literal strings; the Collector's "
             "expressions are not evaluated)." },
    { .name = "resource", .type = VG_OPT_MAP, .offset = offsetof(syslog_cfg_t, resource),
      .doc = "key: value labels added to the resource of every batch (literal strings)." },
    { .name = "tcp", .type = VG_OPT_TABLE, .offset = offsetof(syslog_cfg_t, tcp), .sub = tcp_opts,
      .present = VG_OPT_PRESENT(syslog_cfg_t, tcp_set), .doc = "Listen on TCP (or TLS)." },
    { .name = "udp", .type = VG_OPT_TABLE, .offset = offsetof(syslog_cfg_t, udp), .sub = udp_opts,
      .present = VG_OPT_PRESENT(syslog_cfg_t, udp_set), .doc = "Listen on UDP." },
    { .name = "unix", .type = VG_OPT_TABLE, .offset = offsetof(syslog_cfg_t, unix_), .sub = unix_opts,
      .present = VG_OPT_PRESENT(syslog_cfg_t, unix_set),
      .doc = "Listen on a unix socket (Vigil-specific), e.g. in place of /dev/log." },
    { 0 },
};

/* ---- validation ------------------------------------------------------------ */

static int parse_mode(const char *s, unsigned *out)
{
    if (!s || !*s) return VG_EINVAL;
    char *end;
    unsigned long v = strtoul(s, &end, 8);
    if (*end || v > 07777) return VG_EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int syslog_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const syslog_cfg_t *cfg = cfgp;
    char p[512];
    int rc = 0;
    if (!cfg->tcp_set && !cfg->udp_set && !cfg->unix_set) {
        vg_errs_add(errs, NULL, path, "at least one of tcp, udp or unix must be configured");
        rc = VG_ECONFIG;
    }
    if (cfg->tcp_set && (!cfg->tcp.listen_address || !*cfg->tcp.listen_address)) {
        snprintf(p, sizeof p, "%s.tcp.listen_address", path);
        vg_errs_add(errs, NULL, p, "must not be empty");
        rc = VG_ECONFIG;
    }
    if (cfg->tcp_set && cfg->tcp.tls_set) {
        const syslog_tls_cfg_t *t = &cfg->tcp.tls;
        if (!t->cert_file || !*t->cert_file || !t->key_file || !*t->key_file) {
            snprintf(p, sizeof p, "%s.tcp.tls", path);
            vg_errs_add(errs, NULL, p, "cert_file and key_file must both be set");
            rc = VG_ECONFIG;
        }
    }
    if (cfg->udp_set && (!cfg->udp.listen_address || !*cfg->udp.listen_address)) {
        snprintf(p, sizeof p, "%s.udp.listen_address", path);
        vg_errs_add(errs, NULL, p, "must not be empty");
        rc = VG_ECONFIG;
    }
    if (cfg->unix_set) {
        unsigned mode;
        if (!cfg->unix_.path || !*cfg->unix_.path || strlen(cfg->unix_.path) >= VG_EP_PATH_MAX) {
            snprintf(p, sizeof p, "%s.unix.path", path);
            vg_errs_add(errs, NULL, p, "must be a path of 1 to %d bytes", VG_EP_PATH_MAX - 1);
            rc = VG_ECONFIG;
        }
        if (parse_mode(cfg->unix_.mode, &mode)) {
            snprintf(p, sizeof p, "%s.unix.mode", path);
            vg_errs_add(errs, NULL, p, "expected octal permissions such as 0666, got '%s'",
                        cfg->unix_.mode ? cfg->unix_.mode : "");
            rc = VG_ECONFIG;
        }
    }
    vg_syslog_tz_t *tz = NULL;
    int tr = vg_syslog_tz_load(cfg->location, NULL, &tz);
    vg_syslog_tz_free(tz);
    if (tr) {
        snprintf(p, sizeof p, "%s.location", path);
        vg_errs_add(errs, NULL, p, "cannot load time zone '%s': %s", cfg->location ? cfg->location : "",
                    tr == VG_ENOTFOUND ? "no such zone" : vg_strerror(tr));
        rc = VG_ECONFIG;
    }
    return rc;
}

/* ---- emitting ---------------------------------------------------------------- */

int syslog_emit(syslog_rx_t *rx, vg_batch_t *b)
{
    vg_component_t *c = rx->c;
    size_t items = b->items;
    int rc = vg_component_emit(c, b);
    if (rc == 0) {
        c->stats.accepted[VG_SIG_LOGS] += items;
        return 0;
    }
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) {
        c->stats.refused[VG_SIG_LOGS] += items;
        return rc;
    }
    c->stats.rejected[VG_SIG_LOGS] += items;
    VG_WARN(c->id, "pipeline rejected %zu log records: %s", items, vg_strerror(rc));
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int syslog_create(vg_component_t *c)
{
    const syslog_cfg_t *cfg = c->cfg;
    syslog_rx_t *rx = vg_calloc(1, sizeof *rx);
    if (!rx) return VG_ENOMEM;
    rx->c = c;
    rx->cfg = cfg;
    int rc = vg_syslog_tz_load(cfg->location, NULL, &rx->tz);
    if (rc) {
        VG_ERROR(c->id, "cannot load time zone '%s': %s", cfg->location ? cfg->location : "", vg_strerror(rc));
        vg_free(rx);
        return rc == VG_ENOMEM ? rc : VG_ECONFIG;
    }
    rx->popts = (vg_syslog_parse_opts_t){
        .protocol = cfg->protocol == 0 ? VG_SYSLOG_RFC5424 : cfg->protocol == 1 ? VG_SYSLOG_RFC3164 : VG_SYSLOG_AUTO,
        .location = rx->tz,
        .allow_skip_pri = cfg->allow_skip_pri_header,
    };
    rx->fopts = (vg_syslog_framer_opts_t){
        .octet_counting = cfg->enable_octet_counting,
        .non_transparent = true,
        .trailer = cfg->trailer == 1 ? VG_SYSLOG_TRAILER_NUL : VG_SYSLOG_TRAILER_CRLF,
        .max_octets = (size_t)cfg->max_octets,
    };
    rx->mcfg = (vg_syslog_map_cfg_t){
        .parse = &rx->popts,
        .drop_errors = cfg->on_error == SYSLOG_ON_ERROR_DROP,
        .max_octets = (size_t)cfg->max_octets,
        .attributes = &cfg->attributes,
        .resource = &cfg->resource,
    };
    rx->sbld = vg_malloc(sizeof *rx->sbld);
    if (!rx->sbld) {
        vg_syslog_tz_free(rx->tz);
        vg_free(rx);
        return VG_ENOMEM;
    }
    vg_syslog_builder_init(rx->sbld, &rx->mcfg);
    rx->retry_ms = SYSLOG_RETRY_MIN_MS;
    c->state = rx;
    return 0;
}

static int syslog_start(vg_component_t *c)
{
    syslog_rx_t *rx = c->state;
    char err[512] = "";
    rx->started = true;
    int rc = syslog_streams_start(rx, err, sizeof err);
    if (rc == 0) rc = syslog_dgram_start(rx, err, sizeof err);
    if (rc) {
        VG_ERROR(c->id, "cannot start: %s", err[0] ? err : vg_strerror(rc));
        return rc;
    }
    return 0;
}

static void syslog_shutdown(vg_component_t *c)
{
    syslog_rx_t *rx = c->state;
    if (!rx || rx->shutting) return;
    rx->shutting = true;
    /* Refused stream data is retried for most of the service's drain time,
     * leaving the rest to the processors and exporters behind us. */
    int64_t drain_ns = 10000000000LL;
    if (c->svc && vg_service_config(c->svc)) drain_ns = vg_service_config(c->svc)->service.drain_timeout;
    rx->drain_deadline_ms = uv_now(c->loop) + (uint64_t)(drain_ns / 1000000) * 7 / 10;
    syslog_dgram_shutdown(rx);
    syslog_streams_shutdown(rx);
}

static bool syslog_busy(vg_component_t *c)
{
    syslog_rx_t *rx = c->state;
    return syslog_streams_busy(rx) || syslog_dgram_busy(rx);
}

static void syslog_destroy(vg_component_t *c)
{
    syslog_rx_t *rx = c->state;
    if (!rx) return;
    syslog_streams_destroy(rx);
    syslog_dgram_destroy(rx);
    if (rx->sbld) vg_syslog_builder_clear(rx->sbld);
    vg_free(rx->sbld);
    vg_syslog_tz_free(rx->tz);
    vg_free(rx);
    c->state = NULL;
}

/* ---- telemetry ------------------------------------------------------------------ */

static void sum_stats(vg_syslog_map_stats_t *t, const vg_syslog_map_stats_t *s)
{
    t->records += s->records;
    t->parse_errors += s->parse_errors;
    t->too_long += s->too_long;
    t->frame_errors += s->frame_errors;
    t->dropped += s->dropped;
    t->nomem += s->nomem;
    t->utf8_repaired += s->utf8_repaired;
}

static void syslog_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    syslog_rx_t *rx = c->state;
    if (!rx) return;
    char l[512], lr[600];
    snprintf(l, sizeof l, "receiver=\"%s\"", c->id);
    vg_syslog_map_stats_t s = { 0 };
    if (rx->sbld) sum_stats(&s, &rx->sbld->st);
    vg_syslog_map_stats_t d = { 0 };
    syslog_dgram_builder_stats(rx, &d);
    sum_stats(&s, &d);
    vg_tm_add(t, "vigil_receiver_syslog_parse_errors_total", "counter",
              "Messages that did not parse (kept with syslog.parse_error, or dropped with on_error: drop).", l,
              (double)s.parse_errors);
    vg_tm_add(t, "vigil_receiver_syslog_too_long_total", "counter",
              "Messages longer than max_octets (cut there; kept or dropped like parse errors).", l,
              (double)s.too_long);
    vg_tm_add(t, "vigil_receiver_syslog_framing_errors_total", "counter",
              "Broken octet counts and other framing errors that left no message to keep.", l,
              (double)s.frame_errors);
    vg_tm_add(t, "vigil_receiver_syslog_utf8_repaired_total", "counter",
              "Records in which invalid UTF-8 or NUL bytes were replaced by U+FFFD.", l, (double)s.utf8_repaired);
    struct { const char *reason; uint64_t v; } drops[] = {
        { "on_error", s.dropped },
        { "no_memory", s.nomem },
        { "refused", rx->n.dropped_refused },
        { "shutdown", rx->n.dropped_shutdown },
        { "closed_while_blocked", rx->n.dropped_orphan },
        { "kernel", 0 },
    };
    uint64_t kdrops = 0, kd;
    int64_t rcvbuf;
    if (rx->udp) { syslog_dgram_socket_stats(rx->udp, &kd, &rcvbuf); kdrops += kd; }
    if (rx->udg) { syslog_dgram_socket_stats(rx->udg, &kd, &rcvbuf); kdrops += kd; }
    drops[5].v = kdrops;
    for (size_t i = 0; i < sizeof drops / sizeof *drops; i++) {
        snprintf(lr, sizeof lr, "%s,reason=\"%s\"", l, drops[i].reason);
        vg_tm_add(t, "vigil_receiver_syslog_dropped_total", "counter",
                  "Messages lost, by reason (datagrams the pipeline refused, kernel receive-buffer overflows, "
                  "on_error: drop, ...).", lr, (double)drops[i].v);
    }
    const struct { const char *tr; vg_listener_t *l; } ls[] = { { "tcp", rx->tcp_l }, { "unix", rx->unix_l } };
    for (size_t i = 0; i < 2; i++) {
        if (!ls[i].l) continue;
        const vg_listener_stats_t *st = vg_listener_stats(ls[i].l);
        snprintf(lr, sizeof lr, "%s,transport=\"%s\"", l, ls[i].tr);
        vg_tm_add(t, "vigil_receiver_syslog_connections", "gauge", "Open stream connections.", lr,
                  (double)st->active);
        vg_tm_add(t, "vigil_receiver_syslog_connections_accepted_total", "counter", "Stream connections accepted.",
                  lr, (double)st->accepted);
        vg_tm_add(t, "vigil_receiver_syslog_connections_refused_total", "counter",
                  "Connections closed at accept because of max_connections.", lr, (double)st->refused);
        vg_tm_add(t, "vigil_receiver_syslog_idle_timeouts_total", "counter",
                  "Connections closed by idle_timeout.", lr, (double)st->idle_timeouts);
        vg_tm_add(t, "vigil_receiver_syslog_tls_failures_total", "counter", "TLS handshakes that failed.", lr,
                  (double)st->tls_failures);
    }
    vg_tm_add(t, "vigil_receiver_syslog_blocked_connections", "gauge",
              "Stream connections not being read because the pipeline refuses (back-pressure).", l,
              (double)rx->nblocked);
    vg_tm_add(t, "vigil_receiver_syslog_backpressure_pauses_total", "counter",
              "Times a stream connection stopped reading because the pipeline refused.", l,
              (double)rx->n.stream_blocks);
    vg_tm_add(t, "vigil_receiver_syslog_datagrams_total", "counter", "Datagrams received (UDP and unix).", l,
              (double)rx->n.dgram_received);
    const struct { const char *tr; syslog_dgram_t *d; } ds[] = { { "udp", rx->udp }, { "unix", rx->udg } };
    for (size_t i = 0; i < 2; i++) {
        if (!ds[i].d) continue;
        syslog_dgram_socket_stats(ds[i].d, &kd, &rcvbuf);
        snprintf(lr, sizeof lr, "%s,transport=\"%s\"", l, ds[i].tr);
        vg_tm_add(t, "vigil_receiver_syslog_receive_buffer_bytes", "gauge",
                  "Effective kernel receive buffer of the datagram socket.", lr, (double)rcvbuf);
    }
}

const vg_factory_t vg_syslog_receiver_factory = {
    .type = "syslog",
    .kind = VG_KIND_RECEIVER,
    .description = "Receives syslog (RFC 5424, RFC 3164) over TCP, TLS, UDP and unix stream or datagram sockets "
                   "as log records, with the OpenTelemetry Collector's attribute names. TCP applies real "
                   "back-pressure: a connection whose data the pipeline refuses is not read until it accepts. "
                   "Differences from the Collector: [receivers-syslog.md](../receivers-syslog.md).",
    .signals = VG_SIGBIT(VG_SIG_LOGS),
    .options = syslog_opts,
    .config_size = sizeof(syslog_cfg_t),
    .validate = syslog_validate,
    .create = syslog_create,
    .start = syslog_start,
    .shutdown = syslog_shutdown,
    .busy = syslog_busy,
    .destroy = syslog_destroy,
    .telemetry = syslog_telemetry,
};
