#include "service.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "telemetry.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vg_service {
    uv_loop_t loop;
    const char *const *files;
    size_t nfiles;
    vg_config_t *cfg;
    vg_graph_t *graph;
    vg_config_t *pending_cfg;     /* reload: the validated new config */
    vg_graph_t *pending_graph;    /* reload: created, waiting for the old graph to drain */
    vg_config_t *rollback_cfg;    /* reload: the previous config, while the new graph starts */
    vg_graph_t **zombies;         /* stuck graphs (handles still open): freed at exit */
    vg_config_t **zombie_cfgs;
    size_t nzombies;
    uv_signal_t sigterm, sigint, sighup;
    vg_svc_state_t state;
    vg_telemetry_server_t *telemetry;
    uint64_t started_ms;
    uint64_t reloads, reloads_failed;
    bool stop_requested;
    bool stuck_exit;              /* a component never closed its handles: exit without freeing it */
    int exit_code;
};

const char *vg_service_state_name(vg_svc_state_t st)
{
    static const char *n[] = { "starting", "running", "reloading", "draining", "stopped" };
    return (unsigned)st < 5 ? n[st] : "?";
}
vg_svc_state_t vg_service_state(const vg_service_t *s) { return s->state; }
const vg_graph_t *vg_service_graph(const vg_service_t *s) { return s->graph; }
const vg_config_t *vg_service_config(const vg_service_t *s) { return s->cfg; }
uint64_t vg_service_uptime_ms(const vg_service_t *s) { return uv_now((uv_loop_t *)&s->loop) - s->started_ms; }
uint64_t vg_service_reloads(const vg_service_t *s, uint64_t *failed)
{
    if (failed) *failed = s->reloads_failed;
    return s->reloads;
}

static void log_errs(const vg_errs_t *errs)
{
    for (size_t i = 0; i < errs->warnings_n; i++) VG_WARN(NULL, "%s", errs->warnings[i]);
    for (size_t i = 0; i < errs->n; i++) VG_ERROR(NULL, "%s", errs->msgs[i]);
    if (errs->total > errs->n) VG_ERROR(NULL, "%zu more errors could not be recorded (out of memory)",
                                        errs->total - errs->n);
}

static void apply_service_conf(vg_service_t *s)
{
    vg_log_set_level((vg_log_level_t)s->cfg->service.telemetry.logs.level);
}

/* Loads and creates (but does not start) a graph from the config files. */
static int prepare(vg_service_t *s, vg_config_t **cfg, vg_graph_t **graph)
{
    vg_errs_t errs;
    vg_errs_init(&errs);
    int rc = vg_config_load(s->files, s->nfiles, cfg, &errs);
    if (rc == 0) {
        rc = vg_graph_build(*cfg, &s->loop, s, graph, &errs);
        if (rc) { vg_config_free(*cfg); *cfg = NULL; }
    }
    log_errs(&errs);
    vg_errs_free(&errs);
    return rc;
}

static int start_graph(vg_graph_t *g)
{
    vg_errs_t errs;
    vg_errs_init(&errs);
    int rc = vg_graph_start(g, &errs);
    log_errs(&errs);
    vg_errs_free(&errs);
    return rc;
}

static void close_all(vg_service_t *s);
static int telemetry_restart(vg_service_t *s);
static void walk_close(uv_handle_t *h, void *ud);

/* (Re)starts the /metrics endpoint. Returns 0 or the error (logged). */
static int telemetry_restart(vg_service_t *s)
{
    vg_telemetry_server_close(s->telemetry);
    s->telemetry = NULL;
    const vg_telemetry_conf_t *t = &s->cfg->service.telemetry;
    if (t->metrics.level == 0 || !t->metrics.address || !*t->metrics.address) return 0;
    int rc = vg_telemetry_server_start(&s->loop, s, t->metrics.address, &s->telemetry);
    if (rc) VG_ERROR("service", "self-telemetry endpoint %s: %s", t->metrics.address, vg_strerror(rc));
    return rc;
}

static void on_final_drain(vg_graph_t *g, void *ud)
{
    vg_service_t *s = ud;
    VG_INFO("service", "drained; exiting");
    close_all(s);
    if (vg_graph_stuck(g) || s->nzombies) {
        /* Closing a component's handles behind its back would break it; it is
         * left as it is and the process exits without freeing it. */
        s->stuck_exit = true;
        uv_stop(&s->loop);
    }
}

static void begin_stop(vg_service_t *s)
{
    if (s->state == VG_SVC_DRAINING || s->state == VG_SVC_STOPPED) return;
    if (s->state == VG_SVC_RELOADING) { s->stop_requested = true; return; }
    s->state = VG_SVC_DRAINING;
    VG_INFO("service", "shutting down: stopping receivers and draining (deadline %lld ms)",
            (long long)(s->cfg->service.drain_timeout / 1000000));
    vg_graph_shutdown(s->graph, s->cfg->service.drain_timeout, on_final_drain, s);
}

/* Frees a drained graph and its config, or keeps both until exit when some
 * component still has handles open (freeing them now would be a use after free). */
static void retire(vg_service_t *s, vg_graph_t *g, vg_config_t *cfg)
{
    if (!vg_graph_stuck(g)) {
        vg_graph_destroy(g);
        vg_config_free(cfg);
        return;
    }
    vg_graph_t **zg = vg_realloc(s->zombies, (s->nzombies + 1) * sizeof *zg);
    vg_config_t **zc = zg ? vg_realloc(s->zombie_cfgs, (s->nzombies + 1) * sizeof *zc) : NULL;
    if (zg) s->zombies = zg;
    if (zc) s->zombie_cfgs = zc;
    if (!zg || !zc) { VG_ERROR("service", "out of memory keeping a stuck graph; leaking it"); return; }
    s->zombies[s->nzombies] = g;
    s->zombie_cfgs[s->nzombies++] = cfg;
}

static void on_rollback_drained(vg_graph_t *failed, void *ud)
{
    vg_service_t *s = ud;
    retire(s, failed, s->cfg);
    s->cfg = s->rollback_cfg;
    s->rollback_cfg = NULL;
    s->graph = NULL;
    apply_service_conf(s);
    vg_errs_t errs;
    vg_errs_init(&errs);
    int rc = vg_graph_build(s->cfg, &s->loop, s, &s->graph, &errs);
    log_errs(&errs);
    vg_errs_free(&errs);
    if (rc || start_graph(s->graph) || telemetry_restart(s)) {
        VG_ERROR("service", "the previous configuration did not start again either; shutting down");
        s->exit_code = 1;
        s->state = VG_SVC_RUNNING;
        if (!s->graph) { close_all(s); return; }
        begin_stop(s);
        return;
    }
    s->state = VG_SVC_RUNNING;
    VG_WARN("service", "running the previous configuration again");
    if (s->stop_requested) begin_stop(s);
}

static void on_reload_drained(vg_graph_t *old, void *ud)
{
    vg_service_t *s = ud;
    if (vg_graph_stuck(old)) {
        /* The stuck graph keeps its config until exit: no rollback to it is possible. */
        retire(s, old, s->cfg);
        s->rollback_cfg = NULL;
    } else {
        vg_graph_destroy(old);
        s->rollback_cfg = s->cfg;
    }
    s->graph = s->pending_graph;
    s->cfg = s->pending_cfg;
    s->pending_graph = NULL;
    s->pending_cfg = NULL;
    apply_service_conf(s);
    if (start_graph(s->graph) || telemetry_restart(s)) {
        s->reloads_failed++;
        if (!s->rollback_cfg) {
            VG_ERROR("service", "the new configuration did not start and the previous one cannot be restored; "
                                "shutting down");
            s->exit_code = 1;
            s->state = VG_SVC_RUNNING;
            begin_stop(s);
            return;
        }
        VG_ERROR("service", "the new configuration did not start; going back to the previous one");
        vg_graph_shutdown(s->graph, s->cfg->service.drain_timeout, on_rollback_drained, s);
        return;
    }
    vg_config_free(s->rollback_cfg);
    s->rollback_cfg = NULL;
    s->reloads++;
    s->state = VG_SVC_RUNNING;
    VG_INFO("service", "configuration reloaded");
    if (s->stop_requested) begin_stop(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    vg_service_t *s = h->data;
    if (signum == SIGHUP) {
        if (s->state != VG_SVC_RUNNING) {
            VG_WARN("service", "SIGHUP ignored while %s", vg_service_state_name(s->state));
            return;
        }
        VG_INFO("service", "SIGHUP: loading the configuration again");
        vg_config_t *cfg = NULL;
        vg_graph_t *g = NULL;
        if (prepare(s, &cfg, &g)) {
            s->reloads_failed++;
            VG_ERROR("service", "the new configuration is invalid; keeping the running one");
            return;
        }
        s->pending_cfg = cfg;
        s->pending_graph = g;
        s->state = VG_SVC_RELOADING;
        /* Receivers stop first; everything accepted drains before the new graph starts. */
        vg_graph_shutdown(s->graph, s->cfg->service.drain_timeout, on_reload_drained, s);
        return;
    }
    VG_INFO("service", "received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    begin_stop(s);
}

static void close_all(vg_service_t *s)
{
    s->state = VG_SVC_STOPPED;
    vg_telemetry_server_close(s->telemetry);
    s->telemetry = NULL;
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void walk_close(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (!uv_is_closing(h)) {
        VG_WARN("service", "handle of type %s left open at exit; closing it", uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

int vg_service_run(const char *const *files, size_t nfiles)
{
    vg_service_t *s = vg_calloc(1, sizeof *s);
    if (!s) return 1;
    s->files = files;
    s->nfiles = nfiles;
    if (uv_loop_init(&s->loop)) { vg_free(s); return 1; }
    s->started_ms = uv_now(&s->loop);
    signal(SIGPIPE, SIG_IGN);

    int rc = prepare(s, &s->cfg, &s->graph);
    if (rc) {
        VG_ERROR("service", "invalid configuration; not starting");
        uv_loop_close(&s->loop);
        vg_free(s);
        return 1;
    }
    apply_service_conf(s);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sighup);
    s->sigterm.data = s->sigint.data = s->sighup.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sighup, on_signal, SIGHUP);

    /* Like the Collector: a telemetry endpoint that cannot listen stops the start. */
    if (telemetry_restart(s) || start_graph(s->graph)) {
        VG_ERROR("service", "start failed; stopping what started");
        s->exit_code = 1;
        s->state = VG_SVC_RUNNING;
        begin_stop(s);
    } else {
        s->state = VG_SVC_RUNNING;
        VG_INFO("service", "vigil %s running with %zu components", VIGIL_VERSION, vg_graph_count(s->graph));
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (s->stuck_exit) {
        VG_ERROR("service", "exiting with a component that did not close its handles (its memory is not freed)");
        int code = s->exit_code;
        vg_free(s->zombies);
        vg_free(s->zombie_cfgs);
        return code;
    }

    /* Anything still open is a bug somewhere: close it so the loop can end. */
    uv_walk(&s->loop, walk_close, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    vg_graph_destroy(s->graph);
    vg_graph_destroy(s->pending_graph);
    for (size_t i = 0; i < s->nzombies; i++) {
        vg_graph_destroy(s->zombies[i]);
        vg_config_free(s->zombie_cfgs[i]);
    }
    vg_free(s->zombies);
    vg_free(s->zombie_cfgs);
    vg_config_free(s->cfg);
    vg_config_free(s->pending_cfg);
    vg_config_free(s->rollback_cfg);
    int code = s->exit_code;
    if (uv_loop_close(&s->loop)) {
        VG_ERROR("service", "loop did not close cleanly");
        code = code ? code : 1;
    }
    vg_free(s);
    return code;
}
