/* Endpoint parsing and resolution (collector/net/endpoint.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "net/endpoint.h"

#include <netinet/in.h>
#include <string.h>

static void parses_good(void **state)
{
    (void)state;
    struct { const char *transport, *text, *host; int port, kind, family; const char *canon; } cases[] = {
        { NULL, "localhost:4318", "localhost", 4318, VG_EP_TCP, AF_UNSPEC, "localhost:4318" },
        { "tcp", "127.0.0.1:4317", "127.0.0.1", 4317, VG_EP_TCP, AF_UNSPEC, "127.0.0.1:4317" },
        { NULL, "[::1]:4317", "::1", 4317, VG_EP_TCP, AF_UNSPEC, "[::1]:4317" },
        { NULL, "[::]:0", "::", 0, VG_EP_TCP, AF_UNSPEC, "[::]:0" },
        { NULL, ":4317", "", 4317, VG_EP_TCP, AF_UNSPEC, ":4317" },
        { "tcp4", "0.0.0.0:65535", "0.0.0.0", 65535, VG_EP_TCP, AF_INET, "0.0.0.0:65535" },
        { "tcp6", "[fe80::1%lo]:80", "fe80::1%lo", 80, VG_EP_TCP, AF_INET6, "[fe80::1%lo]:80" },
        { "unix", "/run/vigil/otlp.sock", NULL, 0, VG_EP_UNIX, AF_UNSPEC, "unix:/run/vigil/otlp.sock" },
        { NULL, "unix:/tmp/x.sock", NULL, 0, VG_EP_UNIX, AF_UNSPEC, "unix:/tmp/x.sock" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_endpoint_t ep;
        char err[256] = "";
        int rc = vg_endpoint_parse(&ep, cases[i].transport, cases[i].text, err, sizeof err);
        if (rc != 0) fail_msg("%s: %s", cases[i].text, err);
        assert_int_equal(ep.kind, cases[i].kind);
        assert_int_equal(ep.family, cases[i].family);
        if (cases[i].host) {
            assert_string_equal(ep.host, cases[i].host);
            assert_int_equal(ep.port, cases[i].port);
        }
        char canon[300];
        vg_endpoint_format(&ep, canon, sizeof canon);
        assert_string_equal(canon, cases[i].canon);
    }
}

static void rejects_bad(void **state)
{
    (void)state;
    struct { const char *transport, *text, *needle; } cases[] = {
        { NULL, "localhost", "missing port" },
        { NULL, "localhost:", "missing port" },
        { NULL, "[::1]", "missing port" },
        { NULL, "[::1]:", "missing port" },
        { NULL, "host:70000", "out of range" },
        { NULL, "host:99999999999999999999", "out of range" },
        { NULL, "host:-1", "invalid port" },
        { NULL, "host:43a", "invalid port" },
        { NULL, "[::1:4317", "unbalanced brackets" },
        { NULL, "::1]:4317", "unbalanced brackets" },
        { NULL, "[[::1]]:4317", "unbalanced brackets" },
        { NULL, "[::1]]:4317", "unbalanced brackets" },
        { NULL, "::1:4317", "needs brackets" },
        { NULL, "[]:4317", "empty address" },
        { NULL, "[host]:4317", "only for IPv6" },
        { NULL, "[::1]x4317", "expected ':'" },
        { NULL, "", "empty" },
        { NULL, "http://localhost:4318", "without a scheme" },
        { NULL, "bad host:1", "invalid character" },
        { "udp", "localhost:1", "unsupported transport" },
        { "unix", "", "empty" },
        { "unix", "/very/long/path/0123456789012345678901234567890123456789012345678901234567890123456789"
                  "0123456789012345678901234567890123456789", "too long" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_endpoint_t ep;
        char err[256] = "";
        int rc = vg_endpoint_parse(&ep, cases[i].transport, cases[i].text, err, sizeof err);
        if (rc != VG_EINVAL) fail_msg("\"%s\" accepted", cases[i].text);
        if (!strstr(err, cases[i].needle)) fail_msg("\"%s\": error \"%s\" lacks \"%s\"", cases[i].text, err, cases[i].needle);
    }
    /* NULL err buffer is allowed */
    vg_endpoint_t ep;
    assert_int_equal(vg_endpoint_parse(&ep, NULL, "x", NULL, 0), VG_EINVAL);
}

static void resolves(void **state)
{
    (void)state;
    vg_endpoint_t ep;
    struct sockaddr_storage ss[4];
    int n = 0;
    char err[256];
    assert_int_equal(vg_endpoint_parse(&ep, NULL, "127.0.0.1:4317", err, sizeof err), 0);
    assert_int_equal(vg_endpoint_resolve(&ep, ss, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ss[0].ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss[0])->sin_port), 4317);

    assert_int_equal(vg_endpoint_parse(&ep, NULL, "localhost:1", err, sizeof err), 0);
    assert_int_equal(vg_endpoint_resolve(&ep, ss, 4, &n, err, sizeof err), 0);
    assert_true(n >= 1);
    assert_int_equal(ss[0].ss_family, AF_INET); /* IPv4 preferred for names */

    assert_int_equal(vg_endpoint_parse(&ep, NULL, ":0", err, sizeof err), 0);
    assert_int_equal(vg_endpoint_resolve(&ep, ss, 4, &n, err, sizeof err), 0);
    assert_true(n >= 1);

    assert_int_equal(vg_endpoint_parse(&ep, NULL, "no-such-host.invalid:1", err, sizeof err), 0);
    assert_int_equal(vg_endpoint_resolve(&ep, ss, 4, &n, err, sizeof err), VG_ENOTFOUND);
    assert_non_null(strstr(err, "no-such-host.invalid"));

    assert_int_equal(vg_endpoint_parse(&ep, "unix", "/tmp/x", err, sizeof err), 0);
    assert_int_equal(vg_endpoint_resolve(&ep, ss, 4, &n, err, sizeof err), VG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_good),
        cmocka_unit_test(rejects_bad),
        cmocka_unit_test(resolves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
