/* cgroupstats receiver against the recorded cgroup trees in
 * tests/fixtures/cgroup/ (v2 systemd driver: containerd, CRI-O, Docker,
 * rootless Podman; v1 cgroupfs; hybrid; missing and empty files) and against
 * trees this test writes into a temporary directory (counter resets, a
 * container recreated under the same path, a vanishing container, limits
 * that change). Exact metric names, units, types, values and resource
 * attributes; then the component on a real uv loop with a capture consumer,
 * back-pressure, bad roots and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "component.h"
#include "error.h"
#include "mem.h"
#include "otlp.h"
#include "otlp_json.h"
#include "receivers/cgroupstats/cgroupstats_int.h"
#include "telemetry.h"
#include "ydoc.h"

extern const vg_factory_t vg_cgroupstats_receiver_factory;
#define F (&vg_cgroupstats_receiver_factory)

#define FX "../fixtures/cgroup/"
#define MACHINE_ID "5d0c4f1e2b3a49687a1b2c3d4e5f6071"

#define A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
#define C "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
#define D "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
#define E "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5"
#define FF "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6"
#define J "3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a"
#define K "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b"
#define L "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "66666666-7777-4888-9999-aaaaaaaaaaaa"
#define U3 "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
#define U1S "11111111_2222_4333_8444_555555555555"
#define U2S "66666666_7777_4888_9999_aaaaaaaaaaaa"
#define U3S "bbbbbbbb_cccc_4ddd_8eee_ffffffffffff"
#define V2_A "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U1S ".slice/cri-containerd-" A ".scope"
#define V2_B "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" U2S ".slice/crio-" B ".scope"
#define V2_C "/kubepods.slice/kubepods-pod" U3S ".slice/docker-" C ".scope"
#define V2_D "/system.slice/docker-" D ".scope"
#define V2_F "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" FF ".scope"

#define S 1000000000ull

typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint point_t;

/* ---- a component from YAML, a capture consumer ------------------------------------ */

typedef struct {
    vg_consumer_t base;
    vg_batch_t *got[64];
    size_t n, offered;
    int refuse;
} capture_t;

static int capture_consume(vg_consumer_t *self, vg_batch_t *b)
{
    capture_t *c = (capture_t *)self;
    c->offered++;
    if (c->refuse || c->n == 64) {
        vg_batch_unref(b);
        return VG_EREFUSED;
    }
    c->got[c->n++] = b;
    return 0;
}

typedef struct {
    uv_loop_t loop;
    capture_t cap;
    vg_component_t comp;
    vg_ydoc_t *doc;
    vg_errs_t errs;
    uint64_t now; /* fake clock */
    bool created;
} fx_t;

static uint64_t fake_clock(void *ud) { return *(uint64_t *)ud; }

static uint64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * S + (uint64_t)ts.tv_nsec;
}

/* Parses yaml with the factory's option table and creates the component. */
static int fx_init(fx_t *fx, const char *yaml)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cap.base.consume = capture_consume;
    vg_errs_init(&fx->errs);
    assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &fx->doc, &fx->errs), 0);
    fx->comp.f = F;
    fx->comp.id = "cgroupstats/test";
    fx->comp.loop = &fx->loop;
    fx->comp.cfg = vg_calloc(1, F->config_size);
    assert_non_null(fx->comp.cfg);
    int rc = vg_options_parse(F->options, fx->comp.cfg, fx->doc->root, "receivers.cgroupstats", &fx->errs);
    if (rc == 0 && F->validate)
        rc = F->validate(fx->comp.cfg, "receivers.cgroupstats", &fx->errs);
    if (rc)
        return rc;
    fx->comp.next[VG_SIG_METRICS] = &fx->cap.base;
    fx->comp.out_signals = VG_SIGBIT(VG_SIG_METRICS);
    rc = F->create(&fx->comp);
    fx->created = rc == 0;
    return rc;
}

/* For synchronous scrapes: open the root and install the fake clock. */
static cgs_core_t *fx_core(fx_t *fx, const char *root)
{
    cgs_core_t *core = cgs_component_core(&fx->comp);
    assert_non_null(core);
    assert_int_equal(cgs_core_open(core, root), 0);
    fx->now = wall_now() + 1000 * S;
    core->clock = fake_clock;
    core->clock_ud = &fx->now;
    return core;
}

static void fx_done(fx_t *fx)
{
    if (fx->created) {
        F->shutdown(&fx->comp);
        F->shutdown(&fx->comp); /* idempotent */
        for (int i = 0; i < 5000 && F->busy(&fx->comp); i++)
            uv_run(&fx->loop, UV_RUN_ONCE);
        assert_false(F->busy(&fx->comp));
        uv_run(&fx->loop, UV_RUN_DEFAULT);
        F->destroy(&fx->comp);
    }
    for (size_t i = 0; i < fx->cap.n; i++)
        vg_batch_unref(fx->cap.got[i]);
    vg_options_free(F->options, fx->comp.cfg);
    vg_free(fx->comp.cfg);
    vg_ydoc_free(fx->doc);
    vg_errs_free(&fx->errs);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* no handle or request left behind */
}

static vg_batch_t *scrape(cgs_core_t *core, cgs_result_t *res)
{
    cgs_scrape(core, res);
    assert_int_equal(res->rc, 0);
    vg_batch_t *b = res->batch;
    res->batch = NULL;
    return b;
}

/* ---- looking into a batch ----------------------------------------------------------------- */

static vg_metrics_req_t *req(vg_batch_t *b) { return (vg_metrics_req_t *)vg_batch_req(b); }

static const char *kv_str(vg_kv_t *const *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0) {
            assert_int_equal(kv[i]->value->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
            return kv[i]->value->string_value;
        }
    return NULL;
}

static const char *res_attr(const vg_resource_metrics_t *rm, const char *key)
{
    return kv_str(rm->resource->attributes, rm->resource->n_attributes, key);
}

static vg_resource_metrics_t *find_rm(vg_batch_t *b, const char *path)
{
    vg_metrics_req_t *r = req(b);
    for (size_t i = 0; i < r->n_resource_metrics; i++) {
        const char *p = res_attr(r->resource_metrics[i], "cgroup.path");
        if (p && strcmp(p, path) == 0)
            return r->resource_metrics[i];
    }
    return NULL;
}

static vg_metric_t *find_metric(const vg_resource_metrics_t *rm, const char *name)
{
    assert_int_equal(rm->n_scope_metrics, 1);
    const vg_scope_metrics_t *sm = rm->scope_metrics[0];
    for (size_t i = 0; i < sm->n_metrics; i++)
        if (strcmp(sm->metrics[i]->name, name) == 0)
            return sm->metrics[i];
    return NULL;
}

/* The metric's point with attribute key=val (key NULL: the only point). Checks
 * kind and unit on the way. */
static point_t *pt(const vg_resource_metrics_t *rm, const char *name, const char *unit, bool sum, const char *key,
                   const char *val)
{
    vg_metric_t *m = find_metric(rm, name);
    if (!m)
        fail_msg("metric %s missing", name);
    assert_string_equal(m->unit, unit);
    assert_true(m->description && strlen(m->description) > 10);
    size_t n;
    point_t **pts;
    if (sum) {
        assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
        assert_true(m->sum->is_monotonic);
        assert_int_equal(m->sum->aggregation_temporality,
                         OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
        n = m->sum->n_data_points;
        pts = m->sum->data_points;
    } else {
        assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
        n = m->gauge->n_data_points;
        pts = m->gauge->data_points;
    }
    if (!key) {
        assert_int_equal(n, 1);
        assert_int_equal(pts[0]->n_attributes, 0);
        return pts[0];
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = kv_str(pts[i]->attributes, pts[i]->n_attributes, key);
        if (v && strcmp(v, val) == 0)
            return pts[i];
    }
    fail_msg("metric %s has no point with %s=%s", name, key, val);
    return NULL;
}

/* Point with two attributes (disk metrics). */
static point_t *pt2(const vg_resource_metrics_t *rm, const char *name, const char *unit, const char *dir,
                    const char *dev)
{
    vg_metric_t *m = find_metric(rm, name);
    if (!m)
        fail_msg("metric %s missing", name);
    assert_string_equal(m->unit, unit);
    assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    for (size_t i = 0; i < m->sum->n_data_points; i++) {
        point_t *p = m->sum->data_points[i];
        const char *d = kv_str(p->attributes, p->n_attributes, "disk.io.direction");
        const char *v = kv_str(p->attributes, p->n_attributes, "system.device");
        assert_int_equal(p->n_attributes, 2);
        if (d && v && strcmp(d, dir) == 0 && strcmp(v, dev) == 0)
            return p;
    }
    fail_msg("metric %s has no point %s %s", name, dir, dev);
    return NULL;
}

static int64_t ival(const point_t *p)
{
    assert_int_equal(p->value_case, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    return p->as_int;
}

static double dval(const point_t *p)
{
    assert_int_equal(p->value_case, OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    return p->as_double;
}

#define assert_near(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9 * (1 + fabs((double)(b))))

/* Creation time of a fixture cgroup as the receiver computes it. */
static uint64_t created_of(const char *dir)
{
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    uint64_t m = (uint64_t)sb.st_mtim.tv_sec * S + (uint64_t)sb.st_mtim.tv_nsec;
    uint64_t c = (uint64_t)sb.st_ctim.tv_sec * S + (uint64_t)sb.st_ctim.tv_nsec;
    return m < c ? m : c;
}

static size_t n_metrics(const vg_resource_metrics_t *rm) { return rm->scope_metrics[0]->n_metrics; }

#define YAML_FX(root) \
    "root: " root "\nhost_name: node-1\nhost_id_file: ../fixtures/cgroupstats/machine-id\n"

/* ---- v2: every metric, exact -------------------------------------------------------------- */

static void test_v2_containerd_exact(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "v2-systemd")), 0);
    assert_int_equal(F->start(&fx.comp), 0); /* opens the root, reads host_id_file, arms the timer */
    cgs_core_t *core = fx_core(&fx, FX "v2-systemd");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    assert_non_null(b);
    assert_int_equal(res.containers, 6);
    assert_int_equal(res.new_containers, 6);
    assert_int_equal(res.tracked, 6);
    assert_int_equal(res.vanished, 0);
    assert_int_equal(req(b)->n_resource_metrics, 6);
    assert_int_equal(b->items, (size_t)vg_otlp_count_items(VG_SIG_METRICS, vg_batch_req(b)));

    vg_resource_metrics_t *rm = find_rm(b, V2_A);
    assert_non_null(rm);
    /* resource */
    assert_string_equal(res_attr(rm, "container.id"), A);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "containerd");
    assert_string_equal(res_attr(rm, "k8s.pod.uid"), U1);
    assert_string_equal(res_attr(rm, "k8s.pod.qos_class"), "Burstable");
    assert_string_equal(res_attr(rm, "cgroup.path"), V2_A);
    assert_string_equal(res_attr(rm, "host.name"), "node-1");
    assert_string_equal(res_attr(rm, "host.id"), MACHINE_ID);
    assert_null(res_attr(rm, "systemd.unit.name"));
    assert_int_equal(rm->resource->n_attributes, 7);
    assert_string_equal(rm->scope_metrics[0]->scope->name, CGS_SCOPE_NAME);

    uint64_t t = fx.now;
    uint64_t created = created_of(FX "v2-systemd" V2_A);
    /* CPU */
    point_t *p = pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user");
    assert_near(dval(p), 6.12);
    assert_int_equal(p->start_time_unix_nano, created); /* the cgroup's creation */
    assert_int_equal(p->time_unix_nano, t);
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "system")), 2.331234);
    assert_null(find_metric(rm, "container.cpu.usage")); /* needs two scrapes */
    assert_int_equal(ival(pt(rm, "container.cpu.throttling_data.periods", "{period}", true, NULL, NULL)), 1520);
    assert_int_equal(ival(pt(rm, "container.cpu.throttling_data.throttled_periods", "{period}", true, NULL, NULL)),
                     37);
    assert_near(dval(pt(rm, "container.cpu.throttling_data.throttled_time", "s", true, NULL, NULL)), 0.912345);
    p = pt(rm, "container.cpu.limit", "{cpu}", false, NULL, NULL);
    assert_near(dval(p), 0.5);
    assert_int_equal(p->start_time_unix_nano, 0);
    /* memory */
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 209715200);
    assert_int_equal(ival(pt(rm, "container.memory.working_set", "By", false, NULL, NULL)), 209715200 - 31457280);
    assert_int_equal(ival(pt(rm, "container.memory.rss", "By", false, NULL, NULL)), 157286400);
    assert_int_equal(ival(pt(rm, "container.memory.cache", "By", false, NULL, NULL)), 41943040);
    assert_int_equal(ival(pt(rm, "container.memory.swap", "By", false, NULL, NULL)), 1048576);
    assert_int_equal(ival(pt(rm, "container.memory.limit", "By", false, NULL, NULL)), 268435456);
    assert_int_equal(ival(pt(rm, "container.memory.available", "By", false, NULL, NULL)),
                     268435456 - (209715200 - 31457280));
    assert_int_equal(ival(pt(rm, "container.memory.oom.events", "{event}", true, NULL, NULL)), 2);
    assert_int_equal(ival(pt(rm, "container.memory.oom.kills", "{process}", true, NULL, NULL)), 1);
    assert_int_equal(ival(pt(rm, "container.memory.limit_hits", "{event}", true, NULL, NULL)), 14);
    /* block IO */
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "read", "8:0")), 1459200);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "write", "8:0")), 314773504);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "read", "253:0")), 4096);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "write", "253:0")), 0);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "read", "8:0")), 192);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "write", "8:0")), 353);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "read", "253:0")), 1);
    assert_int_equal(find_metric(rm, "container.disk.io")->sum->n_data_points, 4);
    /* pids */
    assert_int_equal(ival(pt(rm, "container.pids.count", "{process}", false, NULL, NULL)), 7);
    assert_int_equal(ival(pt(rm, "container.pids.limit", "{process}", false, NULL, NULL)), 1024);
    /* PSI */
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_time", "s", true, "pressure.level", "some")), 5.123456);
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_time", "s", true, "pressure.level", "full")), 0);
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_ratio", "1", false, "pressure.level", "some")), 0.0153);
    assert_near(dval(pt(rm, "container.memory.pressure.stall_time", "s", true, "pressure.level", "some")), 0.034567);
    assert_near(dval(pt(rm, "container.memory.pressure.stall_time", "s", true, "pressure.level", "full")), 0.012345);
    assert_near(dval(pt(rm, "container.io.pressure.stall_time", "s", true, "pressure.level", "some")), 987.654321);
    assert_near(dval(pt(rm, "container.io.pressure.stall_time", "s", true, "pressure.level", "full")), 876.54321);
    assert_near(dval(pt(rm, "container.io.pressure.stall_ratio", "1", false, "pressure.level", "some")), 0.125);
    assert_near(dval(pt(rm, "container.io.pressure.stall_ratio", "1", false, "pressure.level", "full")), 0.1025);
    /* uptime */
    assert_near(dval(pt(rm, "container.uptime", "s", false, NULL, NULL)), (double)(t - created) / 1e9);
    assert_int_equal(n_metrics(rm), 26); /* all but container.cpu.usage */

    /* second scrape 10 s later: the same values, so usage 0; start times kept */
    fx.now += 10 * S;
    vg_batch_t *b2 = scrape(core, &res);
    assert_int_equal(res.new_containers, 0);
    rm = find_rm(b2, V2_A);
    p = pt(rm, "container.cpu.usage", "{cpu}", false, NULL, NULL);
    assert_near(dval(p), 0.0);
    assert_int_equal(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")->start_time_unix_nano, created);
    assert_int_equal(pt2(rm, "container.disk.io", "By", "read", "8:0")->start_time_unix_nano, created);
    assert_int_equal(n_metrics(rm), 27);
    vg_batch_unref(b);
    vg_batch_unref(b2);
    fx_done(&fx);
}

static void test_v2_other_runtimes(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\nhost_name: node-1\nhost_id_file: \"\"\n"), 0);
    cgs_core_t *core = fx_core(&fx, FX "v2-systemd");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);

    /* CRI-O, BestEffort, unlimited: no limit metrics */
    vg_resource_metrics_t *rm = find_rm(b, V2_B);
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "container.id"), B);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "cri-o");
    assert_string_equal(res_attr(rm, "k8s.pod.uid"), U2);
    assert_string_equal(res_attr(rm, "k8s.pod.qos_class"), "BestEffort");
    assert_null(res_attr(rm, "host.id")); /* host_id_file "" */
    assert_string_equal(res_attr(rm, "host.name"), "node-1");
    assert_null(find_metric(rm, "container.cpu.limit"));
    assert_null(find_metric(rm, "container.memory.limit"));
    assert_null(find_metric(rm, "container.memory.available"));
    assert_null(find_metric(rm, "container.pids.limit"));
    assert_null(find_metric(rm, "container.disk.io")); /* no device in io.stat */
    assert_int_equal(ival(pt(rm, "container.memory.working_set", "By", false, NULL, NULL)), 0); /* clamped */
    assert_int_equal(ival(pt(rm, "container.pids.count", "{process}", false, NULL, NULL)), 3);
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_ratio", "1", false, "pressure.level", "some")), 0.001);

    /* Docker under the systemd driver, Guaranteed pod */
    rm = find_rm(b, V2_C);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "docker");
    assert_string_equal(res_attr(rm, "k8s.pod.uid"), U3);
    assert_string_equal(res_attr(rm, "k8s.pod.qos_class"), "Guaranteed");
    assert_near(dval(pt(rm, "container.cpu.limit", "{cpu}", false, NULL, NULL)), 2.0);
    assert_int_equal(ival(pt(rm, "container.memory.rss", "By", false, NULL, NULL)), 402653184);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "write", "259:0")), 4);

    /* plain Docker: no Kubernetes attributes */
    rm = find_rm(b, V2_D);
    assert_string_equal(res_attr(rm, "container.id"), D);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "docker");
    assert_null(res_attr(rm, "k8s.pod.uid"));
    assert_null(res_attr(rm, "k8s.pod.qos_class"));

    /* rootless Podman: only the core files exist */
    rm = find_rm(b, V2_F);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "podman");
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")), 40000e-9);
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "system")), 2000e-9);
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 12288);
    assert_int_equal(ival(pt(rm, "container.pids.count", "{process}", false, NULL, NULL)), 2);
    assert_null(find_metric(rm, "container.memory.limit"));
    assert_null(find_metric(rm, "container.memory.oom.events"));
    assert_null(find_metric(rm, "container.cpu.pressure.stall_time"));
    /* cpu.time, memory.usage, pids.count, uptime */
    assert_int_equal(n_metrics(rm), 4);
    vg_batch_unref(b);
    fx_done(&fx);
}

/* ---- v1, hybrid, missing files ---------------------------------------------------------------- */

static void test_v1_cgroupfs(void **state)
{
    (void)state;
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "v1-cgroupfs")), 0);
    cgs_core_t *core = fx_core(&fx, FX "v1-cgroupfs");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    assert_int_equal(res.containers, 3);

    const char *pa = "/kubepods/burstable/pod" U1 "/" A;
    vg_resource_metrics_t *rm = find_rm(b, pa);
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "container.id"), A);
    assert_null(res_attr(rm, "container.runtime.name")); /* a bare id: the runtime is not in the path */
    assert_string_equal(res_attr(rm, "k8s.pod.uid"), U1);
    assert_string_equal(res_attr(rm, "k8s.pod.qos_class"), "Burstable");
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")), 4120 * tick);
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "system")), 1010 * tick);
    assert_int_equal(ival(pt(rm, "container.cpu.throttling_data.periods", "{period}", true, NULL, NULL)), 3000);
    assert_int_equal(ival(pt(rm, "container.cpu.throttling_data.throttled_periods", "{period}", true, NULL, NULL)),
                     250);
    assert_near(dval(pt(rm, "container.cpu.throttling_data.throttled_time", "s", true, NULL, NULL)), 15.0);
    assert_near(dval(pt(rm, "container.cpu.limit", "{cpu}", false, NULL, NULL)), 2.0);
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 136314880);
    assert_int_equal(ival(pt(rm, "container.memory.rss", "By", false, NULL, NULL)), 109051904);
    assert_int_equal(ival(pt(rm, "container.memory.cache", "By", false, NULL, NULL)), 25165824);
    assert_int_equal(ival(pt(rm, "container.memory.working_set", "By", false, NULL, NULL)), 136314880 - 12582912);
    assert_int_equal(ival(pt(rm, "container.memory.swap", "By", false, NULL, NULL)), 140509184 - 136314880);
    assert_int_equal(ival(pt(rm, "container.memory.limit", "By", false, NULL, NULL)), 536870912);
    assert_int_equal(ival(pt(rm, "container.memory.oom.kills", "{process}", true, NULL, NULL)), 3);
    assert_int_equal(ival(pt(rm, "container.memory.limit_hits", "{event}", true, NULL, NULL)), 17);
    assert_null(find_metric(rm, "container.memory.oom.events")); /* v2 only */
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "read", "8:0")), 10485760);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "write", "8:0")), 2097152);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "read", "8:0")), 2560);
    assert_int_equal(ival(pt2(rm, "container.disk.operations", "{operation}", "write", "8:0")), 512);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "read", "8:16")), 4096);
    assert_int_equal(ival(pt(rm, "container.pids.count", "{process}", false, NULL, NULL)), 12);
    assert_int_equal(ival(pt(rm, "container.pids.limit", "{process}", false, NULL, NULL)), 4096);
    assert_null(find_metric(rm, "container.cpu.pressure.stall_time")); /* no PSI on v1 */
    assert_null(find_metric(rm, "container.io.pressure.stall_ratio"));

    /* plain Docker known to memory and cpu,cpuacct only: CPU time without a mode */
    rm = find_rm(b, "/docker/" C);
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "container.runtime.name"), "docker");
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, NULL, NULL)), 5e-9);
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 4096);
    assert_null(find_metric(rm, "container.memory.limit")); /* unlimited */
    vg_batch_unref(b);
    fx_done(&fx);
}

static void test_hybrid(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "hybrid")), 0);
    cgs_core_t *core = fx_core(&fx, FX "hybrid");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    assert_int_equal(res.containers, 2);
    vg_resource_metrics_t *rm = find_rm(b, V2_D);
    assert_non_null(rm);
    /* v1 controllers for CPU and memory, the unified tree for PSI */
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 10485760);
    assert_int_equal(ival(pt(rm, "container.pids.count", "{process}", false, NULL, NULL)), 4);
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_ratio", "1", false, "pressure.level", "some")), 0.02);
    assert_near(dval(pt(rm, "container.cpu.pressure.stall_time", "s", true, "pressure.level", "some")), 200e-6);
    assert_near(dval(pt(rm, "container.io.pressure.stall_ratio", "1", false, "pressure.level", "full")), 0.0025);
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "write", "8:0")), 1024);

    /* known only to memory and the unified tree: CPU time from the unified cpu.stat */
    rm = find_rm(b, "/kubepods/besteffort/pod" U3 "/" J);
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "k8s.pod.qos_class"), "BestEffort");
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")), 0.5);
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "system")), 0.277);
    assert_null(find_metric(rm, "container.cpu.throttling_data.periods"));
    vg_batch_unref(b);
    fx_done(&fx);
}

static void test_missing_empty_files(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "v2-missing")), 0);
    cgs_core_t *core = fx_core(&fx, FX "v2-missing");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    /* K (every file empty) and L (partial) are reported; M has no cgroup.procs: removed, not reported */
    assert_int_equal(res.containers, 2);
    assert_int_equal(res.vanished, 1);
    assert_int_equal(res.tracked, 2);
    assert_int_equal(res.read_errors, 1); /* L's pids.current is a directory */
    vg_resource_metrics_t *rm = find_rm(b, "/system.slice/docker-" K ".scope");
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "container.id"), K);
    assert_null(find_metric(rm, "container.cpu.time"));
    assert_null(find_metric(rm, "container.memory.usage"));
    assert_null(find_metric(rm, "container.disk.io")); /* empty io.stat: no device */
    assert_non_null(find_metric(rm, "container.uptime"));
    assert_int_equal(n_metrics(rm), 1);

    rm = find_rm(b, "/system.slice/docker-" L ".scope");
    assert_non_null(rm);
    assert_near(dval(pt(rm, "container.cpu.time", "s", true, NULL, NULL)), 0.001); /* usage only */
    assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 1048576);
    assert_int_equal(ival(pt(rm, "container.memory.limit", "By", false, NULL, NULL)), 2097152);
    assert_null(find_metric(rm, "container.memory.available")); /* no working set without memory.stat */
    assert_null(find_metric(rm, "container.pids.count"));
    assert_int_equal(ival(pt2(rm, "container.disk.io", "By", "read", "8:16")), 5);
    assert_near(dval(pt(rm, "container.memory.pressure.stall_ratio", "1", false, "pressure.level", "some")), 0.0025);
    assert_near(dval(pt(rm, "container.io.pressure.stall_time", "s", true, "pressure.level", "full")), 2e-6);
    assert_null(find_metric(rm, "container.cpu.pressure.stall_time"));
    vg_batch_unref(b);
    fx_done(&fx);
}

/* ---- trees written by the test ------------------------------------------------------------------ */

static char tmproot[64];

static void wfile(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", tmproot, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void wdir(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", tmproot, rel);
    assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
    char procs[600];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", rel);
    wfile(procs, "");
}

static void set_mtime(const char *rel, uint64_t ns)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", tmproot, rel);
    struct timespec ts[2] = { { (time_t)(ns / S), (long)(ns % S) }, { (time_t)(ns / S), (long)(ns % S) } };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void cpu_stat(const char *dir, unsigned long long usage_us)
{
    char rel[512], text[256];
    snprintf(rel, sizeof rel, "%s/cpu.stat", dir);
    snprintf(text, sizeof text, "usage_usec %llu\nuser_usec %llu\nsystem_usec %llu\n", usage_us, usage_us * 3 / 4,
             usage_us / 4);
    wfile(rel, text);
}

static void rm_tree(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static int tmp_setup(void **state)
{
    (void)state;
    snprintf(tmproot, sizeof tmproot, "/tmp/vigil-cgs-unit.XXXXXX");
    if (!mkdtemp(tmproot))
        return -1;
    wfile("/cgroup.controllers", "cpu io memory pids\n");
    wfile("/cgroup.procs", "");
    wdir("/system.slice");
    return 0;
}

static int tmp_teardown(void **state)
{
    (void)state;
    rm_tree(tmproot);
    return 0;
}

#define X1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define X2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define P1 "/system.slice/docker-" X1 ".scope"
#define P2 "/system.slice/docker-" X2 ".scope"

static void test_counter_reset_and_restart(void **state)
{
    (void)state;
    fx_t fx;
    char yaml[256];
    snprintf(yaml, sizeof yaml, "root: %s\nhost_id_file: \"\"\n", tmproot);
    assert_int_equal(fx_init(&fx, yaml), 0);
    wdir(P1);
    cpu_stat(P1, 5000000);
    cgs_core_t *core = fx_core(&fx, tmproot);
    /* times in the past: setting mtime makes ctime "now", and the older of the two counts */
    uint64_t created = wall_now() - 100 * S;
    uint64_t t0 = fx.now = created + 50 * S;
    set_mtime(P1, created);

    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    vg_resource_metrics_t *rm = find_rm(b, P1);
    point_t *p = pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user");
    assert_near(dval(p), 3.75);
    assert_int_equal(p->start_time_unix_nano, created);
    assert_null(find_metric(rm, "container.cpu.usage"));
    assert_near(dval(pt(rm, "container.uptime", "s", false, NULL, NULL)), 50.0);
    vg_batch_unref(b);

    /* +1 s: 2 s more CPU → 2 CPUs */
    fx.now = t0 + 1 * S;
    cpu_stat(P1, 7000000);
    b = scrape(core, &res);
    rm = find_rm(b, P1);
    assert_near(dval(pt(rm, "container.cpu.usage", "{cpu}", false, NULL, NULL)), 2.0);
    assert_int_equal(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")->start_time_unix_nano, created);
    vg_batch_unref(b);

    /* +2 s: the counter went down (restarted in place): a new series starting at the previous scrape, and the
     * rate counts from zero: 1 s of CPU in 1 s */
    fx.now = t0 + 2 * S;
    cpu_stat(P1, 1000000);
    b = scrape(core, &res);
    assert_int_equal(res.restarts, 0); /* same cgroup inode */
    rm = find_rm(b, P1);
    p = pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user");
    assert_near(dval(p), 0.75);
    assert_int_equal(p->start_time_unix_nano, t0 + 1 * S);
    assert_int_equal(p->time_unix_nano, t0 + 2 * S);
    assert_near(dval(pt(rm, "container.cpu.usage", "{cpu}", false, NULL, NULL)), 1.0);
    vg_batch_unref(b);

    /* +3 s: the container was recreated under the same path (new inode) and its counter is already above the
     * old one: the cgroup id tells, every series restarts at the new cgroup's creation */
    char old[256], cur[256];
    snprintf(old, sizeof old, "%s%s.old", tmproot, P1);
    snprintf(cur, sizeof cur, "%s%s", tmproot, P1);
    assert_int_equal(rename(cur, old), 0);
    wdir(P1);
    cpu_stat(P1, 1500000);
    rm_tree(old);
    uint64_t recreated = t0 + 2 * S + S / 2;
    set_mtime(P1, recreated);
    fx.now = t0 + 3 * S;
    b = scrape(core, &res);
    assert_int_equal(res.restarts, 1);
    assert_int_equal(res.new_containers, 0);
    rm = find_rm(b, P1);
    p = pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user");
    assert_near(dval(p), 1.125);
    assert_int_equal(p->start_time_unix_nano, recreated);
    assert_int_equal(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "system")->start_time_unix_nano, recreated);
    /* 1.5 s of CPU counted since the previous scrape, 1 s ago */
    assert_near(dval(pt(rm, "container.cpu.usage", "{cpu}", false, NULL, NULL)), 1.5);
    assert_near(dval(pt(rm, "container.uptime", "s", false, NULL, NULL)), 0.5);
    vg_batch_unref(b);

    /* +4 s: steady again, start time kept */
    fx.now = t0 + 4 * S;
    cpu_stat(P1, 2000000);
    b = scrape(core, &res);
    rm = find_rm(b, P1);
    assert_int_equal(pt(rm, "container.cpu.time", "s", true, "cpu.mode", "user")->start_time_unix_nano, recreated);
    assert_near(dval(pt(rm, "container.cpu.usage", "{cpu}", false, NULL, NULL)), 0.5);
    vg_batch_unref(b);
    rm_tree(cur);
    fx_done(&fx);
}

static void test_vanish_and_limits(void **state)
{
    (void)state;
    fx_t fx;
    char yaml[256];
    snprintf(yaml, sizeof yaml, "root: %s\nlimits_refresh: 1m\n", tmproot);
    assert_int_equal(fx_init(&fx, yaml), 0);
    wdir(P1);
    wdir(P2);
    cpu_stat(P1, 1000);
    cpu_stat(P2, 2000);
    wfile(P1 "/memory.max", "1048576\n");
    wfile(P1 "/memory.current", "4096\n");
    cgs_core_t *core = fx_core(&fx, tmproot);
    uint64_t t0 = fx.now;
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    assert_int_equal(res.containers, 2);
    assert_int_equal(ival(pt(find_rm(b, P1), "container.memory.limit", "By", false, NULL, NULL)), 1048576);
    vg_batch_unref(b);

    /* the limit changes: read again only after limits_refresh */
    wfile(P1 "/memory.max", "2097152\n");
    fx.now = t0 + 30 * S;
    b = scrape(core, &res);
    assert_int_equal(ival(pt(find_rm(b, P1), "container.memory.limit", "By", false, NULL, NULL)), 1048576);
    vg_batch_unref(b);
    fx.now = t0 + 61 * S;
    b = scrape(core, &res);
    assert_int_equal(ival(pt(find_rm(b, P1), "container.memory.limit", "By", false, NULL, NULL)), 2097152);
    vg_batch_unref(b);

    /* P2 goes away: not reported any more, its state freed */
    char p2[600];
    snprintf(p2, sizeof p2, "%s%s", tmproot, P2);
    rm_tree(p2);
    fx.now = t0 + 62 * S;
    b = scrape(core, &res);
    assert_int_equal(res.containers, 1);
    assert_int_equal(res.vanished, 1);
    assert_int_equal(res.tracked, 1);
    assert_non_null(find_rm(b, P1));
    assert_null(find_rm(b, P2));
    assert_int_equal(req(b)->n_resource_metrics, 1);
    vg_batch_unref(b);

    /* nothing left: no batch at all, both states freed */
    char p1[600];
    snprintf(p1, sizeof p1, "%s%s", tmproot, P1);
    rm_tree(p1);
    fx.now = t0 + 63 * S;
    cgs_scrape(core, &res);
    assert_int_equal(res.rc, 0);
    assert_null(res.batch);
    assert_int_equal(res.vanished, 1);
    assert_int_equal(res.tracked, 0);
    fx_done(&fx);
}

/* ---- options: caps, switches, filters ------------------------------------------------------------ */

static void test_max_containers_and_filters(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\nmax_containers: 2\n"), 0);
    cgs_core_t *core = fx_core(&fx, FX "v2-systemd");
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    assert_int_equal(res.containers, 2);
    assert_int_equal(res.over_limit, 4);
    assert_int_equal(res.tracked, 2);
    assert_int_equal(req(b)->n_resource_metrics, 2);
    vg_batch_unref(b);
    fx_done(&fx);

    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\ninclude: [\"/kubepods.slice/*\"]\n"
                                  "exclude: [\"*/crio-*\"]\ninclude_services: true\n"),
                     0);
    core = fx_core(&fx, FX "v2-systemd");
    b = scrape(core, &res);
    assert_int_equal(res.containers, 3); /* A, E, C */
    assert_non_null(find_rm(b, V2_A));
    assert_non_null(find_rm(b, V2_C));
    assert_null(find_rm(b, V2_B));
    vg_batch_unref(b);
    fx_done(&fx);

    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\ninclude: [\"/system.slice/*\"]\ninclude_services: true\n"),
                     0);
    core = fx_core(&fx, FX "v2-systemd");
    b = scrape(core, &res);
    assert_int_equal(res.containers, 3); /* docker D, sshd.service, containerd.service */
    vg_resource_metrics_t *rm = find_rm(b, "/system.slice/sshd.service");
    assert_non_null(rm);
    assert_string_equal(res_attr(rm, "systemd.unit.name"), "sshd.service");
    assert_null(res_attr(rm, "container.id"));
    vg_batch_unref(b);
    fx_done(&fx);
}

static void test_metric_switches(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\nmetrics:\n"
                                  "  container.cpu.time: { enabled: false }\n"
                                  "  container.disk.io: { enabled: false }\n"
                                  "  container.disk.operations: { enabled: false }\n"
                                  "  container.cpu.pressure.stall_time: { enabled: false }\n"
                                  "  container.cpu.pressure.stall_ratio: { enabled: false }\n"
                                  "  container.memory.pressure.stall_time: { enabled: false }\n"
                                  "  container.memory.pressure.stall_ratio: { enabled: false }\n"
                                  "  container.io.pressure.stall_time: { enabled: false }\n"
                                  "  container.io.pressure.stall_ratio: { enabled: false }\n"
                                  "  container.cpu.limit: { enabled: false }\n"
                                  "  container.memory.limit: { enabled: false }\n"
                                  "  container.memory.available: { enabled: false }\n"
                                  "  container.pids.limit: { enabled: false }\n"),
                     0);
    cgs_core_t *core = fx_core(&fx, FX "v2-systemd");
    /* the files of switched-off groups are not even read */
    assert_int_equal(core->read_mask & (VG_CG_READ_IO | VG_CG_READ_PSI), 0);
    assert_false(core->want_limits);
    cgs_result_t res;
    vg_batch_t *b = scrape(core, &res);
    vg_resource_metrics_t *rm = find_rm(b, V2_A);
    assert_null(find_metric(rm, "container.cpu.time"));
    assert_null(find_metric(rm, "container.disk.io"));
    assert_null(find_metric(rm, "container.io.pressure.stall_time"));
    assert_null(find_metric(rm, "container.memory.limit"));
    assert_non_null(find_metric(rm, "container.memory.usage"));
    assert_non_null(find_metric(rm, "container.cpu.throttling_data.periods"));
    vg_batch_unref(b);
    /* CPU usage still needs the CPU counter across scrapes */
    fx.now += S;
    b = scrape(core, &res);
    assert_non_null(find_metric(find_rm(b, V2_A), "container.cpu.usage"));
    vg_batch_unref(b);
    fx_done(&fx);
}

static void test_option_errors(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: /x\ncollection_interval: 1ms\n"), VG_ECONFIG);
    fx_done(&fx);
    assert_int_equal(fx_init(&fx, "root: /x\nmetrics:\n  container.cpu.tme: { enabled: false }\n"), VG_ECONFIG);
    assert_true(fx.errs.n >= 1);
    assert_non_null(strstr(fx.errs.msgs[0], "did you mean 'container.cpu.time'"));
    fx_done(&fx);
    assert_int_equal(fx_init(&fx, "root: \"\"\n"), VG_ECONFIG);
    fx_done(&fx);
    assert_int_equal(fx_init(&fx, "root: /x\nmax_containers: 0\n"), VG_ECONFIG);
    fx_done(&fx);
    assert_int_equal(fx_init(&fx, "root: /x\ninclude: [\"\"]\n"), VG_ECONFIG);
    fx_done(&fx);
}

/* ---- on a real loop ------------------------------------------------------------------------------- */

static void run_until(fx_t *fx, size_t offered, uint64_t ms)
{
    uint64_t t0 = uv_now(&fx->loop);
    while (fx->cap.offered < offered && uv_now(&fx->loop) - t0 < ms)
        uv_run(&fx->loop, UV_RUN_ONCE);
}

static void test_loop_scrapes(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "v2-systemd") "initial_delay: 0s\nstart_jitter: 0s\n"
                                                          "collection_interval: 20ms\n"),
                     0);
    assert_int_equal(F->start(&fx.comp), 0);
    run_until(&fx, 3, 10000);
    assert_int_equal(fx.cap.n, 3);
    size_t points = 0;
    for (size_t i = 0; i < fx.cap.n; i++) {
        vg_batch_t *b = fx.cap.got[i];
        assert_int_equal(b->signal, VG_SIG_METRICS);
        assert_int_equal(req(b)->n_resource_metrics, 6);
        vg_resource_metrics_t *rm = find_rm(b, V2_A);
        assert_string_equal(res_attr(rm, "host.id"), MACHINE_ID);
        assert_string_equal(res_attr(rm, "host.name"), "node-1");
        assert_int_equal(ival(pt(rm, "container.memory.usage", "By", false, NULL, NULL)), 209715200);
        points += b->items;
    }
    /* a start time that survives across scrapes */
    uint64_t s0 = pt(find_rm(fx.cap.got[0], V2_A), "container.cpu.time", "s", true, "cpu.mode", "user")
                      ->start_time_unix_nano;
    assert_int_equal(pt(find_rm(fx.cap.got[2], V2_A), "container.cpu.time", "s", true, "cpu.mode", "user")
                         ->start_time_unix_nano,
                     s0);
    assert_non_null(find_metric(find_rm(fx.cap.got[2], V2_A), "container.cpu.usage"));
    assert_int_equal(fx.comp.stats.accepted[VG_SIG_METRICS], points);
    assert_int_equal(fx.comp.stats.refused[VG_SIG_METRICS], 0);

    /* self-telemetry */
    vg_telemetry_t *t = vg_tm_new();
    assert_non_null(t);
    F->telemetry(&fx.comp, t);
    size_t len;
    char *text = vg_tm_render(t, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "vigil_receiver_cgroupstats_scrapes{receiver=\"cgroupstats/test\"} 3"));
    assert_non_null(strstr(text, "vigil_receiver_cgroupstats_containers{receiver=\"cgroupstats/test\"} 6"));
    assert_non_null(strstr(text, "vigil_receiver_cgroupstats_containers_vanished{receiver=\"cgroupstats/test\"} 0"));
    assert_non_null(strstr(text, "vigil_receiver_cgroupstats_scrape_duration_seconds{"));
    assert_non_null(strstr(text, "vigil_receiver_cgroupstats_read_errors{"));
    vg_free(text);
    vg_tm_free(t);
    fx_done(&fx);
}

static void test_loop_refused(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\ninitial_delay: 0s\nstart_jitter: 0s\n"
                                  "collection_interval: 10ms\n"),
                     0);
    fx.cap.refuse = 1;
    assert_int_equal(F->start(&fx.comp), 0);
    run_until(&fx, 4, 10000);
    assert_true(fx.cap.offered >= 4);
    assert_int_equal(fx.cap.n, 0);
    /* every refused scrape was counted and dropped: nothing is held */
    assert_int_equal(fx.comp.stats.accepted[VG_SIG_METRICS], 0);
    assert_true(fx.comp.stats.refused[VG_SIG_METRICS] >= 4 * 6 * 20);
    /* the pipeline takes data again: the next scrape goes through */
    fx.cap.refuse = 0;
    size_t before = fx.cap.offered;
    run_until(&fx, before + 1, 10000);
    assert_int_equal(fx.cap.n, 1);
    assert_true(fx.comp.stats.accepted[VG_SIG_METRICS] > 0);
    fx_done(&fx);
}

static void test_bad_roots(void **state)
{
    (void)state;
    fx_t fx;
    /* a root that does not exist: a clear error at start */
    assert_int_equal(fx_init(&fx, "root: /nonexistent/cgroup\n"), 0);
    assert_int_equal(F->start(&fx.comp), VG_ENOTFOUND);
    assert_false(F->busy(&fx.comp));
    fx_done(&fx);
    /* a directory that is not a cgroup filesystem */
    assert_int_equal(fx_init(&fx, "root: " FX "proc\n"), 0);
    assert_int_equal(F->start(&fx.comp), VG_ENOTFOUND);
    fx_done(&fx);
    /* a file */
    assert_int_equal(fx_init(&fx, "root: ../fixtures/cgroupstats/machine-id\n"), 0);
    assert_int_equal(F->start(&fx.comp), VG_ENOTFOUND);
    fx_done(&fx);
    /* scraping without a root is refused, not a crash */
    assert_int_equal(fx_init(&fx, "root: /nonexistent\n"), 0);
    cgs_result_t res;
    cgs_scrape(cgs_component_core(&fx.comp), &res);
    assert_int_equal(res.rc, VG_ESTATE);
    assert_null(res.batch);
    fx_done(&fx);
}

/* Destroyed with a scrape in flight (drain deadline passed on reload): the job
 * frees itself when the thread pool hands it back. ASan checks the rest. */
static void test_destroy_in_flight(void **state)
{
    (void)state;
    fx_t fx;
    assert_int_equal(fx_init(&fx, "root: " FX "v2-systemd\ninitial_delay: 0s\nstart_jitter: 0s\n"
                                  "collection_interval: 10ms\n"),
                     0);
    assert_int_equal(F->start(&fx.comp), 0);
    uint64_t t0 = uv_now(&fx.loop);
    while (!cgs_component_in_flight(&fx.comp) && uv_now(&fx.loop) - t0 < 2000)
        uv_run(&fx.loop, UV_RUN_NOWAIT); /* the timer fires and queues the scrape */
    assert_true(cgs_component_in_flight(&fx.comp));
    F->shutdown(&fx.comp);
    /* not waiting for busy() to clear */
    F->destroy(&fx.comp);
    fx.created = false;
    size_t offered = fx.cap.offered;
    uv_run(&fx.loop, UV_RUN_DEFAULT); /* the timer's close and the work's completion */
    assert_int_equal(fx.cap.offered, offered); /* the orphaned scrape is not sent */
    fx_done(&fx);
}

static void test_failmalloc(void **state)
{
    (void)state;
    /* create: every allocation failing in turn */
    for (long n = 1; n < 60; n++) {
        fx_t fx;
        memset(&fx, 0, sizeof fx);
        assert_int_equal(uv_loop_init(&fx.loop), 0);
        vg_errs_init(&fx.errs);
        const char *yaml = "root: " FX "v2-systemd\ninclude: [\"/*\", \"/x*\"]\nexclude: [\"/y\"]\n";
        assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &fx.doc, &fx.errs), 0);
        fx.comp.f = F;
        fx.comp.id = "cgroupstats";
        fx.comp.loop = &fx.loop;
        fx.comp.cfg = vg_calloc(1, F->config_size);
        assert_int_equal(vg_options_parse(F->options, fx.comp.cfg, fx.doc->root, "r", &fx.errs), 0);
        vg_mem_fail_after(n);
        int rc = F->create(&fx.comp);
        vg_mem_fail_reset();
        fx.created = rc == 0;
        if (rc)
            assert_int_equal(rc, VG_ENOMEM);
        fx_done(&fx);
        if (rc == 0)
            break;
    }
    /* a scrape: every allocation failing in turn gives an error or a whole batch, never a crash, a leak or a
     * half-built resource; the state survives and the next scrape is complete */
    fx_t fx;
    assert_int_equal(fx_init(&fx, YAML_FX(FX "v2-systemd")), 0);
    cgs_core_t *core = fx_core(&fx, FX "v2-systemd");
    bool passed = false;
    for (long n = 1; n < 20000 && !passed; n++) {
        cgs_result_t res;
        fx.now += S;
        vg_mem_fail_after(n);
        cgs_scrape(core, &res);
        vg_mem_fail_reset();
        if (res.rc == 0) {
            assert_non_null(res.batch);
            assert_int_equal(req(res.batch)->n_resource_metrics, 6);
            passed = true;
        } else {
            assert_int_equal(res.rc, VG_ENOMEM);
            assert_null(res.batch);
        }
        vg_batch_unref(res.batch);
    }
    assert_true(passed);
    cgs_result_t res;
    fx.now += S;
    vg_batch_t *b = scrape(core, &res);
    assert_int_equal(res.containers, 6);
    assert_int_equal(res.tracked, 6);
    assert_non_null(find_metric(find_rm(b, V2_A), "container.cpu.usage"));
    vg_batch_unref(b);
    fx_done(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_containerd_exact),
        cmocka_unit_test(test_v2_other_runtimes),
        cmocka_unit_test(test_v1_cgroupfs),
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_missing_empty_files),
        cmocka_unit_test_setup_teardown(test_counter_reset_and_restart, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_vanish_and_limits, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_max_containers_and_filters),
        cmocka_unit_test(test_metric_switches),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_loop_scrapes),
        cmocka_unit_test(test_loop_refused),
        cmocka_unit_test(test_bad_roots),
        cmocka_unit_test(test_destroy_in_flight),
        cmocka_unit_test(test_failmalloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
