/* Strict JSON (RFC 8259) pull parser over a buffer held in memory.
 *
 * It never allocates and never builds a tree: the caller asks for the kind of
 * the next value and then reads it (scalars), enters it (objects, arrays) or
 * skips it. Strings are returned as slices of the input with their decoded
 * length, and decoded on demand (vg_jstr_copy, vg_jstr_iter_*), so a caller
 * can allocate exactly once for each string it keeps.
 *
 * What is accepted is what jansson accepts with flags JSON_DECODE_ANY (the
 * OTLP/JSON decoder used jansson before, and its behaviour is kept):
 *   - strings: every escape of RFC 8259 (\uXXXX surrogate pairs become one
 *     4-byte UTF-8 sequence); lone surrogates, invalid UTF-8 (overlong forms,
 *     encoded surrogates, beyond U+10FFFF), raw control characters and
 *     \u0000 are refused;
 *   - numbers: the RFC grammar (no leading zeros, no '+', no bare '.');
 *     an integer (no fraction, no exponent) must fit a signed 64-bit integer,
 *     a real must not overflow a double (underflow to 0 is fine);
 *   - nesting: a value may sit at most VG_JLEX_MAX_DEPTH levels deep (the
 *     top-level value is level 1), containers included: deeper input is an
 *     error, also inside values that are only skipped, and skipping is
 *     iterative (no recursion);
 *   - whitespace: space, tab, CR, LF only. Duplicate keys are the caller's
 *     business.
 *
 * Errors: every function returning int returns -1 on malformed input; the
 * parser then holds a reason and the byte offset (vg_jlex_error). Once an
 * error happened the parser must not be used further. */
#ifndef VIGIL_JSON_LEX_H
#define VIGIL_JSON_LEX_H

#include <stddef.h>
#include <stdint.h>

/* Same as jansson's JSON_PARSER_MAX_DEPTH. */
#define VG_JLEX_MAX_DEPTH 2048

typedef enum {
    VG_JSON_OBJECT = 1,
    VG_JSON_ARRAY,
    VG_JSON_STRING,
    VG_JSON_NUMBER,
    VG_JSON_TRUE,
    VG_JSON_FALSE,
    VG_JSON_NULL,
} vg_json_kind_t;

/* A string token: the raw text between the quotes (valid, escapes not yet
 * decoded) and its length once decoded. Points into the input. */
typedef struct {
    const char *raw;
    size_t rawlen;
    size_t len;  /* decoded length in bytes (UTF-8, no NUL inside) */
    int escaped; /* raw contains backslash escapes (else raw == decoded) */
} vg_jstr_t;

/* A number token. */
typedef struct {
    int is_int;  /* no fraction and no exponent: the value is `i` */
    long long i;
    double d;    /* the value for reals */
} vg_jnum_t;

typedef struct {
    const unsigned char *start, *p, *end;
    int depth;         /* containers currently open */
    char decimal_point; /* of the C library's locale, 0 until needed */
    const char *err;   /* NULL, or the reason of the first error */
    size_t err_off;    /* offset of the byte the error was found at */
    char errtext[96];  /* storage for formatted reasons */
} vg_jlex_t;

void vg_jlex_init(vg_jlex_t *lx, const char *buf, size_t len);

/* Kind of the next value (whitespace before it is consumed), or -1: a byte
 * that starts no value, end of input, or a value too deep. Does not consume
 * the value. */
int vg_jlex_peek(vg_jlex_t *lx);

/* Consumes the '{' or '[' of the value vg_jlex_peek just reported. 0. */
int vg_jlex_enter(vg_jlex_t *lx);

/* Next member of the object entered last: 1 with its key (and the ':' after
 * it consumed; the value comes next), 0 when the object's '}' was consumed,
 * -1 on error. *first is 1 before the first call for an object; the function
 * clears it. */
int vg_jlex_member(vg_jlex_t *lx, int *first, vg_jstr_t *key);

/* Next element of the array entered last: 1 when a value comes next, 0 when
 * the ']' was consumed, -1 on error. *first as for vg_jlex_member. */
int vg_jlex_element(vg_jlex_t *lx, int *first);

/* Reads the string / number / true-false-null value vg_jlex_peek reported. */
int vg_jlex_string(vg_jlex_t *lx, vg_jstr_t *s);
int vg_jlex_number(vg_jlex_t *lx, vg_jnum_t *n);
int vg_jlex_literal(vg_jlex_t *lx);

/* Skips the next value whole, checking it as strictly as reading it. */
int vg_jlex_skip(vg_jlex_t *lx);
/* Skips the rest of the innermost open container (an object if in_object,
 * else an array) when positioned right after one of its members / elements,
 * its closing bracket included. */
int vg_jlex_skip_rest(vg_jlex_t *lx, int in_object);

/* Checks that only whitespace is left. */
int vg_jlex_finish(vg_jlex_t *lx);

/* The error as "line L, column C: reason" (columns count characters, from
 * 1, as jansson does). */
void vg_jlex_error(const vg_jlex_t *lx, char *buf, size_t n);

/* Writes the s->len decoded bytes of s to dst (no NUL added). */
void vg_jstr_copy(const vg_jstr_t *s, char *dst);

/* Decoded bytes of a string one by one. */
typedef struct {
    const char *p, *e;
    unsigned char pend[4];
    unsigned npend, ipend;
} vg_jstr_iter_t;

void vg_jstr_iter_init(vg_jstr_iter_t *it, const vg_jstr_t *s);
/* The next decoded byte (0-255), or -1 at the end. */
int vg_jstr_iter_next(vg_jstr_iter_t *it);

/* The first min(s->len, cap - 1) decoded bytes of s, NUL-terminated; returns
 * how many were written. cap must be at least 1. */
size_t vg_jstr_prefix(const vg_jstr_t *s, char *dst, size_t cap);

#endif
