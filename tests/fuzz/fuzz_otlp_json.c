/* Fuzz target for the OTLP/JSON codec. The first byte picks the signal (and
 * whether the input is read as a request or a response); the rest is JSON.
 * Whatever decodes must encode, and the encoding must be a fixed point:
 * decode(encode(m)) encodes to the same text. Requests must also survive
 * clone and a binary protobuf round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/arena.h"
#include "collector/error.h"
#include "collector/mem.h"
#include "collector/otlp_json.h"

typedef int (*dec_fn)(vg_signal_t, const char *, size_t, vg_arena_t *, ProtobufCMessage **, char *, size_t);
typedef int (*enc_fn)(vg_signal_t, const ProtobufCMessage *, char **, size_t *);

static void check(int ok)
{
    if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    vg_signal_t sig = (vg_signal_t)(data[0] % VG_SIG_COUNT);
    int response = (data[0] / VG_SIG_COUNT) % 2;
    dec_fn dec = response ? vg_otlp_json_decode_response : vg_otlp_json_decode;
    enc_fn enc = response ? vg_otlp_json_encode_response : vg_otlp_json_encode;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;

    vg_arena_t *a = vg_arena_new();
    if (!a) return 0;
    ProtobufCMessage *m = NULL;
    char err[256];
    int rc = dec(sig, json, len, a, &m, err, sizeof err);
    if (rc != 0) {
        check((rc == VG_EPARSE || rc == VG_ETOOBIG) && m == NULL && err[0] != '\0'); /* ETOOBIG: the decode-memory cap */
        vg_arena_destroy(a);
        return 0;
    }
    check(m != NULL);
    char *j1 = NULL, *j2 = NULL;
    size_t n1 = 0, n2 = 0;
    check(enc(sig, m, &j1, &n1) == 0);

    vg_arena_t *b = vg_arena_new();
    ProtobufCMessage *m2 = NULL;
    check(b != NULL);
    check(dec(sig, j1, n1, b, &m2, err, sizeof err) == 0);
    check(enc(sig, m2, &j2, &n2) == 0);
    check(n1 == n2 && memcmp(j1, j2, n1) == 0);
    vg_free(j2);

    if (!response) {
        size_t items = vg_otlp_count_items(sig, m);
        check(vg_otlp_count_items(sig, m2) == items);
        ProtobufCMessage *c = NULL;
        check(vg_otlp_clone(sig, m, b, &c) == 0);
        check(vg_otlp_count_items(sig, c) == items);
        check(enc(sig, c, &j2, &n2) == 0);
        check(n1 == n2 && memcmp(j1, j2, n1) == 0);
        vg_free(j2);
    }
    vg_free(j1);
    vg_arena_destroy(b);
    vg_arena_destroy(a);
    return 0;
}
