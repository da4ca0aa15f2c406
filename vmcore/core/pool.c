/*
 * pool.c - a buddy allocator for one memory domain (VRAM or GTT), 4 KiB minimum block.
 *
 * The pool is carved into maximal aligned power-of-two blocks; each free block sits on
 * the free list of its order.  An allocation takes the smallest free block of a large
 * enough order and splits it, a free merges a block with its buddy while the buddy is
 * free and of the same order (as drm_buddy does for amdgpu's VRAM manager).  Metadata
 * lives in per-page arrays indexed by a block's first page, so nothing is allocated per
 * block.  Pinned blocks cannot be freed until unpinned: that is how a pinned root PD
 * costs contiguous VRAM.
 *
 * Invariants: the free and allocated blocks tile the pool exactly; a free block's buddy
 * is never a free block of the same order (it would have merged); free_bytes and
 * pinned_bytes are the sums they name.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <sys/mman.h>

#include "common.h"

#define MAX_ORDER 26
#define POOL_MAP_MIN ((size_t)1 << 20) /* per-page arrays this large are mapped lazily */
#define ST_NONE 0
#define ST_FREE 1
#define ST_USED 2

struct vmc_pool {
    uint32_t tag; /* handle tag: see vmc_handle_make */
    uint64_t npages;
    uint8_t *order;
    uint8_t *state;
    uint8_t *pinned;
    uint32_t *next, *prev; /* free-list links: page index + 1, 0 = end */
    uint32_t *gen;
    uint32_t head[MAX_ORDER + 1];
    uint64_t free_pages, pinned_pages;
    size_t mapped; /* bytes of the per-page arrays' mapping */
};

static void list_push(vmc_pool *p, uint32_t pg, unsigned k)
{
    p->state[pg] = ST_FREE;
    p->order[pg] = (uint8_t)k;
    p->prev[pg] = 0;
    p->next[pg] = p->head[k];
    if (p->head[k])
        p->prev[p->head[k] - 1] = pg + 1;
    p->head[k] = pg + 1;
}

static void list_del(vmc_pool *p, uint32_t pg)
{
    unsigned k = p->order[pg];
    if (p->prev[pg])
        p->next[p->prev[pg] - 1] = p->next[pg];
    else
        p->head[k] = p->next[pg];
    if (p->next[pg])
        p->prev[p->next[pg] - 1] = p->prev[pg];
    p->state[pg] = ST_NONE;
}

vmc_status vmc_pool_create(uint64_t size, vmc_pool **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = NULL;
    if (size == 0 || size % VMC_POOL_MIN_BLOCK)
        return VMC_E_ALIGN;
    uint64_t npages = size / VMC_POOL_MIN_BLOCK;
    if (npages > VMC_POOL_MAX_BLOCKS)
        return VMC_E_LIMIT;
    vmc_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return VMC_E_NOMEM;
    p->tag = vmc_tag_of(p);
    p->npages = npages;
    /* every per-page array in one block; a large one is an anonymous mapping, whose
     * pages are zero and come into being when first touched, so a pool costs what is
     * used of it, not its size (one is made per GPU and domain for every run) */
    size_t bytes = (size_t)npages * (3 * sizeof(uint32_t) + 3);
    void *m;
    if (bytes >= POOL_MAP_MIN) {
        m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            m = NULL;
        else
            p->mapped = bytes;
    } else {
        m = calloc(1, bytes); /* small: cheaper than a mapping */
    }
    if (!m) {
        free(p);
        return VMC_E_NOMEM;
    }
    uint32_t *words = m;
    p->next = words;
    p->prev = words + npages;
    p->gen = words + 2 * npages;
    p->order = (uint8_t *)(words + 3 * npages);
    p->state = p->order + npages;
    p->pinned = p->state + npages;
    /* carve into maximal aligned blocks, high addresses pushed first so that the
     * lowest block of an order is at the head of its list */
    uint64_t starts[64];
    unsigned orders[64];
    unsigned nb = 0;
    for (uint64_t pg = 0; pg < npages;) {
        unsigned k = MAX_ORDER;
        while (k > 0 && ((pg & (((uint64_t)1 << k) - 1)) || pg + ((uint64_t)1 << k) > npages))
            k--;
        starts[nb] = pg;
        orders[nb] = k;
        nb++;
        pg += (uint64_t)1 << k;
    }
    while (nb--)
        list_push(p, (uint32_t)starts[nb], orders[nb]);
    p->free_pages = npages;
    *out = p;
    return VMC_OK;
}

vmc_status vmc_pool_destroy(vmc_pool *p)
{
    if (!p)
        return VMC_E_INVAL;
    if (p->mapped) /* the one block holding every per-page array */
        munmap(p->next, p->mapped);
    else
        free(p->next);
    free(p);
    return VMC_OK;
}

vmc_status vmc_pool_alloc(vmc_pool *p, uint64_t size, uint64_t *out)
{
    if (!p || !out || size == 0)
        return VMC_E_INVAL;
    if (size > p->npages * VMC_POOL_MIN_BLOCK)
        return VMC_E_NOSPACE;
    uint64_t pages = (size + VMC_POOL_MIN_BLOCK - 1) / VMC_POOL_MIN_BLOCK;
    unsigned order = 0;
    while (((uint64_t)1 << order) < pages)
        order++;
    if (order > MAX_ORDER)
        return VMC_E_NOSPACE;
    unsigned k = order;
    while (k <= MAX_ORDER && !p->head[k])
        k++;
    if (k > MAX_ORDER)
        return VMC_E_NOSPACE;
    uint32_t pg = p->head[k] - 1;
    list_del(p, pg);
    while (k > order) {
        k--;
        list_push(p, pg + (1u << k), k);
    }
    p->state[pg] = ST_USED;
    p->order[pg] = (uint8_t)order;
    p->pinned[pg] = 0;
    p->free_pages -= (uint64_t)1 << order;
    *out = vmc_handle_make(pg, p->gen[pg], p->tag);
    return VMC_OK;
}

static uint64_t largest_free_pages(const vmc_pool *p)
{
    for (int k = MAX_ORDER; k >= 0; k--)
        if (p->head[k])
            return (uint64_t)1 << k;
    return 0;
}

static unsigned floor_log2(uint64_t x)
{
    unsigned k = 0;
    while (x >>= 1)
        k++;
    return k;
}

vmc_status vmc_pool_alloc_bo(vmc_pool *p, uint64_t size, int contiguous, uint64_t *handles,
                             uint64_t *offsets, uint64_t *sizes, uint32_t cap, uint32_t *n)
{
    if (!p || !n || size == 0 || (cap && (!handles || !offsets || !sizes)))
        return VMC_E_INVAL;
    *n = 0;
    uint64_t pages = (size + VMC_POOL_MIN_BLOCK - 1) / VMC_POOL_MIN_BLOCK;
    if (pages > p->npages)
        return VMC_E_NOSPACE;
    if (contiguous) {
        uint64_t want = 1;
        while (want < pages)
            want <<= 1;
        if (want > largest_free_pages(p))
            return VMC_E_NOSPACE;
        if (cap < 1)
            return VMC_E_RANGE;
        vmc_status st = vmc_pool_alloc(p, want * VMC_POOL_MIN_BLOCK, &handles[0]);
        if (st != VMC_OK)
            return st;
        offsets[0] = (uint64_t)vmc_handle_index(handles[0]) * VMC_POOL_MIN_BLOCK;
        sizes[0] = pages * VMC_POOL_MIN_BLOCK;
        *n = 1;
        return VMC_OK;
    }
    if (pages > p->free_pages)
        return VMC_E_NOSPACE;
    /* the largest power-of-two blocks first, each at most the largest free block */
    uint64_t remaining = pages;
    uint32_t i = 0;
    while (remaining) {
        uint64_t chunk = (uint64_t)1 << floor_log2(remaining);
        uint64_t largest = largest_free_pages(p);
        if (chunk > largest)
            chunk = largest;
        if (i >= cap) {
            *n = i;
            return VMC_E_RANGE; /* the blocks so far are kept: the caller asks for the rest */
        }
        vmc_status st = vmc_pool_alloc(p, chunk * VMC_POOL_MIN_BLOCK, &handles[i]);
        if (st != VMC_OK)
            return st; /* not reached: free pages >= remaining means a block of chunk exists */
        offsets[i] = (uint64_t)vmc_handle_index(handles[i]) * VMC_POOL_MIN_BLOCK;
        sizes[i] = chunk * VMC_POOL_MIN_BLOCK;
        remaining -= chunk;
        i++;
    }
    *n = i;
    return VMC_OK;
}

static int block_get(const vmc_pool *p, uint64_t h, uint32_t *pg)
{
    if (!p || h == 0)
        return 0;
    uint32_t i = vmc_handle_index(h);
    if (i >= p->npages || p->state[i] != ST_USED || p->gen[i] != vmc_handle_gen(h, p->tag))
        return 0;
    *pg = i;
    return 1;
}

vmc_status vmc_pool_free(vmc_pool *p, uint64_t h)
{
    uint32_t pg = 0;
    if (!block_get(p, h, &pg))
        return p ? VMC_E_HANDLE : VMC_E_INVAL;
    if (p->pinned[pg])
        return VMC_E_BUSY;
    unsigned k = p->order[pg];
    p->gen[pg]++;
    p->state[pg] = ST_NONE;
    p->free_pages += (uint64_t)1 << k;
    while (k < MAX_ORDER) {
        uint32_t buddy = pg ^ (1u << k);
        if ((uint64_t)buddy + ((uint64_t)1 << k) > p->npages)
            break;
        if (p->state[buddy] != ST_FREE || p->order[buddy] != k)
            break;
        list_del(p, buddy);
        if (buddy < pg)
            pg = buddy;
        k++;
    }
    list_push(p, pg, k);
    return VMC_OK;
}

vmc_status vmc_pool_pin(vmc_pool *p, uint64_t h)
{
    uint32_t pg = 0;
    if (!block_get(p, h, &pg))
        return p ? VMC_E_HANDLE : VMC_E_INVAL;
    if (p->pinned[pg])
        return VMC_E_STATE;
    p->pinned[pg] = 1;
    p->pinned_pages += (uint64_t)1 << p->order[pg];
    return VMC_OK;
}

vmc_status vmc_pool_unpin(vmc_pool *p, uint64_t h)
{
    uint32_t pg = 0;
    if (!block_get(p, h, &pg))
        return p ? VMC_E_HANDLE : VMC_E_INVAL;
    if (!p->pinned[pg])
        return VMC_E_STATE;
    p->pinned[pg] = 0;
    p->pinned_pages -= (uint64_t)1 << p->order[pg];
    return VMC_OK;
}

vmc_status vmc_pool_block(const vmc_pool *p, uint64_t h, vmc_block_info *out)
{
    uint32_t pg = 0;
    if (!out)
        return VMC_E_INVAL;
    if (!block_get(p, h, &pg))
        return p ? VMC_E_HANDLE : VMC_E_INVAL;
    out->offset = (uint64_t)pg * VMC_POOL_MIN_BLOCK;
    out->size = ((uint64_t)1 << p->order[pg]) * VMC_POOL_MIN_BLOCK;
    out->pinned = p->pinned[pg];
    return VMC_OK;
}

vmc_status vmc_pool_stats(const vmc_pool *p, uint64_t *size, uint64_t *free_bytes,
                          uint64_t *largest_free, uint64_t *pinned_bytes,
                          uint32_t *fragmentation_ppm)
{
    if (!p || !size || !free_bytes || !largest_free || !pinned_bytes || !fragmentation_ppm)
        return VMC_E_INVAL;
    uint64_t largest = 0;
    for (int k = MAX_ORDER; k >= 0; k--) {
        if (p->head[k]) {
            largest = (uint64_t)1 << k;
            break;
        }
    }
    *size = p->npages * VMC_POOL_MIN_BLOCK;
    *free_bytes = p->free_pages * VMC_POOL_MIN_BLOCK;
    *largest_free = largest * VMC_POOL_MIN_BLOCK;
    *pinned_bytes = p->pinned_pages * VMC_POOL_MIN_BLOCK;
    *fragmentation_ppm =
        p->free_pages ? (uint32_t)(1000000u - (largest * 1000000u) / p->free_pages) : 0;
    return VMC_OK;
}
