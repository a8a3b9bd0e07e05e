#include "mem.h"

#include <stdlib.h>
#include <string.h>

/* Test-only failure injection; per thread, so concurrent tests do not interfere. */
static _Thread_local long fail_at;
static _Thread_local long alloc_count;

static int should_fail(void)
{
    alloc_count++;
    return fail_at > 0 && alloc_count >= fail_at;
}

void vg_mem_fail_after(long n) { fail_at = n; alloc_count = 0; }
void vg_mem_fail_reset(void) { fail_at = 0; alloc_count = 0; }
long vg_mem_alloc_count(void) { return alloc_count; }

void *vg_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *vg_calloc(size_t c, size_t s) { return should_fail() ? NULL : calloc(c ? c : 1, s ? s : 1); }
void *vg_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void vg_free(void *p) { free(p); }

char *vg_strndup(const char *s, size_t n)
{
    char *d = vg_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vg_strdup(const char *s) { return s ? vg_strndup(s, strlen(s)) : NULL; }
