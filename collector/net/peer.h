/* Who is on the other end of a stream connection, recorded once at accept.
 *
 * family  0 when unknown, AF_INET / AF_INET6 for TCP (IPv4-mapped IPv6 peers of a
 *         dual-stack listener are reported as AF_INET with the dotted address),
 *         AF_UNIX for unix stream sockets.
 * addr    numeric address text for TCP ("127.0.0.1", "::1"); "" for unix sockets.
 * port    TCP source port; 0 for unix sockets.
 * pid/uid/gid  from SO_PEERCRED for unix sockets; -1 for TCP or when unavailable. */
#ifndef VIGIL_NET_PEER_H
#define VIGIL_NET_PEER_H

typedef struct {
    int family;
    char addr[46];
    int port;
    int pid;
    int uid;
    int gid;
} vg_peer_t;

#endif
