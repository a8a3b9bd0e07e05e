/* Syslog message parser: RFC 5424, RFC 3164 as real senders send it, and an
 * "auto" mode. Pure code: no I/O on the hot path, no allocation, no globals.
 *
 * Input is one message as bytes + length: not NUL-terminated, may contain NUL.
 * Every string in the result is a (ptr, len) slice into that input, so the
 * input must outlive the result. A field that is absent (NILVALUE "-" in 5424,
 * missing in 3164) has ptr == NULL and len == 0.
 *
 * Trailing '\n', '\r' and '\0' bytes at the very end of the input are ignored
 * (framing leftovers of UDP senders and NUL/CRLF trailers).
 *
 * Structured data: element ids and param names/values are slices into the
 * input. Param values keep their escapes (`\"`, `\\`, `\]`); `escaped` tells
 * whether the value holds a backslash at all, and vg_syslog_sd_unescape()
 * unescapes on demand into a caller buffer of value.len bytes (the result is
 * never longer), typically straight into the batch arena. The first
 * VG_SYSLOG_SD_MAX_ELEMENTS elements and VG_SYSLOG_SD_MAX_PARAMS params are
 * stored in the result; beyond that `sd_truncated` is set and the complete
 * set is still reachable with the vg_syslog_sd_iter_* functions over sd_raw.
 *
 * Errors: vg_syslog_parse returns 0 or VG_EPARSE. On VG_EPARSE, `error` is a
 * static description ("invalid PRI", ...) and `error_offset` the byte where
 * parsing stopped; fields parsed before that point stay filled but the
 * message should be treated as unparsed (the receiver keeps the raw bytes).
 *
 * ------------------------------------------------------------------------
 * RFC 5424 (protocol VG_SYSLOG_RFC5424): the full grammar. PRI (0..191) and
 * VERSION (1..999) required (PRI may be skipped with allow_skip_pri: the
 * Collector's allow_skip_pri_header), TIMESTAMP per RFC 3339 with 1..9
 * fraction digits and Z or +-hh:mm (a leap second :60 is accepted and lands
 * on the next second), NILVALUE anywhere allowed, several SD elements, MSG
 * after one SP with a UTF-8 BOM stripped (`msg_bom`). Header fields must be
 * PRINTUSASCII; the RFC's length caps (255/48/128/32) are not enforced, the
 * message size is bounded by the framer's max_octets instead.
 *
 * RFC 3164 (protocol VG_SYSLOG_RFC3164), what senders really send:
 *   [<PRI>] [SEQ": "] ["*"|"."] [TIMESTAMP] [HOSTNAME SP] [TAG["["PID"]"][":"] SP] MSG
 * - No PRI at all: priority 13 (user.notice, RFC 3164 4.3.3), pri_present
 *   false. A '<' that does not start a valid PRI ("<999>", "<>") is an error.
 * - TIMESTAMP "Mmm dd hh:mm:ss" (day space-padded, zero-padded or bare; month
 *   name any case), optional year before the time ("Mmm dd yyyy hh:mm:ss",
 *   Cisco ASA), optional fraction, optional zone word with colon ("UTC:",
 *   Cisco IOS; UTC/GMT give offset 0, other names use `location`), optional
 *   trailing ':'. Or RFC 3339 in that position (rsyslog's forwarding
 *   templates), with 'T' or ' ' between date and time, offset optional.
 *   Something that is not a timestamp at all leaves ts_present false and, as
 *   RFC 3164 4.3.2 says, no HOSTNAME is looked for. Something shaped like a
 *   timestamp but with impossible values (Feb 30, 25:61:61) is an error.
 * - Missing year: the year (of the `location` calendar) is chosen so that the
 *   time is at most one day after `now` (Dec 31 lines arriving on Jan 1 go to
 *   the previous year; Jan 1 lines on Dec 31 to the next). ts_year_inferred.
 * - Missing zone: local time in `location` (ts_has_offset false).
 * - HOSTNAME is the first word after the timestamp unless that word is a
 *   TAG ("app:" + SP, "app[pid]"): local /dev/log messages have none.
 * - TAG: up to 128 bytes without SP, '[' or ':' -> appname; "[pid]" ->
 *   procid. A word not followed by ':' or "[pid]" is not a tag: appname stays
 *   absent and the word is part of MSG.
 * - MSG: the rest (may be empty, never absent once a PRI or header parsed).
 *
 * Neither MSG nor SD values are checked for valid UTF-8 (that would cost a
 * pass over every byte); the receiver must repair invalid UTF-8 before it
 * stores a slice in an OTLP string.
 * - Cisco sequence numbers ("<189>36: ") and the unsynchronised-clock marks
 *   ('*', '.') are skipped.
 *
 * VG_SYSLOG_AUTO: <PRI>VERSION SP ... is tried as RFC 5424; if it is not
 * that or fails, the message is parsed as RFC 3164. `protocol` in the result
 * tells which grammar produced it.
 *
 * ------------------------------------------------------------------------
 * OpenTelemetry mapping (what the receiver emits, same names as the
 * OpenTelemetry Collector's syslog receiver / stanza syslog parser):
 *   LogRecord.time_unix_nano   timestamp (ts_present), else left 0
 *   observed_time_unix_nano    arrival time
 *   severity_number / _text    vg_syslog_severity_number()/_text(severity);
 *                              when !pri_present the Collector leaves both unset
 *   body                       the raw message
 *   attributes:
 */
#ifndef VIGIL_SYSLOG_PARSE_H
#define VIGIL_SYSLOG_PARSE_H

#define VG_SYSLOG_ATTR_APPNAME         "appname"          /* string */
#define VG_SYSLOG_ATTR_HOSTNAME        "hostname"         /* string */
#define VG_SYSLOG_ATTR_PROC_ID         "proc_id"          /* string */
#define VG_SYSLOG_ATTR_MSG_ID          "msg_id"           /* string, 5424 only */
#define VG_SYSLOG_ATTR_MESSAGE         "message"          /* string */
#define VG_SYSLOG_ATTR_STRUCTURED_DATA "structured_data"  /* map sd-id -> map param -> string (unescaped), 5424 only */
#define VG_SYSLOG_ATTR_VERSION         "version"          /* int, 5424 only */
#define VG_SYSLOG_ATTR_PRIORITY        "priority"         /* int, only when pri_present */
#define VG_SYSLOG_ATTR_FACILITY        "facility"         /* int, only when pri_present */
#define VG_SYSLOG_ATTR_FACILITY_TEXT   "facility_text"    /* string (RFC 5427 keyword), only when pri_present */
/* Absent fields give no attribute. Parse failures (Vigil addition) keep the
 * raw bytes as body and set the attribute below to the error text. */
#define VG_SYSLOG_ATTR_PARSE_ERROR     "syslog.parse_error"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *ptr; /* NULL when absent */
    size_t len;
} vg_syslog_str_t;

typedef enum {
    VG_SYSLOG_RFC5424 = 0,
    VG_SYSLOG_RFC3164 = 1,
    VG_SYSLOG_AUTO = 2,
} vg_syslog_protocol_t;

/* ---- time zones ---------------------------------------------------------
 * A loaded zone is immutable and may be shared by any number of threads.
 * It is read from a TZif file (RFC 8536, versions 1-4) once, at config time:
 * transitions are looked up by binary search and times after the last one
 * follow the file's POSIX TZ footer rule (e.g. "EST5EDT,M3.2.0,M11.1.0"),
 * so no setenv("TZ")/localtime races and correct results past 2037. */
typedef struct vg_syslog_tz vg_syslog_tz_t;

/* location: IANA name like the Collector's option ("America/New_York");
 * NULL, "" and "UTC" give UTC without reading a file; "Local" reads
 * /etc/localtime. zoneinfo_dir NULL means /usr/share/zoneinfo.
 * Returns 0, VG_EINVAL (bad name: "..", absolute, odd characters),
 * VG_ENOTFOUND (no such zone), VG_EPARSE (bad file), VG_ENOMEM. */
int vg_syslog_tz_load(const char *location, const char *zoneinfo_dir, vg_syslog_tz_t **out);
/* Same from TZif bytes in memory. Returns 0, VG_EPARSE or VG_ENOMEM. */
int vg_syslog_tz_from_tzif(const void *data, size_t len, vg_syslog_tz_t **out);
/* A fixed offset east of UTC, |offset| < 26 h. Returns 0, VG_EINVAL, VG_ENOMEM. */
int vg_syslog_tz_fixed(int32_t offset_sec, vg_syslog_tz_t **out);
void vg_syslog_tz_free(vg_syslog_tz_t *tz); /* NULL is fine */
/* UTC offset (seconds east) in effect at unix time t. tz NULL = UTC. */
int32_t vg_syslog_tz_offset(const vg_syslog_tz_t *tz, int64_t unix_sec);
/* Unix time of a local wall-clock time (seconds since 1970 as if UTC).
 * Ambiguous times (fall back) pick one of the two deterministically; times
 * in a gap (spring forward) use the offset before the gap, like Go. */
int64_t vg_syslog_tz_local_to_unix(const vg_syslog_tz_t *tz, int64_t local_sec);

/* ---- parser ------------------------------------------------------------ */
typedef struct {
    vg_syslog_protocol_t protocol;
    const vg_syslog_tz_t *location; /* zone of times without offset; NULL = UTC */
    int64_t now_ns;                 /* reference for the 3164 year; 0 = CLOCK_REALTIME */
    bool allow_skip_pri;            /* 5424: accept a message without PRI */
} vg_syslog_parse_opts_t;

#define VG_SYSLOG_SD_MAX_ELEMENTS 32
#define VG_SYSLOG_SD_MAX_PARAMS 128

typedef struct {
    vg_syslog_str_t name;
    vg_syslog_str_t value; /* raw, escapes kept; see vg_syslog_sd_unescape */
    bool escaped;          /* value contains a backslash */
} vg_syslog_sd_param_t;

typedef struct {
    vg_syslog_str_t id;
    uint16_t first_param; /* index into params[] */
    uint16_t n_params;    /* params stored for this element */
} vg_syslog_sd_element_t;

typedef struct {
    vg_syslog_protocol_t protocol; /* grammar that parsed it (RFC5424 or RFC3164) */
    bool pri_present;              /* false: priority is the default 13 */
    uint8_t facility;              /* priority / 8, 0..23 */
    uint8_t severity;              /* priority % 8, 0..7 */
    uint16_t priority;             /* 0..191 */
    uint16_t version;              /* 5424 VERSION; 0 for 3164 */

    bool ts_present;       /* a valid timestamp was in the message: time_unix_nano is set */
    bool ts_has_offset;    /* offset came from the message (Z, +-hh:mm, "UTC:") */
    bool ts_year_inferred; /* 3164 without year: year picked from `now` */
    int32_t ts_offset_sec; /* offset used, seconds east of UTC */
    int64_t time_unix_nano;
    vg_syslog_str_t timestamp; /* the timestamp text as sent */

    vg_syslog_str_t hostname, appname, procid, msgid;
    vg_syslog_str_t sd_raw;  /* whole STRUCTURED-DATA text; absent for "-" and in 3164 */
    vg_syslog_str_t message; /* MSG, BOM stripped; absent in 5424 when there is none */
    bool msg_bom;            /* 5424 MSG started with a UTF-8 BOM (removed) */

    const char *error;   /* NULL, or why parsing failed */
    size_t error_offset; /* byte offset of the failure in the input */

    uint16_t sd_count;    /* elements stored in sd[] */
    uint16_t param_count; /* params stored in params[] */
    bool sd_truncated;    /* more elements/params than stored; use the iterator */
    /* Keep the arrays last: vg_syslog_parse only initialises what it uses. */
    vg_syslog_sd_element_t sd[VG_SYSLOG_SD_MAX_ELEMENTS];
    vg_syslog_sd_param_t params[VG_SYSLOG_SD_MAX_PARAMS];
} vg_syslog_msg_t;

/* Parse one message. opts NULL = RFC 5424, UTC, clock time. Allocates
 * nothing and only reads `location`, so it is safe from any thread.
 * Returns 0 or VG_EPARSE (out->error says why). */
int vg_syslog_parse(const char *data, size_t len, const vg_syslog_parse_opts_t *opts,
                    vg_syslog_msg_t *out);

/* Unescape an SD param value (`\"` `\\` `\]` -> the char; any other backslash
 * is kept, as RFC 5424 6.3.3 says) into dst, which must hold value.len bytes.
 * Returns the unescaped length (<= value.len). dst may equal value.ptr. */
size_t vg_syslog_sd_unescape(vg_syslog_str_t value, char *dst);

/* Walk the structured data of sd_raw (as vg_syslog_parse accepted it; any
 * other input stops the walk safely):
 *   vg_syslog_sd_iter_t it; vg_syslog_sd_iter_init(&it, m.sd_raw);
 *   while (vg_syslog_sd_iter_element(&it, &id))
 *       while (vg_syslog_sd_iter_param(&it, &param)) ...              */
typedef struct {
    const char *p, *end;
    bool in_element;
} vg_syslog_sd_iter_t;
void vg_syslog_sd_iter_init(vg_syslog_sd_iter_t *it, vg_syslog_str_t sd_raw);
bool vg_syslog_sd_iter_element(vg_syslog_sd_iter_t *it, vg_syslog_str_t *id);
bool vg_syslog_sd_iter_param(vg_syslog_sd_iter_t *it, vg_syslog_sd_param_t *param);

/* ---- severity and facility ---------------------------------------------
 * Syslog severity -> OpenTelemetry, as the Collector's stanza syslog parser:
 *   0 emerg   -> 21 FATAL      4 warning -> 13 WARN
 *   1 alert   -> 19 ERROR3     5 notice  -> 10 INFO2
 *   2 crit    -> 18 ERROR2     6 info    ->  9 INFO
 *   3 err     -> 17 ERROR      7 debug   ->  5 DEBUG
 * severity_text is the syslog keyword ("emerg" ... "debug"), as there. */
int vg_syslog_severity_number(unsigned severity);        /* 0 (UNSPECIFIED) if > 7 */
const char *vg_syslog_severity_text(unsigned severity);  /* NULL if > 7 */
const char *vg_syslog_otel_severity_name(unsigned severity); /* "FATAL", "ERROR3", ...; NULL if > 7 */
/* RFC 5427 keywords: kern user mail daemon auth syslog lpr news uucp cron
 * authpriv ftp ntp security console cron2 local0..local7. NULL if > 23. */
const char *vg_syslog_facility_text(unsigned facility);

#endif
