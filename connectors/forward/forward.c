/* forward connector: passes data from the end of one pipeline to the start of
 * others of the same signal. */
#include "component.h"

static int forward_consume(vg_component_t *c, vg_batch_t *b)
{
    size_t items = b->items;
    vg_signal_t s = b->signal;
    int rc = vg_component_emit(c, b);
    if (rc == 0) c->stats.sent[s] += items;
    else c->stats.send_failed[s] += items;
    return rc;
}

const vg_factory_t vg_forward_connector_factory = {
    .type = "forward",
    .kind = VG_KIND_CONNECTOR,
    .description = "Forwards data from one pipeline to other pipelines of the same signal.",
    .connects = { [VG_SIG_TRACES] = VG_SIGBIT(VG_SIG_TRACES), [VG_SIG_METRICS] = VG_SIGBIT(VG_SIG_METRICS),
                  [VG_SIG_LOGS] = VG_SIGBIT(VG_SIG_LOGS) },
    .consume = forward_consume,
};
