/* RFC 6587 stream framer; see syslog_frame.h. */
#include "receivers/syslog/syslog_frame.h"

#include "collector/error.h"
#include "collector/mem.h"

#include <string.h>

enum {
    ST_DETECT,    /* both framings on, first byte not seen */
    ST_LEN,       /* reading MSG-LEN */
    ST_BODY,      /* reading an octet-counted frame */
    ST_SKIP,      /* dropping the rest of an over-long octet-counted frame */
    ST_RESYNC,    /* after a broken count: dropping up to the next LF */
    ST_LINE,      /* reading a trailer-delimited frame */
    ST_LINE_SKIP, /* dropping the rest of an over-long line */
};

#define MAX_COUNT_DIGITS 9

struct vg_syslog_framer {
    vg_syslog_framer_opts_t o;
    vg_syslog_framing_t mode;
    int state;
    bool probing;     /* auto-detected octet counting, first count not complete yet */
    unsigned ndigits;
    size_t count;     /* ST_LEN: value so far; ST_BODY: announced frame length */
    size_t skip;      /* ST_SKIP: bytes still to drop */
    size_t buf_len;
    size_t cap;       /* max_octets */
    char buf[];
};

static void reset_state(vg_syslog_framer_t *fr)
{
    if (fr->o.octet_counting && fr->o.non_transparent) {
        fr->mode = VG_SYSLOG_FRAMING_UNKNOWN;
        fr->state = ST_DETECT;
    } else if (fr->o.octet_counting) {
        fr->mode = VG_SYSLOG_FRAMING_OCTET;
        fr->state = ST_LEN;
    } else {
        fr->mode = VG_SYSLOG_FRAMING_NONTRANSPARENT;
        fr->state = ST_LINE;
    }
    fr->probing = false;
    fr->ndigits = 0;
    fr->count = fr->skip = fr->buf_len = 0;
}

int vg_syslog_framer_new(const vg_syslog_framer_opts_t *opts, vg_syslog_framer_t **out)
{
    *out = NULL;
    if (!opts || (!opts->octet_counting && !opts->non_transparent)) return VG_EINVAL;
    if (opts->trailer > VG_SYSLOG_TRAILER_CRLF) return VG_EINVAL;
    size_t cap = opts->max_octets ? opts->max_octets : VG_SYSLOG_DEFAULT_MAX_OCTETS;
    if (cap > VG_SYSLOG_MAX_MAX_OCTETS) return VG_EINVAL;
    vg_syslog_framer_t *fr = vg_malloc(sizeof *fr + cap);
    if (!fr) return VG_ENOMEM;
    fr->o = *opts;
    fr->cap = cap;
    reset_state(fr);
    *out = fr;
    return 0;
}

void vg_syslog_framer_free(vg_syslog_framer_t *fr) { vg_free(fr); }
void vg_syslog_framer_reset(vg_syslog_framer_t *fr) { reset_state(fr); }
vg_syslog_framing_t vg_syslog_framer_mode(const vg_syslog_framer_t *fr) { return fr->mode; }
size_t vg_syslog_framer_buffered(const vg_syslog_framer_t *fr) { return fr->buf_len; }

static int emit(vg_syslog_frame_cb cb, void *ud, const char *data, size_t len, int status, const char *reason)
{
    vg_syslog_frame_t f = {.data = data, .len = len, .status = status, .reason = reason};
    return cb(ud, &f);
}

/* A malformed octet count. When it is the first frame of a connection that
 * was detected as octet counting only by its leading digit, it was a line that
 * starts with a digit (a date, a bare number): switch the connection to
 * non-transparent framing and keep the digits read so far as the line start.
 * Otherwise report it and resynchronise at the next LF. */
static int bad_count(vg_syslog_framer_t *fr, vg_syslog_frame_cb cb, void *ud, const char *why)
{
    unsigned nd = fr->ndigits;
    size_t v = fr->count;
    fr->ndigits = 0;
    fr->count = 0;
    if (fr->probing) {
        fr->probing = false;
        fr->mode = VG_SYSLOG_FRAMING_NONTRANSPARENT;
        fr->state = ST_LINE;
        char digits[MAX_COUNT_DIGITS];
        for (unsigned i = nd; i-- > 0; v /= 10) digits[i] = (char)('0' + v % 10);
        if (nd > fr->cap) {
            fr->state = ST_LINE_SKIP;
            return emit(cb, ud, digits, fr->cap, VG_ETOOBIG, "message longer than max_octets");
        }
        memcpy(fr->buf, digits, nd);
        fr->buf_len = nd;
        return 0;
    }
    fr->state = ST_RESYNC;
    return emit(cb, ud, NULL, 0, VG_EPARSE, why);
}

/* A finished line (trailer removed): CRLF handling, empty lines dropped. */
static int emit_line(vg_syslog_framer_t *fr, vg_syslog_frame_cb cb, void *ud, const char *d, size_t n, bool cut)
{
    if (cut) return emit(cb, ud, d, fr->cap, VG_ETOOBIG, "message longer than max_octets");
    if (fr->o.trailer == VG_SYSLOG_TRAILER_CRLF && n > 0 && d[n - 1] == '\r') n--;
    if (n == 0) return 0;
    return emit(cb, ud, d, n, 0, NULL);
}

size_t vg_syslog_framer_feed(vg_syslog_framer_t *fr, const char *data, size_t len, vg_syslog_frame_cb cb, void *ud)
{
    if (!len) return 0;
    const char *p = data, *end = data + len;
    const char delim = fr->o.trailer == VG_SYSLOG_TRAILER_NUL ? '\0' : '\n';
    int rc;
#define STOP_IF(expr) do { if ((rc = (expr)) != 0) return (size_t)(p - data); } while (0)

    while (p < end) {
        switch (fr->state) {
        case ST_DETECT:
            if ((unsigned)(*p - '0') < 10) {
                fr->mode = VG_SYSLOG_FRAMING_OCTET;
                fr->state = ST_LEN;
                fr->probing = true;
            } else {
                fr->mode = VG_SYSLOG_FRAMING_NONTRANSPARENT;
                fr->state = ST_LINE;
            }
            break;

        case ST_LEN: {
            unsigned char c = (unsigned char)*p;
            if ((unsigned)(c - '0') < 10u) {
                if (fr->ndigits == 0 && c == '0') {
                    STOP_IF(bad_count(fr, cb, ud, "octet count with a leading zero"));
                } else if (fr->ndigits == MAX_COUNT_DIGITS) {
                    STOP_IF(bad_count(fr, cb, ud, "octet count too long"));
                } else {
                    fr->ndigits++;
                    fr->count = fr->count * 10 + (c - '0');
                    p++;
                }
            } else if (fr->ndigits == 0 && (c == '\n' || c == '\r' || c == '\0' || c == ' ')) {
                p++; /* stray separators between frames */
            } else if (c == ' ') {
                p++;
                fr->ndigits = 0;
                fr->buf_len = 0;
                fr->probing = false;
                fr->state = ST_BODY;
            } else {
                STOP_IF(bad_count(fr, cb, ud, "invalid octet count"));
            }
            break;
        }

        case ST_BODY: {
            size_t want = fr->count < fr->cap ? fr->count : fr->cap;
            bool cut = fr->count > fr->cap;
            size_t avail = (size_t)(end - p);
            const char *f;
            if (fr->buf_len == 0 && avail >= want) {
                f = p; /* zero-copy */
                p += want;
            } else {
                size_t n = want - fr->buf_len < avail ? want - fr->buf_len : avail;
                memcpy(fr->buf + fr->buf_len, p, n);
                fr->buf_len += n;
                p += n;
                if (fr->buf_len < want) break;
                f = fr->buf;
            }
            fr->buf_len = 0;
            fr->skip = fr->count - want;
            fr->count = 0;
            fr->state = cut ? ST_SKIP : ST_LEN;
            STOP_IF(cut ? emit(cb, ud, f, want, VG_ETOOBIG, "message longer than max_octets")
                        : emit(cb, ud, f, want, 0, NULL));
            break;
        }

        case ST_SKIP: {
            size_t avail = (size_t)(end - p), n = fr->skip < avail ? fr->skip : avail;
            p += n;
            fr->skip -= n;
            if (fr->skip == 0) fr->state = ST_LEN;
            break;
        }

        case ST_RESYNC: {
            const char *q = memchr(p, '\n', (size_t)(end - p));
            if (!q) {
                p = end;
            } else {
                p = q + 1;
                fr->state = ST_LEN;
            }
            break;
        }

        case ST_LINE: {
            const char *q = memchr(p, delim, (size_t)(end - p));
            size_t n = (size_t)((q ? q : end) - p);
            if (fr->buf_len + n > fr->cap) {
                /* over-long: deliver the first cap bytes, drop to the trailer */
                const char *f;
                if (fr->buf_len == 0) {
                    f = p;
                } else {
                    memcpy(fr->buf + fr->buf_len, p, fr->cap - fr->buf_len);
                    f = fr->buf;
                }
                fr->buf_len = 0;
                if (q) {
                    p = q + 1;
                } else {
                    p = end;
                    fr->state = ST_LINE_SKIP;
                }
                STOP_IF(emit_line(fr, cb, ud, f, fr->cap, true));
                break;
            }
            if (!q) {
                memcpy(fr->buf + fr->buf_len, p, n);
                fr->buf_len += n;
                p = end;
                break;
            }
            const char *f = p;
            if (fr->buf_len) {
                memcpy(fr->buf + fr->buf_len, p, n);
                f = fr->buf;
                n += fr->buf_len;
                fr->buf_len = 0;
            }
            p = q + 1;
            STOP_IF(emit_line(fr, cb, ud, f, n, false));
            break;
        }

        case ST_LINE_SKIP: {
            const char *q = memchr(p, delim, (size_t)(end - p));
            if (!q) {
                p = end;
            } else {
                p = q + 1;
                fr->state = ST_LINE;
            }
            break;
        }
        }
    }
#undef STOP_IF
    return len;
}

int vg_syslog_framer_flush(vg_syslog_framer_t *fr, vg_syslog_frame_cb cb, void *ud)
{
    int state = fr->state;
    size_t n = fr->buf_len, nd = fr->ndigits;
    reset_state(fr); /* the buffer content stays intact for the callback */
    switch (state) {
    case ST_LINE:
        return n ? emit_line(fr, cb, ud, fr->buf, n, false) : 0;
    case ST_BODY:
        return emit(cb, ud, n ? fr->buf : NULL, n, VG_EPARSE, "connection closed inside an octet-counted frame");
    case ST_LEN:
        return nd ? emit(cb, ud, NULL, 0, VG_EPARSE, "connection closed inside an octet count") : 0;
    default:
        return 0;
    }
}
