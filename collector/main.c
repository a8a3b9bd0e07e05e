/* vigil: the command line. */
#include "anomaly/nab_cli.h"
#include "component.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "options.h"
#include "service.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


static void usage(FILE *f)
{
    fprintf(f,
            "Usage:\n"
            "  vigil --config FILE [--config FILE ...]   run the collector (files merge in order)\n"
            "  vigil validate --config FILE [...]        check a configuration: exit 0 if valid, 1 with every error\n"
            "  vigil components [--markdown DIR]         list every component and its options\n"
            "  vigil anomaly-score --input F --output F  score a NAB CSV with the anomaly engine\n"
            "                      --input-dir D --output-dir D\n"
            "  vigil --version | --help\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration\n"
            "(a bad new configuration is logged and the running one is kept).\n");
}

static int collect_configs(int argc, char **argv, int from, const char ***files, size_t *n)
{
    *files = vg_calloc((size_t)argc + 1, sizeof **files);
    if (!*files) return -1;
    *n = 0;
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "vigil: %s needs a file\n", a); return -1; }
            (*files)[(*n)++] = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            (*files)[(*n)++] = a + 9;
        } else {
            fprintf(stderr, "vigil: unknown argument '%s' (see vigil --help)\n", a);
            return -1;
        }
    }
    if (*n == 0) { fprintf(stderr, "vigil: no --config FILE given (see vigil --help)\n"); return -1; }
    return 0;
}

static int cmd_validate(int argc, char **argv)
{
    const char **files;
    size_t n;
    if (collect_configs(argc, argv, 2, &files, &n)) { vg_free(files); return 2; }
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_config_t *cfg = NULL;
    int rc = vg_config_load(files, n, &cfg, &errs);
    for (size_t i = 0; i < errs.warnings_n; i++) fprintf(stderr, "warning: %s\n", errs.warnings[i]);
    for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "error: %s\n", errs.msgs[i]);
    if (rc == 0) printf("configuration is valid: %zu components, %zu pipelines\n", cfg->ncomps, cfg->npipes);
    else fprintf(stderr, "configuration is invalid: %zu error%s\n", errs.total, errs.total == 1 ? "" : "s");
    vg_config_free(cfg);
    vg_errs_free(&errs);
    vg_free(files);
    return rc ? 1 : 0;
}

/* ---- components listing and docs ------------------------------------------ */

typedef struct { FILE *f; bool md; } walk_ctx_t;

static void default_text(const vg_option_t *o, char *buf, size_t len)
{
    if (o->flags & VG_OPT_SECRET) snprintf(buf, len, "(secret)");
    else if (o->def) snprintf(buf, len, "%s", o->def);
    else if (o->type == VG_OPT_TABLE || o->type == VG_OPT_TABLE_LIST) buf[0] = '\0';
    else snprintf(buf, len, "%s", (o->flags & VG_OPT_REQUIRED) ? "(required)" : "(none)");
}

static void opt_visit(const char *path, const vg_option_t *o, void *ud)
{
    walk_ctx_t *w = ud;
    char def[256];
    default_text(o, def, sizeof def);
    char type[256];
    snprintf(type, sizeof type, "%s", vg_opt_type_name(o->type));
    if (o->type == VG_OPT_ENUM && o->values) {
        size_t l = strlen(type);
        snprintf(type + l, sizeof type - l, ": ");
        for (int i = 0; o->values[i]; i++) {
            l = strlen(type);
            snprintf(type + l, sizeof type - l, "%s%s", i ? " \\| " : "", o->values[i]);
        }
        if (!w->md) {
            for (char *p = type; (p = strstr(p, " \\| ")); ) memmove(p + 1, p + 2, strlen(p + 2) + 1);
        }
    }
    char range[128] = "";
    if (o->min || o->max)
        snprintf(range, sizeof range, " (%s%s%s)", o->min ? ">= " : "", o->min ? o->min : "",
                 o->max ? (o->min ? ", <= " : "<= ") : "");
    if (o->max) { size_t l = strlen(range); if (l) range[l - 1] = '\0'; strncat(range, o->max, sizeof range - strlen(range) - 2); strcat(range, ")"); }
    if (w->md)
        fprintf(w->f, "| `%s` | %s%s | %s%s%s | %s%s |\n", path, type, range, *def ? "`" : "", def, *def ? "`" : "",
                o->doc ? o->doc : "", (o->flags & VG_OPT_REQUIRED) ? " **Required.**" : "");
    else
        fprintf(w->f, "    %-40s %-22s default %-14s %s\n", path, type, *def ? def : "-", o->doc ? o->doc : "");
}

static void signals_text(const vg_factory_t *f, char *buf, size_t len)
{
    buf[0] = '\0';
    if (f->kind == VG_KIND_CONNECTOR) {
        for (int in = 0; in < VG_SIG_COUNT; in++)
            for (int out = 0; out < VG_SIG_COUNT; out++)
                if (f->connects[in] & VG_SIGBIT(out)) {
                    size_t l = strlen(buf);
                    snprintf(buf + l, len - l, "%s%s→%s", l ? ", " : "", vg_signal_name(in), vg_signal_name(out));
                }
        return;
    }
    for (int s = 0; s < VG_SIG_COUNT; s++)
        if (f->signals & VG_SIGBIT(s)) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s%s", l ? ", " : "", vg_signal_name(s));
        }
}

static int write_markdown(const char *dir)
{
    if (mkdir(dir, 0755) && errno != EEXIST) { fprintf(stderr, "vigil: %s: %s\n", dir, strerror(errno)); return 1; }
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *idx = fopen(path, "w");
    if (!idx) { fprintf(stderr, "vigil: %s: %s\n", path, strerror(errno)); return 1; }
    fprintf(idx, "# Components\n\nGenerated by `vigil components --markdown docs/components` from the option "
                 "tables in the code; do not edit by hand.\n\n| kind | type | signals | description |\n|---|---|---|---|\n");
    const vg_factory_t *const *fs = vg_factories();
    for (size_t i = 0; fs[i]; i++) {
        const vg_factory_t *f = fs[i];
        char sig[256];
        signals_text(f, sig, sizeof sig);
        fprintf(idx, "| %s | [`%s`](%s_%s.md) | %s | %s |\n", vg_kind_name(f->kind), f->type, vg_kind_name(f->kind),
                f->type, sig, f->description);
        snprintf(path, sizeof path, "%s/%s_%s.md", dir, vg_kind_name(f->kind), f->type);
        FILE *o = fopen(path, "w");
        if (!o) { fprintf(stderr, "vigil: %s: %s\n", path, strerror(errno)); fclose(idx); return 1; }
        fprintf(o, "# %s `%s`\n\n<!-- Generated by `vigil components --markdown`; do not edit. -->\n\n%s\n\n"
                   "Signals: %s.\n\n",
                vg_kind_name(f->kind), f->type, f->description, sig);
        if (f->options && f->options->name) {
            fprintf(o, "| Name | Type | Default | Docs |\n|---|---|---|---|\n");
            walk_ctx_t w = { o, true };
            vg_options_walk(f->options, "", opt_visit, &w);
        } else {
            fprintf(o, "This component has no options.\n");
        }
        fclose(o);
    }
    fprintf(idx, "\n## service\n\n| Name | Type | Default | Docs |\n|---|---|---|---|\n");
    walk_ctx_t w = { idx, true };
    vg_options_walk(vg_service_options(), "service", opt_visit, &w);
    fprintf(idx, "| `service.pipelines` | map | | Pipelines by id (`traces`, `metrics` or `logs`, optionally "
                 "`/name`), each with `receivers`, `processors` and `exporters` lists of component ids. |\n");
    fclose(idx);
    return 0;
}

static int cmd_components(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[2], "--markdown") == 0) return write_markdown(argv[3]);
    if (argc > 2) { fprintf(stderr, "vigil: usage: vigil components [--markdown DIR]\n"); return 2; }
    const vg_factory_t *const *fs = vg_factories();
    for (int k = 0; k < VG_KIND_COUNT; k++) {
        for (size_t i = 0; fs[i]; i++) {
            const vg_factory_t *f = fs[i];
            if (f->kind != (vg_kind_t)k) continue;
            char sig[256];
            signals_text(f, sig, sizeof sig);
            printf("%s %s [%s]\n  %s\n", vg_kind_name(f->kind), f->type, sig, f->description);
            walk_ctx_t w = { stdout, false };
            vg_options_walk(f->options, "", opt_visit, &w);
        }
    }
    printf("service\n");
    walk_ctx_t w = { stdout, false };
    vg_options_walk(vg_service_options(), "service", opt_visit, &w);
    return 0;
}

int main(int argc, char **argv)
{
    /* jansson allocates through our wrappers too (failure injection, one allocator). */
    json_set_alloc_funcs(vg_malloc, vg_free);
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) { usage(stdout); return 0; }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("vigil %s\n", VIGIL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "validate") == 0) return cmd_validate(argc, argv);
    if (strcmp(cmd, "components") == 0) return cmd_components(argc, argv);
    if (strcmp(cmd, "anomaly-score") == 0) {
        return vg_anomaly_score_main(argc - 1, argv + 1);
    }
    const char **files;
    size_t n;
    if (collect_configs(argc, argv, 1, &files, &n)) { vg_free(files); usage(stderr); return 2; }
    int rc = vg_service_run(files, n);
    vg_free(files);
    return rc;
}
