/* Leveled logging to stderr, one line per event, logfmt:
 *   ts=2026-11-29T02:43:24.123Z level=info component=otlp msg="listening" endpoint=...
 * The level is process-wide configuration set once at start (and on reload);
 * it is the only process-wide setting and is not data state. */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

typedef enum { VG_LOG_DEBUG = 0, VG_LOG_INFO, VG_LOG_WARN, VG_LOG_ERROR, VG_LOG_OFF } vg_log_level_t;

void vg_log_set_level(vg_log_level_t lvl);
vg_log_level_t vg_log_get_level(void);
int vg_log_level_parse(const char *s, vg_log_level_t *out); /* 0 or VG_EINVAL */

/* component may be NULL. fmt produces the message text (quoted and escaped in
 * the output); extra key=value pairs can follow with vg_logkv. */
void vg_log(vg_log_level_t lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define VG_DEBUG(comp, ...) do { if (vg_log_get_level() <= VG_LOG_DEBUG) vg_log(VG_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define VG_INFO(comp, ...)  vg_log(VG_LOG_INFO, comp, __VA_ARGS__)
#define VG_WARN(comp, ...)  vg_log(VG_LOG_WARN, comp, __VA_ARGS__)
#define VG_ERROR(comp, ...) vg_log(VG_LOG_ERROR, comp, __VA_ARGS__)

#endif
