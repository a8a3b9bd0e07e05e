#include "net/endpoint.h"

#include "error.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return VG_EINVAL;
}

/* Port text: one to five digits, 0..65535. */
static int parse_port(const char *text, const char *s, int *port, char *err, size_t errlen)
{
    if (*s == '\0') return fail(err, errlen, "endpoint \"%s\": missing port", text);
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return fail(err, errlen, "endpoint \"%s\": invalid port \"%s\"", text, s);
        if (v <= 65535) v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return fail(err, errlen, "endpoint \"%s\": port %s out of range 0..65535", text, s);
    *port = (int)v;
    return 0;
}

static int host_chars_ok(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '[' || c == ']' || c == '@') return 0;
    }
    return 1;
}

static int parse_unix(vg_endpoint_t *ep, const char *path, char *err, size_t errlen)
{
    size_t n = strlen(path);
    if (n == 0) return fail(err, errlen, "unix socket path is empty");
    if (n >= VG_EP_PATH_MAX)
        return fail(err, errlen, "unix socket path \"%.40s...\" too long (max %d bytes)", path,
                    VG_EP_PATH_MAX - 1);
    ep->kind = VG_EP_UNIX;
    memcpy(ep->path, path, n + 1);
    return 0;
}

int vg_endpoint_parse(vg_endpoint_t *ep, const char *transport, const char *text,
                      char *err, size_t errlen)
{
    if (!ep || !text) return fail(err, errlen, "endpoint is missing");
    memset(ep, 0, sizeof *ep);
    ep->family = AF_UNSPEC;

    if (transport && strcmp(transport, "unix") == 0) return parse_unix(ep, text, err, errlen);
    if (transport && *transport && strcmp(transport, "tcp") != 0) {
        if (strcmp(transport, "tcp4") == 0) ep->family = AF_INET;
        else if (strcmp(transport, "tcp6") == 0) ep->family = AF_INET6;
        else return fail(err, errlen, "unsupported transport \"%s\" (tcp, tcp4, tcp6, unix)", transport);
    }
    if (strncmp(text, "unix:", 5) == 0 && ep->family == AF_UNSPEC) return parse_unix(ep, text + 5, err, errlen);

    if (*text == '\0') return fail(err, errlen, "endpoint is empty (expected host:port)");
    if (strstr(text, "://"))
        return fail(err, errlen, "endpoint \"%s\": expected host:port without a scheme", text);

    const char *host, *port_s;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close) return fail(err, errlen, "endpoint \"%s\": unbalanced brackets", text);
        host = text + 1;
        hlen = (size_t)(close - host);
        if (memchr(host, '[', hlen) || strchr(close + 1, '[') || strchr(close + 1, ']'))
            return fail(err, errlen, "endpoint \"%s\": unbalanced brackets", text);
        if (hlen == 0) return fail(err, errlen, "endpoint \"%s\": empty address in brackets", text);
        if (!memchr(host, ':', hlen))
            return fail(err, errlen, "endpoint \"%s\": brackets are only for IPv6 addresses", text);
        if (close[1] == '\0') return fail(err, errlen, "endpoint \"%s\": missing port", text);
        if (close[1] != ':')
            return fail(err, errlen, "endpoint \"%s\": expected ':' after ']'", text);
        port_s = close + 2;
    } else {
        if (strchr(text, ']')) return fail(err, errlen, "endpoint \"%s\": unbalanced brackets", text);
        const char *colon = strrchr(text, ':');
        if (!colon) return fail(err, errlen, "endpoint \"%s\": missing port (expected host:port)", text);
        if (memchr(text, ':', (size_t)(colon - text)))
            return fail(err, errlen,
                        "endpoint \"%s\": an IPv6 address needs brackets, e.g. [::1]:4317", text);
        host = text;
        hlen = (size_t)(colon - text);
        port_s = colon + 1;
    }
    if (hlen >= VG_EP_HOST_MAX) return fail(err, errlen, "endpoint: host name too long");
    if (!host_chars_ok(host, hlen))
        return fail(err, errlen, "endpoint \"%s\": invalid character in host", text);
    int rc = parse_port(text, port_s, &ep->port, err, errlen);
    if (rc) return rc;
    ep->kind = VG_EP_TCP;
    memcpy(ep->host, host, hlen);
    ep->host[hlen] = '\0';
    return 0;
}

int vg_endpoint_format(const vg_endpoint_t *ep, char *buf, size_t len)
{
    if (ep->kind == VG_EP_UNIX) return snprintf(buf, len, "unix:%s", ep->path);
    if (strchr(ep->host, ':')) return snprintf(buf, len, "[%s]:%d", ep->host, ep->port);
    return snprintf(buf, len, "%s:%d", ep->host, ep->port);
}

int vg_endpoint_resolve(const vg_endpoint_t *ep, struct sockaddr_storage *out, int max,
                        int *count, char *err, size_t errlen)
{
    if (!ep || ep->kind != VG_EP_TCP || !out || max < 1 || !count)
        return fail(err, errlen, "resolve: not a TCP endpoint");
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = ep->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%d", ep->port);
    const char *node = ep->host[0] ? ep->host : NULL;
    int g = getaddrinfo(node, port, &hints, &res);
    if (g != 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot resolve \"%s\": %s", node ? node : "*", gai_strerror(g));
        return VG_ENOTFOUND;
    }
    /* Two passes: preferred family first. Wildcard: IPv6 (dual-stack) first. */
    int first = node ? AF_INET : AF_INET6;
    int n = 0;
    for (int pass = 0; pass < 2 && n < max; pass++) {
        for (struct addrinfo *a = res; a && n < max; a = a->ai_next) {
            if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
            if ((pass == 0) != (a->ai_family == first)) continue;
            if (a->ai_addrlen > sizeof out[0]) continue;
            int dup = 0;
            for (int i = 0; i < n; i++)
                if (memcmp(&out[i], a->ai_addr, a->ai_addrlen) == 0) dup = 1;
            if (dup) continue;
            memset(&out[n], 0, sizeof out[n]);
            memcpy(&out[n], a->ai_addr, a->ai_addrlen);
            n++;
        }
    }
    freeaddrinfo(res);
    if (n == 0) {
        if (err && errlen) snprintf(err, errlen, "cannot resolve \"%s\": no usable address", node ? node : "*");
        return VG_ENOTFOUND;
    }
    *count = n;
    return 0;
}
