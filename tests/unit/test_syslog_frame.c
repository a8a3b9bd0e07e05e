/* RFC 6587 framer: both framings, detection, splits at every byte position,
 * max_octets, broken counts, flush, stop-and-resume, bounded buffering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/error.h"
#include "collector/mem.h"
#include "receivers/syslog/syslog_frame.h"

/* ---- a callback that records frames as "text", "!TOOBIG:text", "!PARSE:text" */

typedef struct {
    char out[64][512];
    int n;
    int stop_after; /* stop (return 1) after this many frames; 0 = never */
    const char *fed_lo, *fed_hi; /* the last fed buffer, for the zero-copy check */
    int zero_copy;
    size_t max_len;
} rec_t;

static int record(void *ud, const vg_syslog_frame_t *f)
{
    rec_t *r = ud;
    assert_true(r->n < 64);
    char *o = r->out[r->n++];
    const char *tag = f->status == 0 ? "" : f->status == VG_ETOOBIG ? "!TOOBIG:" : f->status == VG_EPARSE ? "!PARSE:" : "!?:";
    if (f->status) assert_non_null(f->reason);
    else assert_null(f->reason);
    assert_true(f->len < 400);
    if (f->len) assert_non_null(f->data);
    if (f->len > r->max_len) r->max_len = f->len;
    size_t tl = strlen(tag);
    memcpy(o, tag, tl);
    for (size_t i = 0; i < f->len; i++) o[tl + i] = f->data[i] ? f->data[i] : '@'; /* show NULs */
    o[tl + f->len] = 0;
    if (f->data && f->data >= r->fed_lo && f->data < r->fed_hi) r->zero_copy++;
    return r->stop_after && r->n >= r->stop_after;
}

static vg_syslog_framer_t *mk(bool oc, bool nt, vg_syslog_trailer_t tr, size_t max)
{
    vg_syslog_framer_opts_t o = {.octet_counting = oc, .non_transparent = nt, .trailer = tr, .max_octets = max};
    vg_syslog_framer_t *fr = NULL;
    assert_int_equal(vg_syslog_framer_new(&o, &fr), 0);
    return fr;
}

/* Feed `in` cut into the pieces given by `cuts` (ascending offsets), each
 * piece in its own exact-size heap block (ASan catches overreads), then flush. */
static void feed_cuts(vg_syslog_framer_t *fr, const char *in, size_t len, const size_t *cuts, int ncuts, rec_t *r,
                      bool flush)
{
    size_t prev = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        size_t n = to - prev;
        char *piece = malloc(n ? n : 1);
        memcpy(piece, in + prev, n);
        r->fed_lo = piece, r->fed_hi = piece + n;
        assert_int_equal(vg_syslog_framer_feed(fr, piece, n, record, r), n);
        assert_true(vg_syslog_framer_buffered(fr) <= 64);
        free(piece);
        r->fed_lo = r->fed_hi = NULL;
        prev = to;
    }
    if (flush) vg_syslog_framer_flush(fr, record, r);
}

typedef struct {
    const char *name;
    bool oc, nt;
    vg_syslog_trailer_t tr;
    size_t max;
    const char *in;
    size_t len;
    bool flush;
    const char *want[16]; /* expected frames, NULL-terminated */
} fcase_t;

#define IN(s) .in = (s), .len = sizeof(s) - 1
#define LF VG_SYSLOG_TRAILER_LF
#define NUL VG_SYSLOG_TRAILER_NUL
#define CRLF VG_SYSLOG_TRAILER_CRLF

static const fcase_t fcases[] = {
    {"LF lines", false, true, LF, 64, IN("<13>a\n<14>bb\n<15>ccc\n"), true, {"<13>a", "<14>bb", "<15>ccc"}},
    {"LF last line flushed", false, true, LF, 64, IN("one\ntwo"), true, {"one", "two"}},
    {"LF last line not flushed", false, true, LF, 64, IN("one\ntwo"), false, {"one"}},
    {"LF empty lines skipped", false, true, LF, 64, IN("\n\na\n\n\nb\n"), true, {"a", "b"}},
    {"LF keeps CR", false, true, LF, 64, IN("a\r\nb\r\n"), true, {"a\r", "b\r"}},
    {"CRLF strips CR", false, true, CRLF, 64, IN("a\r\nb\r\n\r\nc\n"), true, {"a", "b", "c"}},
    {"NUL trailer", false, true, NUL, 64, IN("a\nb\0c\0"), true, {"a\nb", "c"}},
    {"LF line of exactly max", false, true, LF, 8, IN("12345678\nx\n"), true, {"12345678", "x"}},
    {"LF over-long truncated and resynced", false, true, LF, 8, IN("123456789abc\nok\n0123456789\n"), true,
     {"!TOOBIG:12345678", "ok", "!TOOBIG:01234567"}},
    {"LF over-long at close", false, true, LF, 4, IN("abcdefgh"), true, {"!TOOBIG:abcd"}},
    {"octet counting", true, false, LF, 64, IN("3 abc5 hello1 x"), true, {"abc", "hello", "x"}},
    {"octet counting with LF between frames", true, false, LF, 64, IN("3 abc\n5 hello\r\n"), true, {"abc", "hello"}},
    {"octet frame may hold LF and NUL", true, false, LF, 64, IN("7 a\nb\0c\nd2 zz"), true, {"a\nb@c\nd", "zz"}},
    {"octet frame of exactly max", true, false, LF, 4, IN("4 abcd2 ef"), true, {"abcd", "ef"}},
    {"octet over max: truncated, skipped exactly", true, false, LF, 4, IN("10 01234567892 ok"), true,
     {"!TOOBIG:0123", "ok"}},
    {"octet garbage count resyncs at LF", true, false, LF, 64, IN("12x garbage\n3 abc"), true,
     {"!PARSE:", "abc"}},
    {"octet count too long", true, false, LF, 64, IN("99999999999 abc\n3 abc"), true, {"!PARSE:", "abc"}},
    {"octet leading zero", true, false, LF, 64, IN("05 hello\n2 ok"), true, {"!PARSE:", "ok"}},
    {"octet count without SP", true, false, LF, 64, IN("5<13>hello\n2 ok"), true, {"!PARSE:", "ok"}},
    {"octet truncated count at close", true, false, LF, 64, IN("3 abc12"), true, {"abc", "!PARSE:"}},
    {"octet truncated frame at close", true, false, LF, 64, IN("3 abc10 hello"), true, {"abc", "!PARSE:hello"}},
    {"octet frame header only at close", true, false, LF, 64, IN("3 abc10 "), true, {"abc", "!PARSE:"}},
    {"detect octet", true, true, LF, 64, IN("3 abc4 d\nef"), true, {"abc", "d\nef"}},
    {"detect non-transparent", true, true, LF, 64, IN("<13>a\n3 abc\n"), true, {"<13>a", "3 abc"}},
    {"detect with NUL trailer", true, true, NUL, 64, IN("<13>a\0<14>b"), true, {"<13>a", "<14>b"}},
    {"nothing at all", true, true, LF, 64, IN(""), true, {NULL}},
    {"detect: digit-first line falls back to LF", true, true, LF, 64, IN("2025-06-15 host app: x\n3 abc\n"), true,
     {"2025-06-15 host app: x", "3 abc"}},
    {"detect: fall back after a long number", true, true, LF, 64, IN("12345678901 x\nb\n"), true,
     {"12345678901 x", "b"}},
    {"detect: fall back on leading zero", true, true, LF, 64, IN("0x\n1\n"), true, {"0x", "1"}},
    {"detect: fall back on bare number line", true, true, NUL, 64, IN("42\0" "7\0"), true, {"42", "7"}},
    {"detect: fall back, digits over max", true, true, LF, 4, IN("123456-x\nab\n"), true, {"!TOOBIG:1234", "ab"}},
    {"detect: after a good frame errors resync", true, true, LF, 64, IN("3 abc12x\n2 ok"), true,
     {"abc", "!PARSE:", "ok"}},

};

static void check_frames(const char *name, const char *how, const rec_t *r, const char *const *want)
{
    int nw = 0;
    while (want[nw]) nw++;
    if (r->n != nw) {
        for (int i = 0; i < r->n; i++) fprintf(stderr, "  got[%d] '%s'\n", i, r->out[i]);
        fail_msg("%s (%s): %d frames, want %d", name, how, r->n, nw);
    }
    for (int i = 0; i < nw; i++)
        if (strcmp(r->out[i], want[i]) != 0) fail_msg("%s (%s): frame %d '%s', want '%s'", name, how, i, r->out[i], want[i]);
}

static void test_table_all_splits(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof fcases / sizeof fcases[0]; c++) {
        const fcase_t *fc = &fcases[c];
        /* whole */
        vg_syslog_framer_t *fr = mk(fc->oc, fc->nt, fc->tr, fc->max);
        rec_t *r = calloc(1, sizeof *r);
        feed_cuts(fr, fc->in, fc->len, NULL, 0, r, fc->flush);
        check_frames(fc->name, "whole", r, fc->want);
        /* one cut at every position */
        for (size_t k = 0; k <= fc->len; k++) {
            memset(r, 0, sizeof *r);
            vg_syslog_framer_reset(fr);
            feed_cuts(fr, fc->in, fc->len, &k, 1, r, fc->flush);
            char how[32];
            snprintf(how, sizeof how, "cut at %zu", k);
            check_frames(fc->name, how, r, fc->want);
        }
        /* two cuts at every pair of positions */
        for (size_t a = 0; a <= fc->len; a++)
            for (size_t b = a; b <= fc->len; b++) {
                memset(r, 0, sizeof *r);
                vg_syslog_framer_reset(fr);
                size_t cuts[2] = {a, b};
                feed_cuts(fr, fc->in, fc->len, cuts, 2, r, fc->flush);
                check_frames(fc->name, "two cuts", r, fc->want);
            }
        /* byte by byte */
        memset(r, 0, sizeof *r);
        vg_syslog_framer_reset(fr);
        size_t cuts[512];
        for (size_t k = 0; k < fc->len; k++) cuts[k] = k + 1;
        feed_cuts(fr, fc->in, fc->len, cuts, (int)fc->len, r, fc->flush);
        check_frames(fc->name, "bytewise", r, fc->want);
        free(r);
        vg_syslog_framer_free(fr);
    }
}

static void test_detection_mode(void **state)
{
    (void)state;
    vg_syslog_framer_t *fr = mk(true, true, LF, 0);
    rec_t r = {0};
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_UNKNOWN);
    vg_syslog_framer_feed(fr, "1", 1, record, &r);
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_OCTET);
    vg_syslog_framer_flush(fr, record, &r); /* resets: detects again */
    assert_int_equal(r.n, 1);
    assert_string_equal(r.out[0], "!PARSE:");
    r.n = 0;
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_UNKNOWN);
    vg_syslog_framer_feed(fr, "<", 1, record, &r);
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_NONTRANSPARENT);
    /* sticky for the connection: a later digit does not switch */
    vg_syslog_framer_feed(fr, "a\n3 abc\n", 8, record, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.out[1], "3 abc");
    vg_syslog_framer_free(fr);
    fr = mk(true, false, LF, 0);
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_OCTET);
    vg_syslog_framer_free(fr);
    fr = mk(false, true, LF, 0);
    assert_int_equal(vg_syslog_framer_mode(fr), VG_SYSLOG_FRAMING_NONTRANSPARENT);
    vg_syslog_framer_free(fr);
}

static void test_zero_copy(void **state)
{
    (void)state;
    const char *in = "<13>first\n<13>second\n<13>par";
    vg_syslog_framer_t *fr = mk(false, true, LF, 0);
    rec_t r = {.fed_lo = in, .fed_hi = in + strlen(in)};
    vg_syslog_framer_feed(fr, in, strlen(in), record, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.zero_copy, 2);
    assert_int_equal(vg_syslog_framer_buffered(fr), 7); /* only the tail is copied */
    r.fed_lo = r.fed_hi = NULL;
    vg_syslog_framer_feed(fr, "tial\n", 5, record, &r);
    assert_string_equal(r.out[2], "<13>partial");
    assert_int_equal(vg_syslog_framer_buffered(fr), 0);
    vg_syslog_framer_free(fr);

    const char *oc = "5 hello3 abc";
    fr = mk(true, false, LF, 0);
    r = (rec_t){.fed_lo = oc, .fed_hi = oc + strlen(oc)};
    vg_syslog_framer_feed(fr, oc, strlen(oc), record, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.zero_copy, 2);
    vg_syslog_framer_free(fr);
}

static void test_stop_and_resume(void **state)
{
    (void)state;
    const char *in = "a\nbb\nccc\n3 x"; /* NT: 4 frames incl. flushed "3 x" */
    vg_syslog_framer_t *fr = mk(false, true, LF, 0);
    rec_t r = {.stop_after = 1};
    size_t len = strlen(in), off = 0;
    int feeds = 0;
    while (off < len) {
        size_t used = vg_syslog_framer_feed(fr, in + off, len - off, record, &r);
        assert_true(used > 0);
        off += used;
        r.stop_after = r.n + 1;
        feeds++;
    }
    assert_int_equal(feeds, 4); /* a, bb, ccc, then the tail */
    assert_int_equal(r.n, 3);
    assert_int_equal(vg_syslog_framer_flush(fr, record, &r), 1); /* cb's stop passes through */
    assert_string_equal(r.out[3], "3 x");
    vg_syslog_framer_free(fr);

    /* octet counting, stop on an error frame, then resume */
    in = "3 abc12x\n2 ok";
    fr = mk(true, false, LF, 0);
    memset(&r, 0, sizeof r);
    r.stop_after = 2;
    size_t used = vg_syslog_framer_feed(fr, in, strlen(in), record, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.out[1], "!PARSE:");
    r.stop_after = 0;
    vg_syslog_framer_feed(fr, in + used, strlen(in) - used, record, &r);
    vg_syslog_framer_flush(fr, record, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.out[2], "ok");
    vg_syslog_framer_free(fr);
}

/* hash of the frames seen, for comparing two feeds */
typedef struct {
    uint64_t h;
    int n;
    size_t maxlen;
} sum_t;

static int hash_cb(void *ud, const vg_syslog_frame_t *f)
{
    sum_t *s = ud;
    s->n++;
    if (f->len > s->maxlen) s->maxlen = f->len;
    s->h = (s->h ^ (uint64_t)(f->status + 100)) * 1099511628211ULL;
    s->h = (s->h ^ f->len) * 1099511628211ULL;
    for (size_t i = 0; i < f->len; i++) s->h = (s->h ^ (unsigned char)f->data[i]) * 1099511628211ULL;
    return 0;
}

/* Random streams in random chunks: the frames are the same as with one whole
 * feed, no frame exceeds max_octets, the framer never holds more than that. */
static void test_random_chunks(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    static char stream[4096];
    for (int iter = 0; iter < 500; iter++) {
        size_t len = 0;
        bool oc = RND() % 2, nt = !oc || RND() % 2;
        size_t max = 1 + RND() % 40;
        while (len < sizeof stream - 64) {
            int kind = (int)(RND() % 10);
            size_t n = 1 + RND() % 50;
            if (kind < 5) { /* a good octet frame */
                len += (size_t)snprintf(stream + len, 16, "%zu ", n);
                for (size_t i = 0; i < n; i++) stream[len++] = (char)('a' + RND() % 26);
            } else if (kind < 8) { /* a line */
                for (size_t i = 0; i < n; i++) stream[len++] = (char)('a' + RND() % 26);
                stream[len++] = '\n';
            } else { /* noise */
                for (size_t i = 0; i < n % 8; i++) stream[len++] = (char)RND();
            }
        }
        vg_syslog_framer_t *fr = mk(oc, nt, (vg_syslog_trailer_t)(RND() % 3), max);
        sum_t s[2];
        int frames = 0;
        for (int pass = 0; pass < 2; pass++) {
            vg_syslog_framer_reset(fr);
            s[pass] = (sum_t){1469598103934665603ULL, 0, 0};
            size_t off = 0;
            while (off < len) {
                size_t n = pass == 0 ? len : 1 + RND() % 97;
                if (n > len - off) n = len - off;
                assert_int_equal(vg_syslog_framer_feed(fr, stream + off, n, hash_cb, &s[pass]), n);
                assert_true(vg_syslog_framer_buffered(fr) <= max);
                off += n;
            }
            vg_syslog_framer_flush(fr, hash_cb, &s[pass]);
            assert_true(s[pass].maxlen <= max);
            frames += s[pass].n;
        }
        assert_true(frames > 0);
        assert_int_equal(s[0].n, s[1].n);
        assert_true(s[0].h == s[1].h);
        vg_syslog_framer_free(fr);
    }
#undef RND
}

static void test_options(void **state)
{
    (void)state;
    vg_syslog_framer_t *fr = (vg_syslog_framer_t *)1;
    vg_syslog_framer_opts_t o = {0};
    assert_int_equal(vg_syslog_framer_new(&o, &fr), VG_EINVAL);
    assert_null(fr);
    assert_int_equal(vg_syslog_framer_new(NULL, &fr), VG_EINVAL);
    o.non_transparent = true;
    o.max_octets = VG_SYSLOG_MAX_MAX_OCTETS + 1;
    assert_int_equal(vg_syslog_framer_new(&o, &fr), VG_EINVAL);
    o.max_octets = 0;
    o.trailer = (vg_syslog_trailer_t)7;
    assert_int_equal(vg_syslog_framer_new(&o, &fr), VG_EINVAL);
    o.trailer = LF;
    vg_mem_fail_after(1);
    assert_int_equal(vg_syslog_framer_new(&o, &fr), VG_ENOMEM);
    vg_mem_fail_reset();
    assert_int_equal(vg_syslog_framer_new(&o, &fr), 0);
    /* feeding allocates nothing */
    sum_t s = {0};
    vg_mem_fail_after(1);
    assert_int_equal(vg_syslog_framer_feed(fr, "abc\ndef", 7, hash_cb, &s), 7);
    vg_syslog_framer_flush(fr, hash_cb, &s);
    vg_mem_fail_reset();
    assert_int_equal(s.n, 2);
    vg_syslog_framer_free(fr);
    vg_syslog_framer_free(NULL);
}

static int len_cb(void *ud, const vg_syslog_frame_t *f)
{
    size_t *out = ud;
    out[0] = f->len;
    out[1] = (size_t)(-f->status);
    return 0;
}

static void test_default_max(void **state)
{
    (void)state;
    vg_syslog_framer_opts_t o = {.non_transparent = true};
    vg_syslog_framer_t *fr;
    assert_int_equal(vg_syslog_framer_new(&o, &fr), 0);
    char *big = malloc(9001);
    memset(big, 'x', 9000);
    big[9000] = '\n';
    size_t res[2] = {0, 0};
    vg_syslog_framer_feed(fr, big, 9001, len_cb, res);
    assert_int_equal(res[0], VG_SYSLOG_DEFAULT_MAX_OCTETS);
    assert_int_equal(res[1], (size_t)-VG_ETOOBIG);
    free(big);
    vg_syslog_framer_free(fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_all_splits), cmocka_unit_test(test_detection_mode),
        cmocka_unit_test(test_zero_copy),        cmocka_unit_test(test_stop_and_resume),
        cmocka_unit_test(test_random_chunks),    cmocka_unit_test(test_options),
        cmocka_unit_test(test_default_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
