/* Fuzz target: the syslog parser in every mode, the SD walk and unescape, and
 * the TZif reader. Byte 0 picks the mode; the rest is the input.
 *   bits 0-1: 0 RFC 5424, 1 RFC 3164, 2 auto, 3 TZif reader
 *   bit 2:    allow_skip_pri     bit 3: location = a fixed +05:30 zone
 * Checks that every returned slice lies inside the input and that the
 * iterator and the stored arrays agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/error.h"
#include "receivers/syslog/syslog_parse.h"

static void in_input(vg_syslog_str_t s, const char *base, size_t len)
{
    if (!s.ptr) {
        if (s.len) abort();
        return;
    }
    if (s.ptr < base || s.ptr > base + len || s.len > (size_t)(base + len - s.ptr)) abort();
}

static void fuzz_tzif(const uint8_t *d, size_t n)
{
    vg_syslog_tz_t *tz;
    int rc = vg_syslog_tz_from_tzif(d, n, &tz);
    if (rc != 0) {
        if (rc != VG_EPARSE && rc != VG_ENOMEM) abort();
        return;
    }
    for (int64_t t = -5000000000LL; t < 12000000000LL; t += 123456789) {
        int32_t off = vg_syslog_tz_offset(tz, t);
        if (off <= -93600 || off >= 93600) abort();
        (void)vg_syslog_tz_local_to_unix(tz, t);
    }
    vg_syslog_tz_free(tz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if ((mode & 3) == 3) {
        fuzz_tzif(data + 1, len);
        return 0;
    }
    vg_syslog_tz_t *tz = NULL;
    if ((mode & 8) && vg_syslog_tz_fixed(19800, &tz) != 0) return 0;
    vg_syslog_parse_opts_t o = {
        .protocol = (vg_syslog_protocol_t)(mode & 3),
        .location = tz,
        .now_ns = 1749988800000000000LL, /* fixed, so runs reproduce */
        .allow_skip_pri = (mode & 4) != 0,
    };
    vg_syslog_msg_t m;
    int rc = vg_syslog_parse(in, len, &o, &m);
    if (rc != 0) {
        if (rc != VG_EPARSE || !m.error || m.error_offset > len) abort();
    } else {
        if (m.error || m.priority > 191 || m.facility > 23 || m.severity > 7) abort();
        in_input(m.timestamp, in, len);
        in_input(m.hostname, in, len);
        in_input(m.appname, in, len);
        in_input(m.procid, in, len);
        in_input(m.msgid, in, len);
        in_input(m.sd_raw, in, len);
        in_input(m.message, in, len);
        (void)vg_syslog_severity_number(m.severity);
        (void)vg_syslog_facility_text(m.facility);
        /* walk SD both ways and unescape every value */
        vg_syslog_sd_iter_t it;
        vg_syslog_str_t id;
        vg_syslog_sd_param_t pa;
        unsigned e = 0, p = 0;
        vg_syslog_sd_iter_init(&it, m.sd_raw);
        while (vg_syslog_sd_iter_element(&it, &id)) {
            in_input(id, in, len);
            if (e < m.sd_count && (m.sd[e].id.ptr != id.ptr || m.sd[e].id.len != id.len)) abort();
            while (vg_syslog_sd_iter_param(&it, &pa)) {
                in_input(pa.name, in, len);
                in_input(pa.value, in, len);
                if (p < m.param_count && (m.params[p].value.ptr != pa.value.ptr || m.params[p].value.len != pa.value.len))
                    abort();
                char *buf = malloc(pa.value.len ? pa.value.len : 1);
                if (!buf) abort();
                if (vg_syslog_sd_unescape(pa.value, buf) > pa.value.len) abort();
                free(buf);
                p++;
            }
            e++;
        }
        if (e < m.sd_count || p < m.param_count) abort();
        if (!m.sd_truncated && (e != m.sd_count || p != m.param_count)) abort();
    }
    vg_syslog_tz_free(tz);
    return 0;
}
