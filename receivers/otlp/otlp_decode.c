/* From request bytes to a batch in the pipeline, for both protocols:
 * decompression with a hard output limit, gRPC message framing, a pre-check
 * of protobuf input before protobuf-c sees it, unpacking into the batch's
 * arena, and otlp_handle() which ties it together and counts the outcome.
 *
 * Why the protobuf pre-check: protobuf-c trusts its input more than a
 * network-facing decoder should. It recurses once per nesting level (a deep
 * AnyValue chain would exhaust the stack), allocates per element (a message of
 * many tiny elements unpacks into far more memory than its size), and accepts
 * invalid UTF-8 in strings. otlp_pb_check walks the wire format once with the
 * message descriptors, refuses what OTLP does not allow, and computes an upper
 * bound of what unpacking will allocate, so an oversized request is refused
 * before any of that memory is taken. Unpacking then runs with an allocator
 * capped at the same budget, as a backstop. */
#include "otlp_int.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"
#include "otlp_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* ---- compression ------------------------------------------------------------- */

const char *otlp_comp_name(otlp_comp_t c)
{
    static const char *const n[] = { "identity", "gzip", "zstd", "deflate" };
    return (unsigned)c <= OTLP_COMP_DEFLATE ? n[c] : "?";
}

int otlp_comp_parse(const char *s, otlp_comp_t *out)
{
    if (!s || !*s || strcasecmp(s, "identity") == 0) *out = OTLP_COMP_NONE;
    else if (strcasecmp(s, "gzip") == 0 || strcasecmp(s, "x-gzip") == 0) *out = OTLP_COMP_GZIP;
    else if (strcasecmp(s, "zstd") == 0) *out = OTLP_COMP_ZSTD;
    else if (strcasecmp(s, "deflate") == 0) *out = OTLP_COMP_DEFLATE;
    else return VG_EUNSUPPORTED;
    return 0;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return vg_calloc(items, size);
}
static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    vg_free(p);
}

/* Output buffer that grows by doubling up to limit + 1 bytes. */
typedef struct {
    uint8_t *b;
    size_t n, cap, max;
    otlp_decomp_stats_t *st;
} obuf_t;

static int obuf_grow(obuf_t *o)
{
    if (o->cap >= o->max) return VG_ETOOBIG;
    size_t nc = o->cap ? o->cap * 2 : 16384;
    if (nc > o->max || nc < o->cap) nc = o->max;
    uint8_t *p = vg_realloc(o->b, nc ? nc : 1);
    if (!p) return VG_ENOMEM;
    o->b = p;
    o->cap = nc;
    if (o->st && nc > o->st->peak_alloc) o->st->peak_alloc = nc;
    return 0;
}

static int inflate_all(const uint8_t *in, size_t len, obuf_t *o, char *err, size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (inflateInit2(&z, 15 + 32) != Z_OK) return VG_ENOMEM; /* 32: zlib or gzip header */
    int rc = 0;
    z.next_in = (Bytef *)in;
    size_t left = len;
    for (;;) {
        if (z.avail_in == 0 && left) {
            uInt take = left > (1u << 30) ? (1u << 30) : (uInt)left;
            z.avail_in = take;
            left -= take;
        }
        if (o->n == o->cap && (rc = obuf_grow(o)) != 0) break;
        size_t room = o->cap - o->n;
        z.next_out = o->b + o->n;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        o->n += before - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0 && left == 0) break;
            /* Another gzip member may follow (concatenated streams are valid gzip). */
            if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
                if (inflateReset(&z) != Z_OK) { rc = VG_ENOMEM; break; }
                continue;
            }
            snprintf(err, errlen, "unexpected bytes after the end of the compressed data");
            rc = VG_EPARSE;
            break;
        }
        if (zr == Z_MEM_ERROR) { rc = VG_ENOMEM; break; }
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
            snprintf(err, errlen, "corrupt compressed data: %s", z.msg ? z.msg : "invalid deflate stream");
            rc = VG_EPARSE;
            break;
        }
        /* Z_OK or Z_BUF_ERROR: inflate wants more room or more input. */
        if (z.avail_out > 0 && z.avail_in == 0 && left == 0) {
            snprintf(err, errlen, "compressed data ends early (truncated)");
            rc = VG_EPARSE;
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

static int zstd_all(const uint8_t *in, size_t len, size_t limit, obuf_t *o, char *err, size_t errlen)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return VG_ENOMEM;
    /* The frame's window is allocated by the decoder: never more than the
     * larger of 8 MiB (what common encoders use when streaming) and the limit. */
    int wlog = 23;
    while (wlog < 27 && ((size_t)1 << wlog) < limit) wlog++;
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, wlog);
    ZSTD_inBuffer ib = { in, len, 0 };
    int rc = 0;
    for (;;) {
        if (o->n == o->cap && (rc = obuf_grow(o)) != 0) break;
        ZSTD_outBuffer ob = { o->b, o->cap, o->n };
        size_t zr = ZSTD_decompressStream(d, &ob, &ib);
        o->n = ob.pos;
        if (ZSTD_isError(zr)) {
            snprintf(err, errlen, "corrupt zstd data: %s", ZSTD_getErrorName(zr));
            rc = ZSTD_getErrorCode(zr) == ZSTD_error_memory_allocation ? VG_ENOMEM : VG_EPARSE;
            break;
        }
        if (zr == 0 && ib.pos == ib.size) break; /* last frame complete */
        if (ib.pos == ib.size && ob.pos < ob.size) {
            /* The decoder had room but needs input nobody will send. */
            snprintf(err, errlen, "zstd data ends early (truncated)");
            rc = VG_EPARSE;
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return rc;
}

int otlp_decompress(otlp_comp_t comp, const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outlen,
                    otlp_decomp_stats_t *stats, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = '\0';
    *out = NULL;
    *outlen = 0;
    if (comp == OTLP_COMP_NONE) {
        if (len > limit) {
            snprintf(err, errlen, "request of %zu bytes is over the limit of %zu bytes", len, limit);
            return VG_ETOOBIG;
        }
        *outlen = len;
        return 0;
    }
    if (len == 0) {
        snprintf(err, errlen, "empty %s body", otlp_comp_name(comp));
        return VG_EPARSE;
    }
    obuf_t o = { NULL, 0, 0, limit + 1, stats };
    if (o.max == 0) o.max = limit; /* limit == SIZE_MAX */
    /* Start near the likely size so typical requests need no reallocation. */
    size_t first = len < limit / 4 ? len * 4 : limit;
    if (first < 16384) first = 16384;
    if (first > o.max) first = o.max;
    o.b = vg_malloc(first);
    if (!o.b) return VG_ENOMEM;
    o.cap = first;
    if (stats && first > stats->peak_alloc) stats->peak_alloc = first;
    int rc = comp == OTLP_COMP_ZSTD ? zstd_all(in, len, limit, &o, err, errlen) : inflate_all(in, len, &o, err, errlen);
    if (rc == 0 && o.n > limit) rc = VG_ETOOBIG;
    if (rc == VG_ETOOBIG)
        snprintf(err, errlen, "%s request decompresses to more than the limit of %zu bytes", otlp_comp_name(comp),
                 limit);
    if (rc) {
        vg_free(o.b);
        return rc;
    }
    *out = o.b;
    *outlen = o.n;
    return 0;
}

/* ---- gRPC framing ------------------------------------------------------------------ */

void otlp_grpc_frame_header(uint8_t hdr[5], int compressed, uint32_t len)
{
    hdr[0] = compressed ? 1 : 0;
    hdr[1] = (uint8_t)(len >> 24);
    hdr[2] = (uint8_t)(len >> 16);
    hdr[3] = (uint8_t)(len >> 8);
    hdr[4] = (uint8_t)len;
}

int otlp_grpc_frame_peek(const uint8_t *body, size_t len, size_t *msglen)
{
    if (len < 5) return 1;
    if (body[0] > 1) return VG_EPARSE;
    *msglen = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
    return 0;
}

int otlp_grpc_frame_parse(const uint8_t *body, size_t len, size_t limit, int *compressed, const uint8_t **msg,
                          size_t *msglen, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "no request message (a unary call needs exactly one)");
        return VG_EPARSE;
    }
    if (len < 5) {
        snprintf(err, errlen, "truncated gRPC message header (%zu of 5 bytes)", len);
        return VG_EPARSE;
    }
    size_t l = 0;
    if (otlp_grpc_frame_peek(body, len, &l) != 0) {
        snprintf(err, errlen, "invalid gRPC message flag byte 0x%02x", body[0]);
        return VG_EPARSE;
    }
    if (l > limit) {
        snprintf(err, errlen, "message of %zu bytes is larger than max_recv_msg_size (%zu bytes)", l, limit);
        return VG_ETOOBIG;
    }
    if (len - 5 < l) {
        snprintf(err, errlen, "gRPC length prefix says %zu bytes but the request ended after %zu", l, len - 5);
        return VG_EPARSE;
    }
    if (len - 5 > l) {
        snprintf(err, errlen, "more than one message in a unary call (%zu bytes after the first)", len - 5 - l);
        return VG_EPARSE;
    }
    *compressed = body[0];
    *msg = body + 5;
    *msglen = l;
    return 0;
}

/* ---- protobuf pre-check --------------------------------------------------------------- */

typedef struct frame {
    const struct frame *up;
    const ProtobufCFieldDescriptor *f; /* field of the parent that holds this message */
    long idx;                          /* its index when repeated, else -1 */
} frame_t;

typedef struct {
    size_t mem, items;
    char *err;
    size_t errlen;
} chk_t;

/* The messages counted as items (what vg_otlp_count_items counts). */
static bool is_item(const ProtobufCMessageDescriptor *d)
{
    return d == &opentelemetry__proto__trace__v1__span__descriptor ||
           d == &opentelemetry__proto__logs__v1__log_record__descriptor ||
           d == &opentelemetry__proto__metrics__v1__number_data_point__descriptor ||
           d == &opentelemetry__proto__metrics__v1__histogram_data_point__descriptor ||
           d == &opentelemetry__proto__metrics__v1__exponential_histogram_data_point__descriptor ||
           d == &opentelemetry__proto__metrics__v1__summary_data_point__descriptor;
}

#define MAX_TRACKED_FIELDS 64
/* protobuf-c scans a message's fields into "slabs": 16 on the stack, then
 * heap slabs of 32, 64, 128... entries (about 32 bytes each): at most twice
 * the occurrences, for messages with more than 16. */
#define SLAB_FREE_FIELDS 16
#define SLAB_BYTES_PER_FIELD 64
#define R16(n) (((size_t)(n) + 15) & ~(size_t)15) /* the arena rounds every allocation to 16 bytes */

static size_t path_print(const frame_t *fr, char *buf, size_t len)
{
    if (!fr || !fr->f) { if (len) buf[0] = '\0'; return 0; }
    size_t n = path_print(fr->up, buf, len);
    if (n >= len) return n;
    int w = fr->idx >= 0 ? snprintf(buf + n, len - n, "%s%s[%ld]", n ? "." : "", fr->f->name, fr->idx)
                         : snprintf(buf + n, len - n, "%s%s", n ? "." : "", fr->f->name);
    return w > 0 ? n + (size_t)w : n;
}

__attribute__((format(printf, 3, 4))) static int chk_fail(chk_t *c, const frame_t *fr, const char *fmt, ...)
{
    char path[192];
    path_print(fr, path, sizeof path);
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen) snprintf(c->err, c->errlen, "%s%s%s", path, *path ? ": " : "", what);
    return VG_EPARSE;
}

/* Reads a varint; 0 on success. */
static inline int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    if (*p < end && !(**p & 0x80)) { /* most keys and lengths fit in one byte */
        *v = *(*p)++;
        return 0;
    }
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        if (*p >= end) return -1;
        uint8_t b = *(*p)++;
        if (i == 9 && b > 1) return -1;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *v = r; return 0; }
    }
    return -1;
}

/* 0 when s[0..n) is valid UTF-8 without NUL; else the offset of the first bad byte + 1. */
static size_t utf8_bad(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Eight ASCII bytes without NUL at a time. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) || ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c == 0) return i + 1;
        if (c < 0x80) { i++; continue; }
        size_t k;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
        else return i + 1;
        if (n - i <= k) return i + 1; /* sequence cut short */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return i + 1;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return i + 1;
        i += k + 1;
    }
    return 0;
}

static int wire_for(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
    }
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return 8;
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
    }
}

static int check_msg(chk_t *c, const frame_t *fr, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                     int depth, int anydepth);

/* Length a trace id (16) or span id (8) field of message d must have, 0 for other fields. */
static size_t id_len(const ProtobufCMessageDescriptor *d, uint32_t id)
{
    if (d == &opentelemetry__proto__trace__v1__span__descriptor) /* trace_id 1, span_id 2, parent_span_id 4 */
        return id == 1 ? 16 : id == 2 || id == 4 ? 8 : 0;
    if (d == &opentelemetry__proto__trace__v1__span__link__descriptor) return id == 1 ? 16 : id == 2 ? 8 : 0;
    if (d == &opentelemetry__proto__logs__v1__log_record__descriptor) return id == 9 ? 16 : id == 10 ? 8 : 0;
    if (d == &opentelemetry__proto__metrics__v1__exemplar__descriptor) return id == 5 ? 16 : id == 4 ? 8 : 0;
    return 0;
}

static int check_field(chk_t *c, const frame_t *fr, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *f, long idx, int wt, const uint8_t *data, size_t dlen,
                       int depth, int anydepth, uint32_t *count)
{
    frame_t ff = { fr, f, idx };
    bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
    int want = wire_for(f->type);
    if (wt != want) {
        if (repeated && wt == 2 && want != 2) { /* packed scalars */
            if (want == 5 || want == 1) {
                size_t sz = want == 5 ? 4 : 8;
                if (dlen % sz) return chk_fail(c, &ff, "packed field of %zu bytes is not a multiple of %zu", dlen, sz);
                *count += (uint32_t)(dlen / sz);
            } else {
                const uint8_t *q = data, *end = data + dlen;
                uint64_t v;
                while (q < end) {
                    if (varint(&q, end, &v)) return chk_fail(c, &ff, "malformed varint in packed field");
                    (*count)++;
                }
            }
            return 0;
        }
        return chk_fail(c, &ff, "wire type %d, expected %d", wt, want);
    }
    (*count)++;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        size_t bad = utf8_bad(data, dlen);
        if (bad) {
            if (data[bad - 1] == 0) return chk_fail(c, &ff, "string contains a NUL byte (at byte %zu)", bad - 1);
            return chk_fail(c, &ff, "invalid UTF-8 in string (at byte %zu)", bad - 1);
        }
        c->mem += R16(dlen + 1);
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t want_len = id_len(d, f->id);
        if (want_len && dlen && dlen != want_len)
            return chk_fail(c, &ff, "expected %zu bytes or none (got %zu)", want_len, dlen);
        c->mem += R16(dlen);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        /* protobuf-c merges a repeated occurrence of a singular message into
         * a new copy of everything before it: memory grows with the square
         * of the repeats. No encoder writes one twice; refuse it. */
        if (!repeated && *count > 1) return chk_fail(c, &ff, "message field occurs more than once");
        if (depth + 1 > OTLP_PB_MAX_DEPTH) return chk_fail(c, &ff, "messages nested deeper than %d", OTLP_PB_MAX_DEPTH);
        int ad = anydepth;
        if (sub == &opentelemetry__proto__common__v1__any_value__descriptor && ++ad > VG_OTLP_JSON_MAX_DEPTH)
            return chk_fail(c, &ff, "AnyValue nested deeper than %d levels", VG_OTLP_JSON_MAX_DEPTH);
        return check_msg(c, &ff, sub, data, dlen, depth + 1, ad);
    }
    default:
        (void)d;
        return 0;
    }
}

static int check_msg(chk_t *c, const frame_t *fr, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                     int depth, int anydepth)
{
    /* counts[i] is valid where bit i of `seen` is set (no memset per message) */
    uint32_t counts[MAX_TRACKED_FIELDS];
    uint64_t seen = 0;
    unsigned nf = d->n_fields < MAX_TRACKED_FIELDS ? d->n_fields : MAX_TRACKED_FIELDS;
    size_t occurrences = 0, unknown = 0;
    const uint8_t *end = p + len;
    c->mem += R16(d->sizeof_message);
    if (is_item(d)) c->items++;
    while (p < end) {
        uint64_t key;
        const uint8_t *kp = p;
        if (varint(&p, end, &key)) return chk_fail(c, fr, "malformed field key (truncated protobuf)");
        /* A key is 32 bits: protobuf-c reads at most 5 bytes (a longer,
         * zero-padded encoding is legal protobuf but it refuses it). */
        if (p - kp > 5) return chk_fail(c, fr, "field key encoded in more than 5 bytes");
        uint64_t num = key >> 3;
        int wt = (int)(key & 7);
        if (num == 0 || num > 536870911u) return chk_fail(c, fr, "invalid field number %llu", (unsigned long long)num);
        /* protobuf-c sorts fields by number: OTLP's are mostly 1..n, found at once */
        const ProtobufCFieldDescriptor *f = num <= d->n_fields && d->fields[num - 1].id == num
                                                ? &d->fields[num - 1]
                                                : protobuf_c_message_descriptor_get_field(d, (unsigned)num);
        unsigned fi = f ? (unsigned)(f - d->fields) : 0;
        uint32_t dummy = 0, *cnt = &dummy;
        if (f && fi < nf) {
            if (!(seen & (1ull << fi))) {
                seen |= 1ull << fi;
                counts[fi] = 0;
            }
            cnt = &counts[fi];
        }
        long idx = f && f->label == PROTOBUF_C_LABEL_REPEATED ? (long)*cnt : -1;
        frame_t ff = { fr, f, idx };          /* names the field in messages */
        const frame_t *at = f ? &ff : fr;
        char what[32];
        if (f) what[0] = '\0';
        else snprintf(what, sizeof what, "field %llu: ", (unsigned long long)num);
        const uint8_t *data = p, *value = p; /* value: the field's encoding after its key */
        size_t dlen = 0;
        uint64_t v;
        switch (wt) {
        case 0:
            if (varint(&p, end, &v)) return chk_fail(c, at, "%smalformed varint (truncated protobuf)", what);
            dlen = (size_t)(p - data);
            break;
        case 1:
        case 5:
            dlen = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < dlen)
                return chk_fail(c, at, "%s%zu-byte value truncated (truncated protobuf)", what, dlen);
            p += dlen;
            break;
        case 2:
            if (varint(&p, end, &v)) return chk_fail(c, at, "%smalformed length (truncated protobuf)", what);
            if (p - data > 5) return chk_fail(c, at, "%slength encoded in more than 5 bytes", what);
            if (v > (uint64_t)(end - p))
                return chk_fail(c, at, "%slength %llu exceeds the %zu bytes left (truncated protobuf)", what,
                                (unsigned long long)v, (size_t)(end - p));
            data = p;
            dlen = (size_t)v;
            p += dlen;
            break;
        default:
            return chk_fail(c, at, "%sunsupported wire type %d", what, wt);
        }
        occurrences++;
        if (!f) { /* unknown fields are kept by protobuf-c, length prefix included */
            unknown++;
            c->mem += R16((size_t)(p - value));
            continue;
        }
        int rc = check_field(c, fr, d, f, idx, wt, data, dlen, depth, anydepth, cnt);
        if (rc) return rc;
    }
    for (unsigned i = 0; i < nf; i++)
        if ((seen & (1ull << i)) && counts[i] && d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
            c->mem += R16((size_t)counts[i] * elem_size(d->fields[i].type));
    if (d == &opentelemetry__proto__metrics__v1__metric__descriptor) {
        /* protobuf-c keeps only the last occurrence of a oneof member (it
         * does not merge repeated ones), so points of an earlier one would be
         * counted here but lost when decoded: refuse the ambiguity. */
        uint32_t set = 0;
        for (unsigned i = 0; i < nf; i++)
            if ((seen & (1ull << i)) && (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
                set += counts[i];
        if (set > 1)
            return chk_fail(c, fr, "gauge, sum, histogram, exponential_histogram or summary set more than once");
    }
    if (unknown) c->mem += R16(unknown * sizeof(ProtobufCMessageUnknownField));
    if (occurrences > SLAB_FREE_FIELDS) c->mem += occurrences * SLAB_BYTES_PER_FIELD + 32 * 16;
    return 0;
}

int otlp_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, size_t *mem, size_t *items,
                  char *err, size_t errlen)
{
    if (!d || (!data && len)) return VG_EINVAL;
    chk_t c = { 0, 0, err, errlen };
    if (err && errlen) err[0] = '\0';
    int rc = check_msg(&c, NULL, d, data ? data : (const uint8_t *)"", len, 0, 0);
    if (mem) *mem = c.mem;
    if (items) *items = c.items;
    return rc;
}

/* ---- counting without checking ------------------------------------------------------------- */

/* Field numbers from the request down to the items: at each level the fields
 * to descend into (0-terminated); the last level's occurrences are counted.
 * Metrics: resource_metrics 1, scope_metrics 2, metrics 2, then gauge 5, sum 7,
 * histogram 9, exponential_histogram 10, summary 11, then data_points 1. */
static const uint8_t PATH_SPANS_LOGS[][6] = { { 1 }, { 2 }, { 2 } };
static const uint8_t PATH_POINTS[][6] = { { 1 }, { 2 }, { 2 }, { 5, 7, 9, 10, 11 }, { 1 } };

static size_t count_level(const uint8_t (*path)[6], size_t depth, size_t last, const uint8_t *p, const uint8_t *end)
{
    size_t n = 0;
    while (p < end) {
        uint64_t key, len = 0;
        if (varint(&p, end, &key)) break;
        switch (key & 7) {
        case 0: { uint64_t v; if (varint(&p, end, &v)) return n; continue; }
        case 1: if (end - p < 8) return n; p += 8; continue;
        case 5: if (end - p < 4) return n; p += 4; continue;
        case 2: if (varint(&p, end, &len) || len > (uint64_t)(end - p)) return n; break;
        default: return n;
        }
        const uint8_t *sub = p;
        p += len;
        bool wanted = false;
        for (size_t i = 0; i < 6 && path[depth][i]; i++) wanted |= (key >> 3) == path[depth][i];
        if (!wanted) continue;
        n += depth == last ? 1 : count_level(path, depth + 1, last, sub, sub + len);
    }
    return n;
}

size_t otlp_pb_count_items(vg_signal_t sig, const uint8_t *data, size_t len)
{
    if (!data) return 0;
    if (sig == VG_SIG_METRICS) return count_level(PATH_POINTS, 0, 4, data, data + len);
    return count_level(PATH_SPANS_LOGS, 0, 2, data, data + len);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static int decode_json(vg_signal_t sig, const uint8_t *data, size_t len, vg_arena_t *arena, ProtobufCMessage **out,
                       char *err, size_t errlen)
{
    int rc = vg_otlp_json_decode(sig, (const char *)(data ? data : (const uint8_t *)""), len, arena, out, err, errlen);
    if (rc == VG_EPARSE) {
        /* Prefix the codec's message so the client knows which decoder spoke. */
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "invalid OTLP/JSON: %s", tmp);
    }
    return rc == VG_EINVAL ? VG_EPARSE : rc;
}

/* The check and the memory cap: 0 with *cap (what unpacking may allocate: the
 * amplification bound, which the check's estimate must fit in) and *items. */
static int check_proto(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len, size_t *cap_out,
                       size_t *items, char *err, size_t errlen)
{
    char why[256];
    size_t m = 0, *mem = &m;
    int rc = otlp_pb_check(d, data, len, mem, items, why, sizeof why);
    if (rc) {
        snprintf(err, errlen, "invalid protobuf: %s", why);
        return rc;
    }
    size_t cap = len > (SIZE_MAX - OTLP_DECODE_SLACK) / OTLP_DECODE_AMPLIFICATION
                     ? SIZE_MAX
                     : len * OTLP_DECODE_AMPLIFICATION + OTLP_DECODE_SLACK;
    if (*mem > cap) {
        snprintf(err, errlen, "request would need %zu bytes of memory once decoded (limit %zu for a %zu-byte message)",
                 *mem, cap, len);
        return VG_ETOOBIG;
    }
    *cap_out = cap;
    return 0;
}

int otlp_decode_request(vg_signal_t sig, otlp_enc_t enc, const uint8_t *data, size_t len, vg_arena_t *arena,
                        ProtobufCMessage **out, char *err, size_t errlen)
{
    *out = NULL;
    if (enc == OTLP_ENC_JSON) return decode_json(sig, data, len, arena, out, err, errlen);
    const ProtobufCMessageDescriptor *d = vg_otlp_request_descriptor(sig);
    if (!d) return VG_EINVAL;
    size_t cap = 0, items = 0;
    int rc = check_proto(d, data, len, &cap, &items, err, errlen);
    if (rc) return rc;
    rc = vg_otlp_unpack(d, data, len, cap, arena, out);
    if (rc == VG_ETOOBIG) snprintf(err, errlen, "request needs more than %zu bytes of memory once decoded", cap);
    else if (rc == VG_EPARSE) snprintf(err, errlen, "invalid protobuf: cannot be unpacked");
    return rc;
}

int otlp_decode_batch(vg_signal_t sig, otlp_enc_t enc, const uint8_t *data, size_t len, vg_batch_t **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    vg_arena_t *a = vg_arena_new();
    if (!a) return VG_ENOMEM;
    if (enc == OTLP_ENC_JSON) {
        ProtobufCMessage *m = NULL;
        int rc = decode_json(sig, data, len, a, &m, err, errlen);
        if (rc) { vg_arena_destroy(a); return rc; }
        return (*out = vg_batch_wrap(sig, a, m)) ? 0 : VG_ENOMEM;
    }
    const ProtobufCMessageDescriptor *d = vg_otlp_request_descriptor(sig);
    if (!d) { vg_arena_destroy(a); return VG_EINVAL; }
    size_t cap = 0, items = 0;
    int rc = check_proto(d, data, len, &cap, &items, err, errlen);
    if (rc) { vg_arena_destroy(a); return rc; }
    /* Kept as received: decoded only if a consumer needs the message. */
    const uint8_t *copy = len ? vg_arena_memdup(a, data, len) : (const uint8_t *)"";
    if (!copy) { vg_arena_destroy(a); return VG_ENOMEM; }
    /* Decoded later: the check's estimate fits in cap, and twice that is a
     * backstop that only an estimate bug could reach (a decode failing in
     * the pipeline loses the data after the client was told it was taken). */
    return (*out = vg_batch_wrap_wire(sig, a, copy, len, items, cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * cap)) ? 0
                                                                                                      : VG_ENOMEM;
}

/* ---- one request ---------------------------------------------------------------------------- */

const double otlp_size_buckets[OTLP_SIZE_BUCKETS] = { 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                                      16777216, 67108864, 268435456 };

static void count_size(otlp_pstats_t *ps, size_t n)
{
    size_t i = 0;
    while (i < OTLP_SIZE_BUCKETS && (double)n > otlp_size_buckets[i]) i++;
    ps->size_hist[i]++;
}

void otlp_count_early(otlp_recv_t *r, int proto, int sig)
{
    if (sig < 0 || sig >= VG_SIG_COUNT) r->unrouted[proto]++;
    else r->st[proto][sig].requests[OTLP_OUT_REJECTED]++;
}

static const char *peer_text(const vg_peer_t *p, char *buf, size_t len)
{
    if (!p || p->family == 0) snprintf(buf, len, "unknown peer");
    else if (p->addr[0]) snprintf(buf, len, "%s:%d", p->addr, p->port);
    else snprintf(buf, len, "unix pid=%d uid=%d", p->pid, p->uid);
    return buf;
}

void otlp_handle(otlp_recv_t *r, const otlp_req_t *q, otlp_res_t *res)
{
    vg_component_t *c = r->c;
    otlp_pstats_t *ps = &r->st[q->proto][q->sig];
    res->err = 0;
    res->at = OTLP_AT_BODY;
    res->items = 0;
    res->msg[0] = '\0';
    ps->wire_bytes += q->len;

    uint8_t *plain = NULL;
    size_t plen = 0;
    int rc = otlp_decompress(q->comp, q->body, q->len, q->limit, &plain, &plen, NULL, res->msg, sizeof res->msg);
    vg_batch_t *b = NULL;
    if (rc == 0) {
        ps->body_bytes += plen;
        count_size(ps, plen);
        if (q->enc == OTLP_ENC_PROTO && !vg_component_ready(c, q->sig)) {
            /* Back-pressure: refuse before checking and copying, so an
             * overloaded collector keeps its CPU for the data it can take.
             * Its items are counted by a walk that only looks at the
             * structure (a request this malformed would have been rejected). */
            size_t items = otlp_pb_count_items(q->sig, plain ? plain : q->body, plen);
            vg_free(plain);
            res->err = VG_EREFUSED;
            res->at = OTLP_AT_PIPELINE;
            res->items = items;
            snprintf(res->msg, sizeof res->msg, "the pipeline refused the data (%s); retry later",
                     vg_strerror(VG_EREFUSED));
            ps->requests[OTLP_OUT_REFUSED]++;
            ps->items[OTLP_OUT_REFUSED] += items;
            ps->shed++;
            c->stats.refused[q->sig] += items;
            return;
        }
        rc = otlp_decode_batch(q->sig, q->enc, plain ? plain : q->body, plen, &b, res->msg, sizeof res->msg);
    }
    vg_free(plain);
    if (rc) {
        if (rc == VG_ENOMEM && !res->msg[0]) snprintf(res->msg, sizeof res->msg, "out of memory; retry later");
        res->err = rc;
        ps->requests[rc == VG_ENOMEM ? OTLP_OUT_REFUSED : OTLP_OUT_REJECTED]++;
        char pt[96];
        VG_DEBUG(c->id, "%s %s request from %s refused: %s", q->proto == OTLP_PROTO_GRPC ? "gRPC" : "HTTP",
                 vg_signal_name(q->sig), peer_text(q->peer, pt, sizeof pt), res->msg);
        return;
    }
    if (q->peer) b->peer = *q->peer;
    size_t items = b->items;
    res->items = items;
    res->at = OTLP_AT_PIPELINE;
    rc = vg_component_emit(c, b); /* takes the reference whatever it returns */
    res->err = rc;
    int out;
    if (rc == 0) {
        out = OTLP_OUT_ACCEPTED;
        c->stats.accepted[q->sig] += items;
    } else if (vg_err_retryable(rc) || rc == VG_ENOMEM) {
        out = OTLP_OUT_REFUSED;
        c->stats.refused[q->sig] += items;
        snprintf(res->msg, sizeof res->msg, "the pipeline refused the data (%s); retry later", vg_strerror(rc));
    } else {
        out = OTLP_OUT_REJECTED;
        c->stats.rejected[q->sig] += items;
        if (rc == VG_EUNSUPPORTED)
            snprintf(res->msg, sizeof res->msg, "no %s pipeline takes data from this receiver", vg_signal_name(q->sig));
        else
            snprintf(res->msg, sizeof res->msg, "the pipeline rejected %zu %s: %s", items, vg_signal_items(q->sig),
                     vg_strerror(rc));
        VG_WARN(c->id, "%s", res->msg);
    }
    ps->requests[out]++;
    ps->items[out] += items;
}
