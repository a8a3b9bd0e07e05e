/* Every registered component: a description, a non-empty doc for every option,
 * defaults that parse, and the lifecycle contract (shutdown is valid without
 * start and idempotent; destroy after it) on a real loop that then closes
 * cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "component.h"
#include "config.h"
#include "mem.h"

static int walked, undocumented;

static void visit(const char *path, const vg_option_t *o, void *ud)
{
    const char *type = ud;
    walked++;
    if (!o->doc || !*o->doc) {
        fprintf(stderr, "%s option %s has no doc string\n", type, path);
        undocumented++;
    }
    if (o->type == VG_OPT_ENUM && (!o->values || !o->values[0])) {
        fprintf(stderr, "%s option %s: enum without values\n", type, path);
        undocumented++;
    }
}

static void test_every_option_documented(void **state)
{
    (void)state;
    const vg_factory_t *const *fs = vg_factories();
    size_t n = 0;
    for (; fs[n]; n++) {
        assert_non_null(fs[n]->type);
        assert_non_null(fs[n]->description);
        assert_true(strlen(fs[n]->description) > 10);
        assert_ptr_equal(vg_factory_find(fs[n]->kind, fs[n]->type), fs[n]);
        vg_options_walk(fs[n]->options, "", visit, (void *)fs[n]->type);
        if (fs[n]->kind == VG_KIND_CONNECTOR) {
            unsigned any = 0;
            for (int s = 0; s < VG_SIG_COUNT; s++) any |= fs[n]->connects[s];
            assert_true(any != 0);
        } else if (fs[n]->kind != VG_KIND_EXTENSION) {
            assert_true(fs[n]->signals != 0);
        }
        if (fs[n]->kind != VG_KIND_RECEIVER && fs[n]->kind != VG_KIND_EXTENSION) assert_non_null(fs[n]->consume);
    }
    vg_options_walk(vg_service_options(), "service", visit, (void *)"service");
    assert_true(n >= 8);
    assert_true(walked > 20);
    assert_int_equal(undocumented, 0);
}

static void test_defaults_parse(void **state)
{
    (void)state;
    const vg_factory_t *const *fs = vg_factories();
    for (size_t i = 0; fs[i]; i++) {
        void *cfg = vg_calloc(1, fs[i]->config_size ? fs[i]->config_size : 1);
        assert_int_equal(vg_options_defaults(fs[i]->options, cfg), 0);
        vg_options_free(fs[i]->options, cfg);
        vg_free(cfg);
    }
}

static bool has_required(const vg_option_t *t)
{
    for (const vg_option_t *o = t; o && o->name; o++)
        if (o->flags & VG_OPT_REQUIRED) return true;
    return false;
}

static void test_lifecycle_without_start(void **state)
{
    (void)state;
    const vg_factory_t *const *fs = vg_factories();
    int tested = 0;
    for (size_t i = 0; fs[i]; i++) {
        const vg_factory_t *f = fs[i];
        if (has_required(f->options)) continue; /* needs a real config: covered by its own tests */
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        vg_component_t c;
        memset(&c, 0, sizeof c);
        c.f = f;
        c.id = (char *)f->type;
        c.loop = &loop;
        c.cfg = vg_calloc(1, f->config_size ? f->config_size : 1);
        assert_int_equal(vg_options_defaults(f->options, c.cfg), 0);
        if (f->create) assert_int_equal(f->create(&c), 0);
        if (f->shutdown) { f->shutdown(&c); f->shutdown(&c); }
        for (int k = 0; k < 100 && f->busy && f->busy(&c); k++) uv_run(&loop, UV_RUN_NOWAIT);
        if (f->busy) assert_false(f->busy(&c));
        if (f->destroy) f->destroy(&c);
        vg_options_free(f->options, c.cfg);
        vg_free(c.cfg);
        assert_int_equal(uv_loop_close(&loop), 0);
        tested++;
    }
    assert_true(tested >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_option_documented),
        cmocka_unit_test(test_defaults_parse),
        cmocka_unit_test(test_lifecycle_without_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
