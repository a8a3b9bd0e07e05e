/* Streaming log template mining, in the manner of Drain (He et al., ICWS
 * 2017), with a fixed memory bound:
 *
 *   1. split the message on whitespace (at most ANL_MAX_TOK tokens; the rest
 *      of a longer message is one "<…>" token);
 *   2. mask the variable parts of each token: IP addresses <IP>, numbers
 *      (with a short unit) <NUM>, uuids <ID>, hex strings <HEX>, long mixed
 *      letter-digit ids <ID>, the value of key=value by the same rules, and
 *      any other digit run '#';
 *   3. templates are grouped by (token count, first token); the most similar
 *      template of the group (share of positions equal, a wildcard matching
 *      anything) is joined when the share is at least `similarity`, its
 *      differing positions becoming wildcards <*>; otherwise the message
 *      starts a new template.
 *
 * Templates live in a capped table (least recently matched evicted), each a
 * fixed entry of token hashes and up to ANL_TEXT_MAX bytes of text. */
#include "anomaly_int.h"

#include "error.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOK_TEXT 48  /* masked text kept per token while mining one message */
#define SCAN_MAX 64  /* templates of one group compared per message */

static bool is_hex(int c) { return isxdigit((unsigned char)c) != 0; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i])) return false;
    return n > 0;
}

static bool is_uuid(const char *s, size_t n)
{
    static const size_t groups[] = { 8, 4, 4, 4, 12 };
    if (n != 36) return false;
    size_t o = 0;
    for (int g = 0; g < 5; g++) {
        if (!all_hex(s + o, groups[g])) return false;
        o += groups[g];
        if (g < 4 && s[o++] != '-') return false;
    }
    return true;
}

static bool is_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t d = 0;
        while (i < n && is_digit(s[i]) && d < 4) { i++; d++; }
        if (d == 0 || d > 3) return false;
        if (part < 3) {
            if (i >= n || s[i] != '.') return false;
            i++;
        }
    }
    if (i < n && s[i] == '/') { /* CIDR */
        i++;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && s[i] == ':') { /* port */
        i++;
        size_t d = 0;
        while (i < n && is_digit(s[i])) { i++; d++; }
        if (!d) return false;
    }
    return i == n;
}

static bool is_ipv6(const char *s, size_t n)
{
    size_t colons = 0, hexd = 0;
    bool dbl = false, letter = false;
    if (n > 0 && s[0] == '[') { s++; n--; }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ']') { n = i; break; }
        if (c == ':') {
            colons++;
            if (i + 1 < n && s[i + 1] == ':') dbl = true;
        } else if (is_hex(c)) {
            hexd++;
            letter |= !is_digit(c);
        } else if (c != '.' && c != '%') {
            return false;
        }
    }
    /* "12:34:56" is a time, not an address: need "::" or a hex letter */
    return colons >= 2 && hexd > 0 && (dbl || letter);
}

static bool is_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == ',' || s[i] == ':' || s[i] == '_')) {
        digits += is_digit(s[i]);
        i++;
    }
    if (!digits) return false;
    size_t unit = 0; /* "12ms", "3.5GB", "80%" */
    while (i < n && (isalpha((unsigned char)s[i]) || s[i] == '%') && unit < 3) { i++; unit++; }
    return i == n;
}

static bool is_long_id(const char *s, size_t n)
{
    if (n < 12) return false;
    size_t d = 0, l = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_digit(s[i])) d++;
        else if (isalpha((unsigned char)s[i])) l++;
        else if (s[i] != '-' && s[i] != '_' && s[i] != '+' && s[i] != '/' && s[i] != '=') return false;
    }
    return d > 0 && l > 0;
}

static size_t put(char *out, size_t o, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o + 1 < cap; i++) out[o++] = s[i];
    return o;
}

/* Masks a token core (no surrounding punctuation) into out at o. */
static size_t mask_core(const char *s, size_t n, char *out, size_t o, size_t cap, int depth)
{
    if (n == 0) return o;
    if (is_ipv4(s, n) || is_ipv6(s, n)) return put(out, o, cap, "<IP>", 4);
    if (is_uuid(s, n)) return put(out, o, cap, "<ID>", 4);
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && all_hex(s + 2, n - 2))
        return put(out, o, cap, "<HEX>", 5);
    if (is_number(s, n)) return put(out, o, cap, "<NUM>", 5);
    if (n >= 8 && all_hex(s, n)) {
        size_t d = 0;
        for (size_t i = 0; i < n; i++) d += is_digit(s[i]);
        if (d > 0) return put(out, o, cap, "<HEX>", 5);
    }
    const char *eq = depth == 0 ? memchr(s, '=', n) : NULL;
    if (eq && eq > s) { /* key=value: keep the key, mask the value */
        size_t k = (size_t)(eq - s) + 1;
        o = put(out, o, cap, s, k);
        return mask_core(s + k, n - k, out, o, cap, depth + 1);
    }
    if (is_long_id(s, n)) return put(out, o, cap, "<ID>", 4);
    /* any other digit run becomes '#': "sshd[1234]" -> "sshd[#]" */
    for (size_t i = 0; i < n;) {
        if (is_digit(s[i])) {
            o = put(out, o, cap, "#", 1);
            while (i < n && is_digit(s[i])) i++;
        } else {
            o = put(out, o, cap, s + i, 1);
            i++;
        }
    }
    return o;
}

size_t anl_mask_token(const char *tok, size_t len, char *out, size_t cap)
{
    static const char lead[] = "([{<\"'`";
    static const char trail[] = ")]}>\"'`,;:.!?";
    size_t a = 0, b = len, o = 0;
    if (cap == 0) return 0;
    while (a < b && strchr(lead, tok[a]) && tok[a]) a++;
    while (b > a && strchr(trail, tok[b - 1]) && tok[b - 1]) b--;
    o = put(out, o, cap, tok, a);
    o = mask_core(tok + a, b - a, out, o, cap, 0);
    o = put(out, o, cap, tok + b, len - b);
    out[o] = '\0';
    return o;
}

int anl_miner_init(anl_miner_t *m, size_t cap, double similarity)
{
    memset(m, 0, sizeof *m);
    m->similarity = similarity;
    return anl_table_init(&m->tab, sizeof(anl_tmpl_t), cap, NULL, NULL);
}

void anl_miner_free(anl_miner_t *m) { anl_table_free(&m->tab); }

double anl_novelty(uint32_t count_before) { return count_before == 0 ? 1.0 : pow(0.5, (double)count_before); }

static uint32_t tok_hash(const char *s, size_t n)
{
    uint32_t h = (uint32_t)anl_mix(anl_hash_bytes(0, s, n));
    return h == ANL_WILD ? 1 : h;
}

static void build_text(anl_tmpl_t *t, char masked[][TOK_TEXT])
{
    size_t o = 0;
    for (unsigned i = 0; i < t->ntok; i++) {
        const char *w = t->tok[i] == ANL_WILD ? "<*>" : masked[i];
        size_t n = strlen(w);
        if (i && o + 1 < ANL_TEXT_MAX) t->text[o++] = ' ';
        if (o + n >= ANL_TEXT_MAX) {
            n = ANL_TEXT_MAX - 1 - o;
            while (n > 0 && ((unsigned char)w[n] & 0xC0) == 0x80) n--; /* whole UTF-8 characters */
            memcpy(t->text + o, w, n);
            o += n;
            break;
        }
        memcpy(t->text + o, w, n);
        o += n;
    }
    t->text[o] = '\0';
    t->text_len = (uint8_t)o;
}

int anl_miner_add(anl_miner_t *m, const char *msg, size_t len, anl_mined_t *out)
{
    char masked[ANL_MAX_TOK][TOK_TEXT];
    uint32_t tok[ANL_MAX_TOK];
    unsigned ntok = 0;
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)msg[i])) i++;
        if (i >= len) break;
        size_t s = i;
        while (i < len && !isspace((unsigned char)msg[i])) i++;
        if (ntok == ANL_MAX_TOK - 1) { /* the rest is one token */
            snprintf(masked[ntok], TOK_TEXT, "<\u2026>");
            tok[ntok] = tok_hash("<...>", 5);
            ntok++;
            break;
        }
        size_t n = anl_mask_token(msg + s, i - s, masked[ntok], TOK_TEXT);
        tok[ntok] = tok_hash(masked[ntok], n);
        ntok++;
    }
    if (ntok == 0) return 0;
    uint64_t gkey = anl_mix(anl_hash_bytes(anl_hash_bytes(0, &ntok, sizeof ntok), &tok[0], sizeof tok[0]));
    anl_tmpl_t *best = NULL;
    double best_sim = -1;
    unsigned scanned = 0;
    for (anl_tmpl_t *t = anl_table_find(&m->tab, gkey); t && scanned < SCAN_MAX;
         t = anl_table_next_same(&m->tab, t), scanned++) {
        if (t->ntok != ntok) continue;
        unsigned eq = 0;
        for (unsigned k = 0; k < ntok; k++) eq += t->tok[k] == ANL_WILD || t->tok[k] == tok[k];
        double sim = (double)eq / (double)ntok;
        if (sim > best_sim) { best_sim = sim; best = t; }
    }
    m->seen++;
    if (best && best_sim >= m->similarity) {
        out->count_before = best->count;
        if (best->count < UINT32_MAX) best->count++;
        bool changed = false;
        for (unsigned k = 0; k < ntok; k++)
            if (best->tok[k] != ANL_WILD && best->tok[k] != tok[k]) { best->tok[k] = ANL_WILD; changed = true; }
        if (changed) build_text(best, masked);
        anl_table_touch(&m->tab, best);
        out->t = best;
        return 0;
    }
    anl_tmpl_t *t = anl_table_insert(&m->tab, gkey);
    if (!t) return VG_ENOMEM;
    uint64_t th = gkey;
    for (unsigned k = 0; k < ntok; k++) th = anl_mix(th ^ tok[k]);
    t->tid = th;
    t->ntok = (uint8_t)ntok;
    memcpy(t->tok, tok, ntok * sizeof *tok);
    t->count = 1;
    build_text(t, masked);
    m->created++;
    out->t = t;
    out->created = true;
    return 0;
}
