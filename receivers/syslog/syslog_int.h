/* Internal to the syslog receiver: configuration, instance state and the
 * functions syslog.c, syslog_conn.c and syslog_dgram.c call across files. */
#ifndef VIGIL_SYSLOG_INT_H
#define VIGIL_SYSLOG_INT_H

#include "component.h"
#include "net/conn.h"
#include "receivers/syslog/syslog_frame.h"
#include "receivers/syslog/syslog_otlp.h"
#include "receivers/syslog/syslog_parse.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ---- configuration ------------------------------------------------------ */

typedef struct {
    char *cert_file, *key_file, *client_ca_file;
    int min_version; /* index into the "1.2", "1.3" values */
} syslog_tls_cfg_t;

typedef struct {
    char *listen_address;
    bool tls_set;
    syslog_tls_cfg_t tls;
    int64_t max_connections;
    int64_t idle_timeout; /* ns; 0 = none */
    bool add_attributes;
} syslog_tcp_cfg_t;

typedef struct {
    char *listen_address;
    uint64_t receive_buffer_size;
    bool one_log_per_packet;
    bool add_attributes;
} syslog_udp_cfg_t;

typedef struct {
    char *path;
    int type; /* 0 dgram, 1 stream */
    char *mode;
    uint64_t receive_buffer_size;
    int64_t max_connections;
    bool one_log_per_packet;
    bool add_attributes;
} syslog_unix_cfg_t;

enum { SYSLOG_UNIX_DGRAM = 0, SYSLOG_UNIX_STREAM = 1 };
enum { SYSLOG_ON_ERROR_KEEP = 0, SYSLOG_ON_ERROR_DROP = 1 };

typedef struct {
    int protocol; /* index: rfc5424, rfc3164, auto */
    char *location;
    bool enable_octet_counting;
    int trailer; /* LF, NUL */
    uint64_t max_octets;
    bool allow_skip_pri_header;
    int on_error;
    vg_strmap_t attributes, resource;
    bool tcp_set, udp_set, unix_set;
    syslog_tcp_cfg_t tcp;
    syslog_udp_cfg_t udp;
    syslog_unix_cfg_t unix_;
} syslog_cfg_t;

/* ---- instance ------------------------------------------------------------ */

/* Most records in one batch, and arena bytes at which a batch is sent early. */
#define SYSLOG_BATCH_MAX_RECORDS 4096
#define SYSLOG_BATCH_MAX_BYTES (4u << 20)
/* Retry of refused stream data: first delay, cap. */
#define SYSLOG_RETRY_MIN_MS 5
#define SYSLOG_RETRY_MAX_MS 200
/* Connections closed by their peer with refused data still held. */
#define SYSLOG_ORPHAN_MAX_BYTES (16u << 20)

typedef struct syslog_conn syslog_conn_t;
typedef struct syslog_dgram syslog_dgram_t;

typedef struct {
    uint64_t tcp_accepted, unix_accepted;
    uint64_t stream_blocks;     /* times a connection stopped reading because the pipeline refused */
    uint64_t dgram_received;    /* datagrams read */
    uint64_t dgram_truncated;   /* datagrams longer than the buffer (cut; counted as too long) */
    uint64_t dropped_refused;   /* datagram records the pipeline refused (lost) */
    uint64_t dropped_shutdown;  /* stream records still refused when the drain ended */
    uint64_t dropped_orphan;    /* records of closed connections beyond SYSLOG_ORPHAN_MAX_BYTES */
} syslog_counters_t;

typedef struct syslog_rx {
    vg_component_t *c;
    const syslog_cfg_t *cfg;
    vg_syslog_tz_t *tz;
    vg_syslog_parse_opts_t popts;
    vg_syslog_framer_opts_t fopts;
    vg_syslog_map_cfg_t mcfg;
    vg_syslog_builder_t *sbld; /* streams: filled and emitted within one callback */
    syslog_counters_t n;
    /* streams */
    vg_listener_t *tcp_l, *unix_l;
    int open_listeners;
    syslog_conn_t *conns;          /* every conn state, orphans included */
    syslog_conn_t *blocked, *blocked_tail; /* waiting for the pipeline, FIFO */
    size_t nconns, nblocked;
    size_t orphan_bytes;
    uv_timer_t retry;
    bool retry_init, retry_open;
    uint64_t retry_ms;
    /* datagrams: both sockets fill one builder, sent once per loop iteration
     * (uv_check) or when full */
    syslog_dgram_t *udp, *udg;
    vg_syslog_builder_t *dbld;
    uv_check_t check;
    bool check_open;
    bool dgram_refusing; /* the last datagram batch was refused (log once per episode) */
    /* lifecycle */
    bool started, shutting;
    uint64_t drain_deadline_ms;    /* after shutdown: give up on refused data then */
} syslog_rx_t;

/* syslog.c: hands a finished batch to the pipeline and counts it. Returns 0
 * (accepted, or rejected for good: counted and logged) or a retryable error
 * (VG_ENOMEM included) when the caller must keep the data. */
int syslog_emit(syslog_rx_t *rx, vg_batch_t *b);

/* syslog_conn.c: streams (TCP, TLS, unix stream). */
int syslog_streams_start(syslog_rx_t *rx, char *err, size_t errlen);
/* Stops listening, delivers what conns hold (as far as the pipeline takes
 * it) and closes them. */
void syslog_streams_shutdown(syslog_rx_t *rx);
bool syslog_streams_busy(const syslog_rx_t *rx);
/* After the loop closed all handles: frees what is left (counted as dropped). */
void syslog_streams_destroy(syslog_rx_t *rx);
/* Retry timer tick (also from shutdown). */
void syslog_streams_retry(syslog_rx_t *rx);

/* syslog_dgram.c: UDP and unix datagram sockets. */
int syslog_dgram_start(syslog_rx_t *rx, char *err, size_t errlen);
void syslog_dgram_shutdown(syslog_rx_t *rx);
bool syslog_dgram_busy(const syslog_rx_t *rx);
void syslog_dgram_destroy(syslog_rx_t *rx);
/* The bound UDP port (tests bind port 0), 0 for unix sockets. */
int syslog_dgram_port(const syslog_dgram_t *d);
/* The datagram builder's counters. */
void syslog_dgram_builder_stats(const syslog_rx_t *rx, vg_syslog_map_stats_t *out);
/* Kernel receive-queue drops and the effective SO_RCVBUF, for telemetry. */
void syslog_dgram_socket_stats(syslog_dgram_t *d, uint64_t *drops, int64_t *rcvbuf);

#endif
