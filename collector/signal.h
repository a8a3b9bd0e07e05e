/* The three telemetry signals. */
#ifndef VIGIL_SIGNAL_H
#define VIGIL_SIGNAL_H

typedef enum { VG_SIG_TRACES = 0, VG_SIG_METRICS = 1, VG_SIG_LOGS = 2, VG_SIG_COUNT = 3 } vg_signal_t;

#define VG_SIGBIT(s) (1u << (s))
#define VG_SIGBITS_ALL (VG_SIGBIT(VG_SIG_TRACES) | VG_SIGBIT(VG_SIG_METRICS) | VG_SIGBIT(VG_SIG_LOGS))

static inline const char *vg_signal_name(vg_signal_t s)
{
    return s == VG_SIG_TRACES ? "traces" : s == VG_SIG_METRICS ? "metrics" : s == VG_SIG_LOGS ? "logs" : "?";
}
/* Name of the items a signal counts: spans, metric_points, log_records. */
static inline const char *vg_signal_items(vg_signal_t s)
{
    return s == VG_SIG_TRACES ? "spans" : s == VG_SIG_METRICS ? "metric_points" : s == VG_SIG_LOGS ? "log_records" : "?";
}

#endif
