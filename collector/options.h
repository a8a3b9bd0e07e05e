/* Option tables: every component declares its options once, in one static
 * table. Parsing, defaults, unknown-key errors with suggestions, range and
 * enum checks, `vigil components` and the generated docs all come from it.
 *
 * Storage by type (at `offset` in the component's config struct):
 *   STRING, ENDPOINT  char *            (owned; freed by vg_options_free)
 *   INT               int64_t
 *   BOOL              bool
 *   DOUBLE            double
 *   SIZE              uint64_t bytes     ("64MiB", "4MB", "1024")
 *   DURATION          int64_t ns         ("200ms", "5s", "1m30s")
 *   ENUM              int (index into `values`)
 *   LIST              vg_strlist_t       (sequence of strings; a scalar is one item)
 *   MAP               vg_strmap_t        (mapping of strings)
 *   TABLE             nested struct at offset, members in `sub` with offsets
 *                     relative to that struct
 *   TABLE_LIST        vg_tablelist_t: sequence of mappings, each an element of
 *                     `elem_size` bytes described by `sub`
 * Bounds (`min`, `max`) and defaults are written in config syntax and parsed
 * by the same code as user input, so docs show exactly what users write. */
#ifndef VIGIL_OPTIONS_H
#define VIGIL_OPTIONS_H

#include "ydoc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    VG_OPT_STRING = 0, VG_OPT_INT, VG_OPT_BOOL, VG_OPT_DOUBLE, VG_OPT_SIZE, VG_OPT_DURATION,
    VG_OPT_ENUM, VG_OPT_LIST, VG_OPT_MAP, VG_OPT_ENDPOINT, VG_OPT_TABLE, VG_OPT_TABLE_LIST,
} vg_opt_type_t;

enum { VG_OPT_REQUIRED = 1u << 0, VG_OPT_SECRET = 1u << 1 };

typedef struct { size_t n; char **v; } vg_strlist_t;
typedef struct { size_t n; char **k; char **v; } vg_strmap_t;
typedef struct { size_t n; void *items; } vg_tablelist_t;

typedef struct vg_option vg_option_t;
struct vg_option {
    const char *name;            /* NULL ends a table */
    vg_opt_type_t type;
    size_t offset;
    const char *def;             /* default, config syntax; NULL = zero / empty / absent */
    const char *min, *max;       /* bounds, config syntax; NULL = unbounded */
    const char *const *values;   /* ENUM: allowed values, NULL-terminated */
    const vg_option_t *sub;      /* TABLE, TABLE_LIST: members */
    size_t elem_size;            /* TABLE_LIST: bytes per element */
    size_t present;              /* TABLE: offsetof(bool set when the key is given) + 1; 0 = none */
    unsigned flags;              /* VG_OPT_REQUIRED, VG_OPT_SECRET */
    const char *doc;
};

#define VG_OPT_PRESENT(st, field) (offsetof(st, field) + 1)

/* Apply defaults to cfg (zeroed by the caller) and parse `node` (a mapping or
 * null) into it. `path` prefixes error paths ("exporters.otlp/backup").
 * Every problem is added to errs; returns 0 or VG_ECONFIG (VG_ENOMEM on
 * allocation failure). cfg must be released with vg_options_free either way. */
int vg_options_parse(const vg_option_t *table, void *cfg, const vg_ynode_t *node, const char *path,
                     vg_errs_t *errs);
int vg_options_defaults(const vg_option_t *table, void *cfg);
void vg_options_free(const vg_option_t *table, void *cfg);

/* Parsers shared with the rest of the code (0 or VG_EINVAL). */
int vg_parse_size(const char *s, uint64_t *out);
int vg_parse_duration(const char *s, int64_t *ns);
int vg_parse_bool(const char *s, bool *out);
int vg_parse_int(const char *s, int64_t *out);
int vg_parse_double(const char *s, double *out);
int vg_parse_endpoint(const char *s, char *host, size_t hostlen, int *port); /* host:port, [v6]:port, :port */

const char *vg_opt_type_name(vg_opt_type_t t);

/* The closest of `candidates` (NULL-terminated array of names, or table) to
 * `word` by edit distance, or NULL when nothing is close. */
const char *vg_suggest(const char *word, const char *const *candidates);
const char *vg_suggest_option(const char *word, const vg_option_t *table);

/* Walk a table depth-first: visit(prefix.name, option). Used by `vigil
 * components`, the docs generator and the test that checks every doc. */
typedef void (*vg_opt_visit_fn)(const char *path, const vg_option_t *o, void *ud);
void vg_options_walk(const vg_option_t *table, const char *prefix, vg_opt_visit_fn fn, void *ud);

#endif
