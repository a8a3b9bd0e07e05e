/* Wire encoding of export requests and decoding of the answers.
 *
 * A request is encoded once, when it is queued: protobuf (protobuf-c) or
 * OTLP/JSON, then gzip (zlib, level 1) or zstd (level 1), with the gRPC
 * 5-byte frame prefix (flag, big-endian length) for the otlp exporter. The
 * compressors and a scratch buffer for the uncompressed bytes live in the
 * codec (one per exporter instance) and are reused. */
#include "otlpexp.h"

#include "collector/arena.h"
#include "collector/error.h"
#include "collector/mem.h"
#include "collector/otlp_json.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define SCRATCH_KEEP (8u << 20) /* a scratch buffer larger than this is freed after use */

struct oe_codec {
    int proto, encoding, compression;
    z_stream z;
    bool z_init;
    ZSTD_CCtx *zc;
    uint8_t *scratch;
    size_t scratch_cap;
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return vg_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    vg_free(p);
}

oe_codec_t *oe_codec_new(int proto, int encoding, int compression)
{
    oe_codec_t *cd = vg_calloc(1, sizeof *cd);
    if (!cd) return NULL;
    cd->proto = proto;
    cd->encoding = encoding;
    cd->compression = compression;
    return cd;
}

void oe_codec_free(oe_codec_t *cd)
{
    if (!cd) return;
    if (cd->z_init) deflateEnd(&cd->z);
    ZSTD_freeCCtx(cd->zc);
    vg_free(cd->scratch);
    vg_free(cd);
}

static int ensure_compressor(oe_codec_t *cd)
{
    if (cd->compression == OE_COMP_GZIP && !cd->z_init) {
        memset(&cd->z, 0, sizeof cd->z);
        cd->z.zalloc = z_alloc;
        cd->z.zfree = z_free;
        if (deflateInit2(&cd->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return VG_ENOMEM;
        cd->z_init = true;
    } else if (cd->compression == OE_COMP_ZSTD && !cd->zc) {
        if (!(cd->zc = ZSTD_createCCtx())) return VG_ENOMEM;
        ZSTD_CCtx_setParameter(cd->zc, ZSTD_c_compressionLevel, 1);
    }
    return 0;
}

/* Compresses in[0..len) after `prefix` reserved bytes of a new buffer. */
static int compress_into(oe_codec_t *cd, const uint8_t *in, size_t len, size_t prefix, uint8_t **out,
                         size_t *outlen)
{
    int rc = ensure_compressor(cd);
    if (rc) return rc;
    size_t bound = cd->compression == OE_COMP_GZIP ? deflateBound(&cd->z, (uLong)len) : ZSTD_compressBound(len);
    uint8_t *buf = vg_malloc(prefix + bound);
    if (!buf) return VG_ENOMEM;
    size_t n;
    if (cd->compression == OE_COMP_GZIP) {
        if (deflateReset(&cd->z) != Z_OK) { vg_free(buf); return VG_EIO; }
        cd->z.next_in = (Bytef *)in;
        cd->z.avail_in = (uInt)len;
        cd->z.next_out = buf + prefix;
        cd->z.avail_out = (uInt)bound;
        if (deflate(&cd->z, Z_FINISH) != Z_STREAM_END) { vg_free(buf); return VG_EIO; }
        n = bound - cd->z.avail_out;
    } else {
        n = ZSTD_compress2(cd->zc, buf + prefix, bound, in, len);
        if (ZSTD_isError(n)) { vg_free(buf); return VG_EIO; }
    }
    /* Queued bodies count against max_bytes: do not keep the slack. */
    if (bound - n > 4096) {
        uint8_t *s = vg_realloc(buf, prefix + n);
        if (s) buf = s;
    }
    *out = buf;
    *outlen = prefix + n;
    return 0;
}

/* Room for `n` bytes of uncompressed request in the scratch buffer. */
static int scratch_room(oe_codec_t *cd, size_t n)
{
    if (cd->scratch_cap >= n) return 0;
    vg_free(cd->scratch);
    cd->scratch_cap = 0;
    if (!(cd->scratch = vg_malloc(n + 1))) return VG_ENOMEM;
    cd->scratch_cap = n;
    return 0;
}

static void scratch_trim(oe_codec_t *cd)
{
    if (cd->scratch_cap > SCRATCH_KEEP) {
        vg_free(cd->scratch);
        cd->scratch = NULL;
        cd->scratch_cap = 0;
    }
}

static void gather(const vg_batch_t *b, uint8_t *dst)
{
    for (size_t i = 0; i < b->nwire; i++) {
        if (b->wire[i].len) memcpy(dst, b->wire[i].data, b->wire[i].len);
        dst += b->wire[i].len;
    }
}

/* Protobuf body of `rawlen` bytes written by `fill` (packing the message or
 * gathering wire segments), compressed and framed as configured. */
static int encode_proto(oe_codec_t *cd, size_t prefix, size_t rawlen, const ProtobufCMessage *msg,
                        const vg_batch_t *wire, uint8_t **body, size_t *blen)
{
    if (cd->compression == OE_COMP_NONE) {
        uint8_t *p = vg_malloc(prefix + rawlen + 1);
        if (!p) return VG_ENOMEM;
        if (wire) gather(wire, p + prefix);
        else protobuf_c_message_pack(msg, p + prefix);
        *body = p;
        *blen = prefix + rawlen;
        return 0;
    }
    if (scratch_room(cd, rawlen)) return VG_ENOMEM;
    if (wire) gather(wire, cd->scratch);
    else protobuf_c_message_pack(msg, cd->scratch);
    int rc = compress_into(cd, cd->scratch, rawlen, prefix, body, blen);
    scratch_trim(cd);
    return rc;
}

static int make_req(oe_codec_t *cd, vg_signal_t sig, size_t items, size_t prefix, size_t rawlen, uint8_t *body,
                    size_t blen, oe_req_t **out)
{
    if (prefix) {
        size_t mlen = blen - prefix;
        body[0] = cd->compression != OE_COMP_NONE ? 1 : 0;
        body[1] = (uint8_t)(mlen >> 24);
        body[2] = (uint8_t)(mlen >> 16);
        body[3] = (uint8_t)(mlen >> 8);
        body[4] = (uint8_t)mlen;
    }
    oe_req_t *r = vg_calloc(1, sizeof *r);
    if (!r) { vg_free(body); return VG_ENOMEM; }
    r->signal = sig;
    r->items = items;
    r->raw_bytes = rawlen;
    r->body = body;
    r->body_len = blen;
    *out = r;
    return 0;
}

int oe_codec_encode_batch(oe_codec_t *cd, vg_batch_t *b, oe_req_t **out)
{
    *out = NULL;
    if (cd->encoding == OE_ENC_PROTO && vg_batch_has_wire(b)) {
        size_t prefix = cd->proto == OE_PROTO_GRPC ? 5 : 0;
        uint8_t *body = NULL;
        size_t blen = 0;
        int rc = encode_proto(cd, prefix, b->wire_len, NULL, b, &body, &blen);
        if (rc) return rc;
        return make_req(cd, b->signal, b->items, prefix, b->wire_len, body, blen, out);
    }
    const ProtobufCMessage *m = vg_batch_req(b);
    if (!m) return vg_batch_err(b);
    return oe_codec_encode(cd, b->signal, m, b->items, out);
}

int oe_codec_encode(oe_codec_t *cd, vg_signal_t sig, const ProtobufCMessage *msg, size_t items, oe_req_t **out)
{
    *out = NULL;
    size_t prefix = cd->proto == OE_PROTO_GRPC ? 5 : 0;
    bool comp = cd->compression != OE_COMP_NONE;
    uint8_t *body = NULL;
    size_t blen = 0, rawlen = 0;
    int rc = 0;
    if (cd->encoding == OE_ENC_JSON) {
        char *json = NULL;
        rc = vg_otlp_json_encode(sig, msg, &json, &rawlen);
        if (rc) return rc;
        if (comp) {
            rc = compress_into(cd, (const uint8_t *)json, rawlen, prefix, &body, &blen);
            vg_free(json);
            if (rc) return rc;
        } else if (prefix == 0) {
            body = (uint8_t *)json;
            blen = rawlen;
        } else {
            body = vg_malloc(prefix + rawlen);
            if (!body) { vg_free(json); return VG_ENOMEM; }
            memcpy(body + prefix, json, rawlen);
            vg_free(json);
            blen = prefix + rawlen;
        }
    } else {
        rawlen = protobuf_c_message_get_packed_size(msg);
        if ((rc = encode_proto(cd, prefix, rawlen, msg, NULL, &body, &blen))) return rc;
    }
    return make_req(cd, sig, items, prefix, rawlen, body, blen, out);
}

int oe_decompress(const char *enc, const uint8_t *in, size_t len, size_t limit, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t cap = len * 4 + 64 < limit ? len * 4 + 64 : limit;
    uint8_t *buf = vg_malloc(cap + 1);
    if (!buf) return VG_ENOMEM;
    size_t n = 0;
    int rc = 0;
    if (strcmp(enc, "gzip") == 0) {
        z_stream z;
        memset(&z, 0, sizeof z);
        z.zalloc = z_alloc;
        z.zfree = z_free;
        if (inflateInit2(&z, 15 + 32) != Z_OK) { vg_free(buf); return VG_ENOMEM; }
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        for (;;) {
            z.next_out = buf + n;
            z.avail_out = (uInt)(cap - n);
            int zr = inflate(&z, Z_NO_FLUSH);
            n = cap - z.avail_out;
            if (zr == Z_STREAM_END) break;
            if (zr != Z_OK && zr != Z_BUF_ERROR) { rc = VG_EPARSE; break; }
            if (z.avail_out > 0 && z.avail_in == 0) { rc = VG_EPARSE; break; } /* truncated */
            if (cap >= limit) { rc = VG_ETOOBIG; break; }
            size_t nc = cap * 2 < limit ? cap * 2 : limit;
            uint8_t *nb = vg_realloc(buf, nc + 1);
            if (!nb) { rc = VG_ENOMEM; break; }
            buf = nb;
            cap = nc;
        }
        inflateEnd(&z);
    } else if (strcmp(enc, "zstd") == 0) {
        ZSTD_DCtx *d = ZSTD_createDCtx();
        if (!d) { vg_free(buf); return VG_ENOMEM; }
        ZSTD_inBuffer ib = { in, len, 0 };
        for (;;) {
            ZSTD_outBuffer ob = { buf, cap, n };
            size_t zr = ZSTD_decompressStream(d, &ob, &ib);
            n = ob.pos;
            if (ZSTD_isError(zr)) { rc = VG_EPARSE; break; }
            if (zr == 0) break;
            if (ib.pos == ib.size && ob.pos < ob.size) { rc = VG_EPARSE; break; }
            if (cap >= limit) { rc = VG_ETOOBIG; break; }
            size_t nc = cap * 2 < limit ? cap * 2 : limit;
            uint8_t *nb = vg_realloc(buf, nc + 1);
            if (!nb) { rc = VG_ENOMEM; break; }
            buf = nb;
            cap = nc;
        }
        ZSTD_freeDCtx(d);
    } else {
        rc = VG_EUNSUPPORTED;
    }
    if (rc) { vg_free(buf); return rc; }
    *out = buf;
    *outlen = n;
    return 0;
}

int oe_decode_response(vg_signal_t sig, bool json, const uint8_t *body, size_t len, oe_partial_t *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) return 0;
    vg_arena_t *a = vg_arena_new();
    if (!a) return VG_ENOMEM;
    ProtobufCMessage *m = NULL;
    int rc = 0;
    if (json) {
        rc = vg_otlp_json_decode_response(sig, (const char *)body, len, a, &m, NULL, 0);
    } else {
        m = protobuf_c_message_unpack(vg_otlp_response_descriptor(sig), vg_arena_pbc(a), len, body);
        if (!m) rc = VG_EPARSE;
    }
    if (rc == 0 && m) {
        int64_t rej = 0;
        const char *msg = NULL;
        bool present = false;
        if (sig == VG_SIG_TRACES) {
            const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r = (const void *)m;
            if ((present = r->partial_success)) { rej = r->partial_success->rejected_spans; msg = r->partial_success->error_message; }
        } else if (sig == VG_SIG_METRICS) {
            const Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r = (const void *)m;
            if ((present = r->partial_success)) { rej = r->partial_success->rejected_data_points; msg = r->partial_success->error_message; }
        } else {
            const Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *r = (const void *)m;
            if ((present = r->partial_success)) { rej = r->partial_success->rejected_log_records; msg = r->partial_success->error_message; }
        }
        out->present = present;
        out->rejected = rej < 0 ? 0 : rej;
        if (msg) snprintf(out->message, sizeof out->message, "%s", msg);
    }
    vg_arena_destroy(a);
    return rc;
}
