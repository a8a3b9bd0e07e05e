/* Anomaly engine throughput: loads every NAB CSV under a folder into memory,
 * then times vg_anom_update alone (CPU time of this process, one core), over
 * `reps` passes. Prints points/s, CPU seconds and bytes per series.
 * Usage: anomaly_bench DATA_DIR [reps] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collector/anomaly/engine.h"
#include "collector/anomaly/nab_cli.h"
#include "collector/mem.h"

typedef struct {
    int64_t *ts;
    double *v;
    size_t n, cap;
} series_t;

typedef struct {
    series_t *s;
    size_t n, cap;
} set_t;

static int load(set_t *set, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    series_t s = {0};
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) {
            first = 0;
            continue;
        }
        char *comma = strchr(line, ',');
        if (!comma) continue;
        int64_t ts;
        if (vg_anomaly_parse_ts(line, (size_t)(comma - line), &ts)) continue;
        if (s.n == s.cap) {
            s.cap = s.cap ? s.cap * 2 : 1024;
            s.ts = vg_realloc(s.ts, s.cap * sizeof *s.ts);
            s.v = vg_realloc(s.v, s.cap * sizeof *s.v);
            if (!s.ts || !s.v) exit(2);
        }
        s.ts[s.n] = ts;
        s.v[s.n++] = strtod(comma + 1, NULL);
    }
    fclose(f);
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->s = vg_realloc(set->s, set->cap * sizeof *set->s);
        if (!set->s) exit(2);
    }
    set->s[set->n++] = s;
    return 0;
}

static void walk(set_t *set, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st)) continue;
        size_t l = strlen(de->d_name);
        if (S_ISDIR(st.st_mode)) walk(set, p);
        else if (l > 4 && !strcmp(de->d_name + l - 4, ".csv")) load(set, p);
    }
    closedir(d);
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [reps]\n", argv[0]);
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1) reps = 1;
    set_t set = {0};
    walk(&set, argv[1]);
    if (!set.n) {
        fprintf(stderr, "%s: no CSV files\n", argv[1]);
        return 2;
    }
    vg_anom_config_t cfg;
    vg_anom_config_default(&cfg);
    vg_anom_series_t s;
    double sink = 0, t0 = cpu_now();
    uint64_t pts = 0;
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < set.n; i++) {
            vg_anom_series_init(&s, &cfg);
            for (size_t k = 0; k < set.s[i].n; k++) sink += vg_anom_update(&s, set.s[i].ts[k], set.s[i].v[k], NULL);
            pts += set.s[i].n;
        }
    }
    double cpu = cpu_now() - t0;
    printf("points %llu\ncpu_seconds %.3f\npoints_per_second %.0f\nbytes_per_series %zu\nchecksum %.6f\n",
           (unsigned long long)pts, cpu, (double)pts / cpu, vg_anom_series_bytes(), sink);
    for (size_t i = 0; i < set.n; i++) {
        vg_free(set.s[i].ts);
        vg_free(set.s[i].v);
    }
    vg_free(set.s);
    return 0;
}
