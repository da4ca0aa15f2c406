/*
 * store.c - the page store: one 64-bit value per simulated physical 4 KiB page.
 *
 * Physical memory is a sorted array of regions, each a contiguous run of pages with its
 * own value array.  A lookup is a binary search over regions; bulk operations walk runs
 * inside one region at a time.  GPU accesses translate through a VM's PTEs in chunks
 * (vmc_vm_read_ptes), so an access through a stale PTE reads or writes the old page,
 * as real hardware would.
 *
 * Invariants: regions are sorted by base and do not overlap; values of a new region are 0.
 */
#include "common.h"

#define STORE_CHUNK 512u

typedef struct {
    uint64_t base;   /* physical address of the first page */
    uint64_t npages;
    uint64_t *values;
} region;

struct vmc_store {
    region *r;
    uint32_t n, cap;
};

vmc_status vmc_store_create(vmc_store **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = calloc(1, sizeof(vmc_store));
    return *out ? VMC_OK : VMC_E_NOMEM;
}

vmc_status vmc_store_destroy(vmc_store *s)
{
    if (!s)
        return VMC_E_INVAL;
    for (uint32_t i = 0; i < s->n; i++)
        free(s->r[i].values);
    free(s->r);
    free(s);
    return VMC_OK;
}

/* Index of the last region whose base <= phys, or -1. */
static int64_t find(const vmc_store *s, uint64_t phys)
{
    int64_t lo = 0, hi = (int64_t)s->n - 1, ans = -1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (s->r[mid].base <= phys) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

/* The region holding [phys, phys + npages pages) entirely, or NULL. */
static region *holding(const vmc_store *s, uint64_t phys, uint64_t npages)
{
    int64_t i = find(s, phys);
    if (i < 0)
        return NULL;
    region *r = &s->r[i];
    uint64_t first = (phys - r->base) >> VMC_PAGE_SHIFT;
    if (first >= r->npages || npages > r->npages - first)
        return NULL;
    return r;
}

vmc_status vmc_store_add_region(vmc_store *s, uint64_t base, uint64_t npages)
{
    if (!s || npages == 0)
        return VMC_E_INVAL;
    if (base & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    if (npages > ((UINT64_MAX - base) >> VMC_PAGE_SHIFT) || npages > ((uint64_t)1 << 32))
        return VMC_E_RANGE;
    if (s->n >= VMC_STORE_MAX_REGIONS)
        return VMC_E_LIMIT;
    uint64_t end = base + (npages << VMC_PAGE_SHIFT);
    int64_t i = find(s, base);
    if (i >= 0 && s->r[i].base + (s->r[i].npages << VMC_PAGE_SHIFT) > base)
        return VMC_E_BUSY;
    if (i + 1 < (int64_t)s->n && s->r[i + 1].base < end)
        return VMC_E_BUSY;
    uint64_t *values = calloc(npages, sizeof(uint64_t));
    if (!values)
        return VMC_E_NOMEM;
    if (vmc_grow((void **)&s->r, &s->cap, s->n + 1, sizeof(region))) {
        free(values);
        return VMC_E_NOMEM;
    }
    uint32_t at = (uint32_t)(i + 1);
    memmove(&s->r[at + 1], &s->r[at], (s->n - at) * sizeof(region));
    s->r[at].base = base;
    s->r[at].npages = npages;
    s->r[at].values = values;
    s->n++;
    return VMC_OK;
}

vmc_status vmc_store_fill(vmc_store *s, uint64_t phys, uint64_t npages, uint64_t value)
{
    if (!s)
        return VMC_E_INVAL;
    if (phys & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    if (npages == 0)
        return VMC_OK;
    region *r = holding(s, phys, npages);
    if (!r)
        return VMC_E_RANGE;
    uint64_t *v = r->values + ((phys - r->base) >> VMC_PAGE_SHIFT);
    for (uint64_t i = 0; i < npages; i++)
        v[i] = value;
    return VMC_OK;
}

vmc_status vmc_store_copy(vmc_store *s, uint64_t src, uint64_t dst, uint64_t npages)
{
    if (!s)
        return VMC_E_INVAL;
    if ((src | dst) & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    if (npages == 0)
        return VMC_OK;
    region *a = holding(s, src, npages);
    region *b = holding(s, dst, npages);
    if (!a || !b)
        return VMC_E_RANGE;
    memmove(b->values + ((dst - b->base) >> VMC_PAGE_SHIFT), a->values + ((src - a->base) >> VMC_PAGE_SHIFT),
            npages * sizeof(uint64_t));
    return VMC_OK;
}

vmc_status vmc_store_get(const vmc_store *s, uint64_t phys, uint64_t *value)
{
    if (!s || !value)
        return VMC_E_INVAL;
    region *r = holding(s, phys & ~(uint64_t)(VMC_PAGE_SIZE - 1), 1);
    if (!r)
        return VMC_E_RANGE;
    *value = r->values[(phys - r->base) >> VMC_PAGE_SHIFT];
    return VMC_OK;
}

vmc_status vmc_store_check(const vmc_store *s, uint64_t phys, uint64_t npages, uint64_t value,
                           uint64_t *mismatch, uint64_t *seen)
{
    if (!s || !mismatch || !seen)
        return VMC_E_INVAL;
    if (phys & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    *mismatch = npages;
    *seen = value;
    if (npages == 0)
        return VMC_OK;
    region *r = holding(s, phys, npages);
    if (!r)
        return VMC_E_RANGE;
    const uint64_t *v = r->values + ((phys - r->base) >> VMC_PAGE_SHIFT);
    for (uint64_t i = 0; i < npages; i++) {
        if (v[i] != value) {
            *mismatch = i;
            *seen = v[i];
            break;
        }
    }
    return VMC_OK;
}

static int translate(uint64_t pte, uint64_t *phys)
{
    /* valid, and not the silent-retry encoding (address 0, no permissions) */
    if (!(pte & VMC_PTE_VALID))
        return 0;
    if ((pte & (VMC_PTE_ADDR_MASK | VMC_PTE_READABLE | VMC_PTE_WRITEABLE | VMC_PTE_EXECUTABLE)) == 0)
        return 0;
    *phys = pte & VMC_PTE_ADDR_MASK;
    return 1;
}

vmc_status vmc_vm_store_write(const vmc_vm *vm, vmc_store *s, uint64_t va, uint64_t npages,
                              uint64_t value, uint64_t *written)
{
    if (!vm || !s || !written)
        return VMC_E_INVAL;
    uint64_t ptes[STORE_CHUNK];
    uint64_t n = 0;
    for (uint64_t done = 0; done < npages;) {
        uint64_t cnt = npages - done < STORE_CHUNK ? npages - done : STORE_CHUNK;
        vmc_status st = vmc_vm_read_ptes(vm, va + (done << VMC_PAGE_SHIFT), cnt, ptes);
        if (st)
            return st;
        for (uint64_t i = 0; i < cnt; i++) {
            uint64_t phys;
            if (translate(ptes[i], &phys)) {
                region *r = holding(s, phys, 1);
                if (r) {
                    r->values[(phys - r->base) >> VMC_PAGE_SHIFT] = value;
                    n++;
                }
            }
        }
        done += cnt;
    }
    *written = n;
    return VMC_OK;
}

vmc_status vmc_vm_store_copy(const vmc_vm *vm, vmc_store *s, uint64_t src_va, uint64_t dst_va,
                             uint64_t npages, uint64_t *copied)
{
    if (!vm || !s || !copied)
        return VMC_E_INVAL;
    uint64_t a[STORE_CHUNK], b[STORE_CHUNK];
    uint64_t n = 0;
    for (uint64_t done = 0; done < npages;) {
        uint64_t cnt = npages - done < STORE_CHUNK ? npages - done : STORE_CHUNK;
        vmc_status st = vmc_vm_read_ptes(vm, src_va + (done << VMC_PAGE_SHIFT), cnt, a);
        if (!st)
            st = vmc_vm_read_ptes(vm, dst_va + (done << VMC_PAGE_SHIFT), cnt, b);
        if (st)
            return st;
        for (uint64_t i = 0; i < cnt; i++) {
            uint64_t ps, pd;
            if (translate(a[i], &ps) && translate(b[i], &pd)) {
                region *rs = holding(s, ps, 1);
                region *rd = holding(s, pd, 1);
                if (rs && rd) {
                    rd->values[(pd - rd->base) >> VMC_PAGE_SHIFT] = rs->values[(ps - rs->base) >> VMC_PAGE_SHIFT];
                    n++;
                }
            }
        }
        done += cnt;
    }
    *copied = n;
    return VMC_OK;
}
