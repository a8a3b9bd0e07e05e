/* k8sattributes pod cache: indexes, bounds and eviction, grace period after
 * deletion, IP reuse, relist sweeps, memory accounting, allocation failures,
 * and a randomized check of the open-addressing index against a plain array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mem.h"
#include "processors/k8sattributes/k8s.h"

#define ALL (K8S_IDX_IP | K8S_IDX_CID | K8S_IDX_NAME)

static k8s_pod_t *mkpod(const char *uid, const char *ns, const char *name, const char *ip, const char *start,
                        const char *cid)
{
    k8s_cont_spec_t cs[2] = { { "app", cid, "nginx:1.25" }, { "sidecar", NULL, "envoy" } };
    k8s_pod_spec_t s = { .uid = uid, .ns = ns, .name = name, .ip = { ip, NULL }, .start_time = start,
                         .cont = cs, .ncont = cid ? 2 : 0 };
    return vg_k8s_pod_new(&s);
}

static void test_lookups(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 1000, ALL);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "shop", "web", "10.0.0.1", "2024-01-01T00:00:00Z", "aaa111"), 0), 0);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u2", "shop", "db", "10.0.0.2", "2024-01-01T00:00:00Z", "bbb222"), 0), 0);
    assert_string_equal(vg_k8s_cache_by_uid(&c, "u1", 0)->name, "web");
    assert_string_equal(vg_k8s_cache_by_ip(&c, "10.0.0.2", 0)->name, "db");
    assert_string_equal(vg_k8s_cache_by_name(&c, "shop", "web", 0)->uid, "u1");
    assert_null(vg_k8s_cache_by_name(&c, "other", "web", 0));
    size_t ci = 99;
    const k8s_pod_t *p = vg_k8s_cache_by_cid(&c, "bbb222", 0, &ci);
    assert_non_null(p);
    assert_string_equal(p->uid, "u2");
    assert_int_equal(ci, 0);
    assert_string_equal(p->cont[ci].image_name, "nginx");
    assert_string_equal(p->cont[ci].image_tag, "1.25");
    assert_null(vg_k8s_cache_by_uid(&c, "nope", 0));
    assert_null(vg_k8s_cache_by_ip(&c, "10.0.0.9", 0));
    /* An update replaces the record everywhere: new IP, the old one is gone. */
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "shop", "web", "10.0.0.7", "2024-01-01T00:00:00Z", "aaa111"), 0), 0);
    assert_null(vg_k8s_cache_by_ip(&c, "10.0.0.1", 0));
    assert_string_equal(vg_k8s_cache_by_ip(&c, "10.0.0.7", 0)->uid, "u1");
    assert_int_equal(c.npods, 2);
    assert_int_equal(c.st.added, 2);
    assert_int_equal(c.st.updated, 1);
    vg_k8s_cache_free(&c);
}

static void test_unused_indexes_stay_empty(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 1000, 0);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "shop", "web", "10.0.0.1", "t", "aaa111"), 0), 0);
    assert_null(vg_k8s_cache_by_ip(&c, "10.0.0.1", 0));
    assert_null(vg_k8s_cache_by_cid(&c, "aaa111", 0, NULL));
    assert_non_null(vg_k8s_cache_by_uid(&c, "u1", 0));
    assert_int_equal(c.by_ip.cap, 0);
    vg_k8s_cache_free(&c);
}

static void test_grace_period(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 5000, ALL);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "ns", "web", "10.0.0.1", "t1", "aaa111"), 1000), 0);
    assert_int_equal(vg_k8s_cache_delete(&c, "u1", 2000), 0);
    assert_int_equal(vg_k8s_cache_delete(&c, "u9", 2000), VG_ENOTFOUND);
    /* Still found during the grace period, by every key. */
    assert_non_null(vg_k8s_cache_by_uid(&c, "u1", 6999));
    assert_non_null(vg_k8s_cache_by_ip(&c, "10.0.0.1", 6999));
    assert_non_null(vg_k8s_cache_by_cid(&c, "aaa111", 6999, NULL));
    assert_int_equal(c.ndead, 1);
    /* Not after, even before anything swept it. */
    assert_null(vg_k8s_cache_by_uid(&c, "u1", 7000));
    assert_null(vg_k8s_cache_by_ip(&c, "10.0.0.1", 7000));
    assert_int_equal(c.npods, 1);
    vg_k8s_cache_expire(&c, 7000);
    assert_int_equal(c.npods, 0);
    assert_int_equal(c.st.expired, 1);
    /* Re-added after deletion (a relist found it again). */
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "ns", "web", "10.0.0.1", "t1", NULL), 8000), 0);
    assert_int_equal(vg_k8s_cache_delete(&c, "u1", 8000), 0);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "ns", "web", "10.0.0.1", "t1", NULL), 8001), 0);
    assert_int_equal(c.ndead, 0);
    assert_non_null(vg_k8s_cache_by_uid(&c, "u1", 100000));
    vg_k8s_cache_free(&c);
}

static void test_zero_grace(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 0, ALL);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u1", "ns", "web", "10.0.0.1", "t1", NULL), 0), 0);
    assert_int_equal(vg_k8s_cache_delete(&c, "u1", 0), 0);
    assert_null(vg_k8s_cache_by_uid(&c, "u1", 0));
    assert_int_equal(c.npods, 0);
    vg_k8s_cache_free(&c);
}

static void test_ip_reuse(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 60000, ALL);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("old", "ns", "a", "10.0.0.5", "2024-01-01T00:00:00Z", NULL), 0), 0);
    assert_int_equal(vg_k8s_cache_delete(&c, "old", 10), 0);
    /* A new pod gets the IP while the old one is in its grace period: the new one wins. */
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("new", "ns", "b", "10.0.0.5", "2024-01-01T00:05:00Z", NULL), 20), 0);
    assert_string_equal(vg_k8s_cache_by_ip(&c, "10.0.0.5", 30)->uid, "new");
    assert_string_equal(vg_k8s_cache_by_uid(&c, "old", 30)->name, "a"); /* still there by uid */
    /* The old one expiring must not take the new one's slot with it. */
    vg_k8s_cache_expire(&c, 100000);
    assert_string_equal(vg_k8s_cache_by_ip(&c, "10.0.0.5", 100000)->uid, "new");
    /* Two live pods with one IP (a late update of a dead pod): the newer start wins. */
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("older", "ns", "c", "10.0.0.5", "2023-12-31T00:00:00Z", NULL), 100001), 0);
    assert_string_equal(vg_k8s_cache_by_ip(&c, "10.0.0.5", 100001)->uid, "new");
    vg_k8s_cache_free(&c);
}

static void test_bounded_eviction(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 3, 60000, ALL);
    char uid[16], ip[16];
    for (int i = 0; i < 3; i++) {
        snprintf(uid, sizeof uid, "u%d", i);
        snprintf(ip, sizeof ip, "10.0.0.%d", i);
        assert_int_equal(vg_k8s_cache_put(&c, mkpod(uid, "ns", uid, ip, "t", NULL), i), 0);
    }
    /* u0 updated: now u1 is the least recently updated. */
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u0", "ns", "u0", "10.0.0.0", "t", NULL), 10), 0);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u3", "ns", "u3", "10.0.0.3", "t", NULL), 11), 0);
    assert_int_equal(c.npods, 3);
    assert_int_equal(c.st.evictions, 1);
    assert_null(vg_k8s_cache_by_uid(&c, "u1", 11));
    assert_null(vg_k8s_cache_by_ip(&c, "10.0.0.1", 11));
    assert_non_null(vg_k8s_cache_by_uid(&c, "u0", 11));
    /* A deleted pod goes before any live one. */
    assert_int_equal(vg_k8s_cache_delete(&c, "u3", 12), 0);
    assert_int_equal(vg_k8s_cache_put(&c, mkpod("u4", "ns", "u4", "10.0.0.4", "t", NULL), 13), 0);
    assert_null(vg_k8s_cache_by_uid(&c, "u3", 13));
    assert_non_null(vg_k8s_cache_by_uid(&c, "u2", 13));
    assert_int_equal(c.st.evictions, 2);
    assert_int_equal(c.npods, 3);
    vg_k8s_cache_free(&c);
}

static void test_sweep_generation(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 10, 1000, ALL);
    k8s_pod_t *a = mkpod("a", "ns", "a", "10.0.0.1", "t", NULL), *b = mkpod("b", "ns", "b", "10.0.0.2", "t", NULL);
    a->gen = 1;
    b->gen = 1;
    assert_int_equal(vg_k8s_cache_put(&c, a, 0), 0);
    assert_int_equal(vg_k8s_cache_put(&c, b, 0), 0);
    /* Relist (gen 2) sees only a. */
    k8s_pod_t *a2 = mkpod("a", "ns", "a", "10.0.0.1", "t", NULL);
    a2->gen = 2;
    assert_int_equal(vg_k8s_cache_put(&c, a2, 50), 0);
    assert_int_equal(vg_k8s_cache_sweep_gen(&c, 2, 100), 1);
    assert_non_null(vg_k8s_cache_by_uid(&c, "b", 1099)); /* grace applies to swept pods too */
    assert_null(vg_k8s_cache_by_uid(&c, "b", 1100));
    assert_non_null(vg_k8s_cache_by_uid(&c, "a", 5000));
    vg_k8s_cache_free(&c);
}

static void test_memory_accounting(void **state)
{
    (void)state;
    k8s_cache_t c;
    vg_k8s_cache_init(&c, 100000, 0, ALL);
    char uid[40], ip[20], name[40], cid[70];
    for (int i = 0; i < 10000; i++) {
        snprintf(uid, sizeof uid, "%08x-1111-2222-3333-444455556666", i);
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        snprintf(name, sizeof name, "web-7d4b9c6f5d-%05d", i);
        snprintf(cid, sizeof cid, "%064x", i);
        assert_int_equal(vg_k8s_cache_put(&c, mkpod(uid, "production", name, ip, "2024-05-01T10:00:00Z", cid), 0), 0);
    }
    size_t idx = (c.by_uid.cap + c.by_ip.cap + c.by_cid.cap + c.by_name.cap) * sizeof(k8s_slot_t);
    size_t rec = 0;
    for (k8s_pod_t *p = c.live_head; p; p = p->next) rec += p->bytes;
    assert_int_equal(c.bytes, rec + idx);
    double per_pod = (double)c.bytes / 10000.0;
    fprintf(stderr, "cache: %.0f bytes per pod (records %zu, indexes %zu)\n", per_pod, rec / 10000, idx / 10000);
    assert_true(per_pod < 1024.0);
    for (int i = 0; i < 10000; i++) {
        snprintf(uid, sizeof uid, "%08x-1111-2222-3333-444455556666", i);
        assert_int_equal(vg_k8s_cache_delete(&c, uid, 0), 0);
    }
    assert_int_equal(c.npods, 0);
    assert_int_equal(c.bytes, idx); /* only the (kept) index tables */
    assert_int_equal(c.by_uid.n + c.by_ip.n + c.by_cid.n + c.by_name.n, 0);
    vg_k8s_cache_free(&c);
}

/* The index against a plain array under random puts and deletes. */
static void test_random_against_reference(void **state)
{
    (void)state;
    enum { N = 300, OPS = 20000 };
    k8s_cache_t c;
    vg_k8s_cache_init(&c, N, 0, ALL);
    bool present[N] = { false };
    int ipof[N];
    unsigned seed = 12345;
    char uid[16], ip[16];
    for (int op = 0; op < OPS; op++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % N);
        snprintf(uid, sizeof uid, "p%d", k);
        if ((seed >> 20) % 3) {
            ipof[k] = (int)((seed >> 4) % 4096);
            snprintf(ip, sizeof ip, "10.1.%d.%d", ipof[k] >> 8, ipof[k] & 255);
            /* Unique start times so that IP conflicts resolve deterministically: newest wins. */
            char start[16];
            snprintf(start, sizeof start, "%08d", op);
            assert_int_equal(vg_k8s_cache_put(&c, mkpod(uid, "ns", uid, ip, start, NULL), op), 0);
            present[k] = true;
        } else {
            assert_int_equal(vg_k8s_cache_delete(&c, uid, op), present[k] ? 0 : VG_ENOTFOUND);
            present[k] = false;
        }
        if (op % 500 == 0 || op == OPS - 1) {
            size_t live = 0, found_by_ip = 0;
            for (int i = 0; i < N; i++) {
                snprintf(uid, sizeof uid, "p%d", i);
                const k8s_pod_t *p = vg_k8s_cache_by_uid(&c, uid, op);
                assert_true((p != NULL) == present[i]);
                if (p) {
                    live++;
                    /* Its IP finds a live pod holding that IP (not always p: a newer pod with the
                     * same IP takes the slot, and a pod that lost it does not get it back). */
                    const k8s_pod_t *q = vg_k8s_cache_by_ip(&c, p->ip[0], op);
                    if (q) {
                        assert_string_equal(q->ip[0], p->ip[0]);
                        assert_ptr_equal(vg_k8s_cache_by_uid(&c, q->uid, op), q);
                        found_by_ip++;
                    }
                }
            }
            assert_int_equal(live, c.npods);
            assert_int_equal(c.by_uid.n, c.npods);
            assert_true(found_by_ip * 10 >= live * 8 || live < 10);
        }
    }
    vg_k8s_cache_free(&c);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n < 20; n++) {
        k8s_cache_t c;
        vg_k8s_cache_init(&c, 100, 0, ALL);
        int failures = 0;
        vg_mem_fail_after(n);
        for (int i = 0; i < 70; i++) {
            char uid[16], ip[16];
            snprintf(uid, sizeof uid, "u%d", i);
            snprintf(ip, sizeof ip, "10.0.0.%d", i);
            int rc = vg_k8s_cache_put(&c, mkpod(uid, "ns", uid, ip, "t", "abcdef012345"), 0);
            if (rc) { assert_int_equal(rc, VG_ENOMEM); failures++; }
        }
        vg_mem_fail_reset();
        assert_true(failures > 0);
        /* Whatever went in is consistent. */
        for (k8s_pod_t *p = c.live_head; p; p = p->next) assert_ptr_equal(vg_k8s_cache_by_uid(&c, p->uid, 0), p);
        vg_k8s_cache_free(&c);
    }
}

static void test_objmap(void **state)
{
    (void)state;
    k8s_objmap_t m;
    vg_k8s_objmap_init(&m, 3);
    k8s_obj_t *o = vg_k8s_obj_new("rs-uid-1", "web", "dep-uid-1", NULL);
    o->gen = 1;
    assert_int_equal(vg_k8s_objmap_put(&m, o), 0);
    k8s_kvbuf_t kv = { 0 };
    json_t *labels = json_pack("{s:s, s:s}", "team", "payments", "env", "prod");
    k8s_rule_t rules[1] = { { .key = "team", .from = K8S_FROM_NAMESPACE } };
    k8s_extract_t x = { .rules = rules, .nrules = 1 };
    assert_int_equal(vg_k8s_rules_apply(&x, K8S_FROM_NAMESPACE, false, labels, &kv), 0);
    assert_int_equal(kv.n, 1);
    o = vg_k8s_obj_new("shop", NULL, NULL, &kv);
    o->gen = 2;
    assert_int_equal(vg_k8s_objmap_put(&m, o), 0);
    const k8s_obj_t *g = vg_k8s_objmap_get(&m, "shop");
    assert_non_null(g);
    assert_int_equal(g->nkv, 1);
    assert_string_equal(g->kv[0].key, "k8s.namespace.labels.team");
    assert_string_equal(g->kv[0].val, "payments");
    assert_string_equal(vg_k8s_objmap_get(&m, "rs-uid-1")->dep_name, "web");
    /* Replace, sweep by generation, bound. */
    o = vg_k8s_obj_new("rs-uid-1", "web2", "dep-uid-1", NULL);
    o->gen = 2;
    assert_int_equal(vg_k8s_objmap_put(&m, o), 0);
    assert_string_equal(vg_k8s_objmap_get(&m, "rs-uid-1")->dep_name, "web2");
    o = vg_k8s_obj_new("old", "x", "y", NULL);
    o->gen = 1;
    assert_int_equal(vg_k8s_objmap_put(&m, o), 0);
    assert_int_equal(vg_k8s_objmap_sweep_gen(&m, 2), 1);
    assert_null(vg_k8s_objmap_get(&m, "old"));
    assert_int_equal(m.n, 2);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(vg_k8s_objmap_put(&m, vg_k8s_obj_new(k, "d", "u", NULL)), 0);
    }
    assert_int_equal(m.n, 3);
    assert_int_equal(m.evictions, 4);
    vg_k8s_objmap_delete(&m, "k4");
    assert_null(vg_k8s_objmap_get(&m, "k4"));
    json_decref(labels);
    vg_k8s_kvbuf_free(&kv);
    vg_k8s_objmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_unused_indexes_stay_empty),
        cmocka_unit_test(test_grace_period),
        cmocka_unit_test(test_zero_grace),
        cmocka_unit_test(test_ip_reuse),
        cmocka_unit_test(test_bounded_eviction),
        cmocka_unit_test(test_sweep_generation),
        cmocka_unit_test(test_memory_accounting),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_objmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
