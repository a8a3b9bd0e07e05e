/* Server TLS contexts from option-like fields, and ALPN selection. */
#include "net/conn_int.h"

#include "error.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

void vg__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    vg_conn_t *c = SSL_get_app_data(ssl);
    if (!c || !c->l->alpn_wire) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    unsigned char sellen = 0;
    if (SSL_select_next_proto(&sel, &sellen, c->l->alpn_wire, c->l->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

const char *vg__ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, len, "%s", r ? r : (e ? "unknown OpenSSL error" : "no detail"));
    return buf;
}

static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        vg__set_err(err, errlen, "tls: cannot read %s \"%s\": %s", what, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

int vg_tls_server_ctx_new(const vg_tls_config_t *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    char why[160];
    if (!cfg || !out) return VG_EINVAL;
    *out = NULL;
    if (!cfg->cert_file || !*cfg->cert_file) {
        vg__set_err(err, errlen, "tls: cert_file is required");
        return VG_ECONFIG;
    }
    if (!cfg->key_file || !*cfg->key_file) {
        vg__set_err(err, errlen, "tls: key_file is required");
        return VG_ECONFIG;
    }
    int minv = TLS1_2_VERSION;
    if (cfg->min_version && *cfg->min_version) {
        if (strcmp(cfg->min_version, "1.2") == 0) minv = TLS1_2_VERSION;
        else if (strcmp(cfg->min_version, "1.3") == 0) minv = TLS1_3_VERSION;
        else {
            vg__set_err(err, errlen, "tls: min_version \"%s\" not supported (use \"1.2\" or \"1.3\")",
                    cfg->min_version);
            return VG_ECONFIG;
        }
    }
    if (!readable("cert_file", cfg->cert_file, err, errlen)) return VG_ECONFIG;
    if (!readable("key_file", cfg->key_file, err, errlen)) return VG_ECONFIG;
    if (cfg->client_ca_file && *cfg->client_ca_file &&
        !readable("client_ca_file", cfg->client_ca_file, err, errlen))
        return VG_ECONFIG;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        vg__set_err(err, errlen, "tls: cannot create context: %s", vg__ssl_reason(why, sizeof why));
        return VG_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"vigil", 5);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

    int rc = VG_ECONFIG;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        vg__set_err(err, errlen, "tls: cert_file \"%s\" is not a usable PEM certificate: %s",
                cfg->cert_file, vg__ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            vg__set_err(err, errlen, "tls: key_file \"%s\" does not match cert_file \"%s\"",
                    cfg->key_file, cfg->cert_file);
        else
            vg__set_err(err, errlen, "tls: key_file \"%s\" is not a usable PEM private key: %s",
                    cfg->key_file, vg__ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        vg__set_err(err, errlen, "tls: key_file \"%s\" does not match cert_file \"%s\"", cfg->key_file,
                cfg->cert_file);
        goto fail;
    }
    if (cfg->client_ca_file && *cfg->client_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1) {
            vg__set_err(err, errlen, "tls: client_ca_file \"%s\" has no usable PEM certificate: %s",
                    cfg->client_ca_file, vg__ssl_reason(why, sizeof why));
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ERR_clear_error();
    *out = ctx;
    return 0;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}
