/* Allocation wrappers used by all Vigil code.
 *
 * Every allocation in the collector goes through vg_malloc & co so that tests
 * can make the N-th allocation fail (failmalloc style) and check that each code
 * path returns an error instead of crashing. The failure counter is per thread
 * and only ever set by tests. */
#ifndef VIGIL_MEM_H
#define VIGIL_MEM_H

#include <stddef.h>

void *vg_malloc(size_t n);
void *vg_calloc(size_t count, size_t size);
void *vg_realloc(void *p, size_t n);
void vg_free(void *p);
char *vg_strdup(const char *s);
char *vg_strndup(const char *s, size_t n);

/* Test hook: allocation number `n` (1-based, counted from this call) and every
 * later one fails until vg_mem_fail_reset(). n == 0 disables. */
void vg_mem_fail_after(long n);
void vg_mem_fail_reset(void);
/* Allocations attempted since the last vg_mem_fail_after/reset. */
long vg_mem_alloc_count(void);

#endif
