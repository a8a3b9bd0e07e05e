/* Incremental syslog stream framer (RFC 6587) for TCP, TLS and unix stream
 * sockets. Pure code: bytes in, frames out through a callback.
 *
 * Framings:
 * - Octet counting: MSG-LEN SP SYSLOG-MSG, MSG-LEN = NONZERO-DIGIT 0*8DIGIT
 *   (at most 9 digits). LF, CR, NUL and SP bytes between frames are ignored.
 * - Non-transparent: each message ends with the trailer: LF, NUL, or CRLF
 *   (LF that also removes one CR right before it; that CR counts toward
 *   max_octets). Empty frames are skipped. At connection close the last
 *   line without trailer is a message (vg_syslog_framer_flush).
 * - Both enabled: detected once per connection from its first byte: a digit
 *   means octet counting, anything else non-transparent. If that first
 *   count is malformed ("2025-06-15 ...", "404 x\n" is fine) the connection
 *   was line-framed after all and switches to non-transparent, losing nothing.
 *
 * Memory: a framer holds at most max_octets bytes (one buffer allocated at
 * creation, touched only when a frame straddles two feeds). A frame that lies
 * inside the fed buffer is passed zero-copy; only a partial tail is copied.
 *
 * Errors never stop the framer; they are reported as frames with a status:
 * - VG_ETOOBIG: the message is longer than max_octets. `data` holds its first
 *   max_octets bytes; the rest is discarded (octet counting: exactly up to the
 *   announced length; non-transparent: up to the next trailer). Nothing past
 *   max_octets is ever buffered.
 * - VG_EPARSE: a broken octet count ("12x", a leading zero, more than 9
 *   digits) - data is NULL; the framer resynchronises by discarding up to and
 *   including the next LF. Or a connection closed inside a frame or count
 *   (flush) - data holds what had arrived, possibly nothing.
 *
 * Not thread-safe; one framer per connection, on the loop owning it. */
#ifndef VIGIL_SYSLOG_FRAME_H
#define VIGIL_SYSLOG_FRAME_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    VG_SYSLOG_TRAILER_LF = 0,
    VG_SYSLOG_TRAILER_NUL,
    VG_SYSLOG_TRAILER_CRLF,
} vg_syslog_trailer_t;

typedef enum {
    VG_SYSLOG_FRAMING_UNKNOWN = 0, /* both enabled, first byte not seen yet */
    VG_SYSLOG_FRAMING_OCTET,
    VG_SYSLOG_FRAMING_NONTRANSPARENT,
} vg_syslog_framing_t;

#define VG_SYSLOG_DEFAULT_MAX_OCTETS 8192u          /* the Collector's default */
#define VG_SYSLOG_MAX_MAX_OCTETS (64u * 1024 * 1024)

typedef struct {
    bool octet_counting;         /* the Collector's enable_octet_counting */
    bool non_transparent;        /* trailer-delimited frames */
    vg_syslog_trailer_t trailer; /* non_transparent_framing_trailer */
    size_t max_octets;           /* 0 = VG_SYSLOG_DEFAULT_MAX_OCTETS */
} vg_syslog_framer_opts_t;

typedef struct {
    const char *data; /* valid only during the callback */
    size_t len;
    int status;         /* 0, VG_ETOOBIG or VG_EPARSE (see above) */
    const char *reason; /* static text when status != 0, else NULL */
} vg_syslog_frame_t;

/* Return 0 to go on; non-zero stops the feed right after this frame (the
 * frame counts as consumed). The callback must not call back into the framer. */
typedef int (*vg_syslog_frame_cb)(void *ud, const vg_syslog_frame_t *frame);

typedef struct vg_syslog_framer vg_syslog_framer_t;

/* Returns 0, VG_EINVAL (no framing enabled, max_octets too big) or VG_ENOMEM. */
int vg_syslog_framer_new(const vg_syslog_framer_opts_t *opts, vg_syslog_framer_t **out);
void vg_syslog_framer_free(vg_syslog_framer_t *fr); /* NULL is fine */

/* Feed bytes as they arrive. Calls cb for each complete frame and error.
 * Returns the number of bytes consumed: len, or less when cb asked to stop;
 * feed the rest again later. */
size_t vg_syslog_framer_feed(vg_syslog_framer_t *fr, const char *data, size_t len,
                             vg_syslog_frame_cb cb, void *ud);

/* Connection closed: deliver what is pending (a non-transparent line without
 * trailer as a message; a partial octet-counted frame as VG_EPARSE) and reset
 * the framer for a new connection. Returns cb's non-zero result or 0. */
int vg_syslog_framer_flush(vg_syslog_framer_t *fr, vg_syslog_frame_cb cb, void *ud);

/* Forget all state (new connection), keeping the options. */
void vg_syslog_framer_reset(vg_syslog_framer_t *fr);

vg_syslog_framing_t vg_syslog_framer_mode(const vg_syslog_framer_t *fr);
size_t vg_syslog_framer_buffered(const vg_syslog_framer_t *fr); /* bytes held */

#endif
