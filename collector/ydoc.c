#include "ydoc.h"

#include "error.h"
#include "mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000 /* also stops alias ("billion laughs") blow-ups */

/* ---- errors ------------------------------------------------------------ */

void vg_errs_init(vg_errs_t *e) { memset(e, 0, sizeof *e); }

void vg_errs_free(vg_errs_t *e)
{
    for (size_t i = 0; i < e->n; i++) vg_free(e->msgs[i]);
    for (size_t i = 0; i < e->warnings_n; i++) vg_free(e->warnings[i]);
    vg_free(e->msgs);
    vg_free(e->warnings);
    memset(e, 0, sizeof *e);
}

static void errs_vadd(char ***list, size_t *n, size_t *cap, const vg_ynode_t *node,
                      const char *path, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char line[1400];
    if (node && node->file)
        snprintf(line, sizeof line, "%s:%d:%d: %s%s%s", node->file, node->line, node->col,
                 path ? path : "", path ? ": " : "", msg);
    else
        snprintf(line, sizeof line, "%s%s%s", path ? path : "", path ? ": " : "", msg);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **l = vg_realloc(*list, nc * sizeof *l);
        if (!l) return; /* out of memory: the error is lost, but the count below says so */
        *list = l;
        *cap = nc;
    }
    char *s = vg_strdup(line);
    if (s) (*list)[(*n)++] = s;
}

void vg_errs_add(vg_errs_t *e, const vg_ynode_t *node, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errs_vadd(&e->msgs, &e->n, &e->cap, node, path, fmt, ap);
    va_end(ap);
    e->total++;
}

void vg_errs_warn(vg_errs_t *e, const vg_ynode_t *node, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errs_vadd(&e->warnings, &e->warnings_n, &e->warnings_cap, node, path, fmt, ap);
    va_end(ap);
}

/* ---- env substitution ------------------------------------------------- */

char *vg_env_subst(vg_arena_t *a, const char *in, const char **err)
{
    size_t len = strlen(in);
    if (!strchr(in, '$')) return vg_arena_strndup(a, in, len);
    size_t cap = len + 64, o = 0;
    char *out = vg_malloc(cap);
    if (!out) { *err = "out of memory"; return NULL; }
#define PUT(s, l) do { size_t l_ = (l); if (o + l_ + 1 > cap) { while (o + l_ + 1 > cap) cap *= 2; \
        char *n_ = vg_realloc(out, cap); if (!n_) { vg_free(out); *err = "out of memory"; return NULL; } out = n_; } \
        memcpy(out + o, (s), l_); o += l_; } while (0)
    for (size_t i = 0; i < len;) {
        if (in[i] != '$') { PUT(in + i, 1); i++; continue; }
        if (in[i + 1] == '$') { PUT("$", 1); i += 2; continue; }
        if (in[i + 1] != '{') { PUT("$", 1); i++; continue; }
        const char *close = strchr(in + i + 2, '}');
        if (!close) { vg_free(out); *err = "unterminated ${...} reference"; return NULL; }
        const char *ref = in + i + 2;
        size_t rlen = (size_t)(close - ref);
        if (rlen >= 4 && strncmp(ref, "env:", 4) == 0) { ref += 4; rlen -= 4; }
        else if (memchr(ref, ':', rlen)) {
            vg_free(out);
            *err = "unsupported ${scheme:...} reference (only env: is supported)";
            return NULL;
        }
        const char *def = NULL;
        size_t nlen = rlen, dlen = 0;
        for (size_t k = 0; k + 1 < rlen; k++) {
            if (ref[k] == ':' && ref[k + 1] == '-') { nlen = k; def = ref + k + 2; dlen = rlen - k - 2; break; }
        }
        if (nlen == 0 || nlen > 255) { vg_free(out); *err = "empty or too long environment variable name"; return NULL; }
        for (size_t k = 0; k < nlen; k++) {
            char c = ref[k];
            if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (k > 0 && c >= '0' && c <= '9'))) {
                vg_free(out);
                *err = "invalid environment variable name in ${env:...}";
                return NULL;
            }
        }
        char name[256];
        memcpy(name, ref, nlen);
        name[nlen] = '\0';
        const char *val = getenv(name);
        if (val && *val) PUT(val, strlen(val));
        else if (def) PUT(def, dlen);
        else if (val) { /* set but empty */ }
        i = (size_t)(close - in) + 1;
    }
#undef PUT
    char *res = vg_arena_strndup(a, out, o);
    vg_free(out);
    if (!res) *err = "out of memory";
    return res;
}

/* ---- loading ----------------------------------------------------------- */

typedef struct {
    yaml_document_t *doc;
    vg_arena_t *arena;
    const char *file;
    vg_errs_t *errs;
    size_t count;
    int failed; /* VG_E* */
} conv_t;

static vg_ynode_t *conv_node(conv_t *c, yaml_node_t *yn, int depth)
{
    if (c->failed) return NULL;
    if (depth > YAML_MAX_DEPTH || ++c->count > YAML_MAX_NODES) {
        vg_errs_add(c->errs, NULL, NULL, "%s:%lu:%lu: document too deep or too large (aliases?)", c->file,
                    (unsigned long)yn->start_mark.line + 1, (unsigned long)yn->start_mark.column + 1);
        c->failed = VG_EPARSE;
        return NULL;
    }
    vg_ynode_t *n = vg_arena_zalloc(c->arena, sizeof *n);
    if (!n) { c->failed = VG_ENOMEM; return NULL; }
    n->file = c->file;
    n->line = (int)yn->start_mark.line + 1;
    n->col = (int)yn->start_mark.column + 1;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)yn->data.scalar.value;
        n->quoted = yn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        if (!n->quoted && (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
                           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)) {
            n->type = VG_Y_NULL;
            n->value = "";
            break;
        }
        n->type = VG_Y_SCALAR;
        const char *err = NULL;
        n->value = vg_env_subst(c->arena, v, &err);
        if (!n->value) {
            if (err && strcmp(err, "out of memory") == 0) { c->failed = VG_ENOMEM; return NULL; }
            vg_errs_add(c->errs, n, NULL, "%s", err ? err : "bad substitution");
            n->value = "";
        }
        break;
    }
    case YAML_SEQUENCE_NODE: {
        n->type = VG_Y_SEQ;
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = vg_arena_zalloc(c->arena, (cnt ? cnt : 1) * sizeof *n->items);
        if (!n->items) { c->failed = VG_ENOMEM; return NULL; }
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *child = yaml_document_get_node(c->doc, yn->data.sequence.items.start[i]);
            if (!child) continue;
            vg_ynode_t *cn = conv_node(c, child, depth + 1);
            if (!cn) return NULL;
            n->items[n->n++] = cn;
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        n->type = VG_Y_MAP;
        size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        n->items = vg_arena_zalloc(c->arena, (cnt ? cnt : 1) * sizeof *n->items);
        n->keys = vg_arena_zalloc(c->arena, (cnt ? cnt : 1) * sizeof *n->keys);
        if (!n->items || !n->keys) { c->failed = VG_ENOMEM; return NULL; }
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *p = &yn->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
            if (!k || !v) continue;
            vg_ynode_t *kn = conv_node(c, k, depth + 1);
            if (!kn) return NULL;
            if (kn->type != VG_Y_SCALAR) {
                vg_errs_add(c->errs, kn, NULL, "mapping keys must be plain strings");
                c->failed = VG_EPARSE;
                return NULL;
            }
            for (size_t j = 0; j < n->n; j++) {
                if (strcmp(n->keys[j]->value, kn->value) == 0) {
                    vg_errs_add(c->errs, kn, NULL, "duplicate key '%s' (first at line %d)", kn->value,
                                n->keys[j]->line);
                    c->failed = VG_EPARSE;
                    return NULL;
                }
            }
            vg_ynode_t *vn = conv_node(c, v, depth + 1);
            if (!vn) return NULL;
            n->keys[n->n] = kn;
            n->items[n->n++] = vn;
        }
        break;
    }
    default:
        n->type = VG_Y_NULL;
        n->value = "";
    }
    return n;
}

int vg_ydoc_load_string(const char *name, const char *text, size_t len, vg_ydoc_t **out, vg_errs_t *errs)
{
    *out = NULL;
    vg_ydoc_t *d = vg_calloc(1, sizeof *d);
    if (!d) return VG_ENOMEM;
    d->arena = vg_arena_new();
    if (!d->arena) { vg_free(d); return VG_ENOMEM; }
    const char *file = vg_arena_strdup(d->arena, name);
    if (!file) { vg_ydoc_free(d); return VG_ENOMEM; }

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) { vg_ydoc_free(d); return VG_ENOMEM; }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        vg_ynode_t at = { .file = file, .line = (int)parser.problem_mark.line + 1,
                          .col = (int)parser.problem_mark.column + 1 };
        int rc = parser.error == YAML_MEMORY_ERROR ? VG_ENOMEM : VG_EPARSE;
        vg_errs_add(errs, &at, NULL, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "invalid YAML",
                    parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        vg_ydoc_free(d);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        size_t before = errs->total;
        conv_t c = { .doc = &doc, .arena = d->arena, .file = file, .errs = errs };
        d->root = conv_node(&c, root, 0);
        if (c.failed) rc = c.failed;
        else if (errs->total > before) rc = VG_EPARSE;
        else if (d->root->type == VG_Y_NULL) d->root = NULL;
        else if (d->root->type != VG_Y_MAP) {
            vg_errs_add(errs, d->root, NULL, "the configuration must be a mapping of sections");
            rc = VG_EPARSE;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) { vg_ydoc_free(d); return rc; }
    *out = d;
    return 0;
}

int vg_ydoc_load_file(const char *path, vg_ydoc_t **out, vg_errs_t *errs)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        vg_errs_add(errs, NULL, NULL, "%s: cannot open: %s", path, strerror(errno));
        return VG_EIO;
    }
    size_t cap = 8192, len = 0;
    char *buf = vg_malloc(cap);
    if (!buf) { fclose(f); return VG_ENOMEM; }
    for (;;) {
        if (len == cap) {
            if (cap >= (64u << 20)) {
                vg_errs_add(errs, NULL, NULL, "%s: configuration file larger than 64 MiB", path);
                vg_free(buf); fclose(f); return VG_ETOOBIG;
            }
            char *nb = vg_realloc(buf, cap * 2);
            if (!nb) { vg_free(buf); fclose(f); return VG_ENOMEM; }
            buf = nb; cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        vg_errs_add(errs, NULL, NULL, "%s: read error", path);
        vg_free(buf);
        return VG_EIO;
    }
    int rc = vg_ydoc_load_string(path, buf, len, out, errs);
    vg_free(buf);
    return rc;
}

void vg_ydoc_free(vg_ydoc_t *d)
{
    if (!d) return;
    vg_arena_destroy(d->arena);
    vg_free(d);
}

/* ---- merge ------------------------------------------------------------- */

static vg_ynode_t *merge_node(vg_arena_t *a, const vg_ynode_t *x, const vg_ynode_t *y)
{
    /* y wins unless both are maps, in which case keys merge recursively. */
    if (!x) return (vg_ynode_t *)y;
    if (!y) return (vg_ynode_t *)x;
    if (x->type != VG_Y_MAP || y->type != VG_Y_MAP) return (vg_ynode_t *)y;
    vg_ynode_t *m = vg_arena_zalloc(a, sizeof *m);
    if (!m) return NULL;
    *m = *y;
    m->n = 0;
    size_t cap = x->n + y->n + 1;
    m->keys = vg_arena_zalloc(a, cap * sizeof *m->keys);
    m->items = vg_arena_zalloc(a, cap * sizeof *m->items);
    if (!m->keys || !m->items) return NULL;
    for (size_t i = 0; i < x->n; i++) {
        const vg_ynode_t *yv = vg_ynode_get(y, x->keys[i]->value);
        vg_ynode_t *v = yv ? merge_node(a, x->items[i], yv) : x->items[i];
        if (!v) return NULL;
        m->keys[m->n] = x->keys[i];
        m->items[m->n++] = v;
    }
    for (size_t i = 0; i < y->n; i++) {
        if (vg_ynode_get(x, y->keys[i]->value)) continue;
        m->keys[m->n] = y->keys[i];
        m->items[m->n++] = y->items[i];
    }
    return m;
}

/* Nodes of a and b are shared (not copied), so the merged document keeps
 * references into them: the caller must keep a and b alive as long as out. */
int vg_ydoc_merge(const vg_ydoc_t *a, const vg_ydoc_t *b, vg_ydoc_t **out)
{
    *out = NULL;
    vg_ydoc_t *d = vg_calloc(1, sizeof *d);
    if (!d) return VG_ENOMEM;
    d->arena = vg_arena_new();
    if (!d->arena) { vg_free(d); return VG_ENOMEM; }
    if (a->root || b->root) {
        d->root = merge_node(d->arena, a->root, b->root);
        if (!d->root) { vg_ydoc_free(d); return VG_ENOMEM; }
    }
    *out = d;
    return 0;
}

const vg_ynode_t *vg_ynode_get(const vg_ynode_t *map, const char *key)
{
    if (!map || map->type != VG_Y_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->value, key) == 0) return map->items[i];
    return NULL;
}

bool vg_ynode_is_null(const vg_ynode_t *n) { return !n || n->type == VG_Y_NULL; }
