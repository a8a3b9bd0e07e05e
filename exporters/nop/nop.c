/* nop exporter: accepts and discards, counting items. For tests and benchmarks. */
#include "component.h"

static int nop_consume(vg_component_t *c, vg_batch_t *b)
{
    c->stats.sent[b->signal] += b->items;
    vg_batch_unref(b);
    return 0;
}

const vg_factory_t vg_nop_exporter_factory = {
    .type = "nop",
    .kind = VG_KIND_EXPORTER,
    .description = "Accepts everything and discards it, counting items (vigil_exporter_sent_*). For tests and "
                   "benchmarks.",
    .signals = VG_SIGBITS_ALL,
    .consume = nop_consume,
};
