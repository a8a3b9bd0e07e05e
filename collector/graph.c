#include "graph.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- fan-out ----------------------------------------------------------------- */

typedef struct {
    vg_consumer_t base;
    size_t n;
    vg_consumer_t *outs[];
} fanout_t;

static int worse(int a, int b)
{
    /* Keep the error that tells the sender most: retryable beats permanent
     * (the sender retries; consumers that accepted see duplicates, never loss). */
    if (!a) return b;
    if (!b) return a;
    if (vg_err_retryable(a)) return a;
    if (vg_err_retryable(b)) return b;
    return a;
}

static int fanout_consume(vg_consumer_t *self, vg_batch_t *b)
{
    fanout_t *f = (fanout_t *)self;
    size_t shared = 0;
    for (size_t i = 0; i < f->n; i++) shared += !f->outs[i]->mutates;
    /* The last mutating consumer may take the original if nobody shares it;
     * an original held by more than one consumer is read-only. */
    size_t last_mut = shared == 0 ? f->n - 1 : (size_t)-1;
    if (shared > 1) b->readonly = true;
    int rc = 0;
    bool given = false;
    for (size_t i = 0; i < f->n; i++) {
        vg_consumer_t *c = f->outs[i];
        if (!c->mutates) {
            rc = worse(rc, vg_consume(c, vg_batch_ref(b)));
        } else if (i == last_mut) {
            given = true;
            rc = worse(rc, vg_consume(c, b));
        } else {
            vg_batch_t *copy = vg_batch_clone(b);
            rc = worse(rc, copy ? vg_consume(c, copy) : VG_ENOMEM);
        }
    }
    if (!given) vg_batch_unref(b);
    return rc;
}

/* Ready when any consumer is: the others refuse and the sender is told to
 * retry (see worse()), but a stalled pipeline must not starve the healthy
 * ones, which still take the data. */
static bool fanout_ready(vg_consumer_t *self, vg_signal_t sig)
{
    fanout_t *f = (fanout_t *)self;
    for (size_t i = 0; i < f->n; i++)
        if (vg_consumer_ready(f->outs[i], sig)) return true;
    return false;
}

vg_consumer_t *vg_fanout_new(vg_consumer_t *const *outs, size_t n)
{
    fanout_t *f = vg_calloc(1, sizeof *f + n * sizeof *outs);
    if (!f) return NULL;
    f->base.consume = fanout_consume;
    f->base.ready = fanout_ready;
    f->n = n;
    /* Shared (non-mutating) consumers first, mutating ones last. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) if (!outs[i]->mutates) f->outs[k++] = outs[i];
    for (size_t i = 0; i < n; i++) if (outs[i]->mutates) f->outs[k++] = outs[i];
    for (size_t i = 0; i < n; i++) f->base.mutates |= outs[i]->mutates;
    return &f->base;
}

void vg_fanout_free(vg_consumer_t *c) { vg_free(c); }

/* ---- pipeline entry: processors chained, then the exporters ------------------ */

struct vg_graph {
    const vg_config_t *cfg;
    uv_loop_t *loop;
    vg_service_t *svc;
    vg_component_t **nodes; /* topological order, upstream first */
    size_t n;
    vg_consumer_t **owned;  /* fan-outs to free */
    size_t nowned, capowned;
    /* shutdown state */
    uv_timer_t timer;
    bool timer_init, shutting, done_called, stuck;
    size_t stop_idx;
    uint64_t deadline_ms, grace_ms;
    void (*done)(vg_graph_t *, void *);
    void *done_ud;
};

size_t vg_graph_count(const vg_graph_t *g) { return g->n; }
bool vg_graph_stuck(const vg_graph_t *g) { return g->stuck; }

#define ABANDON_GRACE_MS 2000
vg_component_t *vg_graph_node(const vg_graph_t *g, size_t i) { return i < g->n ? g->nodes[i] : NULL; }

static int component_consume(vg_consumer_t *self, vg_batch_t *b)
{
    vg_component_t *c = self->ud;
    if (c->shut_down && c->f->kind != VG_KIND_EXPORTER && c->f->kind != VG_KIND_CONNECTOR &&
        c->f->kind != VG_KIND_PROCESSOR) {
        vg_batch_unref(b);
        return VG_ESHUTDOWN;
    }
    return c->f->consume(c, b);
}

static bool component_ready(vg_consumer_t *self, vg_signal_t sig)
{
    vg_component_t *c = self->ud;
    if (c->f->ready) return c->f->ready(c, sig);
    return c->f->kind == VG_KIND_PROCESSOR ? vg_component_ready(c, sig) : true;
}

bool vg_component_ready(vg_component_t *c, vg_signal_t sig)
{
    vg_consumer_t *next = (unsigned)sig < VG_SIG_COUNT ? c->next[sig] : NULL;
    return !next || vg_consumer_ready(next, sig);
}

int vg_component_emit(vg_component_t *c, vg_batch_t *b)
{
    vg_consumer_t *next = c->next[b->signal];
    if (!next) {
        vg_batch_unref(b);
        return VG_EUNSUPPORTED;
    }
    return vg_consume(next, b);
}

static int own(vg_graph_t *g, vg_consumer_t *c)
{
    if (g->nowned == g->capowned) {
        size_t nc = g->capowned ? g->capowned * 2 : 16;
        vg_consumer_t **o = vg_realloc(g->owned, nc * sizeof *o);
        if (!o) return VG_ENOMEM;
        g->owned = o;
        g->capowned = nc;
    }
    g->owned[g->nowned++] = c;
    return 0;
}

/* One consumer over `outs`: itself when there is one, else a fan-out. */
static int join(vg_graph_t *g, vg_consumer_t **outs, size_t n, vg_consumer_t **res)
{
    if (n == 0) { *res = NULL; return 0; }
    if (n == 1) { *res = outs[0]; return 0; }
    vg_consumer_t *f = vg_fanout_new(outs, n);
    if (!f || own(g, f)) { vg_free(f); return VG_ENOMEM; }
    *res = f;
    return 0;
}

static vg_component_t *new_node(vg_graph_t *g, const vg_comp_conf_t *cc, const char *pipeline)
{
    vg_component_t *c = vg_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->f = cc->f;
    c->cfg = cc->cfg;
    c->loop = g->loop;
    c->svc = g->svc;
    c->id = vg_strdup(cc->id);
    c->pipeline = pipeline ? vg_strdup(pipeline) : NULL;
    if (!c->id || (pipeline && !c->pipeline)) { vg_free(c->id); vg_free(c->pipeline); vg_free(c); return NULL; }
    c->in.consume = component_consume;
    c->in.ready = component_ready;
    c->in.ud = c;
    c->in.mutates = cc->f->kind == VG_KIND_PROCESSOR && cc->f->mutates;
    c->order = -1;
    return c;
}

typedef struct {
    const vg_comp_conf_t *cc;
    vg_component_t *node;
} inst_t;

static vg_component_t *shared_node(vg_graph_t *g, inst_t *tab, size_t *ntab, const vg_comp_conf_t *cc)
{
    for (size_t i = 0; i < *ntab; i++)
        if (tab[i].cc == cc) return tab[i].node;
    vg_component_t *c = new_node(g, cc, NULL);
    if (!c) return NULL;
    tab[*ntab].cc = cc;
    tab[*ntab].node = c;
    (*ntab)++;
    return c;
}

static int index_of(vg_component_t *const *all, const vg_component_t *node)
{
    int i = 0;
    while (all[i] != node) i++;
    return i;
}

/* Topological sort (Kahn) over edges[from] -> to. Returns VG_ECONFIG on a cycle. */
static int topo_sort(vg_graph_t *g, vg_component_t **all, size_t n, const int *from, const int *to, size_t nedges)
{
    int *indeg = vg_calloc(n ? n : 1, sizeof *indeg);
    int *queue = vg_calloc(n ? n : 1, sizeof *queue);
    if (!indeg || !queue) { vg_free(indeg); vg_free(queue); return VG_ENOMEM; }
    for (size_t e = 0; e < nedges; e++) indeg[to[e]]++;
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < n; i++) if (indeg[i] == 0) queue[qt++] = (int)i;
    size_t k = 0;
    while (qh < qt) {
        int v = queue[qh++];
        all[v]->order = (int)k;
        g->nodes[k++] = all[v];
        for (size_t e = 0; e < nedges; e++)
            if (from[e] == v && --indeg[to[e]] == 0) queue[qt++] = to[e];
    }
    vg_free(indeg);
    vg_free(queue);
    return k == n ? 0 : VG_ECONFIG;
}

int vg_graph_build(const vg_config_t *cfg, uv_loop_t *loop, vg_service_t *svc, vg_graph_t **out, vg_errs_t *errs)
{
    *out = NULL;
    vg_graph_t *g = vg_calloc(1, sizeof *g);
    if (!g) return VG_ENOMEM;
    g->cfg = cfg;
    g->loop = loop;
    g->svc = svc;

    size_t maxnodes = cfg->ncomps;
    for (size_t p = 0; p < cfg->npipes; p++) maxnodes += cfg->pipes[p].nprocessors;
    inst_t *tab = vg_calloc(maxnodes + 1, sizeof *tab);
    vg_component_t **all = vg_calloc(maxnodes + 1, sizeof *all);
    vg_component_t ***procs = vg_calloc(cfg->npipes + 1, sizeof *procs);
    vg_consumer_t **entry = vg_calloc(cfg->npipes + 1, sizeof *entry);
    size_t maxedges = 4 * (maxnodes + 1) * (cfg->npipes + 1);
    int *efrom = vg_calloc(maxedges, sizeof *efrom), *eto = vg_calloc(maxedges, sizeof *eto);
    vg_consumer_t **tmp = vg_calloc(maxnodes + cfg->npipes + 1, sizeof *tmp);
    g->nodes = vg_calloc(maxnodes + 1, sizeof *g->nodes);
    size_t ntab = 0, nall = 0, nedges = 0;
    int rc = VG_ENOMEM;
    if (!tab || !all || !procs || !entry || !efrom || !eto || !tmp || !g->nodes) goto fail;

    /* Instances: extensions listed in service, then every pipeline's parts. */
    for (size_t i = 0; i < cfg->service.extensions.n; i++) {
        const vg_comp_conf_t *cc = vg_config_find(cfg, VG_KIND_EXTENSION, cfg->service.extensions.v[i]);
        if (cc && !shared_node(g, tab, &ntab, cc)) goto fail;
    }
    for (size_t p = 0; p < cfg->npipes; p++) {
        const vg_pipeline_conf_t *pc = &cfg->pipes[p];
        for (size_t i = 0; i < pc->nreceivers; i++)
            if (!shared_node(g, tab, &ntab, pc->receivers[i])) goto fail;
        for (size_t i = 0; i < pc->nexporters; i++)
            if (!shared_node(g, tab, &ntab, pc->exporters[i])) goto fail;
        procs[p] = vg_calloc(pc->nprocessors + 1, sizeof **procs);
        if (!procs[p]) goto fail;
        for (size_t i = 0; i < pc->nprocessors; i++)
            if (!(procs[p][i] = new_node(g, pc->processors[i], pc->id))) goto fail;
    }
    for (size_t i = 0; i < ntab; i++) all[nall++] = tab[i].node;
    for (size_t p = 0; p < cfg->npipes; p++)
        for (size_t i = 0; i < cfg->pipes[p].nprocessors; i++) all[nall++] = procs[p][i];
#define EDGE(a, b) do { efrom[nedges] = index_of(all, (a)); eto[nedges] = index_of(all, (b)); nedges++; } while (0)

    /* Pipelines: processors chained, the last into the exporters. */
    for (size_t p = 0; p < cfg->npipes; p++) {
        const vg_pipeline_conf_t *pc = &cfg->pipes[p];
        vg_signal_t s = pc->signal;
        size_t k = 0;
        for (size_t i = 0; i < pc->nexporters; i++) {
            vg_component_t *e = shared_node(g, tab, &ntab, pc->exporters[i]);
            e->in_signals |= VG_SIGBIT(s);
            tmp[k++] = &e->in;
        }
        vg_consumer_t *tail;
        if ((rc = join(g, tmp, k, &tail))) goto fail;
        rc = VG_ENOMEM;
        bool downstream_mutates = false;
        for (size_t i = pc->nprocessors; i-- > 0;) {
            vg_component_t *pr = procs[p][i];
            pr->in_signals |= VG_SIGBIT(s);
            pr->out_signals |= VG_SIGBIT(s);
            pr->next[s] = tail;
            /* A pipeline mutates if any of its processors does: the fan-out in
             * front of it must then hand it a private copy. */
            downstream_mutates |= pr->in.mutates;
            pr->in.mutates = downstream_mutates;
            tail = &pr->in;
            if (i + 1 < pc->nprocessors) EDGE(pr, procs[p][i + 1]);
            else for (size_t j = 0; j < pc->nexporters; j++) EDGE(pr, shared_node(g, tab, &ntab, pc->exporters[j]));
        }
        entry[p] = tail;
    }
    /* Receivers and connectors (as receivers): join the entries of their pipelines, per signal. */
    for (size_t t = 0; t < ntab; t++) {
        vg_component_t *r = tab[t].node;
        for (int s = 0; s < VG_SIG_COUNT; s++) {
            size_t k = 0;
            for (size_t p = 0; p < cfg->npipes; p++) {
                const vg_pipeline_conf_t *pc = &cfg->pipes[p];
                if (pc->signal != (vg_signal_t)s) continue;
                bool listed = false;
                for (size_t i = 0; i < pc->nreceivers; i++) listed |= pc->receivers[i] == tab[t].cc;
                if (!listed) continue;
                tmp[k++] = entry[p];
                if (pc->nprocessors) EDGE(r, procs[p][0]);
                else for (size_t j = 0; j < pc->nexporters; j++) EDGE(r, shared_node(g, tab, &ntab, pc->exporters[j]));
            }
            if (k == 0) continue;
            if ((rc = join(g, tmp, k, &r->next[s]))) goto fail;
            rc = VG_ENOMEM;
            r->out_signals |= VG_SIGBIT(s);
        }
    }
#undef EDGE
    rc = topo_sort(g, all, nall, efrom, eto, nedges);
    if (rc == VG_ECONFIG) vg_errs_add(errs, NULL, "service.pipelines", "connectors form a cycle between pipelines");
    if (rc) goto fail;
    g->n = nall;

    /* create(): downstream first, like start. */
    for (size_t i = g->n; i-- > 0;) {
        vg_component_t *c = g->nodes[i];
        if (c->f->create) {
            int r = c->f->create(c);
            if (r) {
                vg_errs_add(errs, NULL, c->id, "cannot create %s: %s", vg_kind_name(c->f->kind), vg_strerror(r));
                rc = r == VG_ENOMEM ? r : VG_ECONFIG;
                goto fail;
            }
        }
        c->created = true;
    }
    rc = 0;
    *out = g;
    goto done;

fail:
    /* Nodes not yet in g->nodes are in all[] (or only in tab/procs when all[] is incomplete). */
    if (g->n == 0) {
        for (size_t i = 0; i < ntab; i++) g->nodes[g->n++] = tab[i].node;
        for (size_t p = 0; procs && p < cfg->npipes; p++)
            for (size_t i = 0; procs[p] && i < cfg->pipes[p].nprocessors; i++)
                if (procs[p][i]) g->nodes[g->n++] = procs[p][i];
    }
    vg_graph_destroy(g);
done:
    for (size_t p = 0; procs && p < cfg->npipes; p++) vg_free(procs[p]);
    vg_free(procs);
    vg_free(tab);
    vg_free(all);
    vg_free(entry);
    vg_free(efrom);
    vg_free(eto);
    vg_free(tmp);
    return rc;
}

int vg_graph_start(vg_graph_t *g, vg_errs_t *errs)
{
    /* Extensions first, then downstream first. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = g->n; i-- > 0;) {
            vg_component_t *c = g->nodes[i];
            if ((c->f->kind == VG_KIND_EXTENSION) != (pass == 0)) continue;
            if (c->f->start) {
                int r = c->f->start(c);
                if (r) {
                    vg_errs_add(errs, NULL, c->id, "cannot start %s: %s", vg_kind_name(c->f->kind), vg_strerror(r));
                    return r;
                }
            }
            c->started = true;
        }
    }
    return 0;
}

static void graph_timer_closed(uv_handle_t *h)
{
    vg_graph_t *g = h->data;
    g->timer_init = false;
    if (g->done && !g->done_called) {
        g->done_called = true;
        g->done(g, g->done_ud);
    }
}

static void shutdown_step(uv_timer_t *t)
{
    vg_graph_t *g = t->data;
    uint64_t now = uv_now(g->loop);
    /* Upstream first; extensions last. */
    while (g->stop_idx < 2 * g->n) {
        size_t pass = g->stop_idx / g->n, i = g->stop_idx % g->n;
        vg_component_t *c = g->nodes[i];
        if ((c->f->kind == VG_KIND_EXTENSION) != (pass == 1)) { g->stop_idx++; continue; }
        if (!c->shut_down) {
            c->shut_down = true;
            if (c->f->shutdown) c->f->shutdown(c);
        }
        if (c->f->busy && c->f->busy(c)) {
            if (now < g->deadline_ms) return; /* look again on the next tick */
            if (!c->abandoned) {
                /* Deadline: the component drops what it holds and closes its handles. */
                VG_WARN(c->id, "drain deadline passed with data still in flight; dropping it");
                c->abandoned = true;
                g->grace_ms = now + ABANDON_GRACE_MS;
                if (c->f->shutdown) c->f->shutdown(c);
                if (c->f->busy(c)) return;
            } else if (now < g->grace_ms) {
                return;
            } else {
                VG_ERROR(c->id, "still has open handles after being abandoned; its memory is kept until exit");
                g->stuck = true;
            }
        }
        g->stop_idx++;
    }
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *)&g->timer, graph_timer_closed);
}

void vg_graph_shutdown(vg_graph_t *g, int64_t deadline_ns, void (*done)(vg_graph_t *, void *), void *ud)
{
    if (g->shutting) return;
    g->shutting = true;
    g->done = done;
    g->done_ud = ud;
    g->deadline_ms = uv_now(g->loop) + (uint64_t)(deadline_ns / 1000000);
    uv_timer_init(g->loop, &g->timer);
    g->timer.data = g;
    g->timer_init = true;
    if (g->n == 0) {
        uv_close((uv_handle_t *)&g->timer, graph_timer_closed);
        return;
    }
    uv_timer_start(&g->timer, shutdown_step, 0, 5);
}

void vg_graph_destroy(vg_graph_t *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) {
        vg_component_t *c = g->nodes[i];
        if (c->created && c->f->destroy) c->f->destroy(c);
        vg_free(c->id);
        vg_free(c->pipeline);
        vg_free(c);
    }
    for (size_t i = 0; i < g->nowned; i++) vg_fanout_free(g->owned[i]);
    vg_free(g->owned);
    vg_free(g->nodes);
    vg_free(g);
}
