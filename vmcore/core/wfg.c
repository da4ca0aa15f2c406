/*
 * wfg.c - the wait-for graph: who waits for whom.
 *
 * Nodes are actors (the fault handler, a scheduler thread, an application thread),
 * fences, jobs and faults; an edge a -> b says "a cannot progress until b does".  A
 * deadlock is a cycle.  Detection is incremental: inserting a -> b searches only
 * from b for a path back to a (a depth-first search bounded by what b reaches), so
 * the cost is paid where a wait starts, as lockdep does, not by rescanning the graph.
 *
 * Invariants:
 *   - each edge appears once in its source's out list and once in its target's in
 *     list; both lists name live nodes only;
 *   - marks use an epoch counter, so searches need no clearing pass.
 */
#include "common.h"

#define WFG_MAX (1u << 24)
#define WFG_MAX_DEGREE 65536u

typedef struct {
    uint32_t *out;  /* target indices */
    uint32_t *in;   /* source indices */
    uint32_t nout, cout, nin, cin;
    uint32_t gen;
    uint32_t mark;  /* epoch of the last search that visited it */
    uint32_t color; /* find_cycle: 0 white, 1 on stack, 2 done (valid when mark == epoch) */
    uint64_t label;
    uint8_t kind;
    uint8_t live;
} wnode;

struct vmc_wfg {
    uint32_t tag; /* handle tag: see vmc_handle_make */
    wnode *v;
    uint32_t n, cap;
    uint32_t *free_idx;
    uint32_t nfree, free_cap;
    uint32_t max;
    uint32_t epoch;
    uint64_t live, edges;
    uint32_t *stack_node; /* DFS stack: node */
    uint32_t *stack_edge; /* DFS stack: next out-edge to try */
    uint32_t stack_cap;
};

static wnode *wnode_get(const vmc_wfg *g, uint64_t h, uint32_t *idx)
{
    if (!g || h == 0)
        return NULL;
    uint32_t i = vmc_handle_index(h);
    if (i >= g->n)
        return NULL;
    wnode *n = &g->v[i];
    if (!n->live || n->gen != vmc_handle_gen(h, g->tag))
        return NULL;
    if (idx)
        *idx = i;
    return n;
}

static uint64_t whandle(const vmc_wfg *g, uint32_t i)
{
    return vmc_handle_make(i, g->v[i].gen, g->tag);
}

vmc_status vmc_wfg_create(uint32_t max_nodes, vmc_wfg **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = NULL;
    if (max_nodes < 1 || max_nodes > WFG_MAX)
        return VMC_E_LIMIT;
    vmc_wfg *g = calloc(1, sizeof(*g));
    if (!g)
        return VMC_E_NOMEM;
    g->tag = vmc_tag_of(g);
    g->max = max_nodes;
    *out = g;
    return VMC_OK;
}

vmc_status vmc_wfg_destroy(vmc_wfg *g)
{
    if (!g)
        return VMC_E_INVAL;
    for (uint32_t i = 0; i < g->n; i++) {
        free(g->v[i].out);
        free(g->v[i].in);
    }
    free(g->v);
    free(g->free_idx);
    free(g->stack_node);
    free(g->stack_edge);
    free(g);
    return VMC_OK;
}

vmc_status vmc_wfg_add_node(vmc_wfg *g, int kind, uint64_t label, uint64_t *out)
{
    if (!g || !out)
        return VMC_E_INVAL;
    if (kind < VMC_NODE_ACTOR || kind > VMC_NODE_FAULT)
        return VMC_E_INVAL;
    if (g->live >= g->max)
        return VMC_E_LIMIT;
    if (vmc_grow((void **)&g->free_idx, &g->free_cap, g->n + 1, sizeof(uint32_t)))
        return VMC_E_NOMEM;
    uint32_t i;
    if (g->nfree) {
        i = g->free_idx[--g->nfree];
    } else {
        if (vmc_grow((void **)&g->v, &g->cap, g->n + 1, sizeof(wnode)))
            return VMC_E_NOMEM;
        i = g->n++;
        memset(&g->v[i], 0, sizeof(wnode));
    }
    wnode *n = &g->v[i];
    n->nout = n->nin = 0;
    n->kind = (uint8_t)kind;
    n->label = label;
    n->live = 1;
    n->mark = 0;
    g->live++;
    *out = whandle(g, i);
    return VMC_OK;
}

static void list_remove(uint32_t *list, uint32_t *n, uint32_t value)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (list[i] == value) {
            list[i] = list[--*n];
            return;
        }
    }
}

vmc_status vmc_wfg_remove_node(vmc_wfg *g, uint64_t h)
{
    uint32_t i;
    wnode *n = wnode_get(g, h, &i);
    if (!n)
        return g ? VMC_E_HANDLE : VMC_E_INVAL;
    uint32_t self = 0;
    for (uint32_t k = 0; k < n->nout; k++) {
        uint32_t t = n->out[k];
        if (t == i)
            self++;
        else
            list_remove(g->v[t].in, &g->v[t].nin, i);
    }
    for (uint32_t k = 0; k < n->nin; k++) {
        uint32_t s = n->in[k];
        if (s != i)
            list_remove(g->v[s].out, &g->v[s].nout, i);
    }
    g->edges -= n->nout + n->nin - self;
    n->nout = n->nin = 0;
    n->live = 0;
    n->gen++;
    g->live--;
    g->free_idx[g->nfree++] = i;
    return VMC_OK;
}

vmc_status vmc_wfg_node_info(const vmc_wfg *g, uint64_t h, int *kind, uint64_t *label)
{
    if (!kind || !label)
        return VMC_E_INVAL;
    wnode *n = wnode_get(g, h, NULL);
    if (!n)
        return g ? VMC_E_HANDLE : VMC_E_INVAL;
    *kind = n->kind;
    *label = n->label;
    return VMC_OK;
}

static int stack_reserve(vmc_wfg *g)
{
    uint32_t c1 = g->stack_cap, c2 = g->stack_cap;
    if (vmc_grow((void **)&g->stack_node, &c1, g->n, sizeof(uint32_t)) ||
        vmc_grow((void **)&g->stack_edge, &c2, g->n, sizeof(uint32_t)))
        return -1;
    g->stack_cap = c1 < c2 ? c1 : c2;
    return 0;
}

static uint32_t next_epoch(vmc_wfg *g)
{
    if (++g->epoch == 0) { /* wrapped: clear marks once */
        for (uint32_t i = 0; i < g->n; i++)
            g->v[i].mark = 0;
        g->epoch = 1;
    }
    return g->epoch;
}

static void emit_cycle(const vmc_wfg *g, const uint32_t *nodes, uint32_t count, uint64_t *cycle,
                       size_t cap, size_t *len)
{
    for (uint32_t k = 0; k < count && k < cap; k++)
        cycle[k] = whandle(g, nodes[k]);
    *len = count;
}

vmc_status vmc_wfg_add_edge(vmc_wfg *g, uint64_t ah, uint64_t bh, uint64_t *cycle, size_t cap,
                            size_t *cycle_len)
{
    uint32_t a = 0, b = 0;
    if (!g || !cycle_len || (cap && !cycle))
        return VMC_E_INVAL;
    wnode *na = wnode_get(g, ah, &a);
    wnode *nb = wnode_get(g, bh, &b);
    if (!na || !nb)
        return VMC_E_HANDLE;
    for (uint32_t k = 0; k < na->nout; k++)
        if (na->out[k] == b)
            return VMC_E_STATE;
    if (na->nout >= WFG_MAX_DEGREE || nb->nin >= WFG_MAX_DEGREE)
        return VMC_E_LIMIT;
    if (stack_reserve(g) ||
        vmc_grow((void **)&na->out, &na->cout, na->nout + 1, sizeof(uint32_t)))
        return VMC_E_NOMEM;
    nb = &g->v[b];
    if (vmc_grow((void **)&nb->in, &nb->cin, nb->nin + 1, sizeof(uint32_t)))
        return VMC_E_NOMEM;
    na = &g->v[a];

    /* Search from b for a before inserting: the stack holds the path b .. a. */
    *cycle_len = 0;
    uint32_t ep = next_epoch(g);
    uint32_t sp = 0;
    g->stack_node[sp] = b;
    g->stack_edge[sp] = 0;
    sp++;
    g->v[b].mark = ep;
    int found = (a == b);
    while (sp && !found) {
        uint32_t cur = g->stack_node[sp - 1];
        wnode *c = &g->v[cur];
        if (g->stack_edge[sp - 1] >= c->nout) {
            sp--;
            continue;
        }
        uint32_t nxt = c->out[g->stack_edge[sp - 1]++];
        if (g->v[nxt].mark == ep)
            continue;
        g->v[nxt].mark = ep;
        g->stack_node[sp] = nxt;
        g->stack_edge[sp] = 0;
        sp++;
        if (nxt == a)
            found = 1;
    }
    if (found) {
        /* cycle: a, b, ..., node before a  ==  a followed by stack[0 .. sp-2] */
        uint32_t count = (a == b) ? 1 : sp;
        if (cap)
            cycle[0] = whandle(g, a);
        for (uint32_t k = 1; k < count && k < cap; k++)
            cycle[k] = whandle(g, g->stack_node[k - 1]);
        *cycle_len = count;
    }

    na->out[na->nout++] = b;
    g->v[b].in[g->v[b].nin++] = a;
    g->edges++;
    return VMC_OK;
}

vmc_status vmc_wfg_remove_edge(vmc_wfg *g, uint64_t ah, uint64_t bh)
{
    uint32_t a = 0, b = 0;
    if (!g)
        return VMC_E_INVAL;
    wnode *na = wnode_get(g, ah, &a);
    wnode *nb = wnode_get(g, bh, &b);
    if (!na || !nb)
        return VMC_E_HANDLE;
    uint32_t before = na->nout;
    list_remove(na->out, &na->nout, b);
    if (na->nout == before)
        return VMC_E_STATE;
    list_remove(nb->in, &nb->nin, a);
    g->edges--;
    return VMC_OK;
}

vmc_status vmc_wfg_has_edge(const vmc_wfg *g, uint64_t ah, uint64_t bh, int *out)
{
    uint32_t b = 0;
    if (!g || !out)
        return VMC_E_INVAL;
    wnode *na = wnode_get(g, ah, NULL);
    if (!na || !wnode_get(g, bh, &b))
        return VMC_E_HANDLE;
    *out = 0;
    for (uint32_t k = 0; k < na->nout; k++)
        if (na->out[k] == b)
            *out = 1;
    return VMC_OK;
}

vmc_status vmc_wfg_find_cycle(vmc_wfg *g, uint64_t *cycle, size_t cap, size_t *cycle_len)
{
    if (!g || !cycle_len || (cap && !cycle))
        return VMC_E_INVAL;
    if (stack_reserve(g))
        return VMC_E_NOMEM;
    *cycle_len = 0;
    uint32_t ep = next_epoch(g);
    for (uint32_t root = 0; root < g->n; root++) {
        if (!g->v[root].live || g->v[root].mark == ep)
            continue;
        uint32_t sp = 0;
        g->stack_node[sp] = root;
        g->stack_edge[sp] = 0;
        sp++;
        g->v[root].mark = ep;
        g->v[root].color = 1;
        while (sp) {
            uint32_t cur = g->stack_node[sp - 1];
            wnode *c = &g->v[cur];
            if (g->stack_edge[sp - 1] >= c->nout) {
                c->color = 2;
                sp--;
                continue;
            }
            uint32_t nxt = c->out[g->stack_edge[sp - 1]++];
            wnode *x = &g->v[nxt];
            if (x->mark == ep) {
                if (x->color == 1) {
                    uint32_t k = sp;
                    while (k > 0 && g->stack_node[k - 1] != nxt)
                        k--;
                    emit_cycle(g, g->stack_node + (k - 1), sp - (k - 1), cycle, cap, cycle_len);
                    return VMC_OK;
                }
                continue;
            }
            x->mark = ep;
            x->color = 1;
            g->stack_node[sp] = nxt;
            g->stack_edge[sp] = 0;
            sp++;
        }
    }
    return VMC_OK;
}

vmc_status vmc_wfg_counters(const vmc_wfg *g, uint64_t *nodes, uint64_t *edges)
{
    if (!g || !nodes || !edges)
        return VMC_E_INVAL;
    *nodes = g->live;
    *edges = g->edges;
    return VMC_OK;
}
