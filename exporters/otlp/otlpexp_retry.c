/* Retry logic without I/O: the backoff schedule, the status classification
 * table, google.rpc.Status / RetryInfo parsing and Retry-After. Protocol facts
 * from DESIGN.md: retryable are gRPC CANCELLED, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS, and RESOURCE_EXHAUSTED only with
 * RetryInfo; HTTP 429, 502, 503, 504; and connection failures. */
#include "otlpexp.h"

#include "collector/error.h"

#include <curl/curl.h>
#include <string.h>

/* ---- backoff -------------------------------------------------------------- */

double oe_rand01(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0; /* 2^53 */
}

int64_t oe_backoff_next(const oe_retry_cfg_t *cfg, int64_t *interval, int64_t elapsed_ns, double rnd)
{
    if (*interval <= 0) *interval = cfg->initial_interval;
    double cur = (double)*interval;
    double delta = cfg->randomization_factor * cur;
    double lo = cur - delta, hi = cur + delta;
    int64_t next = (int64_t)(lo + rnd * (hi - lo));
    if (next < 0) next = 0;
    /* grow for the next time */
    double grown = cur * cfg->multiplier;
    *interval = grown >= (double)cfg->max_interval ? cfg->max_interval : (int64_t)grown;
    if (cfg->max_elapsed_time > 0 && elapsed_ns + next > cfg->max_elapsed_time) return -1;
    return next;
}

/* ---- classification ------------------------------------------------------- */

const oe_status_row_t oe_status_table[] = {
    { OE_TAB_GRPC, 0, "OK", OE_OK },
    { OE_TAB_GRPC, 1, "CANCELLED", OE_RETRY },
    { OE_TAB_GRPC, 2, "UNKNOWN", OE_PERMANENT },
    { OE_TAB_GRPC, 3, "INVALID_ARGUMENT", OE_PERMANENT },
    { OE_TAB_GRPC, 4, "DEADLINE_EXCEEDED", OE_RETRY },
    { OE_TAB_GRPC, 5, "NOT_FOUND", OE_PERMANENT },
    { OE_TAB_GRPC, 6, "ALREADY_EXISTS", OE_PERMANENT },
    { OE_TAB_GRPC, 7, "PERMISSION_DENIED", OE_PERMANENT },
    { OE_TAB_GRPC, 8, "RESOURCE_EXHAUSTED", OE_PERMANENT }, /* retried only with RetryInfo */
    { OE_TAB_GRPC, 9, "FAILED_PRECONDITION", OE_PERMANENT },
    { OE_TAB_GRPC, 10, "ABORTED", OE_RETRY },
    { OE_TAB_GRPC, 11, "OUT_OF_RANGE", OE_RETRY },
    { OE_TAB_GRPC, 12, "UNIMPLEMENTED", OE_PERMANENT },
    { OE_TAB_GRPC, 13, "INTERNAL", OE_PERMANENT },
    { OE_TAB_GRPC, 14, "UNAVAILABLE", OE_RETRY },
    { OE_TAB_GRPC, 15, "DATA_LOSS", OE_RETRY },
    { OE_TAB_GRPC, 16, "UNAUTHENTICATED", OE_PERMANENT },
    /* OTLP/HTTP: 2xx is OK, these retry, every other status is permanent. */
    { OE_TAB_HTTP, 429, "Too Many Requests", OE_RETRY },
    { OE_TAB_HTTP, 502, "Bad Gateway", OE_RETRY },
    { OE_TAB_HTTP, 503, "Service Unavailable", OE_RETRY },
    { OE_TAB_HTTP, 504, "Gateway Timeout", OE_RETRY },
    { 0, 0, NULL, OE_OK },
};

static const oe_status_row_t *find_row(int table, int code)
{
    for (const oe_status_row_t *r = oe_status_table; r->name; r++)
        if (r->table == table && r->code == code) return r;
    return NULL;
}

const char *oe_grpc_code_name(int code)
{
    const oe_status_row_t *r = find_row(OE_TAB_GRPC, code);
    return r ? r->name : "UNKNOWN";
}

oe_verdict_t oe_classify_grpc(int code, bool has_retry_info)
{
    if (code == 8) return has_retry_info ? OE_RETRY : OE_PERMANENT;
    const oe_status_row_t *r = find_row(OE_TAB_GRPC, code);
    return r ? r->verdict : OE_PERMANENT;
}

oe_verdict_t oe_classify_http(long status)
{
    if (status >= 200 && status < 300) return OE_OK;
    const oe_status_row_t *r = find_row(OE_TAB_HTTP, (int)status);
    return r ? r->verdict : OE_PERMANENT;
}

int oe_grpc_code_from_http(long status)
{
    switch (status) {
    case 400: return 13; /* INTERNAL */
    case 401: return 16; /* UNAUTHENTICATED */
    case 403: return 7;  /* PERMISSION_DENIED */
    case 404: return 12; /* UNIMPLEMENTED */
    case 429: case 502: case 503: case 504: return 14; /* UNAVAILABLE */
    default: return 2;   /* UNKNOWN */
    }
}

oe_verdict_t oe_classify_transport(int curlcode, bool *conn)
{
    *conn = false;
    switch (curlcode) {
    case CURLE_OK: return OE_OK;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION: /* gRPC treats a failed handshake as UNAVAILABLE too */
        *conn = true;
        return OE_RETRY;
    /* Configuration problems: retrying gives the same answer. */
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_FILESIZE_EXCEEDED:
        return OE_PERMANENT;
    default:
        /* timeouts, resets, GOAWAY, refused streams, truncated answers, out of
         * memory: retry (bounded by max_elapsed_time) rather than lose data */
        return OE_RETRY;
    }
}

/* ---- google.rpc.Status ---------------------------------------------------- */

typedef struct { const uint8_t *p, *end; } rd_t;

static int rd_varint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;
}

/* Next field: number, wire type, and for length-delimited ones the bytes;
 * other wire types are skipped (their value in *v when varint). */
static int rd_field(rd_t *r, uint32_t *num, int *wt, const uint8_t **data, size_t *len, uint64_t *v)
{
    uint64_t key;
    if (rd_varint(r, &key)) return -1;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    if (*num == 0) return -1;
    switch (*wt) {
    case 0: return rd_varint(r, v);
    case 1: if (r->end - r->p < 8) return -1; r->p += 8; return 0;
    case 5: if (r->end - r->p < 4) return -1; r->p += 4; return 0;
    case 2: {
        uint64_t l;
        if (rd_varint(r, &l) || l > (uint64_t)(r->end - r->p)) return -1;
        *data = r->p;
        *len = (size_t)l;
        r->p += l;
        return 0;
    }
    default: return -1;
    }
}

static int parse_retry_info(const uint8_t *buf, size_t len, int64_t *delay)
{
    rd_t r = { buf, buf + len };
    int64_t secs = 0, nanos = 0;
    while (r.p < r.end) {
        uint32_t num; int wt; const uint8_t *d = NULL; size_t dl = 0; uint64_t v = 0;
        if (rd_field(&r, &num, &wt, &d, &dl, &v)) return VG_EPARSE;
        if (num != 1 || wt != 2) continue; /* retry_delay: google.protobuf.Duration */
        rd_t dr = { d, d + dl };
        while (dr.p < dr.end) {
            uint32_t n2; int w2; const uint8_t *d2; size_t l2; uint64_t v2 = 0;
            if (rd_field(&dr, &n2, &w2, &d2, &l2, &v2)) return VG_EPARSE;
            if (n2 == 1 && w2 == 0) secs = (int64_t)v2;
            else if (n2 == 2 && w2 == 0) nanos = (int32_t)(uint32_t)v2;
        }
    }
    if (secs < 0 || nanos < 0) { *delay = 0; return 0; }
    if (secs > 100000000) secs = 100000000;
    *delay = secs * 1000000000 + nanos;
    return 0;
}

int oe_parse_rpc_status(const uint8_t *buf, size_t len, oe_rpc_status_t *out)
{
    static const char retry_type[] = "type.googleapis.com/google.rpc.RetryInfo";
    *out = (oe_rpc_status_t){ 0 };
    rd_t r = { buf, buf + len };
    while (r.p < r.end) {
        uint32_t num; int wt; const uint8_t *d = NULL; size_t dl = 0; uint64_t v = 0;
        if (rd_field(&r, &num, &wt, &d, &dl, &v)) return VG_EPARSE;
        if (num == 1 && wt == 0) out->code = (int32_t)(uint32_t)v;
        else if (num == 2 && wt == 2) { out->message = (const char *)d; out->message_len = dl; }
        else if (num == 3 && wt == 2) { /* google.protobuf.Any */
            rd_t a = { d, d + dl };
            const uint8_t *type = NULL, *val = NULL;
            size_t tl = 0, vl = 0;
            while (a.p < a.end) {
                uint32_t n2; int w2; const uint8_t *d2 = NULL; size_t l2 = 0; uint64_t v2;
                if (rd_field(&a, &n2, &w2, &d2, &l2, &v2)) return VG_EPARSE;
                if (n2 == 1 && w2 == 2) { type = d2; tl = l2; }
                else if (n2 == 2 && w2 == 2) { val = d2; vl = l2; }
            }
            if (type && tl == sizeof retry_type - 1 && memcmp(type, retry_type, tl) == 0) {
                int64_t delay = 0;
                if (parse_retry_info(val ? val : (const uint8_t *)"", vl, &delay)) return VG_EPARSE;
                out->has_retry_info = true;
                out->retry_delay_ns = delay;
            }
        }
    }
    return 0;
}

long oe_base64_decode(const char *in, size_t len, uint8_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') break;
        else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        else return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t oe_percent_decode(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    if (o < len) s[o] = '\0';
    return o;
}

int64_t oe_parse_retry_after(const char *v, int64_t now_s)
{
    if (!v) return -1;
    while (*v == ' ' || *v == '\t') v++;
    if (!*v) return -1;
    if (*v >= '0' && *v <= '9') {
        int64_t s = 0;
        for (; *v >= '0' && *v <= '9'; v++) {
            s = s * 10 + (*v - '0');
            if (s > 100000000) s = 100000000;
        }
        while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') v++;
        return *v ? -1 : s * 1000000000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1) return -1;
    int64_t d = (int64_t)t - now_s;
    return d > 0 ? d * 1000000000 : 0;
}
