/* How the processor reaches the API server: the pod's service account, or a
 * kubeconfig file (the shapes kubectl writes: server + CA file or data or
 * insecure-skip-tls-verify; user token, tokenFile, client certificate and key as
 * files or data, or basic auth). exec plugins and auth-providers are not
 * supported: they run programs, which a node agent should not do. */
#include "k8s.h"

#include "error.h"
#include "mem.h"
#include "ydoc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

void vg_k8s_auth_free(k8s_auth_t *a)
{
    if (!a) return;
    vg_free(a->server);
    if (a->token) OPENSSL_cleanse(a->token, strlen(a->token));
    vg_free(a->token);
    vg_free(a->token_file);
    vg_free(a->ca_file);
    vg_free(a->ca_data);
    vg_free(a->cert_file);
    vg_free(a->key_file);
    vg_free(a->cert_data);
    if (a->key_data) OPENSSL_cleanse(a->key_data, a->key_len);
    vg_free(a->key_data);
    vg_free(a->username);
    if (a->password) OPENSSL_cleanse(a->password, strlen(a->password));
    vg_free(a->password);
    vg_free(a->tls_server_name);
    memset(a, 0, sizeof *a);
}

int vg_k8s_base64_decode(const char *in, char **out, size_t *outlen)
{
    size_t n = strlen(in);
    char *clean = vg_malloc(n + 1);
    if (!clean) return VG_ENOMEM;
    size_t m = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        clean[m++] = ch;
    }
    clean[m] = '\0';
    if (m % 4) { vg_free(clean); return VG_EPARSE; }
    if (m && clean[m - 1] == '=') pad++;
    if (m > 1 && clean[m - 2] == '=') pad++;
    unsigned char *buf = vg_malloc(m / 4 * 3 + 1);
    if (!buf) { vg_free(clean); return VG_ENOMEM; }
    int r = m ? EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)m) : 0;
    vg_free(clean);
    if (r < 0) { vg_free(buf); return VG_EPARSE; }
    *outlen = (size_t)r - pad;
    buf[*outlen] = '\0';
    *out = (char *)buf;
    return 0;
}

/* ---- service account ------------------------------------------------------- */

int vg_k8s_auth_service_account(k8s_auth_t *a, const char *sa_dir, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return fail(err, errlen, VG_ECONFIG,
                    "auth_type serviceAccount: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not "
                    "running in a pod?); use auth_type kubeConfig or none");
    char buf[600];
    snprintf(buf, sizeof buf, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    char tok[4200], ca[4200];
    snprintf(tok, sizeof tok, "%s/token", sa_dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", sa_dir);
    if (access(tok, R_OK) != 0)
        return fail(err, errlen, VG_ECONFIG, "auth_type serviceAccount: cannot read %s: %s", tok, strerror(errno));
    if (access(ca, R_OK) != 0)
        return fail(err, errlen, VG_ECONFIG, "auth_type serviceAccount: cannot read %s: %s", ca, strerror(errno));
    a->server = vg_strdup(buf);
    a->token_file = vg_strdup(tok);
    a->ca_file = vg_strdup(ca);
    if (!a->server || !a->token_file || !a->ca_file) {
        vg_k8s_auth_free(a);
        return fail(err, errlen, VG_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- kubeconfig ------------------------------------------------------------ */

static const char *scalar(const vg_ynode_t *map, const char *key)
{
    const vg_ynode_t *n = vg_ynode_get(map, key);
    return n && n->type == VG_Y_SCALAR && *n->value ? n->value : NULL;
}

/* The `inner` mapping of the entry of list `list` whose name is `name`. */
static const vg_ynode_t *named(const vg_ynode_t *root, const char *list, const char *name, const char *inner)
{
    const vg_ynode_t *l = vg_ynode_get(root, list);
    if (!l || l->type != VG_Y_SEQ) return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const char *nm = scalar(l->items[i], "name");
        if (nm && strcmp(nm, name) == 0) {
            const vg_ynode_t *in = vg_ynode_get(l->items[i], inner);
            return in && in->type == VG_Y_MAP ? in : NULL;
        }
    }
    return NULL;
}

/* A path from the kubeconfig, relative to its folder. */
static char *resolve_path(const char *dir, const char *p)
{
    if (!p) return NULL;
    if (p[0] == '/' || !dir) return vg_strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = vg_malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, p);
    return s;
}

static bool truthy(const char *v) { return v && (strcmp(v, "true") == 0 || strcmp(v, "True") == 0); }

int vg_k8s_auth_kubeconfig(k8s_auth_t *a, const char *path, const char *context, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    vg_errs_t errs;
    vg_errs_init(&errs);
    vg_ydoc_t *doc = NULL;
    int rc = vg_ydoc_load_file(path, &doc, &errs);
    if (rc) {
        rc = fail(err, errlen, rc == VG_ENOMEM ? VG_ENOMEM : VG_ECONFIG, "kubeconfig %s: %s", path,
                  errs.n ? errs.msgs[0] : vg_strerror(rc));
        vg_errs_free(&errs);
        return rc;
    }
    vg_errs_free(&errs);
    char *pathcopy = vg_strdup(path);
    const char *dir = pathcopy ? dirname(pathcopy) : NULL;
    const vg_ynode_t *root = doc->root;
    const char *ctxname = context && *context ? context : scalar(root, "current-context");
    const vg_ynode_t *ctx = ctxname ? named(root, "contexts", ctxname, "context") : NULL;
    const vg_ynode_t *cluster = NULL, *user = NULL;
    const char *cname = NULL, *uname = NULL;
    if (!ctxname) { rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: no current-context and no context option", path); goto out; }
    if (!ctx) { rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: context \"%s\" not found", path, ctxname); goto out; }
    cname = scalar(ctx, "cluster");
    uname = scalar(ctx, "user");
    cluster = cname ? named(root, "clusters", cname, "cluster") : NULL;
    if (!cluster) { rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: cluster \"%s\" of context \"%s\" not found", path, cname ? cname : "", ctxname); goto out; }
    if (uname) {
        user = named(root, "users", uname, "user");
        if (!user) { rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: user \"%s\" not found", path, uname); goto out; }
    }
    const char *server = scalar(cluster, "server");
    if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
        rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: cluster \"%s\" has no http(s):// server", path, cname);
        goto out;
    }
    rc = VG_ENOMEM;
    if (!(a->server = vg_strdup(server))) goto nomem;
    for (size_t l = strlen(a->server); l > 0 && a->server[l - 1] == '/'; l--) a->server[l - 1] = '\0';
    a->insecure = truthy(scalar(cluster, "insecure-skip-tls-verify"));
    const char *v;
    if ((v = scalar(cluster, "tls-server-name")) && !(a->tls_server_name = vg_strdup(v))) goto nomem;
    if ((v = scalar(cluster, "certificate-authority-data"))) {
        if ((rc = vg_k8s_base64_decode(v, &a->ca_data, &a->ca_len))) goto bad64;
    } else if ((v = scalar(cluster, "certificate-authority")) && !(a->ca_file = resolve_path(dir, v))) {
        goto nomem;
    }
    if (user) {
        if (vg_ynode_get(user, "exec") || vg_ynode_get(user, "auth-provider")) {
            rc = fail(err, errlen, VG_EUNSUPPORTED,
                      "kubeconfig %s: user \"%s\" uses an exec plugin or auth-provider, which Vigil does not run; "
                      "use a token, tokenFile or client certificate", path, uname);
            goto out;
        }
        if ((v = scalar(user, "token")) && !(a->token = vg_strdup(v))) goto nomem;
        if ((v = scalar(user, "tokenFile")) && !(a->token_file = resolve_path(dir, v))) goto nomem;
        if ((v = scalar(user, "client-certificate-data"))) {
            if ((rc = vg_k8s_base64_decode(v, &a->cert_data, &a->cert_len))) goto bad64;
        } else if ((v = scalar(user, "client-certificate")) && !(a->cert_file = resolve_path(dir, v))) {
            goto nomem;
        }
        if ((v = scalar(user, "client-key-data"))) {
            if ((rc = vg_k8s_base64_decode(v, &a->key_data, &a->key_len))) goto bad64;
        } else if ((v = scalar(user, "client-key")) && !(a->key_file = resolve_path(dir, v))) {
            goto nomem;
        }
        if ((v = scalar(user, "username")) && !(a->username = vg_strdup(v))) goto nomem;
        if ((v = scalar(user, "password")) && !(a->password = vg_strdup(v))) goto nomem;
        if ((a->cert_file || a->cert_data) != (a->key_file || a->key_data)) {
            rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: user \"%s\" has a client certificate without its key "
                      "(or the other way round)", path, uname);
            goto out;
        }
    }
    rc = 0;
    goto out;
bad64:
    if (rc == VG_ENOMEM) goto nomem;
    rc = fail(err, errlen, VG_ECONFIG, "kubeconfig %s: invalid base64 in a *-data field", path);
    goto out;
nomem:
    rc = fail(err, errlen, VG_ENOMEM, "out of memory");
out:
    if (rc) vg_k8s_auth_free(a);
    vg_free(pathcopy);
    vg_ydoc_free(doc);
    return rc;
}
