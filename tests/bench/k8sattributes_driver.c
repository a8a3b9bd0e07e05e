/* k8sattributes benchmark driver (tests/bench/k8sattributes.sh builds and runs it).
 *
 * Loads N pods (default 10,000) shaped like real ones (owner ReplicaSet, six
 * labels, three annotations, two containers with ids and images) into a real
 * processor instance (factory, option table, create, start with auth_type none),
 * then measures on this thread:
 *   memory   bytes the caches account for, per pod, and the RSS growth per pod
 *   lookups  resource -> pod: read the resource's k8s.pod.ip and find the pod
 *            (the association step alone), per second
 *   tagged   the whole consume(): copy-on-write of the resource, association,
 *            attributes set (10 per resource with the configuration below),
 *            per second; batches are built before the clock starts.
 *   peers    a loopback TCP peer (a child process): the first resolution
 *            (socket table + /proc/<pid>/fd scan + cgroup) and the per-batch
 *            one after it (socket table re-read, cached owner), in microseconds.
 * Usage: bench_k8sattributes [pods] [seconds per measurement] */
#include "component.h"
#include "attrs.h"
#include "error.h"
#include "mem.h"
#include "otlp.h"
#include "otlp_build.h"
#include "processors/k8sattributes/k8s.h"
#include "ydoc.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const vg_factory_t vg_k8sattributes_processor_factory;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void ip_of(int i, char *buf, size_t len) { snprintf(buf, len, "10.%d.%d.%d", 64 + (i >> 16), (i >> 8) & 255, i & 255); }

static json_t *make_pod(int i)
{
    char name[64], uid[40], rs[48], rsuid[40], ip[20], cid1[80], cid2[80], ns[24], hash[12];
    snprintf(hash, sizeof hash, "%08x", (unsigned)(i / 3) * 2654435761u);
    snprintf(ns, sizeof ns, "team-%02d", i % 40);
    snprintf(rs, sizeof rs, "svc-%d-%.8s", i / 3, hash);
    snprintf(name, sizeof name, "%s-%05x", rs, (unsigned)i * 7919u & 0xfffff);
    snprintf(uid, sizeof uid, "%08x-4f5e-4d6c-8b7a-%012d", (unsigned)i * 2246822519u, i);
    snprintf(rsuid, sizeof rsuid, "%08x-43a5-4b2e-a0f2-%012d", (unsigned)(i / 3), i / 3);
    ip_of(i, ip, sizeof ip);
    snprintf(cid1, sizeof cid1, "containerd://%032x%032x", (unsigned)i, (unsigned)i * 3u);
    snprintf(cid2, sizeof cid2, "containerd://%032x%032x", (unsigned)i, (unsigned)i * 5u);
    return json_pack(
        "{s:{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s,s:s,s:s,s:b}]},"
        "s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},"
        "s:{s:s,s:s,s:[{s:s}],s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}}",
        "metadata", "name", name, "namespace", ns, "uid", uid, "resourceVersion", "123456",
        "creationTimestamp", "2024-05-02T08:14:01Z",
        "labels", "app", rs, "pod-template-hash", hash, "team", ns, "app.kubernetes.io/version", "3.1.0",
        "app.kubernetes.io/part-of", "shop", "tier", "backend",
        "annotations", "prometheus.io/scrape", "true", "kubectl.kubernetes.io/default-container", "app",
        "checksum/config", "4f2d8c1e9a7b3d5f6e8a0c2b4d6f8a0c",
        "ownerReferences", "apiVersion", "apps/v1", "kind", "ReplicaSet", "name", rs, "uid", rsuid, "controller", 1,
        "spec", "nodeName", "node-a", "containers", "name", "app", "image", "ghcr.io/example/svc:1.4.2", "name",
        "istio-proxy", "image", "docker.io/istio/proxyv2:1.20.1",
        "status", "phase", "Running", "podIP", ip, "podIPs", "ip", ip, "containerStatuses", "name", "app",
        "containerID", cid1, "image", "ghcr.io/example/svc:1.4.2", "name", "istio-proxy", "containerID", cid2, "image",
        "docker.io/istio/proxyv2:1.20.1");
}

static const char *config =
    "auth_type: none\n"
    "extract:\n"
    "  metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.deployment.name,\n"
    "             k8s.node.name, k8s.replicaset.name, container.id, k8s.container.name, container.image.name,\n"
    "             container.image.tag]\n"
    "  labels: [{ key: team }, { key: app.kubernetes.io/version }]\n"
    "  deployment_name_from_replicaset: true\n"
    "pod_association:\n"
    "  - sources: [{ from: resource_attribute, name: k8s.pod.ip }]\n"
    "node_local: { enabled: false }\n";

/* The next consumer frees each batch at once, as a fast exporter would: memory is
 * reused as in a steady pipeline, and the free is part of the measured cost. */
static size_t consumed, attrs_after;
static int sink(vg_consumer_t *self, vg_batch_t *b)
{
    (void)self;
    if (!consumed++) attrs_after = ((vg_logs_req_t *)vg_batch_req(b))->resource_logs[0]->resource->n_attributes;
    vg_batch_unref(b);
    return 0;
}
#define PER_BATCH 100

static vg_batch_t *make_batch(int npods, unsigned *seed)
{
    vg_batch_t *b = vg_batch_new(VG_SIG_LOGS);
    for (int r = 0; r < PER_BATCH; r++) {
        vg_resource_logs_t *rl = vg_build_resource_logs(b);
        vg_resource_t *res = vg_arena_zalloc(b->arena, sizeof *res);
        opentelemetry__proto__resource__v1__resource__init(res);
        rl->resource = res;
        *seed = *seed * 1103515245u + 12345u;
        char ip[20];
        ip_of((int)((*seed >> 8) % (unsigned)npods), ip, sizeof ip);
        vg_build_attr_str(b->arena, &res->attributes, &res->n_attributes, "service.name", "checkout");
        vg_build_attr_str(b->arena, &res->attributes, &res->n_attributes, "k8s.pod.ip", ip);
        vg_build_attr_str(b->arena, &res->attributes, &res->n_attributes, "k8s.container.name", "app");
        vg_build_attr_str(b->arena, &res->attributes, &res->n_attributes, "telemetry.sdk.language", "go");
        vg_scope_logs_t *sl = vg_build_scope_logs(b, rl, "bench", "1");
        vg_build_log_record(b, sl);
    }
    vg_batch_recount(b);
    return b;
}

int main(int argc, char **argv)
{
    int npods = argc > 1 ? atoi(argv[1]) : 10000;
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    json_set_alloc_funcs(vg_malloc, vg_free);
    const vg_factory_t *f = &vg_k8sattributes_processor_factory;

    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_ydoc_t *doc;
    if (vg_ydoc_load_string("bench", config, strlen(config), &doc, &errs)) { fprintf(stderr, "yaml\n"); return 1; }
    vg_component_t c;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.id = "k8sattributes";
    c.pipeline = "logs";
    c.loop = uv_default_loop();
    c.cfg = vg_calloc(1, f->config_size);
    if (vg_options_parse(f->options, c.cfg, doc->root, "k8sattributes", &errs) || f->validate(c.cfg, "k8sattributes", &errs)) {
        for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s\n", errs.msgs[i]);
        return 1;
    }
    vg_consumer_t next = { .consume = sink };
    c.next[VG_SIG_LOGS] = &next;
    if (f->create(&c) || f->start(&c)) { fprintf(stderr, "create/start failed\n"); return 1; }

    /* ---- load the pods ---- */
    json_t **pods = malloc((size_t)npods * sizeof *pods);
    for (int i = 0; i < npods; i++) pods[i] = make_pod(i);
    long rss0 = rss_kib();
    double t0 = now_s();
    for (int i = 0; i < npods; i++) vg_k8s_processor_feed(&c, K8S_RES_PODS, pods[i]);
    double load = now_s() - t0;
    long rss1 = rss_kib();
    for (int i = 0; i < npods; i++) json_decref(pods[i]);
    free(pods);
    size_t cached;
    uint64_t bytes;
    vg_k8s_processor_cache(&c, &cached, &bytes);
    printf("pods cached: %zu (loaded in %.3f s, %.0f pods/s from parsed JSON)\n", cached, load, (double)npods / load);
    printf("memory per pod: %.0f bytes accounted by the caches (records + indexes); RSS growth %.0f bytes/pod\n",
           (double)bytes / (double)cached, (double)(rss1 - rss0) * 1024.0 / (double)cached);

    /* ---- lookups: the association step alone ---- */
    unsigned seed = 42;
    enum { NPROBE = 200 }; /* 20,000 resources naming random pods: more than the CPU caches hold */
    vg_batch_t *probe[NPROBE];
    for (int i = 0; i < NPROBE; i++) probe[i] = make_batch(npods, &seed);
    k8s_cache_t cache_view; /* the processor's cache is private; time the same index code on a copy */
    vg_k8s_cache_init(&cache_view, (size_t)npods, 0, K8S_IDX_IP);
    k8s_extract_t x = { 0 };
    x.attr[K8S_A_POD_NAME] = true;
    k8s_kvbuf_t tmp = { 0 };
    for (int i = 0; i < npods; i++) {
        json_t *p = make_pod(i);
        k8s_pod_t *rec;
        vg_k8s_pod_from_json(&x, p, &tmp, &rec);
        vg_k8s_cache_put(&cache_view, rec, 0);
        json_decref(p);
    }
    size_t lookups = 0, found = 0;
    double c0 = cpu_s();
    t0 = now_s();
    double el;
    do {
        for (int b = 0; b < NPROBE; b++) {
            vg_logs_req_t *req = (vg_logs_req_t *)vg_batch_req(probe[b]);
            for (size_t r = 0; r < req->n_resource_logs; r++) {
                vg_resource_t *res = req->resource_logs[r]->resource;
                const char *ip = vg_attr_get_str(res->attributes, res->n_attributes, "k8s.pod.ip");
                found += vg_k8s_cache_by_ip(&cache_view, ip, 0) != NULL;
                lookups++;
            }
        }
        el = now_s() - t0;
    } while (el < secs);
    double lcpu = cpu_s() - c0;
    printf("lookups: %.2f M resource lookups/s (%zu in %.2f s, %.2f s CPU, %zu found)\n", (double)lookups / el / 1e6,
           lookups, el, lcpu, found);
    for (int i = 0; i < NPROBE; i++) vg_batch_unref(probe[i]);
    vg_k8s_cache_free(&cache_view);
    vg_k8s_kvbuf_free(&tmp);

    /* ---- tagged: the whole consume() ---- */
    enum { NB = 400 };
    vg_batch_t *batches[NB];
    size_t tagged = 0;
    double busy = 0, busy_cpu = 0;
    int rounds = 0;
    while (busy < secs) {
        for (int i = 0; i < NB; i++) batches[i] = make_batch(npods, &seed);
        c0 = cpu_s();
        t0 = now_s();
        for (int i = 0; i < NB; i++)
            if (f->consume(&c, batches[i])) { fprintf(stderr, "consume failed\n"); return 1; }
        busy += now_s() - t0;
        busy_cpu += cpu_s() - c0;
        tagged += (size_t)NB * PER_BATCH;
        rounds++;
    }
    printf("tagged: %.2f M resources/s through consume() (%zu resources in %d rounds, %.2f s, %.2f s CPU; "
           "%d resources per batch, 4 attributes in, %zu out)\n",
           (double)tagged / busy / 1e6, tagged, rounds, busy, busy_cpu, PER_BATCH, attrs_after);
    printf("peak RSS: %.1f MiB\n", (double)rss_kib() / 1024.0);

    /* ---- local peers: a child connects over loopback and waits ---- */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1) || getsockname(ls, (struct sockaddr *)&sa, &sl)) {
        perror("listen");
        return 1;
    }
    pid_t kid = fork();
    if (kid == 0) {
        int cs = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(cs, (struct sockaddr *)&sa, sizeof sa)) _exit(1);
        pause();
        _exit(0);
    }
    struct sockaddr_in peer;
    sl = sizeof peer;
    int as = accept(ls, (struct sockaddr *)&peer, &sl);
    char paddr[64];
    inet_ntop(AF_INET, &peer.sin_addr, paddr, sizeof paddr);
    k8s_conn_t *kc;
    k8s_conn_opts_t co = { "/proc", 60000, 1024 };
    vg_k8s_conn_new(&co, &kc);
    k8s_peer_ident_t pi;
    t0 = now_s();
    int rc = vg_k8s_conn_resolve(kc, AF_INET, paddr, ntohs(peer.sin_port), -1, 0, &pi);
    double first = now_s() - t0;
    const k8s_conn_stats_t *cst = vg_k8s_conn_stats(kc);
    int nproc = 0;
    FILE *pf = popen("ls -d /proc/[0-9]* | wc -l", "r");
    if (pf) { if (fscanf(pf, "%d", &nproc) != 1) nproc = 0; pclose(pf); }
    int reps = 2000;
    t0 = now_s();
    for (int i = 0; i < reps; i++) rc |= vg_k8s_conn_resolve(kc, AF_INET, paddr, ntohs(peer.sin_port), -1, 0, &pi);
    double again = (now_s() - t0) / reps;
    FILE *tf = fopen("/proc/net/tcp", "r");
    int lines = 0;
    for (int ch; tf && (ch = fgetc(tf)) != EOF;) lines += ch == '\n';
    if (tf) fclose(tf);
    printf("loopback peer: first resolution %.0f us (scanned %llu fds of %d processes; owner pid %s), then %.1f us per "
           "batch after it (owner confirmed by one readlink; the socket table has %d lines)\n",
           first * 1e6, (unsigned long long)cst->fds_scanned, nproc, rc ? "NOT FOUND" : "found", again * 1e6, lines - 1);
    vg_k8s_conn_free(kc);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    close(as);
    close(ls);

    f->shutdown(&c);
    while (f->busy(&c)) uv_run(c.loop, UV_RUN_ONCE);
    f->destroy(&c);
    vg_options_free(f->options, c.cfg);
    vg_free(c.cfg);
    vg_ydoc_free(doc);
    vg_errs_free(&errs);
    return consumed ? 0 : 1;
}
