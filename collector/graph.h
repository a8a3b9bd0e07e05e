/* The pipeline graph: component instances wired by consumers.
 *
 * Receivers, exporters and connectors are one instance per id; processors one
 * per pipeline. A receiver feeding several pipelines (and a pipeline's end
 * feeding several exporters) goes through a fan-out that shares the batch
 * read-only and clones it only for consumers that mutate (the last mutating
 * consumer gets the original when nobody else shares it).
 *
 * Order: nodes are kept in topological order, upstream first. Start runs
 * downstream first (extensions, exporters, …, receivers); shutdown runs
 * upstream first, waiting for each component to drain (busy() false) until
 * the drain deadline. */
#ifndef VIGIL_GRAPH_H
#define VIGIL_GRAPH_H

#include "component.h"
#include "config.h"

#include <uv.h>

typedef struct vg_graph vg_graph_t;

/* Creates every instance (factory create) from a validated config. The graph
 * keeps a pointer to cfg (which must outlive it). Errors go to errs. */
int vg_graph_build(const vg_config_t *cfg, uv_loop_t *loop, vg_service_t *svc, vg_graph_t **out, vg_errs_t *errs);
/* Starts downstream first. On failure, what was started is shut down again
 * (asynchronously: call vg_graph_shutdown and wait as usual). */
int vg_graph_start(vg_graph_t *g, vg_errs_t *errs);
/* Begins the drain; done(g, ud) is called on the loop when every component
 * stopped or the deadline passed. Calling it twice is harmless. */
void vg_graph_shutdown(vg_graph_t *g, int64_t deadline_ns, void (*done)(vg_graph_t *, void *), void *ud);
/* True when, after shutdown's done callback, some component still had handles
 * open even after being abandoned: the graph must not be freed while the loop
 * runs (the service keeps it until exit and closes the handles first). */
bool vg_graph_stuck(const vg_graph_t *g);
/* Frees everything. Only after shutdown's done callback (or if never started). */
void vg_graph_destroy(vg_graph_t *g);

size_t vg_graph_count(const vg_graph_t *g);
vg_component_t *vg_graph_node(const vg_graph_t *g, size_t i);

/* A fan-out consumer over n consumers (copied). NULL on allocation failure. */
vg_consumer_t *vg_fanout_new(vg_consumer_t *const *outs, size_t n);
void vg_fanout_free(vg_consumer_t *c);

#endif
