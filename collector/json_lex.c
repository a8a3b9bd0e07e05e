/* Strict JSON pull parser; see json_lex.h for what it accepts. */
#include "json_lex.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_jlex_init(vg_jlex_t *lx, const char *buf, size_t len)
{
    lx->start = (const unsigned char *)buf;
    lx->p = lx->start;
    lx->end = lx->start + len;
    lx->depth = 0;
    lx->decimal_point = 0;
    lx->err = NULL;
    lx->err_off = 0;
    lx->errtext[0] = '\0';
}

/* End of the token starting at t, delimited as jansson delimits tokens: a
 * run of letters, of number characters, a string through its closing quote,
 * or one character. */
static const unsigned char *token_end(const unsigned char *t, const unsigned char *e)
{
    const unsigned char *p = t;
    if (p >= e) return p;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) p++;
    } else if ((*p >= '0' && *p <= '9') || *p == '-') {
        while (p < e && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) p++;
    } else if (*p == '"') {
        p++;
        while (p < e && *p != '"') p += *p == '\\' && p + 1 < e ? 2 : 1;
        if (p < e) p++;
    } else {
        p++;
        while (p < e && (*p & 0xC0) == 0x80) p++;
    }
    return p;
}

/* Records the first error; always returns -1. With `tok` (the start of the
 * offending token) the reason gets " near '<token>'" (tokens of at most 20
 * bytes, as jansson does) or " near end of file", and the position is the
 * token's last byte; inside a string (`at` past `tok`) the token is the
 * string so far. Without `tok` the position is `at` and there is no context. */
static int fail_v(vg_jlex_t *lx, const unsigned char *at, const unsigned char *tok, const unsigned char *te,
                  const char *fmt, va_list ap)
{
    if (lx->err) return -1;
    char why[64];
    vsnprintf(why, sizeof why, fmt, ap);
    if (at > lx->end) at = lx->end;
    snprintf(lx->errtext, sizeof lx->errtext, "%s", why);
    if (tok && tok >= lx->end) {
        snprintf(lx->errtext, sizeof lx->errtext, "%s near end of file", why);
    } else if (tok) {
        if (!te) te = at > tok ? at + 1 : token_end(tok, lx->end);
        if (te > lx->end) te = lx->end;
        size_t n = (size_t)(te - tok), k = 0;
        while (k < n && tok[k] >= 0x20 && tok[k] != 0x7f) k++;
        if (k == n && n <= 20) snprintf(lx->errtext, sizeof lx->errtext, "%s near '%.*s'", why, (int)n, (const char *)tok);
        if (!(at > tok)) at = te > tok ? te - 1 : tok;
    }
    lx->err = lx->errtext;
    lx->err_off = (size_t)(at - lx->start);
    return -1;
}

static int lex_fail(vg_jlex_t *lx, const unsigned char *at, const unsigned char *tok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lex_fail(vg_jlex_t *lx, const unsigned char *at, const unsigned char *tok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(lx, at, tok, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error inside the string opened at tok, found at `at`: the context is
 * the string up to (not including) `upto`. */
static int str_fail(vg_jlex_t *lx, const unsigned char *at, const unsigned char *tok, const unsigned char *upto,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int str_fail(vg_jlex_t *lx, const unsigned char *at, const unsigned char *tok, const unsigned char *upto,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(lx, at, tok, upto, fmt, ap);
    va_end(ap);
    return -1;
}

void vg_jlex_error(const vg_jlex_t *lx, char *buf, size_t n)
{
    if (!buf || !n) return;
    /* line and column of the offending byte, counted as jansson does:
     * columns are characters (UTF-8 lead bytes), from 1 */
    size_t off = lx->err_off;
    size_t total = (size_t)(lx->end - lx->start);
    if (off > total) off = total;
    int line = 1, col = 0;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = lx->start[i];
        if (c == '\n') {
            line++;
            col = 0;
        } else if ((c & 0xC0) != 0x80) {
            col++;
        }
    }
    if (off < total && lx->start[off] != '\n' && (lx->start[off] & 0xC0) != 0x80) col++;
    if (col == 0) col = 1;
    snprintf(buf, n, "line %d, column %d: %s", line, col, lx->err ? lx->err : "invalid JSON");
}

static inline void skip_ws(vg_jlex_t *lx)
{
    const unsigned char *p = lx->p, *e = lx->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    lx->p = p;
}

int vg_jlex_peek(vg_jlex_t *lx)
{
    skip_ws(lx);
    const unsigned char *p = lx->p;
    if (lx->depth + 1 > VG_JLEX_MAX_DEPTH) return lex_fail(lx, p, NULL, "maximum parsing depth reached");
    if (p >= lx->end) return lex_fail(lx, p, p, "unexpected token");
    switch (*p) {
    case '{': return VG_JSON_OBJECT;
    case '[': return VG_JSON_ARRAY;
    case '"': return VG_JSON_STRING;
    case 't': return VG_JSON_TRUE;
    case 'f': return VG_JSON_FALSE;
    case 'n': return VG_JSON_NULL;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return VG_JSON_NUMBER;
    case '}':
    case ']':
    case ':':
    case ',': return lex_fail(lx, p, p, "unexpected token");
    default: return lex_fail(lx, p, p, "invalid token");
    }
}

int vg_jlex_enter(vg_jlex_t *lx)
{
    lx->p++;
    lx->depth++;
    return 0;
}

int vg_jlex_literal(vg_jlex_t *lx)
{
    const unsigned char *p = lx->p;
    size_t room = (size_t)(lx->end - p);
    const char *word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
    size_t n = strlen(word);
    /* a longer identifier ("nullx") is one invalid token, as in jansson */
    if (room < n || memcmp(p, word, n) != 0 ||
        (room > n && ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))))
        return lex_fail(lx, p, p, "invalid token");
    lx->p = p + n;
    return 0;
}

static int hex4(const unsigned char *p, const unsigned char *e)
{
    if (e - p < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        int x;
        if (c >= '0' && c <= '9') x = (int)(c - '0');
        else if (c >= 'a' && c <= 'f') x = (int)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x = (int)(c - 'A' + 10);
        else return -1;
        v = v << 4 | x;
    }
    return v;
}

/* Length of the valid UTF-8 sequence starting with a byte >= 0x80 at p, or 0. */
static inline size_t utf8_len(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t avail = (size_t)(e - p);
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80) return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* beyond U+10FFFF */
        return 4;
    }
    return 0;
}

/* Any byte of the 8 that needs a closer look: a quote, a backslash, a
 * control character or a non-ASCII byte. Byte order does not matter. */
static inline int word_special(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v;
    return (t & high) != 0;
}

/* Scans the string whose opening quote is at lx->p. */
static int scan_string(vg_jlex_t *lx, vg_jstr_t *s)
{
    const unsigned char *tok = lx->p, *p = lx->p + 1, *e = lx->end;
    const unsigned char *raw = p;
    size_t shrink = 0; /* raw bytes minus decoded bytes */
    int escaped = 0;
    for (;;) {
        while (e - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (word_special(v)) break;
            p += 8;
        }
        while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p >= e) return str_fail(lx, p, tok, e, "premature end of input");
        unsigned c = *p;
        if (c == '"') break;
        if (c == '\\') {
            escaped = 1;
            if (e - p < 2) return str_fail(lx, e, tok, e, "premature end of input");
            unsigned x = p[1];
            if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' || x == 't') {
                p += 2;
                shrink += 1;
                continue;
            }
            if (x != 'u') return lex_fail(lx, p + 1, tok, "invalid escape");
            int cp = hex4(p + 2, e);
            if (cp < 0) return lex_fail(lx, p + 2, tok, "invalid escape");
            if (cp == 0) return lex_fail(lx, p + 5, tok, "\\u0000 is not allowed");
            if (cp >= 0xDC00 && cp <= 0xDFFF) return lex_fail(lx, p + 5, tok, "invalid Unicode '\\u%04X'", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = (e - p >= 12 && p[6] == '\\' && p[7] == 'u') ? hex4(p + 8, e) : -2;
                if (lo == -1) return lex_fail(lx, p + 8, tok, "invalid escape");
                if (lo < 0) return lex_fail(lx, p + 5, tok, "invalid Unicode '\\u%04X'", (unsigned)cp);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return lex_fail(lx, p + 11, tok, "invalid Unicode '\\u%04X\\u%04X'", (unsigned)cp, (unsigned)lo);
                p += 12;
                shrink += 12 - 4;
                continue;
            }
            p += 6;
            shrink += 6 - (cp < 0x80 ? 1u : cp < 0x800 ? 2u : 3u);
            continue;
        }
        if (c < 0x20) {
            if (c == '\n') return str_fail(lx, p, tok, p, "unexpected newline");
            return str_fail(lx, p - 1, tok, p, "control character 0x%x", c);
        }
        size_t n = utf8_len(p, e);
        if (!n) return str_fail(lx, p - 1, tok, p, "unable to decode byte 0x%x", c);
        p += n;
    }
    s->raw = (const char *)raw;
    s->rawlen = (size_t)(p - raw);
    s->len = s->rawlen - shrink;
    s->escaped = escaped;
    lx->p = p + 1;
    return 0;
}

int vg_jlex_string(vg_jlex_t *lx, vg_jstr_t *s) { return scan_string(lx, s); }

/* strtod of a real token of n bytes, in the C library's locale as jansson
 * does; tokens too long for the buffer are rewritten first as
 * "[-]0.<at most 800 significant digits>e<exponent>", with a last digit 1
 * standing for any dropped non-zero digits: that keeps the rounding exact
 * (every halfway point between two doubles has fewer significant digits). */
static int to_double(vg_jlex_t *lx, const unsigned char *t, size_t n, double *out)
{
    char buf[840];
    size_t o = 0;
    if (!lx->decimal_point) {
        const struct lconv *lc = localeconv();
        lx->decimal_point = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';
    }
    if (n < 64) {
        memcpy(buf, t, n);
        o = n;
    } else {
        size_t i = 0;
        if (t[0] == '-') buf[o++] = t[i++];
        buf[o++] = '0';
        buf[o++] = '.';
        long long e10 = 0; /* value = 0.<digits> * 10^e10 */
        int started = 0, frac = 0, sticky = 0;
        size_t ndig = 0;
        for (; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
            if (t[i] == '.') {
                frac = 1;
                continue;
            }
            if (!started && t[i] == '0') {
                if (frac) e10--;
                continue;
            }
            started = 1;
            if (!frac) e10++;
            if (ndig < 800) buf[o + ndig++] = (char)t[i];
            else if (t[i] != '0') sticky = 1;
        }
        if (!started) buf[o + ndig++] = '0';
        if (sticky) buf[o + ndig++] = '1';
        o += ndig;
        long long x = 0;
        if (i < n) {
            int neg = 0;
            i++;
            if (t[i] == '+' || t[i] == '-') neg = t[i++] == '-';
            for (; i < n; i++)
                if (x < 1000000000LL) x = x * 10 + (t[i] - '0');
            if (neg) x = -x;
        }
        if (started) e10 += x;
        if (e10 > 99999) e10 = 99999;
        if (e10 < -99999) e10 = -99999;
        o += (size_t)snprintf(buf + o, sizeof buf - o, "e%lld", e10);
    }
    buf[o] = '\0';
    if (lx->decimal_point != '.') {
        char *dot = memchr(buf, '.', o);
        if (dot) *dot = lx->decimal_point;
    }
    errno = 0;
    double v = strtod(buf, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE) return -1;
    *out = v;
    return 0;
}

static inline int is_digit(const unsigned char *p, const unsigned char *e) { return p < e && *p >= '0' && *p <= '9'; }

int vg_jlex_number(vg_jlex_t *lx, vg_jnum_t *num)
{
    const unsigned char *t = lx->p, *p = t, *e = lx->end;
    int neg = 0, real = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(p, e)) return lex_fail(lx, t, t, "invalid token");
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
        if (is_digit(p, e)) return lex_fail(lx, t, t, "invalid token");
    } else {
        while (is_digit(p, e)) p++;
    }
    const unsigned char *int_end = p;
    if (p < e && *p == '.') {
        p++;
        if (!is_digit(p, e)) return lex_fail(lx, t, t, "invalid token");
        while (is_digit(p, e)) p++;
        real = 1;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, e)) return lex_fail(lx, t, t, "invalid token");
        while (is_digit(p, e)) p++;
        real = 1;
    }
    if (!real) {
        uint64_t mag = 0;
        for (const unsigned char *q = digits; q < int_end; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (mag > (UINT64_MAX - d) / 10) {
                mag = UINT64_MAX;
                break;
            }
            mag = mag * 10 + d;
        }
        if (neg && mag > (uint64_t)INT64_MAX + 1) return lex_fail(lx, t, t, "too big negative integer");
        if (!neg && mag > (uint64_t)INT64_MAX) return lex_fail(lx, t, t, "too big integer");
        num->is_int = 1;
        num->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)mag) : (long long)mag;
        num->d = (double)num->i;
    } else {
        num->is_int = 0;
        num->i = 0;
        if (to_double(lx, t, (size_t)(p - t), &num->d)) return lex_fail(lx, t, t, "real number overflow");
    }
    lx->p = p;
    return 0;
}

int vg_jlex_member(vg_jlex_t *lx, int *first, vg_jstr_t *key)
{
    skip_ws(lx);
    const unsigned char *p = lx->p;
    if (*first) {
        *first = 0;
        if (p < lx->end && *p == '}') {
            lx->p = p + 1;
            lx->depth--;
            return 0;
        }
    } else {
        if (p < lx->end && *p == '}') {
            lx->p = p + 1;
            lx->depth--;
            return 0;
        }
        if (p >= lx->end || *p != ',') return lex_fail(lx, p, p, "'}' expected");
        lx->p = p + 1;
        skip_ws(lx);
        p = lx->p;
    }
    if (p >= lx->end || *p != '"') return lex_fail(lx, p, p, "string or '}' expected");
    if (scan_string(lx, key)) return -1;
    skip_ws(lx);
    p = lx->p;
    if (p >= lx->end || *p != ':') return lex_fail(lx, p, p, "':' expected");
    lx->p = p + 1;
    return 1;
}

int vg_jlex_element(vg_jlex_t *lx, int *first)
{
    skip_ws(lx);
    const unsigned char *p = lx->p;
    if (p < lx->end && *p == ']') {
        /* "[1,]" never gets here: after a ',' the caller reads a value */
        lx->p = p + 1;
        lx->depth--;
        *first = 0;
        return 0;
    }
    if (*first) {
        *first = 0;
        return 1;
    }
    if (p >= lx->end || *p != ',') return lex_fail(lx, p, p, "']' expected");
    lx->p = p + 1;
    return 1;
}

/* The skipping engine: runs until the container open at depth `stop` + 1
 * closes (or, with stop == depth at entry and state VALUE, until one value
 * is complete). kinds[] remembers which open containers are objects. */
enum { SK_VALUE, SK_AFTER, SK_MEMBER, SK_ELEMENT };

static int skip_engine(vg_jlex_t *lx, int stop, int state, int first)
{
    unsigned char kinds[VG_JLEX_MAX_DEPTH + 1]; /* written before read: no init */
    vg_jstr_t s;
    vg_jnum_t num;
    kinds[lx->depth] = state == SK_MEMBER;
    for (;;) {
        int r;
        switch (state) {
        case SK_VALUE:
            switch (vg_jlex_peek(lx)) {
            case VG_JSON_OBJECT:
                vg_jlex_enter(lx);
                kinds[lx->depth] = 1;
                state = SK_MEMBER;
                first = 1;
                continue;
            case VG_JSON_ARRAY:
                vg_jlex_enter(lx);
                kinds[lx->depth] = 0;
                state = SK_ELEMENT;
                first = 1;
                continue;
            case VG_JSON_STRING: r = scan_string(lx, &s); break;
            case VG_JSON_NUMBER: r = vg_jlex_number(lx, &num); break;
            case VG_JSON_TRUE:
            case VG_JSON_FALSE:
            case VG_JSON_NULL: r = vg_jlex_literal(lx); break;
            default: return -1;
            }
            if (r) return -1;
            state = SK_AFTER;
            continue;
        case SK_AFTER:
            if (lx->depth == stop) return 0;
            state = kinds[lx->depth] ? SK_MEMBER : SK_ELEMENT;
            first = 0;
            continue;
        case SK_MEMBER:
            r = vg_jlex_member(lx, &first, &s);
            if (r < 0) return -1;
            state = r ? SK_VALUE : SK_AFTER;
            continue;
        default: /* SK_ELEMENT */
            r = vg_jlex_element(lx, &first);
            if (r < 0) return -1;
            state = r ? SK_VALUE : SK_AFTER;
            continue;
        }
    }
}

int vg_jlex_skip(vg_jlex_t *lx) { return skip_engine(lx, lx->depth, SK_VALUE, 0); }

int vg_jlex_skip_rest(vg_jlex_t *lx, int in_object)
{
    return skip_engine(lx, lx->depth - 1, in_object ? SK_MEMBER : SK_ELEMENT, 0);
}

int vg_jlex_finish(vg_jlex_t *lx)
{
    skip_ws(lx);
    if (lx->p < lx->end) return lex_fail(lx, lx->p, lx->p, "end of file expected");
    return 0;
}

/* ---- string contents ---------------------------------------------------- */

/* Decodes the escape whose backslash is at *pp into out (1-4 bytes); the
 * escape was validated by scan_string. */
static size_t unescape(const char **pp, const char *e, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)*pp;
    unsigned x = p[1];
    if (x != 'u') {
        *pp += 2;
        switch (x) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        default: out[0] = (unsigned char)x; break; /* " \ / */
        }
        return 1;
    }
    uint32_t cp = (uint32_t)hex4(p + 2, (const unsigned char *)e);
    *pp += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo = (uint32_t)hex4(p + 8, (const unsigned char *)e);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *pp += 6;
    }
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

void vg_jstr_copy(const vg_jstr_t *s, char *dst)
{
    if (!s->escaped) {
        if (s->len) memcpy(dst, s->raw, s->len);
        return;
    }
    const char *p = s->raw, *e = s->raw + s->rawlen;
    while (p < e) {
        const char *bs = memchr(p, '\\', (size_t)(e - p));
        size_t run = (size_t)((bs ? bs : e) - p);
        memcpy(dst, p, run);
        dst += run;
        p += run;
        if (!bs) break;
        dst += unescape(&p, e, (unsigned char *)dst);
    }
}

void vg_jstr_iter_init(vg_jstr_iter_t *it, const vg_jstr_t *s)
{
    it->p = s->raw;
    it->e = s->raw + s->rawlen;
    it->npend = it->ipend = 0;
}

int vg_jstr_iter_next(vg_jstr_iter_t *it)
{
    if (it->ipend < it->npend) return it->pend[it->ipend++];
    if (it->p >= it->e) return -1;
    if (*it->p != '\\') return (unsigned char)*it->p++;
    it->npend = (unsigned)unescape(&it->p, it->e, it->pend);
    it->ipend = 1;
    return it->pend[0];
}

size_t vg_jstr_prefix(const vg_jstr_t *s, char *dst, size_t cap)
{
    size_t n = 0;
    vg_jstr_iter_t it;
    vg_jstr_iter_init(&it, s);
    int c;
    while (n + 1 < cap && (c = vg_jstr_iter_next(&it)) >= 0) dst[n++] = (char)c;
    dst[n] = '\0';
    return n;
}
