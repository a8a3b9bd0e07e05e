/* The otlp receiver's status mapping (receivers/otlp/otlp_status.c): every
 * vg_errno_t at every origin against the expected gRPC code, HTTP status and
 * retry advice; and the encoders that go with error answers (grpc-message
 * percent-encoding, grpc-status-details-bin with RetryInfo, the
 * google.rpc.Status body of OTLP/HTTP errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "collector/error.h"
#include "collector/mem.h"
#include "receivers/otlp/otlp_int.h"

typedef struct {
    int err;
    otlp_origin_t at;
    int grpc, http, retry;
    bool grpc_http;
} row_t;

#define R OTLP_RETRY_AFTER_S
static const row_t table[] = {
    /* success */
    { 0, OTLP_AT_PIPELINE, OTLP_GRPC_OK, 200, 0, false },
    { 0, OTLP_AT_BODY, OTLP_GRPC_OK, 200, 0, false },
    /* routing */
    { VG_ENOTFOUND, OTLP_AT_PATH, OTLP_GRPC_UNIMPLEMENTED, 404, 0, false },
    { VG_EUNSUPPORTED, OTLP_AT_PATH, OTLP_GRPC_UNIMPLEMENTED, 404, 0, false },
    { VG_EUNSUPPORTED, OTLP_AT_METHOD, OTLP_GRPC_UNIMPLEMENTED, 405, 0, true },
    { VG_EUNSUPPORTED, OTLP_AT_MEDIA_TYPE, OTLP_GRPC_INTERNAL, 415, 0, true },
    { VG_EUNSUPPORTED, OTLP_AT_ENCODING, OTLP_GRPC_UNIMPLEMENTED, 415, 0, false },
    /* the request body */
    { VG_EPARSE, OTLP_AT_BODY, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_EINVAL, OTLP_AT_BODY, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_ETOOBIG, OTLP_AT_BODY, OTLP_GRPC_RESOURCE_EXHAUSTED, 413, 0, false },
    { VG_ETIMEOUT, OTLP_AT_BODY, OTLP_GRPC_DEADLINE_EXCEEDED, 408, 0, false },
    { VG_ENOMEM, OTLP_AT_BODY, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ESHUTDOWN, OTLP_AT_BODY, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ESTATE, OTLP_AT_BODY, OTLP_GRPC_INTERNAL, 500, 0, false },
    /* what the pipeline said */
    { VG_EFULL, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_EREFUSED, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_EUNAVAILABLE, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_EIO, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ETIMEOUT, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ESHUTDOWN, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ENOMEM, OTLP_AT_PIPELINE, OTLP_GRPC_UNAVAILABLE, 503, R, false },
    { VG_ETOOBIG, OTLP_AT_PIPELINE, OTLP_GRPC_RESOURCE_EXHAUSTED, 413, 0, false },
    { VG_EUNSUPPORTED, OTLP_AT_PIPELINE, OTLP_GRPC_UNIMPLEMENTED, 404, 0, false },
    { VG_EAUTH, OTLP_AT_PIPELINE, OTLP_GRPC_PERMISSION_DENIED, 403, 0, false },
    { VG_EPARSE, OTLP_AT_PIPELINE, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_EINVAL, OTLP_AT_PIPELINE, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_ENOTFOUND, OTLP_AT_PIPELINE, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_EEXISTS, OTLP_AT_PIPELINE, OTLP_GRPC_INVALID_ARGUMENT, 400, 0, false },
    { VG_ESTATE, OTLP_AT_PIPELINE, OTLP_GRPC_INTERNAL, 500, 0, false },
    { VG_ECONFIG, OTLP_AT_PIPELINE, OTLP_GRPC_INTERNAL, 500, 0, false },
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const row_t *r = &table[i];
        otlp_status_t s = otlp_status_map(r->err, r->at);
        if (s.grpc != r->grpc || s.http != r->http || s.retry_after_s != r->retry || s.grpc_http != r->grpc_http)
            fail_msg("%s at %s: got %s/%d/retry %d, want %s/%d/retry %d", vg_err_name(r->err),
                     otlp_origin_name(r->at), otlp_grpc_code_name(s.grpc), s.http, s.retry_after_s,
                     otlp_grpc_code_name(r->grpc), r->http, r->retry);
    }
}

/* Consistency with the OTLP specification for every code and origin: a
 * retryable answer is UNAVAILABLE/503 with a delay; RESOURCE_EXHAUSTED never
 * carries RetryInfo (so clients do not retry it); HTTP statuses that the spec
 * calls retryable (429, 502, 503, 504) are used only with a delay. */
static void test_every_code_consistent(void **state)
{
    (void)state;
    int codes[] = { 0, VG_ENOMEM, VG_EINVAL, VG_EFULL, VG_EREFUSED, VG_ETOOBIG, VG_EPARSE, VG_EIO, VG_ETIMEOUT,
                    VG_ESHUTDOWN, VG_EUNSUPPORTED, VG_ECONFIG, VG_ENOTFOUND, VG_EUNAVAILABLE, VG_EAUTH, VG_EEXISTS,
                    VG_ESTATE };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        for (int at = 0; at < OTLP_AT_COUNT; at++) {
            otlp_status_t s = otlp_status_map(codes[i], (otlp_origin_t)at);
            bool http_retryable = s.http == 429 || s.http == 502 || s.http == 503 || s.http == 504;
            assert_int_equal(http_retryable, s.retry_after_s > 0);
            if (s.retry_after_s) assert_int_equal(s.grpc, OTLP_GRPC_UNAVAILABLE);
            if (codes[i] == 0) assert_int_equal(s.http, 200);
            else assert_true(s.http >= 400 && s.http <= 599 && s.grpc != OTLP_GRPC_OK);
            /* a retryable pipeline error is always pushed back, never dropped */
            if (at == OTLP_AT_PIPELINE && codes[i] && vg_err_retryable(codes[i])) assert_int_equal(s.http, 503);
        }
    }
}

static void test_grpc_message(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(otlp_grpc_message_encode("plain text", out, sizeof out), 10);
    assert_string_equal(out, "plain text");
    otlp_grpc_message_encode("100% sure\n\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "100%25 sure%0A%C3%A9");
    /* truncation never splits an escape */
    char small[5];
    otlp_grpc_message_encode("ab%cd", small, sizeof small);
    assert_string_equal(small, "ab");
    otlp_grpc_message_encode(NULL, out, sizeof out);
    assert_string_equal(out, "");
}

static size_t b64dec(const char *in, uint8_t *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t v = 0;
    int bits = 0;
    size_t o = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(a, *in);
        assert_non_null(p);
        v = v << 6 | (uint32_t)(p - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(v >> bits);
        }
    }
    return o;
}

static void test_status_details(void **state)
{
    (void)state;
    char *d = otlp_grpc_status_details(OTLP_GRPC_UNAVAILABLE, "busy", 1);
    assert_non_null(d);
    assert_null(strchr(d, '=')); /* unpadded, as gRPC implementations emit it */
    uint8_t b[256];
    size_t n = b64dec(d, b);
    vg_free(d);
    static const char url[] = "type.googleapis.com/google.rpc.RetryInfo";
    uint8_t want[256];
    size_t w = 0;
    want[w++] = 0x08; want[w++] = 14;                   /* code = 14 */
    want[w++] = 0x12; want[w++] = 4;                    /* message */
    memcpy(want + w, "busy", 4); w += 4;
    want[w++] = 0x1a; want[w++] = (uint8_t)(2 + sizeof url - 1 + 2 + 4); /* details: Any */
    want[w++] = 0x0a; want[w++] = sizeof url - 1;       /* type_url */
    memcpy(want + w, url, sizeof url - 1); w += sizeof url - 1;
    want[w++] = 0x12; want[w++] = 4;                    /* value: RetryInfo */
    want[w++] = 0x0a; want[w++] = 2;                    /* retry_delay: Duration */
    want[w++] = 0x08; want[w++] = 1;                    /* seconds = 1 */
    assert_int_equal(n, w);
    assert_memory_equal(b, want, w);
}

static void test_http_status_body(void **state)
{
    (void)state;
    size_t len;
    char *b = otlp_http_status_body(OTLP_ENC_JSON, 3, "bad \"id\"\n", &len);
    assert_non_null(b);
    assert_int_equal(len, strlen(b));
    assert_string_equal(b, "{\"code\":3,\"message\":\"bad \\\"id\\\"\\u000a\"}");
    vg_free(b);
    b = otlp_http_status_body(OTLP_ENC_PROTO, 14, "x", &len);
    assert_non_null(b);
    assert_int_equal(len, 5);
    assert_memory_equal(b, "\x08\x0e\x12\x01x", 5);
    vg_free(b);
    b = otlp_http_status_body(OTLP_ENC_PROTO, 0, "", &len);
    assert_non_null(b);
    assert_int_equal(len, 0);
    vg_free(b);
}

static void test_encoders_out_of_memory(void **state)
{
    (void)state;
    for (long n = 1; n < 8; n++) {
        vg_mem_fail_after(n);
        char *d = otlp_grpc_status_details(14, "busy", 1);
        size_t len;
        char *b = otlp_http_status_body(OTLP_ENC_PROTO, 3, "m", &len);
        vg_mem_fail_reset();
        vg_free(d);
        vg_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_code_consistent),
        cmocka_unit_test(test_grpc_message),
        cmocka_unit_test(test_status_details),
        cmocka_unit_test(test_http_status_body),
        cmocka_unit_test(test_encoders_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
