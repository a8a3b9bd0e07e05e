/* Configuration: every class of error, with the exact file:line:column and
 * option path; env substitution; merging; failing every allocation in turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "mem.h"

#define GOOD_TAIL                                                   \
    "service:\n"                                                    \
    "  pipelines:\n"                                                \
    "    logs:\n"                                                   \
    "      receivers: [otlpjsonfile]\n"                             \
    "      exporters: [debug]\n"

#define BASE                                                        \
    "receivers:\n"                                                  \
    "  otlpjsonfile:\n"                                             \
    "    include: [/tmp/x/*.jsonl]\n"                               \
    "exporters:\n"                                                  \
    "  debug:\n"

/* Loads `yaml`; expects failure and an error line equal to `want`. */
static void expect_error(const char *yaml, const char *want)
{
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_config_t *cfg = NULL;
    int rc = vg_config_load_string("cfg.yaml", yaml, &cfg, &errs);
    bool found = false;
    for (size_t i = 0; i < errs.n; i++) found |= strcmp(errs.msgs[i], want) == 0;
    if (!found) {
        fprintf(stderr, "wanted: %s\ngot %zu errors:\n", want, errs.n);
        for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "  %s\n", errs.msgs[i]);
    }
    assert_int_not_equal(rc, 0);
    assert_null(cfg);
    assert_true(found);
    vg_errs_free(&errs);
}

static vg_config_t *expect_ok(const char *yaml, vg_errs_t *errs)
{
    vg_errs_init(errs);
    vg_config_t *cfg = NULL;
    int rc = vg_config_load_string("cfg.yaml", yaml, &cfg, errs);
    for (size_t i = 0; i < errs->n; i++) fprintf(stderr, "unexpected: %s\n", errs->msgs[i]);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    return cfg;
}

static void test_valid(void **state)
{
    (void)state;
    vg_errs_t errs;
    vg_config_t *cfg = expect_ok(BASE GOOD_TAIL, &errs);
    assert_int_equal(cfg->ncomps, 2);
    assert_int_equal(cfg->npipes, 1);
    assert_int_equal(cfg->pipes[0].signal, VG_SIG_LOGS);
    assert_int_equal(errs.warnings_n, 0);
    /* defaults from the table */
    assert_int_equal(cfg->service.drain_timeout, 10000000000LL);
    assert_string_equal(cfg->service.telemetry.metrics.address, "127.0.0.1:8888");
    vg_config_free(cfg);
    vg_errs_free(&errs);
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    expect_error("receivers:\n  otlpjsonfile: [a, b\nexporters:\n", "cfg.yaml:3:10: YAML syntax error: did not find "
                 "expected ',' or ']' while parsing a flow sequence");
}

static void test_unknown_type(void **state)
{
    (void)state;
    expect_error("receivers:\n  otlpjsonfil:\n" GOOD_TAIL,
                 "cfg.yaml:2:3: receivers.otlpjsonfil: unknown receiver type 'otlpjsonfil' (did you mean "
                 "'otlpjsonfile'?)");
}

static void test_unknown_option(void **state)
{
    (void)state;
    expect_error(BASE "    verbosty: detailed\n" GOOD_TAIL,
                 "cfg.yaml:6:5: exporters.debug.verbosty: unknown option 'verbosty' (did you mean 'verbosity'?)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error(BASE "processors:\n  batch/big:\n    send_batch_size: lots\n" GOOD_TAIL,
                 "cfg.yaml:8:22: processors.batch/big.send_batch_size: expected an integer, got 'lots'");
    expect_error(BASE "processors:\n  batch:\n    timeout: [1s]\n" GOOD_TAIL,
                 "cfg.yaml:8:14: processors.batch.timeout: expected a duration, got a list");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_error(BASE "processors:\n  batch:\n    send_batch_size: -5\n" GOOD_TAIL,
                 "cfg.yaml:8:22: processors.batch.send_batch_size: -5 is below the minimum 0");
}

static void test_bad_duration_and_size(void **state)
{
    (void)state;
    expect_error(BASE "processors:\n  batch:\n    timeout: 5\n" GOOD_TAIL,
                 "cfg.yaml:8:14: processors.batch.timeout: expected a duration with a unit like 200ms, 5s or "
                 "1m30s, got '5'");
    expect_error("receivers:\n  otlpjsonfile:\n    include: [a]\n    max_log_size: 12XB\nexporters:\n  debug:\n"
                 GOOD_TAIL,
                 "cfg.yaml:4:19: receivers.otlpjsonfile.max_log_size: expected a size like 512KiB, 64MiB or a byte "
                 "count, got '12XB'");
}

static void test_bad_enum(void **state)
{
    (void)state;
    expect_error(BASE "    verbosity: detaild\n" GOOD_TAIL,
                 "cfg.yaml:6:16: exporters.debug.verbosity: 'detaild' is not one of: basic, normal, detailed (did "
                 "you mean 'detailed'?)");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error(BASE "  file:\n    flush_interval: 1s\n" GOOD_TAIL,
                 "cfg.yaml:7:5: exporters.file.path: required option 'path' is missing");
    expect_error("receivers:\n  otlpjsonfile:\nexporters:\n  debug:\n" GOOD_TAIL,
                 "receivers.otlpjsonfile.include: required option 'include' is missing");
}

static void test_cross_field(void **state)
{
    (void)state;
    expect_error(BASE "processors:\n  batch:\n    send_batch_size: 100\n    send_batch_max_size: 10\n" GOOD_TAIL,
                 "processors.batch.send_batch_max_size: must be 0 or greater than or equal to send_batch_size (100)");
}

static void test_undefined_reference(void **state)
{
    (void)state;
    expect_error(BASE "service:\n  pipelines:\n    logs:\n      receivers: [otlpjsonfile]\n"
                      "      exporters: [debug, debug/2]\n",
                 "cfg.yaml:10:26: service.pipelines.logs.exporters: 'debug/2' is not defined in exporters (did you "
                 "mean 'debug'?)");
    expect_error(BASE "service:\n  pipelines:\n    logs:\n      receivers: [otlpjsonfile]\n"
                      "      processors: [batch]\n      exporters: [debug]\n",
                 "cfg.yaml:10:20: service.pipelines.logs.processors: 'batch' is not defined in processors");
}

static void test_pipeline_shape(void **state)
{
    (void)state;
    expect_error(BASE "service:\n  pipelines:\n    logs:\n      exporters: [debug]\n",
                 "cfg.yaml:8:5: service.pipelines.logs: pipeline must have at least one receiver");
    expect_error(BASE "service:\n  pipelines:\n    logs:\n      receivers: [otlpjsonfile]\n      exporters: []\n",
                 "cfg.yaml:8:5: service.pipelines.logs: pipeline must have at least one exporter");
    expect_error(BASE "service:\n  pipelines:\n    trace:\n      receivers: [otlpjsonfile]\n      exporters: [debug]\n",
                 "cfg.yaml:8:5: service.pipelines.trace: invalid pipeline id 'trace': expected traces, metrics or "
                 "logs[/name] (did you mean 'traces'?)");
    expect_error(BASE "service:\n  pipelines:\n    logs:\n      receivers: [otlpjsonfile]\n      exporter: [debug]\n",
                 "cfg.yaml:10:7: service.pipelines.logs.exporter: unknown option 'exporter' (did you mean "
                 "'exporters'?)");
    expect_error(BASE "service:\n  pipelines:\n", "cfg.yaml:7:3: service.pipelines: no pipelines are defined");
    expect_error(BASE GOOD_TAIL "extra:\n  x: 1\n", "cfg.yaml:11:1: extra: unknown section 'extra'");
    expect_error(BASE GOOD_TAIL "  extensions: [health_check]\n",
                 "service.extensions: extension 'health_check' is not defined in extensions");
}

static void test_unsupported_signal(void **state)
{
    (void)state;
    /* cgroupstats emits metrics only; syslog emits logs only */
    expect_error("receivers:\n  cgroupstats:\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n"
                 "      receivers: [cgroupstats]\n      exporters: [debug]\n",
                 "cfg.yaml:8:19: service.pipelines.logs.receivers: receiver 'cgroupstats' does not support logs");
    expect_error("receivers:\n  syslog:\n    udp: { listen_address: \"127.0.0.1:5514\" }\nexporters:\n  debug:\n"
                 "service:\n  pipelines:\n    traces:\n      receivers: [syslog]\n      exporters: [debug]\n",
                 "cfg.yaml:9:19: service.pipelines.traces.receivers: receiver 'syslog' does not support traces");
}

static void test_connectors(void **state)
{
    (void)state;
    /* used only as an exporter */
    expect_error(BASE "connectors:\n  forward:\n" GOOD_TAIL "    logs/2:\n      receivers: [otlpjsonfile]\n"
                      "      exporters: [forward]\n",
                 "cfg.yaml:7:3: connectors.forward: connector must be used as an exporter in one pipeline and as a "
                 "receiver in another (used only as an exporter)");
    /* exporter side logs, receiver side traces: forward cannot turn logs into traces */
    expect_error(BASE "connectors:\n  forward:\n" GOOD_TAIL "    logs/2:\n      receivers: [otlpjsonfile]\n"
                      "      exporters: [forward]\n    traces:\n      receivers: [forward]\n      exporters: [debug]\n",
                 "cfg.yaml:13:5: connectors.forward: connector takes logs from pipeline 'logs/2' but no pipeline "
                 "receives what it emits from them");
    /* a good one */
    vg_errs_t errs;
    vg_config_t *cfg = expect_ok(BASE "connectors:\n  forward:\n" GOOD_TAIL "    logs/2:\n      receivers: [forward]\n"
                                      "      exporters: [debug]\n    logs/3:\n      receivers: [otlpjsonfile]\n"
                                      "      exporters: [forward]\n", &errs);
    assert_int_equal(cfg->npipes, 3);
    vg_config_free(cfg);
    vg_errs_free(&errs);
}

static void test_unused_warning(void **state)
{
    (void)state;
    vg_errs_t errs;
    vg_config_t *cfg = expect_ok(BASE "  nop:\n" GOOD_TAIL, &errs);
    assert_int_equal(errs.warnings_n, 1);
    assert_string_equal(errs.warnings[0], "cfg.yaml:6:3: exporters.nop: exporter is defined but not used in any "
                                          "pipeline");
    vg_config_free(cfg);
    vg_errs_free(&errs);
}

static void test_env_substitution(void **state)
{
    (void)state;
    setenv("VIGIL_TEST_TIMEOUT", "750ms", 1);
    unsetenv("VIGIL_TEST_UNSET");
    vg_errs_t errs;
    vg_config_t *cfg = expect_ok(BASE "processors:\n  batch:\n    timeout: ${env:VIGIL_TEST_TIMEOUT}\n"
                                      "    send_batch_size: ${env:VIGIL_TEST_UNSET:-77}\n" GOOD_TAIL,
                                 &errs);
    vg_config_free(cfg);
    vg_errs_free(&errs);
    /* $$ escapes: "$${env:NOT}0" is the literal "${env:NOT}0", not an integer */
    expect_error(BASE "processors:\n  batch:\n    send_batch_max_size: $${env:NOT}0\n" GOOD_TAIL,
                 "cfg.yaml:8:26: processors.batch.send_batch_max_size: expected an integer, got '${env:NOT}0'");
    expect_error(BASE "processors:\n  batch:\n    timeout: ${env:VIGIL_TEST_TIMEOUT\n" GOOD_TAIL,
                 "cfg.yaml:8:14: unterminated ${...} reference");
    /* the substituted value is used */
    vg_errs_init(&errs);
    vg_config_t *c2 = NULL;
    assert_int_equal(vg_config_load_string("cfg.yaml", BASE "processors:\n  batch:\n    timeout: "
                                           "${env:VIGIL_TEST_TIMEOUT}\n    send_batch_size: ${env:VIGIL_TEST_UNSET:-77}\n"
                                           GOOD_TAIL, &c2, &errs), 0);
    const vg_comp_conf_t *b = vg_config_find(c2, VG_KIND_PROCESSOR, "batch");
    assert_non_null(b);
    struct { int64_t size, timeout, max; } *bc = b->cfg;
    assert_int_equal(bc->timeout, 750000000LL);
    assert_int_equal(bc->size, 77);
    vg_config_free(c2);
    vg_errs_free(&errs);
}

static void test_merge_files(void **state)
{
    (void)state;
    char d[] = "/tmp/vigil-cfg-XXXXXX";
    assert_non_null(mkdtemp(d));
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/a.yaml", d);
    snprintf(b, sizeof b, "%s/b.yaml", d);
    FILE *f = fopen(a, "w");
    fputs(BASE "    verbosity: basic\n" GOOD_TAIL, f);
    fclose(f);
    f = fopen(b, "w");
    fputs("exporters:\n  debug:\n    verbosity: detailed\n  nop:\nservice:\n  pipelines:\n    logs:\n"
          "      exporters: [debug, nop]\n", f);
    fclose(f);
    const char *files[] = { a, b };
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_config_t *cfg = NULL;
    assert_int_equal(vg_config_load(files, 2, &cfg, &errs), 0);
    assert_int_equal(cfg->pipes[0].nexporters, 2);
    assert_int_equal(cfg->pipes[0].nreceivers, 1); /* kept from a.yaml */
    const vg_comp_conf_t *dbg = vg_config_find(cfg, VG_KIND_EXPORTER, "debug");
    assert_int_equal(*(int *)dbg->cfg, 2); /* detailed, from b.yaml */
    vg_config_free(cfg);
    vg_errs_free(&errs);
    /* an error in the second file names that file */
    f = fopen(b, "w");
    fputs("exporters:\n  debug:\n    verbosity: loud\n", f);
    fclose(f);
    vg_errs_init(&errs);
    assert_int_not_equal(vg_config_load(files, 2, &cfg, &errs), 0);
    char want[512];
    snprintf(want, sizeof want, "%s:3:16: exporters.debug.verbosity: 'loud' is not one of: basic, normal, detailed", b);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], want);
    vg_errs_free(&errs);
    unlink(a);
    unlink(b);
    rmdir(d);
}

static void test_all_errors_listed(void **state)
{
    (void)state;
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_config_t *cfg = NULL;
    int rc = vg_config_load_string("cfg.yaml", "receivers:\n  otlpjsonfile:\n    include: [a]\n    bogus: 1\n"
                                   "exporters:\n  debug:\n    verbosity: x\nservice:\n  pipelines:\n    logs:\n"
                                   "      receivers: [otlpjsonfile]\n      exporters: [nope]\n", &cfg, &errs);
    assert_int_not_equal(rc, 0);
    assert_int_equal(errs.n, 3);
    vg_errs_free(&errs);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    const char *y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_config_t *cfg = NULL;
    assert_int_not_equal(vg_config_load_string("cfg.yaml", y, &cfg, &errs), 0);
    assert_true(errs.n >= 1);
    assert_non_null(strstr(errs.msgs[0], "too deep or too large"));
    vg_errs_free(&errs);
}

static void test_failmalloc(void **state)
{
    (void)state;
    const char *y = BASE "    verbosity: normal\nprocessors:\n  batch:\n    timeout: 1s\nconnectors:\n  forward:\n"
                         "service:\n  telemetry:\n    logs:\n      level: debug\n  pipelines:\n    logs:\n"
                         "      receivers: [otlpjsonfile]\n      processors: [batch]\n      exporters: [forward]\n"
                         "    logs/2:\n      receivers: [forward]\n      exporters: [debug]\n";
    int ok_at = 0;
    for (long n = 1; n < 100000; n++) {
        vg_errs_t errs;
        vg_errs_init(&errs);
        vg_config_t *cfg = NULL;
        vg_mem_fail_after(n);
        int rc = vg_config_load_string("cfg.yaml", y, &cfg, &errs);
        long attempted = vg_mem_alloc_count();
        vg_mem_fail_reset();
        vg_errs_free(&errs);
        if (rc == 0) {
            assert_non_null(cfg);
            vg_config_free(cfg);
            if (attempted < n) { ok_at = (int)n; break; } /* no allocation failed: done */
        } else {
            assert_null(cfg);
        }
    }
    assert_true(ok_at > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_unknown_option),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_duration_and_size),
        cmocka_unit_test(test_bad_enum),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_cross_field),
        cmocka_unit_test(test_undefined_reference),
        cmocka_unit_test(test_pipeline_shape),
        cmocka_unit_test(test_unsupported_signal),
        cmocka_unit_test(test_connectors),
        cmocka_unit_test(test_unused_warning),
        cmocka_unit_test(test_env_substitution),
        cmocka_unit_test(test_merge_files),
        cmocka_unit_test(test_all_errors_listed),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_failmalloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
