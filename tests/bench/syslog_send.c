/* Syslog load generator for tests/bench/syslog.sh: RFC 5424 lines of about
 * 200 bytes, pre-built into one buffer and written as fast as the socket
 * takes them.
 *   syslog_send tcp HOST PORT COUNT            newline framing, one connection
 *   syslog_send udp HOST PORT COUNT [RATE]     one message per datagram
 *                                              (sendmmsg, 64 at a time), RATE
 *                                              messages/s at most (0 = flat out)
 * Prints: sent=N seconds=S rate=R */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NMSG 4096

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s tcp|udp HOST PORT COUNT [RATE]\n", argv[0]);
        return 2;
    }
    int udp = strcmp(argv[1], "udp") == 0;
    long long count = atoll(argv[4]);
    double rate = argc > 5 ? atof(argv[5]) : 0;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[2]);
        return 2;
    }
    /* Messages: same shape, different sequence numbers and process ids. */
    static char buf[NMSG * 256];
    static size_t off[NMSG + 1];
    size_t o = 0;
    for (int i = 0; i < NMSG; i++) {
        off[i] = o;
        o += (size_t)snprintf(buf + o, sizeof buf - o,
                              "<165>1 2026-11-29T03:40:40.%06dZ web-01.prod.example.com nginx %d ID47 - "
                              "GET /api/v1/orders/%08d HTTP/1.1 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" "
                              "rt=0.004 upstream=10.0.3.17:8080 seq=%d\n",
                              i * 37 % 1000000, 1000 + i % 50, i * 7919 % 100000000, i);
    }
    off[NMSG] = o;
    int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    long long sent = 0;
    double t0 = now();
    if (!udp) {
        while (sent < count) {
            long long left = count - sent;
            int k = left >= NMSG ? NMSG : (int)left;
            size_t len = off[k], done = 0;
            while (done < len) {
                ssize_t w = write(fd, buf + done, len - done);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    perror("write");
                    return 1;
                }
                done += (size_t)w;
            }
            sent += k;
        }
        shutdown(fd, SHUT_WR);
        char tmp[256];
        while (read(fd, tmp, sizeof tmp) > 0) {}
    } else {
        struct mmsghdr mm[64];
        struct iovec iov[64];
        int next = 0;
        while (sent < count) {
            int k = 0;
            for (; k < 64 && sent + k < count; k++) {
                int i = (next + k) % NMSG;
                iov[k].iov_base = buf + off[i];
                iov[k].iov_len = off[i + 1] - off[i] - 1; /* no newline in datagrams */
                memset(&mm[k], 0, sizeof mm[k]);
                mm[k].msg_hdr.msg_iov = &iov[k];
                mm[k].msg_hdr.msg_iovlen = 1;
            }
            int r = sendmmsg(fd, mm, (unsigned)k, 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == ECONNREFUSED) continue;
                perror("sendmmsg");
                return 1;
            }
            sent += r;
            next = (next + r) % NMSG;
            if (rate > 0) {
                double ahead = sent / rate - (now() - t0);
                if (ahead > 0.0005) {
                    struct timespec ts = { 0, (long)(ahead * 1e9) };
                    nanosleep(&ts, NULL);
                }
            }
        }
    }
    double t = now() - t0;
    printf("sent=%lld seconds=%.3f rate=%.0f\n", sent, t, sent / t);
    close(fd);
    return 0;
}
