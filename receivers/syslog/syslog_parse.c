/* Syslog parser (RFC 5424, RFC 3164 as sent in practice) and the TZif time
 * zone reader it uses for local times. See syslog_parse.h for the contract. */
#include "receivers/syslog/syslog_parse.h"

#include "collector/error.h"
#include "collector/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef unsigned char uc;

#define NS_PER_SEC 1000000000LL
/* A 3164 time without year may be this far after `now` and still count as
 * this year: clock skew and a wrong `location` stay under a day. */
#define FUTURE_SLACK_SEC 86400LL
/* Unix seconds whose nanoseconds fit in int64 (1677-09-21 .. 2262-04-11). */
#define MIN_UNIX_SEC (-9223372036LL)
#define MAX_UNIX_SEC 9223372035LL

/* ======================================================================
 * Calendar arithmetic (proleptic Gregorian, days since 1970-01-01)
 * ==================================================================== */

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m)
{
    static const uint8_t dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 ? 28 + is_leap(y) : dm[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Eras of 400 years (146097 days) make the computation exact for any year;
 * the year is shifted to start in March so that Feb 29 is the last day. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* 0..399 */
    int64_t mp = m > 2 ? m - 3 : m + 9;                           /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;                     /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
    return era * 146097 + doe - 719468;                           /* 719468: 0000-03-01 -> 1970-01-01 */
}

static int64_t year_from_days(int64_t z)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10); /* Jan, Feb belong to the next civil year */
}

static int weekday(int64_t days) { return (int)((days % 7 + 11) % 7); } /* 0 = Sunday; 1970-01-01 was Thursday */

/* ======================================================================
 * Time zones: TZif transitions + POSIX TZ footer rule
 * ==================================================================== */

typedef struct {
    char kind;    /* 'J' Julian 1..365 without Feb 29, 'D' 0..365 with it, 'M' month.week.day */
    int16_t a, b, c;
    int32_t time; /* seconds after local midnight, may be negative or > 24 h */
} tzdate_t;

struct vg_syslog_tz {
    size_t n;
    int64_t *times; /* ascending transition instants */
    int32_t *offs;  /* offset in effect from times[i] on */
    int32_t initial;
    bool has_rule;  /* footer rule applies after the last transition */
    bool rule_dst;
    int32_t std_off, dst_off;
    tzdate_t start, end;
};

static int64_t rule_day(int64_t year, const tzdate_t *r)
{
    int64_t jan1 = days_from_civil(year, 1, 1);
    switch (r->kind) {
    case 'J': return jan1 + r->a - 1 + (is_leap(year) && r->a >= 60);
    case 'D': return jan1 + r->a;
    default: {
        int64_t first = days_from_civil(year, r->a, 1);
        int day = (r->c - weekday(first) + 7) % 7 + (r->b - 1) * 7;
        while (day >= month_days(year, r->a)) day -= 7;
        return first + day;
    }
    }
}

static int32_t rule_offset(const vg_syslog_tz_t *tz, int64_t t)
{
    if (!tz->rule_dst) return tz->std_off;
    int64_t y = year_from_days(floor_div(t + tz->std_off, 86400));
    int64_t s = rule_day(y, &tz->start) * 86400 + tz->start.time - tz->std_off;
    int64_t e = rule_day(y, &tz->end) * 86400 + tz->end.time - tz->dst_off;
    if (s < e) return (t >= s && t < e) ? tz->dst_off : tz->std_off;
    return (t >= e && t < s) ? tz->std_off : tz->dst_off;
}

int32_t vg_syslog_tz_offset(const vg_syslog_tz_t *tz, int64_t t)
{
    if (!tz) return 0;
    /* ±30,000 years keeps the calendar arithmetic far from overflow */
    if (t > 1000000000000LL) t = 1000000000000LL;
    if (t < -1000000000000LL) t = -1000000000000LL;
    if (tz->n == 0) return tz->has_rule ? rule_offset(tz, t) : tz->initial;
    if (t < tz->times[0]) return tz->initial;
    size_t lo = 0, hi = tz->n; /* last i with times[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t) lo = mid;
        else hi = mid;
    }
    if (lo == tz->n - 1 && tz->has_rule) return rule_offset(tz, t);
    return tz->offs[lo];
}

int64_t vg_syslog_tz_local_to_unix(const vg_syslog_tz_t *tz, int64_t local)
{
    if (!tz) return local;
    int32_t o1 = vg_syslog_tz_offset(tz, local);
    int64_t u1 = local - o1;
    int32_t o2 = vg_syslog_tz_offset(tz, u1);
    if (o2 == o1) return u1;
    int64_t u2 = local - o2;
    if (vg_syslog_tz_offset(tz, u2) == o2) return u2;
    /* in a gap: the offset in effect before it is the smaller one */
    return local - (o1 < o2 ? o1 : o2);
}

void vg_syslog_tz_free(vg_syslog_tz_t *tz)
{
    if (!tz) return;
    vg_free(tz->times);
    vg_free(tz->offs);
    vg_free(tz);
}

int vg_syslog_tz_fixed(int32_t off, vg_syslog_tz_t **out)
{
    *out = NULL;
    if (off <= -93600 || off >= 93600) return VG_EINVAL;
    vg_syslog_tz_t *tz = vg_calloc(1, sizeof *tz);
    if (!tz) return VG_ENOMEM;
    tz->initial = off;
    *out = tz;
    return 0;
}

/* -- POSIX TZ string (the TZif footer), e.g. "CET-1CEST,M3.5.0,M10.5.0/3" -- */

static const char *ptz_name(const char *s, const char *e)
{
    const char *p = s;
    if (p < e && *p == '<') {
        while (p < e && *p != '>') p++;
        return p < e ? p + 1 : NULL;
    }
    while (p < e && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to max_h. */
static const char *ptz_hms(const char *p, const char *e, int max_h, int32_t *out)
{
    int sign = 1;
    if (p < e && (*p == '+' || *p == '-')) sign = *p++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (p >= e || *p != ':') break;
            p++;
        }
        int nd = 0;
        while (p < e && *p >= '0' && *p <= '9' && nd < 3) v[i] = v[i] * 10 + (*p++ - '0'), nd++;
        if (nd == 0) return NULL;
    }
    if (v[0] > max_h || v[1] > 59 || v[2] > 59) return NULL;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return p;
}

static const char *ptz_num(const char *p, const char *e, int lo, int hi, int16_t *out)
{
    int v = 0, nd = 0;
    while (p < e && *p >= '0' && *p <= '9' && nd < 3) v = v * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || v < lo || v > hi) return NULL;
    *out = (int16_t)v;
    return p;
}

static const char *ptz_date(const char *p, const char *e, tzdate_t *d)
{
    if (p >= e) return NULL;
    if (*p == 'J') {
        d->kind = 'J';
        p = ptz_num(p + 1, e, 1, 365, &d->a);
    } else if (*p == 'M') {
        d->kind = 'M';
        p = ptz_num(p + 1, e, 1, 12, &d->a);
        if (!p || p >= e || *p != '.') return NULL;
        p = ptz_num(p + 1, e, 1, 5, &d->b);
        if (!p || p >= e || *p != '.') return NULL;
        p = ptz_num(p + 1, e, 0, 6, &d->c);
    } else {
        d->kind = 'D';
        p = ptz_num(p, e, 0, 365, &d->a);
    }
    if (!p) return NULL;
    d->time = 7200;
    if (p < e && *p == '/') p = ptz_hms(p + 1, e, 167, &d->time);
    return p;
}

static bool ptz_parse(const char *s, const char *e, vg_syslog_tz_t *tz)
{
    int32_t v;
    const char *p = ptz_name(s, e);
    if (!p || !(p = ptz_hms(p, e, 24, &v))) return false;
    tz->std_off = -v;
    tz->rule_dst = false;
    if (p == e) return true;
    if (!(p = ptz_name(p, e))) return false;
    tz->dst_off = tz->std_off + 3600;
    if (p < e && *p != ',') {
        if (!(p = ptz_hms(p, e, 24, &v))) return false;
        tz->dst_off = -v;
    }
    tz->rule_dst = true;
    if (p == e) { /* no rule: the US one, as glibc assumes */
        tz->start = (tzdate_t){'M', 3, 2, 0, 7200};
        tz->end = (tzdate_t){'M', 11, 1, 0, 7200};
        return true;
    }
    if (*p != ',' || !(p = ptz_date(p + 1, e, &tz->start))) return false;
    if (p >= e || *p != ',' || !(p = ptz_date(p + 1, e, &tz->end))) return false;
    return p == e;
}

/* -- TZif (RFC 8536) -- */

static uint32_t be32(const uc *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static int64_t be32s(const uc *p)
{
    uint32_t u = be32(p);
    return u >> 31 ? -(int64_t)(~u) - 1 : (int64_t)u;
}
static int64_t be64s(const uc *p)
{
    uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
    return u >> 63 ? -(int64_t)(~u) - 1 : (int64_t)u;
}

typedef struct { uint64_t isut, isstd, leap, time, type, chr; } tzhdr_t;

static void tzif_counts(const uc *h, tzhdr_t *c)
{
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chr = be32(h + 40);
}

static uint64_t tzif_block_size(const tzhdr_t *c, unsigned tsz)
{
    return c->time * tsz + c->time + c->type * 6 + c->chr + c->leap * (tsz + 4) + c->isstd + c->isut;
}

int vg_syslog_tz_from_tzif(const void *data, size_t len, vg_syslog_tz_t **out)
{
    *out = NULL;
    const uc *b = data;
    if (len < 44 || memcmp(b, "TZif", 4) != 0) return VG_EPARSE;
    tzhdr_t c;
    tzif_counts(b, &c);
    unsigned tsz = 4;
    const uc *h = b; /* header of the block we read */
    if (c.time > 100000 || c.type > 256 || c.leap > 100000 || c.chr > 100000 ||
        c.isut > 256 || c.isstd > 256)
        return VG_EPARSE;
    uint64_t v1 = tzif_block_size(&c, 4);
    if (44 + v1 > len) return VG_EPARSE;
    if (b[4] >= '2') {
        if (44 + v1 + 44 > len) return VG_EPARSE;
        h = b + 44 + v1;
        if (memcmp(h, "TZif", 4) != 0) return VG_EPARSE;
        tzif_counts(h, &c);
        tsz = 8;
        if (c.time > 100000 || c.type > 256 || c.leap > 100000 || c.chr > 100000 ||
            c.isut > 256 || c.isstd > 256)
            return VG_EPARSE;
    }
    uint64_t blk = tzif_block_size(&c, tsz);
    const uc *d = h + 44, *end = b + len;
    if ((uint64_t)(end - d) < blk) return VG_EPARSE;
    if (c.type == 0 || (c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type))
        return VG_EPARSE;

    const uc *tt = d, *ti = d + c.time * tsz, *ty = ti + c.time;
    int32_t types[256];
    for (uint64_t i = 0; i < c.type; i++) {
        int64_t o = be32s(ty + 6 * i);
        if (o <= -93600 || o >= 93600) return VG_EPARSE;
        types[i] = (int32_t)o;
    }
    vg_syslog_tz_t *tz = vg_calloc(1, sizeof *tz);
    if (!tz) return VG_ENOMEM;
    tz->initial = types[0];
    tz->n = (size_t)c.time;
    if (tz->n) {
        tz->times = vg_malloc(tz->n * sizeof *tz->times);
        tz->offs = vg_malloc(tz->n * sizeof *tz->offs);
        if (!tz->times || !tz->offs) {
            vg_syslog_tz_free(tz);
            return VG_ENOMEM;
        }
    }
    for (size_t i = 0; i < tz->n; i++) {
        tz->times[i] = tsz == 8 ? be64s(tt + 8 * i) : be32s(tt + 4 * i);
        if (ti[i] >= c.type || (i > 0 && tz->times[i] <= tz->times[i - 1])) {
            vg_syslog_tz_free(tz);
            return VG_EPARSE;
        }
        tz->offs[i] = types[ti[i]];
    }
    /* Footer (v2+): "\n" POSIX-TZ "\n". One we cannot read is ignored: the
     * last transition's offset then holds for later times. */
    const uc *f = d + blk;
    if (tsz == 8 && f < end && *f == '\n') {
        const uc *fe = memchr(f + 1, '\n', (size_t)(end - f - 1));
        if (fe && fe > f + 1) {
            vg_syslog_tz_t tmp = *tz;
            if (ptz_parse((const char *)f + 1, (const char *)fe, &tmp)) {
                *tz = tmp;
                tz->has_rule = true;
            }
        }
    }
    *out = tz;
    return 0;
}

int vg_syslog_tz_load(const char *location, const char *dir, vg_syslog_tz_t **out)
{
    *out = NULL;
    if (!location || !*location || strcmp(location, "UTC") == 0) return vg_syslog_tz_fixed(0, out);
    char path[1024];
    if (strcmp(location, "Local") == 0) {
        snprintf(path, sizeof path, "/etc/localtime");
    } else {
        size_t n = strlen(location);
        if (n > 255 || location[0] == '/' || strstr(location, "..")) return VG_EINVAL;
        for (size_t i = 0; i < n; i++) {
            char ch = location[i];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '/' || ch == '_' || ch == '-' || ch == '+' || ch == '.'))
                return VG_EINVAL;
        }
        int w = snprintf(path, sizeof path, "%s/%s", dir ? dir : "/usr/share/zoneinfo", location);
        if (w < 0 || (size_t)w >= sizeof path) return VG_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return (errno == ENOENT || errno == ENOTDIR) ? VG_ENOTFOUND : VG_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return VG_ENOTFOUND;
    }
    if (st.st_size <= 0 || st.st_size > (1 << 20)) {
        close(fd);
        return VG_EPARSE;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uc *buf = vg_malloc(size);
    if (!buf) {
        close(fd);
        return VG_ENOMEM;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    int rc = got == size ? vg_syslog_tz_from_tzif(buf, size, out) : VG_EIO;
    vg_free(buf);
    return rc;
}

/* ======================================================================
 * Severity and facility
 * ==================================================================== */

int vg_syslog_severity_number(unsigned sev)
{
    static const uint8_t num[8] = {21, 19, 18, 17, 13, 10, 9, 5};
    return sev < 8 ? num[sev] : 0;
}

const char *vg_syslog_severity_text(unsigned sev)
{
    static const char *const txt[8] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    return sev < 8 ? txt[sev] : NULL;
}

const char *vg_syslog_otel_severity_name(unsigned sev)
{
    static const char *const txt[8] = {"FATAL", "ERROR3", "ERROR2", "ERROR", "WARN", "INFO2", "INFO", "DEBUG"};
    return sev < 8 ? txt[sev] : NULL;
}

const char *vg_syslog_facility_text(unsigned fac)
{
    static const char *const txt[24] = {
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
        "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "cron2",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
    return fac < 24 ? txt[fac] : NULL;
}

/* ======================================================================
 * Parser
 * ==================================================================== */

typedef struct {
    const char *base; /* start of the input, for error offsets */
    const uc *end;    /* after trimming trailing LF/CR/NUL */
    const vg_syslog_parse_opts_t *o;
    vg_syslog_msg_t *m;
} ps_t;

typedef struct {
    int64_t year;
    int mon, day, hour, min, sec;
    int32_t nsec;
    int32_t off;
    bool has_off, has_year;
} ts_t;

enum { TS_OK = 0, TS_NOMATCH, TS_INVALID };

static int fail(ps_t *s, const uc *at, const char *why)
{
    s->m->error = why;
    s->m->error_offset = at ? (size_t)((const char *)at - s->base) : 0;
    return VG_EPARSE;
}

static inline bool isdig(uc c) { return (unsigned)(c - '0') < 10; }
static inline bool isprint_us(uc c) { return (unsigned)(c - 33) < 94; } /* PRINTUSASCII 33..126 */
static inline int d2(const uc *p) { return isdig(p[0]) && isdig(p[1]) ? (p[0] - '0') * 10 + (p[1] - '0') : -1; }

static void set_pri(vg_syslog_msg_t *m, unsigned v, bool present)
{
    m->pri_present = present;
    m->priority = (uint16_t)v;
    m->facility = (uint8_t)(v >> 3);
    m->severity = (uint8_t)(v & 7);
}

/* p at '<'. Returns the byte after '>' or NULL. */
static const uc *parse_pri(const uc *p, const uc *end, unsigned *pri)
{
    unsigned v = 0;
    int n = 0;
    p++;
    while (p < end && isdig(*p) && n < 3) v = v * 10 + (unsigned)(*p++ - '0'), n++;
    if (n == 0 || p >= end || *p != '>' || v > 191) return NULL;
    *pri = v;
    return p + 1;
}

/* Fraction digits after '.': up to 9 kept, more are an error when strict. */
static const uc *parse_frac(const uc *p, const uc *end, bool strict, int32_t *ns)
{
    int n = 0;
    int32_t v = 0;
    while (p < end && isdig(*p)) {
        if (n < 9) v = v * 10 + (*p - '0');
        else if (strict) return NULL;
        n++, p++;
    }
    if (n == 0) return NULL;
    for (int i = n; i < 9; i++) v *= 10;
    *ns = v;
    return p;
}

static bool ts_values_ok(const ts_t *t)
{
    if (t->mon < 1 || t->mon > 12 || t->day < 1 || t->hour > 23 || t->min > 59 || t->sec > 60) return false;
    return t->day <= (t->has_year ? month_days(t->year, t->mon) : month_days(2000, t->mon));
}

/* RFC 3339 date-time. strict (5424): 'T', fraction <= 9 digits, offset
 * required as Z or +-hh:mm. lenient (3164 position): also ' ' as separator,
 * offset optional and +-hhmm / +-hh accepted. */
static int parse_iso(const uc **pp, const uc *end, bool strict, ts_t *t)
{
    const uc *p = *pp;
    if (end - p < 19) return TS_NOMATCH;
    int y1 = d2(p), y2 = d2(p + 2), mo = d2(p + 5), dd = d2(p + 8);
    if (y1 < 0 || y2 < 0 || p[4] != '-' || mo < 0 || p[7] != '-' || dd < 0) return TS_NOMATCH;
    if (!(p[10] == 'T' || p[10] == 't' || (!strict && p[10] == ' '))) return TS_NOMATCH;
    int hh = d2(p + 11), mi = d2(p + 14), ss = d2(p + 17);
    if (hh < 0 || p[13] != ':' || mi < 0 || p[16] != ':' || ss < 0) return TS_NOMATCH;
    t->year = y1 * 100 + y2, t->mon = mo, t->day = dd, t->hour = hh, t->min = mi, t->sec = ss;
    t->has_year = true, t->nsec = 0, t->has_off = false, t->off = 0;
    p += 19;
    if (p < end && *p == '.') {
        p = parse_frac(p + 1, end, strict, &t->nsec);
        if (!p) return TS_NOMATCH;
    }
    if (p < end && (*p == 'Z' || *p == 'z')) {
        t->has_off = true;
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        if (end - p < 3 || (oh = d2(p + 1)) < 0) return TS_NOMATCH;
        p += 3;
        if (end - p >= 3 && p[0] == ':' && (om = d2(p + 1)) >= 0) p += 3;
        else if (!strict && end - p >= 2 && (om = d2(p)) >= 0) p += 2;
        else if (strict) return TS_NOMATCH;
        else om = 0;
        if (oh > 23 || om > 59) return TS_INVALID;
        t->has_off = true;
        t->off = sign * (oh * 3600 + om * 60);
    } else if (strict) {
        return TS_NOMATCH;
    }
    if (!ts_values_ok(t)) return TS_INVALID;
    *pp = p;
    return TS_OK;
}

static int month_from_name(const uc *p)
{
    /* lower-case the three letters into one key */
    uint32_t k = (uint32_t)(p[0] | 0x20) << 16 | (uint32_t)(p[1] | 0x20) << 8 | (uint32_t)(p[2] | 0x20);
#define MK(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
    static const uint32_t names[12] = {
        MK('j', 'a', 'n'), MK('f', 'e', 'b'), MK('m', 'a', 'r'), MK('a', 'p', 'r'),
        MK('m', 'a', 'y'), MK('j', 'u', 'n'), MK('j', 'u', 'l'), MK('a', 'u', 'g'),
        MK('s', 'e', 'p'), MK('o', 'c', 't'), MK('n', 'o', 'v'), MK('d', 'e', 'c')};
#undef MK
    for (int i = 0; i < 12; i++)
        if (names[i] == k) return i + 1;
    return 0;
}

static bool isalpha_(uc c) { return (unsigned)((c | 0x20) - 'a') < 26; }
static bool isupper_(uc c) { return (unsigned)(c - 'A') < 26; }

/* BSD timestamp: Mmm SP[SP]d[d] SP [yyyy SP] hh:mm:ss[.f] [SP ZONE ':' | ':'] */
static int parse_bsd(const uc **pp, const uc *end, ts_t *t)
{
    const uc *p = *pp;
    if (end - p < 3 || !isalpha_(p[0]) || !isalpha_(p[1]) || !isalpha_(p[2])) return TS_NOMATCH;
    int mon = month_from_name(p);
    if (!mon) return TS_NOMATCH;
    p += 3;
    if (p >= end || *p != ' ') return TS_NOMATCH;
    p++;
    if (p < end && *p == ' ') p++;
    int day = 0, nd = 0;
    while (p < end && isdig(*p) && nd < 2) day = day * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || p >= end || *p != ' ') return TS_NOMATCH;
    p++;
    t->has_year = false, t->year = 0;
    if (end - p >= 7 && isdig(p[0]) && d2(p + 1) >= 0 && isdig(p[3]) && p[4] == ' ' && d2(p + 5) >= 0) {
        t->has_year = true;
        t->year = (p[0] - '0') * 1000 + d2(p + 1) * 10 + (p[3] - '0');
        p += 5;
    }
    if (end - p < 8) return TS_NOMATCH;
    int hh = d2(p), mi = d2(p + 3), ss = d2(p + 6);
    if (hh < 0 || p[2] != ':' || mi < 0 || p[5] != ':' || ss < 0) return TS_NOMATCH;
    p += 8;
    t->mon = mon, t->day = day, t->hour = hh, t->min = mi, t->sec = ss;
    t->nsec = 0, t->has_off = false, t->off = 0;
    if (p < end && *p == '.') {
        p = parse_frac(p + 1, end, false, &t->nsec);
        if (!p) return TS_NOMATCH;
    }
    if (p < end && *p == ':') {
        p++;
    } else if (end - p >= 5 && p[0] == ' ' && isupper_(p[1])) {
        /* Cisco " UTC:" / " CET: %FAC-..." zone word. Only UTC/GMT, or an
         * upper-case word before a Cisco mnemonic: "app:" is a tag. */
        const uc *z = p + 1, *q = z;
        while (q < end && isupper_(*q) && q - z < 6) q++;
        if (q - z >= 3 && q - z <= 5 && q < end && *q == ':') {
            bool utc = q - z == 3 && ((z[0] == 'U' && z[1] == 'T' && z[2] == 'C') ||
                                      (z[0] == 'G' && z[1] == 'M' && z[2] == 'T'));
            if (utc || (end - q >= 3 && q[1] == ' ' && q[2] == '%')) {
                t->has_off = utc;
                p = q + 1;
            }
        }
    }
    if (p < end && *p != ' ') return TS_NOMATCH;
    if (!ts_values_ok(t)) return TS_INVALID;
    *pp = p;
    return TS_OK;
}

/* Resolve t (with year) to unix ns. Returns false when out of range. */
static bool ts_to_ns(const ts_t *t, const vg_syslog_tz_t *tz, int64_t *ns, int32_t *off)
{
    int64_t local = days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
    int64_t utc = t->has_off ? local - t->off : vg_syslog_tz_local_to_unix(tz, local);
    if (utc < MIN_UNIX_SEC || utc > MAX_UNIX_SEC) return false;
    *off = (int32_t)(local - utc);
    *ns = utc * NS_PER_SEC + t->nsec;
    return true;
}

static int64_t now_ns_of(const vg_syslog_parse_opts_t *o)
{
    if (o->now_ns) return o->now_ns;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Fill the timestamp fields; picks the year first when the message has none. */
static bool ts_resolve(ps_t *s, ts_t *t)
{
    vg_syslog_msg_t *m = s->m;
    const vg_syslog_tz_t *tz = t->has_off ? NULL : s->o->location;
    m->ts_has_offset = t->has_off;
    if (!t->has_year) {
        int64_t now = now_ns_of(s->o);
        int64_t now_s = floor_div(now, NS_PER_SEC);
        int64_t now_local = now_s + vg_syslog_tz_offset(tz, now_s);
        int64_t y0 = year_from_days(floor_div(now_local, 86400));
        int64_t limit = now_s + FUTURE_SLACK_SEC;
        /* next year can only qualify in the last days of this one */
        int64_t first = now_local + FUTURE_SLACK_SEC + 2 * 86400 >= days_from_civil(y0 + 1, 1, 1) * 86400 ? y0 + 1 : y0;
        /* newest year not too far in the future; Feb 29 may need a few years back */
        for (int64_t y = first; y >= y0 - 8; y--) {
            if (t->day > month_days(y, t->mon)) continue;
            t->year = y;
            int64_t ns;
            int32_t off;
            if (!ts_to_ns(t, tz, &ns, &off)) return false;
            if (floor_div(ns, NS_PER_SEC) <= limit) {
                m->time_unix_nano = ns, m->ts_offset_sec = off;
                m->ts_year_inferred = true, m->ts_present = true;
                return true;
            }
        }
        return false;
    }
    if (!ts_to_ns(t, tz, &m->time_unix_nano, &m->ts_offset_sec)) return false;
    m->ts_present = true;
    return true;
}

/* 5424 header field: 1*PRINTUSASCII then SP; "-" is absent. */
static inline const uc *hdr_field(const uc *p, const uc *end, vg_syslog_str_t *out)
{
    const uc *s = p;
    while (p < end && isprint_us(*p)) p++;
    if (p == s || p >= end || *p != ' ') return NULL;
    if (!(p - s == 1 && *s == '-')) {
        out->ptr = (const char *)s;
        out->len = (size_t)(p - s);
    }
    return p + 1;
}

static inline bool is_sdname(uc c) { return isprint_us(c) && c != '=' && c != ']' && c != '"'; }

/* SD-PARAM value after the opening quote: returns the closing quote or NULL. */
static inline const uc *sd_value_end(const uc *p, const uc *end, bool *escaped)
{
    while (p < end) {
        uc c = *p;
        if (c == '"') return p;
        if (c == '\\') {
            *escaped = true;
            if (end - p < 2) return NULL;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

static int parse_sd(ps_t *s, const uc **pp)
{
    const uc *p = *pp, *end = s->end, *start = p;
    vg_syslog_msg_t *m = s->m;
    while (p < end && *p == '[') {
        p++;
        const uc *id = p;
        while (p < end && is_sdname(*p)) p++;
        if (p == id) return fail(s, p, "invalid SD-ID");
        vg_syslog_sd_element_t *el = NULL;
        if (m->sd_count < VG_SYSLOG_SD_MAX_ELEMENTS) {
            el = &m->sd[m->sd_count++];
            el->id.ptr = (const char *)id;
            el->id.len = (size_t)(p - id);
            el->first_param = m->param_count;
            el->n_params = 0;
        } else {
            m->sd_truncated = true;
        }
        while (p < end && *p == ' ') {
            p++;
            const uc *name = p;
            while (p < end && is_sdname(*p)) p++;
            if (p == name) return fail(s, p, "invalid PARAM-NAME");
            const uc *name_end = p;
            if (p >= end || *p != '=') return fail(s, p, "expected '=' in SD-PARAM");
            p++;
            if (p >= end || *p != '"') return fail(s, p, "expected '\"' in SD-PARAM");
            p++;
            bool esc = false;
            const uc *ve = sd_value_end(p, end, &esc);
            if (!ve) return fail(s, end, "unterminated PARAM-VALUE");
            if (el && m->param_count < VG_SYSLOG_SD_MAX_PARAMS) {
                vg_syslog_sd_param_t *pa = &m->params[m->param_count++];
                pa->name.ptr = (const char *)name;
                pa->name.len = (size_t)(name_end - name);
                pa->value.ptr = (const char *)p;
                pa->value.len = (size_t)(ve - p);
                pa->escaped = esc;
                el->n_params++;
            } else {
                m->sd_truncated = true;
            }
            p = ve + 1;
        }
        if (p >= end || *p != ']') return fail(s, p, "expected ']' after SD-ELEMENT");
        p++;
    }
    m->sd_raw.ptr = (const char *)start;
    m->sd_raw.len = (size_t)(p - start);
    *pp = p;
    return 0;
}

static int parse_5424(ps_t *s, const uc *p)
{
    vg_syslog_msg_t *m = s->m;
    const uc *end = s->end, *q;
    m->protocol = VG_SYSLOG_RFC5424;
    if (p < end && *p == '<') {
        unsigned pri;
        if (!(q = parse_pri(p, end, &pri))) return fail(s, p, "invalid PRI");
        set_pri(m, pri, true);
        p = q;
    } else if (s->o->allow_skip_pri) {
        set_pri(m, 13, false);
    } else {
        return fail(s, p, "missing PRI");
    }
    /* VERSION = NONZERO-DIGIT 0*2DIGIT */
    if (p >= end || *p < '1' || *p > '9') return fail(s, p, "invalid VERSION");
    unsigned ver = (unsigned)(*p++ - '0');
    for (int i = 0; i < 2 && p < end && isdig(*p); i++) ver = ver * 10 + (unsigned)(*p++ - '0');
    if (p >= end || *p != ' ') return fail(s, p, "invalid VERSION");
    m->version = (uint16_t)ver;
    p++;
    /* TIMESTAMP */
    if (p < end && *p == '-') {
        p++;
    } else {
        ts_t t;
        const uc *ts = p;
        int r = parse_iso(&p, end, true, &t);
        if (r != TS_OK) return fail(s, ts, r == TS_INVALID ? "invalid TIMESTAMP value" : "invalid TIMESTAMP");
        m->timestamp.ptr = (const char *)ts;
        m->timestamp.len = (size_t)(p - ts);
        if (!ts_resolve(s, &t)) return fail(s, ts, "TIMESTAMP out of range");
    }
    if (p >= end || *p != ' ') return fail(s, p, "expected SP after TIMESTAMP");
    p++;
    if (!(q = hdr_field(p, end, &m->hostname))) return fail(s, p, "invalid HOSTNAME");
    p = q;
    if (!(q = hdr_field(p, end, &m->appname))) return fail(s, p, "invalid APP-NAME");
    p = q;
    if (!(q = hdr_field(p, end, &m->procid))) return fail(s, p, "invalid PROCID");
    p = q;
    if (!(q = hdr_field(p, end, &m->msgid))) return fail(s, p, "invalid MSGID");
    p = q;
    /* STRUCTURED-DATA */
    if (p < end && *p == '-') {
        p++;
    } else if (p < end && *p == '[') {
        int rc = parse_sd(s, &p);
        if (rc) return rc;
    } else {
        return fail(s, p, "invalid STRUCTURED-DATA");
    }
    if (p == end) return 0;
    if (*p != ' ') return fail(s, p, "expected SP before MSG");
    p++;
    if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        m->msg_bom = true;
    }
    m->message.ptr = (const char *)p;
    m->message.len = (size_t)(end - p);
    return 0;
}

/* TAG ["[" PID "]"] [":"] at p. On a match fills app/pid and moves *pp past
 * the tag and one SP. Name: 1..128 bytes of PRINTUSASCII except '[' ':'. */
static bool parse_tag(const uc **pp, const uc *end, vg_syslog_str_t *app, vg_syslog_str_t *pid)
{
    const uc *s = *pp, *p = s;
    while (p < end && isprint_us(*p) && *p != '[' && *p != ':' && p - s <= 128) p++;
    if (p == s || p - s > 128 || p >= end) return false;
    const uc *ne = p, *ps = NULL, *pe = NULL;
    if (*p == ':') {
        if (end - p >= 2 && p[1] != ' ') return false; /* "a:b" is not a tag (IPv6, times) */
        p++;
    } else if (*p == '[') {
        ps = ++p;
        while (p < end && isprint_us(*p) && *p != ']' && *p != '[' && p - ps <= 128) p++;
        if (p >= end || *p != ']' || p - ps > 128) return false;
        pe = p++;
        if (p < end && *p == ':') p++;
        else if (p < end && *p != ' ') return false;
    } else {
        return false;
    }
    if (p < end && *p == ' ') p++;
    app->ptr = (const char *)s;
    app->len = (size_t)(ne - s);
    if (ps && pe > ps) {
        pid->ptr = (const char *)ps;
        pid->len = (size_t)(pe - ps);
    }
    *pp = p;
    return true;
}

static int parse_3164(ps_t *s, const uc *p)
{
    vg_syslog_msg_t *m = s->m;
    const uc *end = s->end;
    m->protocol = VG_SYSLOG_RFC3164;
    if (p < end && *p == '<') {
        unsigned pri;
        const uc *q = parse_pri(p, end, &pri);
        if (!q) return fail(s, p, "invalid PRI");
        set_pri(m, pri, true);
        p = q;
    } else {
        set_pri(m, 13, false);
    }
    /* Cisco IOS sequence number "NNN: " */
    {
        const uc *q = p;
        while (q < end && isdig(*q) && q - p < 11) q++;
        if (q > p && end - q >= 2 && q[0] == ':' && q[1] == ' ') p = q + 2;
    }
    /* '*' / '.' in front of the time: clock not (or no longer) synchronised */
    if (end - p >= 2 && (*p == '*' || *p == '.') && isalpha_(p[1])) p++;

    ts_t t;
    const uc *ts = p;
    int r = TS_NOMATCH;
    if (p < end && isalpha_(*p)) r = parse_bsd(&p, end, &t);
    else if (end - p >= 5 && isdig(*p) && p[4] == '-') r = parse_iso(&p, end, false, &t);
    if (r == TS_OK && p < end && *p != ' ') r = TS_NOMATCH;
    if (r == TS_INVALID) return fail(s, ts, "invalid TIMESTAMP value");
    if (r == TS_OK) {
        m->timestamp.ptr = (const char *)ts;
        m->timestamp.len = (size_t)(p - ts);
        if (!ts_resolve(s, &t)) return fail(s, ts, "TIMESTAMP out of range");
        while (p < end && *p == ' ') p++;
        /* HOSTNAME, unless the first word is already the TAG */
        const uc *q = p;
        vg_syslog_str_t app = {0}, pid = {0};
        if (p < end && !parse_tag(&q, end, &app, &pid)) {
            const uc *h = p;
            while (q < end && isprint_us(*q)) q++;
            if (q > h && (q == end || *q == ' ')) {
                m->hostname.ptr = (const char *)h;
                m->hostname.len = (size_t)(q - h);
                p = q;
                while (p < end && *p == ' ') p++;
            }
        }
    }
    parse_tag(&p, end, &m->appname, &m->procid);
    m->message.ptr = (const char *)p;
    m->message.len = (size_t)(end - p);
    return 0;
}

/* <PRI>VERSION SP: the start of an RFC 5424 message. */
static bool looks_5424(const uc *p, const uc *end)
{
    unsigned pri;
    if (p >= end || *p != '<' || !(p = parse_pri(p, end, &pri))) return false;
    if (p >= end || *p < '1' || *p > '9') return false;
    p++;
    for (int i = 0; i < 2 && p < end && isdig(*p); i++) p++;
    return p < end && *p == ' ';
}

static void msg_init(vg_syslog_msg_t *m) { memset(m, 0, offsetof(vg_syslog_msg_t, sd)); }

int vg_syslog_parse(const char *data, size_t len, const vg_syslog_parse_opts_t *opts, vg_syslog_msg_t *out)
{
    static const vg_syslog_parse_opts_t defaults = {0};
    ps_t s = {.base = data, .o = opts ? opts : &defaults, .m = out};
    msg_init(out);
    if (!data || !len) return fail(&s, (const uc *)data, "empty message");
    const uc *p = (const uc *)data, *end = p + len;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\0')) end--;
    s.end = end;
    if (p == end) return fail(&s, p, "empty message");
    switch (s.o->protocol) {
    case VG_SYSLOG_RFC5424:
        return parse_5424(&s, p);
    case VG_SYSLOG_RFC3164:
        return parse_3164(&s, p);
    case VG_SYSLOG_AUTO:
        if (looks_5424(p, end) && parse_5424(&s, p) == 0) return 0;
        msg_init(out);
        return parse_3164(&s, p);
    }
    return fail(&s, p, "unknown protocol");
}

/* ======================================================================
 * Structured data helpers
 * ==================================================================== */

size_t vg_syslog_sd_unescape(vg_syslog_str_t v, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (c == '\\' && i + 1 < v.len && (v.ptr[i + 1] == '"' || v.ptr[i + 1] == '\\' || v.ptr[i + 1] == ']'))
            c = v.ptr[++i];
        dst[o++] = c;
    }
    return o;
}

void vg_syslog_sd_iter_init(vg_syslog_sd_iter_t *it, vg_syslog_str_t sd)
{
    it->p = sd.ptr;
    it->end = sd.ptr ? sd.ptr + sd.len : NULL;
    it->in_element = false;
}

bool vg_syslog_sd_iter_param(vg_syslog_sd_iter_t *it, vg_syslog_sd_param_t *pa)
{
    if (!it->in_element) return false;
    const uc *p = (const uc *)it->p, *end = (const uc *)it->end;
    if (p >= end || *p != ' ') {
        it->in_element = false;
        if (p < end && *p == ']') it->p = (const char *)p + 1;
        else it->p = it->end; /* not what parse accepted: stop */
        return false;
    }
    const uc *name = ++p;
    while (p < end && is_sdname(*p)) p++;
    const uc *ne = p;
    if (p == name || end - p < 2 || p[0] != '=' || p[1] != '"') goto stop;
    p += 2;
    bool esc = false;
    const uc *ve = sd_value_end(p, end, &esc);
    if (!ve) goto stop;
    pa->name.ptr = (const char *)name;
    pa->name.len = (size_t)(ne - name);
    pa->value.ptr = (const char *)p;
    pa->value.len = (size_t)(ve - p);
    pa->escaped = esc;
    it->p = (const char *)ve + 1;
    return true;
stop:
    it->in_element = false;
    it->p = it->end;
    return false;
}

bool vg_syslog_sd_iter_element(vg_syslog_sd_iter_t *it, vg_syslog_str_t *id)
{
    vg_syslog_sd_param_t skip;
    while (it->in_element && vg_syslog_sd_iter_param(it, &skip)) {
    }
    const uc *p = (const uc *)it->p, *end = (const uc *)it->end;
    if (!p || p >= end || *p != '[') return false;
    const uc *s = ++p;
    while (p < end && is_sdname(*p)) p++;
    if (p == s) {
        it->p = it->end;
        return false;
    }
    id->ptr = (const char *)s;
    id->len = (size_t)(p - s);
    it->p = (const char *)p;
    it->in_element = true;
    return true;
}
