/* The sending queue: a FIFO of encoded requests bounded twice, in the
 * configured sizer unit (requests, items or bytes, like the Collector's
 * sending_queue) and in memory (max_bytes, counting the requests already in
 * flight too). STYLE.md pitfall 3: a queue bounded only in requests lets a few
 * huge requests exhaust memory; one bounded only in bytes lets a flood of tiny
 * ones pile up bookkeeping. */
#include "otlpexp.h"

#include "collector/error.h"
#include "collector/mem.h"

void oe_req_free(oe_req_t *r)
{
    if (!r) return;
    vg_free(r->body);
    vg_free(r);
}

void oe_queue_init(oe_queue_t *q, int sizer, uint64_t capacity, uint64_t max_bytes)
{
    *q = (oe_queue_t){ .sizer = sizer, .capacity = capacity, .max_bytes = max_bytes };
}

static uint64_t unit_of(int sizer, size_t items, size_t bytes)
{
    return sizer == OE_SIZER_ITEMS ? items : sizer == OE_SIZER_BYTES ? bytes : 1;
}

uint64_t oe_queue_size(const oe_queue_t *q)
{
    return q->sizer == OE_SIZER_ITEMS ? q->items : q->sizer == OE_SIZER_BYTES ? q->bytes : q->requests;
}

bool oe_queue_has_room(const oe_queue_t *q, size_t items, size_t held)
{
    if (q->requests == 0 && held == 0) return true; /* anything fits into an empty exporter */
    if (q->mem + held >= q->max_bytes) return false;
    uint64_t size = oe_queue_size(q);
    if (q->requests == 0) return q->capacity > 0;
    if (size >= q->capacity) return false;
    if (q->sizer == OE_SIZER_ITEMS && size + items > q->capacity) return false;
    return true;
}

int oe_queue_push(oe_queue_t *q, oe_req_t *r, size_t held)
{
    uint64_t add = unit_of(q->sizer, r->items, r->raw_bytes);
    size_t mem = oe_req_mem(r);
    bool empty = q->requests == 0;
    /* Memory: always bounded, except that one request larger than the bound
     * may go when nothing else is held (or it could never be sent). */
    if (q->mem + held + mem > q->max_bytes && !(empty && held == 0)) return VG_EFULL;
    /* Sizer: a single request larger than the capacity is taken into an
     * empty queue (the Collector refuses it forever: deadlock upstream). */
    if (q->capacity == 0) return VG_EFULL;
    if (oe_queue_size(q) + add > q->capacity && !empty) return VG_EFULL;
    oe_queue_append(q, r);
    return 0;
}

void oe_queue_append(oe_queue_t *q, oe_req_t *r)
{
    r->next = NULL;
    if (q->tail) q->tail->next = r;
    else q->head = r;
    q->tail = r;
    q->requests++;
    q->items += r->items;
    q->bytes += r->raw_bytes;
    q->mem += oe_req_mem(r);
}

oe_req_t *oe_queue_pop(oe_queue_t *q)
{
    oe_req_t *r = q->head;
    if (!r) return NULL;
    q->head = r->next;
    if (!q->head) q->tail = NULL;
    r->next = NULL;
    q->requests--;
    q->items -= r->items;
    q->bytes -= r->raw_bytes;
    q->mem -= oe_req_mem(r);
    return r;
}

void oe_queue_clear(oe_queue_t *q, uint64_t *items)
{
    oe_req_t *r;
    while ((r = oe_queue_pop(q))) {
        if (items) items[r->signal] += r->items;
        oe_req_free(r);
    }
}
