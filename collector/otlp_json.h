/* OTLP/JSON codec for the three Export*Service requests and responses.
 *
 * Decoding follows the OTLP/JSON rules: lowerCamelCase keys (the proto field
 * names in snake_case are accepted too), trace and span ids as hex strings
 * (case-insensitive, exactly 32 / 16 characters, or empty), enums as integers
 * (their value names are accepted too), 64-bit integers as decimal strings
 * (JSON numbers accepted), bytes as base64 (standard or URL-safe, padding
 * optional), doubles as numbers or "NaN" / "Infinity" / "-Infinity", null as
 * "not set", unknown keys ignored (their values are checked as JSON but
 * nothing is allocated for them). AnyValue nesting is capped at
 * VG_OTLP_JSON_MAX_DEPTH levels. Strings must be valid UTF-8 without NUL
 * (\uXXXX escapes included: surrogate pairs are fine, lone surrogates and
 * \u0000 are not). A key given twice in one object counts once, at its first
 * place, with its last value (so an earlier value for it may be invalid).
 * JSON nesting of any value, also inside ignored keys, is limited to 2048
 * levels (deeper input is refused as invalid JSON, without recursion).
 * Only whitespace may follow the top-level object.
 *
 * The decoder streams: it builds no JSON tree, and needs the decoded message
 * (in the caller's arena) plus memory proportional to the nesting depth; the
 * decoded size is capped (see vg_otlp_json_decode_capped).
 *
 * Encoding writes one compact line (no newline): lowerCamelCase keys, fields
 * at their default value left out (oneof members are always written), ids in
 * lowercase hex, 64-bit integers as strings, doubles in their shortest
 * round-trip form, enums as integers. Invalid UTF-8 in a string (possible in
 * binary protobuf, which protobuf-c does not check) is written as U+FFFD.
 *
 * Messages are the protobuf-c structs generated from proto/; the functions
 * check that a message's descriptor matches the signal (VG_EINVAL if not).
 * Nothing here keeps state between calls; all functions are thread-safe. */
#ifndef VIGIL_OTLP_JSON_H
#define VIGIL_OTLP_JSON_H

#include "arena.h"
#include "signal.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* Deepest AnyValue nesting accepted by the decoder and the encoder: an
 * attribute's value is level 1, a value inside its arrayValue level 2, ... */
#define VG_OTLP_JSON_MAX_DEPTH 64

/* Memory a decoded request may take by default, relative to the body size:
 * VG_OTLP_JSON_DECODE_AMPLIFICATION * len + VG_OTLP_JSON_DECODE_SLACK (the
 * bound the otlp receiver puts on protobuf requests). Real requests stay well
 * under it (a typical span or log record decodes to 2-5 times its JSON size);
 * what exceeds it is mostly empty objects ("{}" is a whole span). */
#define VG_OTLP_JSON_DECODE_AMPLIFICATION 16
#define VG_OTLP_JSON_DECODE_SLACK ((size_t)1 << 20) /* 1 MiB */

/* Descriptor of the signal's Export*ServiceRequest / Export*ServiceResponse;
 * NULL for an invalid signal. */
const ProtobufCMessageDescriptor *vg_otlp_request_descriptor(vg_signal_t sig);
const ProtobufCMessageDescriptor *vg_otlp_response_descriptor(vg_signal_t sig);

/* Decodes one OTLP/JSON Export*ServiceRequest of `len` bytes (no NUL needed),
 * with the default memory cap: VG_OTLP_JSON_DECODE_AMPLIFICATION * len +
 * VG_OTLP_JSON_DECODE_SLACK (see vg_otlp_json_decode_capped for the rest).
 * On success returns 0 and sets *out to the request; the whole message tree
 * (strings and bytes included) is allocated from `arena` and freed with it:
 * the caller never frees *out itself. On failure *out is NULL, whatever was
 * allocated stays in the arena until it is destroyed, and:
 *   VG_EPARSE   malformed JSON or a value that breaks the rules above; errbuf
 *               gets e.g. "resourceSpans[0].scopeSpans[1].spans[3].traceId:
 *               expected 32 hex characters (got 31)", or for JSON syntax
 *               "invalid JSON at line 1, column 17: ..." (syntax errors are
 *               reported first, wherever they are in the body)
 *   VG_ETOOBIG  the decoded request would take more than the cap (errbuf:
 *               "request needs more than N bytes of memory once decoded")
 *   VG_ENOMEM   an allocation failed (errbuf: "out of memory")
 *   VG_EINVAL   bad arguments (NULL json/arena/out, invalid signal)
 * errbuf may be NULL or errlen 0; the message is always NUL-terminated. */
int vg_otlp_json_decode(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena,
                        ProtobufCMessage **out, char *errbuf, size_t errlen);

/* Same as vg_otlp_json_decode with an explicit cap: VG_ETOOBIG as soon as
 * `arena` has grown by more than max_mem bytes (vg_arena_bytes, so counting
 * the arena's chunks, not only what the message uses) during this call.
 * Decoding stops there, so a refused body costs at most about max_mem plus
 * one arena chunk. */
int vg_otlp_json_decode_capped(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena,
                               size_t max_mem, ProtobufCMessage **out, char *errbuf, size_t errlen);

/* Same as vg_otlp_json_decode for an Export*ServiceResponse (partialSuccess
 * with the signal's rejected* count and errorMessage), same default cap. */
int vg_otlp_json_decode_response(vg_signal_t sig, const char *json, size_t len, vg_arena_t *arena,
                                 ProtobufCMessage **out, char *errbuf, size_t errlen);

/* Encodes a request as one line of OTLP/JSON. On success returns 0, *out is a
 * NUL-terminated string from vg_malloc that the caller releases with vg_free,
 * and *outlen (may be NULL) its length without the NUL. On failure *out is
 * NULL and the result is VG_ENOMEM, VG_EINVAL (NULL arguments, descriptor not
 * the signal's request) or VG_EPARSE (AnyValue nested deeper than
 * VG_OTLP_JSON_MAX_DEPTH). `msg` is only read. */
int vg_otlp_json_encode(vg_signal_t sig, const ProtobufCMessage *msg, char **out, size_t *outlen);

/* Same for an Export*ServiceResponse; a response without partial_success
 * encodes as "{}". */
int vg_otlp_json_encode_response(vg_signal_t sig, const ProtobufCMessage *msg, char **out,
                                 size_t *outlen);

/* Items in a request, counted as the OpenTelemetry Collector counts them:
 * spans; metric data points (every point of a gauge, sum, histogram,
 * exponential histogram or summary; a metric without data counts 0); log
 * records. 0 for NULL or a message that is not the signal's request. */
size_t vg_otlp_count_items(vg_signal_t sig, const ProtobufCMessage *req);

/* An empty, initialised Export*ServiceRequest allocated from `arena`.
 * Returns 0, VG_ENOMEM or VG_EINVAL; *out is owned by the arena. */
int vg_otlp_new_request(vg_signal_t sig, vg_arena_t *arena, ProtobufCMessage **out);

/* Deep copy of a request into `dst` (packed, then unpacked into the arena):
 * the copy shares nothing with `src`, which is only read. Returns 0,
 * VG_ENOMEM, or VG_EINVAL (NULL arguments, not the signal's request). */
int vg_otlp_clone(vg_signal_t sig, const ProtobufCMessage *src, vg_arena_t *dst,
                  ProtobufCMessage **out);

#endif
