/* syslog receiver: the message -> OTLP mapping (fields, attributes, shared
 * KeyValues, UTF-8 repair, the parse-error and too-long paths, peers, failing
 * every allocation in turn) and the receiver itself on a real loop: TCP
 * back-pressure down to a stalled sender and back with nothing lost, a
 * connection closed while refused, shutdown with refused data, hostile
 * input, UDP and unix datagrams (drops counted, sender credentials),
 * lifecycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "component.h"
#include "error.h"
#include "mem.h"
#include "otlp_json.h"
#include "receivers/syslog/syslog_int.h"
#include "receivers/syslog/syslog_otlp.h"

extern const vg_factory_t vg_syslog_receiver_factory;

/* ======================================================================
 * UTF-8
 * ====================================================================== */

typedef struct {
    const char *in;
    size_t len;
    const char *want; /* NULL: unchanged */
    size_t want_len;
} u8case_t;

#define U(s) s, sizeof(s) - 1
#define R "\xEF\xBF\xBD"

static const u8case_t u8cases[] = {
    { U("plain ascii"), NULL, 0 },
    { U("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), NULL, 0 },
    { U("\xFF"), U(R) },
    { U("a\0b"), U("a" R "b") },
    { U("\xE2\x82"), U(R) },                       /* truncated 3-byte: one U+FFFD */
    { U("\xE2\x82" "A"), U(R "A") },
    { U("\xED\xA0\x80"), U(R R R) },               /* surrogate: each byte */
    { U("\xC0\xAF"), U(R R) },                     /* overlong */
    { U("\xF4\x90\x80\x80"), U(R R R R) },         /* above U+10FFFF */
    { U("\xF0\x9F\x98"), U(R) },                   /* truncated 4-byte at the end */
    { U("\xF0\x9F\x98" "x"), U(R "x") },
    { U("0123456789abcdef0123456789abcdef\x80"), U("0123456789abcdef0123456789abcdef" R) },
    { U("0123456789abcdef\0" "0123456789"), U("0123456789abcdef" R "0123456789") },
    { U("\xE0\x80\x80"), U(R R R) },               /* E0 needs A0..BF */
    { U("\xEF\xBB\xBF" "bom"), NULL, 0 },
};

static void test_utf8_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof u8cases / sizeof *u8cases; i++) {
        const u8case_t *c = &u8cases[i];
        char out[256];
        size_t n = vg_syslog_utf8_repair(c->in, c->len, out);
        if (!c->want) {
            assert_true(vg_syslog_utf8_clean(c->in, c->len));
            assert_int_equal(n, c->len);
            assert_memory_equal(out, c->in, n);
        } else {
            if (vg_syslog_utf8_clean(c->in, c->len)) fail_msg("case %zu: should not be clean", i);
            if (n != c->want_len || memcmp(out, c->want, n) != 0) fail_msg("case %zu: wrong repair", i);
            assert_true(vg_syslog_utf8_clean(out, n));
        }
    }
}

static void test_utf8_random(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char in[64], out[3 * 64], out2[3 * 3 * 64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rand_r(&seed) % 64);
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(&seed) % 4;
            in[i] = r == 0 ? (char)(rand_r(&seed) % 256) : r == 1 ? (char)(0x80 + rand_r(&seed) % 64)
                    : r == 2 ? (char)(0xC0 + rand_r(&seed) % 64) : (char)('a' + rand_r(&seed) % 26);
        }
        size_t m = vg_syslog_utf8_repair(in, n, out);
        assert_true(m <= 3 * n);
        assert_true(vg_syslog_utf8_clean(out, m));
        assert_int_equal(vg_syslog_utf8_clean(in, n), m == n && memcmp(in, out, n) == 0);
        /* Repairing valid text changes nothing. */
        size_t m2 = vg_syslog_utf8_repair(out, m, out2);
        assert_int_equal(m2, m);
        assert_memory_equal(out, out2, m);
    }
}

/* ======================================================================
 * mapping
 * ====================================================================== */

static const vg_kv_t *attr(const vg_log_record_t *r, const char *key)
{
    const vg_kv_t *found = NULL;
    for (size_t i = 0; i < r->n_attributes; i++) {
        if (strcmp(r->attributes[i]->key, key) == 0) {
            if (found) fail_msg("attribute %s twice", key);
            found = r->attributes[i];
        }
    }
    return found;
}

static const char *astr(const vg_log_record_t *r, const char *key)
{
    const vg_kv_t *kv = attr(r, key);
    if (!kv) return NULL;
    assert_int_equal(kv->value->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    return kv->value->string_value;
}

static int64_t aint(const vg_log_record_t *r, const char *key)
{
    const vg_kv_t *kv = attr(r, key);
    assert_non_null(kv);
    assert_int_equal(kv->value->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
    return kv->value->int_value;
}

static const vg_anyvalue_t *kvl_get(const vg_anyvalue_t *v, const char *key)
{
    assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE);
    for (size_t i = 0; i < v->kvlist_value->n_values; i++)
        if (strcmp(v->kvlist_value->values[i]->key, key) == 0) return v->kvlist_value->values[i]->value;
    return NULL;
}

static vg_log_record_t *rec(vg_batch_t *b, size_t i)
{
    vg_logs_req_t *req = (vg_logs_req_t *)vg_batch_req(b);
    assert_int_equal(req->n_resource_logs, 1);
    assert_int_equal(req->resource_logs[0]->n_scope_logs, 1);
    vg_scope_logs_t *sl = req->resource_logs[0]->scope_logs[0];
    assert_true(i < sl->n_log_records);
    return sl->log_records[i];
}

typedef struct {
    vg_syslog_parse_opts_t po;
    vg_syslog_map_cfg_t mc;
    vg_syslog_builder_t bd;
} mfx_t;

static mfx_t *mk_builder(vg_syslog_protocol_t proto, bool drop)
{
    mfx_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->po.protocol = proto;
    m->mc.parse = &m->po;
    m->mc.drop_errors = drop;
    m->mc.max_octets = 8192;
    vg_syslog_builder_init(&m->bd, &m->mc);
    return m;
}

static void free_builder(mfx_t *m)
{
    vg_syslog_builder_clear(&m->bd);
    free(m);
}

#define ADD(m, s) vg_syslog_builder_add(&(m)->bd, s, sizeof(s) - 1, 0, 1700000000123456789LL)

static void test_map_rfc5424(void **state)
{
    (void)state;
    mfx_t *m = mk_builder(VG_SYSLOG_RFC5424, false);
    vg_peer_t peer = { .family = AF_INET, .addr = "192.0.2.7", .port = 51400, .pid = -1, .uid = -1, .gid = -1 };
    vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_TCP, &peer, true);
    assert_int_equal(ADD(m, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 4711 ID47 "
                            "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"lic\\]ation\"][ex@1 a=\"1\"][ex@1 a=\"2\" b=\"\"] "
                            "\xEF\xBB\xBF" "An application event\n"), 1);
    assert_int_equal(ADD(m, "<14>1 2003-10-11T22:14:16Z mymachine.example.com evntslog - - - second"), 1);
    vg_batch_t *b = vg_syslog_builder_take(&m->bd);
    assert_non_null(b);
    assert_int_equal(b->items, 2);
    assert_int_equal(b->peer.family, AF_INET);
    assert_string_equal(b->peer.addr, "192.0.2.7");
    vg_log_record_t *r = rec(b, 0);
    assert_int_equal(r->time_unix_nano, 1065910455003000000ULL);
    assert_int_equal(r->observed_time_unix_nano, 1700000000123456789ULL);
    assert_int_equal(r->severity_number, 10); /* notice -> INFO2 */
    assert_string_equal(r->severity_text, "notice");
    assert_string_equal(r->body->string_value,
                        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 4711 ID47 "
                        "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"lic\\]ation\"][ex@1 a=\"1\"][ex@1 a=\"2\" b=\"\"] "
                        "\xEF\xBB\xBF" "An application event");
    assert_string_equal(astr(r, "appname"), "evntslog");
    assert_string_equal(astr(r, "hostname"), "mymachine.example.com");
    assert_string_equal(astr(r, "proc_id"), "4711");
    assert_string_equal(astr(r, "msg_id"), "ID47");
    assert_string_equal(astr(r, "message"), "An application event");
    assert_int_equal(aint(r, "priority"), 165);
    assert_int_equal(aint(r, "facility"), 20);
    assert_string_equal(astr(r, "facility_text"), "local4");
    assert_int_equal(aint(r, "version"), 1);
    assert_null(attr(r, "syslog.parse_error"));
    const vg_anyvalue_t *sd = attr(r, "structured_data")->value;
    assert_int_equal(sd->kvlist_value->n_values, 2); /* ex@1 twice: merged */
    const vg_anyvalue_t *e1 = kvl_get(sd, "exampleSDID@32473");
    assert_string_equal(kvl_get(e1, "iut")->string_value, "3");
    assert_string_equal(kvl_get(e1, "eventSource")->string_value, "App\"lic]ation");
    const vg_anyvalue_t *e2 = kvl_get(sd, "ex@1");
    assert_int_equal(e2->kvlist_value->n_values, 2);
    assert_string_equal(kvl_get(e2, "a")->string_value, "2"); /* last wins */
    assert_string_equal(kvl_get(e2, "b")->string_value, "");
    /* peer */
    assert_string_equal(astr(r, "net.peer.ip"), "192.0.2.7");
    assert_string_equal(astr(r, "net.peer.port"), "51400");
    assert_string_equal(astr(r, "network.peer.address"), "192.0.2.7");
    assert_int_equal(aint(r, "network.peer.port"), 51400);
    assert_string_equal(astr(r, "network.transport"), "tcp");
    /* the message shares the body's string */
    const char *body = r->body->string_value;
    assert_ptr_equal(astr(r, "message"), body + strlen(body) - strlen("An application event"));

    vg_log_record_t *r2 = rec(b, 1);
    assert_int_equal(r2->severity_number, 9); /* info */
    assert_string_equal(r2->severity_text, "info");
    assert_null(attr(r2, "proc_id"));
    assert_null(attr(r2, "msg_id"));
    assert_null(attr(r2, "structured_data"));
    assert_string_equal(astr(r2, "message"), "second");
    /* repeated values are one KeyValue */
    assert_ptr_equal(attr(r, "hostname"), attr(r2, "hostname"));
    assert_ptr_equal(attr(r, "appname"), attr(r2, "appname"));
    assert_ptr_equal(attr(r, "version"), attr(r2, "version"));
    assert_ptr_equal(attr(r, "network.peer.address"), attr(r2, "network.peer.address"));

    /* It encodes as OTLP/JSON. */
    char *json = NULL;
    size_t jl = 0;
    assert_int_equal(vg_otlp_json_encode(VG_SIG_LOGS, vg_batch_req(b), &json, &jl), 0);
    assert_non_null(strstr(json, "\"exampleSDID@32473\""));
    vg_free(json);
    vg_batch_unref(b);
    assert_int_equal(m->bd.st.records, 2);
    assert_int_equal(m->bd.st.parse_errors, 0);
    free_builder(m);
}

static void test_map_rfc3164(void **state)
{
    (void)state;
    mfx_t *m = mk_builder(VG_SYSLOG_RFC3164, false);
    m->po.now_ns = 0;
    assert_int_equal(ADD(m, "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick"), 1);
    assert_int_equal(ADD(m, "no pri at all, just text"), 1);
    vg_batch_t *b = vg_syslog_builder_take(&m->bd);
    vg_log_record_t *r = rec(b, 0);
    assert_true(r->time_unix_nano > 0);
    assert_int_equal(r->severity_number, 18); /* crit -> ERROR2 */
    assert_string_equal(r->severity_text, "crit");
    assert_string_equal(astr(r, "hostname"), "mymachine");
    assert_string_equal(astr(r, "appname"), "su");
    assert_string_equal(astr(r, "proc_id"), "123");
    assert_string_equal(astr(r, "message"), "'su root' failed for lonvick");
    assert_int_equal(aint(r, "priority"), 34);
    assert_int_equal(aint(r, "facility"), 4);
    assert_null(attr(r, "version"));
    assert_null(attr(r, "msg_id"));
    assert_null(attr(r, "structured_data"));
    assert_null(attr(r, "network.transport")); /* no peer set */
    vg_log_record_t *r2 = rec(b, 1);
    /* Without PRI the Collector leaves severity unset and adds no priority. */
    assert_int_equal(r2->severity_number, 0);
    assert_null(attr(r2, "priority"));
    assert_null(attr(r2, "facility"));
    assert_int_equal(r2->time_unix_nano, 0);
    assert_string_equal(astr(r2, "message"), "no pri at all, just text");
    vg_batch_unref(b);
    free_builder(m);
}

static void test_map_errors(void **state)
{
    (void)state;
    mfx_t *m = mk_builder(VG_SYSLOG_RFC5424, false);
    /* Does not parse, invalid UTF-8 and a NUL: kept, repaired, marked. */
    assert_int_equal(ADD(m, "<999>1 bad \xFF\xFE and\0nul\n"), 1);
    /* Parses, but its MSG is not UTF-8. */
    assert_int_equal(ADD(m, "<13>1 - host app - - - caf\xE9"), 1);
    /* Cut at max_octets by the framer. */
    assert_int_equal(vg_syslog_builder_add(&m->bd, "<13>1 - h a - - - abc", 21, VG_ETOOBIG, 5), 1);
    /* A broken octet count leaves no bytes: counted, no record. */
    assert_int_equal(vg_syslog_builder_add(&m->bd, NULL, 0, VG_EPARSE, 5), 0);
    /* Connection closed inside a frame: what arrived is kept. */
    assert_int_equal(vg_syslog_builder_add(&m->bd, "<13>1 - h", 9, VG_EPARSE, 5), 1);
    vg_batch_t *b = vg_syslog_builder_take(&m->bd);
    assert_int_equal(b->items, 4);
    vg_log_record_t *r = rec(b, 0);
    assert_string_equal(r->body->string_value, "<999>1 bad " R R " and" R "nul");
    assert_string_equal(astr(r, "syslog.parse_error"), "invalid PRI");
    assert_int_equal(r->severity_number, 0);
    assert_null(attr(r, "priority"));
    r = rec(b, 1);
    assert_string_equal(r->body->string_value, "<13>1 - host app - - - caf" R);
    assert_string_equal(astr(r, "message"), "caf" R);
    assert_null(attr(r, "syslog.parse_error"));
    r = rec(b, 2);
    assert_non_null(strstr(astr(r, "syslog.parse_error"), "max_octets"));
    assert_string_equal(r->body->string_value, "<13>1 - h a - - - abc");
    r = rec(b, 3);
    assert_string_equal(astr(r, "syslog.parse_error"), "connection closed inside a frame");
    assert_int_equal(m->bd.st.parse_errors, 2);
    assert_int_equal(m->bd.st.too_long, 1);
    assert_int_equal(m->bd.st.frame_errors, 1);
    assert_int_equal(m->bd.st.utf8_repaired, 2);
    vg_batch_unref(b);
    free_builder(m);

    /* on_error: drop */
    m = mk_builder(VG_SYSLOG_RFC5424, true);
    assert_int_equal(ADD(m, "<999>1 bad"), 0);
    assert_int_equal(ADD(m, "<13>1 - h a - - - fine"), 1);
    b = vg_syslog_builder_take(&m->bd);
    assert_int_equal(b->items, 1);
    assert_int_equal(m->bd.st.dropped, 1);
    assert_int_equal(m->bd.st.parse_errors, 1);
    vg_batch_unref(b);
    assert_null(vg_syslog_builder_take(&m->bd));
    free_builder(m);
}

static void test_map_peers(void **state)
{
    (void)state;
    mfx_t *m = mk_builder(VG_SYSLOG_AUTO, false);
    vg_peer_t a = { .family = AF_INET, .addr = "10.0.0.1", .port = 1, .pid = -1, .uid = -1, .gid = -1 };
    vg_peer_t b2 = { .family = AF_INET6, .addr = "::1", .port = 2, .pid = -1, .uid = -1, .gid = -1 };
    vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_UDP, &a, true);
    assert_int_equal(ADD(m, "<13>1 - h a - - - one"), 1);
    assert_false(vg_syslog_builder_peer_differs(&m->bd, VG_SYSLOG_NET_UDP, &a));
    assert_true(vg_syslog_builder_peer_differs(&m->bd, VG_SYSLOG_NET_UDP, &b2));
    vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_UDP, &b2, true);
    assert_int_equal(ADD(m, "<13>Oct  1 10:00:00 h a: two"), 1);
    vg_batch_t *b = vg_syslog_builder_take(&m->bd);
    assert_int_equal(b->peer.family, 0); /* mixed */
    assert_string_equal(astr(rec(b, 0), "network.peer.address"), "10.0.0.1");
    assert_string_equal(astr(rec(b, 0), "network.transport"), "udp");
    assert_string_equal(astr(rec(b, 1), "network.peer.address"), "::1");
    assert_int_equal(aint(rec(b, 1), "network.peer.port"), 2);
    assert_null(attr(rec(b, 1), "version")); /* auto: parsed as 3164 */
    vg_batch_unref(b);
    /* unix: credentials, no address */
    vg_peer_t u = { .family = AF_UNIX, .pid = 42, .uid = 1000, .gid = 100 };
    vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_UNIX, &u, true);
    assert_int_equal(ADD(m, "<13>1 - h a - - - three"), 1);
    b = vg_syslog_builder_take(&m->bd);
    assert_int_equal(b->peer.pid, 42);
    vg_log_record_t *r = rec(b, 0);
    assert_string_equal(astr(r, "network.transport"), "unix");
    assert_int_equal(aint(r, "unix.peer.pid"), 42);
    assert_int_equal(aint(r, "unix.peer.uid"), 1000);
    assert_int_equal(aint(r, "unix.peer.gid"), 100);
    assert_null(attr(r, "network.peer.address"));
    vg_batch_unref(b);
    /* attributes and resource labels */
    vg_batch_t *lb;
    {
        char *ak[] = { "env" }, *av[] = { "prod" }, *rk[] = { "host.name", "service.name" }, *rv[] = { "vm1", "syslog" };
        vg_strmap_t am = { 1, ak, av }, rm = { 2, rk, rv };
        m->mc.attributes = &am;
        m->mc.resource = &rm;
        vg_syslog_builder_init(&m->bd, &m->mc);
        assert_int_equal(ADD(m, "<13>1 - h a - - - labelled"), 1);
        assert_int_equal(ADD(m, "<13>1 - h a - - - labelled too"), 1);
        lb = vg_syslog_builder_take(&m->bd);
        m->mc.attributes = m->mc.resource = NULL;
        vg_syslog_builder_init(&m->bd, &m->mc);
    }
    assert_string_equal(astr(rec(lb, 0), "env"), "prod");
    assert_ptr_equal(attr(rec(lb, 0), "env"), attr(rec(lb, 1), "env"));
    vg_resource_t *res = ((vg_logs_req_t *)vg_batch_req(lb))->resource_logs[0]->resource;
    assert_int_equal(res->n_attributes, 2);
    assert_string_equal(res->attributes[1]->key, "service.name");
    assert_string_equal(res->attributes[1]->value->string_value, "syslog");
    vg_batch_unref(lb);
    /* add_attributes: false */
    vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_UNIX, &u, false);
    assert_int_equal(ADD(m, "<13>1 - h a - - - four"), 1);
    b = vg_syslog_builder_take(&m->bd);
    assert_null(attr(rec(b, 0), "network.transport"));
    assert_int_equal(rec(b, 0)->n_attributes, 7);
    vg_batch_unref(b);
    free_builder(m);
}

static void test_map_failmalloc(void **state)
{
    (void)state;
    static const char *lines[] = {
        "<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a@1 x=\"1\" y=\"\\]\"][b@2 z=\"q\"] msg \xFF",
        "<34>Oct 11 22:14:15 mymachine su: hi",
        "<999> broken",
    };
    for (long n = 1; n < 400; n++) {
        mfx_t *m = mk_builder(VG_SYSLOG_AUTO, false);
        vg_peer_t p = { .family = AF_INET, .addr = "1.2.3.4", .port = 9, .pid = -1, .uid = -1, .gid = -1 };
        vg_syslog_builder_set_peer(&m->bd, VG_SYSLOG_NET_TCP, &p, true);
        vg_mem_fail_after(n);
        int added = 0;
        for (int k = 0; k < 6; k++) {
            int r = vg_syslog_builder_add(&m->bd, lines[k % 3], strlen(lines[k % 3]), 0, 1);
            assert_true(r == 1 || r == VG_ENOMEM);
            added += r == 1;
        }
        vg_batch_t *b = vg_syslog_builder_take(&m->bd);
        vg_mem_fail_reset();
        if (b) {
            assert_int_equal(b->items, (size_t)added);
            char *json = NULL;
            size_t jl;
            assert_int_equal(vg_otlp_json_encode(VG_SIG_LOGS, vg_batch_req(b), &json, &jl), 0);
            vg_free(json);
        } else {
            assert_int_equal(added, 0);
        }
        assert_int_equal(m->bd.st.nomem, (uint64_t)(6 - added));
        vg_batch_unref(b);
        free_builder(m);
    }
}

/* ======================================================================
 * the receiver on a loop
 * ====================================================================== */

typedef struct {
    vg_consumer_t base;
    int refuse;
    int calls;
    size_t batches, records;
    char **bodies;
    size_t nbodies, capbodies;
    vg_peer_t last_peer;
    char last_attrs[512];
} sink_t;

static int sink_consume(vg_consumer_t *self, vg_batch_t *b)
{
    sink_t *s = (sink_t *)self;
    if (s->refuse) {
        vg_batch_unref(b);
        return VG_EREFUSED;
    }
    s->batches++;
    s->last_peer = b->peer;
    vg_logs_req_t *req = (vg_logs_req_t *)vg_batch_req(b);
    for (size_t i = 0; i < req->n_resource_logs; i++)
        for (size_t j = 0; j < req->resource_logs[i]->n_scope_logs; j++) {
            vg_scope_logs_t *sl = req->resource_logs[i]->scope_logs[j];
            for (size_t k = 0; k < sl->n_log_records; k++) {
                vg_log_record_t *r = sl->log_records[k];
                if (s->nbodies == s->capbodies) {
                    s->capbodies = s->capbodies ? s->capbodies * 2 : 64;
                    s->bodies = realloc(s->bodies, s->capbodies * sizeof *s->bodies);
                }
                s->bodies[s->nbodies++] = strdup(r->body->string_value);
                s->records++;
                s->last_attrs[0] = 0;
                for (size_t a = 0; a < r->n_attributes; a++) {
                    char one[128];
                    vg_anyvalue_t *v = r->attributes[a]->value;
                    if (v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE)
                        snprintf(one, sizeof one, "%s=%lld;", r->attributes[a]->key, (long long)v->int_value);
                    else if (v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
                        snprintf(one, sizeof one, "%s=%.40s;", r->attributes[a]->key, v->string_value);
                    else snprintf(one, sizeof one, "%s=?;", r->attributes[a]->key);
                    strncat(s->last_attrs, one, sizeof s->last_attrs - strlen(s->last_attrs) - 1);
                }
            }
        }
    vg_batch_unref(b);
    return 0;
}

typedef struct {
    uv_loop_t loop;
    sink_t sink;
    vg_component_t comp;
    vg_ydoc_t *doc;
    vg_errs_t errs;
    syslog_rx_t *rx;
    char dir[64];
} rfx_t;

static int rx_setup(rfx_t *fx, const char *yaml, bool expect_start_ok)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->sink.base.consume = sink_consume;
    vg_errs_init(&fx->errs);
    assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &fx->doc, &fx->errs), 0);
    fx->comp.f = &vg_syslog_receiver_factory;
    fx->comp.id = "syslog";
    fx->comp.loop = &fx->loop;
    fx->comp.cfg = vg_calloc(1, vg_syslog_receiver_factory.config_size);
    assert_int_equal(vg_options_parse(vg_syslog_receiver_factory.options, fx->comp.cfg, fx->doc->root, "syslog",
                                      &fx->errs), 0);
    assert_int_equal(vg_syslog_receiver_factory.validate(fx->comp.cfg, "syslog", &fx->errs), 0);
    fx->comp.next[VG_SIG_LOGS] = &fx->sink.base;
    assert_int_equal(fx->comp.f->create(&fx->comp), 0);
    fx->rx = fx->comp.state;
    int rc = fx->comp.f->start(&fx->comp);
    if (expect_start_ok) assert_int_equal(rc, 0);
    return rc;
}

static void rx_teardown(rfx_t *fx)
{
    fx->comp.f->shutdown(&fx->comp);
    fx->comp.f->shutdown(&fx->comp); /* idempotent */
    for (int i = 0; i < 20000 && fx->comp.f->busy(&fx->comp); i++) uv_run(&fx->loop, UV_RUN_ONCE);
    assert_false(fx->comp.f->busy(&fx->comp));
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    fx->comp.f->destroy(&fx->comp);
    for (size_t i = 0; i < fx->sink.nbodies; i++) free(fx->sink.bodies[i]);
    free(fx->sink.bodies);
    vg_options_free(vg_syslog_receiver_factory.options, fx->comp.cfg);
    vg_free(fx->comp.cfg);
    vg_ydoc_free(fx->doc);
    vg_errs_free(&fx->errs);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* Runs the loop for about ms milliseconds. */
static void spin(rfx_t *fx, int ms)
{
    uint64_t end = uv_now(&fx->loop) + (uint64_t)ms;
    while (uv_now(&fx->loop) < end) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        usleep(500);
        uv_update_time(&fx->loop);
    }
}

/* Runs the loop until cond or ~5 s. */
#define SPIN_UNTIL(fx, cond)                                          \
    do {                                                              \
        for (int i_ = 0; i_ < 10000 && !(cond); i_++) {               \
            uv_run(&(fx)->loop, UV_RUN_NOWAIT);                       \
            if (!(cond)) usleep(500);                                 \
        }                                                             \
        if (!(cond)) fail_msg("timed out waiting for " #cond);       \
    } while (0)

static int tcp_client(int port, int sndbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (sndbuf) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static size_t line(char *buf, size_t cap, long seq)
{
    return (size_t)snprintf(buf, cap, "<13>1 2025-01-01T00:00:00Z host app - - - message number %08ld %s\n", seq,
                            "padding padding padding padding padding padding padding padding");
}

/* Writes what the socket takes of lines [*next, total), spinning the loop;
 * returns the number of lines fully written this call (partial ones kept in
 * *pending / *pend_off). */
typedef struct {
    long next, total;
    char cur[256];
    size_t cur_len, cur_off;
} writer_t;

static bool writer_step(writer_t *w, int fd)
{
    bool progress = false;
    for (;;) {
        if (w->cur_off == w->cur_len) {
            if (w->next >= w->total) return progress;
            w->cur_len = line(w->cur, sizeof w->cur, w->next++);
            w->cur_off = 0;
        }
        ssize_t n = send(fd, w->cur + w->cur_off, w->cur_len - w->cur_off, MSG_NOSIGNAL);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return progress;
        }
        w->cur_off += (size_t)n;
        progress = true;
    }
}

static void check_sequence(const sink_t *s, long total)
{
    assert_int_equal(s->nbodies, (size_t)total);
    for (long i = 0; i < total; i++) {
        char want[32];
        snprintf(want, sizeof want, "message number %08ld ", i);
        if (!strstr(s->bodies[i], want)) fail_msg("record %ld is '%s'", i, s->bodies[i]);
    }
}

static void test_tcp_backpressure(void **state)
{
    (void)state;
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\n", true);
    int port = vg_listener_port(fx->rx->tcp_l);
    fx->sink.refuse = 1;
    int fd = tcp_client(port, 8192);
    SPIN_UNTIL(fx, fx->rx->nconns == 1);
    writer_t w = { .total = 200000 };
    /* The pipeline refuses: the connection stops reading and the sender stalls. */
    int stalled_for = 0;
    for (int i = 0; i < 20000 && stalled_for < 300; i++) {
        bool p = writer_step(&w, fd);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        if (p) stalled_for = 0;
        else { stalled_for++; usleep(1000); }
    }
    assert_true(stalled_for >= 300);         /* no byte taken for 300 ms */
    assert_true(w.next < w.total);           /* long before the end */
    assert_int_equal(fx->rx->nblocked, 1);
    assert_int_equal(fx->sink.records, 0);
    assert_true(fx->comp.stats.refused[VG_SIG_LOGS] > 0);
    size_t sent_before = (size_t)w.next;
    /* Memory held by the receiver stays bounded while blocked. */
    syslog_conn_t *sc = fx->rx->blocked;
    assert_non_null(sc);
    (void)sc;
    /* The pipeline recovers: everything arrives, in order, exactly once. */
    fx->sink.refuse = 0;
    for (int i = 0; i < 200000 && (w.next < w.total || w.cur_off < w.cur_len || fx->sink.records < (size_t)w.total);
         i++) {
        writer_step(&w, fd);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        if (fx->sink.records < (size_t)w.next) usleep(100);
    }
    assert_true((size_t)w.total > sent_before);
    check_sequence(&fx->sink, w.total);
    assert_int_equal(fx->rx->nblocked, 0);
    assert_int_equal(fx->comp.stats.accepted[VG_SIG_LOGS], (uint64_t)w.total);
    assert_true(fx->rx->n.stream_blocks >= 1);
    close(fd);
    SPIN_UNTIL(fx, fx->rx->nconns == 0);
    rx_teardown(fx);
    free(fx);
}

/* Blocks again and again with a sink that refuses every other call. */
static int flaky_consume(vg_consumer_t *self, vg_batch_t *b)
{
    sink_t *s = (sink_t *)self;
    if (++s->calls % 2 == 0) {
        vg_batch_unref(b);
        return VG_EFULL;
    }
    return sink_consume(self, b);
}

static void test_tcp_flaky_pipeline(void **state)
{
    (void)state;
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\nenable_octet_counting: true\n", true);
    fx->sink.base.consume = flaky_consume;
    int fd = tcp_client(vg_listener_port(fx->rx->tcp_l), 0);
    writer_t w = { .total = 30000 };
    for (int i = 0; i < 200000 && (w.next < w.total || w.cur_off < w.cur_len || fx->sink.records < (size_t)w.total);
         i++) {
        writer_step(&w, fd);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        if (fx->sink.records < (size_t)w.next) usleep(50);
    }
    check_sequence(&fx->sink, w.total);
    assert_true(fx->rx->n.stream_blocks > 0);
    close(fd);
    rx_teardown(fx);
    free(fx);
}

static void test_tcp_closed_while_refused(void **state)
{
    (void)state;
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\n", true);
    int fd = tcp_client(vg_listener_port(fx->rx->tcp_l), 0);
    /* Two lines, the last without LF: it is a message only at EOF, when the pipeline refuses. */
    const char *data = "<13>1 - h a - - - first\n<13>1 - h a - - - last";
    assert_int_equal(send(fd, data, strlen(data), 0), (ssize_t)strlen(data));
    SPIN_UNTIL(fx, fx->sink.records == 1);
    fx->sink.refuse = 1;
    shutdown(fd, SHUT_WR);
    SPIN_UNTIL(fx, fx->rx->nblocked == 1 && fx->rx->orphan_bytes > 0);
    close(fd);
    spin(fx, 30);
    assert_int_equal(fx->sink.records, 1);
    fx->sink.refuse = 0;
    SPIN_UNTIL(fx, fx->sink.records == 2 && fx->rx->nconns == 0);
    assert_string_equal(fx->sink.bodies[1], "<13>1 - h a - - - last");
    assert_int_equal(fx->rx->orphan_bytes, 0);
    rx_teardown(fx);
    free(fx);
}

static void test_tcp_shutdown(void **state)
{
    (void)state;
    /* Shutdown delivers the line the framer holds. */
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\n", true);
    int fd = tcp_client(vg_listener_port(fx->rx->tcp_l), 0);
    const char *data = "<13>1 - h a - - - one\n<13>1 - h a - - - partial";
    assert_int_equal(send(fd, data, strlen(data), 0), (ssize_t)strlen(data));
    SPIN_UNTIL(fx, fx->sink.records == 1);
    spin(fx, 20);
    fx->comp.f->shutdown(&fx->comp);
    SPIN_UNTIL(fx, fx->sink.records == 2);
    assert_string_equal(fx->sink.bodies[1], "<13>1 - h a - - - partial");
    rx_teardown(fx);
    close(fd);
    free(fx);

    /* Shutdown while the pipeline refuses: retried until the drain deadline, then dropped and counted. */
    fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\n", true);
    fd = tcp_client(vg_listener_port(fx->rx->tcp_l), 0);
    fx->sink.refuse = 1;
    assert_int_equal(send(fd, data, strlen(data), 0), (ssize_t)strlen(data));
    SPIN_UNTIL(fx, fx->rx->nblocked == 1);
    fx->comp.f->shutdown(&fx->comp);
    assert_true(fx->comp.f->busy(&fx->comp));
    spin(fx, 50);
    assert_true(fx->comp.f->busy(&fx->comp)); /* still retrying */
    fx->rx->drain_deadline_ms = uv_now(&fx->loop);
    SPIN_UNTIL(fx, !fx->comp.f->busy(&fx->comp));
    assert_true(fx->rx->n.dropped_shutdown >= 1);
    assert_int_equal(fx->sink.records, 0);
    rx_teardown(fx);
    close(fd);
    free(fx);
}

static void test_tcp_hostile(void **state)
{
    (void)state;
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\nenable_octet_counting: true\nmax_octets: 1024\n", true);
    int port = vg_listener_port(fx->rx->tcp_l);
    /* NUL bytes, PRI <999>, invalid UTF-8, then a line of 1 MiB, then a good line. */
    int fd = tcp_client(port, 0);
    static const char a[] = "<13>1 - h a - - - nul\0inside\n<999>1 - h a - - - big pri\n\xFF\xFE\n";
    assert_int_equal(send(fd, a, sizeof a - 1, 0), (ssize_t)(sizeof a - 1));
    size_t big = 1 << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = '\n';
    size_t off = 0;
    while (off < big + 1) {
        ssize_t n = send(fd, huge + off, big + 1 - off, MSG_NOSIGNAL);
        if (n > 0) off += (size_t)n;
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    free(huge);
    static const char b[] = "<13>1 - h a - - - after\n";
    assert_int_equal(send(fd, b, sizeof b - 1, 0), (ssize_t)(sizeof b - 1));
    SPIN_UNTIL(fx, fx->sink.records == 5);
    assert_string_equal(fx->sink.bodies[0], "<13>1 - h a - - - nul" R "inside");
    assert_string_equal(fx->sink.bodies[1], "<999>1 - h a - - - big pri");
    assert_string_equal(fx->sink.bodies[2], R R);
    assert_int_equal(strlen(fx->sink.bodies[3]), 1024); /* cut at max_octets */
    assert_string_equal(fx->sink.bodies[4], "<13>1 - h a - - - after");
    close(fd);
    /* Octet counting: a truncated count and a connection ending inside a frame. */
    fd = tcp_client(port, 0);
    static const char c[] = "5 <13>113 <13>1 - h a -12x junk\n30 <13>1 - h a - - - cut";
    assert_int_equal(send(fd, c, sizeof c - 1, 0), (ssize_t)(sizeof c - 1));
    close(fd);
    SPIN_UNTIL(fx, fx->sink.records == 8);
    assert_string_equal(fx->sink.bodies[5], "<13>1");
    assert_string_equal(fx->sink.bodies[6], "<13>1 - h a -");
    assert_string_equal(fx->sink.bodies[7], "<13>1 - h a - - - cut");
    vg_syslog_map_stats_t *st = &fx->rx->sbld->st;
    assert_true(st->parse_errors >= 3);
    assert_int_equal(st->too_long, 1);
    assert_int_equal(st->frame_errors, 1);
    assert_true(st->utf8_repaired >= 2);
    /* Still serving. */
    fd = tcp_client(port, 0);
    assert_int_equal(send(fd, b, sizeof b - 1, 0), (ssize_t)(sizeof b - 1));
    SPIN_UNTIL(fx, fx->sink.records == 9);
    close(fd);
    rx_teardown(fx);
    free(fx);
}

static void test_udp(void **state)
{
    (void)state;
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, "protocol: auto\nudp: { listen_address: \"127.0.0.1:0\" }\n", true);
    int port = syslog_dgram_port(fx->rx->udp);
    assert_true(port > 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *m1 = "<13>1 2025-01-01T00:00:00Z h a - - - one";
    const char *m2 = "<14>Jan  1 00:00:00 h a: two\n<14>Jan  1 00:00:00 h a: three\n";
    send(fd, m1, strlen(m1), 0);
    send(fd, m2, strlen(m2), 0);
    SPIN_UNTIL(fx, fx->sink.records == 3);
    assert_string_equal(fx->sink.bodies[2], "<14>Jan  1 00:00:00 h a: three");
    assert_non_null(strstr(fx->sink.last_attrs, "network.transport=udp;"));
    assert_non_null(strstr(fx->sink.last_attrs, "net.peer.ip=127.0.0.1;"));
    /* Refused datagram messages are dropped and counted. */
    fx->sink.refuse = 1;
    for (int i = 0; i < 10; i++) send(fd, m1, strlen(m1), 0);
    SPIN_UNTIL(fx, fx->rx->n.dropped_refused == 10);
    fx->sink.refuse = 0;
    send(fd, m1, strlen(m1), 0);
    SPIN_UNTIL(fx, fx->sink.records == 4);
    assert_int_equal(fx->rx->n.dgram_received, 13);
    close(fd);
    rx_teardown(fx);
    free(fx);
}

static void test_unix_dgram_and_stream(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-syslog-ut.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char yaml[512], path[200];
    snprintf(path, sizeof path, "%s/log", dir);
    snprintf(yaml, sizeof yaml, "protocol: auto\nunix: { path: \"%s\" }\n", path);
    rfx_t *fx = calloc(1, sizeof *fx);
    rx_setup(fx, yaml, true);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    const char *m = "<13>Jan  1 00:00:00 app[7]: hello from a local process";
    assert_int_equal(sendto(fd, m, strlen(m), 0, (struct sockaddr *)&sun, sizeof sun), (ssize_t)strlen(m));
    SPIN_UNTIL(fx, fx->sink.records == 1);
    char want[128];
    snprintf(want, sizeof want, "unix.peer.pid=%d;unix.peer.uid=%d;", (int)getpid(), (int)getuid());
    assert_non_null(strstr(fx->sink.last_attrs, want));
    assert_int_equal(fx->sink.last_peer.pid, (int)getpid());
    close(fd);
    rx_teardown(fx);
    free(fx);
    assert_int_equal(access(path, F_OK), -1); /* removed at shutdown */

    /* stream */
    snprintf(yaml, sizeof yaml, "unix: { path: \"%s\", type: stream }\n", path);
    fx = calloc(1, sizeof *fx);
    rx_setup(fx, yaml, true);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    const char *s = "<13>1 - h a - - - over a stream\n";
    assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
    SPIN_UNTIL(fx, fx->sink.records == 1);
    assert_non_null(strstr(fx->sink.last_attrs, want));
    close(fd);
    rx_teardown(fx);
    free(fx);
    rmdir(dir);
}

static void test_lifecycle(void **state)
{
    (void)state;
    /* Start fails (port in use): nothing left on the loop after shutdown. */
    int hold = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(hold, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(hold, 1), 0);
    socklen_t sl = sizeof sa;
    getsockname(hold, (struct sockaddr *)&sa, &sl);
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "udp: { listen_address: \"127.0.0.1:0\" }\ntcp: { listen_address: \"127.0.0.1:%d\" }\n",
             ntohs(sa.sin_port));
    rfx_t *fx = calloc(1, sizeof *fx);
    int rc = rx_setup(fx, yaml, false);
    assert_int_not_equal(rc, 0);
    rx_teardown(fx);
    free(fx);
    close(hold);

    /* Validation: nothing to listen on; bad zone; TLS without key. */
    static const char *bad[] = {
        "protocol: rfc5424\n",
        "udp: { listen_address: \":514\" }\nlocation: Mars/Olympus\n",
        "tcp: { listen_address: \":514\", tls: { cert_file: /x.pem } }\n",
        "unix: { path: /tmp/x, mode: \"99\" }\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vg_errs_t errs;
        vg_errs_init(&errs);
        vg_ydoc_t *doc;
        assert_int_equal(vg_ydoc_load_string("t.yaml", bad[i], strlen(bad[i]), &doc, &errs), 0);
        void *cfg = vg_calloc(1, vg_syslog_receiver_factory.config_size);
        int prc = vg_options_parse(vg_syslog_receiver_factory.options, cfg, doc->root, "syslog", &errs);
        int vrc = prc ? prc : vg_syslog_receiver_factory.validate(cfg, "syslog", &errs);
        if (vrc == 0) fail_msg("config %zu should be invalid", i);
        vg_options_free(vg_syslog_receiver_factory.options, cfg);
        vg_free(cfg);
        vg_ydoc_free(doc);
        vg_errs_free(&errs);
    }
}


/* Every allocation failing in turn while connections are accepted, read,
 * refused and retried: errors, counted losses, never a crash or a leak. */
static void test_failmalloc_loop(void **state)
{
    (void)state;
    static const char data[] = "<13>1 - h a - - - one\n<13>1 - h a - - - two\n<13>1 - h a - - - three";
    for (long n = 1; n <= 60; n++) {
        rfx_t *fx = calloc(1, sizeof *fx);
        rx_setup(fx, "tcp: { listen_address: \"127.0.0.1:0\" }\nudp: { listen_address: \"127.0.0.1:0\" }\n", true);
        fx->sink.refuse = (int)(n % 2);
        int fd = tcp_client(vg_listener_port(fx->rx->tcp_l), 0);
        int ufd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)syslog_dgram_port(fx->rx->udp)) };
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        vg_mem_fail_after(n);
        (void)!send(fd, data, sizeof data - 1, MSG_NOSIGNAL);
        (void)!sendto(ufd, data, 21, 0, (struct sockaddr *)&sa, sizeof sa);
        spin(fx, 15);
        vg_mem_fail_reset();
        fx->sink.refuse = 0;
        spin(fx, 15);
        close(fd);
        close(ufd);
        spin(fx, 5);
        assert_true(fx->sink.records <= 4);
        rx_teardown(fx);
        free(fx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_table),         cmocka_unit_test(test_utf8_random),
        cmocka_unit_test(test_map_rfc5424),        cmocka_unit_test(test_map_rfc3164),
        cmocka_unit_test(test_map_errors),         cmocka_unit_test(test_map_peers),
        cmocka_unit_test(test_map_failmalloc),     cmocka_unit_test(test_tcp_backpressure),
        cmocka_unit_test(test_tcp_flaky_pipeline), cmocka_unit_test(test_tcp_closed_while_refused),
        cmocka_unit_test(test_tcp_shutdown),       cmocka_unit_test(test_tcp_hostile),
        cmocka_unit_test(test_udp),                cmocka_unit_test(test_unix_dgram_and_stream),
        cmocka_unit_test(test_lifecycle),          cmocka_unit_test(test_failmalloc_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
