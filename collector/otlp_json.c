/* OTLP/JSON codec, driven by the protobuf-c descriptors of the OTLP messages.
 *
 * Decoding parses the input with jansson and walks the JSON tree next to the
 * message descriptor, allocating every message, array, string and byte string
 * from the caller's arena. Encoding walks the message the same way and writes
 * JSON text straight into one growing buffer (no intermediate JSON tree), which
 * also lets doubles be written in their shortest round-trip form.
 *
 * The only OTLP-specific rules beyond the proto3 JSON mapping are: bytes
 * fields named trace_id / span_id / parent_span_id are hex (16 / 8 bytes), and
 * enums are written as integers. */
#include "otlp_json.h"

#include "error.h"
#include "mem.h"

#include <inttypes.h>
#include <jansson.h>
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

typedef struct {
    vg_arena_t *arena;
    char *err;
    size_t errlen;
    int depth;           /* AnyValue nesting of the value being decoded */
    size_t plen;         /* length of path */
    char path[4096];     /* where we are, e.g. resourceSpans[0].resource; fits
                          * the deepest AnyValue nesting allowed */
} dec_t;

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static int dec_fail(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dec_fail(dec_t *d, const char *fmt, ...)
{
    if (d->err && d->errlen) {
        int n = 0;
        /* A very deep path keeps its tail so the reason still fits. */
        size_t keep = d->errlen / 2;
        if (d->plen > keep && keep > 3)
            n = snprintf(d->err, d->errlen, "...%s: ", d->path + d->plen - (keep - 3));
        else if (d->plen)
            n = snprintf(d->err, d->errlen, "%s: ", d->path);
        if (n < 0) n = 0;
        if ((size_t)n < d->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return VG_EPARSE;
}

static int dec_nomem(dec_t *d)
{
    if (d->err && d->errlen) snprintf(d->err, d->errlen, "out of memory");
    return VG_ENOMEM;
}

/* Appends to the path, clipping at its capacity; returns the length to
 * restore with path_pop. */
static size_t path_push(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(dec_t *d, const char *fmt, ...)
{
    size_t old = d->plen;
    size_t room = sizeof d->path - old;
    if (room > 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(d->path + old, room, fmt, ap);
        va_end(ap);
        if (n > 0) d->plen = old + ((size_t)n < room ? (size_t)n : room - 1);
    }
    return old;
}

static void path_pop(dec_t *d, size_t old)
{
    d->plen = old;
    d->path[old] = '\0';
}

/* Finds the field for a JSON key: lowerCamelCase or the proto snake_case name. */
static const ProtobufCFieldDescriptor *field_for_key(const ProtobufCMessageDescriptor *desc, const char *key)
{
    char snake[80];
    size_t j = 0;
    for (const char *p = key; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z') {
            if (j + 2 >= sizeof snake) return NULL;
            snake[j++] = '_';
            snake[j++] = (char)(c - 'A' + 'a');
        } else {
            if (j + 1 >= sizeof snake) return NULL;
            snake[j++] = c;
        }
    }
    snake[j] = '\0';
    return protobuf_c_message_descriptor_get_field_by_name(desc, snake);
}

/* Strict decimal: optional '-', then digits only. Returns 0 with the
 * magnitude in *mag, -1 if malformed, -2 if beyond 64 bits. */
static int parse_decimal(const char *s, size_t n, int *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = 0;
    *mag = 0;
    if (i < n && s[i] == '-') {
        *neg = 1;
        i++;
    }
    if (i == n) return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (*mag > (UINT64_MAX - dgt) / 10) {
            while (++i < n)
                if (s[i] < '0' || s[i] > '9') return -1;
            return -2;
        }
        *mag = *mag * 10 + dgt;
    }
    return 0;
}

/* A signed integer in [lo, hi] from a JSON integer, an integral real or a
 * decimal string. */
static int get_int(dec_t *d, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi) return dec_fail(d, "integer %lld out of range", (long long)x);
        *out = (int64_t)x;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || x != trunc(x)) return dec_fail(d, "expected an integer, got %g", x);
        if (x < (double)lo || x >= -(double)INT64_MIN || (int64_t)x > hi)
            return dec_fail(d, "integer %g out of range", x);
        *out = (int64_t)x;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int neg;
        uint64_t mag;
        int pr = parse_decimal(s, json_string_length(v), &neg, &mag);
        if (pr == -2) return dec_fail(d, "integer \"%.40s\" out of range", s);
        if (pr != 0) return dec_fail(d, "expected a decimal integer string, got \"%.40s\"", s);
        int64_t x;
        if (neg && mag > (uint64_t)INT64_MAX + 1) return dec_fail(d, "integer \"%.40s\" out of range", s);
        if (!neg && mag > (uint64_t)INT64_MAX) return dec_fail(d, "integer \"%.40s\" out of range", s);
        if (neg) x = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        else x = (int64_t)mag;
        if (x < lo || x > hi) return dec_fail(d, "integer \"%.40s\" out of range", s);
        *out = x;
        return 0;
    }
    return dec_fail(d, "expected an integer (number or decimal string), got %s", json_kind(v));
}

/* An unsigned integer in [0, hi], same forms as get_int. */
static int get_uint(dec_t *d, const json_t *v, uint64_t hi, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || (uint64_t)x > hi) return dec_fail(d, "integer %lld out of range", (long long)x);
        *out = (uint64_t)x;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || x != trunc(x)) return dec_fail(d, "expected an integer, got %g", x);
        if (x < 0 || x >= 18446744073709551616.0 || (uint64_t)x > hi)
            return dec_fail(d, "integer %g out of range", x);
        *out = (uint64_t)x;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int neg;
        uint64_t mag;
        int pr = parse_decimal(s, json_string_length(v), &neg, &mag);
        if (pr == -2) return dec_fail(d, "integer \"%.40s\" out of range", s);
        if (pr != 0) return dec_fail(d, "expected a decimal integer string, got \"%.40s\"", s);
        if ((neg && mag) || mag > hi) return dec_fail(d, "integer \"%.40s\" out of range", s);
        *out = mag;
        return 0;
    }
    return dec_fail(d, "expected an integer (number or decimal string), got %s", json_kind(v));
}

static int get_double(dec_t *d, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (strcmp(s, "NaN") == 0) *out = NAN;
        else if (strcmp(s, "Infinity") == 0) *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0) *out = -INFINITY;
        else {
            /* proto3 JSON allows a number in a string; only plain decimal forms. */
            char *end = NULL;
            int plain = n > 0 && n < 64 && strspn(s, "0123456789+-.eE") == n;
            double x = plain ? strtod(s, &end) : 0;
            if (!plain || end != s + n || !isfinite(x))
                return dec_fail(d, "expected a number or \"NaN\", \"Infinity\", \"-Infinity\", got \"%.40s\"", s);
            *out = x;
        }
        return 0;
    }
    return dec_fail(d, "expected a number, got %s", json_kind(v));
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int get_hex_id(dec_t *d, const json_t *v, size_t want, ProtobufCBinaryData *bd)
{
    if (!json_is_string(v)) return dec_fail(d, "expected a hex string, got %s", json_kind(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    bd->len = 0;
    bd->data = NULL;
    if (n == 0) return 0;
    if (n != want * 2) return dec_fail(d, "expected %zu hex characters (got %zu)", want * 2, n);
    uint8_t *p = vg_arena_alloc(d->arena, want);
    if (!p) return dec_nomem(d);
    for (size_t i = 0; i < want; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return dec_fail(d, "expected %zu hex characters (non-hex character at offset %zu)", want * 2,
                            hi < 0 ? 2 * i : 2 * i + 1);
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    bd->data = p;
    bd->len = want;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Base64, standard or URL-safe alphabet, padding optional. */
static int get_base64(dec_t *d, const json_t *v, ProtobufCBinaryData *bd)
{
    if (!json_is_string(v)) return dec_fail(d, "expected a base64 string, got %s", json_kind(v));
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    bd->len = 0;
    bd->data = NULL;
    if (n % 4 == 0 && n >= 1 && s[n - 1] == '=') n--;
    if (n % 4 == 3 && n >= 1 && s[n - 1] == '=') n--;
    if (n % 4 == 1) return dec_fail(d, "invalid base64 (bad length)");
    if (n == 0) return 0;
    size_t outn = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    uint8_t *p = vg_arena_alloc(d->arena, outn);
    if (!p) return dec_nomem(d);
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64val(s[i]);
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

static int get_enum(dec_t *d, const ProtobufCFieldDescriptor *f, const json_t *v, int *out)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
        if (ev) {
            *out = ev->value;
            return 0;
        }
        if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
            return dec_fail(d, "unknown %s value \"%.60s\"", ed->short_name, s);
    } else if (!json_is_number(v)) {
        return dec_fail(d, "expected an enum value (integer or name), got %s", json_kind(v));
    }
    int64_t x;
    int rc = get_int(d, v, INT32_MIN, INT32_MAX, &x);
    if (rc) return rc;
    *out = (int)x; /* proto3 enums are open: unknown numbers are kept */
    return 0;
}

static int dec_message(dec_t *d, const ProtobufCMessageDescriptor *desc, const json_t *obj,
                       ProtobufCMessage **out);

/* Decodes one value (a singular field or one element of a repeated one) into
 * the memory at dst. */
static int dec_value(dec_t *d, const ProtobufCFieldDescriptor *f, const json_t *v, void *dst)
{
    int rc = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        int64_t x = 0;
        if ((rc = get_int(d, v, INT32_MIN, INT32_MAX, &x)) == 0) *(int32_t *)dst = (int32_t)x;
        return rc;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint64_t x = 0;
        if ((rc = get_uint(d, v, UINT32_MAX, &x)) == 0) *(uint32_t *)dst = (uint32_t)x;
        return rc;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t x = 0;
        if ((rc = get_int(d, v, INT64_MIN, INT64_MAX, &x)) == 0) *(int64_t *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t x = 0;
        if ((rc = get_uint(d, v, UINT64_MAX, &x)) == 0) *(uint64_t *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        double x = 0;
        if ((rc = get_double(d, v, &x)) != 0) return rc;
        if (isfinite(x) && fabs(x) > 3.4028234663852886e38) return dec_fail(d, "%g out of range for a float", x);
        *(float *)dst = (float)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = 0;
        if ((rc = get_double(d, v, &x)) == 0) *(double *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v)) return dec_fail(d, "expected true or false, got %s", json_kind(v));
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        int x = 0;
        if ((rc = get_enum(d, f, v, &x)) == 0) *(int *)dst = x;
        return rc;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v)) return dec_fail(d, "expected a string, got %s", json_kind(v));
        /* jansson has checked UTF-8 and refused NUL (\u0000) while parsing. */
        char *s = vg_arena_strndup(d->arena, json_string_value(v), json_string_length(v));
        if (!s) return dec_nomem(d);
        *(char **)dst = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t idn = id_bytes(f);
        return idn ? get_hex_id(d, v, idn, dst) : get_base64(d, v, dst);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub = NULL;
        if ((rc = dec_message(d, f->descriptor, v, &sub)) == 0) *(ProtobufCMessage **)dst = sub;
        return rc;
    }
    }
    return dec_fail(d, "unsupported field type");
}

static int dec_field(dec_t *d, const ProtobufCFieldDescriptor *f, const json_t *v, ProtobufCMessage *m)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v)) return dec_fail(d, "expected an array, got %s", json_kind(v));
        size_t n = json_array_size(v), es = elem_size(f->type);
        char *arr = NULL;
        if (n) {
            if (n > SIZE_MAX / es) return dec_nomem(d);
            arr = vg_arena_alloc(d->arena, n * es);
            if (!arr) return dec_nomem(d);
        }
        for (size_t i = 0; i < n; i++) {
            size_t old = path_push(d, "[%zu]", i);
            int rc = dec_value(d, f, json_array_get(v, i), arr + i * es);
            if (rc) return rc;
            path_pop(d, old);
        }
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)(base + f->offset) = arr;
        return 0;
    }
    int rc = dec_value(d, f, v, base + f->offset);
    if (rc) return rc;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (has_flag(f)) *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

static int dec_message(dec_t *d, const ProtobufCMessageDescriptor *desc, const json_t *obj,
                       ProtobufCMessage **out)
{
    if (!json_is_object(obj)) return dec_fail(d, "expected an object, got %s", json_kind(obj));
    int any = desc == ANYVALUE_DESC;
    if (any && d->depth >= VG_OTLP_JSON_MAX_DEPTH)
        return dec_fail(d, "AnyValue nested deeper than %d levels", VG_OTLP_JSON_MAX_DEPTH);
    ProtobufCMessage *m = vg_arena_alloc(d->arena, desc->sizeof_message);
    if (!m) return dec_nomem(d);
    desc->message_init(m);
    d->depth += any;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const ProtobufCFieldDescriptor *f = field_for_key(desc, key);
        if (!f || json_is_null(v)) continue; /* unknown keys are ignored; null means unset */
        size_t old = d->plen ? path_push(d, ".%s", key) : path_push(d, "%s", key);
        int rc = dec_field(d, f, v, m);
        if (rc) return rc;
        path_pop(d, old);
    }
    d->depth -= any;
    *out = m;
    return 0;
}

static int decode_as(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, vg_arena_t *arena,
                     ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    if (out) *out = NULL;
    if (errbuf && errlen) errbuf[0] = '\0';
    if (!desc || !json || !arena || !out) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "invalid argument");
        return VG_EINVAL;
    }
    dec_t d = {.arena = arena, .err = errbuf, .errlen = errlen};
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &je);
    if (!root) return dec_fail(&d, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
    ProtobufCMessage *m = NULL;
    int rc;
    if (!json_is_object(root)) rc = dec_fail(&d, "expected a JSON object at the top level, got %s", json_kind(root));
    else rc = dec_message(&d, desc, root, &m);
    json_decref(root);
    if (rc == 0) *out = m;
    return rc;
}

int vg_otlp_json_decode(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena, ProtobufCMessage **out,
                        char *errbuf, size_t errlen)
{
    return decode_as(vg_otlp_request_descriptor(sig), json, len, arena, out, errbuf, errlen);
}

int vg_otlp_json_decode_response(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena,
                                 ProtobufCMessage **out, char *errbuf, size_t errlen)
{
    return decode_as(vg_otlp_response_descriptor(sig), json, len, arena, out, errbuf, errlen);
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
