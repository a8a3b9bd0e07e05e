/* debug exporter: human-readable telemetry on stderr, for people at a terminal.
 * basic: one line per batch; normal: one line per item; detailed: every field. */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int verbosity; /* 0 basic, 1 normal, 2 detailed */
    int64_t sampling_initial;
    int64_t sampling_thereafter;
} debug_cfg_t;

static const char *const verbosities[] = { "basic", "normal", "detailed", NULL };

static const vg_option_t debug_opts[] = {
    { .name = "verbosity", .type = VG_OPT_ENUM, .offset = offsetof(debug_cfg_t, verbosity), .def = "basic",
      .values = verbosities,
      .doc = "basic: one line per batch with counts; normal: one line per span, data point or log record; "
             "detailed: every field, attribute, resource and scope." },
    { .name = "sampling_initial", .type = VG_OPT_INT, .offset = offsetof(debug_cfg_t, sampling_initial), .def = "2",
      .min = "1", .doc = "Batches printed each second before sampling starts." },
    { .name = "sampling_thereafter", .type = VG_OPT_INT, .offset = offsetof(debug_cfg_t, sampling_thereafter),
      .def = "1", .min = "1", .doc = "After sampling_initial in a second, print one batch in this many (1 = all)." },
    { 0 },
};

typedef struct {
    time_t second;
    int64_t in_second;
} debug_state_t;

static void hex(FILE *f, const ProtobufCBinaryData *b)
{
    for (size_t i = 0; i < b->len; i++) fprintf(f, "%02x", b->data[i]);
}

static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void anyvalue(FILE *f, const vg_anyvalue_t *v, int depth)
{
    if (!v) { fputs("null", f); return; }
    if (depth > 16) { fputs("...", f); return; }
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: quoted(f, v->string_value); break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE: fputs(v->bool_value ? "true" : "false", f); break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE: fprintf(f, "%" PRId64, v->int_value); break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE: fprintf(f, "%.17g", v->double_value); break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE: fputs("0x", f); hex(f, &v->bytes_value); break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        fputc('[', f);
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            if (i) fputc(',', f);
            anyvalue(f, v->array_value->values[i], depth + 1);
        }
        fputc(']', f);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        fputc('{', f);
        for (size_t i = 0; v->kvlist_value && i < v->kvlist_value->n_values; i++) {
            if (i) fputc(',', f);
            fprintf(f, "%s=", v->kvlist_value->values[i]->key);
            anyvalue(f, v->kvlist_value->values[i]->value, depth + 1);
        }
        fputc('}', f);
        break;
    default: fputs("null", f);
    }
}

static void attrs(FILE *f, vg_kv_t **kv, size_t n)
{
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        fprintf(f, "%s=", kv[i]->key);
        anyvalue(f, kv[i]->value, 0);
    }
    fputc('}', f);
}

static void attr_lines(FILE *f, const char *indent, vg_kv_t **kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s-> %s: ", indent, kv[i]->key);
        anyvalue(f, kv[i]->value, 0);
        fputc('\n', f);
    }
}

static void resource_scope(FILE *f, size_t ri, const vg_resource_t *r, const char *rschema, size_t si,
                           const vg_scope_t *s, const char *sschema, bool first_scope)
{
    if (first_scope) {
        fprintf(f, "ResourceX #%zu\nResource SchemaURL: %s\nResource attributes:\n", ri, rschema ? rschema : "");
        if (r) attr_lines(f, "     ", r->attributes, r->n_attributes);
    }
    fprintf(f, "Scope #%zu\nScope SchemaURL: %s\nInstrumentationScope %s %s\n", si, sschema ? sschema : "",
            s && s->name ? s->name : "", s && s->version ? s->version : "");
    if (s) attr_lines(f, "     ", s->attributes, s->n_attributes);
}

static void print_traces(FILE *f, const vg_traces_req_t *r, int verb)
{
    for (size_t i = 0; i < r->n_resource_spans; i++) {
        const vg_resource_spans_t *rs = r->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const vg_scope_spans_t *ss = rs->scope_spans[j];
            if (verb == 2) resource_scope(f, i, rs->resource, rs->schema_url, j, ss->scope, ss->schema_url, j == 0);
            for (size_t k = 0; k < ss->n_spans; k++) {
                const vg_span_t *sp = ss->spans[k];
                if (verb == 1) {
                    fputs("span ", f);
                    quoted(f, sp->name);
                    fputs(" trace_id=", f); hex(f, &sp->trace_id);
                    fputs(" span_id=", f); hex(f, &sp->span_id);
                    fprintf(f, " kind=%d duration_ns=%" PRId64 " status=%d ", (int)sp->kind,
                            (int64_t)(sp->end_time_unix_nano - sp->start_time_unix_nano),
                            sp->status ? (int)sp->status->code : 0);
                    attrs(f, sp->attributes, sp->n_attributes);
                    fputc('\n', f);
                    continue;
                }
                fprintf(f, "Span #%zu\n    Trace ID       : ", k); hex(f, &sp->trace_id);
                fputs("\n    Parent ID      : ", f); hex(f, &sp->parent_span_id);
                fputs("\n    ID             : ", f); hex(f, &sp->span_id);
                fprintf(f, "\n    Name           : %s\n    Kind           : %d\n", sp->name, (int)sp->kind);
                fprintf(f, "    Start time     : %" PRIu64 "\n    End time       : %" PRIu64 "\n",
                        sp->start_time_unix_nano, sp->end_time_unix_nano);
                fprintf(f, "    Status code    : %d\n    Status message : %s\n", sp->status ? (int)sp->status->code : 0,
                        sp->status && sp->status->message ? sp->status->message : "");
                fputs("Attributes:\n", f);
                attr_lines(f, "     ", sp->attributes, sp->n_attributes);
                for (size_t e = 0; e < sp->n_events; e++) {
                    fprintf(f, "Event #%zu: %s at %" PRIu64 "\n", e, sp->events[e]->name, sp->events[e]->time_unix_nano);
                    attr_lines(f, "     ", sp->events[e]->attributes, sp->events[e]->n_attributes);
                }
                for (size_t l = 0; l < sp->n_links; l++) {
                    fprintf(f, "Link #%zu: trace_id=", l); hex(f, &sp->links[l]->trace_id);
                    fputs(" span_id=", f); hex(f, &sp->links[l]->span_id);
                    fputc('\n', f);
                }
            }
        }
    }
}

static void print_point_line(FILE *f, const char *name, const char *kind, vg_kv_t **kv, size_t nkv, uint64_t ts,
                             const char *valfmt, double v, uint64_t count)
{
    fprintf(f, "%s %s", kind, name);
    attrs(f, kv, nkv);
    if (valfmt) fprintf(f, " value=%.17g", v);
    else fprintf(f, " count=%" PRIu64 " sum=%.17g", count, v);
    fprintf(f, " ts=%" PRIu64 "\n", ts);
}

static double num_value(const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p)
{
    return p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT ? (double)p->as_int
                                                                                               : p->as_double;
}

static void print_metrics(FILE *f, const vg_metrics_req_t *r, int verb)
{
    for (size_t i = 0; i < r->n_resource_metrics; i++) {
        const vg_resource_metrics_t *rm = r->resource_metrics[i];
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const vg_scope_metrics_t *sm = rm->scope_metrics[j];
            if (verb == 2) resource_scope(f, i, rm->resource, rm->schema_url, j, sm->scope, sm->schema_url, j == 0);
            for (size_t k = 0; k < sm->n_metrics; k++) {
                const vg_metric_t *m = sm->metrics[k];
                if (verb == 2)
                    fprintf(f, "Metric #%zu\nDescriptor:\n     -> Name: %s\n     -> Description: %s\n     -> Unit: %s\n",
                            k, m->name, m->description ? m->description : "", m->unit ? m->unit : "");
                switch (m->data_case) {
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: {
                    bool g = m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
                    size_t n = g ? m->gauge->n_data_points : m->sum->n_data_points;
                    for (size_t p = 0; p < n; p++) {
                        const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp =
                            g ? m->gauge->data_points[p] : m->sum->data_points[p];
                        print_point_line(f, m->name, g ? "gauge" : "sum", dp->attributes, dp->n_attributes,
                                         dp->time_unix_nano, "v", num_value(dp), 0);
                    }
                    break;
                }
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
                    for (size_t p = 0; p < m->histogram->n_data_points; p++) {
                        const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *dp = m->histogram->data_points[p];
                        print_point_line(f, m->name, "histogram", dp->attributes, dp->n_attributes, dp->time_unix_nano,
                                         NULL, dp->sum, dp->count);
                    }
                    break;
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
                    for (size_t p = 0; p < m->exponential_histogram->n_data_points; p++) {
                        const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *dp =
                            m->exponential_histogram->data_points[p];
                        print_point_line(f, m->name, "exponential_histogram", dp->attributes, dp->n_attributes,
                                         dp->time_unix_nano, NULL, dp->sum, dp->count);
                    }
                    break;
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
                    for (size_t p = 0; p < m->summary->n_data_points; p++) {
                        const Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *dp = m->summary->data_points[p];
                        print_point_line(f, m->name, "summary", dp->attributes, dp->n_attributes, dp->time_unix_nano,
                                         NULL, dp->sum, dp->count);
                    }
                    break;
                default:
                    fprintf(f, "metric %s (no data)\n", m->name);
                }
            }
        }
    }
}

static void print_logs(FILE *f, const vg_logs_req_t *r, int verb)
{
    for (size_t i = 0; i < r->n_resource_logs; i++) {
        const vg_resource_logs_t *rl = r->resource_logs[i];
        for (size_t j = 0; j < rl->n_scope_logs; j++) {
            const vg_scope_logs_t *sl = rl->scope_logs[j];
            if (verb == 2) resource_scope(f, i, rl->resource, rl->schema_url, j, sl->scope, sl->schema_url, j == 0);
            for (size_t k = 0; k < sl->n_log_records; k++) {
                const vg_log_record_t *lr = sl->log_records[k];
                if (verb == 1) {
                    fprintf(f, "log severity=%s(%d) ts=%" PRIu64 " body=", lr->severity_text ? lr->severity_text : "",
                            (int)lr->severity_number, lr->time_unix_nano);
                    anyvalue(f, lr->body, 0);
                    fputc(' ', f);
                    attrs(f, lr->attributes, lr->n_attributes);
                    fputc('\n', f);
                    continue;
                }
                fprintf(f, "LogRecord #%zu\nObservedTimestamp: %" PRIu64 "\nTimestamp: %" PRIu64
                           "\nSeverityText: %s\nSeverityNumber: %d\nBody: ",
                        k, lr->observed_time_unix_nano, lr->time_unix_nano, lr->severity_text ? lr->severity_text : "",
                        (int)lr->severity_number);
                anyvalue(f, lr->body, 0);
                fputs("\nAttributes:\n", f);
                attr_lines(f, "     ", lr->attributes, lr->n_attributes);
                fputs("Trace ID: ", f); hex(f, &lr->trace_id);
                fputs("\nSpan ID: ", f); hex(f, &lr->span_id);
                fprintf(f, "\nFlags: %u\n", lr->flags);
            }
        }
    }
}

static int debug_create(vg_component_t *c)
{
    c->state = vg_calloc(1, sizeof(debug_state_t));
    return c->state ? 0 : VG_ENOMEM;
}

static void debug_destroy(vg_component_t *c) { vg_free(c->state); }

static int debug_consume(vg_component_t *c, vg_batch_t *b)
{
    const debug_cfg_t *cfg = c->cfg;
    debug_state_t *st = c->state;
    time_t now = time(NULL);
    if (now != st->second) { st->second = now; st->in_second = 0; }
    st->in_second++;
    bool print = st->in_second <= cfg->sampling_initial ||
                 (st->in_second - cfg->sampling_initial) % cfg->sampling_thereafter == 0;
    if (print) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            char ts[32];
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
            fprintf(f, "%s %s %s: %zu %s\n", ts, c->id, vg_signal_name(b->signal), b->items,
                    vg_signal_items(b->signal));
            const ProtobufCMessage *m = cfg->verbosity > 0 ? vg_batch_req(b) : NULL;
            if (cfg->verbosity > 0 && !m)
                fprintf(f, "(cannot decode the %s: %s)\n", vg_signal_items(b->signal), vg_strerror(vg_batch_err(b)));
            if (m) {
                if (b->signal == VG_SIG_TRACES) print_traces(f, (const vg_traces_req_t *)m, cfg->verbosity);
                else if (b->signal == VG_SIG_METRICS) print_metrics(f, (const vg_metrics_req_t *)m, cfg->verbosity);
                else print_logs(f, (const vg_logs_req_t *)m, cfg->verbosity);
            }
            fclose(f);
            fwrite(buf, 1, len, stderr);
            free(buf);
        }
    }
    c->stats.sent[b->signal] += b->items;
    vg_batch_unref(b);
    return 0;
}

const vg_factory_t vg_debug_exporter_factory = {
    .type = "debug",
    .kind = VG_KIND_EXPORTER,
    .description = "Writes telemetry to stderr in a stable, human-readable form.",
    .signals = VG_SIGBITS_ALL,
    .options = debug_opts,
    .config_size = sizeof(debug_cfg_t),
    .create = debug_create,
    .consume = debug_consume,
    .destroy = debug_destroy,
};
