/* Network endpoints: what a listener binds to.
 *
 * Accepted text (transport "tcp", "tcp4", "tcp6" or NULL):
 *   host:port        "localhost:4318", "10.0.0.1:4317"
 *   [v6addr]:port    "[::1]:4317", "[::]:4317"
 *   :port            all interfaces (dual-stack "::" where IPv6 exists, else 0.0.0.0)
 *   unix:/path       a unix stream socket, same as transport "unix" with "/path"
 * With transport "unix" the text is the socket path itself.
 * Port 0 asks the kernel for a free port (tests); vg_listener_port() tells which.
 *
 * Parsing never touches the network; names are resolved by vg_endpoint_resolve(),
 * a blocking getaddrinfo meant for start time (listening happens at start). */
#ifndef VIGIL_NET_ENDPOINT_H
#define VIGIL_NET_ENDPOINT_H

#include <stddef.h>
#include <sys/socket.h>

typedef enum { VG_EP_TCP = 0, VG_EP_UNIX = 1 } vg_ep_kind_t;

#define VG_EP_HOST_MAX 256
#define VG_EP_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) on Linux */

typedef struct {
    vg_ep_kind_t kind;
    int family;                 /* AF_UNSPEC, or AF_INET / AF_INET6 for tcp4 / tcp6 */
    char host[VG_EP_HOST_MAX];  /* TCP: without brackets; "" means all interfaces */
    int port;                   /* TCP: 0..65535 */
    char path[VG_EP_PATH_MAX];  /* UNIX: socket path, NUL-terminated */
} vg_endpoint_t;

/* Parses `text` for `transport` into *ep. Returns 0, or VG_EINVAL with a
 * human-readable reason in err (e.g. "endpoint \"localhost\": missing port";
 * "port 70000 out of range 0..65535"; "unbalanced brackets"). err may be NULL. */
int vg_endpoint_parse(vg_endpoint_t *ep, const char *transport, const char *text,
                      char *err, size_t errlen);

/* Writes the canonical text form ("localhost:4318", "[::1]:4317", ":4317",
 * "unix:/run/x.sock") into buf. Returns the length it needed (snprintf rules). */
int vg_endpoint_format(const vg_endpoint_t *ep, char *buf, size_t len);

/* Resolves a TCP endpoint (blocking getaddrinfo) into at most `max` socket
 * addresses, preferred first: for "" the IPv6 wildcard then the IPv4 one; for
 * names IPv4 before IPv6. Returns 0 and sets *count >= 1, or VG_ENOTFOUND /
 * VG_EINVAL with the resolver's message in err. */
int vg_endpoint_resolve(const vg_endpoint_t *ep, struct sockaddr_storage *out, int max,
                        int *count, char *err, size_t errlen);

#endif
