/* file exporter: OTLP/JSON lines (one export request per line), the format the
 * otlpjsonfile receiver reads back, with optional zstd compression and rotation
 * by size with a bounded number of backups.
 *
 * Each batch is written to the file with write(2) before consume() returns, so
 * a failure (disk full, I/O error) is reported to the pipeline as a retryable
 * error instead of being found later at a flush: the file is truncated back to
 * where the batch started and the batch processor / receiver push back. With
 * zstd each batch is one zstd frame (concatenated frames are a valid stream and
 * a follower can decode every batch as soon as it is written). */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp_json.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

typedef struct {
    int64_t max_megabytes;
    int64_t max_backups;
    bool localtime;
} rotation_cfg_t;

typedef struct {
    char *path;
    int format;      /* 0 json */
    int compression; /* 0 none, 1 zstd */
    int64_t flush_interval;
    bool append;
    bool rotation_set;
    rotation_cfg_t rotation;
} file_cfg_t;

static const char *const formats[] = { "json", NULL };
static const char *const compressions[] = { "none", "zstd", NULL };

static const vg_option_t rotation_opts[] = {
    { .name = "max_megabytes", .type = VG_OPT_INT, .offset = offsetof(rotation_cfg_t, max_megabytes), .def = "100",
      .min = "1", .doc = "Size in MiB (before compression) at which the file is rotated." },
    { .name = "max_backups", .type = VG_OPT_INT, .offset = offsetof(rotation_cfg_t, max_backups), .def = "100",
      .min = "0", .doc = "Rotated files to keep; the oldest beyond this are deleted. 0 keeps all." },
    { .name = "localtime", .type = VG_OPT_BOOL, .offset = offsetof(rotation_cfg_t, localtime), .def = "false",
      .doc = "Use local time instead of UTC in the names of rotated files." },
    { 0 },
};

static const vg_option_t file_opts[] = {
    { .name = "path", .type = VG_OPT_STRING, .offset = offsetof(file_cfg_t, path), .flags = VG_OPT_REQUIRED,
      .doc = "File to write. Its folder must exist." },
    { .name = "format", .type = VG_OPT_ENUM, .offset = offsetof(file_cfg_t, format), .def = "json",
      .values = formats, .doc = "json: one OTLP/JSON export request per line. (The Collector's proto format is not "
                                "supported.)" },
    { .name = "compression", .type = VG_OPT_ENUM, .offset = offsetof(file_cfg_t, compression), .def = "none",
      .values = compressions, .doc = "zstd compresses the stream; otlpjsonfile reads it back." },
    { .name = "flush_interval", .type = VG_OPT_DURATION, .offset = offsetof(file_cfg_t, flush_interval),
      .def = "1s", .min = "1ms",
      .doc = "Accepted for compatibility with the Collector. Vigil does not buffer: each batch is written to the "
             "file before it is acknowledged." },
    { .name = "append", .type = VG_OPT_BOOL, .offset = offsetof(file_cfg_t, append), .def = "false",
      .doc = "Append to an existing file instead of truncating it at start." },
    { .name = "rotation", .type = VG_OPT_TABLE, .offset = offsetof(file_cfg_t, rotation), .sub = rotation_opts,
      .present = VG_OPT_PRESENT(file_cfg_t, rotation_set),
      .doc = "Rotation by size; only when this section is given." },
    { 0 },
};

static int file_validate(const void *cfgp, const char *path, vg_errs_t *errs)
{
    const file_cfg_t *cfg = cfgp;
    if (!cfg->path || !*cfg->path) {
        char p[512];
        snprintf(p, sizeof p, "%s.path", path);
        vg_errs_add(errs, NULL, p, "must not be empty");
        return VG_ECONFIG;
    }
    return 0;
}

typedef struct {
    vg_component_t *c;
    int fd;
    ZSTD_CCtx *z;
    uint64_t written; /* uncompressed bytes in the current file */
    bool closing;
    char *zbuf;
    size_t zcap;
} file_state_t;

/* Writes all of buf, or fails (errno set). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return VG_EIO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One zstd frame holding `len` bytes, into st->zbuf (grown as needed). */
static int zframe(file_state_t *st, const char *data, size_t len, size_t *outlen)
{
    size_t bound = ZSTD_compressBound(len);
    if (bound > st->zcap) {
        char *nb = vg_realloc(st->zbuf, bound);
        if (!nb) return VG_ENOMEM;
        st->zbuf = nb;
        st->zcap = bound;
    }
    size_t n = ZSTD_compress2(st->z, st->zbuf, st->zcap, data, len);
    if (ZSTD_isError(n)) return VG_EIO;
    *outlen = n;
    return 0;
}

static int open_file(file_state_t *st, bool append)
{
    const file_cfg_t *cfg = st->c->cfg;
    st->fd = open(cfg->path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
    if (st->fd < 0) {
        VG_ERROR(st->c->id, "cannot open %s: %s", cfg->path, strerror(errno));
        return VG_EIO;
    }
    struct stat sb;
    st->written = (append && fstat(st->fd, &sb) == 0) ? (uint64_t)sb.st_size : 0;
    if (cfg->compression == 1 && !st->z) {
        if (!(st->z = ZSTD_createCCtx())) return VG_ENOMEM;
        ZSTD_CCtx_setParameter(st->z, ZSTD_c_compressionLevel, 3);
    }
    return 0;
}

static int close_file(file_state_t *st)
{
    if (st->fd < 0) return 0;
    int rc = close(st->fd) ? VG_EIO : 0;
    st->fd = -1;
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void rotate(file_state_t *st)
{
    const file_cfg_t *cfg = st->c->cfg;
    close_file(st);
    /* path "dir/name.ext" -> "dir/name-20261129T024324.123.ext" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    if (cfg->rotation.localtime) localtime_r(&ts.tv_sec, &tm);
    else gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    const char *slash = strrchr(cfg->path, '/');
    const char *dot = strrchr(slash ? slash + 1 : cfg->path, '.');
    size_t stem = dot ? (size_t)(dot - cfg->path) : strlen(cfg->path);
    char dst[4096];
    snprintf(dst, sizeof dst, "%.*s-%s.%03ld%s", (int)stem, cfg->path, stamp, ts.tv_nsec / 1000000, dot ? dot : "");
    if (rename(cfg->path, dst)) VG_ERROR(st->c->id, "rotate %s: %s", cfg->path, strerror(errno));
    if (cfg->rotation.max_backups > 0) {
        char pat[4200];
        snprintf(pat, sizeof pat, "%.*s-[0-9]*T[0-9]*%s", (int)stem, cfg->path, dot ? dot : "");
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0) {
            qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str); /* names sort by time */
            for (size_t i = 0; i + (size_t)cfg->rotation.max_backups < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
        }
        globfree(&g);
    }
    open_file(st, false);
}

static int file_create(vg_component_t *c)
{
    file_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    st->fd = -1;
    c->state = st;
    return 0;
}

static int file_start(vg_component_t *c)
{
    file_state_t *st = c->state;
    const file_cfg_t *cfg = c->cfg;
    return open_file(st, cfg->append);
}

static int file_consume(vg_component_t *c, vg_batch_t *b)
{
    file_state_t *st = c->state;
    const file_cfg_t *cfg = c->cfg;
    vg_signal_t s = b->signal;
    size_t items = b->items;
    if (st->fd < 0 || st->closing) {
        c->stats.send_failed[s] += items;
        vg_batch_unref(b);
        return st->closing ? VG_ESHUTDOWN : VG_EIO;
    }
    char *line = NULL;
    size_t len = 0;
    ProtobufCMessage *m = vg_batch_req(b);
    int rc = m ? vg_otlp_json_encode(s, m, &line, &len) : vg_batch_err(b);
    vg_batch_unref(b);
    if (rc) {
        c->stats.send_failed[s] += items;
        VG_ERROR(c->id, "cannot encode %zu %s: %s", items, vg_signal_items(s), vg_strerror(rc));
        return rc;
    }
    line[len] = '\n';
    const char *out = line;
    size_t outlen = len + 1;
    if (st->z && (rc = zframe(st, line, len + 1, &outlen)) == 0) out = st->zbuf;
    off_t at = lseek(st->fd, 0, SEEK_END);
    if (rc == 0 && write_all(st->fd, out, outlen)) {
        int e = errno;
        /* Take back a partial write so the file stays a sequence of whole lines / frames. */
        if (at >= 0 && ftruncate(st->fd, at) != 0) VG_ERROR(c->id, "truncate after a failed write: %s", strerror(errno));
        VG_ERROR(c->id, "write to %s failed: %s; the pipeline is told to retry", cfg->path, strerror(e));
        rc = VG_EIO;
    }
    vg_free(line);
    if (rc) {
        c->stats.send_failed[s] += items;
        return rc == VG_ENOMEM ? rc : VG_EIO;
    }
    st->written += len + 1;
    c->stats.sent[s] += items;
    if (cfg->rotation_set && st->written >= (uint64_t)cfg->rotation.max_megabytes * 1048576u) rotate(st);
    return 0;
}

static void file_shutdown(vg_component_t *c)
{
    file_state_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (close_file(st)) VG_ERROR(c->id, "closing %s failed: data may be incomplete", ((file_cfg_t *)c->cfg)->path);
}

static void file_destroy(vg_component_t *c)
{
    file_state_t *st = c->state;
    if (!st) return;
    close_file(st);
    ZSTD_freeCCtx(st->z);
    vg_free(st->zbuf);
    vg_free(st);
}

const vg_factory_t vg_file_exporter_factory = {
    .type = "file",
    .kind = VG_KIND_EXPORTER,
    .description = "Writes OTLP/JSON lines (one export request per line) to a file, optionally zstd-compressed and "
                   "rotated by size. The otlpjsonfile receiver reads the output back.",
    .signals = VG_SIGBITS_ALL,
    .options = file_opts,
    .config_size = sizeof(file_cfg_t),
    .validate = file_validate,
    .create = file_create,
    .start = file_start,
    .consume = file_consume,
    .shutdown = file_shutdown,
    .destroy = file_destroy,
};
