/* The registry of built-in components. Each component folder defines one
 * const vg_factory_t; adding a component means adding it here. */
#include "component.h"

#include <string.h>

extern const vg_factory_t vg_nop_exporter_factory;
extern const vg_factory_t vg_debug_exporter_factory;
extern const vg_factory_t vg_batch_processor_factory;
extern const vg_factory_t vg_forward_connector_factory;
extern const vg_factory_t vg_file_exporter_factory;
extern const vg_factory_t vg_otlpjsonfile_receiver_factory;
extern const vg_factory_t vg_syslog_receiver_factory;
extern const vg_factory_t vg_otlp_receiver_factory;
extern const vg_factory_t vg_cgroupstats_receiver_factory;
extern const vg_factory_t vg_resource_processor_factory;
extern const vg_factory_t vg_health_check_extension_factory;
extern const vg_factory_t vg_k8sattributes_processor_factory;
extern const vg_factory_t vg_otlp_exporter_factory;
extern const vg_factory_t vg_otlphttp_exporter_factory;
extern const vg_factory_t vg_memory_limiter_processor_factory;
extern const vg_factory_t vg_anomaly_processor_factory;
extern const vg_factory_t vg_anomaly_connector_factory;

static const vg_factory_t *const factories[] = {
    &vg_otlp_receiver_factory,
    &vg_otlpjsonfile_receiver_factory,
    &vg_syslog_receiver_factory,
    &vg_cgroupstats_receiver_factory,
    &vg_batch_processor_factory,
    &vg_resource_processor_factory,
    &vg_k8sattributes_processor_factory,
    &vg_memory_limiter_processor_factory,
    &vg_anomaly_processor_factory,
    &vg_debug_exporter_factory,
    &vg_file_exporter_factory,
    &vg_nop_exporter_factory,
    &vg_otlp_exporter_factory,
    &vg_otlphttp_exporter_factory,
    &vg_forward_connector_factory,
    &vg_anomaly_connector_factory,
    &vg_health_check_extension_factory,
    NULL,
};

const vg_factory_t *const *vg_factories(void) { return factories; }

const vg_factory_t *vg_factory_find(vg_kind_t kind, const char *type)
{
    for (size_t i = 0; factories[i]; i++)
        if (factories[i]->kind == kind && strcmp(factories[i]->type, type) == 0) return factories[i];
    return NULL;
}

const char *vg_kind_name(vg_kind_t k)
{
    static const char *n[] = { "receiver", "processor", "exporter", "connector", "extension" };
    return (unsigned)k < VG_KIND_COUNT ? n[k] : "?";
}
