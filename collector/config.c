#include "config.h"

#include "error.h"
#include "mem.h"

#include <string.h>

static const char *const section_names[] = { "receivers", "processors", "exporters", "connectors", "extensions",
                                             "service", NULL };
static const vg_kind_t section_kinds[] = { VG_KIND_RECEIVER, VG_KIND_PROCESSOR, VG_KIND_EXPORTER, VG_KIND_CONNECTOR,
                                           VG_KIND_EXTENSION };

/* ---- service section option table ------------------------------------------ */

static const char *const log_levels[] = { "debug", "info", "warn", "error", "none", NULL };
static const char *const metric_levels[] = { "none", "basic", "normal", "detailed", NULL };

static const vg_option_t logs_opts[] = {
    { .name = "level", .type = VG_OPT_ENUM, .offset = offsetof(vg_telemetry_conf_t, logs.level), .def = "info",
      .values = log_levels, .doc = "Minimum level of the collector's own log lines (stderr, logfmt)." },
    { 0 },
};
static const vg_option_t metrics_opts[] = {
    { .name = "address", .type = VG_OPT_ENDPOINT, .offset = offsetof(vg_telemetry_conf_t, metrics.address),
      .def = "127.0.0.1:8888", .doc = "Where the Prometheus text endpoint /metrics listens." },
    { .name = "level", .type = VG_OPT_ENUM, .offset = offsetof(vg_telemetry_conf_t, metrics.level), .def = "normal",
      .values = metric_levels, .doc = "none turns the self-telemetry endpoint off." },
    { 0 },
};
static const vg_option_t telemetry_opts[] = {
    { .name = "logs", .type = VG_OPT_TABLE, .offset = 0, .sub = logs_opts, .doc = "The collector's own logs." },
    { .name = "metrics", .type = VG_OPT_TABLE, .offset = 0, .sub = metrics_opts,
      .doc = "The collector's own metrics (vigil_*)." },
    { 0 },
};
static const vg_option_t service_opts[] = {
    { .name = "extensions", .type = VG_OPT_LIST, .offset = offsetof(vg_service_conf_t, extensions),
      .doc = "Extensions to start, by id." },
    { .name = "telemetry", .type = VG_OPT_TABLE, .offset = offsetof(vg_service_conf_t, telemetry),
      .sub = telemetry_opts, .doc = "Self-telemetry: logs and metrics." },
    { .name = "drain_timeout", .type = VG_OPT_DURATION, .offset = offsetof(vg_service_conf_t, drain_timeout),
      .def = "10s", .min = "0", .max = "10m",
      .doc = "On SIGTERM or reload, how long in-flight data may take to drain through processors and exporters "
             "before the collector gives up on it (and counts it as dropped). Vigil-specific." },
    { 0 },
};

const vg_option_t *vg_service_options(void) { return service_opts; }

/* ---- helpers -------------------------------------------------------------- */

const vg_comp_conf_t *vg_config_find(const vg_config_t *c, vg_kind_t kind, const char *id)
{
    for (size_t i = 0; i < c->ncomps; i++)
        if (c->comps[i].kind == kind && strcmp(c->comps[i].id, id) == 0) return &c->comps[i];
    return NULL;
}

static const char *kind_section(vg_kind_t k) { return section_names[k]; }

/* type[/name]: type non-empty [a-z0-9_], name non-empty, no further slash. */
static int split_id(const char *id, char *type, size_t tlen)
{
    const char *slash = strchr(id, '/');
    size_t n = slash ? (size_t)(slash - id) : strlen(id);
    if (n == 0 || n >= tlen) return VG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c >= 'A' && c <= 'Z')))
            return VG_EINVAL;
    }
    if (slash && (slash[1] == '\0' || strchr(slash + 1, '/'))) return VG_EINVAL;
    memcpy(type, id, n);
    type[n] = '\0';
    return 0;
}

static void type_names_of(vg_kind_t kind, const char **names, size_t max)
{
    size_t k = 0;
    const vg_factory_t *const *fs = vg_factories();
    for (size_t i = 0; fs[i] && k + 1 < max; i++)
        if (fs[i]->kind == kind) names[k++] = fs[i]->type;
    names[k] = NULL;
}

static bool receiver_side_supports(const vg_factory_t *f, vg_signal_t s)
{
    if (f->kind == VG_KIND_CONNECTOR) {
        for (int in = 0; in < VG_SIG_COUNT; in++)
            if (f->connects[in] & VG_SIGBIT(s)) return true;
        return false;
    }
    return f->signals & VG_SIGBIT(s);
}

static bool exporter_side_supports(const vg_factory_t *f, vg_signal_t s)
{
    if (f->kind == VG_KIND_CONNECTOR) return f->connects[s] != 0;
    return f->signals & VG_SIGBIT(s);
}

/* ---- components ----------------------------------------------------------- */

static int parse_components(vg_config_t *c, const vg_ynode_t *root, vg_errs_t *errs)
{
    size_t total = 0;
    for (int k = 0; k < VG_KIND_COUNT; k++) {
        const vg_ynode_t *sec = vg_ynode_get(root, section_names[k]);
        if (sec && sec->type == VG_Y_MAP) total += sec->n;
    }
    c->comps = vg_calloc(total ? total : 1, sizeof *c->comps);
    if (!c->comps) return VG_ENOMEM;

    for (int k = 0; k < VG_KIND_COUNT; k++) {
        const vg_ynode_t *sec = vg_ynode_get(root, section_names[k]);
        if (vg_ynode_is_null(sec)) continue;
        if (sec->type != VG_Y_MAP) {
            vg_errs_add(errs, sec, section_names[k], "expected a mapping of component ids to settings");
            continue;
        }
        for (size_t i = 0; i < sec->n; i++) {
            const vg_ynode_t *key = sec->keys[i];
            char path[512];
            snprintf(path, sizeof path, "%s.%s", section_names[k], key->value);
            char type[128];
            if (split_id(key->value, type, sizeof type)) {
                vg_errs_add(errs, key, path, "invalid component id '%s': expected type[/name]", key->value);
                continue;
            }
            const vg_factory_t *f = vg_factory_find(section_kinds[k], type);
            if (!f) {
                const char *names[128];
                type_names_of(section_kinds[k], names, 128);
                const char *near = vg_suggest(type, names);
                char list[1024] = "";
                for (size_t j = 0; names[j]; j++) {
                    if (j) strncat(list, ", ", sizeof list - strlen(list) - 1);
                    strncat(list, names[j], sizeof list - strlen(list) - 1);
                }
                if (near)
                    vg_errs_add(errs, key, path, "unknown %.*s type '%s' (did you mean '%s'?)",
                                (int)strlen(section_names[k]) - 1, section_names[k], type, near);
                else
                    vg_errs_add(errs, key, path, "unknown %.*s type '%s' (known: %s)",
                                (int)strlen(section_names[k]) - 1, section_names[k], type, list);
                continue;
            }
            vg_comp_conf_t *cc = &c->comps[c->ncomps];
            cc->kind = section_kinds[k];
            cc->f = f;
            cc->at = key;
            cc->id = vg_strdup(key->value);
            cc->cfg = vg_calloc(1, f->config_size ? f->config_size : 1);
            if (!cc->id || !cc->cfg) { vg_free(cc->id); vg_free(cc->cfg); return VG_ENOMEM; }
            c->ncomps++;
            size_t before = errs->total;
            int rc = vg_options_parse(f->options, cc->cfg, sec->items[i], path, errs);
            if (rc == VG_ENOMEM) return rc;
            if (errs->total == before && f->validate) {
                rc = f->validate(cc->cfg, path, errs);
                if (rc == VG_ENOMEM) return rc;
                if (rc && errs->total == before) vg_errs_add(errs, key, path, "invalid settings");
            }
        }
    }
    return 0;
}

/* ---- pipelines ------------------------------------------------------------ */

static int parse_ref_list(vg_config_t *c, vg_pipeline_conf_t *p, const vg_ynode_t *pn, const char *role,
                          vg_kind_t kind, vg_comp_conf_t ***out, size_t *nout, const char *ppath, vg_errs_t *errs)
{
    const vg_ynode_t *list = vg_ynode_get(pn, role);
    char path[512];
    snprintf(path, sizeof path, "%s.%s", ppath, role);
    if (vg_ynode_is_null(list)) return 0;
    if (list->type != VG_Y_SEQ) {
        vg_errs_add(errs, list, path, "expected a list of component ids");
        return 0;
    }
    *out = vg_calloc(list->n ? list->n : 1, sizeof **out);
    if (!*out) return VG_ENOMEM;
    for (size_t i = 0; i < list->n; i++) {
        const vg_ynode_t *it = list->items[i];
        if (it->type != VG_Y_SCALAR) {
            vg_errs_add(errs, it, path, "expected a component id");
            continue;
        }
        /* Connectors may stand where receivers and exporters do. */
        vg_comp_conf_t *cc = (vg_comp_conf_t *)vg_config_find(c, kind, it->value);
        if (!cc && kind != VG_KIND_PROCESSOR) cc = (vg_comp_conf_t *)vg_config_find(c, VG_KIND_CONNECTOR, it->value);
        if (!cc) {
            const char *names[256];
            size_t k = 0;
            for (size_t j = 0; j < c->ncomps && k < 255; j++)
                if (c->comps[j].kind == kind || (kind != VG_KIND_PROCESSOR && c->comps[j].kind == VG_KIND_CONNECTOR))
                    names[k++] = c->comps[j].id;
            names[k] = NULL;
            const char *near = vg_suggest(it->value, names);
            vg_errs_add(errs, it, path, "'%s' is not defined in %s%s%s%s", it->value, kind_section(kind),
                        near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *nout; j++) dup |= (*out)[j] == cc;
        if (dup) {
            vg_errs_add(errs, it, path, "'%s' is listed twice", it->value);
            continue;
        }
        bool ok = kind == VG_KIND_RECEIVER ? receiver_side_supports(cc->f, p->signal)
                                           : exporter_side_supports(cc->f, p->signal);
        if (!ok) {
            vg_errs_add(errs, it, path, "%s '%s' does not support %s", vg_kind_name(cc->kind), it->value,
                        vg_signal_name(p->signal));
            continue;
        }
        if (cc->kind == VG_KIND_CONNECTOR) {
            if (kind == VG_KIND_RECEIVER) cc->uses_out++;
            else cc->uses_in++;
        } else {
            cc->uses_in++;
        }
        (*out)[(*nout)++] = cc;
    }
    return 0;
}

static int parse_pipelines(vg_config_t *c, const vg_ynode_t *svc, vg_errs_t *errs)
{
    const vg_ynode_t *pl = vg_ynode_get(svc, "pipelines");
    if (vg_ynode_is_null(pl)) {
        vg_errs_add(errs, svc, "service.pipelines", "no pipelines are defined");
        return 0;
    }
    if (pl->type != VG_Y_MAP) {
        vg_errs_add(errs, pl, "service.pipelines", "expected a mapping of pipeline ids");
        return 0;
    }
    c->pipes = vg_calloc(pl->n ? pl->n : 1, sizeof *c->pipes);
    if (!c->pipes) return VG_ENOMEM;
    for (size_t i = 0; i < pl->n; i++) {
        const vg_ynode_t *key = pl->keys[i], *pn = pl->items[i];
        char path[512];
        snprintf(path, sizeof path, "service.pipelines.%s", key->value);
        char type[128];
        int sig = -1;
        if (split_id(key->value, type, sizeof type) == 0) {
            for (int s = 0; s < VG_SIG_COUNT; s++)
                if (strcmp(type, vg_signal_name((vg_signal_t)s)) == 0) sig = s;
        }
        if (sig < 0) {
            static const char *const sigs[] = { "traces", "metrics", "logs", NULL };
            const char *near = vg_suggest(type, sigs);
            vg_errs_add(errs, key, path, "invalid pipeline id '%s': expected traces, metrics or logs[/name]%s%s%s",
                        key->value, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            continue;
        }
        if (vg_ynode_is_null(pn) || pn->type != VG_Y_MAP) {
            vg_errs_add(errs, pn, path, "expected a mapping with receivers, processors and exporters");
            continue;
        }
        static const char *const roles[] = { "receivers", "processors", "exporters", NULL };
        for (size_t j = 0; j < pn->n; j++) {
            const char *k = pn->keys[j]->value;
            if (strcmp(k, roles[0]) && strcmp(k, roles[1]) && strcmp(k, roles[2])) {
                const char *near = vg_suggest(k, roles);
                char sub[600];
                snprintf(sub, sizeof sub, "%s.%s", path, k);
                vg_errs_add(errs, pn->keys[j], sub, "unknown option '%s'%s%s%s", k, near ? " (did you mean '" : "",
                            near ? near : "", near ? "'?)" : "");
            }
        }
        vg_pipeline_conf_t *p = &c->pipes[c->npipes++];
        p->signal = (vg_signal_t)sig;
        p->at = key;
        if (!(p->id = vg_strdup(key->value))) return VG_ENOMEM;
        int rc;
        if ((rc = parse_ref_list(c, p, pn, "receivers", VG_KIND_RECEIVER, &p->receivers, &p->nreceivers, path, errs)) ||
            (rc = parse_ref_list(c, p, pn, "processors", VG_KIND_PROCESSOR, &p->processors, &p->nprocessors, path,
                                 errs)) ||
            (rc = parse_ref_list(c, p, pn, "exporters", VG_KIND_EXPORTER, &p->exporters, &p->nexporters, path, errs)))
            return rc;
        if (!vg_ynode_get(pn, "receivers") || (p->nreceivers == 0 && vg_ynode_get(pn, "receivers")->n == 0))
            vg_errs_add(errs, key, path, "pipeline must have at least one receiver");
        if (!vg_ynode_get(pn, "exporters") || (p->nexporters == 0 && vg_ynode_get(pn, "exporters")->n == 0))
            vg_errs_add(errs, key, path, "pipeline must have at least one exporter");
    }
    return 0;
}

static void check_connectors_and_unused(vg_config_t *c, vg_errs_t *errs)
{
    for (size_t i = 0; i < c->ncomps; i++) {
        vg_comp_conf_t *cc = &c->comps[i];
        char path[512];
        snprintf(path, sizeof path, "%s.%s", kind_section(cc->kind), cc->id);
        if (cc->kind == VG_KIND_CONNECTOR) {
            if (cc->uses_in == 0 && cc->uses_out == 0) {
                vg_errs_warn(errs, cc->at, path, "connector is not used in any pipeline");
                continue;
            }
            if (cc->uses_in == 0 || cc->uses_out == 0) {
                vg_errs_add(errs, cc->at, path, "connector must be used as an exporter in one pipeline and as a "
                                                "receiver in another (used only as %s)",
                            cc->uses_in ? "an exporter" : "a receiver");
                continue;
            }
            /* Every use must pair with a use on the other side that the connector can link. */
            for (size_t a = 0; a < c->npipes; a++) {
                for (size_t e = 0; e < c->pipes[a].nexporters; e++) {
                    if (c->pipes[a].exporters[e] != cc) continue;
                    bool paired = false;
                    for (size_t b = 0; b < c->npipes; b++)
                        for (size_t r = 0; r < c->pipes[b].nreceivers; r++)
                            if (c->pipes[b].receivers[r] == cc &&
                                (cc->f->connects[c->pipes[a].signal] & VG_SIGBIT(c->pipes[b].signal)))
                                paired = true;
                    if (!paired)
                        vg_errs_add(errs, c->pipes[a].at, path,
                                    "connector takes %s from pipeline '%s' but no pipeline receives what it emits "
                                    "from them",
                                    vg_signal_name(c->pipes[a].signal), c->pipes[a].id);
                }
            }
        } else if (cc->kind != VG_KIND_EXTENSION && cc->uses_in == 0) {
            vg_errs_warn(errs, cc->at, path, "%s is defined but not used in any pipeline", vg_kind_name(cc->kind));
        }
    }
    for (size_t i = 0; i < c->service.extensions.n; i++) {
        const char *id = c->service.extensions.v[i];
        if (!vg_config_find(c, VG_KIND_EXTENSION, id))
            vg_errs_add(errs, NULL, "service.extensions", "extension '%s' is not defined in extensions", id);
    }
}

static int build(vg_config_t *c, vg_errs_t *errs)
{
    const vg_ynode_t *root = c->merged->root;
    if (!root) {
        vg_errs_add(errs, NULL, NULL, "the configuration is empty: it needs receivers, exporters and service.pipelines");
        return VG_ECONFIG;
    }
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->value;
        bool known = false;
        for (size_t j = 0; section_names[j]; j++) known |= strcmp(k, section_names[j]) == 0;
        if (!known) {
            const char *near = vg_suggest(k, section_names);
            vg_errs_add(errs, root->keys[i], k, "unknown section '%s'%s%s%s", k, near ? " (did you mean '" : "",
                        near ? near : "", near ? "'?)" : "");
        }
    }
    int rc = parse_components(c, root, errs);
    if (rc) return rc;
    const vg_ynode_t *svc = vg_ynode_get(root, "service");
    if (!svc) vg_errs_add(errs, root, "service", "the service section is missing");
    /* service.pipelines has its own parser (parse_pipelines); the table has the rest. */
    const vg_option_t *opts = service_opts;
    vg_service_conf_t *sc = &c->service;
    memset(sc, 0, sizeof *sc);
    /* parse all keys except pipelines */
    vg_ynode_t filtered;
    vg_ynode_t *keys[16], *items[16];
    if (svc && svc->type == VG_Y_MAP) {
        filtered = *svc;
        filtered.n = 0;
        filtered.keys = keys;
        filtered.items = items;
        for (size_t i = 0; i < svc->n && filtered.n < 16; i++) {
            if (strcmp(svc->keys[i]->value, "pipelines") == 0) continue;
            keys[filtered.n] = svc->keys[i];
            items[filtered.n++] = svc->items[i];
        }
        rc = vg_options_parse(opts, sc, &filtered, "service", errs);
    } else {
        rc = vg_options_parse(opts, sc, svc, "service", errs);
    }
    if (rc == VG_ENOMEM) return rc;
    if (svc && svc->type == VG_Y_MAP && (rc = parse_pipelines(c, svc, errs))) return rc;
    check_connectors_and_unused(c, errs);
    return errs->total ? VG_ECONFIG : 0;
}

static int finish(vg_config_t *c, vg_config_t **out, vg_errs_t *errs)
{
    size_t before = errs->total;
    int rc = build(c, errs);
    if (rc == 0 && errs->total > before) rc = VG_ECONFIG;
    if (rc) { vg_config_free(c); return rc; }
    *out = c;
    return 0;
}

int vg_config_load(const char *const *files, size_t nfiles, vg_config_t **out, vg_errs_t *errs)
{
    *out = NULL;
    if (nfiles == 0) {
        vg_errs_add(errs, NULL, NULL, "no configuration file given (use --config FILE)");
        return VG_ECONFIG;
    }
    vg_config_t *c = vg_calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    c->docs = vg_calloc(nfiles, sizeof *c->docs);
    if (!c->docs) { vg_free(c); return VG_ENOMEM; }
    int rc = 0;
    for (size_t i = 0; i < nfiles; i++) {
        int r = vg_ydoc_load_file(files[i], &c->docs[c->ndocs], errs);
        if (r == 0) c->ndocs++;
        else rc = r;
    }
    if (rc) { vg_config_free(c); return rc == VG_ENOMEM ? rc : VG_ECONFIG; }
    c->merged = c->docs[0];
    for (size_t i = 1; i < c->ndocs; i++) {
        vg_ydoc_t *m;
        if (vg_ydoc_merge(c->merged, c->docs[i], &m)) { vg_config_free(c); return VG_ENOMEM; }
        if (c->merged != c->docs[0]) {
            /* Intermediate merges share nodes with the result: keep them alive. */
            vg_ydoc_t **nd = vg_realloc(c->docs, (c->ndocs + 1) * sizeof *nd);
            if (!nd) { vg_ydoc_free(m); vg_config_free(c); return VG_ENOMEM; }
            c->docs = nd;
            c->docs[c->ndocs++] = c->merged;
        }
        c->merged = m;
    }
    return finish(c, out, errs);
}

int vg_config_load_string(const char *name, const char *yaml, vg_config_t **out, vg_errs_t *errs)
{
    *out = NULL;
    vg_config_t *c = vg_calloc(1, sizeof *c);
    if (!c) return VG_ENOMEM;
    c->docs = vg_calloc(1, sizeof *c->docs);
    if (!c->docs) { vg_free(c); return VG_ENOMEM; }
    int rc = vg_ydoc_load_string(name, yaml, strlen(yaml), &c->docs[0], errs);
    if (rc) { vg_config_free(c); return rc == VG_ENOMEM ? rc : VG_ECONFIG; }
    c->ndocs = 1;
    c->merged = c->docs[0];
    return finish(c, out, errs);
}

void vg_config_free(vg_config_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->ncomps; i++) {
        vg_options_free(c->comps[i].f->options, c->comps[i].cfg);
        vg_free(c->comps[i].cfg);
        vg_free(c->comps[i].id);
    }
    vg_free(c->comps);
    for (size_t i = 0; i < c->npipes; i++) {
        vg_free(c->pipes[i].id);
        vg_free(c->pipes[i].receivers);
        vg_free(c->pipes[i].processors);
        vg_free(c->pipes[i].exporters);
    }
    vg_free(c->pipes);
    vg_options_free(service_opts, &c->service);
    bool merged_is_doc = false;
    for (size_t i = 0; i < c->ndocs; i++) {
        merged_is_doc |= c->merged == c->docs[i];
        vg_ydoc_free(c->docs[i]);
    }
    if (!merged_is_doc) vg_ydoc_free(c->merged);
    vg_free(c->docs);
    vg_free(c);
}
