#include "options.h"

#include "error.h"
#include "mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD(base, off, T) ((T *)((char *)(base) + (off)))

static const char *const type_names[] = {
    "string", "int", "bool", "double", "size", "duration", "enum", "list", "map", "endpoint", "table", "list of tables",
};

const char *vg_opt_type_name(vg_opt_type_t t)
{
    return (size_t)t < sizeof type_names / sizeof *type_names ? type_names[t] : "?";
}

/* ---- scalar parsers ----------------------------------------------------- */

int vg_parse_int(const char *s, int64_t *out)
{
    if (!s || !*s) return VG_EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s) return VG_EINVAL;
    *out = v;
    return 0;
}

int vg_parse_double(const char *s, double *out)
{
    if (!s || !*s) return VG_EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || end == s || isnan(v)) return VG_EINVAL;
    *out = v;
    return 0;
}

int vg_parse_bool(const char *s, bool *out)
{
    static const char *t[] = { "true", "yes", "on" }, *f[] = { "false", "no", "off" };
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, t[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, f[i]) == 0) { *out = false; return 0; }
    }
    return VG_EINVAL;
}

int vg_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s) return VG_EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || isnan(v)) return VG_EINVAL;
    while (*end == ' ') end++;
    double mul = 1;
    if (*end) {
        static const struct { const char *u; double m; } units[] = {
            { "b", 1 }, { "k", 1e3 }, { "kb", 1e3 }, { "kib", 1024.0 }, { "m", 1e6 }, { "mb", 1e6 },
            { "mib", 1048576.0 }, { "g", 1e9 }, { "gb", 1e9 }, { "gib", 1073741824.0 }, { "tb", 1e12 },
            { "tib", 1099511627776.0 },
        };
        size_t i;
        for (i = 0; i < sizeof units / sizeof *units; i++)
            if (strcasecmp(end, units[i].u) == 0) break;
        if (i == sizeof units / sizeof *units) return VG_EINVAL;
        mul = units[i].m;
    }
    v *= mul;
    if (v >= 1.8e19) return VG_EINVAL;
    *out = (uint64_t)v;
    return 0;
}

int vg_parse_duration(const char *s, int64_t *ns)
{
    if (!s || !*s) return VG_EINVAL;
    if (strcmp(s, "0") == 0) { *ns = 0; return 0; }
    double total = 0;
    const char *p = s;
    while (*p) {
        errno = 0;
        char *end;
        if (!(isdigit((unsigned char)*p) || *p == '.')) return VG_EINVAL;
        double v = strtod(p, &end);
        if (errno || end == p) return VG_EINVAL;
        p = end;
        double mul;
        if (strncmp(p, "ns", 2) == 0) { mul = 1; p += 2; }
        else if (strncmp(p, "us", 2) == 0) { mul = 1e3; p += 2; }
        else if (strncmp(p, "\xc2\xb5s", 3) == 0) { mul = 1e3; p += 3; }
        else if (strncmp(p, "ms", 2) == 0) { mul = 1e6; p += 2; }
        else if (*p == 's') { mul = 1e9; p++; }
        else if (*p == 'm') { mul = 60e9; p++; }
        else if (*p == 'h') { mul = 3600e9; p++; }
        else return VG_EINVAL; /* a number without a unit */
        total += v * mul;
        if (total > 9.2e18) return VG_EINVAL;
    }
    *ns = (int64_t)total;
    return 0;
}

int vg_parse_endpoint(const char *s, char *host, size_t hostlen, int *port)
{
    if (!s || !*s) return VG_EINVAL;
    const char *colon;
    size_t hl;
    const char *h = s;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') return VG_EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return VG_EINVAL;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) return VG_EINVAL; /* bare IPv6 needs brackets */
    }
    if (hl >= hostlen) return VG_EINVAL;
    int64_t p;
    if (vg_parse_int(colon + 1, &p) || p < 0 || p > 65535) return VG_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ---- suggestions -------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v) v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

static const char *best_of(const char *word, const char *cand, size_t *best, const char *cur)
{
    size_t d = edit_distance(word, cand);
    size_t limit = strlen(word) / 3 + 1;
    if (limit < 2) limit = 2;
    if (d <= limit && d < *best) { *best = d; return cand; }
    return cur;
}

const char *vg_suggest(const char *word, const char *const *candidates)
{
    size_t best = (size_t)-1;
    const char *res = NULL;
    for (size_t i = 0; candidates && candidates[i]; i++) res = best_of(word, candidates[i], &best, res);
    return res;
}

const char *vg_suggest_option(const char *word, const vg_option_t *table)
{
    size_t best = (size_t)-1;
    const char *res = NULL;
    for (const vg_option_t *o = table; o && o->name; o++) res = best_of(word, o->name, &best, res);
    return res;
}

/* ---- defaults and parsing ----------------------------------------------- */

static int parse_value(const vg_option_t *o, void *base, const vg_ynode_t *n, const char *text, const char *path,
                       vg_errs_t *errs);

static int set_scalar(const vg_option_t *o, void *base, const char *text, const vg_ynode_t *n, const char *path,
                      vg_errs_t *errs)
{
    /* errs == NULL: a default or bound from a table; a failure is a bug in the table. */
#define BAD(...) do { if (errs) vg_errs_add(errs, n, path, __VA_ARGS__); return VG_ECONFIG; } while (0)
    switch (o->type) {
    case VG_OPT_STRING:
    case VG_OPT_ENDPOINT: {
        if (o->type == VG_OPT_ENDPOINT && *text) {
            char host[256];
            int port;
            if (vg_parse_endpoint(text, host, sizeof host, &port))
                BAD("expected an endpoint host:port (IPv6 in brackets, port 0-65535), got '%s'", text);
        }
        char *s = vg_strdup(text);
        if (!s) return VG_ENOMEM;
        char **slot = FIELD(base, o->offset, char *);
        vg_free(*slot);
        *slot = s;
        return 0;
    }
    case VG_OPT_INT: {
        int64_t v, lim;
        if (vg_parse_int(text, &v)) BAD("expected an integer, got '%s'", text);
        if (o->min && !vg_parse_int(o->min, &lim) && v < lim) BAD("%lld is below the minimum %s", (long long)v, o->min);
        if (o->max && !vg_parse_int(o->max, &lim) && v > lim) BAD("%lld is above the maximum %s", (long long)v, o->max);
        *FIELD(base, o->offset, int64_t) = v;
        return 0;
    }
    case VG_OPT_BOOL: {
        bool v;
        if (vg_parse_bool(text, &v)) BAD("expected true or false, got '%s'", text);
        *FIELD(base, o->offset, bool) = v;
        return 0;
    }
    case VG_OPT_DOUBLE: {
        double v, lim;
        if (vg_parse_double(text, &v)) BAD("expected a number, got '%s'", text);
        if (o->min && !vg_parse_double(o->min, &lim) && v < lim) BAD("%g is below the minimum %s", v, o->min);
        if (o->max && !vg_parse_double(o->max, &lim) && v > lim) BAD("%g is above the maximum %s", v, o->max);
        *FIELD(base, o->offset, double) = v;
        return 0;
    }
    case VG_OPT_SIZE: {
        uint64_t v, lim;
        if (vg_parse_size(text, &v)) BAD("expected a size like 512KiB, 64MiB or a byte count, got '%s'", text);
        if (o->min && !vg_parse_size(o->min, &lim) && v < lim) BAD("%s is below the minimum %s", text, o->min);
        if (o->max && !vg_parse_size(o->max, &lim) && v > lim) BAD("%s is above the maximum %s", text, o->max);
        *FIELD(base, o->offset, uint64_t) = v;
        return 0;
    }
    case VG_OPT_DURATION: {
        int64_t v, lim;
        if (vg_parse_duration(text, &v)) BAD("expected a duration with a unit like 200ms, 5s or 1m30s, got '%s'", text);
        if (o->min && !vg_parse_duration(o->min, &lim) && v < lim) BAD("%s is below the minimum %s", text, o->min);
        if (o->max && !vg_parse_duration(o->max, &lim) && v > lim) BAD("%s is above the maximum %s", text, o->max);
        *FIELD(base, o->offset, int64_t) = v;
        return 0;
    }
    case VG_OPT_ENUM: {
        for (int i = 0; o->values && o->values[i]; i++) {
            if (strcasecmp(o->values[i], text) == 0) { *FIELD(base, o->offset, int) = i; return 0; }
        }
        if (errs) {
            char allowed[512] = "";
            for (int i = 0; o->values && o->values[i]; i++) {
                if (i) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
                strncat(allowed, o->values[i], sizeof allowed - strlen(allowed) - 1);
            }
            const char *near = vg_suggest(text, o->values);
            vg_errs_add(errs, n, path, "'%s' is not one of: %s%s%s%s", text, allowed, near ? " (did you mean '" : "",
                        near ? near : "", near ? "'?)" : "");
        }
        return VG_ECONFIG;
    }
    case VG_OPT_LIST: {
        /* Default text: comma-separated items. */
        vg_strlist_t *l = FIELD(base, o->offset, vg_strlist_t);
        size_t cnt = 1;
        for (const char *p = text; *p; p++) cnt += *p == ',';
        char **v = vg_calloc(cnt, sizeof *v);
        if (!v) return VG_ENOMEM;
        size_t k = 0;
        const char *p = text;
        while (*text) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            v[k] = vg_strndup(p, len);
            if (!v[k]) { for (size_t i = 0; i < k; i++) vg_free(v[i]); vg_free(v); return VG_ENOMEM; }
            k++;
            if (!c) break;
            p = c + 1;
        }
        l->v = v;
        l->n = k;
        return 0;
    }
    default:
        BAD("expected a %s", vg_opt_type_name(o->type));
    }
#undef BAD
}

static void free_value(const vg_option_t *o, void *base);

int vg_options_defaults(const vg_option_t *table, void *cfg)
{
    for (const vg_option_t *o = table; o && o->name; o++) {
        if (o->type == VG_OPT_TABLE) {
            int rc = vg_options_defaults(o->sub, FIELD(cfg, o->offset, char));
            if (rc) return rc;
        } else if (o->def && o->type != VG_OPT_TABLE_LIST && o->type != VG_OPT_MAP) {
            int rc = set_scalar(o, cfg, o->def, NULL, NULL, NULL);
            if (rc) return rc == VG_ENOMEM ? rc : VG_EINVAL;
        }
    }
    return 0;
}

static void join_path(char *out, size_t len, const char *prefix, const char *name)
{
    if (prefix && *prefix) snprintf(out, len, "%s.%s", prefix, name);
    else snprintf(out, len, "%s", name);
}

static int parse_table(const vg_option_t *table, void *base, const vg_ynode_t *node, const char *path,
                       vg_errs_t *errs)
{
    int rc = 0;
    if (vg_ynode_is_null(node)) node = NULL;
    else if (node->type != VG_Y_MAP) {
        vg_errs_add(errs, node, path, "expected a mapping of options");
        return VG_ECONFIG;
    }
    for (size_t i = 0; node && i < node->n; i++) {
        const char *key = node->keys[i]->value;
        const vg_option_t *o;
        for (o = table; o && o->name; o++)
            if (strcmp(o->name, key) == 0) break;
        char sub[512];
        join_path(sub, sizeof sub, path, key);
        if (!o || !o->name) {
            const char *near = vg_suggest_option(key, table);
            if (near)
                vg_errs_add(errs, node->keys[i], sub, "unknown option '%s' (did you mean '%s'?)", key, near);
            else
                vg_errs_add(errs, node->keys[i], sub, "unknown option '%s'", key);
            rc = VG_ECONFIG;
            continue;
        }
        int r = parse_value(o, base, node->items[i], NULL, sub, errs);
        if (r == VG_ENOMEM) return r;
        if (r) rc = r;
    }
    for (const vg_option_t *o = table; o && o->name; o++) {
        if ((o->flags & VG_OPT_REQUIRED) && !vg_ynode_get(node, o->name)) {
            char sub[512];
            join_path(sub, sizeof sub, path, o->name);
            vg_errs_add(errs, node, sub, "required option '%s' is missing", o->name);
            rc = VG_ECONFIG;
        }
    }
    return rc;
}

static int parse_value(const vg_option_t *o, void *base, const vg_ynode_t *n, const char *text, const char *path,
                       vg_errs_t *errs)
{
    (void)text;
    switch (o->type) {
    case VG_OPT_TABLE:
        if (o->present) *FIELD(base, o->present - 1, bool) = true;
        return parse_table(o->sub, FIELD(base, o->offset, char), n, path, errs);
    case VG_OPT_TABLE_LIST: {
        vg_tablelist_t *tl = FIELD(base, o->offset, vg_tablelist_t);
        free_value(o, base);
        if (vg_ynode_is_null(n)) return 0;
        if (n->type != VG_Y_SEQ) { vg_errs_add(errs, n, path, "expected a list of mappings"); return VG_ECONFIG; }
        tl->items = vg_calloc(n->n ? n->n : 1, o->elem_size);
        if (!tl->items) return VG_ENOMEM;
        int rc = 0;
        for (size_t i = 0; i < n->n; i++) {
            void *el = (char *)tl->items + i * o->elem_size;
            tl->n = i + 1;
            int r = vg_options_defaults(o->sub, el);
            if (r) return r == VG_ENOMEM ? r : VG_ECONFIG;
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            r = parse_table(o->sub, el, n->items[i], sub, errs);
            if (r == VG_ENOMEM) return r;
            if (r) rc = r;
        }
        return rc;
    }
    case VG_OPT_LIST: {
        vg_strlist_t *l = FIELD(base, o->offset, vg_strlist_t);
        free_value(o, base);
        if (vg_ynode_is_null(n)) return 0;
        if (n->type == VG_Y_SCALAR) {
            l->v = vg_calloc(1, sizeof *l->v);
            if (!l->v || !(l->v[0] = vg_strdup(n->value))) return VG_ENOMEM;
            l->n = 1;
            return 0;
        }
        if (n->type != VG_Y_SEQ) { vg_errs_add(errs, n, path, "expected a list of strings"); return VG_ECONFIG; }
        l->v = vg_calloc(n->n ? n->n : 1, sizeof *l->v);
        if (!l->v) return VG_ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->type != VG_Y_SCALAR) {
                vg_errs_add(errs, n->items[i], path, "expected a string list item");
                return VG_ECONFIG;
            }
            if (!(l->v[l->n] = vg_strdup(n->items[i]->value))) return VG_ENOMEM;
            l->n++;
        }
        return 0;
    }
    case VG_OPT_MAP: {
        vg_strmap_t *m = FIELD(base, o->offset, vg_strmap_t);
        free_value(o, base);
        if (vg_ynode_is_null(n)) return 0;
        if (n->type != VG_Y_MAP) { vg_errs_add(errs, n, path, "expected a mapping of strings"); return VG_ECONFIG; }
        m->k = vg_calloc(n->n ? n->n : 1, sizeof *m->k);
        m->v = vg_calloc(n->n ? n->n : 1, sizeof *m->v);
        if (!m->k || !m->v) return VG_ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->type != VG_Y_SCALAR && n->items[i]->type != VG_Y_NULL) {
                char sub[512];
                join_path(sub, sizeof sub, path, n->keys[i]->value);
                vg_errs_add(errs, n->items[i], sub, "expected a string value");
                return VG_ECONFIG;
            }
            m->k[m->n] = vg_strdup(n->keys[i]->value);
            m->v[m->n] = vg_strdup(n->items[i]->value);
            if (!m->k[m->n] || !m->v[m->n]) { m->n++; return VG_ENOMEM; }
            m->n++;
        }
        return 0;
    }
    default:
        if (n->type == VG_Y_NULL) {
            if (o->type == VG_OPT_STRING) return set_scalar(o, base, "", n, path, errs);
            vg_errs_add(errs, n, path, "expected a %s, got an empty value", vg_opt_type_name(o->type));
            return VG_ECONFIG;
        }
        if (n->type != VG_Y_SCALAR) {
            vg_errs_add(errs, n, path, "expected a %s, got a %s", vg_opt_type_name(o->type),
                        n->type == VG_Y_MAP ? "mapping" : "list");
            return VG_ECONFIG;
        }
        return set_scalar(o, base, n->value, n, path, errs);
    }
}

int vg_options_parse(const vg_option_t *table, void *cfg, const vg_ynode_t *node, const char *path, vg_errs_t *errs)
{
    int rc = vg_options_defaults(table, cfg);
    if (rc == VG_ENOMEM) return rc;
    if (rc) {
        vg_errs_add(errs, node, path, "internal error: bad default in the option table");
        return VG_ECONFIG;
    }
    return parse_table(table, cfg, node, path, errs);
}

static void free_value(const vg_option_t *o, void *base)
{
    switch (o->type) {
    case VG_OPT_STRING:
    case VG_OPT_ENDPOINT: {
        char **s = FIELD(base, o->offset, char *);
        vg_free(*s);
        *s = NULL;
        break;
    }
    case VG_OPT_LIST: {
        vg_strlist_t *l = FIELD(base, o->offset, vg_strlist_t);
        for (size_t i = 0; i < l->n; i++) vg_free(l->v[i]);
        vg_free(l->v);
        l->v = NULL;
        l->n = 0;
        break;
    }
    case VG_OPT_MAP: {
        vg_strmap_t *m = FIELD(base, o->offset, vg_strmap_t);
        for (size_t i = 0; i < m->n; i++) { vg_free(m->k[i]); vg_free(m->v[i]); }
        vg_free(m->k);
        vg_free(m->v);
        memset(m, 0, sizeof *m);
        break;
    }
    case VG_OPT_TABLE:
        vg_options_free(o->sub, FIELD(base, o->offset, char));
        break;
    case VG_OPT_TABLE_LIST: {
        vg_tablelist_t *tl = FIELD(base, o->offset, vg_tablelist_t);
        for (size_t i = 0; i < tl->n; i++) vg_options_free(o->sub, (char *)tl->items + i * o->elem_size);
        vg_free(tl->items);
        tl->items = NULL;
        tl->n = 0;
        break;
    }
    default:
        break;
    }
}

void vg_options_free(const vg_option_t *table, void *cfg)
{
    if (!cfg) return;
    for (const vg_option_t *o = table; o && o->name; o++) free_value(o, cfg);
}

void vg_options_walk(const vg_option_t *table, const char *prefix, vg_opt_visit_fn fn, void *ud)
{
    for (const vg_option_t *o = table; o && o->name; o++) {
        char path[512];
        join_path(path, sizeof path, prefix, o->name);
        fn(path, o, ud);
        if (o->type == VG_OPT_TABLE || o->type == VG_OPT_TABLE_LIST) {
            char sub[520];
            snprintf(sub, sizeof sub, "%s%s", path, o->type == VG_OPT_TABLE_LIST ? "[]" : "");
            vg_options_walk(o->sub, sub, fn, ud);
        }
    }
}
