/* file exporter: OTLP/JSON lines (one export request per line), the format the
 * otlpjsonfile receiver reads back. Optional zstd compression (a stream that is
 * flushed every flush_interval, so a follower can decode what is written) and
 * rotation by size with a bounded number of backups. Writes are buffered and
 * flushed on the interval and at shutdown. */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp_json.h"

#include <errno.h>
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
      .def = "1s", .min = "1ms", .doc = "How often buffered data is flushed to the file." },
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
    FILE *f;
    ZSTD_CCtx *z;
    uint64_t written; /* uncompressed bytes in the current file */
    uv_timer_t timer;
    bool timer_open, closing;
    char *zbuf;
    size_t zcap;
} file_state_t;

static int zwrite(file_state_t *st, const void *data, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = { data, len, 0 };
    for (;;) {
        ZSTD_outBuffer out = { st->zbuf, st->zcap, 0 };
        size_t rem = ZSTD_compressStream2(st->z, &out, &in, mode);
        if (ZSTD_isError(rem)) return VG_EIO;
        if (out.pos && fwrite(st->zbuf, 1, out.pos, st->f) != out.pos) return VG_EIO;
        if (mode == ZSTD_e_continue ? in.pos == in.size : rem == 0) return 0;
    }
}

static int open_file(file_state_t *st, bool append)
{
    const file_cfg_t *cfg = st->c->cfg;
    st->f = fopen(cfg->path, append ? "ab" : "wb");
    if (!st->f) {
        VG_ERROR(st->c->id, "cannot open %s: %s", cfg->path, strerror(errno));
        return VG_EIO;
    }
    struct stat sb;
    st->written = (append && fstat(fileno(st->f), &sb) == 0) ? (uint64_t)sb.st_size : 0;
    if (cfg->compression == 1) {
        if (!st->z && !(st->z = ZSTD_createCCtx())) return VG_ENOMEM;
        ZSTD_CCtx_reset(st->z, ZSTD_reset_session_only);
        ZSTD_CCtx_setParameter(st->z, ZSTD_c_compressionLevel, 3);
    }
    return 0;
}

static int close_file(file_state_t *st)
{
    int rc = 0;
    if (!st->f) return 0;
    if (st->z && zwrite(st, "", 0, ZSTD_e_end)) rc = VG_EIO;
    if (fclose(st->f)) rc = VG_EIO;
    st->f = NULL;
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

static void flush(file_state_t *st)
{
    if (!st->f) return;
    if (st->z) zwrite(st, "", 0, ZSTD_e_flush);
    if (fflush(st->f)) VG_ERROR(st->c->id, "flush: %s", strerror(errno));
}

static void on_flush(uv_timer_t *t) { flush(t->data); }

static int file_create(vg_component_t *c)
{
    file_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    st->zcap = ZSTD_CStreamOutSize();
    st->zbuf = vg_malloc(st->zcap);
    if (!st->zbuf) { vg_free(st); return VG_ENOMEM; }
    c->state = st;
    return 0;
}

static int file_start(vg_component_t *c)
{
    file_state_t *st = c->state;
    const file_cfg_t *cfg = c->cfg;
    int rc = open_file(st, cfg->append);
    if (rc) return rc;
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    st->timer_open = true;
    uint64_t ms = (uint64_t)(cfg->flush_interval / 1000000);
    uv_timer_start(&st->timer, on_flush, ms ? ms : 1, ms ? ms : 1);
    return 0;
}

static int file_consume(vg_component_t *c, vg_batch_t *b)
{
    file_state_t *st = c->state;
    const file_cfg_t *cfg = c->cfg;
    vg_signal_t s = b->signal;
    size_t items = b->items;
    if (!st->f) { c->stats.send_failed[s] += items; vg_batch_unref(b); return VG_EIO; }
    char *line = NULL;
    size_t len = 0;
    int rc = vg_otlp_json_encode(s, b->req, &line, &len);
    vg_batch_unref(b);
    if (rc) {
        c->stats.send_failed[s] += items;
        VG_ERROR(c->id, "cannot encode %zu %s: %s", items, vg_signal_items(s), vg_strerror(rc));
        return rc;
    }
    line[len] = '\n';
    if (st->z) rc = zwrite(st, line, len + 1, ZSTD_e_continue);
    else rc = fwrite(line, 1, len + 1, st->f) == len + 1 ? 0 : VG_EIO;
    vg_free(line);
    if (rc) {
        c->stats.send_failed[s] += items;
        VG_ERROR(c->id, "write to %s failed: %s", cfg->path, strerror(errno));
        return VG_EIO;
    }
    st->written += len + 1;
    c->stats.sent[s] += items;
    if (cfg->rotation_set && st->written >= (uint64_t)cfg->rotation.max_megabytes * 1048576u) rotate(st);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    file_state_t *st = h->data;
    st->timer_open = false;
}

static void file_shutdown(vg_component_t *c)
{
    file_state_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (close_file(st)) VG_ERROR(c->id, "closing %s failed: data may be incomplete", ((file_cfg_t *)c->cfg)->path);
    if (st->timer_open) uv_close((uv_handle_t *)&st->timer, timer_closed);
}

static bool file_busy(vg_component_t *c)
{
    file_state_t *st = c->state;
    return st->timer_open;
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
    .busy = file_busy,
    .destroy = file_destroy,
};
