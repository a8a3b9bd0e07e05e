/* otlp / otlphttp exporters without a network: the sending queue (bounds in
 * requests, items, bytes and max_bytes; FIFO; clear), the retry backoff
 * schedule (jitter off, jitter bounds, seeded randomness, max_elapsed_time),
 * the status classification table, google.rpc.Status / RetryInfo parsing,
 * Retry-After, the codec (gRPC framing, gzip/zstd round trip, partial-success
 * answers, failing every allocation), and the engine's lifecycle on a real
 * loop: requests queued for a dead endpoint, refusal when full, drain, and the
 * drop at the drain deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "component.h"
#include "error.h"
#include "exporters/otlp/otlpexp.h"
#include "mem.h"
#include "otlp_json.h"

extern const vg_factory_t vg_otlp_exporter_factory;
extern const vg_factory_t vg_otlphttp_exporter_factory;

static oe_req_t *mkreq(size_t items, size_t raw, size_t body)
{
    oe_req_t *r = vg_calloc(1, sizeof *r);
    assert_non_null(r);
    r->items = items;
    r->raw_bytes = raw;
    r->body_len = body;
    r->body = vg_malloc(body ? body : 1);
    assert_non_null(r->body);
    return r;
}

/* ---- queue ------------------------------------------------------------------ */

static void test_queue_requests_fifo(void **state)
{
    (void)state;
    oe_queue_t q;
    oe_queue_init(&q, OE_SIZER_REQUESTS, 3, 1 << 20);
    oe_req_t *r[4];
    for (int i = 0; i < 4; i++) { r[i] = mkreq(10 + (size_t)i, 100, 50); r[i]->signal = VG_SIG_TRACES; }
    for (int i = 0; i < 3; i++) assert_int_equal(oe_queue_push(&q, r[i], 0), 0);
    assert_int_equal(oe_queue_size(&q), 3);
    assert_false(oe_queue_has_room(&q, 1, 0));
    assert_int_equal(oe_queue_push(&q, r[3], 0), VG_EFULL); /* caller keeps it */
    assert_int_equal(q.items, 10 + 11 + 12);
    assert_ptr_equal(oe_queue_pop(&q), r[0]);
    assert_ptr_equal(oe_queue_pop(&q), r[1]);
    assert_int_equal(oe_queue_push(&q, r[3], 0), 0);
    assert_ptr_equal(oe_queue_pop(&q), r[2]);
    assert_ptr_equal(oe_queue_pop(&q), r[3]);
    assert_null(oe_queue_pop(&q));
    assert_int_equal(q.mem, 0);
    assert_int_equal(q.items, 0);
    for (int i = 0; i < 4; i++) oe_req_free(r[i]);
}

static void test_queue_items_and_bytes(void **state)
{
    (void)state;
    oe_queue_t q;
    oe_queue_init(&q, OE_SIZER_ITEMS, 100, 1 << 20);
    oe_req_t *big = mkreq(500, 10, 10), *a = mkreq(60, 10, 10), *b = mkreq(50, 10, 10);
    /* one request larger than the capacity goes into an empty queue (else it never could) */
    assert_true(oe_queue_has_room(&q, 500, 0));
    assert_int_equal(oe_queue_push(&q, big, 0), 0);
    assert_false(oe_queue_has_room(&q, 1, 0));
    assert_int_equal(oe_queue_push(&q, a, 0), VG_EFULL);
    oe_queue_pop(&q);
    assert_int_equal(oe_queue_push(&q, a, 0), 0);
    assert_false(oe_queue_has_room(&q, 50, 0));
    assert_int_equal(oe_queue_push(&q, b, 0), VG_EFULL); /* 60 + 50 > 100 */
    uint64_t items[VG_SIG_COUNT] = { 0 };
    oe_queue_clear(&q, items);
    assert_int_equal(items[VG_SIG_TRACES], 60);
    assert_int_equal(q.requests, 0);
    oe_req_free(big);
    oe_req_free(b);

    oe_queue_init(&q, OE_SIZER_BYTES, 1000, 1 << 20);
    oe_req_t *c = mkreq(1, 600, 10), *d = mkreq(1, 600, 10), *e = mkreq(1, 400, 10);
    assert_int_equal(oe_queue_push(&q, c, 0), 0);
    assert_int_equal(oe_queue_push(&q, d, 0), VG_EFULL);
    assert_int_equal(oe_queue_push(&q, e, 0), 0);
    assert_int_equal(oe_queue_size(&q), 1000);
    oe_queue_clear(&q, NULL);
    oe_req_free(d);
}

static void test_queue_max_bytes(void **state)
{
    (void)state;
    oe_queue_t q;
    size_t per = 1000 + sizeof(oe_req_t);
    oe_queue_init(&q, OE_SIZER_REQUESTS, 1000, 3 * per);
    oe_req_t *r[5];
    for (int i = 0; i < 5; i++) r[i] = mkreq(1, 1000, 1000);
    assert_int_equal(oe_queue_push(&q, r[0], 0), 0);
    assert_int_equal(oe_queue_push(&q, r[1], 0), 0);
    /* memory held in flight counts too */
    assert_int_equal(oe_queue_push(&q, r[2], per), VG_EFULL);
    assert_false(oe_queue_has_room(&q, 1, per));
    assert_int_equal(oe_queue_push(&q, r[2], 0), 0);
    assert_int_equal(oe_queue_push(&q, r[3], 0), VG_EFULL); /* requests sizer has room; memory not */
    assert_int_equal(q.mem, 3 * per);
    oe_queue_clear(&q, NULL);
    /* a request larger than max_bytes alone: only when nothing is held */
    oe_req_t *huge = mkreq(1, 10000, 10 * per);
    assert_int_equal(oe_queue_push(&q, huge, per), VG_EFULL);
    assert_int_equal(oe_queue_push(&q, huge, 0), 0);
    assert_int_equal(oe_queue_push(&q, r[4], 0), VG_EFULL);
    oe_queue_clear(&q, NULL);
    oe_req_free(r[3]);
    oe_req_free(r[4]);
}

/* ---- backoff ---------------------------------------------------------------- */

static oe_retry_cfg_t retry_cfg(double rf)
{
    return (oe_retry_cfg_t){ .enabled = true, .initial_interval = 5000000000LL, .max_interval = 30000000000LL,
                             .max_elapsed_time = 300000000000LL, .multiplier = 1.5, .randomization_factor = rf };
}

static void test_backoff_schedule_no_jitter(void **state)
{
    (void)state;
    oe_retry_cfg_t cfg = retry_cfg(0);
    int64_t iv = 0, elapsed = 0;
    const int64_t want_ms[] = { 5000, 7500, 11250, 16875, 25312, 30000, 30000 };
    for (size_t i = 0; i < sizeof want_ms / sizeof *want_ms; i++) {
        int64_t d = oe_backoff_next(&cfg, &iv, elapsed, 0.73);
        assert_int_equal(d / 1000000, want_ms[i]);
        elapsed += d;
    }
    /* give up when the next wait would pass max_elapsed_time */
    int64_t d = oe_backoff_next(&cfg, &iv, 290000000000LL, 0.5);
    assert_int_equal(d, -1);
    cfg.max_elapsed_time = 0; /* forever */
    assert_int_equal(oe_backoff_next(&cfg, &iv, 1000000000000LL, 0.5), 30000000000LL);
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    oe_retry_cfg_t cfg = retry_cfg(0.5);
    int64_t iv = 0;
    assert_int_equal(oe_backoff_next(&cfg, &iv, 0, 0.0), 2500000000LL); /* 5s × 0.5 */
    iv = 0;
    int64_t hi = oe_backoff_next(&cfg, &iv, 0, 0.999999);
    assert_true(hi > 7490000000LL && hi <= 7500000000LL); /* 5s × 1.5 */
    /* seeded: the same seed gives the same schedule; values stay in bounds */
    uint64_t s1 = 42, s2 = 42;
    int64_t i1 = 0, i2 = 0;
    for (int k = 0; k < 50; k++) {
        double r1 = oe_rand01(&s1), r2 = oe_rand01(&s2);
        assert_true(r1 >= 0 && r1 < 1);
        int64_t before = i1 ? i1 : cfg.initial_interval;
        int64_t d1 = oe_backoff_next(&cfg, &i1, 0, r1), d2 = oe_backoff_next(&cfg, &i2, 0, r2);
        assert_int_equal(d1, d2);
        assert_true(d1 >= before / 2 && d1 <= before + before / 2);
    }
}

/* ---- classification --------------------------------------------------------- */

static void test_classify(void **state)
{
    (void)state;
    static const int retry_codes[] = { 1, 4, 10, 11, 14, 15 };
    for (int code = 0; code <= 16; code++) {
        bool retry = false;
        for (size_t i = 0; i < sizeof retry_codes / sizeof *retry_codes; i++) retry |= retry_codes[i] == code;
        oe_verdict_t want = code == 0 ? OE_OK : retry ? OE_RETRY : OE_PERMANENT;
        assert_int_equal(oe_classify_grpc(code, false), want);
    }
    assert_int_equal(oe_classify_grpc(8, false), OE_PERMANENT); /* RESOURCE_EXHAUSTED */
    assert_int_equal(oe_classify_grpc(8, true), OE_RETRY);
    assert_int_equal(oe_classify_grpc(99, false), OE_PERMANENT);
    assert_string_equal(oe_grpc_code_name(14), "UNAVAILABLE");
    assert_string_equal(oe_grpc_code_name(3), "INVALID_ARGUMENT");
    assert_int_equal(oe_classify_http(200), OE_OK);
    assert_int_equal(oe_classify_http(204), OE_OK);
    const long retry_http[] = { 429, 502, 503, 504 };
    for (size_t i = 0; i < 4; i++) assert_int_equal(oe_classify_http(retry_http[i]), OE_RETRY);
    const long perm_http[] = { 400, 401, 403, 404, 405, 413, 415, 500, 501 };
    for (size_t i = 0; i < sizeof perm_http / sizeof *perm_http; i++)
        assert_int_equal(oe_classify_http(perm_http[i]), OE_PERMANENT);
    assert_int_equal(oe_grpc_code_from_http(400), 13);
    assert_int_equal(oe_grpc_code_from_http(401), 16);
    assert_int_equal(oe_grpc_code_from_http(403), 7);
    assert_int_equal(oe_grpc_code_from_http(404), 12);
    assert_int_equal(oe_grpc_code_from_http(503), 14);
    assert_int_equal(oe_grpc_code_from_http(500), 2);
    bool conn;
    assert_int_equal(oe_classify_transport(CURLE_COULDNT_CONNECT, &conn), OE_RETRY);
    assert_true(conn);
    assert_int_equal(oe_classify_transport(CURLE_PEER_FAILED_VERIFICATION, &conn), OE_RETRY);
    assert_true(conn);
    assert_int_equal(oe_classify_transport(CURLE_OPERATION_TIMEDOUT, &conn), OE_RETRY);
    assert_false(conn);
    assert_int_equal(oe_classify_transport(CURLE_HTTP2_STREAM, &conn), OE_RETRY);
    assert_int_equal(oe_classify_transport(CURLE_SSL_CACERT_BADFILE, &conn), OE_PERMANENT);
    assert_int_equal(oe_classify_transport(CURLE_URL_MALFORMAT, &conn), OE_PERMANENT);
    /* the table holds every gRPC code once */
    int seen = 0;
    for (const oe_status_row_t *r = oe_status_table; r->name; r++) seen += r->table == OE_TAB_GRPC;
    assert_int_equal(seen, 17);
}

/* ---- google.rpc.Status / RetryInfo ------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do { uint8_t b = v & 0x7f; v >>= 7; p[n++] = b | (v ? 0x80 : 0); } while (v);
    return n;
}
static size_t put_len(uint8_t *p, unsigned field, const void *data, size_t len)
{
    size_t n = put_varint(p, (field << 3) | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, data, len);
    return n + len;
}

static size_t status_bytes(uint8_t *out, int code, const char *type, int64_t secs, int32_t nanos)
{
    uint8_t dur[32], ri[48], any[160];
    size_t dn = 0;
    dn += put_varint(dur + dn, 1 << 3);
    dn += put_varint(dur + dn, (uint64_t)secs);
    dn += put_varint(dur + dn, 2 << 3);
    dn += put_varint(dur + dn, (uint64_t)(uint32_t)nanos);
    size_t rn = put_len(ri, 1, dur, dn);
    size_t an = put_len(any, 1, type, strlen(type));
    an += put_len(any + an, 2, ri, rn);
    size_t n = put_varint(out, 1 << 3);
    n += put_varint(out + n, (uint64_t)code);
    n += put_len(out + n, 2, "slow down", 9);
    /* an unrelated detail first, then ours */
    uint8_t other[64];
    size_t on = put_len(other, 1, "type.googleapis.com/google.rpc.DebugInfo", 40);
    n += put_len(out + n, 3, other, on);
    n += put_len(out + n, 3, any, an);
    return n;
}

static void test_rpc_status(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = status_bytes(buf, 8, "type.googleapis.com/google.rpc.RetryInfo", 2, 500000000);
    oe_rpc_status_t st;
    assert_int_equal(oe_parse_rpc_status(buf, n, &st), 0);
    assert_int_equal(st.code, 8);
    assert_int_equal(st.message_len, 9);
    assert_memory_equal(st.message, "slow down", 9);
    assert_true(st.has_retry_info);
    assert_int_equal(st.retry_delay_ns, 2500000000LL);
    n = status_bytes(buf, 14, "type.googleapis.com/google.rpc.QuotaFailure", 2, 0);
    assert_int_equal(oe_parse_rpc_status(buf, n, &st), 0);
    assert_false(st.has_retry_info);
    assert_int_equal(st.code, 14);
    /* every truncation either parses a prefix or fails cleanly */
    n = status_bytes(buf, 8, "type.googleapis.com/google.rpc.RetryInfo", 1, 0);
    for (size_t k = 0; k < n; k++) (void)oe_parse_rpc_status(buf, k, &st);
    assert_int_equal(oe_parse_rpc_status((const uint8_t *)"\x0a\x05" "ab", 4, &st), VG_EPARSE);
    assert_int_equal(oe_parse_rpc_status((const uint8_t *)"\x0b", 1, &st), VG_EPARSE); /* group */
    assert_int_equal(oe_parse_rpc_status(buf, 0, &st), 0);

    /* base64 as in grpc-status-details-bin (unpadded), standard and URL-safe */
    uint8_t out[16];
    assert_int_equal(oe_base64_decode("aGVsbG8", 7, out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(oe_base64_decode("aGVsbG8=", 8, out), 5);
    assert_int_equal(oe_base64_decode("-_8", 3, out), 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(oe_base64_decode("a*b", 3, out), -1);
    char msg[] = "no%20way%2Fout%zz";
    size_t ml = oe_percent_decode(msg, strlen(msg));
    assert_string_equal(msg, "no way/out%zz");
    assert_int_equal(ml, strlen("no way/out%zz"));

    assert_int_equal(oe_parse_retry_after("3", 0), 3000000000LL);
    assert_int_equal(oe_parse_retry_after(" 0 ", 0), 0);
    assert_int_equal(oe_parse_retry_after("soon", 0), -1);
    assert_int_equal(oe_parse_retry_after("", 0), -1);
    assert_int_equal(oe_parse_retry_after(NULL, 0), -1);
    /* HTTP-date: 2015-10-21 07:28:00 GMT is 1445412480 */
    assert_int_equal(oe_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000000000LL);
    assert_int_equal(oe_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
}

/* ---- codec ------------------------------------------------------------------- */

static const char traces_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"t\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
    "\"spanId\":\"0102030405060708\",\"name\":\"a-fairly-long-span-name-that-compresses-a-fairly-long-span-name\","
    "\"kind\":2},{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060709\","
    "\"name\":\"a-fairly-long-span-name-that-compresses-a-fairly-long-span-name\"}]}]}]}";

static vg_batch_t *traces_batch(void)
{
    vg_arena_t *a = vg_arena_new();
    ProtobufCMessage *m = NULL;
    assert_int_equal(vg_otlp_json_decode(VG_SIG_TRACES, traces_json, strlen(traces_json), a, &m, NULL, 0), 0);
    vg_batch_t *b = vg_batch_wrap(VG_SIG_TRACES, a, m);
    assert_non_null(b);
    assert_int_equal(b->items, 2);
    return b;
}

static void test_codec_roundtrip(void **state)
{
    (void)state;
    vg_batch_t *b = traces_batch();
    size_t packed = protobuf_c_message_get_packed_size(vg_batch_req(b));
    uint8_t *ref = vg_malloc(packed);
    protobuf_c_message_pack(vg_batch_req(b), ref);
    const int comps[] = { OE_COMP_NONE, OE_COMP_GZIP, OE_COMP_ZSTD };
    const char *names[] = { NULL, "gzip", "zstd" };
    for (int proto = OE_PROTO_GRPC; proto <= OE_PROTO_HTTP; proto++)
        for (int k = 0; k < 3; k++) {
            oe_codec_t *cd = oe_codec_new(proto, OE_ENC_PROTO, comps[k]);
            oe_req_t *r = NULL;
            for (int rep = 0; rep < 2; rep++) { /* the compressor is reused */
                assert_int_equal(oe_codec_encode(cd, VG_SIG_TRACES, vg_batch_req(b), b->items, &r), 0);
                assert_int_equal(r->items, 2);
                assert_int_equal(r->raw_bytes, packed);
                const uint8_t *p = r->body;
                size_t n = r->body_len;
                if (proto == OE_PROTO_GRPC) {
                    assert_int_equal(p[0], comps[k] == OE_COMP_NONE ? 0 : 1);
                    uint32_t ml = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
                    assert_int_equal(ml, n - 5);
                    p += 5;
                    n -= 5;
                }
                if (names[k]) {
                    uint8_t *d;
                    size_t dl;
                    assert_true(n < packed);
                    assert_int_equal(oe_decompress(names[k], p, n, 1 << 20, &d, &dl), 0);
                    assert_int_equal(dl, packed);
                    assert_memory_equal(d, ref, packed);
                    vg_free(d);
                    assert_int_equal(oe_decompress(names[k], p, n, 8, &d, &dl), VG_ETOOBIG);
                    assert_int_equal(oe_decompress(names[k], p, n / 2, 1 << 20, &d, &dl), VG_EPARSE);
                } else {
                    assert_int_equal(n, packed);
                    assert_memory_equal(p, ref, packed);
                }
                oe_req_free(r);
            }
            oe_codec_free(cd);
        }
    /* JSON encoding */
    oe_codec_t *cd = oe_codec_new(OE_PROTO_HTTP, OE_ENC_JSON, OE_COMP_NONE);
    oe_req_t *r = NULL;
    assert_int_equal(oe_codec_encode(cd, VG_SIG_TRACES, vg_batch_req(b), b->items, &r), 0);
    assert_non_null(strstr((const char *)r->body, "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\""));
    oe_req_free(r);
    oe_codec_free(cd);
    vg_free(ref);
    vg_batch_unref(b);
}

/* A batch in wire form holding `bytes` (copied into its arena). */
static vg_batch_t *wire_batch(const uint8_t *bytes, size_t n, size_t items)
{
    vg_arena_t *a = vg_arena_new();
    const uint8_t *copy = vg_arena_memdup(a, bytes, n);
    vg_batch_t *b = vg_batch_wrap_wire(VG_SIG_TRACES, a, copy, n, items, 1 << 20);
    assert_non_null(b);
    return b;
}

/* A batch in wire form is sent as its bytes: the same body as packing the
 * decoded message (one segment), or the segments back to back (two inputs
 * merged by the batch processor); JSON encoding decodes it first. */
static void test_codec_wire(void **state)
{
    (void)state;
    vg_batch_t *b = traces_batch();
    size_t packed = protobuf_c_message_get_packed_size(vg_batch_req(b));
    uint8_t *ref = vg_malloc(2 * packed);
    protobuf_c_message_pack(vg_batch_req(b), ref);
    memcpy(ref + packed, ref, packed);
    vg_batch_t *one = wire_batch(ref, packed, 2);
    vg_batch_t *two = vg_batch_new_wire(VG_SIG_TRACES);
    vg_batch_t *w1 = wire_batch(ref, packed, 2), *w2 = wire_batch(ref, packed, 2);
    assert_int_equal(vg_batch_concat(two, w1), 0);
    assert_int_equal(vg_batch_concat(two, w2), 0);
    vg_batch_unref(w1); /* `two` keeps its inputs alive */
    vg_batch_unref(w2);
    assert_int_equal(two->items, 4);
    assert_int_equal(two->wire_len, 2 * packed);
    const int comps[] = { OE_COMP_NONE, OE_COMP_GZIP, OE_COMP_ZSTD };
    const char *names[] = { NULL, "gzip", "zstd" };
    for (int proto = OE_PROTO_GRPC; proto <= OE_PROTO_HTTP; proto++)
        for (int k = 0; k < 3; k++)
            for (int which = 0; which < 2; which++) {
                vg_batch_t *in = which ? two : one;
                size_t want = which ? 2 * packed : packed;
                oe_codec_t *cd = oe_codec_new(proto, OE_ENC_PROTO, comps[k]);
                oe_req_t *r = NULL;
                assert_int_equal(oe_codec_encode_batch(cd, in, &r), 0);
                assert_int_equal(r->items, in->items);
                assert_int_equal(r->raw_bytes, want);
                const uint8_t *p = r->body + (proto == OE_PROTO_GRPC ? 5 : 0);
                size_t n = r->body_len - (proto == OE_PROTO_GRPC ? 5 : 0);
                if (names[k]) {
                    uint8_t *d;
                    size_t dl;
                    assert_int_equal(oe_decompress(names[k], p, n, 1 << 20, &d, &dl), 0);
                    assert_int_equal(dl, want);
                    assert_memory_equal(d, ref, want);
                    vg_free(d);
                } else {
                    assert_int_equal(n, want);
                    assert_memory_equal(p, ref, want);
                }
                oe_req_free(r);
                oe_codec_free(cd);
                assert_true(vg_batch_has_wire(in)); /* encoding never decoded it */
            }
    oe_codec_t *cd = oe_codec_new(OE_PROTO_HTTP, OE_ENC_JSON, OE_COMP_NONE);
    oe_req_t *r = NULL;
    assert_int_equal(oe_codec_encode_batch(cd, two, &r), 0);
    const char *second = strstr((const char *)r->body, "\"spanId\":\"0102030405060709\"");
    assert_non_null(second);
    assert_non_null(strstr(second + 1, "\"spanId\":\"0102030405060709\"")); /* both segments decoded */
    oe_req_free(r);
    oe_codec_free(cd);
    vg_batch_unref(one);
    vg_batch_unref(two);
    vg_free(ref);
    vg_batch_unref(b);
}

static void test_codec_failmalloc(void **state)
{
    (void)state;
    vg_batch_t *b = traces_batch();
    for (int comp = OE_COMP_GZIP; comp <= OE_COMP_NONE; comp++)
        for (long n = 1; n < 40; n++) {
            oe_codec_t *cd = oe_codec_new(OE_PROTO_GRPC, OE_ENC_PROTO, comp);
            assert_non_null(cd);
            oe_req_t *r = NULL;
            vg_mem_fail_after(n);
            int rc = oe_codec_encode(cd, VG_SIG_TRACES, vg_batch_req(b), b->items, &r);
            vg_mem_fail_reset();
            if (rc) { assert_int_equal(rc, VG_ENOMEM); assert_null(r); }
            oe_req_free(r);
            oe_codec_free(cd);
        }
    vg_batch_unref(b);
}

static void test_decode_response(void **state)
{
    (void)state;
    oe_partial_t ps;
    const char *j = "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"bad ids\"}}";
    assert_int_equal(oe_decode_response(VG_SIG_TRACES, true, (const uint8_t *)j, strlen(j), &ps), 0);
    assert_true(ps.present);
    assert_int_equal(ps.rejected, 3);
    assert_string_equal(ps.message, "bad ids");
    assert_int_equal(oe_decode_response(VG_SIG_LOGS, true, (const uint8_t *)"{}", 2, &ps), 0);
    assert_false(ps.present);
    assert_int_equal(oe_decode_response(VG_SIG_LOGS, false, NULL, 0, &ps), 0);
    assert_false(ps.present);
    /* protobuf: ExportMetricsServiceResponse{partial_success{rejected_data_points: 7, error_message: "x"}} */
    uint8_t inner[16], msg[32];
    size_t in = put_varint(inner, 1 << 3);
    in += put_varint(inner + in, 7);
    in += put_len(inner + in, 2, "x", 1);
    size_t mn = put_len(msg, 1, inner, in);
    assert_int_equal(oe_decode_response(VG_SIG_METRICS, false, msg, mn, &ps), 0);
    assert_true(ps.present);
    assert_int_equal(ps.rejected, 7);
    assert_string_equal(ps.message, "x");
    assert_int_equal(oe_decode_response(VG_SIG_METRICS, false, msg, mn - 1, &ps), VG_EPARSE);
}

/* ---- the engine on a real loop ------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    vg_component_t comp;
    vg_ydoc_t *doc;
    vg_errs_t errs;
} fx_t;

static void fx_setup(fx_t *fx, const vg_factory_t *f, const char *yaml)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    vg_errs_init(&fx->errs);
    assert_int_equal(vg_ydoc_load_string("t.yaml", yaml, strlen(yaml), &fx->doc, &fx->errs), 0);
    fx->comp.f = f;
    fx->comp.id = (char *)f->type;
    fx->comp.loop = &fx->loop;
    fx->comp.in_signals = VG_SIGBITS_ALL;
    fx->comp.cfg = vg_calloc(1, f->config_size);
    assert_int_equal(vg_options_parse(f->options, fx->comp.cfg, fx->doc->root, "x", &fx->errs), 0);
    assert_int_equal(f->validate(fx->comp.cfg, "x", &fx->errs), 0);
    assert_int_equal(f->create(&fx->comp), 0);
    assert_int_equal(f->start(&fx->comp), 0);
}

static void fx_teardown(fx_t *fx)
{
    const vg_factory_t *f = fx->comp.f;
    f->shutdown(&fx->comp);
    f->shutdown(&fx->comp);
    for (int i = 0; i < 200 && f->busy(&fx->comp); i++) uv_run(&fx->loop, UV_RUN_NOWAIT);
    if (f->busy(&fx->comp)) { /* the drain deadline: drop and close */
        fx->comp.abandoned = true;
        f->shutdown(&fx->comp);
        for (int i = 0; i < 200 && f->busy(&fx->comp); i++) uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    assert_false(f->busy(&fx->comp));
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    f->destroy(&fx->comp);
    vg_options_free(f->options, fx->comp.cfg);
    vg_free(fx->comp.cfg);
    vg_ydoc_free(fx->doc);
    vg_errs_free(&fx->errs);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* no handle left behind */
}

static void test_engine_idle_lifecycle(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx, &vg_otlp_exporter_factory, "endpoint: 127.0.0.1:1\ntls: { insecure: true }\n");
    assert_int_equal(fx.comp.stats.queue_capacity, 1000);
    fx_teardown(&fx);
    fx_setup(&fx, &vg_otlphttp_exporter_factory, "endpoint: http://127.0.0.1:1\nencoding: json\n");
    fx_teardown(&fx);
}

static void test_engine_refuses_when_full_and_drops_at_deadline(void **state)
{
    (void)state;
    fx_t fx;
    /* port 1 refuses connections: requests stay (retrying) in the consumers and the queue */
    fx_setup(&fx, &vg_otlp_exporter_factory,
             "endpoint: 127.0.0.1:1\ntls: { insecure: true }\n"
             "retry_on_failure: { initial_interval: 10ms, max_interval: 20ms, max_elapsed_time: 0 }\n"
             "sending_queue: { num_consumers: 2, queue_size: 3 }\n");
    int refused = 0, accepted = 0;
    for (int i = 0; i < 10; i++) {
        int rc = vg_otlp_exporter_factory.consume(&fx.comp, traces_batch());
        if (rc == 0) accepted++;
        else { assert_int_equal(rc, VG_EFULL); assert_true(vg_err_retryable(rc)); refused++; }
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    }
    /* 3 queued + the consumers that took one before the first connection
     * failure paused dispatch (reconnect backoff) */
    assert_true(accepted >= 4 && accepted <= 5);
    assert_int_equal(fx.comp.stats.enqueue_failed[VG_SIG_TRACES], 2 * refused);
    assert_int_equal(fx.comp.stats.queue_size, 3);
    /* the attempts fail and are retried, nothing is given up */
    uint64_t until = uv_now(&fx.loop) + 300;
    while (uv_now(&fx.loop) < until) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(fx.comp.stats.send_failed[VG_SIG_TRACES], 0);
    /* shutdown: still busy (nothing can be sent); after shutdown, new data is refused */
    vg_otlp_exporter_factory.shutdown(&fx.comp);
    assert_true(vg_otlp_exporter_factory.busy(&fx.comp));
    assert_int_equal(vg_otlp_exporter_factory.consume(&fx.comp, traces_batch()), VG_ESHUTDOWN);
    fx_teardown(&fx);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_TRACES], 2 * accepted); /* requests of 2 spans */
    assert_int_equal(fx.comp.stats.sent[VG_SIG_TRACES], 0);
}

static void test_engine_permanent_without_retry(void **state)
{
    (void)state;
    fx_t fx;
    /* retries off: a refused connection gives the request up at once (counted) */
    fx_setup(&fx, &vg_otlphttp_exporter_factory,
             "endpoint: http://127.0.0.1:1\nretry_on_failure: { enabled: false }\n");
    assert_int_equal(vg_otlphttp_exporter_factory.consume(&fx.comp, traces_batch()), 0);
    for (int i = 0; i < 2000 && fx.comp.stats.send_failed[VG_SIG_TRACES] == 0; i++) uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(fx.comp.stats.send_failed[VG_SIG_TRACES], 2);
    fx_teardown(&fx);
    assert_int_equal(fx.comp.stats.dropped[VG_SIG_TRACES], 0);
}

static void test_validate(void **state)
{
    (void)state;
    const char *bad[] = {
        "endpoint: nohost\n",
        "endpoint: 127.0.0.1:4317\ntls: { cert_file: /x }\n",
        "endpoint: 127.0.0.1:4317\nretry_on_failure: { initial_interval: 10s, max_interval: 1s }\n",
        "endpoint: 127.0.0.1:4317\nheaders: { \"bad name\": x }\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vg_errs_t errs;
        vg_errs_init(&errs);
        vg_ydoc_t *doc;
        assert_int_equal(vg_ydoc_load_string("t.yaml", bad[i], strlen(bad[i]), &doc, &errs), 0);
        void *cfg = vg_calloc(1, vg_otlp_exporter_factory.config_size);
        int rc = vg_options_parse(vg_otlp_exporter_factory.options, cfg, doc->root, "x", &errs);
        if (rc == 0) rc = vg_otlp_exporter_factory.validate(cfg, "x", &errs);
        assert_int_equal(rc, VG_ECONFIG);
        vg_options_free(vg_otlp_exporter_factory.options, cfg);
        vg_free(cfg);
        vg_ydoc_free(doc);
        vg_errs_free(&errs);
    }
    const char *h = "encoding: json\n"; /* otlphttp without any endpoint */
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_ydoc_t *doc;
    assert_int_equal(vg_ydoc_load_string("t.yaml", h, strlen(h), &doc, &errs), 0);
    void *cfg = vg_calloc(1, vg_otlphttp_exporter_factory.config_size);
    assert_int_equal(vg_options_parse(vg_otlphttp_exporter_factory.options, cfg, doc->root, "x", &errs), 0);
    assert_int_equal(vg_otlphttp_exporter_factory.validate(cfg, "x", &errs), VG_ECONFIG);
    vg_options_free(vg_otlphttp_exporter_factory.options, cfg);
    vg_free(cfg);
    vg_ydoc_free(doc);
    vg_errs_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_requests_fifo),
        cmocka_unit_test(test_queue_items_and_bytes),
        cmocka_unit_test(test_queue_max_bytes),
        cmocka_unit_test(test_backoff_schedule_no_jitter),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_rpc_status),
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_wire),
        cmocka_unit_test(test_codec_failmalloc),
        cmocka_unit_test(test_decode_response),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_engine_idle_lifecycle),
        cmocka_unit_test(test_engine_refuses_when_full_and_drops_at_deadline),
        cmocka_unit_test(test_engine_permanent_without_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
