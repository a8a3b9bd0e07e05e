/* k8sattributes parsers: /proc/net/tcp{,6} (recorded fixtures), the kubelet's
 * log-path names and a fixture log tree, kubeconfig shapes and base64, image
 * names, CronJob names, and Kubernetes pod objects -> records (recorded-format
 * PodList) with label/annotation rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"
#include "processors/k8sattributes/k8s.h"

static char fx[1024];

static const char *fixture(const char *name)
{
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", fx, name);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- /proc/net/tcp ---------------------------------------------------------------- */

static void v4(const char *s, unsigned char *b) { assert_int_equal(inet_pton(AF_INET, s, b), 1); }
static void v6(const char *s, unsigned char *b) { assert_int_equal(inet_pton(AF_INET6, s, b), 1); }

/* The recorded tables come from a little-endian host (the kernel prints each
 * address word in host order); on a big-endian host the test builds its own. */
static void test_tcp_recorded(void **state)
{
    (void)state;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    unsigned char a[16];
    unsigned long ino = 0;
    unsigned uid = 99;
    /* 127.0.0.1:33754 -> 127.0.0.1:24856, ESTABLISHED */
    v4("127.0.0.1", a);
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp"), a, 4, 33754, &ino, &uid), 0);
    assert_int_equal(ino, 245788);
    assert_int_equal(uid, 0);
    /* The server side of the same connection has the other port. */
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp"), a, 4, 24856, &ino, &uid), 0);
    assert_int_equal(ino, 245787); /* the listener comes first in the table */
    /* TIME_WAIT entries (inode 0) belong to nobody. */
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp"), a, 4, 0xCEA0, &ino, &uid), VG_ENOTFOUND);
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp"), a, 4, 1, &ino, &uid), VG_ENOTFOUND);
    /* ::1:34444 */
    v6("::1", a);
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp6"), a, 16, 34444, &ino, &uid), 0);
    assert_int_equal(ino, 245791);
    /* An IPv4 client of a dual-stack listener: ::ffff:127.0.0.1:51726 in tcp6. */
    v6("::ffff:127.0.0.1", a);
    assert_int_equal(vg_k8s_tcp_find_file(fixture("proc_net_tcp6"), a, 16, 51726, &ino, &uid), 0);
    assert_int_equal(ino, 245794);
    /* The same through the in-memory parser. */
    size_t len;
    char *t = slurp(fixture("proc_net_tcp6"), &len);
    assert_int_equal(vg_k8s_tcp_find(t, len, a, 16, 51726, &ino, &uid), 0);
    assert_int_equal(ino, 245794);
    free(t);
#else
    skip(); /* covered by test_tcp_generated */
#endif
}

/* Lines built the way the kernel prints them on this host, whatever its byte order. */
static void test_tcp_generated(void **state)
{
    (void)state;
    unsigned char a[16];
    uint32_t w;
    char text[1024];
    v4("10.1.2.3", a);
    memcpy(&w, a, 4);
    snprintf(text, sizeof text,
             "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: %08X:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n"
             "   1: %08X:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 888 1 0 20 0 0 10 -1",
             (unsigned)w, (unsigned)w);
    unsigned long ino;
    unsigned uid;
    assert_int_equal(vg_k8s_tcp_find(text, strlen(text), a, 4, 50000, &ino, &uid), 0);
    assert_int_equal(ino, 888);
    assert_int_equal(uid, 1001); /* last line without a newline */
    assert_int_equal(vg_k8s_tcp_find(text, strlen(text), a, 4, 8080, &ino, &uid), 0);
    assert_int_equal(ino, 777);
    v4("10.1.2.4", a);
    assert_int_equal(vg_k8s_tcp_find(text, strlen(text), a, 4, 50000, &ino, &uid), VG_ENOTFOUND);
    /* Not the table at all. */
    assert_int_equal(vg_k8s_tcp_find("hello\nworld\n", 12, a, 4, 1, &ino, &uid), VG_EPARSE);
    assert_int_equal(vg_k8s_tcp_find("", 0, a, 4, 1, &ino, &uid), VG_EPARSE);
    /* Malformed lines are skipped, never read past. */
    const char *junk = "  sl local\n   0: XYZ:12\n   1: 0100007F\n   2:\n";
    assert_int_equal(vg_k8s_tcp_find(junk, strlen(junk), a, 4, 1, &ino, &uid), VG_ENOTFOUND);
    assert_int_equal(vg_k8s_tcp_find_file("/nonexistent/tcp", a, 4, 1, &ino, &uid), VG_ENOTFOUND);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(vg_k8s_is_loopback(AF_INET, "127.0.0.1"));
    assert_true(vg_k8s_is_loopback(AF_INET, "127.3.4.5"));
    assert_false(vg_k8s_is_loopback(AF_INET, "10.0.0.1"));
    assert_true(vg_k8s_is_loopback(AF_INET6, "::1"));
    assert_true(vg_k8s_is_loopback(AF_INET6, "::ffff:127.0.0.1"));
    assert_false(vg_k8s_is_loopback(AF_INET6, "fe80::1"));
    assert_false(vg_k8s_is_loopback(AF_INET, "garbage"));
    assert_false(vg_k8s_is_loopback(AF_UNIX, ""));
}

/* ---- kubelet log paths -------------------------------------------------------------- */

static bool str_eq(k8s_str_t s, const char *want) { return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0; }

static void test_log_paths(void **state)
{
    (void)state;
    k8s_str_t ns, pod, uid, cn, id;
    assert_int_equal(vg_k8s_parse_pod_dir("shop_web-7d4b9c6f5d-x2x9k_0d1c2b3a-4f5e-4d6c-8b7a-000000000001", &ns, &pod, &uid), 0);
    assert_true(str_eq(ns, "shop"));
    assert_true(str_eq(pod, "web-7d4b9c6f5d-x2x9k"));
    assert_true(str_eq(uid, "0d1c2b3a-4f5e-4d6c-8b7a-000000000001"));
    /* Static pods use the manifest hash as their uid. */
    assert_int_equal(vg_k8s_parse_pod_dir("kube-system_etcd-node-a_8f0a4c9e2b1d3f5a7c9e0b2d4f6a8c0e", &ns, &pod, &uid), 0);
    assert_true(str_eq(pod, "etcd-node-a"));
    assert_int_equal(vg_k8s_parse_pod_dir("shop_web", &ns, &pod, &uid), VG_EPARSE);
    assert_int_equal(vg_k8s_parse_pod_dir("shop__0d1c2b3a", &ns, &pod, &uid), VG_EPARSE);
    assert_int_equal(vg_k8s_parse_pod_dir("_web_0d1c2b3a-4f5e", &ns, &pod, &uid), VG_EPARSE);
    assert_int_equal(vg_k8s_parse_pod_dir("shop_web_not-a-uid!", &ns, &pod, &uid), VG_EPARSE);
    assert_int_equal(vg_k8s_parse_pod_dir(NULL, &ns, &pod, &uid), VG_EPARSE);

    const char *cid = "3b5d2f1e0a9c8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";
    char name[256];
    snprintf(name, sizeof name, "web-7d4b9c6f5d-x2x9k_shop_istio-proxy-%s.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), 0);
    assert_true(str_eq(pod, "web-7d4b9c6f5d-x2x9k"));
    assert_true(str_eq(ns, "shop"));
    assert_true(str_eq(cn, "istio-proxy"));
    assert_true(str_eq(id, cid));
    snprintf(name, sizeof name, "web_shop_app-%s.txt", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
    snprintf(name, sizeof name, "web_shop_app-%.11s.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
    snprintf(name, sizeof name, "web_shop-%s.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
    snprintf(name, sizeof name, "web_shop_x_y-%s.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
    snprintf(name, sizeof name, "web_shop_-%s.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
    snprintf(name, sizeof name, "web_shop_app-%.63sZ.log", cid);
    assert_int_equal(vg_k8s_parse_container_log(name, &pod, &ns, &cn, &id), VG_EPARSE);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

#define CID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define CID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define CID3 "3333333333333333333333333333333333333333333333333333333333333333"
#define UID1 "aaaaaaaa-1111-4111-8111-111111111111"
#define UID2 "bbbbbbbb-2222-4222-8222-222222222222"

static void test_local_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/vigil-k8s-local.XXXXXX";
    assert_non_null(mkdtemp(root));
    run("mkdir -p %s/pods/shop_web-1_" UID1 "/web %s/pods/shop_web-1_" UID1 "/istio-proxy %s/containers", root, root, root);
    run("touch %s/pods/shop_web-1_" UID1 "/web/0.log %s/pods/shop_web-1_" UID1 "/web/1.log", root, root);
    run("ln -s ../pods/shop_web-1_" UID1 "/web/0.log %s/containers/web-1_shop_web-" CID1 ".log", root);
    run("ln -s ../pods/shop_web-1_" UID1 "/istio-proxy/0.log %s/containers/web-1_shop_istio-proxy-" CID2 ".log", root);
    char pods[600], conts[600];
    snprintf(pods, sizeof pods, "%s/pods", root);
    snprintf(conts, sizeof conts, "%s/containers", root);
    k8s_local_opts_t o = { pods, conts, 1000, 100 };
    k8s_local_t *l;
    assert_int_equal(vg_k8s_local_new(&o, &l), 0);
    size_t ci;
    const k8s_pod_t *p = vg_k8s_local_lookup(l, NULL, CID2, 0, &ci);
    assert_non_null(p);
    assert_string_equal(p->uid, UID1);
    assert_string_equal(p->ns, "shop");
    assert_string_equal(p->name, "web-1");
    assert_string_equal(p->cont[ci].name, "istio-proxy");
    assert_string_equal(p->cont[ci].id, CID2);
    assert_true(p->local);
    p = vg_k8s_local_lookup(l, UID1, NULL, 0, &ci);
    assert_non_null(p);
    assert_int_equal(ci, SIZE_MAX);
    assert_int_equal(vg_k8s_local_scans(l), 1);
    /* Unknown ids: one scan per rescan period, whatever the number of misses. */
    for (int i = 0; i < 50; i++) assert_null(vg_k8s_local_lookup(l, UID2, NULL, 10, &ci));
    assert_int_equal(vg_k8s_local_scans(l), 1);
    /* A new pod appears; a miss after the period finds it. */
    run("mkdir -p %s/pods/ops_job-x_" UID2 "/run", root);
    run("ln -s ../pods/ops_job-x_" UID2 "/run/0.log %s/containers/job-x_ops_run-" CID3 ".log", root);
    assert_null(vg_k8s_local_lookup(l, UID2, NULL, 500, &ci));
    p = vg_k8s_local_lookup(l, NULL, CID3, 1001, &ci);
    assert_non_null(p);
    assert_string_equal(p->name, "job-x");
    assert_string_equal(p->cont[ci].name, "run");
    assert_int_equal(vg_k8s_local_scans(l), 2);
    /* Known pod, container restarted under a new id: scans again. */
    run("ln -s ../pods/shop_web-1_" UID1 "/web/1.log %s/containers/web-1_shop_web-" CID3 "0.log", root);
    run("rm -rf %s/pods/ops_job-x_" UID2 " %s/containers/job-x*", root, root);
    p = vg_k8s_local_lookup(l, UID1, NULL, 3000, &ci);
    assert_non_null(p);
    /* A removed pod is forgotten at the next scan. */
    assert_null(vg_k8s_local_lookup(l, "cccccccc-0000-4000-8000-000000000000", NULL, 3000, &ci));
    assert_null(vg_k8s_local_lookup(l, UID2, NULL, 3001, &ci));
    assert_true(vg_k8s_local_bytes(l) > 0);
    vg_k8s_local_free(l);
    run("rm -rf %s", root);
    /* Missing folders are not an error. */
    k8s_local_opts_t o2 = { "/nonexistent/pods", "/nonexistent/containers", 0, 10 };
    assert_int_equal(vg_k8s_local_new(&o2, &l), 0);
    assert_null(vg_k8s_local_lookup(l, UID1, CID1, 0, &ci));
    vg_k8s_local_free(l);
}

/* ---- kubeconfig ---------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_base64(void **state)
{
    (void)state;
    char *out;
    size_t n;
    assert_int_equal(vg_k8s_base64_decode("aGVsbG8gd29ybGQ=", &out, &n), 0);
    assert_int_equal(n, 11);
    assert_string_equal(out, "hello world");
    vg_free(out);
    assert_int_equal(vg_k8s_base64_decode("aGVs\nbG8=\n", &out, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    vg_free(out);
    assert_int_equal(vg_k8s_base64_decode("", &out, &n), 0);
    assert_int_equal(n, 0);
    vg_free(out);
    assert_int_equal(vg_k8s_base64_decode("abc", &out, &n), VG_EPARSE);
    assert_int_equal(vg_k8s_base64_decode("ab!?", &out, &n), VG_EPARSE);
}

static void test_kubeconfig(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-kubeconfig.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[600], err[512];
    k8s_auth_t a;
    /* 1: token + CA data, current-context, trailing slash on the server. */
    snprintf(p, sizeof p, "%s/token.yaml", dir);
    write_file(p, "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
                  "clusters:\n- name: prod-cluster\n  cluster:\n    server: https://10.0.0.1:6443/\n"
                  "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
                  "contexts:\n- name: dev\n  context: {cluster: none, user: none}\n"
                  "- name: prod\n  context:\n    cluster: prod-cluster\n    user: admin\n    namespace: shop\n"
                  "users:\n- name: admin\n  user:\n    token: eyJhbGciOiJSUzI1NiJ9.e30.sig\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), 0);
    assert_string_equal(a.server, "https://10.0.0.1:6443");
    assert_string_equal(a.token, "eyJhbGciOiJSUzI1NiJ9.e30.sig");
    assert_int_equal(a.ca_len, strlen("-----BEGIN CERTIFICATE-----\n"));
    assert_memory_equal(a.ca_data, "-----BEGIN CERTIFICATE-----\n", a.ca_len);
    assert_null(a.ca_file);
    assert_false(a.insecure);
    vg_k8s_auth_free(&a);
    /* An explicit context that does not resolve. */
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, "dev", err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "cluster \"none\""));
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, "nope", err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "context \"nope\" not found"));
    /* 2: client certificate files relative to the kubeconfig, CA file, tokenFile, insecure. */
    snprintf(p, sizeof p, "%s/certs.yaml", dir);
    write_file(p, "current-context: kind\nclusters:\n- name: kind\n  cluster:\n    server: https://127.0.0.1:40000\n"
                  "    certificate-authority: ca.crt\n    insecure-skip-tls-verify: true\n"
                  "contexts:\n- name: kind\n  context: {cluster: kind, user: kind-admin}\n"
                  "users:\n- name: kind-admin\n  user:\n    client-certificate: pki/admin.crt\n"
                  "    client-key: /etc/abs/admin.key\n    tokenFile: tok\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, "", err, sizeof err), 0);
    char want[700];
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    assert_string_equal(a.ca_file, want);
    snprintf(want, sizeof want, "%s/pki/admin.crt", dir);
    assert_string_equal(a.cert_file, want);
    assert_string_equal(a.key_file, "/etc/abs/admin.key");
    snprintf(want, sizeof want, "%s/tok", dir);
    assert_string_equal(a.token_file, want);
    assert_true(a.insecure);
    vg_k8s_auth_free(&a);
    /* 3: client certificate and key as data. */
    snprintf(p, sizeof p, "%s/data.yaml", dir);
    write_file(p, "current-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://k8s.example:443'}\n"
                  "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                  "users:\n- name: u\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), 0);
    assert_int_equal(a.cert_len, 4);
    assert_memory_equal(a.cert_data, "cert", 4);
    assert_int_equal(a.key_len, 3);
    assert_memory_equal(a.key_data, "key", 3);
    vg_k8s_auth_free(&a);
    /* 4: exec plugins are refused with a reason. */
    snprintf(p, sizeof p, "%s/exec.yaml", dir);
    write_file(p, "current-context: eks\nclusters:\n- name: eks\n  cluster: {server: 'https://x.eks.amazonaws.com'}\n"
                  "contexts:\n- name: eks\n  context: {cluster: eks, user: aws}\n"
                  "users:\n- name: aws\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                  "      command: aws\n      args: [eks, get-token]\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), VG_EUNSUPPORTED);
    assert_non_null(strstr(err, "exec"));
    /* 5: broken ones. */
    snprintf(p, sizeof p, "%s/bad64.yaml", dir);
    write_file(p, "current-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://a:1', certificate-authority-data: '%%%%'}\n"
                  "contexts:\n- name: c\n  context: {cluster: c}\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "base64"));
    snprintf(p, sizeof p, "%s/noserver.yaml", dir);
    write_file(p, "current-context: c\nclusters:\n- name: c\n  cluster: {server: 'ftp://a'}\n"
                  "contexts:\n- name: c\n  context: {cluster: c}\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "server"));
    snprintf(p, sizeof p, "%s/halfcert.yaml", dir);
    write_file(p, "current-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://a:1'}\n"
                  "contexts:\n- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {client-certificate: a.crt}\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), VG_ECONFIG);
    snprintf(p, sizeof p, "%s/nocontext.yaml", dir);
    write_file(p, "clusters: []\n");
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err), VG_ECONFIG);
    assert_int_equal(vg_k8s_auth_kubeconfig(&a, "/nonexistent/kubeconfig", NULL, err, sizeof err), VG_ECONFIG);
    /* Allocation failures never leak or crash. */
    snprintf(p, sizeof p, "%s/token.yaml", dir);
    for (long n = 1; n < 200; n++) {
        vg_mem_fail_after(n);
        int rc = vg_k8s_auth_kubeconfig(&a, p, NULL, err, sizeof err);
        vg_mem_fail_reset();
        if (rc == 0) { vg_k8s_auth_free(&a); break; }
        assert_true(rc == VG_ENOMEM || rc == VG_ECONFIG);
    }
    run("rm -rf %s", dir);
}

static void test_service_account(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-sa.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[600], err[512];
    k8s_auth_t a;
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(vg_k8s_auth_service_account(&a, dir, err, sizeof err), VG_ECONFIG);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(vg_k8s_auth_service_account(&a, dir, err, sizeof err), VG_ECONFIG); /* no token yet */
    snprintf(p, sizeof p, "%s/token", dir);
    write_file(p, "tok\n");
    snprintf(p, sizeof p, "%s/ca.crt", dir);
    write_file(p, "pem\n");
    assert_int_equal(vg_k8s_auth_service_account(&a, dir, err, sizeof err), 0);
    assert_string_equal(a.server, "https://[fd00::1]:443");
    assert_non_null(strstr(a.token_file, "/token"));
    assert_non_null(strstr(a.ca_file, "/ca.crt"));
    vg_k8s_auth_free(&a);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    run("rm -rf %s", dir);
}

/* ---- records -------------------------------------------------------------------------- */

static void test_image_and_cronjob(void **state)
{
    (void)state;
    struct { const char *in, *name, *tag; } cases[] = {
        { "nginx:1.25.3", "nginx", "1.25.3" },
        { "nginx", "nginx", "" },
        { "registry.local:5000/tools/backup:2.4", "registry.local:5000/tools/backup", "2.4" },
        { "registry.local:5000/tools/backup", "registry.local:5000/tools/backup", "" },
        { "postgres:16.1@sha256:abcdef", "postgres", "16.1" },
        { "ghcr.io/x/y@sha256:abcdef", "ghcr.io/x/y", "" },
        { "", "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *n, *t;
        size_t nl, tl;
        vg_k8s_image_split(cases[i].in, &n, &nl, &t, &tl);
        assert_int_equal(nl, strlen(cases[i].name));
        assert_memory_equal(n, cases[i].name, nl);
        assert_int_equal(tl, strlen(cases[i].tag));
        assert_memory_equal(t, cases[i].tag, tl);
    }
    assert_int_equal(vg_k8s_cronjob_from_job("backup-28391520"), 6);
    assert_int_equal(vg_k8s_cronjob_from_job("my-job"), 0);
    assert_int_equal(vg_k8s_cronjob_from_job("job-"), 0);
    assert_int_equal(vg_k8s_cronjob_from_job("-123"), 0);
    assert_int_equal(vg_k8s_cronjob_from_job("123"), 0);
    assert_int_equal(vg_k8s_cronjob_from_job(NULL), 0);
    assert_int_equal(vg_k8s_attr_find("k8s.cronjob.name"), K8S_A_CRONJOB);
    assert_int_equal(vg_k8s_attr_find("k8s.pod.nam"), K8S_A_COUNT);
}

static json_t *pod_named(json_t *list, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it) {
        if (strcmp(json_string_value(json_object_get(json_object_get(it, "metadata"), "name")), name) == 0) return it;
    }
    fail_msg("no pod %s", name);
    return NULL;
}

static const char *kv_get(const k8s_pod_t *p, const char *key)
{
    for (size_t i = 0; i < p->nkv; i++)
        if (strcmp(p->kv[i].key, key) == 0) return p->kv[i].val;
    return NULL;
}

static void test_pod_from_json(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *list = json_load_file(fixture("podlist.json"), 0, &jerr);
    assert_non_null(list);
    k8s_rule_t rules[4];
    memset(rules, 0, sizeof rules);
    rules[0] = (k8s_rule_t){ .key = "team", .from = K8S_FROM_POD };
    rules[1] = (k8s_rule_t){ .tag_name = "app.$1", .from = K8S_FROM_POD, .has_re = true };
    assert_int_equal(regcomp(&rules[1].re, "app\\.kubernetes\\.io/(.*)", REG_EXTENDED), 0);
    rules[2] = (k8s_rule_t){ .tag_name = "scrape", .key = "prometheus.io/scrape", .annotation = true };
    rules[3] = (k8s_rule_t){ .has_re = true, .annotation = true }; /* default tag names */
    assert_int_equal(regcomp(&rules[3].re, "kubectl\\..*", REG_EXTENDED), 0);
    k8s_extract_t x = { .rules = rules, .nrules = 4, .pod_labels = true, .pod_annotations = true, .containers = true,
                        .need_rs = true };
    for (int i = 0; i < K8S_A_COUNT; i++) x.attr[i] = true;
    k8s_kvbuf_t tmp = { 0 };
    k8s_pod_t *p;
    assert_int_equal(vg_k8s_pod_from_json(&x, pod_named(list, "web-7d4b9c6f5d-x2x9k"), &tmp, &p), 0);
    assert_non_null(p);
    assert_string_equal(p->uid, "0d1c2b3a-4f5e-4d6c-8b7a-000000000001");
    assert_string_equal(p->ns, "shop");
    assert_string_equal(p->node, "node-a");
    assert_string_equal(p->ip[0], "10.244.1.17");
    assert_string_equal(p->ip[1], "");
    assert_string_equal(p->start_time, "2024-05-02T08:14:01Z");
    assert_string_equal(p->rs, "web-7d4b9c6f5d");
    assert_string_equal(p->rs_uid, "a3a1d7b2-43a5-4b2e-a0f2-1c6b1ad0c101");
    assert_int_equal(p->ncont, 2);
    const k8s_container_t *c = vg_k8s_pod_container_by_name(p, "istio-proxy");
    assert_non_null(c);
    assert_string_equal(c->image_name, "docker.io/istio/proxyv2");
    assert_string_equal(c->image_tag, "1.20.1");
    assert_string_equal(c->id, "000000000000000000000000000000000000000000000000000000005eed0002");
    assert_string_equal(kv_get(p, "k8s.pod.labels.team"), "payments");
    assert_string_equal(kv_get(p, "app.version"), "3.1.0");
    assert_string_equal(kv_get(p, "app.part-of"), "shop");
    assert_string_equal(kv_get(p, "scrape"), "true");
    assert_string_equal(kv_get(p, "k8s.pod.annotations.kubectl.kubernetes.io/default-container"), "web");
    assert_null(kv_get(p, "k8s.pod.labels.app"));
    /* A private copy is equal and independent. */
    k8s_pod_t *d = vg_k8s_pod_dup(p);
    assert_non_null(d);
    vg_free(p);
    assert_string_equal(d->cont[1].image_tag, "1.20.1");
    assert_string_equal(kv_get(d, "scrape"), "true");
    assert_string_equal(d->uid, "0d1c2b3a-4f5e-4d6c-8b7a-000000000001");
    vg_free(d);
    /* Job + CronJob, hostNetwork, ignore annotation. */
    assert_int_equal(vg_k8s_pod_from_json(&x, pod_named(list, "backup-28391520-vq7xz"), &tmp, &p), 0);
    assert_string_equal(p->job, "backup-28391520");
    assert_string_equal(p->cronjob, "backup");
    vg_free(p);
    assert_int_equal(vg_k8s_pod_from_json(&x, pod_named(list, "node-exporter-5fxkq"), &tmp, &p), 0);
    assert_true(p->host_network);
    assert_string_equal(p->ds, "node-exporter");
    vg_free(p);
    assert_int_equal(vg_k8s_pod_from_json(&x, pod_named(list, "debug-shell"), &tmp, &p), 0);
    assert_null(p);
    /* Only what is extracted is kept: no node, no images, no labels, no owners. */
    k8s_extract_t small = { 0 };
    small.attr[K8S_A_POD_NAME] = true;
    assert_int_equal(vg_k8s_pod_from_json(&small, pod_named(list, "web-7d4b9c6f5d-x2x9k"), &tmp, &p), 0);
    assert_string_equal(p->node, "");
    assert_string_equal(p->rs, "");
    assert_int_equal(p->ncont, 0);
    assert_int_equal(p->nkv, 0);
    assert_true(p->bytes < sizeof(k8s_pod_t) + 120); /* uid, name, namespace, start time, IP */
    vg_free(p);
    /* Not a pod. */
    json_t *junk = json_pack("{s:{s:i}}", "metadata", "uid", 5);
    assert_int_equal(vg_k8s_pod_from_json(&x, junk, &tmp, &p), 0);
    assert_null(p);
    json_decref(junk);
    /* Allocation failures. */
    for (long n = 1; n < 10; n++) {
        vg_k8s_kvbuf_free(&tmp);
        vg_mem_fail_after(n);
        int rc = vg_k8s_pod_from_json(&x, pod_named(list, "web-7d4b9c6f5d-x2x9k"), &tmp, &p);
        vg_mem_fail_reset();
        if (rc == 0) { vg_free(p); continue; }
        assert_int_equal(rc, VG_ENOMEM);
    }
    regfree(&rules[1].re);
    regfree(&rules[3].re);
    vg_k8s_kvbuf_free(&tmp);
    json_decref(list);
}

int main(void)
{
    const char *src = getenv("VIGIL_SRC");
    snprintf(fx, sizeof fx, "%s/tests/fixtures/k8s", src ? src : "../..");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_recorded),
        cmocka_unit_test(test_tcp_generated),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_log_paths),
        cmocka_unit_test(test_local_tree),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_kubeconfig),
        cmocka_unit_test(test_service_account),
        cmocka_unit_test(test_image_and_cronjob),
        cmocka_unit_test(test_pod_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
