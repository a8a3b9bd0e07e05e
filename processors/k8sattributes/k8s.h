/* Internals of the k8sattributes processor, shared by its files:
 *
 *   k8sattributes.c  factory, options, association and tagging (consume)
 *   k8s_pod.c        Kubernetes objects (jansson) -> compact records, keeping
 *                    only what the configuration extracts
 *   k8s_cache.c      the bounded pod cache: indexes by uid, IP, container id,
 *                    namespace/name; grace period after deletion; eviction;
 *                    plus the small namespace and ReplicaSet maps
 *   k8s_api.c        list + watch against the API server (libcurl multi on libuv)
 *   k8s_auth.c       in-cluster service account and kubeconfig files
 *   k8s_local.c      node-local names: the kubelet's log layout
 *   k8s_conn.c       local peers: /proc/net/tcp{,6}, socket owner, /proc/<pid>/cgroup
 *
 * Everything here runs on the instance's loop; nothing is shared between
 * instances. Functions return 0 or a negative vg_errno_t unless said otherwise. */
#ifndef VIGIL_K8S_H
#define VIGIL_K8S_H

#include "cgroup/cgpath.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- attributes the processor can set (semantic conventions) ------------- */
typedef enum {
    K8S_A_NAMESPACE = 0,  /* k8s.namespace.name */
    K8S_A_POD_NAME,       /* k8s.pod.name */
    K8S_A_POD_UID,        /* k8s.pod.uid */
    K8S_A_POD_START,      /* k8s.pod.start_time (metadata.creationTimestamp, RFC 3339) */
    K8S_A_POD_IP,         /* k8s.pod.ip */
    K8S_A_NODE,           /* k8s.node.name */
    K8S_A_DEPLOYMENT,     /* k8s.deployment.name (from the ReplicaSet's owner) */
    K8S_A_DEPLOYMENT_UID, /* k8s.deployment.uid */
    K8S_A_RS,             /* k8s.replicaset.name */
    K8S_A_RS_UID,         /* k8s.replicaset.uid */
    K8S_A_STS,            /* k8s.statefulset.name */
    K8S_A_STS_UID,        /* k8s.statefulset.uid */
    K8S_A_DS,             /* k8s.daemonset.name */
    K8S_A_DS_UID,         /* k8s.daemonset.uid */
    K8S_A_JOB,            /* k8s.job.name */
    K8S_A_JOB_UID,        /* k8s.job.uid */
    K8S_A_CRONJOB,        /* k8s.cronjob.name (job name without its -<digits> suffix) */
    K8S_A_CONT_NAME,      /* k8s.container.name */
    K8S_A_CONT_ID,        /* container.id */
    K8S_A_IMAGE_NAME,     /* container.image.name */
    K8S_A_IMAGE_TAG,      /* container.image.tag */
    K8S_A_COUNT
} k8s_attr_t;

extern const char *const vg_k8s_attr_names[K8S_A_COUNT + 1]; /* NULL-terminated */
/* K8S_A_COUNT when the name is not one of the above. */
k8s_attr_t vg_k8s_attr_find(const char *name);

/* ---- extraction rules (compiled from extract.*) -------------------------- */
enum { K8S_FROM_POD = 0, K8S_FROM_NAMESPACE = 1 };

typedef struct {
    const char *tag_name;  /* NULL: the Collector's default "k8s.<from>.<labels|annotations>.<key>" */
    const char *key;       /* exact key, or NULL with a regex */
    regex_t re;            /* POSIX ERE; the whole key must match; $1..$9 in tag_name */
    bool has_re;
    bool annotation;       /* labels or annotations */
    int from;              /* K8S_FROM_* */
} k8s_rule_t;

typedef struct {
    bool attr[K8S_A_COUNT];
    k8s_rule_t *rules;
    size_t nrules;
    bool pod_labels, pod_annotations, ns_meta; /* any rule of that kind */
    bool containers;                           /* any container-level attribute */
    bool need_rs;                              /* deployment name/uid via the ReplicaSet */
} k8s_extract_t;

/* Appends the tags `rules` take from one labels/annotations object to *kv
 * (keys and values are copied into *pool). from/annotation select the rules.
 * Returns 0 or VG_ENOMEM. */
typedef struct { const char *key, *val; } k8s_kv_t;
typedef struct {
    char *buf;          /* pool of NUL-terminated strings */
    size_t len, cap;
    size_t *koff, *voff; /* offsets of pair i's key and value in buf */
    size_t n, ncap;
} k8s_kvbuf_t;
int vg_k8s_rules_apply(const k8s_extract_t *x, int from, bool annotation, json_t *map, k8s_kvbuf_t *out);
void vg_k8s_kvbuf_reset(k8s_kvbuf_t *b);
void vg_k8s_kvbuf_free(k8s_kvbuf_t *b);

/* ---- pod records -------------------------------------------------------- */
typedef struct {
    const char *name, *id, *image_name, *image_tag; /* "" when unknown */
} k8s_container_t;

typedef struct k8s_pod k8s_pod_t;
struct k8s_pod {
    k8s_pod_t *prev, *next; /* the cache's live (LRU) or deleted (FIFO) list */
    int64_t expires_ms;     /* 0 while live; deleted: gone after this (loop ms) */
    uint32_t gen;           /* list generation that last saw it (relist sweep) */
    uint32_t bytes;         /* size of this record's one allocation */
    uint16_t ncont, nkv;
    bool host_network;
    bool local;             /* made from node-local sources, not the API */
    const char *uid, *name, *ns, *node, *start_time, *ip[2];
    const char *rs, *rs_uid, *sts, *sts_uid, *ds, *ds_uid, *job, *job_uid, *cronjob;
    k8s_container_t *cont;
    k8s_kv_t *kv;           /* pod labels/annotations as tags */
};

/* What a pod record is built from (strings borrowed; NULL = absent). */
typedef struct {
    const char *name, *id, *image;
} k8s_cont_spec_t;

typedef struct {
    const char *uid, *name, *ns, *node, *start_time, *ip[2];
    const char *rs, *rs_uid, *sts, *sts_uid, *ds, *ds_uid, *job, *job_uid;
    bool host_network, local;
    const k8s_cont_spec_t *cont;
    size_t ncont;
    const k8s_kvbuf_t *kv; /* may be NULL */
} k8s_pod_spec_t;

/* One allocation holding the record and its strings. NULL on allocation failure
 * or without a uid. The image is split into name and tag here. */
k8s_pod_t *vg_k8s_pod_new(const k8s_pod_spec_t *s);
/* "registry:5000/app/web:1.2@sha256:..." -> name "registry:5000/app/web", tag "1.2". */
void vg_k8s_image_split(const char *image, const char **name, size_t *nlen, const char **tag, size_t *tlen);
/* The CronJob a Job name implies (name without a trailing "-<digits>"); length 0 if none. */
size_t vg_k8s_cronjob_from_job(const char *job);
const k8s_container_t *vg_k8s_pod_container_by_name(const k8s_pod_t *p, const char *name);
/* A private copy of a record (outside any cache). NULL on allocation failure. */
k8s_pod_t *vg_k8s_pod_dup(const k8s_pod_t *p);

/* Kubernetes objects -> records (k8s_pod.c). tmp is scratch reused between calls.
 * *out is NULL (and 0 returned) when the object is not a usable pod (no uid) or
 * the pod asks to be ignored (annotation opentelemetry.io/k8s-processor-ignore). */
int vg_k8s_pod_from_json(const k8s_extract_t *x, json_t *pod, k8s_kvbuf_t *tmp, k8s_pod_t **out);

/* ---- the cache ---------------------------------------------------------- */
/* Open addressing, linear probing, backward-shift deletion. A slot names a
 * record (and for container ids, which container). */
typedef struct {
    uint32_t h;
    uint32_t aux;
    void *rec;
} k8s_slot_t;

typedef struct {
    k8s_slot_t *slots;
    size_t cap, n; /* cap is 0 or a power of two */
} k8s_index_t;

enum { K8S_IDX_IP = 1u << 0, K8S_IDX_CID = 1u << 1, K8S_IDX_NAME = 1u << 2 }; /* uid: always */

typedef struct {
    uint64_t evictions;   /* pods dropped because the cache was full */
    uint64_t expired;     /* deleted pods whose grace period ended */
    uint64_t added, updated, deleted;
} k8s_cache_stats_t;

typedef struct {
    k8s_index_t by_uid, by_ip, by_cid, by_name;
    unsigned indexes;
    k8s_pod_t *live_head, *live_tail; /* least recently updated first */
    k8s_pod_t *dead_head, *dead_tail; /* earliest expiry first */
    size_t npods, ndead, max_pods;
    int64_t grace_ms;
    uint64_t bytes;                   /* records + index tables */
    k8s_cache_stats_t st;
} k8s_cache_t;

void vg_k8s_cache_init(k8s_cache_t *c, size_t max_pods, int64_t grace_ms, unsigned indexes);
void vg_k8s_cache_free(k8s_cache_t *c);
/* Inserts or replaces (same uid) a pod; takes ownership of p whatever it returns
 * (freed on error). Evicts when full: expired and deleted pods first, then the
 * least recently updated. Returns 0 or VG_ENOMEM. */
int vg_k8s_cache_put(k8s_cache_t *c, k8s_pod_t *p, int64_t now_ms);
/* The pod leaves the indexes after the grace period (or at once with grace 0).
 * Returns 0 or VG_ENOTFOUND. */
int vg_k8s_cache_delete(k8s_cache_t *c, const char *uid, int64_t now_ms);
/* Deletes (with grace) every live pod whose gen differs from `gen` (after a relist). */
size_t vg_k8s_cache_sweep_gen(k8s_cache_t *c, uint32_t gen, int64_t now_ms);
/* Frees deleted pods whose grace period is over. */
void vg_k8s_cache_expire(k8s_cache_t *c, int64_t now_ms);
/* Lookups: NULL when absent or deleted longer than the grace period ago. */
const k8s_pod_t *vg_k8s_cache_by_uid(const k8s_cache_t *c, const char *uid, int64_t now_ms);
const k8s_pod_t *vg_k8s_cache_by_ip(const k8s_cache_t *c, const char *ip, int64_t now_ms);
const k8s_pod_t *vg_k8s_cache_by_name(const k8s_cache_t *c, const char *ns, const char *name, int64_t now_ms);
/* *cidx: index of the container in the pod. */
const k8s_pod_t *vg_k8s_cache_by_cid(const k8s_cache_t *c, const char *cid, int64_t now_ms, size_t *cidx);

/* Small string-keyed maps for namespaces (name -> tags) and ReplicaSets
 * (uid -> owning Deployment name and uid). One allocation per entry. */
typedef struct k8s_obj {
    uint32_t gen;
    uint16_t nkv;
    const char *key;                     /* namespace name / ReplicaSet uid */
    const char *dep_name, *dep_uid;      /* ReplicaSets */
    k8s_kv_t *kv;                        /* namespaces */
    size_t bytes;
} k8s_obj_t;

typedef struct {
    k8s_index_t idx;
    size_t n, max;
    uint64_t bytes, evictions;
} k8s_objmap_t;

void vg_k8s_objmap_init(k8s_objmap_t *m, size_t max);
void vg_k8s_objmap_free(k8s_objmap_t *m);
k8s_obj_t *vg_k8s_obj_new(const char *key, const char *dep_name, const char *dep_uid, const k8s_kvbuf_t *kv);
int vg_k8s_objmap_put(k8s_objmap_t *m, k8s_obj_t *o); /* takes o; replaces same key */
void vg_k8s_objmap_delete(k8s_objmap_t *m, const char *key);
size_t vg_k8s_objmap_sweep_gen(k8s_objmap_t *m, uint32_t gen);
const k8s_obj_t *vg_k8s_objmap_get(const k8s_objmap_t *m, const char *key);

uint32_t vg_k8s_hash(const char *s, size_t n, uint32_t seed);

/* ---- API access (k8s_auth.c) --------------------------------------------- */
typedef struct {
    char *server;                  /* "https://10.0.0.1:443" (no trailing '/') */
    char *token;                   /* static bearer token */
    char *token_file;              /* bearer token re-read for every request */
    char *ca_file;                 /* PEM file */
    char *ca_data; size_t ca_len;  /* PEM bytes (kubeconfig *-data) */
    char *cert_file, *key_file;
    char *cert_data, *key_data; size_t cert_len, key_len;
    char *username, *password;
    char *tls_server_name;
    bool insecure;
} k8s_auth_t;

/* In-cluster: KUBERNETES_SERVICE_HOST / _PORT, <sa_dir>/token and <sa_dir>/ca.crt. */
int vg_k8s_auth_service_account(k8s_auth_t *a, const char *sa_dir, char *err, size_t errlen);
/* A kubeconfig file; context NULL/"" = current-context. Paths in it are relative
 * to its folder. exec and auth-provider users are refused (VG_EUNSUPPORTED). */
int vg_k8s_auth_kubeconfig(k8s_auth_t *a, const char *path, const char *context, char *err, size_t errlen);
void vg_k8s_auth_free(k8s_auth_t *a);
/* Standard base64 (whitespace ignored) into a new buffer; VG_EPARSE if invalid. */
int vg_k8s_base64_decode(const char *in, char **out, size_t *outlen);

/* ---- the API client (k8s_api.c) ----------------------------------------- */
enum { K8S_RES_PODS = 0, K8S_RES_NAMESPACES, K8S_RES_REPLICASETS, K8S_RES_COUNT };
enum { K8S_EV_ADDED = 0, K8S_EV_MODIFIED, K8S_EV_DELETED, K8S_EV_BOOKMARK, K8S_EV_ERROR, K8S_EV_COUNT };

/* Where objects go. upsert/remove get one object; synced runs after every
 * complete list with that list's generation (older generations are gone). */
typedef struct {
    void (*upsert)(void *ud, int res, json_t *obj, uint32_t gen);
    void (*remove)(void *ud, int res, json_t *obj);
    void (*synced)(void *ud, int res, uint32_t gen);
    void *ud;
} k8s_sink_t;

typedef struct {
    const char *log_id;            /* component id for logs */
    const char *node;              /* field selector spec.nodeName=<node> for pods; NULL = all */
    const char *namespace;         /* only this namespace; NULL = all */
    bool want[K8S_RES_COUNT];      /* resources to list and watch */
    int64_t watch_timeout_s;       /* timeoutSeconds asked of the server */
    int64_t backoff_initial_ms, backoff_max_ms;
    int64_t page_size;             /* list limit (pagination) */
    size_t max_object_bytes;       /* longest list page or watch event accepted */
} k8s_api_opts_t;

typedef struct {
    uint64_t lists, list_pages, watches, relists, reconnects, errors, gone;
    uint64_t events[K8S_EV_COUNT];
    bool synced;
} k8s_inf_stats_t;

typedef struct k8s_api k8s_api_t;
/* Starts listing and watching (asynchronously). auth is moved into the client
 * (zeroed in the caller). Returns 0, VG_ENOMEM or VG_EIO (curl setup). */
int vg_k8s_api_start(uv_loop_t *loop, k8s_auth_t *auth, const k8s_api_opts_t *o, k8s_sink_t sink,
                     k8s_api_t **out);
/* Stops every transfer; handles close asynchronously. Idempotent. */
void vg_k8s_api_stop(k8s_api_t *a);
/* True while handles are still closing (after stop). */
bool vg_k8s_api_busy(const k8s_api_t *a);
/* Frees the client; only when not busy. NULL is fine. */
void vg_k8s_api_free(k8s_api_t *a);
bool vg_k8s_api_synced(const k8s_api_t *a); /* every wanted resource listed once */
const k8s_inf_stats_t *vg_k8s_api_stats(const k8s_api_t *a, int res);

/* ---- node-local names (k8s_local.c) -------------------------------------- */
/* "<namespace>_<pod>_<uid>" (a /var/log/pods folder). Pointers into name;
 * returns 0 or VG_EPARSE. */
typedef struct { const char *p; size_t n; } k8s_str_t;
int vg_k8s_parse_pod_dir(const char *name, k8s_str_t *ns, k8s_str_t *pod, k8s_str_t *uid);
/* "<pod>_<namespace>_<container>-<64 hex id>.log" (a /var/log/containers file). */
int vg_k8s_parse_container_log(const char *name, k8s_str_t *pod, k8s_str_t *ns, k8s_str_t *container,
                               k8s_str_t *id);

typedef struct k8s_local k8s_local_t;
typedef struct {
    const char *pods_dir;        /* /var/log/pods */
    const char *containers_dir;  /* /var/log/containers */
    int64_t rescan_ms;           /* least time between two scans caused by misses */
    size_t max_pods;
} k8s_local_opts_t;
int vg_k8s_local_new(const k8s_local_opts_t *o, k8s_local_t **out);
void vg_k8s_local_free(k8s_local_t *l);
/* A record (owned by the k8s_local, valid until its next lookup) naming the pod
 * with this uid and/or container id; NULL when the kubelet's folders do not
 * know it. Scans the folders again on a miss, at most every rescan_ms. */
const k8s_pod_t *vg_k8s_local_lookup(k8s_local_t *l, const char *uid, const char *cid, int64_t now_ms,
                                     size_t *cidx);
uint64_t vg_k8s_local_scans(const k8s_local_t *l);
size_t vg_k8s_local_bytes(const k8s_local_t *l);

/* ---- local peers (k8s_conn.c) -------------------------------------------- */
/* Parses /proc/net/tcp or tcp6 text for the socket whose local end is
 * addr:port (addr: 4 or 16 bytes, network order). Returns 0 with *inode and
 * *uid, VG_ENOTFOUND, or VG_EPARSE when the text is not that table. */
int vg_k8s_tcp_find(const char *text, size_t len, const unsigned char *addr, size_t alen, int port,
                    unsigned long *inode, unsigned *uid);
/* The same over a file, read in pieces (constant memory). */
int vg_k8s_tcp_find_file(const char *path, const unsigned char *addr, size_t alen, int port,
                         unsigned long *inode, unsigned *uid);
/* The first process (other than ourselves) holding socket:[inode], scanning
 * <proc_root>/<pid>/fd; processes in another network namespace than ours are
 * skipped without reading their fds. Returns 0 with *pid and its descriptor
 * *fd (may be NULL), or VG_ENOTFOUND. */
int vg_k8s_socket_owner(const char *proc_root, unsigned long inode, int *pid, int *fd, uint64_t *fds_scanned);

typedef struct {
    int pid;                 /* 0 when unknown */
    vg_cg_ident_t cg;        /* kind NONE when the process is in no container */
} k8s_peer_ident_t;

typedef struct {
    uint64_t lookups, cache_hits;  /* pid -> cgroup */
    uint64_t peer_hits;            /* loopback peers confirmed by one readlink */
    uint64_t tcp_reads, scans, fds_scanned, failures;
} k8s_conn_stats_t;

typedef struct k8s_conn k8s_conn_t;
typedef struct {
    const char *proc_root;   /* "/proc" */
    int64_t ttl_ms;
    size_t max_entries;
} k8s_conn_opts_t;
int vg_k8s_conn_new(const k8s_conn_opts_t *o, k8s_conn_t **out);
void vg_k8s_conn_free(k8s_conn_t *c);
/* The process behind a peer: unix peers by their SO_PEERCRED pid, loopback TCP
 * peers through /proc/net/tcp{,6} and the socket's owner. Cached (bounded, TTL);
 * a cached TCP peer is re-checked with one readlink of the owner's descriptor
 * (a reused port never inherits an old identity); table read and fd scan run
 * once per connection.
 * Returns 0 (out->pid > 0), VG_ENOTFOUND, VG_EUNSUPPORTED (remote TCP peer). */
int vg_k8s_conn_resolve(k8s_conn_t *c, int family, const char *addr, int port, int unix_pid, int64_t now_ms,
                        k8s_peer_ident_t *out);
/* A pid's cgroup identity (cached like the above). */
int vg_k8s_conn_pid(k8s_conn_t *c, int pid, int64_t now_ms, k8s_peer_ident_t *out);
const k8s_conn_stats_t *vg_k8s_conn_stats(const k8s_conn_t *c);
bool vg_k8s_is_loopback(int family, const char *addr);

/* ---- test and benchmark hooks (k8sattributes.c) ---------------------------- */
struct vg_component;
/* Feeds one API object (K8S_RES_*) to a created processor, as a watch ADDED would. */
void vg_k8s_processor_feed(struct vg_component *c, int res, json_t *obj);
/* Pods cached and the bytes the caches hold. */
void vg_k8s_processor_cache(struct vg_component *c, size_t *pods, uint64_t *bytes);

#endif
