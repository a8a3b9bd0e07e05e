/* `vigil anomaly-score`: runs the anomaly engine over NAB-style CSV files.
 *
 *   vigil anomaly-score --input series.csv --output results.csv
 *   vigil anomaly-score --input-dir DIR --output-dir DIR
 *
 * Input: header `timestamp,value`, rows like `2014-04-01 00:00:00,20.0`.
 * Output: `timestamp,value,anomaly_score`, one row per data row, in order
 * (timestamp and value copied as written). Directory mode walks DIR
 * recursively, scores every *.csv and writes it at the same relative path
 * under the output folder, creating folders. Errors name file:line and make
 * the exit status 1; other files of a tree are still scored. */
#include "collector/anomaly/nab_cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "collector/anomaly/engine.h"
#include "collector/error.h"
#include "collector/mem.h"

#define LINE_MAX_LEN 4096
#define MAX_PARAMS 32

static int is_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm) */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static int digits(const char **p, const char *end, int n, long *out)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || (*p)[0] < '0' || (*p)[0] > '9') return -1;
        v = v * 10 + ((*p)[0] - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.frac]" (or 'T' between), UTC -> ns since the epoch */
int vg_anomaly_parse_ts(const char *s, size_t len, int64_t *ns)
{
    const char *p = s, *end = s + len;
    long y, mo, d, h, mi, se, frac = 0;
    if (digits(&p, end, 4, &y) || p >= end || *p++ != '-' || digits(&p, end, 2, &mo) || p >= end ||
        *p++ != '-' || digits(&p, end, 2, &d))
        return VG_EPARSE;
    h = mi = se = 0;
    if (p < end) {
        if (*p != ' ' && *p != 'T') return VG_EPARSE;
        p++;
        if (digits(&p, end, 2, &h) || p >= end || *p++ != ':' || digits(&p, end, 2, &mi) || p >= end ||
            *p++ != ':' || digits(&p, end, 2, &se))
            return VG_EPARSE;
        if (p < end && *p == '.') {
            p++;
            int nd = 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (nd < 9) {
                    frac = frac * 10 + (*p - '0');
                    nd++;
                }
                p++;
            }
            if (nd == 0) return VG_EPARSE;
            while (nd++ < 9) frac *= 10;
        }
    }
    if (p != end) return VG_EPARSE;
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 || mi > 59 ||
        se > 60)
        return VG_EPARSE;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ns = ((days * 86400 + h * 3600 + mi * 60 + se) * (int64_t)1000000000) + frac;
    return 0;
}

static void trim(char **b, char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t')) (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r' || (*e)[-1] == '\n')) (*e)--;
}

typedef struct {
    vg_anom_config_t cfg;
    uint64_t points;
} run_t;

/* Reads one line into buf; returns its length, -1 at EOF, -2 if too long. */
static long read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f)) return -1;
    size_t n = strlen(buf);
    if (n == cap - 1 && buf[n - 1] != '\n' && !feof(f)) return -2;
    return (long)n;
}

int vg_anomaly_score_file(const vg_anom_config_t *cfg, const char *in_path, const char *out_path, FILE *err,
                          uint64_t *points)
{
    FILE *in = fopen(in_path, "r");
    if (!in) {
        fprintf(err, "%s: cannot open: %s\n", in_path, strerror(errno));
        return VG_EIO;
    }
    char *buf = vg_malloc(LINE_MAX_LEN);
    if (!buf) {
        fclose(in);
        fprintf(err, "%s: out of memory\n", in_path);
        return VG_ENOMEM;
    }
    int rc = 0;
    FILE *out = NULL;
    long lineno = 1;
    long n = read_line(in, buf, LINE_MAX_LEN);
    if (n == -2) {
        fprintf(err, "%s:1: line too long\n", in_path);
        rc = VG_EPARSE;
        goto done;
    }
    if (n < 0) {
        fprintf(err, "%s:1: empty file: expected header \"timestamp,value\"\n", in_path);
        rc = VG_EPARSE;
        goto done;
    }
    {
        char *b = buf, *e = buf + n;
        if (e - b >= 3 && (unsigned char)b[0] == 0xEF && (unsigned char)b[1] == 0xBB && (unsigned char)b[2] == 0xBF)
            b += 3; /* UTF-8 BOM */
        trim(&b, &e);
        *e = 0;
        if (strcmp(b, "timestamp,value") != 0) {
            fprintf(err, "%s:1: bad header \"%s\": expected \"timestamp,value\"\n", in_path, b);
            rc = VG_EPARSE;
            goto done;
        }
    }
    out = fopen(out_path, "w");
    if (!out) {
        fprintf(err, "%s: cannot create: %s\n", out_path, strerror(errno));
        rc = VG_EIO;
        goto done;
    }
    fputs("timestamp,value,anomaly_score\n", out);
    vg_anom_series_t s;
    vg_anom_series_init(&s, cfg);
    while ((n = read_line(in, buf, LINE_MAX_LEN)) != -1) {
        lineno++;
        if (n == -2) {
            fprintf(err, "%s:%ld: line too long\n", in_path, lineno);
            rc = VG_EPARSE;
            goto done;
        }
        char *b = buf, *e = buf + n;
        trim(&b, &e);
        if (b == e) continue; /* blank line (e.g. at the end) */
        char *comma = memchr(b, ',', (size_t)(e - b));
        if (!comma) {
            fprintf(err, "%s:%ld: expected \"timestamp,value\"\n", in_path, lineno);
            rc = VG_EPARSE;
            goto done;
        }
        char *tb = b, *te = comma, *vb = comma + 1, *ve = e;
        trim(&tb, &te);
        trim(&vb, &ve);
        if (memchr(vb, ',', (size_t)(ve - vb))) {
            fprintf(err, "%s:%ld: too many columns\n", in_path, lineno);
            rc = VG_EPARSE;
            goto done;
        }
        int64_t ts;
        if (vg_anomaly_parse_ts(tb, (size_t)(te - tb), &ts) != 0) {
            *te = 0;
            fprintf(err, "%s:%ld: bad timestamp \"%s\": expected YYYY-MM-DD HH:MM:SS\n", in_path, lineno, tb);
            rc = VG_EPARSE;
            goto done;
        }
        *ve = 0;
        char *endp = NULL;
        errno = 0;
        double v = vb < ve ? strtod(vb, &endp) : 0.0;
        if (vb == ve || endp != ve || (errno == ERANGE && fabs(v) > 1.0)) {
            fprintf(err, "%s:%ld: bad number \"%s\"\n", in_path, lineno, vb);
            rc = VG_EPARSE;
            goto done;
        }
        /* NaN/Inf are accepted and ignored by the engine (score 0). */
        double score = vg_anom_update(&s, ts, v, NULL);
        *te = 0;
        fprintf(out, "%s,%s,%.9f\n", tb, vb, score);
        if (points) (*points)++;
    }
    if (ferror(in)) {
        fprintf(err, "%s: read error\n", in_path);
        rc = VG_EIO;
    }
done:
    if (out && fclose(out) != 0 && rc == 0) {
        fprintf(err, "%s: write error: %s\n", out_path, strerror(errno));
        rc = VG_EIO;
    }
    if (rc && out) remove(out_path); /* no half-written results */
    fclose(in);
    vg_free(buf);
    return rc;
}

static int mkdirs(const char *path, FILE *err)
{
    size_t len = strlen(path);
    char *p = vg_malloc(len + 1);
    if (!p) return VG_ENOMEM;
    memcpy(p, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                fprintf(err, "%s: cannot create folder: %s\n", p, strerror(errno));
                vg_free(p);
                return VG_EIO;
            }
            p[i] = c;
        }
    }
    vg_free(p);
    return 0;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = vg_malloc(la + lb + 2);
    if (!r) return NULL;
    memcpy(r, a, la);
    r[la] = '/';
    memcpy(r + la + 1, b, lb + 1);
    return r;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Scores every *.csv under in_dir into out_dir; returns 0 or the first error. */
static int score_tree(const vg_anom_config_t *cfg, const char *in_dir, const char *out_dir, FILE *err,
                      uint64_t *points, int depth)
{
    if (depth > 32) {
        fprintf(err, "%s: folders nested too deep\n", in_dir);
        return VG_EINVAL;
    }
    DIR *d = opendir(in_dir);
    if (!d) {
        fprintf(err, "%s: cannot open folder: %s\n", in_dir, strerror(errno));
        return VG_EIO;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (nn == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **t = vg_realloc(names, nc * sizeof *t);
            if (!t) {
                rc = VG_ENOMEM;
                break;
            }
            names = t;
            cap = nc;
        }
        if (!(names[nn] = vg_strdup(de->d_name))) {
            rc = VG_ENOMEM;
            break;
        }
        nn++;
    }
    closedir(d);
    if (rc == 0 && nn) qsort(names, nn, sizeof *names, cmp_str);
    int made = 0;
    for (size_t i = 0; i < nn && rc != VG_ENOMEM; i++) {
        char *ip = join(in_dir, names[i]), *op = join(out_dir, names[i]);
        struct stat st;
        int r = 0;
        if (!ip || !op) {
            r = VG_ENOMEM;
        } else if (stat(ip, &st) != 0) {
            fprintf(err, "%s: %s\n", ip, strerror(errno));
            r = VG_EIO;
        } else if (S_ISDIR(st.st_mode)) {
            r = score_tree(cfg, ip, op, err, points, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            size_t l = strlen(names[i]);
            if (l > 4 && strcmp(names[i] + l - 4, ".csv") == 0) {
                if (!made) {
                    r = mkdirs(out_dir, err);
                    made = r == 0;
                }
                if (r == 0) r = vg_anomaly_score_file(cfg, ip, op, err, points);
            }
        }
        if (r && !rc) rc = r;
        vg_free(ip);
        vg_free(op);
    }
    if (rc == VG_ENOMEM) fprintf(err, "%s: out of memory\n", in_dir);
    for (size_t i = 0; i < nn; i++) vg_free(names[i]);
    vg_free(names);
    return rc;
}

static void usage(FILE *f)
{
    fputs("usage: vigil anomaly-score --input FILE.csv --output FILE.csv\n"
          "       vigil anomaly-score --input-dir DIR --output-dir DIR\n"
          "Scores NAB-style CSV (header timestamp,value) with the streaming anomaly engine and\n"
          "writes timestamp,value,anomaly_score, one row per input row.\n"
          "  --param NAME=VALUE   override an engine tunable (experiments; see docs/anomaly.md)\n",
          f);
}

int vg_anomaly_score_main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *in_dir = NULL, *out_dir = NULL;
    vg_anom_config_t cfg;
    vg_anom_config_default(&cfg);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "anomaly-score") == 0 && i == 1) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        const char **dst = strcmp(a, "--input") == 0        ? &in
                           : strcmp(a, "--output") == 0     ? &out
                           : strcmp(a, "--input-dir") == 0  ? &in_dir
                           : strcmp(a, "--output-dir") == 0 ? &out_dir
                                                            : NULL;
        if (dst || strcmp(a, "--param") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "anomaly-score: %s needs a value\n", a);
                return 1;
            }
            const char *v = argv[++i];
            if (dst) {
                *dst = v;
                continue;
            }
            const char *eq = strchr(v, '=');
            char name[64];
            char *endp = NULL;
            double x = eq ? strtod(eq + 1, &endp) : 0;
            if (!eq || (size_t)(eq - v) >= sizeof name || endp == eq + 1 || *endp) {
                fprintf(stderr, "anomaly-score: --param %s: expected NAME=NUMBER\n", v);
                return 1;
            }
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = 0;
            int rc = vg_anom_config_set(&cfg, name, x);
            if (rc) {
                fprintf(stderr, "anomaly-score: --param %s: %s\n", v,
                        rc == VG_ENOTFOUND ? "unknown tunable" : "value out of range");
                return 1;
            }
            continue;
        }
        fprintf(stderr, "anomaly-score: unknown argument \"%s\"\n", a);
        usage(stderr);
        return 1;
    }
    int file_mode = in || out, dir_mode = in_dir || out_dir;
    if (file_mode == dir_mode || (file_mode && (!in || !out)) || (dir_mode && (!in_dir || !out_dir))) {
        fputs("anomaly-score: give either --input and --output, or --input-dir and --output-dir\n", stderr);
        usage(stderr);
        return 1;
    }
    uint64_t points = 0;
    int rc;
    if (file_mode) {
        rc = vg_anomaly_score_file(&cfg, in, out, stderr, &points);
    } else {
        struct stat st;
        if (stat(in_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: not a folder\n", in_dir);
            return 1;
        }
        rc = score_tree(&cfg, in_dir, out_dir, stderr, &points, 0);
    }
    return rc ? 1 : 0;
}
