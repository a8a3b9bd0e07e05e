/* List + watch against the Kubernetes API server, asynchronously on the
 * instance's loop.
 *
 * HTTP(S) is libcurl's multi interface driven by libuv: curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION -> uv_poll) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> uv_timer); we hand readiness back with
 * curl_multi_socket_action. libcurl brings what a hand-written client on
 * vg_conn would have to grow: TLS with CA / client certificates from files or
 * memory, chunked decoding, proxies from the environment, connection reuse.
 * Sockets are closed through our CLOSESOCKETFUNCTION so that a poll handle is
 * always stopped before its descriptor is closed (and maybe reused).
 *
 * One informer per resource (pods, namespaces, ReplicaSets):
 *   LIST   paginated (limit / continue); every object is handed to the sink with
 *          the list's generation; at the end, synced(gen) lets the sink forget
 *          what the list no longer has; then WATCH from the list's resourceVersion.
 *   WATCH  ?watch=1&allowWatchBookmarks=true&resourceVersion=RV&timeoutSeconds=T;
 *          one JSON event per line (ADDED / MODIFIED / DELETED / BOOKMARK /
 *          ERROR). Every event moves RV forward. When the server ends the watch
 *          (timeout) it is opened again at once from RV; a dropped connection
 *          or an HTTP error is retried after a backoff (doubling, jittered);
 *          410 Gone (HTTP status or ERROR event: RV too old) relists. */
#include "k8s.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { ST_IDLE = 0, ST_LIST, ST_WATCH, ST_WAIT };

typedef struct k8s_sock k8s_sock_t;
struct k8s_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    k8s_api_t *api;
    k8s_sock_t *next;
    bool closing;
};

typedef struct {
    k8s_api_t *api;
    int res;
    int state, next_state;       /* next_state: what ST_WAIT leads to */
    CURL *easy;
    struct curl_slist *hdrs;
    char *buf;                   /* list body, watch partial line, or error text */
    size_t len, cap;
    char *rv;                    /* resourceVersion to watch from */
    char *cont;                  /* continue token of a paginated list */
    uint32_t gen;
    bool gone;                   /* 410 seen in this transfer */
    bool overflow;
    bool bad_event;              /* an ERROR event other than 410 */
    uint64_t events_this_watch;
    uint64_t started_ms;
    int64_t backoff_ms;
    uv_timer_t timer;
    bool timer_open;
    k8s_inf_stats_t st;
    char errbuf[CURL_ERROR_SIZE];
} k8s_inf_t;

struct k8s_api {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer;
    bool curl_timer_open;
    k8s_sock_t *socks;
    int open_handles;
    k8s_auth_t auth;
    k8s_api_opts_t o;
    char *node, *ns, *log_id;
    k8s_sink_t sink;
    k8s_inf_t inf[K8S_RES_COUNT];
    bool stopping;
    uint64_t rng;
};

static const char *const res_names[K8S_RES_COUNT] = { "pods", "namespaces", "replicasets" };

/* ---- libuv <-> libcurl --------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    k8s_api_t *a = h->data;
    a->open_handles--;
}

static void sock_closed(uv_handle_t *h)
{
    k8s_sock_t *s = (k8s_sock_t *)h;
    k8s_api_t *a = s->api;
    for (k8s_sock_t **pp = &a->socks; *pp; pp = &(*pp)->next)
        if (*pp == s) { *pp = s->next; break; }
    a->open_handles--;
    vg_free(s);
}

static void sock_close(k8s_sock_t *s)
{
    if (s->closing) return;
    s->closing = true;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void check_done(k8s_api_t *a);

static void on_poll(uv_poll_t *p, int status, int events)
{
    k8s_sock_t *s = (k8s_sock_t *)p;
    k8s_api_t *a = s->api;
    if (!a->multi || s->closing) return;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(a->multi, s->fd, flags, &running);
    check_done(a);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    k8s_api_t *a = userp;
    k8s_sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            curl_multi_assign(a->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        if (a->stopping) return 0;
        s = vg_calloc(1, sizeof *s);
        if (!s) return -1;
        if (uv_poll_init_socket(a->loop, &s->poll, fd) != 0) { vg_free(s); return -1; }
        s->fd = fd;
        s->api = a;
        s->poll.data = a;
        s->next = a->socks;
        a->socks = s;
        a->open_handles++;
        curl_multi_assign(a->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= UV_WRITABLE;
    return uv_poll_start(&s->poll, ev, on_poll) == 0 ? 0 : -1;
}

static int close_socket_cb(void *clientp, curl_socket_t fd)
{
    k8s_api_t *a = clientp;
    for (k8s_sock_t *s = a->socks; s; s = s->next)
        if (s->fd == fd && !s->closing) sock_close(s);
    return close(fd);
}

static void on_curl_timeout(uv_timer_t *t)
{
    k8s_api_t *a = t->data;
    if (!a->multi) return;
    int running;
    curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(a);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    k8s_api_t *a = userp;
    if (!a->curl_timer_open) return 0;
    if (timeout_ms < 0 || a->stopping) uv_timer_stop(&a->curl_timer);
    else uv_timer_start(&a->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- requests ------------------------------------------------------------ */

static int buf_add(k8s_inf_t *f, const char *p, size_t n, size_t limit)
{
    if (f->len + n > limit) return VG_ETOOBIG;
    if (f->len + n + 1 > f->cap) {
        size_t nc = f->cap ? f->cap : 16384;
        while (f->len + n + 1 > nc) nc *= 2;
        char *nb = vg_realloc(f->buf, nc);
        if (!nb) return VG_ENOMEM;
        f->buf = nb;
        f->cap = nc;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    f->buf[f->len] = '\0';
    return 0;
}

static void set_str(char **dst, const char *v)
{
    if (*dst && v && strcmp(*dst, v) == 0) return;
    char *n = v ? vg_strdup(v) : NULL;
    if (v && !n) return; /* keep the old value rather than none */
    vg_free(*dst);
    *dst = n;
}

static void note_rv(k8s_inf_t *f, json_t *obj)
{
    json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
    if (json_is_string(rv) && json_string_length(rv)) set_str(&f->rv, json_string_value(rv));
}

static void handle_event(k8s_inf_t *f, const char *line, size_t len)
{
    k8s_api_t *a = f->api;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) len--;
    if (!len) return;
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr);
    if (!ev) {
        f->st.errors++;
        VG_WARN(a->log_id, "%s watch: unparsable event skipped: %s", res_names[f->res], jerr.text);
        return;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        f->st.errors++;
    } else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        f->st.events[type[0] == 'A' ? K8S_EV_ADDED : K8S_EV_MODIFIED]++;
        a->sink.upsert(a->sink.ud, f->res, obj, f->gen);
        note_rv(f, obj);
        f->events_this_watch++;
    } else if (strcmp(type, "DELETED") == 0) {
        f->st.events[K8S_EV_DELETED]++;
        a->sink.remove(a->sink.ud, f->res, obj);
        note_rv(f, obj);
        f->events_this_watch++;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        f->st.events[K8S_EV_BOOKMARK]++;
        note_rv(f, obj);
        f->events_this_watch++;
    } else if (strcmp(type, "ERROR") == 0) {
        f->st.events[K8S_EV_ERROR]++;
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        if (code == 410) {
            f->gone = true;
        } else {
            f->bad_event = true;
            VG_WARN(a->log_id, "%s watch: server error %lld: %s", res_names[f->res], (long long)code,
                    msg ? msg : "(no message)");
        }
    }
    json_decref(ev);
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    k8s_inf_t *f = ud;
    size_t n = sz * nm;
    long code = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        /* Keep the start of an error body for the log. */
        if (f->len < 1024) buf_add(f, p, n < 1024 - f->len ? n : 1024 - f->len, 1024);
        return n;
    }
    if (f->state == ST_LIST) {
        int rc = buf_add(f, p, n, f->api->o.max_object_bytes);
        if (rc) { f->overflow = true; return 0; }
        return n;
    }
    /* Watch: complete lines are events. */
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t chunk = nl ? (size_t)(nl - (p + i)) : n - i;
        if (buf_add(f, p + i, chunk, f->api->o.max_object_bytes)) { f->overflow = true; return 0; }
        i += chunk;
        if (!nl) break;
        i++;
        handle_event(f, f->buf, f->len);
        f->len = 0;
        if (f->gone || f->api->stopping) return 0; /* ends the transfer: relist */
    }
    return n;
}

static char *read_token(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return NULL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
    buf[n] = '\0';
    return vg_strdup(buf);
}

static int add_param(CURL *e, char *url, size_t cap, const char *key, const char *val)
{
    char *esc = curl_easy_escape(e, val, 0);
    if (!esc) return VG_ENOMEM;
    size_t l = strlen(url);
    int w = snprintf(url + l, cap - l, "%s%s=%s", strchr(url, '?') ? "&" : "?", key, esc);
    curl_free(esc);
    return w < 0 || (size_t)w >= cap - l ? VG_ETOOBIG : 0;
}

static int build_url(k8s_inf_t *f, CURL *e, bool watch, char *url, size_t cap)
{
    k8s_api_t *a = f->api;
    int w;
    if (f->res == K8S_RES_PODS)
        w = a->ns ? snprintf(url, cap, "%s/api/v1/namespaces/%s/pods", a->auth.server, a->ns)
                  : snprintf(url, cap, "%s/api/v1/pods", a->auth.server);
    else if (f->res == K8S_RES_NAMESPACES)
        w = snprintf(url, cap, "%s/api/v1/namespaces", a->auth.server);
    else
        w = a->ns ? snprintf(url, cap, "%s/apis/apps/v1/namespaces/%s/replicasets", a->auth.server, a->ns)
                  : snprintf(url, cap, "%s/apis/apps/v1/replicasets", a->auth.server);
    if (w < 0 || (size_t)w >= cap) return VG_ETOOBIG;
    char sel[600];
    int rc = 0;
    if (f->res == K8S_RES_PODS && a->node) {
        snprintf(sel, sizeof sel, "spec.nodeName=%s", a->node);
        rc = add_param(e, url, cap, "fieldSelector", sel);
    } else if (f->res == K8S_RES_NAMESPACES && a->ns) {
        snprintf(sel, sizeof sel, "metadata.name=%s", a->ns);
        rc = add_param(e, url, cap, "fieldSelector", sel);
    }
    if (rc) return rc;
    if (watch) {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)a->o.watch_timeout_s);
        if ((rc = add_param(e, url, cap, "watch", "1")) || (rc = add_param(e, url, cap, "allowWatchBookmarks", "true")) ||
            (rc = add_param(e, url, cap, "resourceVersion", f->rv ? f->rv : "")) ||
            (rc = add_param(e, url, cap, "timeoutSeconds", t)))
            return rc;
    } else {
        char l[32];
        snprintf(l, sizeof l, "%lld", (long long)a->o.page_size);
        if ((rc = add_param(e, url, cap, "limit", l))) return rc;
        if (f->cont && (rc = add_param(e, url, cap, "continue", f->cont))) return rc;
    }
    return 0;
}

static void inf_schedule(k8s_inf_t *f, int next, bool now);

static int inf_request(k8s_inf_t *f, bool watch)
{
    k8s_api_t *a = f->api;
    CURL *e = curl_easy_init();
    if (!e) return VG_ENOMEM;
    char url[8192];
    int rc = build_url(f, e, watch, url, sizeof url);
    if (rc) { curl_easy_cleanup(e); return rc; }
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char *tok = a->auth.token_file ? read_token(a->auth.token_file) : NULL;
    const char *bearer = tok ? tok : a->auth.token;
    if (h && bearer) {
        size_t n = strlen(bearer) + 32;
        char *hv = vg_malloc(n);
        if (hv) {
            snprintf(hv, n, "Authorization: Bearer %s", bearer);
            struct curl_slist *h2 = curl_slist_append(h, hv);
            memset(hv, 0, n);
            vg_free(hv);
            h = h2;
        } else {
            curl_slist_free_all(h);
            h = NULL;
        }
    }
    if (tok) { memset(tok, 0, strlen(tok)); vg_free(tok); }
    if (!h) { curl_easy_cleanup(e); return VG_ENOMEM; }
    f->len = 0;
    f->gone = f->overflow = f->bad_event = false;
    f->errbuf[0] = '\0';
    f->events_this_watch = 0;
    f->started_ms = uv_now(a->loop);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION " (k8sattributes)");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, a);
    if (watch) {
        /* The server ends a watch after timeoutSeconds; a silent connection
         * beyond that (plus slack) is dead. */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(a->o.watch_timeout_s + 30));
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 120000L);
    }
    if (a->auth.ca_data) {
        struct curl_blob b = { a->auth.ca_data, a->auth.ca_len, CURL_BLOB_COPY };
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    } else if (a->auth.ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, a->auth.ca_file);
    }
    if (a->auth.cert_data) {
        struct curl_blob b = { a->auth.cert_data, a->auth.cert_len, CURL_BLOB_COPY };
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (a->auth.cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, a->auth.cert_file);
    }
    if (a->auth.key_data) {
        struct curl_blob b = { a->auth.key_data, a->auth.key_len, CURL_BLOB_COPY };
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (a->auth.key_file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, a->auth.key_file);
    }
    if (a->auth.insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (a->auth.username) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, a->auth.username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, a->auth.password ? a->auth.password : "");
    }
    f->easy = e;
    f->hdrs = h;
    f->state = watch ? ST_WATCH : ST_LIST;
    if (watch) f->st.watches++;
    else f->st.list_pages++;
    if (curl_multi_add_handle(a->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        f->easy = NULL;
        f->hdrs = NULL;
        return VG_EIO;
    }
    return 0;
}

/* ---- the informer state machine ------------------------------------------ */

static void inf_start_list(k8s_inf_t *f)
{
    vg_free(f->cont);
    f->cont = NULL;
    f->gen++;
    f->st.lists++;
    if (inf_request(f, false)) inf_schedule(f, ST_LIST, false);
}

static void inf_start_watch(k8s_inf_t *f)
{
    if (inf_request(f, true)) inf_schedule(f, ST_WATCH, false);
}

static void on_backoff(uv_timer_t *t)
{
    k8s_inf_t *f = t->data;
    if (f->api->stopping) return;
    int next = f->next_state;
    f->state = ST_IDLE;
    if (next == ST_LIST) inf_start_list(f);
    else inf_start_watch(f);
}

static uint64_t rnd(k8s_api_t *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return a->rng;
}

/* Go to `next` now or after the backoff (which then doubles). */
static void inf_schedule(k8s_inf_t *f, int next, bool now)
{
    k8s_api_t *a = f->api;
    if (a->stopping) return;
    if (now) {
        f->state = ST_IDLE;
        if (next == ST_LIST) inf_start_list(f);
        else inf_start_watch(f);
        return;
    }
    int64_t b = f->backoff_ms;
    int64_t jitter = b / 5;
    int64_t wait = b - jitter + (jitter > 0 ? (int64_t)(rnd(a) % (uint64_t)(2 * jitter + 1)) : 0);
    f->backoff_ms = b * 2 > a->o.backoff_max_ms ? a->o.backoff_max_ms : b * 2;
    f->state = ST_WAIT;
    f->next_state = next;
    uv_timer_start(&f->timer, on_backoff, (uint64_t)(wait > 0 ? wait : 0), 0);
}

/* A list page arrived: hand its items to the sink. */
static int take_list(k8s_inf_t *f)
{
    k8s_api_t *a = f->api;
    json_error_t jerr;
    json_t *doc = json_loadb(f->buf, f->len, 0, &jerr);
    if (!doc) {
        VG_WARN(a->log_id, "%s list: unparsable response: %s", res_names[f->res], jerr.text);
        return VG_EPARSE;
    }
    json_t *items = json_object_get(doc, "items"), *it;
    json_t *md = json_object_get(doc, "metadata");
    if (!json_is_array(items) && !json_is_null(items) && items) { json_decref(doc); return VG_EPARSE; }
    size_t i;
    json_array_foreach(items, i, it) a->sink.upsert(a->sink.ud, f->res, it, f->gen);
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    const char *cont = json_string_value(json_object_get(md, "continue"));
    set_str(&f->rv, rv && *rv ? rv : NULL);
    set_str(&f->cont, cont && *cont ? cont : NULL);
    json_decref(doc);
    return 0;
}

static void inf_done(k8s_inf_t *f, CURLcode res, long code)
{
    k8s_api_t *a = f->api;
    const char *what = res_names[f->res];
    if (f->gone || code == 410) {
        f->gone = false;
        f->st.gone++;
        f->st.relists++;
        VG_INFO(a->log_id, "%s: resourceVersion %s is gone (410); listing again", what, f->rv ? f->rv : "");
        vg_free(f->rv);
        f->rv = NULL;
        inf_schedule(f, ST_LIST, true);
        return;
    }
    if (f->state == ST_LIST) {
        int rc = VG_EIO;
        if (res == CURLE_OK && code == 200) rc = take_list(f);
        if (rc) {
            f->st.errors++;
            if (f->overflow)
                VG_WARN(a->log_id, "%s list: page larger than %zu bytes; retrying", what, a->o.max_object_bytes);
            else if (res != CURLE_OK)
                VG_WARN(a->log_id, "%s list failed: %s", what, f->errbuf[0] ? f->errbuf : curl_easy_strerror(res));
            else if (code != 200)
                VG_WARN(a->log_id, "%s list: HTTP %ld%s %.200s", what, code,
                        code == 401 || code == 403 ? " (check the token and the ClusterRole: get/list/watch)" : "",
                        f->len ? f->buf : "");
            f->len = 0;
            inf_schedule(f, ST_LIST, false);
            return;
        }
        f->len = 0;
        if (f->cont) {
            if (inf_request(f, false)) inf_schedule(f, ST_LIST, false);
            return;
        }
        a->sink.synced(a->sink.ud, f->res, f->gen);
        if (!f->st.synced) VG_INFO(a->log_id, "%s listed (resourceVersion %s)", what, f->rv ? f->rv : "");
        f->st.synced = true;
        f->backoff_ms = a->o.backoff_initial_ms;
        inf_schedule(f, ST_WATCH, true);
        return;
    }
    /* A watch ended. */
    if (f->events_this_watch) f->backoff_ms = a->o.backoff_initial_ms;
    uint64_t lasted = uv_now(a->loop) - f->started_ms;
    if (res == CURLE_OK && code == 200 && !f->bad_event) {
        f->len = 0;
        /* The server closed the watch (timeoutSeconds): go on from RV. A watch
         * that ends at once with nothing in it waits a little first. */
        inf_schedule(f, ST_WATCH, f->events_this_watch > 0 || lasted >= 1000);
        return;
    }
    if (code == 200 || code == 0) {
        f->st.reconnects++;
        VG_WARN(a->log_id, "%s watch dropped (%s); reconnecting from resourceVersion %s", what,
                f->overflow ? "event too large" : f->bad_event ? "server error event"
                : f->errbuf[0] ? f->errbuf : curl_easy_strerror(res), f->rv ? f->rv : "");
    } else {
        f->st.errors++;
        VG_WARN(a->log_id, "%s watch: HTTP %ld %.200s", what, code, f->len ? f->buf : "");
    }
    f->len = 0;
    inf_schedule(f, f->rv ? ST_WATCH : ST_LIST, false);
}

static void check_done(k8s_api_t *a)
{
    CURLMsg *m;
    int left;
    while (a->multi && (m = curl_multi_info_read(a->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        k8s_inf_t *f = NULL;
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&f);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(a->multi, e);
        curl_easy_cleanup(e);
        if (!f) continue;
        curl_slist_free_all(f->hdrs);
        f->hdrs = NULL;
        f->easy = NULL;
        if (!a->stopping) inf_done(f, res, code);
    }
}

/* ---- lifecycle ------------------------------------------------------------- */

int vg_k8s_api_start(uv_loop_t *loop, k8s_auth_t *auth, const k8s_api_opts_t *o, k8s_sink_t sink, k8s_api_t **out)
{
    k8s_api_t *a = vg_calloc(1, sizeof *a);
    if (!a) return VG_ENOMEM;
    a->loop = loop;
    a->o = *o;
    a->sink = sink;
    a->auth = *auth;
    memset(auth, 0, sizeof *auth);
    a->rng = uv_hrtime() | 1;
    if ((o->node && !(a->node = vg_strdup(o->node))) || (o->namespace && !(a->ns = vg_strdup(o->namespace))) ||
        !(a->log_id = vg_strdup(o->log_id ? o->log_id : "k8sattributes"))) {
        vg_k8s_api_free(a);
        return VG_ENOMEM;
    }
    a->o.node = a->node;
    a->o.namespace = a->ns;
    a->o.log_id = a->log_id;
    a->multi = curl_multi_init();
    if (!a->multi) { vg_k8s_api_free(a); return VG_EIO; }
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
    uv_timer_init(loop, &a->curl_timer);
    a->curl_timer.data = a;
    a->curl_timer_open = true;
    a->open_handles++;
    for (int r = 0; r < K8S_RES_COUNT; r++) {
        k8s_inf_t *f = &a->inf[r];
        f->api = a;
        f->res = r;
        f->backoff_ms = o->backoff_initial_ms;
        uv_timer_init(loop, &f->timer);
        f->timer.data = f;
        f->timer_open = true;
        a->open_handles++;
    }
    for (int r = 0; r < K8S_RES_COUNT; r++)
        if (o->want[r]) inf_start_list(&a->inf[r]);
    *out = a;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    k8s_inf_t *f = h->data;
    f->api->open_handles--;
}

void vg_k8s_api_stop(k8s_api_t *a)
{
    if (!a || a->stopping) return;
    a->stopping = true;
    for (int r = 0; r < K8S_RES_COUNT; r++) {
        k8s_inf_t *f = &a->inf[r];
        if (f->easy) {
            curl_multi_remove_handle(a->multi, f->easy);
            curl_easy_cleanup(f->easy);
            f->easy = NULL;
        }
        curl_slist_free_all(f->hdrs);
        f->hdrs = NULL;
        if (f->timer_open) {
            f->timer_open = false;
            uv_timer_stop(&f->timer);
            uv_close((uv_handle_t *)&f->timer, timer_closed);
        }
    }
    if (a->multi) {
        curl_multi_cleanup(a->multi); /* closes cached connections through close_socket_cb */
        a->multi = NULL;
    }
    for (k8s_sock_t *s = a->socks; s; s = s->next) sock_close(s);
    if (a->curl_timer_open) {
        a->curl_timer_open = false;
        uv_timer_stop(&a->curl_timer);
        uv_close((uv_handle_t *)&a->curl_timer, handle_closed);
    }
}

bool vg_k8s_api_busy(const k8s_api_t *a) { return a && a->open_handles > 0; }

void vg_k8s_api_free(k8s_api_t *a)
{
    if (!a) return;
    if (a->multi) curl_multi_cleanup(a->multi);
    for (int r = 0; r < K8S_RES_COUNT; r++) {
        vg_free(a->inf[r].buf);
        vg_free(a->inf[r].rv);
        vg_free(a->inf[r].cont);
    }
    vg_k8s_auth_free(&a->auth);
    vg_free(a->node);
    vg_free(a->ns);
    vg_free(a->log_id);
    vg_free(a);
}

bool vg_k8s_api_synced(const k8s_api_t *a)
{
    for (int r = 0; r < K8S_RES_COUNT; r++)
        if (a->o.want[r] && !a->inf[r].st.synced) return false;
    return true;
}

const k8s_inf_stats_t *vg_k8s_api_stats(const k8s_api_t *a, int res) { return &a->inf[res].st; }
