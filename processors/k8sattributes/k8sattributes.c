/* k8sattributes processor: tags resources with the pod and container they came
 * from, with the OpenTelemetry Collector's option names, plus attested identity.
 *
 * Where metadata comes from (see docs/processors-k8sattributes.md):
 *   - the Kubernetes API (list + watch, k8s_api.c) into a bounded cache (k8s_cache.c);
 *   - node-local sources with no API: the kubelet's log folders (k8s_local.c);
 *   - the connection: a pod IP, or for local peers the peer process's cgroup
 *     (k8s_conn.c), which the client cannot forge.
 *
 * For each resource the pod_association rules run in order; the first rule
 * whose sources all have a value decides (found or not), as in the Collector.
 * The resource is edited in place (copy-on-write of its attribute array), never
 * duplicated. Client-supplied values of the attributes we set are claims:
 * identity.claims keeps them (the Collector's behaviour), overwrites them, or
 * overwrites and marks the mismatch (vigil.identity.mismatch plus
 * vigil.identity.claimed.<key>). Mismatches are counted in every mode. */
#include "k8s.h"

#include "attrs.h"
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp.h"
#include "otlp_build.h"
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- options --------------------------------------------------------------- */

enum { AUTH_NONE = 0, AUTH_SA, AUTH_KUBECONFIG };
static const char *const auth_types[] = { "none", "serviceAccount", "kubeConfig", NULL };
enum { FROM_POD = 0, FROM_NAMESPACE };
static const char *const froms[] = { "pod", "namespace", NULL };
enum { SRC_RESOURCE_ATTRIBUTE = 0, SRC_CONNECTION, SRC_PROCESS };
static const char *const sources[] = { "resource_attribute", "connection", "process", NULL };
enum { CLAIMS_KEEP = 0, CLAIMS_OVERWRITE, CLAIMS_MARK };
static const char *const claims[] = { "keep", "overwrite", "overwrite_and_mark", NULL };

typedef struct {
    char *tag_name, *key, *key_regex;
    int from;
} field_cfg_t;

typedef struct {
    int from;
    char *name;
} source_cfg_t;

typedef struct {
    vg_tablelist_t sources;
} assoc_cfg_t;

typedef struct {
    char *node, *node_from_env_var, *namespace;
} filter_cfg_t;

typedef struct {
    vg_strlist_t metadata;
    vg_tablelist_t labels, annotations;
    bool deployment_name_from_replicaset;
} extract_cfg_t;

typedef struct {
    int claims;
} identity_cfg_t;

typedef struct {
    bool enabled;
    char *pods_dir, *containers_dir;
    int64_t rescan_interval;
} node_local_cfg_t;

typedef struct {
    char *proc_root;
    int64_t cache_ttl;
    int64_t cache_size;
} connection_cfg_t;

typedef struct {
    int auth_type;
    char *kube_config_path, *context, *service_account_dir;
    bool passthrough;
    filter_cfg_t filter;
    extract_cfg_t extract;
    vg_tablelist_t pod_association;
    bool wait_for_metadata;
    int64_t wait_for_metadata_timeout;
    int64_t pod_delete_grace_period;
    int64_t max_pods;
    int64_t watch_timeout;
    identity_cfg_t identity;
    node_local_cfg_t node_local;
    connection_cfg_t connection;
} k8s_cfg_t;

static const vg_option_t field_opts[] = {
    { .name = "tag_name", .type = VG_OPT_STRING, .offset = offsetof(field_cfg_t, tag_name),
      .doc = "Resource attribute to set. Default k8s.pod.labels.<key> (k8s.pod.annotations.<key>, "
             "k8s.namespace.labels.<key>, ...). With key_regex, $1..$9 are the regex's groups (write $$1 in a "
             "config file, where $$ stands for $)." },
    { .name = "key", .type = VG_OPT_STRING, .offset = offsetof(field_cfg_t, key),
      .doc = "Label or annotation key to extract. Exactly one of key and key_regex." },
    { .name = "key_regex", .type = VG_OPT_STRING, .offset = offsetof(field_cfg_t, key_regex),
      .doc = "POSIX extended regular expression that must match the whole key; every matching key is extracted." },
    { .name = "from", .type = VG_OPT_ENUM, .offset = offsetof(field_cfg_t, from), .def = "pod", .values = froms,
      .doc = "Object the label or annotation is read from." },
    { 0 },
};

static const vg_option_t source_opts[] = {
    { .name = "from", .type = VG_OPT_ENUM, .offset = offsetof(source_cfg_t, from), .values = sources,
      .flags = VG_OPT_REQUIRED,
      .doc = "resource_attribute: a resource attribute's value (client-supplied); connection: the peer's IP, or "
             "for local peers (unix socket, loopback TCP) the peer process's container (Vigil); process: only "
             "the peer process's container (Vigil)." },
    { .name = "name", .type = VG_OPT_STRING, .offset = offsetof(source_cfg_t, name),
      .doc = "resource_attribute only: k8s.pod.ip, host.name (an IP), k8s.pod.uid, container.id, process.pid "
             "(Vigil), or k8s.pod.name together with k8s.namespace.name in one rule." },
    { 0 },
};

static const vg_option_t assoc_opts[] = {
    { .name = "sources", .type = VG_OPT_TABLE_LIST, .offset = offsetof(assoc_cfg_t, sources), .sub = source_opts,
      .elem_size = sizeof(source_cfg_t), .flags = VG_OPT_REQUIRED,
      .doc = "Sources that together identify the pod (at most 4); all must have a value for the rule to apply." },
    { 0 },
};

static const vg_option_t filter_opts[] = {
    { .name = "node", .type = VG_OPT_STRING, .offset = offsetof(filter_cfg_t, node),
      .doc = "Only watch pods on this node (field selector spec.nodeName)." },
    { .name = "node_from_env_var", .type = VG_OPT_STRING, .offset = offsetof(filter_cfg_t, node_from_env_var),
      .doc = "Environment variable holding the node name (set it from spec.nodeName with the downward API). "
             "Starting fails when it is set but the variable is empty." },
    { .name = "namespace", .type = VG_OPT_STRING, .offset = offsetof(filter_cfg_t, namespace),
      .doc = "Only watch pods and ReplicaSets of this namespace." },
    { 0 },
};

static const vg_option_t extract_opts[] = {
    { .name = "metadata", .type = VG_OPT_LIST, .offset = offsetof(extract_cfg_t, metadata),
      .def = "k8s.namespace.name,k8s.pod.name,k8s.pod.uid,k8s.pod.start_time,k8s.deployment.name,k8s.node.name",
      .doc = "Attributes to set: k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.pod.ip, "
             "k8s.node.name, k8s.deployment.name/uid, k8s.replicaset.name/uid, k8s.statefulset.name/uid, "
             "k8s.daemonset.name/uid, k8s.job.name/uid, k8s.cronjob.name, k8s.container.name, container.id, "
             "container.image.name, container.image.tag." },
    { .name = "labels", .type = VG_OPT_TABLE_LIST, .offset = offsetof(extract_cfg_t, labels), .sub = field_opts,
      .elem_size = sizeof(field_cfg_t), .doc = "Pod or namespace labels to set as attributes." },
    { .name = "annotations", .type = VG_OPT_TABLE_LIST, .offset = offsetof(extract_cfg_t, annotations),
      .sub = field_opts, .elem_size = sizeof(field_cfg_t),
      .doc = "Pod or namespace annotations to set as attributes." },
    { .name = "deployment_name_from_replicaset", .type = VG_OPT_BOOL,
      .offset = offsetof(extract_cfg_t, deployment_name_from_replicaset), .def = "false",
      .doc = "Take k8s.deployment.name from the ReplicaSet's name (without its pod-template-hash suffix) "
             "instead of watching ReplicaSets." },
    { 0 },
};

static const vg_option_t identity_opts[] = {
    { .name = "claims", .type = VG_OPT_ENUM, .offset = offsetof(identity_cfg_t, claims), .def = "keep",
      .values = claims,
      .doc = "Client-supplied values of the attributes this processor sets are claims. keep: leave them (the "
             "Collector's behaviour); overwrite: replace them with the found value; overwrite_and_mark: replace "
             "them and add vigil.identity.mismatch=true and vigil.identity.claimed.<key>=<claimed value>. "
             "Mismatches are counted in every mode." },
    { 0 },
};

static const vg_option_t node_local_opts[] = {
    { .name = "enabled", .type = VG_OPT_BOOL, .offset = offsetof(node_local_cfg_t, enabled), .def = "true",
      .doc = "Name pods and containers the API does not know (or with auth_type none) from the kubelet's log "
             "folders." },
    { .name = "pods_log_dir", .type = VG_OPT_STRING, .offset = offsetof(node_local_cfg_t, pods_dir),
      .def = "/var/log/pods", .doc = "The kubelet's <namespace>_<pod>_<uid>/<container>/ folders." },
    { .name = "containers_log_dir", .type = VG_OPT_STRING, .offset = offsetof(node_local_cfg_t, containers_dir),
      .def = "/var/log/containers", .doc = "The kubelet's <pod>_<namespace>_<container>-<id>.log links." },
    { .name = "rescan_interval", .type = VG_OPT_DURATION, .offset = offsetof(node_local_cfg_t, rescan_interval),
      .def = "5s", .min = "0", .doc = "Least time between two scans of the folders caused by unknown ids." },
    { 0 },
};

static const vg_option_t connection_opts[] = {
    { .name = "proc_root", .type = VG_OPT_STRING, .offset = offsetof(connection_cfg_t, proc_root), .def = "/proc",
      .doc = "Where the process table is mounted (the host's /proc for a node agent with hostPID)." },
    { .name = "cache_ttl", .type = VG_OPT_DURATION, .offset = offsetof(connection_cfg_t, cache_ttl), .def = "30s",
      .min = "0", .doc = "How long a peer's process and cgroup are remembered." },
    { .name = "cache_size", .type = VG_OPT_INT, .offset = offsetof(connection_cfg_t, cache_size), .def = "1024",
      .min = "16", .max = "1000000", .doc = "Peers and processes remembered at most." },
    { 0 },
};

static const vg_option_t k8s_opts[] = {
    { .name = "auth_type", .type = VG_OPT_ENUM, .offset = offsetof(k8s_cfg_t, auth_type), .def = "serviceAccount",
      .values = auth_types,
      .doc = "How to reach the API server: serviceAccount (in a pod), kubeConfig (a kubeconfig file), or none "
             "(no API: node-local and connection identity only)." },
    { .name = "kube_config_path", .type = VG_OPT_STRING, .offset = offsetof(k8s_cfg_t, kube_config_path),
      .doc = "kubeConfig: the file. Default $KUBECONFIG (its first entry), else ~/.kube/config." },
    { .name = "context", .type = VG_OPT_STRING, .offset = offsetof(k8s_cfg_t, context),
      .doc = "kubeConfig: the context to use. Default: current-context." },
    { .name = "service_account_dir", .type = VG_OPT_STRING, .offset = offsetof(k8s_cfg_t, service_account_dir),
      .def = "/var/run/secrets/kubernetes.io/serviceaccount",
      .doc = "serviceAccount: folder with token and ca.crt (Vigil)." },
    { .name = "passthrough", .type = VG_OPT_BOOL, .offset = offsetof(k8s_cfg_t, passthrough), .def = "false",
      .doc = "Only add k8s.pod.ip from the connection's peer address; no API, no other metadata." },
    { .name = "filter", .type = VG_OPT_TABLE, .offset = offsetof(k8s_cfg_t, filter), .sub = filter_opts,
      .doc = "Which pods to watch." },
    { .name = "extract", .type = VG_OPT_TABLE, .offset = offsetof(k8s_cfg_t, extract), .sub = extract_opts,
      .doc = "What to set on resources." },
    { .name = "pod_association", .type = VG_OPT_TABLE_LIST, .offset = offsetof(k8s_cfg_t, pod_association),
      .sub = assoc_opts, .elem_size = sizeof(assoc_cfg_t),
      .doc = "Rules tried in order to find a resource's pod; the first whose sources all have a value decides. "
             "Default: one rule, from: connection." },
    { .name = "wait_for_metadata", .type = VG_OPT_BOOL, .offset = offsetof(k8s_cfg_t, wait_for_metadata),
      .def = "false",
      .doc = "Refuse data (retryable, so receivers push back) until the first list of every watched resource "
             "arrived." },
    { .name = "wait_for_metadata_timeout", .type = VG_OPT_DURATION,
      .offset = offsetof(k8s_cfg_t, wait_for_metadata_timeout), .def = "10s", .min = "0",
      .doc = "After this, an error is logged (and again every timeout) while data is still refused." },
    { .name = "pod_delete_grace_period", .type = VG_OPT_DURATION,
      .offset = offsetof(k8s_cfg_t, pod_delete_grace_period), .def = "120s", .min = "0",
      .doc = "How long a deleted pod is still used to tag late data (Vigil option; the Collector's fixed value)." },
    { .name = "max_pods", .type = VG_OPT_INT, .offset = offsetof(k8s_cfg_t, max_pods), .def = "100000", .min = "1",
      .doc = "Pods cached at most (Vigil); beyond it deleted, then least recently updated pods are evicted." },
    { .name = "watch_timeout", .type = VG_OPT_DURATION, .offset = offsetof(k8s_cfg_t, watch_timeout), .def = "5m",
      .min = "1s", .max = "1h", .doc = "timeoutSeconds asked of the API server for each watch (Vigil)." },
    { .name = "identity", .type = VG_OPT_TABLE, .offset = offsetof(k8s_cfg_t, identity), .sub = identity_opts,
      .doc = "Attested identity policy (Vigil)." },
    { .name = "node_local", .type = VG_OPT_TABLE, .offset = offsetof(k8s_cfg_t, node_local),
      .sub = node_local_opts, .doc = "Node-local names from the kubelet's log layout (Vigil)." },
    { .name = "connection", .type = VG_OPT_TABLE, .offset = offsetof(k8s_cfg_t, connection),
      .sub = connection_opts, .doc = "Resolving local peers to their process and cgroup (Vigil)." },
    { 0 },
};

/* ---- association rules ------------------------------------------------------- */

enum { R_IP = 0, R_UID, R_CID, R_PID, R_NAME, R_CONNECTION, R_PROCESS };

typedef struct {
    int kind;
    const char *attr; /* R_IP: the attribute holding the IP */
} rule_t;

/* Compiles one pod_association entry; 0, or VG_ECONFIG with a reason. */
static int compile_assoc(const assoc_cfg_t *a, rule_t *out, const char **why)
{
    const source_cfg_t *s = a->sources.items;
    size_t n = a->sources.n;
    if (n == 0) { *why = "needs at least one source"; return VG_ECONFIG; }
    if (n > 4) { *why = "has more than 4 sources"; return VG_ECONFIG; }
    for (size_t i = 0; i < n; i++)
        if (s[i].from == SRC_RESOURCE_ATTRIBUTE && (!s[i].name || !*s[i].name)) {
            *why = "a resource_attribute source needs a name";
            return VG_ECONFIG;
        }
    if (n == 2 && s[0].from == SRC_RESOURCE_ATTRIBUTE && s[1].from == SRC_RESOURCE_ATTRIBUTE) {
        bool a0 = strcmp(s[0].name, "k8s.pod.name") == 0, b0 = strcmp(s[0].name, "k8s.namespace.name") == 0;
        bool a1 = strcmp(s[1].name, "k8s.pod.name") == 0, b1 = strcmp(s[1].name, "k8s.namespace.name") == 0;
        if ((a0 && b1) || (b0 && a1)) { *out = (rule_t){ R_NAME, NULL }; return 0; }
    }
    if (n != 1) {
        *why = "supports several sources only as k8s.pod.name + k8s.namespace.name";
        return VG_ECONFIG;
    }
    if (s[0].from == SRC_CONNECTION) { *out = (rule_t){ R_CONNECTION, NULL }; return 0; }
    if (s[0].from == SRC_PROCESS) { *out = (rule_t){ R_PROCESS, NULL }; return 0; }
    const char *nm = s[0].name;
    if (strcmp(nm, "k8s.pod.ip") == 0 || strcmp(nm, "host.name") == 0 || strcmp(nm, "ip") == 0)
        *out = (rule_t){ R_IP, nm };
    else if (strcmp(nm, "k8s.pod.uid") == 0) *out = (rule_t){ R_UID, nm };
    else if (strcmp(nm, "container.id") == 0) *out = (rule_t){ R_CID, nm };
    else if (strcmp(nm, "process.pid") == 0) *out = (rule_t){ R_PID, nm };
    else {
        *why = "resource_attribute name must be k8s.pod.ip, host.name, k8s.pod.uid, container.id, process.pid, or "
               "k8s.pod.name with k8s.namespace.name";
        return VG_ECONFIG;
    }
    return 0;
}

static int compile_field(const field_cfg_t *f, bool annotation, k8s_rule_t *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof *r);
    if ((f->key && *f->key) == (f->key_regex && *f->key_regex)) {
        snprintf(why, whylen, "needs exactly one of key and key_regex");
        return VG_ECONFIG;
    }
    r->tag_name = f->tag_name && *f->tag_name ? f->tag_name : NULL;
    r->annotation = annotation;
    r->from = f->from == FROM_NAMESPACE ? K8S_FROM_NAMESPACE : K8S_FROM_POD;
    if (f->key && *f->key) { r->key = f->key; return 0; }
    int e = regcomp(&r->re, f->key_regex, REG_EXTENDED);
    if (e) {
        char msg[200];
        regerror(e, &r->re, msg, sizeof msg);
        snprintf(why, whylen, "key_regex: %s", msg);
        return VG_ECONFIG;
    }
    r->has_re = true;
    return 0;
}

static int k8s_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const k8s_cfg_t *cfg = cfgp;
    int rc = 0;
    char p[640];
    bool attested = cfg->pod_association.n == 0;
    for (size_t i = 0; i < cfg->pod_association.n; i++) {
        rule_t r;
        const char *why = NULL;
        if (compile_assoc((const assoc_cfg_t *)cfg->pod_association.items + i, &r, &why)) {
            snprintf(p, sizeof p, "%s.pod_association[%zu]", path, i);
            vg_errs_add(errs, NULL, p, "%s", why);
            rc = VG_ECONFIG;
        } else if (r.kind == R_CONNECTION || r.kind == R_PROCESS) {
            attested = true;
        }
    }
    for (size_t i = 0; i < cfg->extract.metadata.n; i++) {
        const char *m = cfg->extract.metadata.v[i];
        if (vg_k8s_attr_find(m) == K8S_A_COUNT) {
            snprintf(p, sizeof p, "%s.extract.metadata[%zu]", path, i);
            const char *near = vg_suggest(m, vg_k8s_attr_names);
            vg_errs_add(errs, NULL, p, "unknown attribute '%s'%s%s%s", m, near ? " (did you mean '" : "",
                        near ? near : "", near ? "'?)" : "");
            rc = VG_ECONFIG;
        }
    }
    for (int k = 0; k < 2; k++) {
        const vg_tablelist_t *tl = k ? &cfg->extract.annotations : &cfg->extract.labels;
        for (size_t i = 0; i < tl->n; i++) {
            k8s_rule_t r;
            char why[300];
            if (compile_field((const field_cfg_t *)tl->items + i, k, &r, why, sizeof why)) {
                snprintf(p, sizeof p, "%s.extract.%s[%zu]", path, k ? "annotations" : "labels", i);
                vg_errs_add(errs, NULL, p, "%s", why);
                rc = VG_ECONFIG;
            } else if (r.has_re) {
                regfree(&r.re);
            }
        }
    }
    if (cfg->filter.node && *cfg->filter.node && cfg->filter.node_from_env_var && *cfg->filter.node_from_env_var) {
        snprintf(p, sizeof p, "%s.filter", path);
        vg_errs_add(errs, NULL, p, "set node or node_from_env_var, not both");
        rc = VG_ECONFIG;
    }
    if (cfg->identity.claims != CLAIMS_KEEP && !attested) {
        snprintf(p, sizeof p, "%s.identity.claims", path);
        vg_errs_warn(errs, NULL, p, "no pod_association rule uses connection or process: the identity that "
                                    "overwrites claims comes from client-supplied attributes");
    }
    return rc;
}

/* ---- state ------------------------------------------------------------------- */

typedef struct {
    vg_component_t *c;
    k8s_extract_t x;
    rule_t *rules;
    size_t nrules;
    k8s_cache_t cache;
    k8s_objmap_t ns, rs;
    k8s_api_t *api;
    k8s_local_t *local;
    k8s_conn_t *conn;
    k8s_kvbuf_t tmp;
    uv_timer_t timer;
    bool timer_open, started, shut;
    uint64_t next_wait_log_ms;
    uint64_t hits, misses, mismatches, resources, peers_resolved, peers_unresolved, wait_refused;
    uint32_t attr_hash[K8S_A_COUNT];
} k8s_state_t;

static bool needs_index(const k8s_state_t *st, int kind)
{
    for (size_t i = 0; i < st->nrules; i++)
        if (st->rules[i].kind == kind) return true;
    return false;
}

static void state_free(k8s_state_t *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->x.nrules; i++)
        if (st->x.rules[i].has_re) regfree(&st->x.rules[i].re);
    vg_free(st->x.rules);
    vg_free(st->rules);
    vg_k8s_cache_free(&st->cache);
    vg_k8s_objmap_free(&st->ns);
    vg_k8s_objmap_free(&st->rs);
    vg_k8s_api_free(st->api);
    vg_k8s_local_free(st->local);
    vg_k8s_conn_free(st->conn);
    vg_k8s_kvbuf_free(&st->tmp);
    vg_free(st);
}

static int k8s_create(vg_component_t *c)
{
    const k8s_cfg_t *cfg = c->cfg;
    k8s_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    for (int i = 0; i < K8S_A_COUNT; i++) st->attr_hash[i] = vg_k8s_hash(vg_k8s_attr_names[i], strlen(vg_k8s_attr_names[i]), 0);
    /* Association rules (default: connection). */
    size_t na = cfg->pod_association.n ? cfg->pod_association.n : 1;
    st->rules = vg_calloc(na, sizeof *st->rules);
    if (!st->rules) { state_free(st); return VG_ENOMEM; }
    if (!cfg->pod_association.n) {
        st->rules[0] = (rule_t){ R_CONNECTION, NULL };
    } else {
        for (size_t i = 0; i < na; i++) {
            const char *why;
            if (compile_assoc((const assoc_cfg_t *)cfg->pod_association.items + i, &st->rules[i], &why)) {
                state_free(st);
                return VG_ECONFIG;
            }
        }
    }
    st->nrules = na;
    /* Extraction. */
    for (size_t i = 0; i < cfg->extract.metadata.n; i++) {
        k8s_attr_t a = vg_k8s_attr_find(cfg->extract.metadata.v[i]);
        if (a == K8S_A_COUNT) { state_free(st); return VG_ECONFIG; }
        st->x.attr[a] = true;
    }
    size_t nf = cfg->extract.labels.n + cfg->extract.annotations.n;
    st->x.rules = vg_calloc(nf ? nf : 1, sizeof *st->x.rules);
    if (!st->x.rules) { state_free(st); return VG_ENOMEM; }
    for (int k = 0; k < 2; k++) {
        const vg_tablelist_t *tl = k ? &cfg->extract.annotations : &cfg->extract.labels;
        for (size_t i = 0; i < tl->n; i++) {
            char why[300];
            k8s_rule_t *r = &st->x.rules[st->x.nrules];
            if (compile_field((const field_cfg_t *)tl->items + i, k, r, why, sizeof why)) {
                state_free(st);
                return VG_ECONFIG;
            }
            st->x.nrules++;
            if (r->from == K8S_FROM_NAMESPACE) st->x.ns_meta = true;
            else if (k) st->x.pod_annotations = true;
            else st->x.pod_labels = true;
        }
    }
    const bool *a = st->x.attr;
    unsigned idx = 0;
    if (needs_index(st, R_IP) || needs_index(st, R_CONNECTION)) idx |= K8S_IDX_IP;
    if (needs_index(st, R_CID) || needs_index(st, R_PID) || needs_index(st, R_CONNECTION) ||
        needs_index(st, R_PROCESS))
        idx |= K8S_IDX_CID;
    if (needs_index(st, R_NAME)) idx |= K8S_IDX_NAME;
    st->x.containers = a[K8S_A_CONT_NAME] || a[K8S_A_CONT_ID] || a[K8S_A_IMAGE_NAME] || a[K8S_A_IMAGE_TAG] ||
                       (idx & K8S_IDX_CID);
    st->x.need_rs = (a[K8S_A_DEPLOYMENT] || a[K8S_A_DEPLOYMENT_UID]) && !cfg->extract.deployment_name_from_replicaset;
    vg_k8s_cache_init(&st->cache, (size_t)cfg->max_pods, cfg->pod_delete_grace_period / 1000000, idx);
    vg_k8s_objmap_init(&st->ns, 100000);
    vg_k8s_objmap_init(&st->rs, (size_t)cfg->max_pods * 4);
    c->state = st;
    return 0;
}

/* ---- the sink: API objects into the caches ---------------------------------- */

static int64_t now_ms(const k8s_state_t *st) { return (int64_t)uv_now(st->c->loop); }

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

static void sink_upsert(void *ud, int res, json_t *obj, uint32_t gen)
{
    k8s_state_t *st = ud;
    json_t *md = json_object_get(obj, "metadata");
    if (res == K8S_RES_PODS) {
        k8s_pod_t *p;
        if (vg_k8s_pod_from_json(&st->x, obj, &st->tmp, &p)) { VG_WARN(st->c->id, "out of memory caching a pod"); return; }
        if (!p) {
            /* Ignored (annotation) or unusable: forget an older version of it. */
            const char *uid = jstr(md, "uid");
            if (uid) vg_k8s_cache_delete(&st->cache, uid, now_ms(st));
            return;
        }
        p->gen = gen;
        if (vg_k8s_cache_put(&st->cache, p, now_ms(st))) VG_WARN(st->c->id, "out of memory caching a pod");
    } else if (res == K8S_RES_NAMESPACES) {
        const char *name = jstr(md, "name");
        if (!name) return;
        vg_k8s_kvbuf_reset(&st->tmp);
        if (vg_k8s_rules_apply(&st->x, K8S_FROM_NAMESPACE, false, json_object_get(md, "labels"), &st->tmp) ||
            vg_k8s_rules_apply(&st->x, K8S_FROM_NAMESPACE, true, json_object_get(md, "annotations"), &st->tmp))
            return;
        k8s_obj_t *o = vg_k8s_obj_new(name, NULL, NULL, &st->tmp);
        if (o) o->gen = gen;
        vg_k8s_objmap_put(&st->ns, o);
    } else {
        const char *uid = jstr(md, "uid");
        if (!uid) return;
        json_t *owners = json_object_get(md, "ownerReferences"), *it;
        size_t i;
        const char *dn = NULL, *du = NULL;
        json_array_foreach(owners, i, it) {
            const char *kind = jstr(it, "kind");
            if (kind && strcmp(kind, "Deployment") == 0) { dn = jstr(it, "name"); du = jstr(it, "uid"); break; }
        }
        if (!dn) { vg_k8s_objmap_delete(&st->rs, uid); return; } /* only Deployment-owned ones matter */
        k8s_obj_t *o = vg_k8s_obj_new(uid, dn, du, NULL);
        if (o) o->gen = gen;
        vg_k8s_objmap_put(&st->rs, o);
    }
}

static void sink_remove(void *ud, int res, json_t *obj)
{
    k8s_state_t *st = ud;
    json_t *md = json_object_get(obj, "metadata");
    const char *key = jstr(md, res == K8S_RES_NAMESPACES ? "name" : "uid");
    if (!key) return;
    if (res == K8S_RES_PODS) vg_k8s_cache_delete(&st->cache, key, now_ms(st));
    else vg_k8s_objmap_delete(res == K8S_RES_NAMESPACES ? &st->ns : &st->rs, key);
}

static void sink_synced(void *ud, int res, uint32_t gen)
{
    k8s_state_t *st = ud;
    if (res == K8S_RES_PODS) vg_k8s_cache_sweep_gen(&st->cache, gen, now_ms(st));
    else vg_k8s_objmap_sweep_gen(res == K8S_RES_NAMESPACES ? &st->ns : &st->rs, gen);
}

/* Tests and benchmarks: one API object as a list or watch would deliver it. */
void vg_k8s_processor_feed(vg_component_t *c, int res, json_t *obj) { sink_upsert(c->state, res, obj, 0); }

void vg_k8s_processor_cache(vg_component_t *c, size_t *pods, uint64_t *bytes)
{
    const k8s_state_t *st = c->state;
    *pods = st->cache.npods;
    *bytes = st->cache.bytes + st->ns.bytes + st->rs.bytes;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    k8s_state_t *st = t->data;
    const k8s_cfg_t *cfg = st->c->cfg;
    vg_k8s_cache_expire(&st->cache, now_ms(st));
    if (cfg->wait_for_metadata && st->api && !vg_k8s_api_synced(st->api) && uv_now(st->c->loop) >= st->next_wait_log_ms) {
        VG_ERROR(st->c->id, "metadata not synced after wait_for_metadata_timeout: data is refused until the API "
                            "server answers (see the warnings above)");
        st->next_wait_log_ms = uv_now(st->c->loop) + (uint64_t)(cfg->wait_for_metadata_timeout / 1000000);
    }
}

static void timer_closed(uv_handle_t *h)
{
    k8s_state_t *st = h->data;
    st->timer_open = false;
}

static int kubeconfig_path(const k8s_cfg_t *cfg, char *out, size_t len)
{
    if (cfg->kube_config_path && *cfg->kube_config_path) {
        snprintf(out, len, "%s", cfg->kube_config_path);
        return 0;
    }
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        const char *colon = strchr(env, ':');
        snprintf(out, len, "%.*s", colon ? (int)(colon - env) : (int)strlen(env), env);
        return 0;
    }
    const char *home = getenv("HOME");
    if (!home) return VG_ENOTFOUND;
    snprintf(out, len, "%s/.kube/config", home);
    return 0;
}

static int start_api(vg_component_t *c, k8s_state_t *st)
{
    const k8s_cfg_t *cfg = c->cfg;
    char err[512] = "";
    k8s_auth_t auth;
    int rc;
    if (cfg->auth_type == AUTH_SA) {
        rc = vg_k8s_auth_service_account(&auth, cfg->service_account_dir, err, sizeof err);
    } else {
        char path[4096];
        if (kubeconfig_path(cfg, path, sizeof path)) {
            VG_ERROR(c->id, "auth_type kubeConfig: no kube_config_path, KUBECONFIG or HOME");
            return VG_ECONFIG;
        }
        rc = vg_k8s_auth_kubeconfig(&auth, path, cfg->context, err, sizeof err);
    }
    if (rc) {
        VG_ERROR(c->id, "%s", err);
        return rc == VG_ENOMEM ? rc : VG_ECONFIG;
    }
    if (auth.tls_server_name)
        VG_WARN(c->id, "kubeconfig tls-server-name is not supported and is ignored: the server's certificate must "
                       "name the host of its URL");
    const char *node = cfg->filter.node && *cfg->filter.node ? cfg->filter.node : NULL;
    if (cfg->filter.node_from_env_var && *cfg->filter.node_from_env_var) {
        node = getenv(cfg->filter.node_from_env_var);
        if (!node || !*node) {
            VG_ERROR(c->id, "filter.node_from_env_var: environment variable %s is empty or unset (set it from "
                            "spec.nodeName with the downward API)", cfg->filter.node_from_env_var);
            vg_k8s_auth_free(&auth);
            return VG_ECONFIG;
        }
    }
    k8s_api_opts_t o = {
        .log_id = c->id,
        .node = node,
        .namespace = cfg->filter.namespace && *cfg->filter.namespace ? cfg->filter.namespace : NULL,
        .want = { [K8S_RES_PODS] = true, [K8S_RES_NAMESPACES] = st->x.ns_meta, [K8S_RES_REPLICASETS] = st->x.need_rs },
        .watch_timeout_s = cfg->watch_timeout / 1000000000,
        .backoff_initial_ms = 250,
        .backoff_max_ms = 30000,
        .page_size = 500,
        .max_object_bytes = 64u << 20, /* a 500-pod page is a few MiB */
    };
    k8s_sink_t sink = { sink_upsert, sink_remove, sink_synced, st };
    VG_INFO(c->id, "watching pods%s%s%s%s at %s", node ? " on node " : "", node ? node : "",
            o.namespace ? " in namespace " : "", o.namespace ? o.namespace : "", auth.server);
    rc = vg_k8s_api_start(c->loop, &auth, &o, sink, &st->api);
    vg_k8s_auth_free(&auth);
    if (rc) VG_ERROR(c->id, "cannot start the API client: %s", vg_strerror(rc));
    return rc;
}

static int k8s_start(vg_component_t *c)
{
    k8s_state_t *st = c->state;
    const k8s_cfg_t *cfg = c->cfg;
    k8s_conn_opts_t co = { cfg->connection.proc_root, cfg->connection.cache_ttl / 1000000,
                           (size_t)cfg->connection.cache_size };
    int rc = vg_k8s_conn_new(&co, &st->conn);
    if (rc) return rc;
    if (cfg->node_local.enabled && !cfg->passthrough) {
        k8s_local_opts_t lo = { cfg->node_local.pods_dir, cfg->node_local.containers_dir,
                                cfg->node_local.rescan_interval / 1000000, 4096 };
        if ((rc = vg_k8s_local_new(&lo, &st->local))) return rc;
    }
    if (cfg->auth_type != AUTH_NONE && !cfg->passthrough && (rc = start_api(c, st))) return rc;
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    st->timer_open = true;
    st->next_wait_log_ms = uv_now(c->loop) + (uint64_t)(cfg->wait_for_metadata_timeout / 1000000);
    uv_timer_start(&st->timer, on_timer, 1000, 1000);
    st->started = true;
    return 0;
}

static void k8s_shutdown(vg_component_t *c)
{
    k8s_state_t *st = c->state;
    if (!st || st->shut) return;
    st->shut = true;
    vg_k8s_api_stop(st->api);
    if (st->timer_open) {
        uv_timer_stop(&st->timer);
        uv_close((uv_handle_t *)&st->timer, timer_closed);
    }
}

static bool k8s_busy(vg_component_t *c)
{
    k8s_state_t *st = c->state;
    return st && (st->timer_open || vg_k8s_api_busy(st->api));
}

static void k8s_destroy(vg_component_t *c)
{
    state_free(c->state);
    c->state = NULL;
}

/* ---- association -------------------------------------------------------------- */

typedef struct {
    const k8s_pod_t *pod;            /* NULL: only the hints below are known */
    size_t cidx;                     /* container in pod, or SIZE_MAX */
    char cid[VG_CG_ID_MAX + 1];      /* container id from a cgroup ("" if none) */
    char uid[VG_CG_UID_MAX + 1];     /* pod uid from a cgroup */
} ident_t;

typedef struct {
    const vg_peer_t *peer;
    bool local_done;
    int local_rc;                    /* 0: local ident below is valid */
    ident_t local;
    k8s_pod_t *owned;                /* a private copy the local ident points to */
} bctx_t;

static size_t container_by_id(const k8s_pod_t *p, const char *cid)
{
    for (size_t i = 0; cid && *cid && i < p->ncont; i++)
        if (strcmp(p->cont[i].id, cid) == 0) return i;
    return SIZE_MAX;
}

/* Pod and container for a cgroup identity: the API cache, else the kubelet's
 * folders, else just the ids. Returns 0, or VG_ENOTFOUND without any id. */
static int ident_from_ids(k8s_state_t *st, const char *uid, const char *cid, int64_t now, bool keep_copy, bctx_t *bc,
                          ident_t *out)
{
    memset(out, 0, sizeof *out);
    out->cidx = SIZE_MAX;
    if (cid) snprintf(out->cid, sizeof out->cid, "%s", cid);
    if (uid) snprintf(out->uid, sizeof out->uid, "%s", uid);
    if (!*out->cid && !*out->uid) return VG_ENOTFOUND;
    if (*out->cid && (out->pod = vg_k8s_cache_by_cid(&st->cache, out->cid, now, &out->cidx))) return 0;
    if (*out->uid && (out->pod = vg_k8s_cache_by_uid(&st->cache, out->uid, now))) {
        out->cidx = container_by_id(out->pod, out->cid);
        return 0;
    }
    if (st->local) {
        size_t ci;
        const k8s_pod_t *lp = vg_k8s_local_lookup(st->local, out->uid, out->cid, now, &ci);
        if (lp) {
            if (keep_copy) {
                /* Later lookups in this batch may rescan the folders: keep our own copy. */
                k8s_pod_t *cp = vg_k8s_pod_dup(lp);
                if (!cp) return VG_ENOMEM;
                vg_free(bc->owned);
                bc->owned = cp;
                lp = cp;
            }
            out->pod = lp;
            out->cidx = ci;
            if (!*out->uid) snprintf(out->uid, sizeof out->uid, "%s", lp->uid);
        }
    }
    return 0;
}

static int ident_from_peer(k8s_state_t *st, const k8s_peer_ident_t *pi, int64_t now, bool keep_copy, bctx_t *bc,
                           ident_t *out)
{
    if (pi->cg.kind != VG_CG_KIND_CONTAINER && pi->cg.kind != VG_CG_KIND_POD) return VG_ENOTFOUND;
    return ident_from_ids(st, pi->cg.pod_uid, pi->cg.id, now, keep_copy, bc, out);
}

/* The local peer's identity, once per batch. */
static int local_peer(k8s_state_t *st, bctx_t *bc, int64_t now, const ident_t **out)
{
    if (!bc->local_done) {
        bc->local_done = true;
        const vg_peer_t *p = bc->peer;
        k8s_peer_ident_t pi;
        bc->local_rc = vg_k8s_conn_resolve(st->conn, p->family, p->addr, p->port, p->pid, now, &pi);
        if (!bc->local_rc) bc->local_rc = ident_from_peer(st, &pi, now, true, bc, &bc->local);
        if (bc->local_rc == 0) st->peers_resolved++;
        else st->peers_unresolved++;
    }
    *out = &bc->local;
    return bc->local_rc;
}

static bool peer_is_remote_tcp(const vg_peer_t *p)
{
    return (p->family == AF_INET || p->family == AF_INET6) && !vg_k8s_is_loopback(p->family, p->addr);
}

/* Runs the rules. Returns 1 with *out when a pod (or container id) was found,
 * 0 when not, VG_ENOMEM. */
static int associate(k8s_state_t *st, vg_resource_t *r, bctx_t *bc, int64_t now, ident_t *out)
{
    vg_kv_t **kv = r ? r->attributes : NULL;
    size_t n = r ? r->n_attributes : 0;
    memset(out, 0, sizeof *out);
    out->cidx = SIZE_MAX;
    for (size_t i = 0; i < st->nrules; i++) {
        const rule_t *ru = &st->rules[i];
        const char *v;
        switch (ru->kind) {
        case R_IP:
            if (!(v = vg_attr_get_str(kv, n, ru->attr)) || !*v) continue;
            out->pod = vg_k8s_cache_by_ip(&st->cache, v, now);
            break;
        case R_UID:
        case R_CID: {
            if (!(v = vg_attr_get_str(kv, n, ru->attr)) || !*v) continue;
            int rc = ident_from_ids(st, ru->kind == R_UID ? v : NULL, ru->kind == R_CID ? v : NULL, now, false, bc, out);
            if (rc == VG_ENOMEM) return rc;
            if (!out->pod) return 0; /* a bare id the client sent is not something we found */
            break;
        }
        case R_NAME: {
            const char *pn = vg_attr_get_str(kv, n, "k8s.pod.name"), *ns = vg_attr_get_str(kv, n, "k8s.namespace.name");
            if (!pn || !ns || !*pn || !*ns) continue;
            out->pod = vg_k8s_cache_by_name(&st->cache, ns, pn, now);
            break;
        }
        case R_PID: {
            vg_anyvalue_t *pv = vg_attr_get(kv, n, "process.pid");
            long long pid = 0;
            if (pv && pv->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE) pid = pv->int_value;
            else if (pv && pv->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
                pid = strtoll(pv->string_value, NULL, 10);
            if (pid <= 0 || pid > 0x7fffffff) continue;
            k8s_peer_ident_t pi;
            if (vg_k8s_conn_pid(st->conn, (int)pid, now, &pi)) continue;
            int rc = ident_from_peer(st, &pi, now, false, bc, out);
            if (rc == VG_ENOMEM) return rc;
            if (rc) continue; /* a host process: no value */
            return 1;
        }
        case R_CONNECTION:
        case R_PROCESS: {
            const vg_peer_t *p = bc->peer;
            if (!p || p->family == 0) continue;
            if (peer_is_remote_tcp(p)) {
                if (ru->kind == R_PROCESS || !*p->addr) continue;
                out->pod = vg_k8s_cache_by_ip(&st->cache, p->addr, now);
                break;
            }
            const ident_t *li;
            int rc = local_peer(st, bc, now, &li);
            if (rc == VG_ENOMEM) return rc;
            if (rc) continue;
            *out = *li;
            return 1;
        }
        }
        return out->pod ? 1 : 0;
    }
    return 0;
}

/* ---- tagging ----------------------------------------------------------------------- */

typedef struct { const char *key, *val; uint32_t h; } pair_t;

#define MAX_PAIRS 256

static uint32_t key_hash(const char *k) { return vg_k8s_hash(k, strlen(k), 0); }

/* dep: room for a derived deployment name (deployment_name_from_replicaset). */
static size_t collect(const k8s_state_t *st, const ident_t *id, pair_t *o, char *dep, size_t deplen)
{
    const k8s_cfg_t *cfg = st->c->cfg;
    const bool *a = st->x.attr;
    size_t n = 0;
#define ADD(attr, v) do { const char *v_ = (v); if (a[attr] && v_ && *v_ && n < MAX_PAIRS) \
        o[n++] = (pair_t){ vg_k8s_attr_names[attr], v_, st->attr_hash[attr] }; } while (0)
    const k8s_pod_t *p = id->pod;
    if (!p) {
        ADD(K8S_A_POD_UID, id->uid);
        ADD(K8S_A_CONT_ID, id->cid);
        return n;
    }
    ADD(K8S_A_NAMESPACE, p->ns);
    ADD(K8S_A_POD_NAME, p->name);
    ADD(K8S_A_POD_UID, p->uid);
    ADD(K8S_A_POD_START, p->start_time);
    ADD(K8S_A_POD_IP, p->ip[0]);
    ADD(K8S_A_NODE, p->node);
    if ((a[K8S_A_DEPLOYMENT] || a[K8S_A_DEPLOYMENT_UID]) && *p->rs) {
        if (cfg->extract.deployment_name_from_replicaset) {
            const char *dash = strrchr(p->rs, '-');
            if (dash && dash > p->rs) {
                snprintf(dep, deplen, "%.*s", (int)(dash - p->rs), p->rs);
                ADD(K8S_A_DEPLOYMENT, dep);
            }
        } else if (*p->rs_uid) {
            const k8s_obj_t *rs = vg_k8s_objmap_get(&st->rs, p->rs_uid);
            if (rs) {
                ADD(K8S_A_DEPLOYMENT, rs->dep_name);
                ADD(K8S_A_DEPLOYMENT_UID, rs->dep_uid);
            }
        }
    }
    ADD(K8S_A_RS, p->rs);
    ADD(K8S_A_RS_UID, p->rs_uid);
    ADD(K8S_A_STS, p->sts);
    ADD(K8S_A_STS_UID, p->sts_uid);
    ADD(K8S_A_DS, p->ds);
    ADD(K8S_A_DS_UID, p->ds_uid);
    ADD(K8S_A_JOB, p->job);
    ADD(K8S_A_JOB_UID, p->job_uid);
    ADD(K8S_A_CRONJOB, p->cronjob);
    if (id->cidx < p->ncont) {
        const k8s_container_t *ct = &p->cont[id->cidx];
        ADD(K8S_A_CONT_NAME, ct->name);
        ADD(K8S_A_CONT_ID, *ct->id ? ct->id : id->cid);
        ADD(K8S_A_IMAGE_NAME, ct->image_name);
        ADD(K8S_A_IMAGE_TAG, ct->image_tag);
    } else {
        ADD(K8S_A_CONT_ID, id->cid);
    }
#undef ADD
    for (size_t i = 0; i < p->nkv && n < MAX_PAIRS; i++)
        o[n++] = (pair_t){ p->kv[i].key, p->kv[i].val, key_hash(p->kv[i].key) };
    if (st->x.ns_meta && *p->ns) {
        const k8s_obj_t *ns = vg_k8s_objmap_get(&st->ns, p->ns);
        for (size_t i = 0; ns && i < ns->nkv && n < MAX_PAIRS; i++)
            o[n++] = (pair_t){ ns->kv[i].key, ns->kv[i].val, key_hash(ns->kv[i].key) };
    }
    return n;
}

static bool same_str(const vg_anyvalue_t *v, const char *s)
{
    return v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
           strcmp(v->string_value, s) == 0;
}

/* Sets the pairs on the resource under the claims policy. One pass finds the
 * pairs the resource already has (hashes first, so the usual case costs no
 * strcmp); the rare overwrites go through vg_attr_set_*; the new attributes
 * are appended to a copy of the array built with the OTLP builder (one
 * allocation per doubling instead of one per attribute). */
static int apply(k8s_state_t *st, vg_arena_t *ar, vg_resource_t **rp, const pair_t *pr, size_t n)
{
    const k8s_cfg_t *cfg = st->c->cfg;
    int rc = vg_resource_writable(ar, rp);
    if (rc) return rc;
    vg_resource_t *r = *rp;
    enum { MAXH = 64 };
    uint32_t hk[MAXH];
    size_t na = r->n_attributes;
    for (size_t i = 0; i < na && i < MAXH; i++)
        hk[i] = r->attributes[i] && r->attributes[i]->key ? key_hash(r->attributes[i]->key) : 0;
    bool absent[MAX_PAIRS];
    size_t nabsent = 0;
    bool mismatch = false;
    for (size_t p = 0; p < n; p++) {
        uint32_t h = pr[p].h;
        vg_anyvalue_t *have = NULL;
        for (size_t i = 0; i < na && !have; i++) {
            if (i < MAXH && hk[i] != h) continue;
            const vg_kv_t *kv = r->attributes[i];
            if (kv && kv->key && strcmp(kv->key, pr[p].key) == 0) have = kv->value;
        }
        absent[p] = !have;
        if (!have) { nabsent++; continue; }
        if (same_str(have, pr[p].val)) continue;
        mismatch = true;
        st->mismatches++;
        if (cfg->identity.claims == CLAIMS_KEEP) continue;
        if (cfg->identity.claims == CLAIMS_MARK) {
            char ck[600];
            snprintf(ck, sizeof ck, "vigil.identity.claimed.%s", pr[p].key);
            if ((rc = vg_attr_set_value(ar, &r->attributes, &r->n_attributes, ck, have))) return rc;
        }
        if ((rc = vg_attr_set_str(ar, &r->attributes, &r->n_attributes, pr[p].key, pr[p].val))) return rc;
    }
    if (mismatch && cfg->identity.claims == CLAIMS_MARK &&
        (rc = vg_attr_set_bool(ar, &r->attributes, &r->n_attributes, "vigil.identity.mismatch", true)))
        return rc;
    if (!nabsent) return 0;
    vg_kv_t **arr = NULL;
    size_t cnt = 0;
    for (size_t i = 0; i < r->n_attributes; i++)
        if ((rc = vg_build_append(ar, (void ***)&arr, &cnt, r->attributes[i]))) return rc;
    for (size_t p = 0; p < n; p++)
        if (absent[p] && (rc = vg_build_attr_str(ar, &arr, &cnt, pr[p].key, pr[p].val))) return rc;
    r->attributes = arr;
    r->n_attributes = cnt;
    return 0;
}

static int tag_resource(k8s_state_t *st, vg_arena_t *ar, vg_resource_t **rp, bctx_t *bc, int64_t now)
{
    const k8s_cfg_t *cfg = st->c->cfg;
    st->resources++;
    if (cfg->passthrough) {
        const vg_peer_t *p = bc->peer;
        if (!p || (p->family != AF_INET && p->family != AF_INET6) || !*p->addr) return 0;
        pair_t pr = { "k8s.pod.ip", p->addr, st->attr_hash[K8S_A_POD_IP] };
        return apply(st, ar, rp, &pr, 1);
    }
    ident_t id;
    int rc = associate(st, *rp, bc, now, &id);
    if (rc < 0) return rc;
    if (rc == 0) { st->misses++; return 0; }
    st->hits++;
    /* Which container, when the identity did not say: the resource's container.id or k8s.container.name. */
    if (id.pod && id.cidx == SIZE_MAX && *rp) {
        const char *cid = vg_attr_get_str((*rp)->attributes, (*rp)->n_attributes, "container.id");
        id.cidx = container_by_id(id.pod, cid);
        const char *cn = id.cidx == SIZE_MAX ? vg_attr_get_str((*rp)->attributes, (*rp)->n_attributes,
                                                               "k8s.container.name") : NULL;
        const k8s_container_t *ct = cn ? vg_k8s_pod_container_by_name(id.pod, cn) : NULL;
        if (ct) id.cidx = (size_t)(ct - id.pod->cont);
    }
    pair_t pr[MAX_PAIRS];
    char dep[254];
    size_t n = collect(st, &id, pr, dep, sizeof dep);
    return n ? apply(st, ar, rp, pr, n) : 0;
}

static int k8s_consume(vg_component_t *c, vg_batch_t *b)
{
    k8s_state_t *st = c->state;
    const k8s_cfg_t *cfg = c->cfg;
    vg_signal_t s = b->signal;
    size_t items = b->items;
    if (cfg->wait_for_metadata && st->api && !vg_k8s_api_synced(st->api)) {
        st->wait_refused += items;
        c->stats.refused[s] += items;
        vg_batch_unref(b);
        return VG_EUNAVAILABLE;
    }
    ProtobufCMessage *m = vg_batch_writable(b);
    if (!m) return vg_component_refuse(c, b, vg_batch_err(b));
    c->stats.accepted[s] += items;
    bctx_t bc = { .peer = &b->peer };
    int64_t now = now_ms(st);
    int rc = 0;
    if (s == VG_SIG_TRACES) {
        vg_traces_req_t *r = (vg_traces_req_t *)m;
        for (size_t i = 0; i < r->n_resource_spans && !rc; i++)
            rc = tag_resource(st, b->arena, &r->resource_spans[i]->resource, &bc, now);
    } else if (s == VG_SIG_METRICS) {
        vg_metrics_req_t *r = (vg_metrics_req_t *)m;
        for (size_t i = 0; i < r->n_resource_metrics && !rc; i++)
            rc = tag_resource(st, b->arena, &r->resource_metrics[i]->resource, &bc, now);
    } else {
        vg_logs_req_t *r = (vg_logs_req_t *)m;
        for (size_t i = 0; i < r->n_resource_logs && !rc; i++)
            rc = tag_resource(st, b->arena, &r->resource_logs[i]->resource, &bc, now);
    }
    vg_free(bc.owned);
    if (rc) {
        c->stats.refused[s] += items;
        vg_batch_unref(b);
        return rc;
    }
    rc = vg_component_emit(c, b);
    if (rc) c->stats.refused[s] += items;
    return rc;
}

/* ---- self-telemetry ------------------------------------------------------------------ */

static void k8s_telemetry(vg_component_t *c, vg_telemetry_t *t)
{
    k8s_state_t *st = c->state;
    if (!st) return;
    char base[400], l[600];
    snprintf(base, sizeof base, "processor=\"%s\",pipeline=\"%s\"", c->id, c->pipeline ? c->pipeline : "");
#define CTR(name, help, v) vg_tm_add(t, "vigil_k8sattributes_" name, "counter", help, base, (double)(v))
#define GAU(name, help, v) vg_tm_add(t, "vigil_k8sattributes_" name, "gauge", help, base, (double)(v))
    CTR("resources", "Resources seen.", st->resources);
    CTR("cache_hits", "Resources whose pod (or container) was found.", st->hits);
    CTR("cache_misses", "Resources no association rule found a pod for.", st->misses);
    CTR("cache_evictions", "Pods dropped because the cache was full (max_pods).", st->cache.st.evictions);
    CTR("cache_expired", "Deleted pods forgotten after the grace period.", st->cache.st.expired);
    CTR("identity_mismatches", "Client-supplied attributes that differed from the found identity.", st->mismatches);
    CTR("peers_resolved", "Local peers (unix socket, loopback TCP) resolved to a container or pod.", st->peers_resolved);
    CTR("peers_unresolved", "Local peers that could not be resolved (no process, or not in a container).",
        st->peers_unresolved);
    CTR("wait_refused", "Items refused while waiting for metadata (wait_for_metadata).", st->wait_refused);
    GAU("cache_pods", "Pods cached (deleted ones in their grace period included).", st->cache.npods);
    GAU("cache_deleted_pods", "Deleted pods still cached for their grace period.", st->cache.ndead);
    uint64_t bytes = st->cache.bytes + st->ns.bytes + st->rs.bytes;
    GAU("cache_bytes", "Memory held by the pod cache, namespaces and ReplicaSets (records and indexes).", bytes);
    GAU("cache_bytes_per_pod", "cache_bytes divided by cached pods.",
        st->cache.npods ? (double)bytes / (double)st->cache.npods : 0.0);
    if (st->local) {
        CTR("local_scans", "Scans of the kubelet's log folders.", vg_k8s_local_scans(st->local));
        GAU("local_bytes", "Memory held by node-local records.", vg_k8s_local_bytes(st->local));
    }
    if (st->conn) {
        const k8s_conn_stats_t *cs = vg_k8s_conn_stats(st->conn);
        CTR("proc_lookups", "Process and cgroup lookups for peers.", cs->lookups);
        CTR("proc_cache_hits", "Of those, answered from the cache.", cs->cache_hits);
        CTR("proc_peer_hits", "Loopback peers seen before, confirmed by one readlink of the owner's descriptor.",
            cs->peer_hits);
        CTR("proc_tcp_table_reads", "Reads of /proc/net/tcp{,6} for new loopback peers.", cs->tcp_reads);
        CTR("proc_fd_scans", "Scans of /proc/*/fd for a socket's owner.", cs->scans);
        CTR("proc_fds_scanned", "File descriptors looked at by those scans.", cs->fds_scanned);
    }
#undef CTR
#undef GAU
    if (!st->api) return;
    static const char *const ev[K8S_EV_COUNT] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
    static const char *const rn[K8S_RES_COUNT] = { "pods", "namespaces", "replicasets" };
    for (int r = 0; r < K8S_RES_COUNT; r++) {
        const k8s_inf_stats_t *is = vg_k8s_api_stats(st->api, r);
        if (!is->lists) continue;
        for (int e = 0; e < K8S_EV_COUNT; e++) {
            snprintf(l, sizeof l, "%s,resource=\"%s\",type=\"%s\"", base, rn[r], ev[e]);
            vg_tm_add(t, "vigil_k8sattributes_api_events", "counter", "Watch events received.", l, (double)is->events[e]);
        }
        snprintf(l, sizeof l, "%s,resource=\"%s\"", base, rn[r]);
        vg_tm_add(t, "vigil_k8sattributes_api_lists", "counter", "Full lists (initial and relists).", l, (double)is->lists);
        vg_tm_add(t, "vigil_k8sattributes_api_list_pages", "counter", "List pages requested.", l, (double)is->list_pages);
        vg_tm_add(t, "vigil_k8sattributes_api_watches", "counter", "Watch requests opened.", l, (double)is->watches);
        vg_tm_add(t, "vigil_k8sattributes_api_relists", "counter", "Relists after 410 Gone.", l, (double)is->relists);
        vg_tm_add(t, "vigil_k8sattributes_api_reconnects", "counter", "Watches reopened after a dropped connection.", l,
                  (double)is->reconnects);
        vg_tm_add(t, "vigil_k8sattributes_api_errors", "counter", "Failed requests (HTTP errors, bad responses).", l,
                  (double)is->errors);
        vg_tm_add(t, "vigil_k8sattributes_api_synced", "gauge", "1 once the first list completed.", l,
                  is->synced ? 1.0 : 0.0);
    }
}

const vg_factory_t vg_k8sattributes_processor_factory = {
    .type = "k8sattributes",
    .kind = VG_KIND_PROCESSOR,
    .description =
        "Tags resources with their pod and container: Kubernetes API (list+watch), node-local kubelet folders, and "
        "the connection itself (pod IP; for unix-socket and loopback peers, the peer process's cgroup). "
        "Differences from the Collector's processor: pod_association adds from: process and resource_attribute "
        "process.pid, and supports k8s.pod.ip/host.name, k8s.pod.uid, container.id and name+namespace only; "
        "identity.claims can overwrite and mark client-supplied values; extract.labels/annotations take pod and "
        "namespace only, key_regex is POSIX ERE; no exclude, filter.fields/labels or otel_annotations; "
        "wait_for_metadata refuses data instead of blocking start; kubeconfig exec plugins are not run. See "
        "docs/processors-k8sattributes.md.",
    .signals = VG_SIGBITS_ALL,
    .mutates = true,
    .options = k8s_opts,
    .config_size = sizeof(k8s_cfg_t),
    .validate = k8s_validate,
    .create = k8s_create,
    .start = k8s_start,
    .consume = k8s_consume,
    .shutdown = k8s_shutdown,
    .busy = k8s_busy,
    .destroy = k8s_destroy,
    .telemetry = k8s_telemetry,
};
