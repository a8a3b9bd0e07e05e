/* Syslog messages -> OTLP log records, built straight into a batch's arena.
 *
 * A builder accumulates records of one batch: frames go in one at a time
 * (vg_syslog_builder_add), a finished batch comes out (vg_syslog_builder_take).
 * Pure code over the arena: no I/O, no clock, no globals; one builder per
 * loop-owned user (the receiver has one for streams and one for datagrams).
 *
 * What a record holds (names as the OpenTelemetry Collector's syslog
 * receiver, see syslog_parse.h for the attribute macros):
 *   time_unix_nano            the message's timestamp, 0 when it has none
 *   observed_time_unix_nano   arrival time given to add()
 *   severity_number / _text   from the PRI severity (unset without a PRI)
 *   body                      the raw message (frame without trailing LF/CR/NUL)
 *   attributes                appname hostname proc_id msg_id message
 *                             structured_data version priority facility
 *                             facility_text (absent fields give none), then
 *                             the peer's (see vg_syslog_builder_set_peer),
 *                             then cfg.attributes; cfg.resource goes on the
 *                             batch's resource
 * A message that does not parse (or was cut at max_octets) becomes a record
 * with body = the raw bytes and `syslog.parse_error` = why, or is dropped
 * when drop_errors is set; both are counted in `st`.
 *
 * Strings: every string stored is valid UTF-8 without NUL. Invalid sequences
 * are replaced by U+FFFD (one per maximal invalid subpart, as Python's
 * "replace" and WHATWG do) and so are NUL bytes, which protobuf-c strings
 * cannot carry. Counted in st.utf8_repaired (messages).
 *
 * Sharing: within one batch, KeyValues whose key and value repeat (priority,
 * facility, version, the peer's, a hostname equal to the previous record's)
 * are one object referenced by several records, and the message attribute
 * points into the body string when it is the body's tail. Both live in the
 * batch arena; processors never edit KeyValues in place (attrs.h). */
#ifndef VIGIL_SYSLOG_OTLP_H
#define VIGIL_SYSLOG_OTLP_H

#include "batch.h"
#include "net/peer.h"
#include "options.h"
#include "otlp.h"
#include "receivers/syslog/syslog_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Peer attributes (add_attributes). The net.* pair is what the Collector's
 * tcp/udp inputs add (port as a string there); network.* is current
 * semantic conventions. unix.peer.* are Vigil's (SO_PEERCRED/SCM_CREDENTIALS). */
#define VG_SYSLOG_ATTR_NET_PEER_IP       "net.peer.ip"
#define VG_SYSLOG_ATTR_NET_PEER_PORT     "net.peer.port"
#define VG_SYSLOG_ATTR_NETWORK_PEER_ADDR "network.peer.address"
#define VG_SYSLOG_ATTR_NETWORK_PEER_PORT "network.peer.port"
#define VG_SYSLOG_ATTR_NETWORK_TRANSPORT "network.transport"
#define VG_SYSLOG_ATTR_UNIX_PEER_PID     "unix.peer.pid"
#define VG_SYSLOG_ATTR_UNIX_PEER_UID     "unix.peer.uid"
#define VG_SYSLOG_ATTR_UNIX_PEER_GID     "unix.peer.gid"

typedef enum { VG_SYSLOG_NET_TCP = 0, VG_SYSLOG_NET_UDP, VG_SYSLOG_NET_UNIX } vg_syslog_net_t;

typedef struct {
    const vg_syslog_parse_opts_t *parse; /* protocol, location, skip-PRI; now_ns is set per add */
    bool drop_errors;                    /* on_error: drop */
    size_t max_octets;                   /* for the "too long" error text */
    const vg_strmap_t *attributes;       /* added to every record (may be NULL) */
    const vg_strmap_t *resource;         /* added to every batch's resource (may be NULL) */
} vg_syslog_map_cfg_t;

typedef struct {
    uint64_t records;       /* records added */
    uint64_t parse_errors;  /* messages that did not parse (kept or dropped) */
    uint64_t too_long;      /* messages cut at max_octets (kept or dropped) */
    uint64_t frame_errors;  /* framing errors that left no bytes (bad octet count) */
    uint64_t dropped;       /* left out by on_error: drop */
    uint64_t nomem;         /* lost: no memory for the record */
    uint64_t utf8_repaired; /* records in which bytes were replaced by U+FFFD */
} vg_syslog_map_stats_t;

enum {
    VG_SYSLOG_K_APPNAME = 0, VG_SYSLOG_K_HOSTNAME, VG_SYSLOG_K_PROC_ID, VG_SYSLOG_K_MSG_ID, VG_SYSLOG_K_MESSAGE,
    VG_SYSLOG_K_SD, VG_SYSLOG_K_VERSION, VG_SYSLOG_K_PRIORITY, VG_SYSLOG_K_FACILITY, VG_SYSLOG_K_FACILITY_TEXT,
    VG_SYSLOG_K_PARSE_ERROR, VG_SYSLOG_K_COUNT
};

#define VG_SYSLOG_PEER_KV_MAX 6

typedef struct vg_syslog_builder {
    vg_syslog_map_cfg_t cfg;
    vg_syslog_map_stats_t st;
    /* the batch being built (NULL when empty) */
    vg_batch_t *b;
    vg_scope_logs_t *sl;
    size_t cap;       /* capacity of sl->log_records */
    size_t raw_bytes; /* frame bytes behind the records */
    /* peer */
    vg_syslog_net_t net;
    vg_peer_t peer;
    bool peer_set, peer_mixed, peer_kv_ready, add_peer;
    vg_kv_t *peer_kv[VG_SYSLOG_PEER_KV_MAX];
    size_t n_peer_kv;
    vg_kv_t **extra_kv; /* cfg.attributes, made once per batch */
    size_t n_extra_kv;
    /* per-batch caches (valid while b is) */
    char *key[VG_SYSLOG_K_COUNT];
    vg_kv_t *kv_pri[192], *kv_fac[24], *kv_factext[24], *kv_ver;
    char *sev_text[8];
    vg_kv_t *last[4]; /* hostname, appname, proc_id, msg_id of the previous record */
    size_t last_len[4];
    vg_syslog_msg_t msg; /* scratch parse result */
} vg_syslog_builder_t;

void vg_syslog_builder_init(vg_syslog_builder_t *bd, const vg_syslog_map_cfg_t *cfg);
/* Drops the unfinished batch (if any). */
void vg_syslog_builder_clear(vg_syslog_builder_t *bd);

/* The sender of the next records, and whether to add its attributes. Cheap
 * when unchanged. A batch whose records come from more than one peer gets
 * batch->peer family 0. */
void vg_syslog_builder_set_peer(vg_syslog_builder_t *bd, vg_syslog_net_t net, const vg_peer_t *peer, bool add_attrs);
/* True when a peer is set and differs from `peer` (callers that want one
 * peer per batch take the batch first). */
bool vg_syslog_builder_peer_differs(const vg_syslog_builder_t *bd, vg_syslog_net_t net, const vg_peer_t *peer);

/* One frame from the framer (status 0, VG_ETOOBIG or VG_EPARSE as in
 * syslog_frame.h; data may be NULL for VG_EPARSE). Returns 1 when a record
 * was added, 0 when the frame was counted and left out (on_error drop,
 * a framing error without bytes), VG_ENOMEM when no record could be made
 * (counted as dropped; the batch stays valid). */
int vg_syslog_builder_add(vg_syslog_builder_t *bd, const char *data, size_t len, int status, int64_t observed_ns);

static inline size_t vg_syslog_builder_count(const vg_syslog_builder_t *bd)
{
    return bd->sl ? bd->sl->n_log_records : 0;
}
/* Arena bytes of the batch being built. */
size_t vg_syslog_builder_bytes(const vg_syslog_builder_t *bd);

/* The finished batch (items and bytes counted), or NULL when it holds no
 * record. The builder is empty afterwards; its peer stays set. */
vg_batch_t *vg_syslog_builder_take(vg_syslog_builder_t *bd);

/* ---- UTF-8 ---------------------------------------------------------------- */
/* True when s[0..n) is valid UTF-8 (RFC 3629) without NUL bytes. */
bool vg_syslog_utf8_clean(const char *s, size_t n);
/* Writes s with each maximal invalid subpart and each NUL replaced by U+FFFD
 * (EF BF BD) to out, which must hold 3 * n bytes. Returns the length written. */
size_t vg_syslog_utf8_repair(const char *s, size_t n, char *out);

#endif
