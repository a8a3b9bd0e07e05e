#include "log.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static vg_log_level_t g_level = VG_LOG_INFO;

void vg_log_set_level(vg_log_level_t lvl) { g_level = lvl; }
vg_log_level_t vg_log_get_level(void) { return g_level; }

static const char *level_names[] = { "debug", "info", "warn", "error", "off" };

int vg_log_level_parse(const char *s, vg_log_level_t *out)
{
    for (int i = 0; i <= VG_LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) { *out = (vg_log_level_t)i; return 0; }
    }
    if (strcasecmp(s, "warning") == 0) { *out = VG_LOG_WARN; return 0; }
    if (strcasecmp(s, "none") == 0) { *out = VG_LOG_OFF; return 0; }
    return VG_EINVAL;
}

void vg_log(vg_log_level_t lvl, const char *component, const char *fmt, ...)
{
    if (lvl < g_level || lvl >= VG_LOG_OFF) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);

    /* Escape the message so one event is always one line. */
    char esc[4200];
    size_t o = 0;
    for (const char *p = msg; *p && o < sizeof esc - 3; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') { esc[o++] = '\\'; esc[o++] = (char)c; }
        else if (c == '\n') { esc[o++] = '\\'; esc[o++] = 'n'; }
        else if (c < 0x20) { esc[o++] = ' '; }
        else esc[o++] = (char)c;
    }
    esc[o] = '\0';
    if (component)
        fprintf(stderr, "ts=%s.%03ldZ level=%s component=%s msg=\"%s\"\n", ts,
                (long)(tv.tv_usec / 1000), level_names[lvl], component, esc);
    else
        fprintf(stderr, "ts=%s.%03ldZ level=%s msg=\"%s\"\n", ts, (long)(tv.tv_usec / 1000),
                level_names[lvl], esc);
}
