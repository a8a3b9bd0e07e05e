/* Micro benchmark: syslog parser and framer throughput on one core.
 * Built and run by tests/bench/syslog_parse.sh. Prints messages/s for:
 *   rfc5424     ~200-byte RFC 5424 lines with structured data, parse only
 *   rfc3164     ~150-byte BSD lines, year and zone resolved in America/New_York
 *   frame+5424  the same RFC 5424 lines as one LF-framed TCP stream, fed in
 *               64 KiB reads, each frame parsed (what a receiver does)
 * Usage: bench_syslog_parse [seconds per case, default 2] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receivers/syslog/syslog_frame.h"
#include "receivers/syslog/syslog_parse.h"

#define NLINES 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    char *buf;
    size_t off[NLINES + 1];
} lines_t;

static void gen5424(lines_t *l)
{
    static const char *apps[] = {"nginx", "sshd", "kubelet", "containerd", "postgres", "envoy"};
    size_t cap = NLINES * 320, o = 0;
    l->buf = malloc(cap);
    for (int i = 0; i < NLINES; i++) {
        l->off[i] = o;
        o += (size_t)snprintf(l->buf + o, cap - o,
                              "<%d>1 2025-06-15T12:%02d:%02d.%06d+02:00 web-frontend-%02d.example.com %s %d ID%d "
                              "[meta@32473 reqid=\"%08x\" status=\"%d\"] GET /api/v1/items?page=%d HTTP/1.1 200 %d "
                              "\"-\" \"curl/8.1.2\"",
                              (i * 7) % 192, i % 60, (i * 13) % 60, (i * 7919) % 1000000, i % 100, apps[i % 6],
                              1000 + i, i % 50, (unsigned)(i * 2654435761u), 200 + i % 5, i % 100, 1000 + i);
    }
    l->off[NLINES] = o;
}

static void gen3164(lines_t *l)
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun"};
    size_t cap = NLINES * 256, o = 0;
    l->buf = malloc(cap);
    for (int i = 0; i < NLINES; i++) {
        l->off[i] = o;
        o += (size_t)snprintf(l->buf + o, cap - o,
                              "<%d>%s %2d %02d:%02d:%02d node-%03d sshd[%d]: Accepted publickey for user%d from "
                              "10.%d.%d.%d port %d ssh2: ED25519 SHA256:abcdefghijklmnop",
                              (i * 7) % 192, mon[i % 6], 1 + i % 28, i % 24, i % 60, (i * 7) % 60, i % 1000, 2000 + i,
                              i % 90, i % 256, (i / 7) % 256, (i * 3) % 256, 1024 + i);
    }
    l->off[NLINES] = o;
}

static double bench_parse(const char *name, const lines_t *l, const vg_syslog_parse_opts_t *o, double secs)
{
    vg_syslog_msg_t m;
    uint64_t n = 0, sink = 0, bytes = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 16; k++)
            for (int i = 0; i < NLINES; i++) {
                size_t len = l->off[i + 1] - l->off[i];
                if (vg_syslog_parse(l->buf + l->off[i], len, o, &m) != 0) {
                    fprintf(stderr, "%s: parse error %s in line %d\n", name, m.error, i);
                    exit(1);
                }
                sink += m.message.len + m.sd_count + (uint64_t)m.time_unix_nano;
                bytes += len;
            }
        n += 16 * NLINES;
        t = now_s() - t0;
    } while (t < secs);
    printf("%-11s %10.0f messages/s  %6.1f MB/s  avg %3.0f bytes  (sink %llu)\n", name, (double)n / t,
           (double)bytes / t / 1e6, (double)bytes / (double)n, (unsigned long long)(sink & 0xff));
    return (double)n / t;
}

typedef struct {
    const vg_syslog_parse_opts_t *o;
    uint64_t n, sink;
} fctx_t;

static int on_frame(void *ud, const vg_syslog_frame_t *f)
{
    fctx_t *c = ud;
    vg_syslog_msg_t m;
    if (f->status == 0 && vg_syslog_parse(f->data, f->len, c->o, &m) == 0) c->sink += m.message.len;
    c->n++;
    return 0;
}

static void bench_frame(const lines_t *l, const vg_syslog_parse_opts_t *o, double secs)
{
    size_t total = l->off[NLINES] + NLINES;
    char *stream = malloc(total);
    size_t s = 0;
    for (int i = 0; i < NLINES; i++) {
        size_t len = l->off[i + 1] - l->off[i];
        memcpy(stream + s, l->buf + l->off[i], len);
        s += len;
        stream[s++] = '\n';
    }
    vg_syslog_framer_opts_t fo = {.non_transparent = true, .trailer = VG_SYSLOG_TRAILER_LF};
    vg_syslog_framer_t *fr;
    if (vg_syslog_framer_new(&fo, &fr) != 0) exit(1);
    fctx_t c = {.o = o};
    double t0 = now_s(), t;
    do {
        for (size_t off = 0; off < s; off += 65536) {
            size_t n = s - off < 65536 ? s - off : 65536;
            vg_syslog_framer_feed(fr, stream + off, n, on_frame, &c);
        }
        t = now_s() - t0;
    } while (t < secs);
    printf("%-11s %10.0f messages/s  %6.1f MB/s  (sink %llu)\n", "frame+5424", (double)c.n / t,
           (double)c.n * (double)s / NLINES / t / 1e6, (unsigned long long)(c.sink & 0xff));
    vg_syslog_framer_free(fr);
    free(stream);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    lines_t l5, l3;
    gen5424(&l5);
    gen3164(&l3);
    vg_syslog_tz_t *ny;
    if (vg_syslog_tz_load("America/New_York", NULL, &ny) != 0) {
        fprintf(stderr, "cannot load America/New_York\n");
        return 1;
    }
    vg_syslog_parse_opts_t o5 = {.protocol = VG_SYSLOG_RFC5424};
    vg_syslog_parse_opts_t o3 = {.protocol = VG_SYSLOG_RFC3164, .location = ny, .now_ns = 1749988800000000000LL};
    bench_parse("rfc5424", &l5, &o5, secs);
    bench_parse("rfc3164", &l3, &o3, secs);
    bench_frame(&l5, &o5, secs);
    vg_syslog_tz_free(ny);
    free(l5.buf);
    free(l3.buf);
    return 0;
}
