/* The collector's configuration in the OpenTelemetry Collector's layout:
 * receivers, processors, exporters, connectors, extensions, service.
 *
 * vg_config_load() reads and merges the files, parses every component's
 * options through its table, checks pipelines, and lists every problem (not
 * just the first) in errs, each as "file:line:col: path: message". */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include "component.h"
#include "log.h"
#include "options.h"
#include "ydoc.h"

typedef struct vg_comp_conf {
    vg_kind_t kind;
    char *id;                   /* "otlp/backup" */
    const vg_factory_t *f;
    void *cfg;                  /* parsed options (f->config_size bytes) */
    const vg_ynode_t *at;       /* key node, for messages */
    int uses_in, uses_out;      /* pipelines using it (connectors: as exporter / as receiver) */
} vg_comp_conf_t;

typedef struct vg_pipeline_conf {
    char *id;                   /* "traces/2" */
    vg_signal_t signal;
    const vg_ynode_t *at;
    vg_comp_conf_t **receivers, **processors, **exporters;
    size_t nreceivers, nprocessors, nexporters;
} vg_pipeline_conf_t;

typedef struct vg_telemetry_conf {
    struct { int level; } logs;                    /* vg_log_level_t */
    struct { char *address; int level; } metrics;  /* level: none|basic|normal|detailed */
} vg_telemetry_conf_t;

typedef struct vg_service_conf {
    vg_strlist_t extensions;
    vg_telemetry_conf_t telemetry;
    int64_t drain_timeout;      /* ns */
} vg_service_conf_t;

typedef struct vg_config {
    vg_ydoc_t **docs;
    size_t ndocs;
    vg_ydoc_t *merged;          /* may be one of docs */
    vg_comp_conf_t *comps;
    size_t ncomps;
    vg_pipeline_conf_t *pipes;
    size_t npipes;
    vg_service_conf_t service;
} vg_config_t;

/* 0, or VG_ECONFIG with errs filled (VG_ENOMEM on allocation failure). On
 * failure *out is NULL. Warnings (unused components) go to errs->warnings. */
int vg_config_load(const char *const *files, size_t nfiles, vg_config_t **out, vg_errs_t *errs);
/* The same from YAML text (tests). */
int vg_config_load_string(const char *name, const char *yaml, vg_config_t **out, vg_errs_t *errs);
void vg_config_free(vg_config_t *c);

const vg_option_t *vg_service_options(void);
const vg_comp_conf_t *vg_config_find(const vg_config_t *c, vg_kind_t kind, const char *id);

#endif
