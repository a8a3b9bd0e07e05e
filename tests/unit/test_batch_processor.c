/* batch processor: size trigger, timeout trigger, max-size split (also inside
 * one metric), flush on shutdown, back-pressure when the next consumer refuses,
 * and failing every allocation in turn. Runs the real factory on a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "component.h"
#include "error.h"
#include "mem.h"
#include "otlp_build.h"
#include "otlp_json.h"

extern const vg_factory_t vg_batch_processor_factory;

typedef struct {
    vg_consumer_t base;
    vg_batch_t *got[64];
    size_t n;
    int refuse; /* return VG_EREFUSED while set */
    long next_seq_seen;
} capture_t;

static int capture_consume(vg_consumer_t *self, vg_batch_t *b)
{
    capture_t *c = (capture_t *)self;
    if (c->refuse) { vg_batch_unref(b); return VG_EREFUSED; }
    assert_true(c->n < 64);
    c->got[c->n++] = b;
    return 0;
}

typedef struct {
    uv_loop_t loop;
    capture_t cap;
    vg_component_t comp;
    vg_ydoc_t *doc;
    vg_errs_t errs;
} fixture_t;

static int comp_consume(vg_consumer_t *self, vg_batch_t *b)
{
    vg_component_t *c = self->ud;
    return c->f->consume(c, b);
}

static void setup_proc(fixture_t *fx, const char *yaml)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cap.base.consume = capture_consume;
    vg_errs_init(&fx->errs);
    assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &fx->doc, &fx->errs), 0);
    fx->comp.f = &vg_batch_processor_factory;
    fx->comp.id = "batch";
    fx->comp.loop = &fx->loop;
    fx->comp.in.consume = comp_consume;
    fx->comp.in.ud = &fx->comp;
    fx->comp.cfg = vg_calloc(1, vg_batch_processor_factory.config_size);
    assert_int_equal(vg_options_parse(vg_batch_processor_factory.options, fx->comp.cfg, fx->doc->root, "batch",
                                      &fx->errs), 0);
    for (int s = 0; s < VG_SIG_COUNT; s++) fx->comp.next[s] = &fx->cap.base;
    assert_int_equal(fx->comp.f->create(&fx->comp), 0);
    assert_int_equal(fx->comp.f->start(&fx->comp), 0);
}

static void teardown_proc(fixture_t *fx)
{
    fx->comp.f->shutdown(&fx->comp);
    for (int i = 0; i < 1000 && fx->comp.f->busy(&fx->comp); i++) uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_false(fx->comp.f->busy(&fx->comp));
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    fx->comp.f->destroy(&fx->comp);
    for (size_t i = 0; i < fx->cap.n; i++) vg_batch_unref(fx->cap.got[i]);
    vg_options_free(vg_batch_processor_factory.options, fx->comp.cfg);
    vg_free(fx->comp.cfg);
    vg_ydoc_free(fx->doc);
    vg_errs_free(&fx->errs);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* no handle left behind */
}

/* A logs batch of n records with bodies "seq-<first+i>", in two resources. */
static vg_batch_t *logs_batch(int first, int n)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_LOGS);
    assert_non_null(b);
    vg_scope_logs_t *sl = NULL;
    for (int i = 0; i < n; i++) {
        if (i == 0 || i == n / 2) {
            vg_resource_logs_t *rl = vg_build_resource_logs(b);
            assert_non_null(rl);
            assert_int_equal(vg_build_attr_int(b->arena, &rl->resource->attributes, &rl->resource->n_attributes,
                                               "res", i == 0 ? 0 : 1), 0);
            sl = vg_build_scope_logs(b, rl, "test", "1");
            assert_non_null(sl);
        }
        vg_log_record_t *r = vg_build_log_record(b, sl);
        char body[32];
        snprintf(body, sizeof body, "seq-%d", first + i);
        r->body = vg_build_value_str(b->arena, body, strlen(body));
        assert_non_null(r->body);
    }
    vg_batch_recount(b);
    assert_int_equal(b->items, (size_t)n);
    return b;
}

/* Checks the captured batches hold seq-<from>.. in order, and their sizes. */
static void check_sequence(capture_t *cap, int from, int total, const size_t *sizes, size_t nsizes)
{
    int want = from;
    assert_int_equal(cap->n, nsizes);
    for (size_t k = 0; k < cap->n; k++) {
        vg_batch_t *b = cap->got[k];
        assert_int_equal(b->items, sizes[k]);
        assert_int_equal(vg_otlp_count_items(VG_SIG_LOGS, vg_batch_req(b)), sizes[k]);
        vg_logs_req_t *r = (vg_logs_req_t *)vg_batch_req(b);
        for (size_t i = 0; i < r->n_resource_logs; i++)
            for (size_t j = 0; j < r->resource_logs[i]->n_scope_logs; j++) {
                vg_scope_logs_t *sl = r->resource_logs[i]->scope_logs[j];
                assert_string_equal(sl->scope->name, "test");
                for (size_t l = 0; l < sl->n_log_records; l++) {
                    char body[32];
                    snprintf(body, sizeof body, "seq-%d", want++);
                    assert_string_equal(sl->log_records[l]->body->string_value, body);
                }
            }
    }
    assert_int_equal(want, from + total);
}

static void test_size_trigger(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 10\ntimeout: 10s\n");
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(0, 4)), 0);
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(4, 4)), 0);
    assert_int_equal(fx.cap.n, 0);
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(8, 4)), 0); /* 12 >= 10: all 12 go (no max) */
    size_t sizes[] = { 12 };
    check_sequence(&fx.cap, 0, 12, sizes, 1);
    teardown_proc(&fx);
}

/* The same records in wire form, as the otlp receiver makes them. */
static vg_batch_t *wire_logs(int first, int n)
{
    vg_batch_t *s = logs_batch(first, n);
    size_t len = protobuf_c_message_get_packed_size(vg_batch_req(s));
    vg_arena_t *a = vg_arena_new();
    uint8_t *bytes = vg_arena_alloc(a, len + 1);
    assert_non_null(bytes);
    protobuf_c_message_pack(vg_batch_req(s), bytes);
    vg_batch_unref(s);
    vg_batch_t *b = vg_batch_wrap_wire(VG_SIG_LOGS, a, bytes, len, (size_t)n, 1 << 20);
    assert_non_null(b);
    return b;
}

/* Whole inputs in wire form go out as their segments, never decoded. */
static void test_wire_inputs_stay_wire(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 10\ntimeout: 10s\n");
    vg_batch_t *in[3];
    for (int i = 0; i < 3; i++) {
        in[i] = wire_logs(4 * i, 4);
        assert_int_equal(vg_consume(&fx.comp.in, vg_batch_ref(in[i])), 0);
    }
    assert_int_equal(fx.cap.n, 1);
    vg_batch_t *out = fx.cap.got[0];
    assert_true(vg_batch_has_wire(out));
    assert_int_equal(out->nwire, 3);
    assert_int_equal(out->items, 12);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(out->wire[i].data, in[i]->wire[0].data); /* zero copy */
        assert_true(vg_batch_has_wire(in[i]));
        vg_batch_unref(in[i]);
    }
    size_t sizes[] = { 12 };
    check_sequence(&fx.cap, 0, 12, sizes, 1); /* decodes: records in order */
    teardown_proc(&fx);
}

/* Under a max size, whole wire requests that fit go out as they are (fewer
 * items than the max is fine: it is an upper bound); a request larger than
 * the max is split through its message; an input that is already decoded
 * makes the output built from messages. Contents and order are kept. */
static void test_wire_inputs_split_or_mixed(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 10\nsend_batch_max_size: 5\ntimeout: 10s\n");
    for (int i = 0; i < 3; i++) assert_int_equal(vg_consume(&fx.comp.in, wire_logs(4 * i, 4)), 0);
    fx.comp.f->shutdown(&fx.comp);
    size_t whole[] = { 4, 4, 4 };
    check_sequence(&fx.cap, 0, 12, whole, 3);
    for (size_t k = 0; k < fx.cap.n; k++) assert_true(vg_batch_has_wire(fx.cap.got[k]));
    teardown_proc(&fx);

    setup_proc(&fx, "send_batch_size: 10\nsend_batch_max_size: 5\ntimeout: 10s\n");
    assert_int_equal(vg_consume(&fx.comp.in, wire_logs(0, 12)), 0);
    fx.comp.f->shutdown(&fx.comp);
    size_t split[] = { 5, 5, 2 };
    check_sequence(&fx.cap, 0, 12, split, 3);
    for (size_t k = 0; k < fx.cap.n; k++) assert_false(vg_batch_has_wire(fx.cap.got[k]));
    teardown_proc(&fx);

    setup_proc(&fx, "send_batch_size: 8\ntimeout: 10s\n");
    assert_int_equal(vg_consume(&fx.comp.in, wire_logs(0, 4)), 0);
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(4, 4)), 0);
    size_t one[] = { 8 };
    check_sequence(&fx.cap, 0, 8, one, 1);
    assert_false(vg_batch_has_wire(fx.cap.got[0]));
    teardown_proc(&fx);
}

/* Bytes that passed no check (the receiver's check should never let such a
 * request in): when a split needs them decoded, they are dropped and counted,
 * and the queue goes on instead of failing for ever. */
static void test_undecodable_input_dropped(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 6\nsend_batch_max_size: 3\ntimeout: 10s\n");
    vg_arena_t *a = vg_arena_new();
    static const uint8_t junk[] = { 0x0a, 0x05, 0x12, 0x09 }; /* resource_logs of 5 bytes, 2 there */
    vg_batch_t *bad = vg_batch_wrap_wire(VG_SIG_LOGS, a, junk, sizeof junk, 2, 1 << 20);
    assert_int_equal(vg_consume(&fx.comp.in, wire_logs(0, 4)), 0);
    assert_int_equal(vg_consume(&fx.comp.in, bad), 0);
    fx.comp.f->shutdown(&fx.comp);
    size_t sizes[] = { 3, 1 };
    check_sequence(&fx.cap, 0, 4, sizes, 2);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_LOGS], 2);
    teardown_proc(&fx);
}

static void test_max_size_split(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 10s\n");
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(0, 25)), 0);
    size_t two[] = { 10, 10 };
    check_sequence(&fx.cap, 0, 20, two, 2);
    /* the 5 left go at shutdown */
    fx.comp.f->shutdown(&fx.comp);
    size_t three[] = { 10, 10, 5 };
    check_sequence(&fx.cap, 0, 25, three, 3);
    teardown_proc(&fx);
}

static void test_timeout_trigger(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 1000\ntimeout: 30ms\n");
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(0, 3)), 0);
    uint64_t t0 = uv_now(&fx.loop);
    while (fx.cap.n == 0 && uv_now(&fx.loop) - t0 < 2000) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_true(uv_now(&fx.loop) - t0 >= 25);
    size_t one[] = { 3 };
    check_sequence(&fx.cap, 0, 3, one, 1);
    teardown_proc(&fx);
}

static void test_flush_on_shutdown(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "timeout: 1h\n");
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(0, 7)), 0);
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(7, 2)), 0);
    assert_int_equal(fx.cap.n, 0);
    fx.comp.f->shutdown(&fx.comp);
    size_t one[] = { 9 };
    check_sequence(&fx.cap, 0, 9, one, 1);
    /* after shutdown new data is refused */
    assert_int_not_equal(vg_consume(&fx.comp.in, logs_batch(9, 1)), 0);
    teardown_proc(&fx);
}

static void test_backpressure(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 5\ntimeout: 10s\n");
    fx.cap.refuse = 1;
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(0, 6)), 0); /* accepted; output refused and held */
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(6, 3)), VG_EREFUSED);
    assert_int_equal(fx.comp.stats.refused[VG_SIG_LOGS], 6 + 3);
    /* downstream recovers: the held batch is retried, nothing lost or duplicated */
    fx.cap.refuse = 0;
    uint64_t t0 = uv_now(&fx.loop);
    while (fx.cap.n == 0 && uv_now(&fx.loop) - t0 < 2000) uv_run(&fx.loop, UV_RUN_ONCE);
    size_t one[] = { 6 };
    check_sequence(&fx.cap, 0, 6, one, 1);
    assert_int_equal(vg_consume(&fx.comp.in, logs_batch(6, 3)), 0); /* the sender's retry */
    fx.comp.f->shutdown(&fx.comp);
    size_t two[] = { 6, 3 };
    check_sequence(&fx.cap, 0, 9, two, 2);
    teardown_proc(&fx);
}

static void test_metric_split_inside_metric(void **state)
{
    (void)state;
    fixture_t fx;
    setup_proc(&fx, "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 10s\n");
    vg_batch_t *b = vg_batch_new(VG_SIG_METRICS);
    vg_resource_metrics_t *rm = vg_build_resource_metrics(b);
    vg_scope_metrics_t *sm = vg_build_scope_metrics(b, rm, "s", NULL);
    vg_metric_t *m = vg_build_metric(b, sm, "m", NULL, "1", VG_METRIC_SUM_CUMULATIVE, true);
    for (int i = 0; i < 25; i++) assert_non_null(vg_build_point_int(b, m, 1, 100 + (uint64_t)i, i));
    vg_batch_recount(b);
    assert_int_equal(b->items, 25);
    assert_int_equal(vg_consume(&fx.comp.in, b), 0);
    fx.comp.f->shutdown(&fx.comp);
    assert_int_equal(fx.cap.n, 3);
    int64_t want = 0;
    for (size_t k = 0; k < 3; k++) {
        vg_metrics_req_t *r = (vg_metrics_req_t *)vg_batch_req(fx.cap.got[k]);
        assert_int_equal(r->n_resource_metrics, 1);
        vg_metric_t *om = r->resource_metrics[0]->scope_metrics[0]->metrics[0];
        assert_string_equal(om->name, "m");
        assert_true(om->sum->is_monotonic);
        for (size_t p = 0; p < om->sum->n_data_points; p++) assert_int_equal(om->sum->data_points[p]->as_int, want++);
    }
    assert_int_equal(want, 25);
    /* the input's metric was not changed by the split */
    teardown_proc(&fx);
}

static void test_failmalloc(void **state)
{
    (void)state;
    /* Fail the n-th allocation of a consume + flush cycle, for every n: errors, no crash, no leak.
     * Inputs decoded or in wire form; outputs split (decoding) or merged whole (wire). */
    static const char *const cfgs[] = { "send_batch_size: 4\nsend_batch_max_size: 4\ntimeout: 10s\n",
                                        "send_batch_size: 4\ntimeout: 10s\n" };
    for (int mode = 0; mode < 4; mode++)
    for (long n = 1; n < 400; n++) {
        fixture_t fx;
        setup_proc(&fx, cfgs[mode & 1]);
        bool wire = mode >= 2;
        vg_batch_t *a = wire ? wire_logs(0, 6) : logs_batch(0, 6), *b = wire ? wire_logs(6, 5) : logs_batch(6, 5);
        vg_mem_fail_after(n);
        int r1 = vg_consume(&fx.comp.in, a);
        int r2 = vg_consume(&fx.comp.in, b);
        vg_mem_fail_reset();
        /* Whatever was accepted must come out exactly once once memory is back. */
        fx.comp.f->shutdown(&fx.comp);
        size_t delivered = 0;
        for (size_t k = 0; k < fx.cap.n; k++) delivered += vg_otlp_count_items(VG_SIG_LOGS, vg_batch_req(fx.cap.got[k]));
        size_t accepted = (r1 == 0 ? 6u : 0u) + (r2 == 0 ? 5u : 0u);
        assert_int_equal(fx.comp.stats.accepted[VG_SIG_LOGS], accepted);
        assert_int_equal(delivered, accepted);
        teardown_proc(&fx);
    }
}

static void test_batch_failmalloc(void **state)
{
    (void)state;
    vg_batch_t *src = logs_batch(0, 20);
    for (long n = 1; n < 200; n++) {
        vg_mem_fail_after(n);
        vg_batch_t *b = vg_batch_new(VG_SIG_TRACES);
        vg_batch_t *c = vg_batch_clone(src);
        int d = b ? vg_batch_depend(b, src) : VG_ENOMEM;
        vg_arena_t *a = vg_arena_new();
        void *big = a ? vg_arena_alloc(a, 3u << 20) : NULL;
        vg_mem_fail_reset();
        if (c) assert_int_equal(c->items, 20);
        (void)d;
        (void)big;
        vg_batch_unref(b);
        vg_batch_unref(c);
        vg_arena_destroy(a);
    }
    assert_int_equal(src->refs, 1);
    vg_batch_unref(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_trigger),
        cmocka_unit_test(test_max_size_split),
        cmocka_unit_test(test_wire_inputs_stay_wire),
        cmocka_unit_test(test_wire_inputs_split_or_mixed),
        cmocka_unit_test(test_undecodable_input_dropped),
        cmocka_unit_test(test_timeout_trigger),
        cmocka_unit_test(test_flush_on_shutdown),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_metric_split_inside_metric),
        cmocka_unit_test(test_failmalloc),
        cmocka_unit_test(test_batch_failmalloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
