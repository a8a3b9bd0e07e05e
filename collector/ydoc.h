/* Configuration documents: YAML loaded with libyaml into a small tree that
 * remembers file:line:column for every node, with ${env:VAR} substitution.
 *
 * The whole tree of one document lives in one arena (vg_ydoc_t); several
 * documents merge into a new one (later files win key by key, as the
 * OpenTelemetry Collector merges several --config files). */
#ifndef VIGIL_YDOC_H
#define VIGIL_YDOC_H

#include "arena.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { VG_Y_NULL = 0, VG_Y_SCALAR, VG_Y_MAP, VG_Y_SEQ } vg_ytype_t;

typedef struct vg_ynode vg_ynode_t;
struct vg_ynode {
    vg_ytype_t type;
    const char *value;   /* scalar text after substitution ("" for null) */
    bool quoted;         /* scalar was quoted: never null, never a number */
    size_t n;            /* map entries or seq items */
    vg_ynode_t **keys;   /* map: key nodes (scalars) */
    vg_ynode_t **items;  /* map: values; seq: items */
    const char *file;
    int line, col;       /* 1-based */
};

typedef struct vg_errs vg_errs_t;

typedef struct vg_ydoc {
    vg_arena_t *arena;
    vg_ynode_t *root;    /* a map, or NULL for an empty document */
} vg_ydoc_t;

/* Load `path` (or YAML text with vg_ydoc_load_string, named `name` in errors).
 * Errors (syntax, bad substitution, too deep or too large) are added to errs.
 * Returns 0, VG_EPARSE, VG_EIO or VG_ENOMEM. On error *out is NULL. */
int vg_ydoc_load_file(const char *path, vg_ydoc_t **out, vg_errs_t *errs);
int vg_ydoc_load_string(const char *name, const char *text, size_t len, vg_ydoc_t **out, vg_errs_t *errs);
/* Merge b over a into a new document. The result shares nodes with a and b:
 * keep both alive as long as the merged document. */
int vg_ydoc_merge(const vg_ydoc_t *a, const vg_ydoc_t *b, vg_ydoc_t **out);
void vg_ydoc_free(vg_ydoc_t *d);

/* Map lookup by key; NULL when absent or n is not a map. */
const vg_ynode_t *vg_ynode_get(const vg_ynode_t *map, const char *key);
/* True for an explicit null (`key:` or `key: ~` / `null`) and for NULL. */
bool vg_ynode_is_null(const vg_ynode_t *n);

/* Substitute ${env:VAR}, ${env:VAR:-default}, ${VAR} and $$ in `in`.
 * Returns a string allocated in `a`, or NULL with *err set to a message. */
char *vg_env_subst(vg_arena_t *a, const char *in, const char **err);

/* ---- error list ------------------------------------------------------- */
struct vg_errs {
    size_t n, cap;
    char **msgs;
    size_t total;        /* errors reported, even those lost to out-of-memory */
    size_t warnings_n, warnings_cap;
    char **warnings;
};
void vg_errs_init(vg_errs_t *e);
void vg_errs_free(vg_errs_t *e);
/* "file:line:col: path: message" — node and path may be NULL. */
void vg_errs_add(vg_errs_t *e, const vg_ynode_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vg_errs_warn(vg_errs_t *e, const vg_ynode_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
