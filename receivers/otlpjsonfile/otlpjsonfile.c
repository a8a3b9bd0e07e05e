/* otlpjsonfile receiver: reads OTLP/JSON lines (one export request per line, any
 * of the three signals) from files matched by `include` globs, and follows them
 * as lines are appended. zstd-compressed files (as the file exporter writes
 * them) are recognised by their magic number and decompressed as they grow.
 *
 * Back-pressure: when the pipeline refuses a line (retryable), the file's
 * offset stays before that line and it is offered again at the next poll:
 * nothing is skipped. A line that is not valid OTLP/JSON is logged, counted as
 * rejected and skipped. Files are tracked by device and inode; a file that
 * shrinks was truncated and is read again from the start. */
#include "component.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "otlp_json.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

typedef struct {
    vg_strlist_t include, exclude;
    int start_at; /* 0 end, 1 beginning */
    int64_t poll_interval;
    uint64_t max_log_size;
    int64_t max_files;
} ojf_cfg_t;

static const char *const start_ats[] = { "end", "beginning", NULL };

static const vg_option_t ojf_opts[] = {
    { .name = "include", .type = VG_OPT_LIST, .offset = offsetof(ojf_cfg_t, include), .flags = VG_OPT_REQUIRED,
      .doc = "Glob patterns of files to read." },
    { .name = "exclude", .type = VG_OPT_LIST, .offset = offsetof(ojf_cfg_t, exclude),
      .doc = "Glob patterns of files to leave out." },
    { .name = "start_at", .type = VG_OPT_ENUM, .offset = offsetof(ojf_cfg_t, start_at), .def = "end",
      .values = start_ats,
      .doc = "Where to start in files that exist when the receiver starts: end reads only new lines, beginning "
             "replays them. Files that appear later are always read from the beginning." },
    { .name = "poll_interval", .type = VG_OPT_DURATION, .offset = offsetof(ojf_cfg_t, poll_interval),
      .def = "200ms", .min = "1ms", .doc = "How often files are checked for new lines and new matches." },
    { .name = "max_log_size", .type = VG_OPT_SIZE, .offset = offsetof(ojf_cfg_t, max_log_size), .def = "16MiB",
      .min = "1KiB", .max = "1GiB",
      .doc = "Longest line accepted; a longer one is skipped with an error (memory stays bounded)." },
    { .name = "max_files", .type = VG_OPT_INT, .offset = offsetof(ojf_cfg_t, max_files), .def = "1024", .min = "1",
      .doc = "Most files followed at once (Vigil-specific bound)." },
    { 0 },
};

typedef struct tracked {
    dev_t dev;
    ino_t ino;
    char *path;
    off_t offset;        /* bytes of the file consumed (compressed bytes for zstd) */
    bool seen;           /* matched in the latest poll */
    int compressed;      /* -1 unknown, 0 plain, 1 zstd */
    ZSTD_DCtx *z;
    char *line;          /* decoded bytes not yet forming a full line */
    size_t llen, lcap;
    bool skipping;       /* inside an over-long line */
    char *held;          /* decoded bytes to feed again (starting with a line the
                          * pipeline refused); only when line is empty */
    size_t heldlen;
} tracked_t;

typedef struct {
    vg_component_t *c;
    uv_timer_t timer;
    bool timer_open, closing, first_poll;
    tracked_t *files;
    size_t nfiles, capfiles;
    char *buf;
    size_t bufcap;
} ojf_state_t;

static void tracked_free(tracked_t *t)
{
    vg_free(t->path);
    vg_free(t->line);
    vg_free(t->held);
    ZSTD_freeDCtx(t->z);
}

static const char *detect(const char *line, size_t len, vg_signal_t *sig)
{
    static const char *keys[] = { "\"resourceSpans\"", "\"resourceMetrics\"", "\"resourceLogs\"",
                                  "\"resource_spans\"", "\"resource_metrics\"", "\"resource_logs\"" };
    const char *best = NULL;
    for (int i = 0; i < 6; i++) {
        const char *p = memmem(line, len, keys[i], strlen(keys[i]));
        if (p && (!best || p < best)) { best = p; *sig = (vg_signal_t)(i % 3); }
    }
    return best;
}

/* Offers one line to the pipeline. Returns 0 when the line is done with
 * (accepted, or rejected for good), a retryable error when it must be kept. */
static int offer_line(ojf_state_t *st, tracked_t *t, const char *line, size_t len)
{
    vg_component_t *c = st->c;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return 0; /* blank line */
    vg_signal_t sig = VG_SIG_LOGS;
    if (!detect(line, len, &sig)) {
        if (memmem(line, len, "{}", 2) && len - i == 2) return 0; /* an empty request */
        VG_WARN(c->id, "%s: line is not an OTLP/JSON export request (no resourceSpans, resourceMetrics or "
                       "resourceLogs); skipped", t->path);
        c->stats.rejected[VG_SIG_LOGS]++;
        return 0;
    }
    vg_arena_t *a = vg_arena_new();
    if (!a) return VG_ENOMEM;
    ProtobufCMessage *req;
    char err[256];
    int rc = vg_otlp_json_decode(sig, line, len, a, &req, err, sizeof err);
    if (rc) {
        vg_arena_destroy(a);
        if (rc == VG_ENOMEM) return rc;
        VG_WARN(c->id, "%s: invalid OTLP/JSON %s line skipped: %s", t->path, vg_signal_name(sig), err);
        c->stats.rejected[sig]++;
        return 0;
    }
    vg_batch_t *b = vg_batch_wrap(sig, a, req);
    if (!b) return VG_ENOMEM;
    size_t items = b->items;
    if (!c->next[sig]) {
        VG_WARN(c->id, "%s: %s line skipped: no %s pipeline uses this receiver", t->path, vg_signal_name(sig),
                vg_signal_name(sig));
        c->stats.rejected[sig] += items;
        vg_batch_unref(b);
        return 0;
    }
    rc = vg_component_emit(c, b);
    if (rc == 0) { c->stats.accepted[sig] += items; return 0; }
    if (vg_err_retryable(rc) || rc == VG_ENOMEM) { c->stats.refused[sig] += items; return rc; }
    VG_WARN(c->id, "%s: pipeline rejected %zu %s: %s", t->path, items, vg_signal_items(sig), vg_strerror(rc));
    c->stats.rejected[sig] += items;
    return 0;
}

/* The partial-line buffer holds at least `need` bytes (need <= max_log_size). */
static int line_reserve(tracked_t *t, size_t need)
{
    if (need <= t->lcap) return 0;
    size_t nc = t->lcap ? t->lcap : 4096;
    while (nc < need) nc *= 2;
    char *l = vg_realloc(t->line, nc);
    if (!l) return VG_ENOMEM;
    t->line = l;
    t->lcap = nc;
    return 0;
}

static int hold(tracked_t *t, const char *data, size_t len)
{
    char *h = vg_realloc(t->held, t->heldlen + len + 1);
    if (!h) return VG_ENOMEM;
    memcpy(h + t->heldlen, data, len);
    t->held = h;
    t->heldlen += len;
    return 0;
}

/* Adds decoded bytes; emits complete lines. Returns a retryable error when the
 * pipeline pushed back: the rest of `data` from *used on is not consumed. */
static int feed(ojf_state_t *st, tracked_t *t, const char *data, size_t len, size_t *used)
{
    const ojf_cfg_t *cfg = st->c->cfg;
    size_t pos = 0;
    *used = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t chunk = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (t->skipping) {
            pos += chunk + (nl ? 1 : 0);
            *used = pos;
            if (nl) t->skipping = false;
            continue;
        }
        if (t->llen + chunk > cfg->max_log_size) {
            VG_ERROR(st->c->id, "%s: line longer than max_log_size (%llu bytes) skipped", t->path,
                     (unsigned long long)cfg->max_log_size);
            st->c->stats.rejected[VG_SIG_LOGS]++;
            t->llen = 0;
            t->skipping = !nl;
            pos += chunk + (nl ? 1 : 0);
            *used = pos;
            continue;
        }
        if (!nl) {
            /* Partial line: keep it for the next read. */
            if (line_reserve(t, t->llen + chunk)) return VG_ENOMEM;
            memcpy(t->line + t->llen, data + pos, chunk);
            t->llen += chunk;
            pos += chunk;
            *used = pos;
            break;
        }
        int rc;
        if (t->llen) {
            if (line_reserve(t, t->llen + chunk)) return VG_ENOMEM;
            memcpy(t->line + t->llen, data + pos, chunk);
            rc = offer_line(st, t, t->line, t->llen + chunk);
            if (rc) {
                /* Keep the assembled line (with its newline) to feed again; the
                 * source bytes count as consumed. */
                if (hold(t, t->line, t->llen + chunk) || hold(t, "\n", 1)) return VG_ENOMEM;
                t->llen = 0;
                *used = pos + chunk + 1;
                return rc;
            }
            t->llen = 0;
        } else {
            rc = offer_line(st, t, data + pos, chunk);
            if (rc) return rc; /* *used stays before this line */
        }
        pos += chunk + 1;
        *used = pos;
    }
    return 0;
}

static void read_file(ojf_state_t *st, tracked_t *t)
{
    if (t->held) {
        char *h = t->held;
        size_t hl = t->heldlen, used;
        t->held = NULL;
        t->heldlen = 0;
        int rc = feed(st, t, h, hl, &used);
        if (rc && used < hl && hold(t, h + used, hl - used)) { /* out of memory: retried next poll */ }
        vg_free(h);
        if (rc) return;
    }
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat sb;
    if (fstat(fd, &sb) || sb.st_ino != t->ino || sb.st_dev != t->dev) { close(fd); return; }
    if (sb.st_size < t->offset) {
        VG_INFO(st->c->id, "%s was truncated; reading it from the start", t->path);
        t->offset = 0;
        t->llen = 0;
        if (t->z) ZSTD_DCtx_reset(t->z, ZSTD_reset_session_only);
    }
    for (int rounds = 0; rounds < 64; rounds++) { /* bounded work per poll */
        ssize_t n = pread(fd, st->buf, st->bufcap, t->offset);
        if (n <= 0) break;
        if (t->compressed < 0) {
            if (t->offset == 0 && n >= 4)
                t->compressed = (unsigned char)st->buf[0] == 0x28 && (unsigned char)st->buf[1] == 0xB5 &&
                                (unsigned char)st->buf[2] == 0x2F && (unsigned char)st->buf[3] == 0xFD;
            else if (t->offset > 0) t->compressed = 0;
            else break; /* too short to tell yet */
        }
        if (!t->compressed) {
            size_t used;
            int rc = feed(st, t, st->buf, (size_t)n, &used);
            t->offset += (off_t)used;
            if (rc) break;
            continue;
        }
        if (!t->z && !(t->z = ZSTD_createDCtx())) break;
        ZSTD_inBuffer in = { st->buf, (size_t)n, 0 };
        char out[65536];
        int rc = 0;
        while (in.pos < in.size && !rc) {
            ZSTD_outBuffer o = { out, sizeof out, 0 };
            size_t zr = ZSTD_decompressStream(t->z, &o, &in);
            if (ZSTD_isError(zr)) {
                VG_ERROR(st->c->id, "%s: corrupt zstd data: %s; skipping the rest of the file", t->path,
                         ZSTD_getErrorName(zr));
                t->offset = sb.st_size;
                close(fd);
                return;
            }
            size_t used;
            rc = feed(st, t, out, o.pos, &used);
            /* A zstd stream cannot be rewound: keep the undelivered decoded tail to feed again. */
            if (rc && used < o.pos && hold(t, out + used, o.pos - used)) break;
        }
        t->offset += (off_t)in.pos;
        if (rc) break;
    }
    close(fd);
}

static bool excluded(const ojf_cfg_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->exclude.n; i++)
        if (fnmatch(cfg->exclude.v[i], path, FNM_PATHNAME) == 0) return true;
    return false;
}

static void poll_files(ojf_state_t *st)
{
    const ojf_cfg_t *cfg = st->c->cfg;
    for (size_t i = 0; i < st->nfiles; i++) st->files[i].seen = false;
    for (size_t p = 0; p < cfg->include.n; p++) {
        glob_t g;
        if (glob(cfg->include.v[p], GLOB_NOSORT, NULL, &g) != 0) { globfree(&g); continue; }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *path = g.gl_pathv[k];
            struct stat sb;
            if (excluded(cfg, path) || stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
            tracked_t *t = NULL;
            for (size_t i = 0; i < st->nfiles; i++)
                if (st->files[i].dev == sb.st_dev && st->files[i].ino == sb.st_ino) t = &st->files[i];
            if (!t) {
                if (st->nfiles >= (size_t)cfg->max_files) {
                    VG_WARN(st->c->id, "following %zu files already (max_files); %s is not read", st->nfiles, path);
                    continue;
                }
                if (st->nfiles == st->capfiles) {
                    size_t nc = st->capfiles ? st->capfiles * 2 : 8;
                    tracked_t *nf = vg_realloc(st->files, nc * sizeof *nf);
                    if (!nf) continue;
                    st->files = nf;
                    st->capfiles = nc;
                }
                char *pcopy = vg_strdup(path);
                if (!pcopy) continue;
                t = &st->files[st->nfiles++];
                memset(t, 0, sizeof *t);
                t->dev = sb.st_dev;
                t->ino = sb.st_ino;
                t->path = pcopy;
                t->compressed = -1;
                if (st->first_poll && cfg->start_at == 0) {
                    t->offset = sb.st_size;
                    t->compressed = 0; /* following the end of a compressed stream is not possible */
                }
            }
            t->seen = true;
        }
        globfree(&g);
    }
    st->first_poll = false;
    /* Forget files that are gone (rotated away and deleted, or no longer matched). */
    for (size_t i = 0; i < st->nfiles;) {
        if (!st->files[i].seen && !st->files[i].held) {
            tracked_free(&st->files[i]);
            st->files[i] = st->files[--st->nfiles];
            continue;
        }
        i++;
    }
    for (size_t i = 0; i < st->nfiles; i++) read_file(st, &st->files[i]);
}

static void on_poll(uv_timer_t *t) { poll_files(t->data); }

static int ojf_create(vg_component_t *c)
{
    ojf_state_t *st = vg_calloc(1, sizeof *st);
    if (!st) return VG_ENOMEM;
    st->c = c;
    st->bufcap = 1 << 16;
    st->buf = vg_malloc(st->bufcap);
    if (!st->buf) { vg_free(st); return VG_ENOMEM; }
    st->first_poll = true;
    c->state = st;
    return 0;
}

static int ojf_start(vg_component_t *c)
{
    ojf_state_t *st = c->state;
    const ojf_cfg_t *cfg = c->cfg;
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    st->timer_open = true;
    uint64_t ms = (uint64_t)(cfg->poll_interval / 1000000);
    uv_timer_start(&st->timer, on_poll, 0, ms ? ms : 1);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    ojf_state_t *st = h->data;
    st->timer_open = false;
}

static void ojf_shutdown(vg_component_t *c)
{
    ojf_state_t *st = c->state;
    if (!st || st->closing) return;
    st->closing = true;
    if (st->timer_open) uv_close((uv_handle_t *)&st->timer, timer_closed);
}

static bool ojf_busy(vg_component_t *c) { return ((ojf_state_t *)c->state)->timer_open; }

static void ojf_destroy(vg_component_t *c)
{
    ojf_state_t *st = c->state;
    if (!st) return;
    for (size_t i = 0; i < st->nfiles; i++) tracked_free(&st->files[i]);
    vg_free(st->files);
    vg_free(st->buf);
    vg_free(st);
}

const vg_factory_t vg_otlpjsonfile_receiver_factory = {
    .type = "otlpjsonfile",
    .kind = VG_KIND_RECEIVER,
    .description = "Reads OTLP/JSON lines (one export request per line, any signal) from files and follows them as "
                   "they grow; reads zstd-compressed files too. Replays captured telemetry.",
    .signals = VG_SIGBITS_ALL,
    .options = ojf_opts,
    .config_size = sizeof(ojf_cfg_t),
    .create = ojf_create,
    .start = ojf_start,
    .shutdown = ojf_shutdown,
    .busy = ojf_busy,
    .destroy = ojf_destroy,
};
