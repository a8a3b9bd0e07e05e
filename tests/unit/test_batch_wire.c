/* Batches in wire form (collector/batch.h): what the otlp receiver makes of a
 * protobuf request (checked, items counted, not unpacked), decoding on demand
 * into the same message, several segments decoding as one request, copies
 * that share the bytes, writers dropping the wire form, and decoding that
 * runs out of memory at every allocation in turn. Requests come from the
 * fixtures in tests/data/otlp (all three signals, every value type). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/arena.h"
#include "collector/batch.h"
#include "collector/error.h"
#include "collector/mem.h"
#include "collector/otlp.h"
#include "collector/otlp_build.h"
#include "collector/otlp_json.h"
#include "receivers/otlp/otlp_int.h"

typedef struct {
    uint8_t *bytes;
    size_t len, items;
} req_t;

/* Line `idx` of the signal's fixture, packed; false when there is no such line. */
static bool fixture(vg_signal_t sig, int idx, req_t *out)
{
    const char *files[VG_SIG_COUNT] = { "traces.jsonl", "metrics.jsonl", "logs.jsonl" };
    const char *src = getenv("VIGIL_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/otlp/%s", src ? src : "../..", files[sig]);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = 0;
    for (int i = 0; i <= idx; i++)
        if ((len = getline(&line, &cap, f)) <= 1) break;
    fclose(f);
    bool ok = len > 1;
    if (ok) {
        vg_arena_t *a = vg_arena_new();
        ProtobufCMessage *m;
        char err[256];
        assert_int_equal(vg_otlp_json_decode(sig, line, (size_t)len, a, &m, err, sizeof err), 0);
        out->len = protobuf_c_message_get_packed_size(m);
        out->bytes = malloc(out->len + 1);
        protobuf_c_message_pack(m, out->bytes);
        out->items = vg_otlp_count_items(sig, m);
        vg_arena_destroy(a);
    }
    free(line);
    return ok;
}

static vg_batch_t *received(vg_signal_t sig, const req_t *r)
{
    vg_batch_t *b = NULL;
    char err[256];
    assert_int_equal(otlp_decode_batch(sig, OTLP_ENC_PROTO, r->bytes, r->len, &b, err, sizeof err), 0);
    assert_non_null(b);
    return b;
}

static void assert_packs_to(const ProtobufCMessage *m, const uint8_t *want, size_t n)
{
    assert_non_null(m);
    size_t len = protobuf_c_message_get_packed_size(m);
    assert_int_equal(len, n);
    uint8_t *got = malloc(len + 1);
    protobuf_c_message_pack(m, got);
    assert_memory_equal(got, want, n);
    free(got);
}

/* Every fixture request: the receiver keeps the bytes, counts what the
 * Collector counts, and decoding gives back exactly the request. */
static void test_received_is_wire(void **state)
{
    (void)state;
    int n = 0;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        req_t r;
        for (int i = 0; fixture((vg_signal_t)s, i, &r); i++, n++) {
            vg_batch_t *b = received((vg_signal_t)s, &r);
            assert_true(vg_batch_has_wire(b));
            assert_int_equal(b->nwire, 1);
            assert_int_equal(b->wire_len, r.len);
            assert_int_equal(b->items, r.items);
            assert_memory_equal(b->wire[0].data, r.bytes, r.len);
            assert_packs_to(vg_batch_req(b), r.bytes, r.len);
            assert_true(vg_batch_has_wire(b)); /* reading keeps the wire form */
            assert_int_equal(b->items, vg_otlp_count_items((vg_signal_t)s, vg_batch_req(b)));
            vg_batch_unref(b);
            free(r.bytes);
        }
    }
    assert_true(n >= 6);
}

/* Segments of several requests decode as one request holding all their
 * resources, in order; the merged batch keeps its inputs alive. */
static void test_concat_decodes_as_one(void **state)
{
    (void)state;
    for (int s = 0; s < VG_SIG_COUNT; s++) {
        req_t r[3];
        int n = 0;
        while (n < 3 && fixture((vg_signal_t)s, n, &r[n])) n++;
        assert_true(n >= 2);
        vg_batch_t *out = vg_batch_new_wire((vg_signal_t)s);
        assert_non_null(out);
        assert_int_equal(out->items, 0);
        size_t total = 0, items = 0;
        for (int i = 0; i < n; i++) {
            vg_batch_t *in = received((vg_signal_t)s, &r[i]);
            assert_int_equal(vg_batch_concat(out, in), 0);
            vg_batch_unref(in);
            total += r[i].len;
            items += r[i].items;
        }
        assert_int_equal(out->nwire, (size_t)n);
        assert_int_equal(out->wire_len, total);
        assert_int_equal(out->items, items);
        uint8_t *all = malloc(total);
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            memcpy(all + off, r[i].bytes, r[i].len);
            off += r[i].len;
            free(r[i].bytes);
        }
        /* protobuf-c packs fields in order: the merged request packs to the concatenation */
        assert_packs_to(vg_batch_req(out), all, total);
        assert_int_equal(vg_otlp_count_items((vg_signal_t)s, vg_batch_req(out)), items);
        free(all);
        vg_batch_unref(out);
    }
}

/* A copy shares the bytes; writing it decodes into the copy and drops its
 * wire form, and the original is untouched. */
static void test_clone_then_write(void **state)
{
    (void)state;
    req_t r;
    assert_true(fixture(VG_SIG_LOGS, 0, &r));
    vg_batch_t *orig = received(VG_SIG_LOGS, &r);
    orig->peer.family = 1;
    orig->peer.pid = 42;
    vg_batch_t *copy = vg_batch_clone(orig);
    assert_non_null(copy);
    assert_true(vg_batch_has_wire(copy));
    assert_int_equal(copy->items, orig->items);
    assert_int_equal(copy->peer.pid, 42);
    vg_logs_req_t *w = (vg_logs_req_t *)vg_batch_writable(copy);
    assert_non_null(w);
    assert_false(vg_batch_has_wire(copy));
    vg_resource_t *res = w->resource_logs[0]->resource;
    assert_int_equal(vg_build_attr_int(copy->arena, &res->attributes, &res->n_attributes, "added", 1), 0);
    assert_true(vg_batch_has_wire(orig));
    assert_packs_to(vg_batch_req(orig), r.bytes, r.len);
    assert_true(protobuf_c_message_get_packed_size(vg_batch_req(copy)) > r.len);
    vg_batch_unref(orig); /* the copy keeps the bytes it may still need */
    assert_int_equal(vg_otlp_count_items(VG_SIG_LOGS, vg_batch_req(copy)), r.items);
    vg_batch_unref(copy);
    free(r.bytes);
}

/* Fan-out with two mutating pipelines: the first gets a copy and keeps it
 * (e.g. in its batch processor), the last gets the original and writes it.
 * The copy must not hold a reference that makes the original look shared
 * (it did: vg_batch_writable aborted the collector). */
static void test_clone_kept_original_written(void **state)
{
    (void)state;
    req_t r;
    assert_true(fixture(VG_SIG_TRACES, 0, &r));
    vg_batch_t *orig = received(VG_SIG_TRACES, &r);
    vg_batch_t *copy = vg_batch_clone(orig);
    assert_non_null(copy);
    assert_non_null(vg_batch_writable(copy));
    assert_int_equal(orig->refs, 1);
    assert_non_null(vg_batch_writable(orig)); /* no abort */
    vg_batch_unref(orig);
    assert_packs_to(vg_batch_req(copy), r.bytes, r.len); /* the copy owns its bytes */
    vg_batch_unref(copy);
    /* an empty wire batch copies into an empty request */
    vg_batch_t *e = vg_batch_new_wire(VG_SIG_LOGS), *ec = vg_batch_clone(e);
    assert_non_null(ec);
    assert_non_null(vg_batch_req(ec));
    assert_int_equal(vg_otlp_count_items(VG_SIG_LOGS, vg_batch_req(ec)), 0);
    vg_batch_unref(e);
    vg_batch_unref(ec);
    free(r.bytes);
}

/* Decoding may run out of memory at any allocation: NULL, the batch still in
 * wire form and decodable later; nothing leaks (ASan). */
static void test_decode_out_of_memory(void **state)
{
    (void)state;
    req_t r[2];
    assert_true(fixture(VG_SIG_METRICS, 0, &r[0]));
    assert_true(fixture(VG_SIG_METRICS, 1, &r[1]));
    bool done = false;
    for (long k = 1; k < 100000 && !done; k++) {
        vg_batch_t *out = vg_batch_new_wire(VG_SIG_METRICS);
        for (int i = 0; i < 2; i++) {
            vg_batch_t *in = received(VG_SIG_METRICS, &r[i]);
            assert_int_equal(vg_batch_concat(out, in), 0);
            vg_batch_unref(in);
        }
        vg_mem_fail_after(k);
        ProtobufCMessage *m = vg_batch_req(out);
        vg_mem_fail_reset();
        if (m) {
            done = true;
        } else {
            assert_true(vg_batch_has_wire(out));
            m = vg_batch_req(out); /* memory is back: it decodes */
            assert_non_null(m);
        }
        assert_int_equal(vg_otlp_count_items(VG_SIG_METRICS, m), r[0].items + r[1].items);
        vg_batch_unref(out);
    }
    assert_true(done);
    free(r[0].bytes);
    free(r[1].bytes);
}

/* What the receiver refuses never becomes a batch. */
static void test_bad_bytes_make_no_batch(void **state)
{
    (void)state;
    req_t r;
    assert_true(fixture(VG_SIG_TRACES, 0, &r));
    vg_batch_t *b = NULL;
    char err[256];
    assert_int_equal(otlp_decode_batch(VG_SIG_TRACES, OTLP_ENC_PROTO, r.bytes, r.len - 1, &b, err, sizeof err),
                     VG_EPARSE);
    assert_null(b);
    assert_non_null(strstr(err, "invalid protobuf"));
    /* an empty body is an empty request */
    assert_int_equal(otlp_decode_batch(VG_SIG_TRACES, OTLP_ENC_PROTO, NULL, 0, &b, err, sizeof err), 0);
    assert_int_equal(b->items, 0);
    assert_non_null(vg_batch_req(b));
    vg_batch_unref(b);
    free(r.bytes);
}

/* Bytes that cannot be decoded: NULL with a permanent, remembered error. */
static void test_undecodable_is_permanent(void **state)
{
    (void)state;
    static const uint8_t junk[] = { 0x0a, 0x05, 0x12, 0x09 };
    vg_batch_t *b = vg_batch_wrap_wire(VG_SIG_TRACES, vg_arena_new(), junk, sizeof junk, 1, 1 << 20);
    assert_non_null(b);
    assert_null(vg_batch_req(b));
    assert_int_equal(vg_batch_err(b), VG_EPARSE);
    long before = vg_mem_alloc_count();
    assert_null(vg_batch_req(b)); /* not tried again */
    assert_int_equal(vg_mem_alloc_count(), before);
    assert_null(vg_batch_writable(b));
    assert_true(vg_batch_has_wire(b));
    vg_batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_received_is_wire),
        cmocka_unit_test(test_concat_decodes_as_one),
        cmocka_unit_test(test_clone_then_write),
        cmocka_unit_test(test_clone_kept_original_written),
        cmocka_unit_test(test_decode_out_of_memory),
        cmocka_unit_test(test_bad_bytes_make_no_batch),
        cmocka_unit_test(test_undecodable_is_permanent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
