/* OTLP/JSON codec, driven by the protobuf-c descriptors of the OTLP messages.
 *
 * Decoding streams: a pull parser (json_lex.c) reads the input once, next to
 * the message descriptor, and every message, array, string and byte string
 * goes straight into the caller's arena; no JSON tree is built, so memory is
 * the decoded message plus O(nesting depth). Encoding walks the message the
 * same way and writes JSON text straight into one growing buffer, which also
 * lets doubles be written in their shortest round-trip form.
 *
 * The only OTLP-specific rules beyond the proto3 JSON mapping are: bytes
 * fields named trace_id / span_id / parent_span_id are hex (16 / 8 bytes), and
 * enums are written as integers. */
#include "otlp_json.h"

#include "error.h"
#include "json_lex.h"
#include "mem.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANYVALUE_DESC (&opentelemetry__proto__common__v1__any_value__descriptor)

const ProtobufCMessageDescriptor *vg_otlp_request_descriptor(vg_signal_t sig)
{
    switch (sig) {
    case VG_SIG_TRACES: return &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    case VG_SIG_METRICS: return &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
    case VG_SIG_LOGS: return &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor;
    default: return NULL;
    }
}

const ProtobufCMessageDescriptor *vg_otlp_response_descriptor(vg_signal_t sig)
{
    switch (sig) {
    case VG_SIG_TRACES: return &opentelemetry__proto__collector__trace__v1__export_trace_service_response__descriptor;
    case VG_SIG_METRICS: return &opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__descriptor;
    case VG_SIG_LOGS: return &opentelemetry__proto__collector__logs__v1__export_logs_service_response__descriptor;
    default: return NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Field helpers shared by both directions                                  */

/* Size of one element of a field's type as protobuf-c lays it out. */
static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 8;
}

/* Byte length of an id field written in hex, 0 for other fields. */
static size_t id_bytes(const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_BYTES) return 0;
    if (strcmp(f->name, "trace_id") == 0) return 16;
    if (strcmp(f->name, "span_id") == 0 || strcmp(f->name, "parent_span_id") == 0) return 8;
    return 0;
}

/* Presence flag of a proto2-style optional scalar (none in OTLP, kept for
 * completeness): strings and messages use their pointer instead. */
static int has_flag(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                  */

/* What jansson (which this decoder replaced) did with an object, kept
 * exactly: the object's distinct keys are taken in the order they first
 * appear, each with the LAST value given for it; a key whose value is null
 * sets nothing. Distinct keys naming the same field ("traceId", "trace_id")
 * are separate keys, so the later one wins, and for oneof members the last
 * one taken wins.
 *
 * Streaming, that means one entry per distinct known key of the object being
 * decoded (on a stack shared by all open objects: O(depth) memory): a value
 * is decoded into its key's entry, a repeated key decodes its new value over
 * the entry (the old one is merely wasted arena space), and the entries are
 * stored into the message in first-appearance order at the object's '}'.
 *
 * A value that breaks a rule does not stop decoding at once, because a later
 * value for the same key would replace it (jansson only kept the last one):
 * its entry is marked failed, and the object fails at its '}' if one of its
 * entries is still failed, which then fails the entry holding the object, and
 * so on. JSON syntax errors, out of memory and the memory cap stop at once.
 * The reported message is the first failure in document order that was not
 * replaced; errbuf holds it (d->rec) and the entries on the way up know
 * whether their failure carries it. When that failure gets replaced while
 * another one, found later and so unrecorded, stays (only possible with
 * repeated keys), the message names the other one's key but not the reason. */

#define ANY_KEY_MAX 80 /* longest snake_case key field_for_key can match, plus NUL */

enum { SEM = 1 }; /* a value broke a rule; it was consumed whole */
enum { ENT_NONE, ENT_OK, ENT_NULL, ENT_FAIL };

/* Storage for one decoded field value: any singular member, or the count and
 * array of a repeated one. */
typedef union {
    uint64_t u64;
    double dbl;
    ProtobufCBinaryData bytes;
    void *ptr;
    struct {
        size_t n;
        void *arr;
    } rep;
} fval_t;

typedef struct {
    uint16_t field;   /* index in desc->fields */
    uint8_t state;    /* ENT_* */
    uint8_t carry;    /* a failure whose message is in errbuf */
    uint32_t spelling; /* bit i: the key had the i-th '_' as a capital */
    fval_t v;
} entry_t;

/* One step of the path to the value being decoded: a key or an index. */
typedef struct seg {
    const struct seg *up;
    const char *key; /* NULL for an array index */
    size_t idx;
} seg_t;

typedef struct {
    vg_jlex_t lx;
    vg_arena_t *arena;
    size_t mem0, max_mem;
    char *err;
    size_t errlen;
    int rec;   /* errbuf holds the message of a live failure */
    int carry; /* set with SEM: this failure carries errbuf's message */
    int depth; /* AnyValue nesting of the value being decoded */
    int renders; /* messages formatted so far (bounded: see dec_fail) */
    const seg_t *path;
    entry_t *ents;
    size_t nents, cap;
    entry_t inline_ents[96];
} dec_t;

static const char *kind_name(int kind)
{
    switch (kind) {
    case VG_JSON_OBJECT: return "an object";
    case VG_JSON_ARRAY: return "an array";
    case VG_JSON_STRING: return "a string";
    case VG_JSON_NUMBER: return "a number";
    case VG_JSON_TRUE:
    case VG_JSON_FALSE: return "a boolean";
    case VG_JSON_NULL: return "null";
    }
    return "?";
}

/* Renders the path as the old decoder built it: keys joined by '.', indexes
 * as [i], clipped at the buffer's size. */
static size_t path_render(const seg_t *s, char *buf, size_t cap)
{
    if (!s) return 0;
    size_t len = path_render(s->up, buf, cap);
    size_t room = cap - len;
    if (room > 1) {
        int n = s->key ? snprintf(buf + len, room, len ? ".%s" : "%s", s->key) : snprintf(buf + len, room, "[%zu]", s->idx);
        if (n > 0) len += (size_t)n < room ? (size_t)n : room - 1;
    }
    return len;
}

static void dec_vmessage(dec_t *d, const char *fmt, va_list ap)
{
    if (!d->err || !d->errlen) return;
    char path[4096];
    path[0] = '\0';
    size_t plen = path_render(d->path, path, sizeof path);
    int n = 0;
    /* A very deep path keeps its tail so the reason still fits. */
    size_t keep = d->errlen / 2;
    if (plen > keep && keep > 3) n = snprintf(d->err, d->errlen, "...%s: ", path + plen - (keep - 3));
    else if (plen) n = snprintf(d->err, d->errlen, "%s: ", path);
    if (n < 0) n = 0;
    if ((size_t)n < d->errlen) vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
}

/* A value broke a rule (it has been consumed): records the message unless an
 * earlier failure's is already there. Returns SEM. */
static int dec_fail(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dec_fail(dec_t *d, const char *fmt, ...)
{
    d->carry = !d->rec;
    if (!d->rec) {
        /* Only replaced values make this run more than once; a body made of
         * them must not cost a path rendering each. */
        if (d->renders++ < 1000) {
            va_list ap;
            va_start(ap, fmt);
            dec_vmessage(d, fmt, ap);
            va_end(ap);
        } else if (d->err && d->errlen) {
            snprintf(d->err, d->errlen, "invalid value (reason not kept: too many values replaced by repeated keys)");
        }
        d->rec = 1;
    }
    return SEM;
}

/* Skips the value at hand, then fails as dec_fail. */
static int skip_fail(dec_t *d, int kind, const char *what)
{
    if (vg_jlex_skip(&d->lx)) return VG_EPARSE;
    return dec_fail(d, "%s, got %s", what, kind_name(kind));
}

static int dec_nomem(dec_t *d)
{
    if (d->err && d->errlen) snprintf(d->err, d->errlen, "out of memory");
    return VG_ENOMEM;
}

static int dec_toobig(dec_t *d)
{
    if (d->err && d->errlen)
        snprintf(d->err, d->errlen, "request needs more than %zu bytes of memory once decoded", d->max_mem);
    return VG_ETOOBIG;
}

/* The memory cap, checked after every arena allocation. */
static inline int over_cap(const dec_t *d) { return vg_arena_bytes(d->arena) - d->mem0 > d->max_mem; }

/* Arena allocation under the cap: 0, VG_ENOMEM or VG_ETOOBIG. */
static int dec_alloc(dec_t *d, size_t n, void **out)
{
    *out = vg_arena_alloc(d->arena, n);
    if (!*out) return dec_nomem(d);
    if (over_cap(d)) return dec_toobig(d);
    return 0;
}

/* Finds the field for a JSON key: lowerCamelCase or the proto snake_case name
 * (or any mix of the two). *spelling tells the mixes apart. */
static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *desc, const char *key,
                                                     size_t klen, uint32_t *spelling)
{
    char snake[ANY_KEY_MAX];
    size_t j = 0;
    unsigned under = 0;
    uint32_t sp = 0;
    for (size_t i = 0; i < klen; i++) {
        char c = key[i];
        if (c >= 'A' && c <= 'Z') {
            if (j + 2 >= sizeof snake) return NULL;
            if (under < 32) sp |= 1u << under;
            under++;
            snake[j++] = '_';
            snake[j++] = (char)(c - 'A' + 'a');
        } else {
            if (j + 1 >= sizeof snake) return NULL;
            if (c == '_') under++;
            snake[j++] = c;
        }
    }
    snake[j] = '\0';
    *spelling = sp;
    return protobuf_c_message_descriptor_get_field_by_name(desc, snake);
}

/* Strict decimal over the decoded string: optional '-', then digits only.
 * Returns 0 with the magnitude in *mag, -1 if malformed, -2 if beyond 64
 * bits. */
static int parse_decimal(const vg_jstr_t *s, int *neg, uint64_t *mag)
{
    vg_jstr_iter_t it;
    vg_jstr_iter_init(&it, s);
    int c = vg_jstr_iter_next(&it);
    *neg = 0;
    *mag = 0;
    if (c == '-') {
        *neg = 1;
        c = vg_jstr_iter_next(&it);
    }
    if (c < 0) return -1;
    for (; c >= 0; c = vg_jstr_iter_next(&it)) {
        if (c < '0' || c > '9') return -1;
        unsigned dgt = (unsigned)(c - '0');
        if (*mag > (UINT64_MAX - dgt) / 10) {
            while ((c = vg_jstr_iter_next(&it)) >= 0)
                if (c < '0' || c > '9') return -1;
            return -2;
        }
        *mag = *mag * 10 + dgt;
    }
    return 0;
}

/* One scalar value, or the kind of a container that has been skipped. */
typedef struct {
    int kind;
    vg_jstr_t s;
    vg_jnum_t n;
} jval_t;

/* The first bytes of a string value, for messages and short comparisons. */
typedef struct {
    char b[64];
} excerpt_t;

static const char *excerpt(const jval_t *v, excerpt_t *x)
{
    vg_jstr_prefix(&v->s, x->b, sizeof x->b);
    return x->b;
}

/* A signed integer in [lo, hi] from a JSON integer, an integral real or a
 * decimal string. */
static int get_int(dec_t *d, const jval_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    excerpt_t x;
    if (v->kind == VG_JSON_NUMBER && v->n.is_int) {
        long long i = v->n.i;
        if (i < lo || i > hi) return dec_fail(d, "integer %lld out of range", i);
        *out = (int64_t)i;
        return 0;
    }
    if (v->kind == VG_JSON_NUMBER) {
        double r = v->n.d;
        if (!isfinite(r) || r != trunc(r)) return dec_fail(d, "expected an integer, got %g", r);
        if (r < (double)lo || r >= -(double)INT64_MIN || (int64_t)r > hi) return dec_fail(d, "integer %g out of range", r);
        *out = (int64_t)r;
        return 0;
    }
    if (v->kind == VG_JSON_STRING) {
        int neg;
        uint64_t mag;
        int pr = parse_decimal(&v->s, &neg, &mag);
        if (pr == -2) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        if (pr != 0) return dec_fail(d, "expected a decimal integer string, got \"%.40s\"", excerpt(v, &x));
        int64_t r;
        if (neg && mag > (uint64_t)INT64_MAX + 1) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        if (!neg && mag > (uint64_t)INT64_MAX) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        if (neg) r = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        else r = (int64_t)mag;
        if (r < lo || r > hi) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        *out = r;
        return 0;
    }
    return dec_fail(d, "expected an integer (number or decimal string), got %s", kind_name(v->kind));
}

/* An unsigned integer in [0, hi], same forms as get_int. */
static int get_uint(dec_t *d, const jval_t *v, uint64_t hi, uint64_t *out)
{
    excerpt_t x;
    if (v->kind == VG_JSON_NUMBER && v->n.is_int) {
        long long i = v->n.i;
        if (i < 0 || (uint64_t)i > hi) return dec_fail(d, "integer %lld out of range", i);
        *out = (uint64_t)i;
        return 0;
    }
    if (v->kind == VG_JSON_NUMBER) {
        double r = v->n.d;
        if (!isfinite(r) || r != trunc(r)) return dec_fail(d, "expected an integer, got %g", r);
        if (r < 0 || r >= 18446744073709551616.0 || (uint64_t)r > hi) return dec_fail(d, "integer %g out of range", r);
        *out = (uint64_t)r;
        return 0;
    }
    if (v->kind == VG_JSON_STRING) {
        int neg;
        uint64_t mag;
        int pr = parse_decimal(&v->s, &neg, &mag);
        if (pr == -2) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        if (pr != 0) return dec_fail(d, "expected a decimal integer string, got \"%.40s\"", excerpt(v, &x));
        if ((neg && mag) || mag > hi) return dec_fail(d, "integer \"%.40s\" out of range", excerpt(v, &x));
        *out = mag;
        return 0;
    }
    return dec_fail(d, "expected an integer (number or decimal string), got %s", kind_name(v->kind));
}

static int get_double(dec_t *d, const jval_t *v, double *out)
{
    if (v->kind == VG_JSON_NUMBER) {
        *out = v->n.is_int ? (double)v->n.i : v->n.d;
        return 0;
    }
    if (v->kind == VG_JSON_STRING) {
        excerpt_t x;
        const char *s = excerpt(v, &x);
        size_t n = v->s.len;
        if (n == 3 && strcmp(s, "NaN") == 0) *out = NAN;
        else if (n == 8 && strcmp(s, "Infinity") == 0) *out = INFINITY;
        else if (n == 9 && strcmp(s, "-Infinity") == 0) *out = -INFINITY;
        else {
            /* proto3 JSON allows a number in a string; only plain decimal forms. */
            char *end = NULL;
            int plain = n > 0 && n < 64 && strspn(s, "0123456789+-.eE") == n;
            double r = plain ? strtod(s, &end) : 0;
            if (!plain || end != s + n || !isfinite(r))
                return dec_fail(d, "expected a number or \"NaN\", \"Infinity\", \"-Infinity\", got \"%.40s\"", s);
            *out = r;
        }
        return 0;
    }
    return dec_fail(d, "expected a number, got %s", kind_name(v->kind));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int get_hex_id(dec_t *d, const jval_t *v, size_t want, ProtobufCBinaryData *bd)
{
    if (v->kind != VG_JSON_STRING) return dec_fail(d, "expected a hex string, got %s", kind_name(v->kind));
    size_t n = v->s.len;
    bd->len = 0;
    bd->data = NULL;
    if (n == 0) return 0;
    if (n != want * 2) return dec_fail(d, "expected %zu hex characters (got %zu)", want * 2, n);
    excerpt_t x; /* want is at most 16: the whole string fits */
    const char *s = excerpt(v, &x);
    uint8_t tmp[32];
    for (size_t i = 0; i < want; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return dec_fail(d, "expected %zu hex characters (non-hex character at offset %zu)", want * 2,
                            hi < 0 ? 2 * i : 2 * i + 1);
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    void *p;
    int rc = dec_alloc(d, want, &p);
    if (rc) return rc;
    memcpy(p, tmp, want);
    bd->data = p;
    bd->len = want;
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Base64, standard or URL-safe alphabet, padding optional. */
static int get_base64(dec_t *d, const jval_t *v, ProtobufCBinaryData *bd)
{
    if (v->kind != VG_JSON_STRING) return dec_fail(d, "expected a base64 string, got %s", kind_name(v->kind));
    size_t n = v->s.len;
    bd->len = 0;
    bd->data = NULL;
    /* the last two decoded characters, for the padding */
    int last = -1, prev = -1;
    if (!v->s.escaped) {
        if (n >= 1) last = (unsigned char)v->s.raw[n - 1];
        if (n >= 2) prev = (unsigned char)v->s.raw[n - 2];
    } else {
        vg_jstr_iter_t it;
        vg_jstr_iter_init(&it, &v->s);
        for (int c; (c = vg_jstr_iter_next(&it)) >= 0;) {
            prev = last;
            last = c;
        }
    }
    if (n % 4 == 0 && n >= 1 && last == '=') {
        n--;
        last = prev;
    }
    if (n % 4 == 3 && n >= 1 && last == '=') n--;
    if (n % 4 == 1) return dec_fail(d, "invalid base64 (bad length)");
    if (n == 0) return 0;
    size_t outn = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    uint8_t *p;
    int rc = dec_alloc(d, outn, (void **)&p);
    if (rc) return rc;
    size_t o = 0;
    uint32_t acc = 0;
    vg_jstr_iter_t it;
    vg_jstr_iter_init(&it, &v->s);
    const unsigned char *raw = (const unsigned char *)v->s.raw;
    for (size_t i = 0; i < n; i++) {
        int x = b64val(v->s.escaped ? vg_jstr_iter_next(&it) : raw[i]);
        if (x < 0) return dec_fail(d, "invalid base64 (bad character at offset %zu)", i);
        acc = acc << 6 | (uint32_t)x;
        if (i % 4 == 3) {
            p[o++] = (uint8_t)(acc >> 16);
            p[o++] = (uint8_t)(acc >> 8);
            p[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) p[o++] = (uint8_t)(acc >> 4);
    if (n % 4 == 3) {
        p[o++] = (uint8_t)(acc >> 10);
        p[o++] = (uint8_t)(acc >> 2);
    }
    bd->data = p;
    bd->len = o;
    return 0;
}

static int get_enum(dec_t *d, const ProtobufCFieldDescriptor *f, const jval_t *v, int *out)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (v->kind == VG_JSON_STRING) {
        excerpt_t x;
        const char *s = excerpt(v, &x);
        const ProtobufCEnumValue *ev =
            v->s.len < sizeof x.b ? protobuf_c_enum_descriptor_get_value_by_name(ed, s) : NULL;
        if (ev) {
            *out = ev->value;
            return 0;
        }
        if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
            return dec_fail(d, "unknown %s value \"%.60s\"", ed->short_name, s);
    } else if (v->kind != VG_JSON_NUMBER) {
        return dec_fail(d, "expected an enum value (integer or name), got %s", kind_name(v->kind));
    }
    int64_t r;
    int rc = get_int(d, v, INT32_MIN, INT32_MAX, &r);
    if (rc) return rc;
    *out = (int)r; /* proto3 enums are open: unknown numbers are kept */
    return 0;
}

/* Reads the next value as a scalar; a container is skipped and only its kind
 * kept (every scalar rule then refuses it). */
static int read_scalar(dec_t *d, jval_t *v)
{
    vg_jlex_t *lx = &d->lx;
    v->kind = vg_jlex_peek(lx);
    int r;
    switch (v->kind) {
    case VG_JSON_OBJECT:
    case VG_JSON_ARRAY: r = vg_jlex_skip(lx); break;
    case VG_JSON_STRING: r = vg_jlex_string(lx, &v->s); break;
    case VG_JSON_NUMBER: r = vg_jlex_number(lx, &v->n); break;
    case VG_JSON_TRUE:
    case VG_JSON_FALSE:
    case VG_JSON_NULL: r = vg_jlex_literal(lx); break;
    default: r = -1;
    }
    return r ? VG_EPARSE : 0;
}

static int dec_message(dec_t *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out);

/* Decodes one value (a singular field or one element of a repeated one) into
 * dst. Returns 0, SEM, or a negative error. */
static int dec_value(dec_t *d, const ProtobufCFieldDescriptor *f, void *dst)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *sub = NULL;
        int rc = dec_message(d, f->descriptor, &sub);
        if (rc == 0) *(ProtobufCMessage **)dst = sub;
        return rc;
    }
    jval_t v;
    int rc = read_scalar(d, &v);
    if (rc) return rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        int64_t x = 0;
        if ((rc = get_int(d, &v, INT32_MIN, INT32_MAX, &x)) == 0) *(int32_t *)dst = (int32_t)x;
        return rc;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint64_t x = 0;
        if ((rc = get_uint(d, &v, UINT32_MAX, &x)) == 0) *(uint32_t *)dst = (uint32_t)x;
        return rc;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t x = 0;
        if ((rc = get_int(d, &v, INT64_MIN, INT64_MAX, &x)) == 0) *(int64_t *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t x = 0;
        if ((rc = get_uint(d, &v, UINT64_MAX, &x)) == 0) *(uint64_t *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        double x = 0;
        if ((rc = get_double(d, &v, &x)) != 0) return rc;
        if (isfinite(x) && fabs(x) > 3.4028234663852886e38) return dec_fail(d, "%g out of range for a float", x);
        *(float *)dst = (float)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = 0;
        if ((rc = get_double(d, &v, &x)) == 0) *(double *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (v.kind != VG_JSON_TRUE && v.kind != VG_JSON_FALSE)
            return dec_fail(d, "expected true or false, got %s", kind_name(v.kind));
        *(protobuf_c_boolean *)dst = v.kind == VG_JSON_TRUE;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int x = 0;
        if ((rc = get_enum(d, f, &v, &x)) == 0) *(int *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (v.kind != VG_JSON_STRING) return dec_fail(d, "expected a string, got %s", kind_name(v.kind));
        /* the lexer has checked UTF-8 and refused NUL (\u0000) */
        char *s;
        if ((rc = dec_alloc(d, v.s.len + 1, (void **)&s)) != 0) return rc;
        vg_jstr_copy(&v.s, s);
        s[v.s.len] = '\0';
        *(char **)dst = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t idn = id_bytes(f);
        return idn ? get_hex_id(d, &v, idn, dst) : get_base64(d, &v, dst);
    }
    case PROTOBUF_C_TYPE_MESSAGE: break;
    }
    return dec_fail(d, "unsupported field type");
}

/* A repeated field: the array grows in the arena by doubling, so the copies
 * left behind add up to less than the final array. */
static int dec_array(dec_t *d, const ProtobufCFieldDescriptor *f, fval_t *out)
{
    vg_jlex_t *lx = &d->lx;
    int kind = vg_jlex_peek(lx);
    if (kind < 0) return VG_EPARSE;
    if (kind != VG_JSON_ARRAY) return skip_fail(d, kind, "expected an array");
    vg_jlex_enter(lx);
    size_t es = elem_size(f->type), n = 0, cap = 0;
    void *arr = NULL;
    seg_t seg = {d->path, NULL, 0};
    int first = 1, r;
    while ((r = vg_jlex_element(lx, &first)) == 1) {
        if (n == cap) {
            if (vg_arena_grow(d->arena, &arr, &cap, n + 1, es)) return dec_nomem(d);
            if (over_cap(d)) return dec_toobig(d);
        }
        seg.idx = n;
        d->path = &seg;
        int rc = dec_value(d, f, (char *)arr + n * es);
        d->path = seg.up;
        if (rc < 0) return rc;
        if (rc == SEM) {
            /* the field has failed whatever follows: the rest is only checked */
            int carry = d->carry;
            if (vg_jlex_skip_rest(lx, 0)) return VG_EPARSE;
            d->carry = carry;
            return SEM;
        }
        n++;
    }
    if (r < 0) return VG_EPARSE;
    out->rep.n = n;
    out->rep.arr = n ? arr : NULL;
    return 0;
}

/* Stores a decoded entry into the message, as the old decoder did field by
 * field. */
static void entry_store(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const fval_t *v)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        *(size_t *)(base + f->quantifier_offset) = v->rep.n;
        *(void **)(base + f->offset) = v->rep.arr;
        return;
    }
    memcpy(base + f->offset, v, elem_size(f->type));
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (has_flag(f)) *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

/* A new entry on the shared stack; its index in *idx. */
static int entry_push(dec_t *d, size_t *idx)
{
    if (d->nents == d->cap) {
        size_t ncap = d->cap * 2;
        entry_t *ne;
        if (d->ents == d->inline_ents) {
            ne = vg_malloc(ncap * sizeof *ne);
            if (ne) memcpy(ne, d->ents, d->nents * sizeof *ne);
        } else {
            ne = vg_realloc(d->ents, ncap * sizeof *ne);
        }
        if (!ne) return dec_nomem(d);
        d->ents = ne;
        d->cap = ncap;
    }
    *idx = d->nents++;
    return 0;
}

/* The key of an entry as it was written, for messages. */
static void entry_key(const ProtobufCFieldDescriptor *f, uint32_t spelling, char *buf, size_t cap)
{
    size_t o = 0;
    unsigned under = 0;
    for (const char *p = f->name; *p && o + 1 < cap; p++) {
        if (*p == '_' && p[1] >= 'a' && p[1] <= 'z' && under < 32 && (spelling >> under & 1)) {
            under++;
            buf[o++] = (char)(*++p - 'a' + 'A');
            continue;
        }
        if (*p == '_') under++;
        buf[o++] = *p;
    }
    buf[o] = '\0';
}

static int dec_message(dec_t *d, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    vg_jlex_t *lx = &d->lx;
    int kind = vg_jlex_peek(lx);
    if (kind < 0) return VG_EPARSE;
    if (kind != VG_JSON_OBJECT) return skip_fail(d, kind, "expected an object");
    int any = desc == ANYVALUE_DESC;
    if (any && d->depth >= VG_OTLP_JSON_MAX_DEPTH) {
        if (vg_jlex_skip(lx)) return VG_EPARSE;
        return dec_fail(d, "AnyValue nested deeper than %d levels", VG_OTLP_JSON_MAX_DEPTH);
    }
    ProtobufCMessage *m;
    int rc = dec_alloc(d, desc->sizeof_message, (void **)&m);
    if (rc) return rc;
    desc->message_init(m);
    vg_jlex_enter(lx);
    d->depth += any;

    size_t base = d->nents;
    uint64_t seen = 0; /* fields with an entry (bit 63: fields 63 and up) */
    int first = 1, r;
    vg_jstr_t key;
    while ((r = vg_jlex_member(lx, &first, &key)) == 1) {
        /* Known keys are short; longer ones cannot name a field. */
        char kbuf[ANY_KEY_MAX];
        const ProtobufCFieldDescriptor *f = NULL;
        uint32_t spelling = 0;
        if (key.len < sizeof kbuf) {
            vg_jstr_copy(&key, kbuf);
            kbuf[key.len] = '\0';
            f = field_for_key(desc, kbuf, key.len, &spelling);
        }
        if (!f) { /* unknown keys are ignored */
            if (vg_jlex_skip(lx)) return VG_EPARSE;
            continue;
        }
        size_t fi = (size_t)(f - desc->fields), idx = SIZE_MAX;
        uint64_t bit = fi < 63 ? 1ull << fi : 1ull << 63;
        if (seen & bit) {
            for (size_t i = base; i < d->nents; i++)
                if (d->ents[i].field == fi && d->ents[i].spelling == spelling) {
                    idx = i;
                    break;
                }
        }
        if (idx == SIZE_MAX) {
            if ((rc = entry_push(d, &idx)) != 0) return rc;
            d->ents[idx].field = (uint16_t)fi;
            d->ents[idx].spelling = spelling;
            d->ents[idx].state = ENT_NONE;
            d->ents[idx].carry = 0;
            seen |= bit;
        } else if (d->ents[idx].state == ENT_FAIL && d->ents[idx].carry) {
            /* the failure whose message we kept is replaced */
            d->rec = 0;
            if (d->err && d->errlen) d->err[0] = '\0';
        }
        kind = vg_jlex_peek(lx);
        if (kind < 0) return VG_EPARSE;
        if (kind == VG_JSON_NULL) { /* null means "not set" */
            if (vg_jlex_literal(lx)) return VG_EPARSE;
            d->ents[idx].state = ENT_NULL;
            continue;
        }
        seg_t seg = {d->path, kbuf, 0};
        d->path = &seg;
        fval_t v;
        memset(&v, 0, sizeof v);
        rc = f->label == PROTOBUF_C_LABEL_REPEATED ? dec_array(d, f, &v) : dec_value(d, f, &v);
        d->path = seg.up;
        if (rc < 0) return rc;
        entry_t *e = &d->ents[idx];
        e->state = rc ? ENT_FAIL : ENT_OK;
        e->carry = rc ? (uint8_t)d->carry : 0;
        e->v = v;
    }
    if (r < 0) return VG_EPARSE;
    d->depth -= any;

    int failed = 0, carry = 0;
    size_t first_fail = 0;
    for (size_t i = base; i < d->nents; i++) {
        if (d->ents[i].state != ENT_FAIL) continue;
        if (!failed) first_fail = i;
        failed = 1;
        carry |= d->ents[i].carry;
    }
    if (failed) {
        if (!d->rec) {
            /* the message found first was replaced; name the key left */
            const entry_t *e = &d->ents[first_fail];
            char kbuf[ANY_KEY_MAX];
            entry_key(&desc->fields[e->field], e->spelling, kbuf, sizeof kbuf);
            seg_t seg = {d->path, kbuf, 0};
            d->path = &seg;
            dec_fail(d, "invalid value");
            d->path = seg.up;
            carry = 1;
        }
        d->nents = base;
        d->carry = carry;
        return SEM;
    }
    for (size_t i = base; i < d->nents; i++)
        if (d->ents[i].state == ENT_OK) entry_store(m, &desc->fields[d->ents[i].field], &d->ents[i].v);
    d->nents = base;
    *out = m;
    return 0;
}

static int decode_as(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, vg_arena_t *arena,
                     size_t max_mem, ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    if (out) *out = NULL;
    if (errbuf && errlen) errbuf[0] = '\0';
    if (!desc || !json || !arena || !out) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "invalid argument");
        return VG_EINVAL;
    }
    dec_t *d = &(dec_t){.arena = arena, .err = errbuf, .errlen = errlen, .max_mem = max_mem};
    d->mem0 = vg_arena_bytes(arena);
    d->ents = d->inline_ents;
    d->cap = sizeof d->inline_ents / sizeof d->inline_ents[0];
    vg_jlex_init(&d->lx, json, len);

    ProtobufCMessage *m = NULL;
    int rc, kind = vg_jlex_peek(&d->lx);
    if (kind < 0) {
        rc = VG_EPARSE;
    } else if (kind != VG_JSON_OBJECT) {
        rc = vg_jlex_skip(&d->lx) ? VG_EPARSE : 0;
        if (rc == 0 && vg_jlex_finish(&d->lx)) rc = VG_EPARSE;
        if (rc == 0) {
            d->rec = 0;
            dec_fail(d, "expected a JSON object at the top level, got %s", kind_name(kind));
            rc = SEM;
        }
    } else {
        rc = dec_message(d, desc, &m);
        if (rc >= 0 && vg_jlex_finish(&d->lx)) rc = VG_EPARSE;
    }
    if (d->ents != d->inline_ents) vg_free(d->ents);

    if (rc == VG_EPARSE) { /* JSON syntax: wins over everything, as jansson parsed first */
        if (errbuf && errlen) {
            char where[160];
            vg_jlex_error(&d->lx, where, sizeof where);
            snprintf(errbuf, errlen, "invalid JSON at %s", where);
        }
        return VG_EPARSE;
    }
    if (rc == SEM) return VG_EPARSE;
    if (rc) return rc;
    if (errbuf && errlen) errbuf[0] = '\0'; /* messages of replaced failures */
    *out = m;
    return 0;
}

/* The default cap: VG_OTLP_JSON_DECODE_AMPLIFICATION * len + slack. */
static size_t default_cap(size_t len)
{
    if (len > (SIZE_MAX - VG_OTLP_JSON_DECODE_SLACK) / VG_OTLP_JSON_DECODE_AMPLIFICATION) return SIZE_MAX;
    return len * VG_OTLP_JSON_DECODE_AMPLIFICATION + VG_OTLP_JSON_DECODE_SLACK;
}

int vg_otlp_json_decode_capped(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena, size_t max_mem,
                               ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    return decode_as(vg_otlp_request_descriptor(sig), json, len, arena, max_mem, out, errbuf, errlen);
}

int vg_otlp_json_decode(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena, ProtobufCMessage **out,
                        char *errbuf, size_t errlen)
{
    return decode_as(vg_otlp_request_descriptor(sig), json, len, arena, default_cap(len), out, errbuf, errlen);
}

int vg_otlp_json_decode_response(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena,
                                 ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    return decode_as(vg_otlp_response_descriptor(sig), json, len, arena, default_cap(len), out, errbuf, errlen);
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                  */

typedef struct {
    char *buf;
    size_t len, cap;
    int rc;
} enc_t;

/* Makes room for n more bytes plus the final NUL; sets e->rc on failure. */
static int enc_room(enc_t *e, size_t n)
{
    if (e->rc) return -1;
    if (n < e->cap - e->len) return 0;
    size_t ncap = e->cap ? e->cap : 1024;
    while (ncap - e->len <= n) {
        if (ncap > SIZE_MAX / 2) {
            e->rc = VG_ENOMEM;
            return -1;
        }
        ncap *= 2;
    }
    char *nb = vg_realloc(e->buf, ncap);
    if (!nb) {
        e->rc = VG_ENOMEM;
        return -1;
    }
    e->buf = nb;
    e->cap = ncap;
    return 0;
}

static void put(enc_t *e, const void *s, size_t n)
{
    if (enc_room(e, n)) return;
    memcpy(e->buf + e->len, s, n);
    e->len += n;
}

static void putch(enc_t *e, char c)
{
    if (enc_room(e, 1)) return;
    e->buf[e->len++] = c;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is invalid. */
static size_t utf8_seq(const unsigned char *p, size_t rem)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return 0;
    if (rem < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* A JSON string: escapes quotes, backslashes and control characters; invalid
 * UTF-8 bytes become U+FFFD. */
static void put_string(enc_t *e, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    putch(e, '"');
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t sl = c >= 0x80 ? utf8_seq(s + i, n - i) : 1;
        if (c >= 0x80 && sl) {
            i += sl;
            continue;
        }
        put(e, s + run, i - run);
        switch (c) {
        case '"': put(e, "\\\"", 2); break;
        case '\\': put(e, "\\\\", 2); break;
        case '\n': put(e, "\\n", 2); break;
        case '\r': put(e, "\\r", 2); break;
        case '\t': put(e, "\\t", 2); break;
        case '\b': put(e, "\\b", 2); break;
        case '\f': put(e, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(e, u, 6);
            } else {
                put(e, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte */
            }
        }
        i++;
        run = i;
    }
    put(e, s + run, n - run);
    putch(e, '"');
}

/* "fieldName": from the snake_case proto name. */
static void put_key(enc_t *e, const char *name)
{
    size_t n = strlen(name);
    if (enc_room(e, n + 3)) return;
    char *o = e->buf + e->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '_' && i + 1 < n && name[i + 1] >= 'a' && name[i + 1] <= 'z') {
            *o++ = (char)(name[++i] - 'a' + 'A');
        } else {
            *o++ = name[i];
        }
    }
    *o++ = '"';
    *o++ = ':';
    e->len = (size_t)(o - e->buf);
}

static void put_fmt(enc_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(enc_t *e, const char *fmt, ...)
{
    char b[48];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0) put(e, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static void put_double(enc_t *e, double x)
{
    if (isnan(x)) {
        put(e, "\"NaN\"", 5);
        return;
    }
    if (isinf(x)) {
        if (x > 0) put(e, "\"Infinity\"", 10);
        else put(e, "\"-Infinity\"", 11);
        return;
    }
    if (x == 0 && signbit(x)) {
        put(e, "-0.0", 4); /* "-0" would read back as the integer 0 */
        return;
    }
    char b[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(b, sizeof b, "%.*g", prec, x);
        if (strtod(b, NULL) == x) break;
    }
    for (int i = 0; i < n; i++)
        if (b[i] == ',') b[i] = '.'; /* in case a locale changed the decimal point */
    put(e, b, (size_t)n);
}

static void put_hex(enc_t *e, const ProtobufCBinaryData *bd)
{
    static const char hex[] = "0123456789abcdef";
    if (enc_room(e, bd->len * 2 + 2)) return;
    char *o = e->buf + e->len;
    *o++ = '"';
    for (size_t i = 0; i < bd->len; i++) {
        *o++ = hex[bd->data[i] >> 4];
        *o++ = hex[bd->data[i] & 15];
    }
    *o++ = '"';
    e->len = (size_t)(o - e->buf);
}

static void put_base64(enc_t *e, const ProtobufCBinaryData *bd)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = bd->len;
    if (n > SIZE_MAX / 2 || enc_room(e, (n + 2) / 3 * 4 + 2)) {
        if (!e->rc) e->rc = VG_ENOMEM;
        return;
    }
    const uint8_t *s = bd->data;
    char *o = e->buf + e->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    e->len = (size_t)(o - e->buf);
}

static int enc_message(enc_t *e, const ProtobufCMessage *m, int depth);

static void enc_value(enc_t *e, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: put_fmt(e, "%" PRId32, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: put_fmt(e, "%" PRIu32, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: put_fmt(e, "\"%" PRId64 "\"", *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: put_fmt(e, "\"%" PRIu64 "\"", *(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_FLOAT: put_double(e, *(const float *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: put_double(e, *(const double *)p); break;
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)p) put(e, "true", 4);
        else put(e, "false", 5);
        break;
    case PROTOBUF_C_TYPE_ENUM: put_fmt(e, "%d", *(const int *)p); break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        put_string(e, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (id_bytes(f)) put_hex(e, p);
        else put_base64(e, p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        if (sub) enc_message(e, sub, depth);
        else put(e, "{}", 2);
        break;
    }
    }
}

/* Whether a singular proto3 field holds its default value (and is omitted). */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return *(const uint32_t *)p == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        float x = *(const float *)p;
        return x == 0 && !signbit(x);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = *(const double *)p;
        return x == 0 && !signbit(x);
    }
    case PROTOBUF_C_TYPE_BOOL: return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_ENUM: return *(const int *)p == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(const ProtobufCMessage *const *)p == NULL;
    }
    return 1;
}

static int enc_message(enc_t *e, const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    if (desc == ANYVALUE_DESC && ++depth > VG_OTLP_JSON_MAX_DEPTH) {
        if (!e->rc) e->rc = VG_EPARSE;
        return e->rc;
    }
    const char *base = (const char *)m;
    int first = 1;
    putch(e, '{');
    for (unsigned i = 0; i < desc->n_fields && !e->rc; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *member = base + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(const char *const *)member;
            if (n == 0 || !arr) continue;
            if (!first) putch(e, ',');
            first = 0;
            put_key(e, f->name);
            putch(e, '[');
            size_t es = elem_size(f->type);
            for (size_t j = 0; j < n && !e->rc; j++) {
                if (j) putch(e, ',');
                enc_value(e, f, arr + j * es, depth);
            }
            putch(e, ']');
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) continue;
        } else if (has_flag(f)) {
            if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset)) continue;
        } else if (is_default(f, member)) {
            continue;
        }
        if (!first) putch(e, ',');
        first = 0;
        put_key(e, f->name);
        enc_value(e, f, member, depth);
    }
    putch(e, '}');
    return e->rc;
}

static int encode_as(const ProtobufCMessageDescriptor *desc, const ProtobufCMessage *msg, char **out,
                     size_t *outlen)
{
    if (out) *out = NULL;
    if (outlen) *outlen = 0;
    if (!desc || !msg || !out || msg->descriptor != desc) return VG_EINVAL;
    enc_t e = {0};
    enc_message(&e, msg, 0);
    if (!e.rc) enc_room(&e, 0);
    if (e.rc) {
        vg_free(e.buf);
        return e.rc;
    }
    e.buf[e.len] = '\0';
    *out = e.buf;
    if (outlen) *outlen = e.len;
    return 0;
}

int vg_otlp_json_encode(vg_signal_t sig, const ProtobufCMessage *msg, char **out, size_t *outlen)
{
    return encode_as(vg_otlp_request_descriptor(sig), msg, out, outlen);
}

int vg_otlp_json_encode_response(vg_signal_t sig, const ProtobufCMessage *msg, char **out, size_t *outlen)
{
    return encode_as(vg_otlp_response_descriptor(sig), msg, out, outlen);
}

/* ------------------------------------------------------------------------ */
/* Counting, construction, cloning                                          */

static size_t count_metric_points(const Opentelemetry__Proto__Metrics__V1__Metric *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: return m->gauge ? m->gauge->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: return m->sum ? m->sum->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram ? m->histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram ? m->exponential_histogram->n_data_points : 0;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: return m->summary ? m->summary->n_data_points : 0;
    default: return 0;
    }
}

size_t vg_otlp_count_items(vg_signal_t sig, const ProtobufCMessage *req)
{
    if (!req || req->descriptor != vg_otlp_request_descriptor(sig)) return 0;
    size_t n = 0;
    if (sig == VG_SIG_TRACES) {
        const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r = (const void *)req;
        for (size_t i = 0; i < r->n_resource_spans; i++) {
            const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[i];
            for (size_t j = 0; rs && j < rs->n_scope_spans; j++)
                if (rs->scope_spans[j]) n += rs->scope_spans[j]->n_spans;
        }
    } else if (sig == VG_SIG_METRICS) {
        const Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *r = (const void *)req;
        for (size_t i = 0; i < r->n_resource_metrics; i++) {
            const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = r->resource_metrics[i];
            for (size_t j = 0; rm && j < rm->n_scope_metrics; j++) {
                const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
                for (size_t k = 0; sm && k < sm->n_metrics; k++)
                    if (sm->metrics[k]) n += count_metric_points(sm->metrics[k]);
            }
        }
    } else {
        const Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *r = (const void *)req;
        for (size_t i = 0; i < r->n_resource_logs; i++) {
            const Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = r->resource_logs[i];
            for (size_t j = 0; rl && j < rl->n_scope_logs; j++)
                if (rl->scope_logs[j]) n += rl->scope_logs[j]->n_log_records;
        }
    }
    return n;
}

int vg_otlp_new_request(vg_signal_t sig, vg_arena_t *arena, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *desc = vg_otlp_request_descriptor(sig);
    if (out) *out = NULL;
    if (!desc || !arena || !out) return VG_EINVAL;
    ProtobufCMessage *m = vg_arena_alloc(arena, desc->sizeof_message);
    if (!m) return VG_ENOMEM;
    desc->message_init(m);
    *out = m;
    return 0;
}

int vg_otlp_clone(vg_signal_t sig, const ProtobufCMessage *src, vg_arena_t *dst, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *desc = vg_otlp_request_descriptor(sig);
    if (out) *out = NULL;
    if (!desc || !src || !dst || !out || src->descriptor != desc) return VG_EINVAL;
    size_t n = protobuf_c_message_get_packed_size(src);
    uint8_t *buf = vg_malloc(n ? n : 1);
    if (!buf) return VG_ENOMEM;
    size_t packed = protobuf_c_message_pack(src, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(desc, vg_arena_pbc(dst), packed, buf);
    vg_free(buf);
    if (!copy) return VG_ENOMEM;
    *out = copy;
    return 0;
}
