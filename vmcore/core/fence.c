/*
 * fence.c - a table of dma_fence-like fences.
 *
 * A fence is created UNARMED with a kind (kernel or user work) and a producer (the
 * engine id the caller uses).  Dependencies are added while it is UNARMED; arming
 * freezes them and computes the transitive "depends on user work" flag, the model of
 * what dma_fence_begin_signalling annotations let lockdep see: a fence whose ancestry
 * includes a user fence can wait forever on user work.  Because every dependency must
 * already be armed, the flag of a fence is final when it is armed and the question is
 * answered in O(1).  An armed fence may get an error (negative errno) and signals once.
 *
 * Invariants:
 *   - deps of a live fence are handles that were live when they were added (they may
 *     have been released since; they are reported as they were);
 *   - user == (kind == USER || some dep was user) and user_ancestor names a user fence
 *     whenever user is set;
 *   - pins counts the dependency entries of UNARMED fences naming this fence.  Arming
 *     reads the flag of every dependency, released ones included, so a fence released
 *     while pinned keeps its slot (a "zombie": handle already dead, flag still readable)
 *     until the last fence naming it is armed.  Without this the flag of a fence would
 *     depend on whether an ancestor happened to be released before it was armed.
 */
#include "common.h"

#define FENCE_MAX (1u << 24)
#define FENCE_MAX_DEPS 4096u

typedef struct {
    uint64_t *deps;
    uint32_t ndeps, cap;
    uint32_t gen;
    uint32_t producer;
    int32_t error;
    uint64_t user_ancestor;
    uint64_t pins;   /* dependency entries of unarmed fences naming this fence */
    uint8_t kind;
    uint8_t state;
    uint8_t user;
    uint8_t live;
    uint8_t zombie;  /* released but pinned: slot kept, not on the free list */
} fence;

struct vmc_fences {
    uint32_t tag; /* handle tag: see vmc_handle_make */
    fence *f;
    uint32_t n, cap;
    uint32_t *free_idx;
    uint32_t nfree, free_cap;
    uint32_t max;
    uint64_t live;
    uint64_t pending;
};

static fence *fence_get(const vmc_fences *t, uint64_t h)
{
    if (!t || h == 0)
        return NULL;
    uint32_t i = vmc_handle_index(h);
    if (i >= t->n)
        return NULL;
    fence *f = &t->f[i];
    if (!f->live || f->gen != vmc_handle_gen(h, t->tag))
        return NULL;
    return f;
}

/* A dependency entry of an unarmed fence: live, or released and still pinned. */
static fence *fence_dep(const vmc_fences *t, uint64_t h)
{
    fence *f = fence_get(t, h);
    if (f)
        return f;
    uint32_t i = vmc_handle_index(h);
    if (h == 0 || i >= t->n)
        return NULL;
    f = &t->f[i];
    /* release bumped the generation once; a zombie slot is never reused */
    if (!f->zombie || f->gen != vmc_handle_gen(h, t->tag) + 1u)
        return NULL;
    return f;
}

static void fence_free_slot(vmc_fences *t, fence *f)
{
    f->zombie = 0;
    t->free_idx[t->nfree++] = (uint32_t)(f - t->f);
}

vmc_status vmc_fences_create(uint32_t max_fences, vmc_fences **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = NULL;
    if (max_fences < 1 || max_fences > FENCE_MAX)
        return VMC_E_LIMIT;
    vmc_fences *t = calloc(1, sizeof(*t));
    if (!t)
        return VMC_E_NOMEM;
    t->tag = vmc_tag_of(t);
    t->max = max_fences;
    *out = t;
    return VMC_OK;
}

vmc_status vmc_fences_destroy(vmc_fences *t)
{
    if (!t)
        return VMC_E_INVAL;
    for (uint32_t i = 0; i < t->n; i++)
        free(t->f[i].deps);
    free(t->f);
    free(t->free_idx);
    free(t);
    return VMC_OK;
}

vmc_status vmc_fence_create(vmc_fences *t, int kind, uint32_t producer, uint64_t *out)
{
    if (!t || !out)
        return VMC_E_INVAL;
    if (kind != VMC_FENCE_KERNEL && kind != VMC_FENCE_USER)
        return VMC_E_INVAL;
    if (t->live >= t->max)
        return VMC_E_LIMIT;
    if (vmc_grow((void **)&t->free_idx, &t->free_cap, t->n + 1, sizeof(uint32_t)))
        return VMC_E_NOMEM;
    uint32_t i;
    if (t->nfree) {
        i = t->free_idx[--t->nfree];
    } else {
        if (vmc_grow((void **)&t->f, &t->cap, t->n + 1, sizeof(fence)))
            return VMC_E_NOMEM;
        i = t->n++;
        memset(&t->f[i], 0, sizeof(fence));
    }
    fence *f = &t->f[i];
    f->ndeps = 0;
    f->producer = producer;
    f->error = 0;
    f->kind = (uint8_t)kind;
    f->state = VMC_FENCE_UNARMED;
    f->user = 0;
    f->user_ancestor = 0;
    f->pins = 0;
    f->zombie = 0;
    f->live = 1;
    t->live++;
    t->pending++;
    *out = vmc_handle_make(i, f->gen, t->tag);
    return VMC_OK;
}

vmc_status vmc_fence_add_dep(vmc_fences *t, uint64_t fh, uint64_t dh)
{
    fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    fence *d = fence_get(t, dh);
    if (!d || fh == dh)
        return VMC_E_HANDLE;
    if (f->state != VMC_FENCE_UNARMED)
        return VMC_E_STATE;
    if (f->ndeps >= FENCE_MAX_DEPS)
        return VMC_E_LIMIT;
    if (vmc_grow((void **)&f->deps, &f->cap, f->ndeps + 1, sizeof(uint64_t)))
        return VMC_E_NOMEM;
    f->deps[f->ndeps++] = dh;
    d->pins++;
    return VMC_OK;
}

vmc_status vmc_fence_arm(vmc_fences *t, uint64_t fh)
{
    fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    if (f->state != VMC_FENCE_UNARMED)
        return VMC_E_STATE;
    /* First pass: refuse before changing anything.  A released dependency had
     * signaled, so only live ones can be unarmed. */
    for (uint32_t i = 0; i < f->ndeps; i++) {
        const fence *d = fence_get(t, f->deps[i]);
        if (d && d->state == VMC_FENCE_UNARMED)
            return VMC_E_STATE;
    }
    /* Second pass: every entry pinned its dependency at add_dep, so released ones are
     * still readable here; fold their flags and drop the pins. */
    uint8_t user = f->kind == VMC_FENCE_USER;
    uint64_t anc = user ? fh : 0;
    for (uint32_t i = 0; i < f->ndeps; i++) {
        fence *d = fence_dep(t, f->deps[i]);
        if (!d)
            continue; /* cannot happen: pinned entries stay readable */
        if (d->user && !user) {
            user = 1;
            anc = d->user_ancestor;
        }
        if (d->pins)
            d->pins--;
        if (d->zombie && d->pins == 0)
            fence_free_slot(t, d);
    }
    f->user = user;
    f->user_ancestor = anc;
    f->state = VMC_FENCE_ARMED;
    return VMC_OK;
}

vmc_status vmc_fence_signal(vmc_fences *t, uint64_t fh)
{
    fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    if (f->state != VMC_FENCE_ARMED)
        return VMC_E_STATE;
    f->state = VMC_FENCE_SIGNALED;
    t->pending--;
    return VMC_OK;
}

vmc_status vmc_fence_set_error(vmc_fences *t, uint64_t fh, int32_t error)
{
    fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    if (error >= 0 || error < -4095)
        return VMC_E_INVAL;
    if (f->state != VMC_FENCE_ARMED)
        return VMC_E_STATE;
    f->error = error;
    return VMC_OK;
}

vmc_status vmc_fence_state(const vmc_fences *t, uint64_t fh, int *state, int32_t *error)
{
    if (!state || !error)
        return VMC_E_INVAL;
    const fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    *state = f->state;
    *error = f->error;
    return VMC_OK;
}

vmc_status vmc_fence_info(const vmc_fences *t, uint64_t fh, int *kind, uint32_t *producer,
                          uint32_t *ndeps)
{
    if (!kind || !producer || !ndeps)
        return VMC_E_INVAL;
    const fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    *kind = f->kind;
    *producer = f->producer;
    *ndeps = f->ndeps;
    return VMC_OK;
}

vmc_status vmc_fence_depends_on_user(const vmc_fences *t, uint64_t fh, int *out,
                                     uint64_t *ancestor)
{
    if (!out || !ancestor)
        return VMC_E_INVAL;
    const fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    if (f->state == VMC_FENCE_UNARMED)
        return VMC_E_STATE;
    *out = f->user;
    *ancestor = f->user_ancestor;
    return VMC_OK;
}

vmc_status vmc_fence_deps_signaled(const vmc_fences *t, uint64_t fh, int *out)
{
    if (!out)
        return VMC_E_INVAL;
    const fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    int ok = 1;
    for (uint32_t i = 0; i < f->ndeps && ok; i++) {
        const fence *d = fence_get(t, f->deps[i]);
        if (d && d->state != VMC_FENCE_SIGNALED)
            ok = 0;
    }
    *out = ok;
    return VMC_OK;
}

vmc_status vmc_fence_deps(const vmc_fences *t, uint64_t fh, uint64_t *out, size_t cap,
                          size_t *n)
{
    if (!n || (cap && !out))
        return VMC_E_INVAL;
    const fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    for (uint32_t i = 0; i < f->ndeps && i < cap; i++)
        out[i] = f->deps[i];
    *n = f->ndeps;
    return VMC_OK;
}

vmc_status vmc_fence_release(vmc_fences *t, uint64_t fh)
{
    fence *f = fence_get(t, fh);
    if (!f)
        return t ? VMC_E_HANDLE : VMC_E_INVAL;
    if (f->state != VMC_FENCE_SIGNALED)
        return VMC_E_STATE;
    f->live = 0;
    f->gen++;
    f->ndeps = 0;
    t->live--;
    if (f->pins)
        f->zombie = 1; /* an unarmed fence still needs its flag; freed when it arms */
    else
        fence_free_slot(t, f);
    return VMC_OK;
}

vmc_status vmc_fences_counters(const vmc_fences *t, uint64_t *live, uint64_t *pending)
{
    if (!t || !live || !pending)
        return VMC_E_INVAL;
    *live = t->live;
    *pending = t->pending;
    return VMC_OK;
}
