/* Fuzz target: the RFC 6587 framer. Byte 0 picks options, byte 1 max_octets,
 * the rest is the stream. It is fed once whole and once in chunks whose sizes
 * come from the stream itself; both must give the same frames, no frame may
 * exceed max_octets and the framer may never hold more than that. Frames are
 * also run through the parser, as the receiver will. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/error.h"
#include "receivers/syslog/syslog_frame.h"
#include "receivers/syslog/syslog_parse.h"

typedef struct {
    uint64_t h;
    size_t n, max;
} sum_t;

static int cb(void *ud, const vg_syslog_frame_t *f)
{
    sum_t *s = ud;
    if (f->len > s->max) abort();
    if (f->status != 0 && f->status != VG_ETOOBIG && f->status != VG_EPARSE) abort();
    if ((f->status == 0) != (f->reason == NULL)) abort();
    if (f->status == 0 && f->len == 0) abort(); /* empty frames are skipped */
    s->n++;
    s->h = (s->h ^ (uint64_t)(f->status + 64)) * 1099511628211ULL;
    s->h = (s->h ^ f->len) * 1099511628211ULL;
    for (size_t i = 0; i < f->len; i++) s->h = (s->h ^ (unsigned char)f->data[i]) * 1099511628211ULL;
    if (f->status == 0) {
        vg_syslog_parse_opts_t o = {.protocol = VG_SYSLOG_AUTO, .now_ns = 1749988800000000000LL};
        vg_syslog_msg_t m;
        (void)vg_syslog_parse(f->data, f->len, &o, &m);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    vg_syslog_framer_opts_t o = {
        .octet_counting = (data[0] & 1) != 0,
        .non_transparent = (data[0] & 2) != 0 || (data[0] & 1) == 0,
        .trailer = (vg_syslog_trailer_t)((data[0] >> 2) % 3),
        .max_octets = 1 + data[1] % 64,
    };
    vg_syslog_framer_t *fr;
    if (vg_syslog_framer_new(&o, &fr) != 0) return 0;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    sum_t s[2];
    for (int pass = 0; pass < 2; pass++) {
        vg_syslog_framer_reset(fr);
        s[pass] = (sum_t){1469598103934665603ULL, 0, o.max_octets};
        size_t off = 0, k = 0;
        while (off < len) {
            size_t n = pass == 0 ? len : (size_t)(1 + (unsigned char)in[k++ % len] % 23);
            if (n > len - off) n = len - off;
            /* an exact-size copy, so reading past a chunk is caught */
            char *chunk = malloc(n);
            if (!chunk) abort();
            memcpy(chunk, in + off, n);
            if (vg_syslog_framer_feed(fr, chunk, n, cb, &s[pass]) != n) abort();
            free(chunk);
            if (vg_syslog_framer_buffered(fr) > o.max_octets) abort();
            off += n;
        }
        vg_syslog_framer_flush(fr, cb, &s[pass]);
        if (vg_syslog_framer_buffered(fr) != 0) abort();
    }
    if (s[0].n != s[1].n || s[0].h != s[1].h) abort();
    vg_syslog_framer_free(fr);
    return 0;
}
