/*
 * pt.c - gfx9 multi-level GPU page tables.
 *
 * A VM is a tree of page-table BOs: the root PD (PDB2) covers the 48-bit VA space,
 * each PDB2/PDB1/PDB0 entry covers 512 GiB / 1 GiB / 2 MiB, and each PTB holds 512
 * PTEs of 4 KiB pages (amdgpu_vm_pt_level_shift: PTB at VA bits 12-20, PDB0 21-29,
 * PDB1 30-38, PDB2 39-47).  Every BO is a node in vm->nodes with 512 64-bit entries;
 * directories also keep the node index of each child, so a walk never has to decode
 * an address back into a node.  A PDE holds the child's address | VALID, as the
 * hardware would read it.
 *
 * Invariants:
 *   - node `root` is live and is the only node without a parent;
 *   - a live directory's entry i is nonzero iff children[i] names a live child whose
 *     parent/parent_slot point back to it, and entry i == child.addr | VALID;
 *   - a PTB's count equals the number of its entries that are mapped (VALID and not
 *     in silent-retry mode); vm->mapped is the sum over all PTBs;
 *   - vm->resident counts live nodes.
 */
#include "common.h"

#define PT_FLAGS_ALLOWED (VMC_PTE_SYSTEM | VMC_PTE_SNOOPED | VMC_PTE_TMZ | VMC_PTE_EXECUTABLE | \
                          VMC_PTE_READABLE | VMC_PTE_WRITEABLE | VMC_PTE_FRAG_MASK)
#define PT_PERMS (VMC_PTE_EXECUTABLE | VMC_PTE_READABLE | VMC_PTE_WRITEABLE)
#define PT_SILENT (VMC_PTE_VALID | VMC_PTE_SYSTEM | VMC_PTE_SNOOPED)
#define PT_NORETRY (VMC_PTE_EXECUTABLE | VMC_PDE_PTE | VMC_PTE_TF)
#define PT_VA_LIMIT ((uint64_t)1 << VMC_VA_BITS)
#define PT_MAX_NODES (1u << 24)

typedef struct {
    uint64_t *entries;   /* 512 entries */
    uint32_t *children;  /* directories: child node index + 1, 0 when none; NULL for PTBs */
    uint64_t va_base;
    uint64_t addr;
    uint32_t parent;     /* parent node index + 1, 0 for the root */
    uint32_t gen;
    uint32_t count;      /* directories: live children; PTBs: mapped PTEs */
    uint16_t parent_slot;
    uint8_t level;
    uint8_t live;
} pt_node;

struct vmc_vm {
    uint32_t tag; /* handle tag: see vmc_handle_make */
    pt_node *nodes;
    uint32_t nnodes, cap;
    uint32_t *free_idx;
    uint32_t nfree, free_cap;
    uint32_t max_pts;
    uint32_t root;
    uint64_t mapped;
    uint64_t resident;
};

static inline unsigned level_shift(int level)
{
    return VMC_PAGE_SHIFT + 9u * (unsigned)(VMC_LEVEL_PTB - level);
}

static inline uint64_t level_span(int level)
{
    return (uint64_t)1 << (level_shift(level) + 9u);
}

static inline unsigned entry_index(int level, uint64_t va)
{
    return (unsigned)((va >> level_shift(level)) & (VMC_ENTRIES_PER_PT - 1));
}

static inline int pte_is_silent(uint64_t pte)
{
    return (pte & (PT_SILENT | PT_PERMS | VMC_PTE_ADDR_MASK)) == PT_SILENT;
}

static inline int pte_is_mapped(uint64_t pte)
{
    return (pte & VMC_PTE_VALID) && !pte_is_silent(pte);
}

static int check_range(uint64_t va, uint64_t npages)
{
    if (va & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    if (va >= PT_VA_LIMIT)
        return VMC_E_RANGE;
    if (npages > ((PT_VA_LIMIT - va) >> VMC_PAGE_SHIFT))
        return VMC_E_RANGE;
    return VMC_OK;
}

static int check_addr(uint64_t addr)
{
    if (addr & (VMC_PAGE_SIZE - 1))
        return VMC_E_ALIGN;
    if (addr >= PT_VA_LIMIT)
        return VMC_E_RANGE;
    return VMC_OK;
}

static pt_node *node_get(const vmc_vm *vm, uint64_t h)
{
    if (!vm || h == 0)
        return NULL;
    uint32_t idx = vmc_handle_index(h);
    if (idx >= vm->nnodes)
        return NULL;
    pt_node *n = &vm->nodes[idx];
    if (!n->live || n->gen != vmc_handle_gen(h, vm->tag))
        return NULL;
    return n;
}

static uint64_t node_handle(const vmc_vm *vm, const pt_node *n)
{
    return vmc_handle_make((uint32_t)(n - vm->nodes), n->gen, vm->tag);
}

/* Child of directory n covering va, or NULL. */
static inline pt_node *child_of(const vmc_vm *vm, const pt_node *n, uint64_t va)
{
    uint32_t c = n->children[entry_index(n->level, va)];
    return c ? &vm->nodes[c - 1] : NULL;
}

/* Deepest node on the path to va; stops at `level` or where a PDE is missing. */
static pt_node *descend(const vmc_vm *vm, uint64_t va, int level)
{
    pt_node *n = &vm->nodes[vm->root];
    while (n->level < level) {
        pt_node *c = child_of(vm, n, va);
        if (!c)
            break;
        n = c;
    }
    return n;
}

static int node_new(vmc_vm *vm, int level, uint64_t va_base, uint64_t addr, uint32_t *out)
{
    if (vm->resident >= vm->max_pts)
        return VMC_E_LIMIT;
    uint32_t idx;
    if (vm->nfree) {
        idx = vm->free_idx[--vm->nfree];
    } else {
        if (vmc_grow((void **)&vm->nodes, &vm->cap, vm->nnodes + 1, sizeof(pt_node)))
            return VMC_E_NOMEM;
        idx = vm->nnodes++;
        memset(&vm->nodes[idx], 0, sizeof(pt_node));
    }
    pt_node *n = &vm->nodes[idx];
    n->entries = calloc(VMC_ENTRIES_PER_PT, sizeof(uint64_t));
    n->children = level == VMC_LEVEL_PTB ? NULL : calloc(VMC_ENTRIES_PER_PT, sizeof(uint32_t));
    if (!n->entries || (level != VMC_LEVEL_PTB && !n->children)) {
        free(n->entries);
        free(n->children);
        n->entries = NULL;
        n->children = NULL;
        vm->free_idx[vm->nfree++] = idx; /* room exists: it came from there or is new */
        return VMC_E_NOMEM;
    }
    n->level = (uint8_t)level;
    n->va_base = va_base;
    n->addr = addr;
    n->count = 0;
    n->parent = 0;
    n->parent_slot = 0;
    n->live = 1;
    vm->resident++;
    *out = idx;
    return VMC_OK;
}

static void node_release(vmc_vm *vm, uint32_t idx)
{
    pt_node *n = &vm->nodes[idx];
    free(n->entries);
    free(n->children);
    n->entries = NULL;
    n->children = NULL;
    n->live = 0;
    n->gen++;
    vm->resident--;
    vm->free_idx[vm->nfree++] = idx;
}

vmc_status vmc_vm_create(uint64_t root_addr, uint32_t max_pts, vmc_vm **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = NULL;
    int st = check_addr(root_addr);
    if (st)
        return st;
    if (max_pts < 1 || max_pts > PT_MAX_NODES)
        return VMC_E_LIMIT;
    vmc_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return VMC_E_NOMEM;
    vm->tag = vmc_tag_of(vm);
    vm->max_pts = max_pts;
    /* free_idx never needs more than max_pts slots; reserve lazily up to that. */
    vm->free_cap = 0;
    uint32_t root;
    if (vmc_grow((void **)&vm->free_idx, &vm->free_cap, 8, sizeof(uint32_t)) ||
        node_new(vm, VMC_LEVEL_PDB2, 0, root_addr, &root) != VMC_OK) {
        free(vm->free_idx);
        free(vm->nodes);
        free(vm);
        return VMC_E_NOMEM;
    }
    vm->root = root;
    *out = vm;
    return VMC_OK;
}

vmc_status vmc_vm_destroy(vmc_vm *vm)
{
    if (!vm)
        return VMC_E_INVAL;
    for (uint32_t i = 0; i < vm->nnodes; i++) {
        if (vm->nodes[i].live) {
            free(vm->nodes[i].entries);
            free(vm->nodes[i].children);
        }
    }
    free(vm->nodes);
    free(vm->free_idx);
    free(vm);
    return VMC_OK;
}

vmc_status vmc_vm_root(const vmc_vm *vm, uint64_t *out)
{
    if (!vm || !out)
        return VMC_E_INVAL;
    *out = node_handle(vm, &vm->nodes[vm->root]);
    return VMC_OK;
}

/* Enumerate missing BOs below directory n (n may be NULL: the whole subtree is missing). */
static void missing_walk(const vmc_vm *vm, const pt_node *n, int level, uint64_t base,
                         uint64_t lo, uint64_t hi, int *levels, uint64_t *vas, size_t cap,
                         size_t *count)
{
    /* (level, base) is a directory covering [base, base + level_span(level)). */
    uint64_t step = (uint64_t)1 << level_shift(level);
    uint64_t first = lo > base ? lo : base;
    uint64_t end = base + level_span(level);
    if (hi < end)
        end = hi;
    for (uint64_t cb = first & ~(step - 1); cb < end; cb += step) {
        const pt_node *c = n ? child_of(vm, n, cb) : NULL;
        if (!c) {
            if (*count < cap) {
                levels[*count] = level + 1;
                vas[*count] = cb;
            }
            (*count)++;
        }
        if (level + 1 < VMC_LEVEL_PTB)
            missing_walk(vm, c, level + 1, cb, lo, hi, levels, vas, cap, count);
    }
}

vmc_status vmc_vm_missing(const vmc_vm *vm, uint64_t va, uint64_t npages, int *levels,
                          uint64_t *vas, size_t cap, size_t *n)
{
    if (!vm || !n || (cap && (!levels || !vas)))
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    *n = 0;
    if (npages == 0)
        return VMC_OK;
    missing_walk(vm, &vm->nodes[vm->root], VMC_LEVEL_PDB2, 0, va,
                 va + (npages << VMC_PAGE_SHIFT), levels, vas, cap, n);
    return VMC_OK;
}

vmc_status vmc_pt_alloc(vmc_vm *vm, int level, uint64_t va, uint64_t addr, uint64_t *out)
{
    if (!vm || !out)
        return VMC_E_INVAL;
    if (level <= VMC_LEVEL_PDB2 || level > VMC_LEVEL_PTB)
        return VMC_E_INVAL;
    int st = check_range(va, 1);
    if (st)
        return st;
    st = check_addr(addr);
    if (st)
        return st;
    pt_node *parent = descend(vm, va, level - 1);
    if (parent->level != level - 1)
        return VMC_E_MISSING;
    unsigned slot = entry_index(parent->level, va);
    if (parent->children[slot])
        return VMC_E_BUSY;
    /* Every node index may end up on the free list: keep room for all of them. */
    if (vmc_grow((void **)&vm->free_idx, &vm->free_cap, vm->nnodes + 1, sizeof(uint32_t)))
        return VMC_E_NOMEM;
    uint32_t pidx = (uint32_t)(parent - vm->nodes);
    uint32_t idx;
    st = node_new(vm, level, va & ~(level_span(level) - 1), addr, &idx);
    if (st)
        return st;
    parent = &vm->nodes[pidx]; /* nodes may have moved */
    pt_node *n = &vm->nodes[idx];
    n->parent = pidx + 1;
    n->parent_slot = (uint16_t)slot;
    parent->children[slot] = idx + 1;
    parent->entries[slot] = (addr & VMC_PDE_ADDR_MASK) | VMC_PTE_VALID;
    parent->count++;
    *out = node_handle(vm, n);
    return VMC_OK;
}

vmc_status vmc_pt_lookup(const vmc_vm *vm, int level, uint64_t va, uint64_t *out)
{
    if (!vm || !out)
        return VMC_E_INVAL;
    if (level < VMC_LEVEL_PDB2 || level > VMC_LEVEL_PTB)
        return VMC_E_INVAL;
    int st = check_range(va & ~(uint64_t)(VMC_PAGE_SIZE - 1), 1);
    if (st)
        return st;
    pt_node *n = descend(vm, va, level);
    if (n->level != level)
        return VMC_E_MISSING;
    *out = node_handle(vm, n);
    return VMC_OK;
}

vmc_status vmc_pt_info_get(const vmc_vm *vm, uint64_t pt, vmc_pt_info *out)
{
    if (!out)
        return VMC_E_INVAL;
    pt_node *n = node_get(vm, pt);
    if (!n)
        return VMC_E_HANDLE;
    out->level = n->level;
    out->va_base = n->va_base;
    out->va_span = level_span(n->level);
    out->addr = n->addr;
    out->nchildren = n->children ? n->count : 0;
    out->nvalid = n->children ? 0 : n->count;
    return VMC_OK;
}

vmc_status vmc_pt_move(vmc_vm *vm, uint64_t pt, uint64_t new_addr)
{
    pt_node *n = node_get(vm, pt);
    if (!n)
        return vm ? VMC_E_HANDLE : VMC_E_INVAL;
    int st = check_addr(new_addr);
    if (st)
        return st;
    n->addr = new_addr;
    if (n->parent) {
        pt_node *p = &vm->nodes[n->parent - 1];
        p->entries[n->parent_slot] = (new_addr & VMC_PDE_ADDR_MASK) | VMC_PTE_VALID;
    }
    return VMC_OK;
}

vmc_status vmc_pt_free(vmc_vm *vm, uint64_t pt)
{
    pt_node *n = node_get(vm, pt);
    if (!n)
        return vm ? VMC_E_HANDLE : VMC_E_INVAL;
    if (!n->parent)
        return VMC_E_BUSY; /* the root PD lives as long as the VM */
    if (n->children && n->count)
        return VMC_E_BUSY;
    if (!n->children)
        vm->mapped -= n->count;
    pt_node *p = &vm->nodes[n->parent - 1];
    p->children[n->parent_slot] = 0;
    p->entries[n->parent_slot] = 0;
    p->count--;
    node_release(vm, (uint32_t)(n - vm->nodes));
    return VMC_OK;
}

static void pts_walk(const vmc_vm *vm, const pt_node *n, uint64_t lo, uint64_t hi,
                     uint64_t *out, size_t cap, size_t *count)
{
    if (n->children) {
        for (unsigned i = 0; i < VMC_ENTRIES_PER_PT; i++) {
            if (!n->children[i])
                continue;
            const pt_node *c = &vm->nodes[n->children[i] - 1];
            uint64_t cend = c->va_base + level_span(c->level);
            if (cend <= lo || c->va_base >= hi)
                continue;
            pts_walk(vm, c, lo, hi, out, cap, count);
        }
    }
    if (n->parent) {
        if (*count < cap)
            out[*count] = node_handle(vm, n);
        (*count)++;
    }
}

vmc_status vmc_vm_pts_in_range(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t *out,
                               size_t cap, size_t *n)
{
    if (!vm || !n || (cap && !out))
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    *n = 0;
    if (npages == 0)
        return VMC_OK;
    pts_walk(vm, &vm->nodes[vm->root], va, va + (npages << VMC_PAGE_SHIFT), out, cap, n);
    return VMC_OK;
}

/* Apply fn to each PTB chunk of the range.  With need_tables, a missing PTB stops the
 * walk with VMC_E_MISSING; otherwise missing tables are skipped. */
typedef void (*chunk_fn)(vmc_vm *vm, pt_node *ptb, unsigned first, unsigned cnt, uint64_t page,
                         void *arg);

static int for_each_chunk(vmc_vm *vm, uint64_t va, uint64_t npages, int need_tables,
                          chunk_fn fn, void *arg)
{
    uint64_t page = 0;
    while (page < npages) {
        uint64_t a = va + (page << VMC_PAGE_SHIFT);
        unsigned first = entry_index(VMC_LEVEL_PTB, a);
        uint64_t cnt = VMC_ENTRIES_PER_PT - first;
        if (cnt > npages - page)
            cnt = npages - page;
        pt_node *n = descend(vm, a, VMC_LEVEL_PTB);
        if (n->level == VMC_LEVEL_PTB) {
            if (fn)
                fn(vm, n, first, (unsigned)cnt, page, arg);
        } else if (need_tables) {
            return VMC_E_MISSING;
        }
        page += cnt;
    }
    return VMC_OK;
}

typedef struct {
    uint64_t value;   /* the PTE for page 0 */
    uint64_t incr;    /* added per page */
} write_arg;

static void write_chunk(vmc_vm *vm, pt_node *ptb, unsigned first, unsigned cnt, uint64_t page,
                        void *arg)
{
    const write_arg *w = arg;
    uint64_t v = w->value + page * w->incr;
    uint64_t *e = ptb->entries + first;
    int64_t delta = 0;
    for (unsigned i = 0; i < cnt; i++) {
        delta += pte_is_mapped(v) - pte_is_mapped(e[i]);
        e[i] = v;
        v += w->incr;
    }
    ptb->count = (uint32_t)((int64_t)ptb->count + delta);
    vm->mapped = (uint64_t)((int64_t)vm->mapped + delta);
}

static int write_range(vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t value, uint64_t incr,
                       int need_tables)
{
    if (need_tables) {
        int st = for_each_chunk(vm, va, npages, 1, NULL, NULL);
        if (st)
            return st;
    }
    write_arg w = {value, incr};
    return for_each_chunk(vm, va, npages, 0, write_chunk, &w);
}

vmc_status vmc_vm_map(vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t flags, uint64_t phys)
{
    if (!vm)
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    if (flags & ~(uint64_t)PT_FLAGS_ALLOWED)
        return VMC_E_INVAL;
    st = check_range(phys, npages);
    if (st)
        return st;
    return write_range(vm, va, npages, phys | flags | VMC_PTE_VALID, VMC_PAGE_SIZE, 1);
}

vmc_status vmc_vm_unmap(vmc_vm *vm, uint64_t va, uint64_t npages)
{
    if (!vm)
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    return write_range(vm, va, npages, 0, 0, 0);
}

vmc_status vmc_vm_invalidate(vmc_vm *vm, uint64_t va, uint64_t npages, int mode)
{
    if (!vm)
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    uint64_t v;
    switch (mode) {
    case VMC_INV_INVALID: v = 0; break;
    case VMC_INV_SILENT_RETRY: v = PT_SILENT; break;
    case VMC_INV_NORETRY: v = PT_NORETRY; break;
    default: return VMC_E_INVAL;
    }
    return write_range(vm, va, npages, v, 0, 0);
}

typedef struct {
    uint64_t perms;
} protect_arg;

static void protect_chunk(vmc_vm *vm, pt_node *ptb, unsigned first, unsigned cnt, uint64_t page,
                          void *arg)
{
    (void)page;
    const protect_arg *p = arg;
    uint64_t *e = ptb->entries + first;
    uint32_t lost = 0;
    for (unsigned i = 0; i < cnt; i++) {
        if (!pte_is_mapped(e[i]))
            continue;
        e[i] = (e[i] & ~(uint64_t)PT_PERMS) | p->perms;
        /* Dropping every permission from a SYSTEM|SNOOPED mapping of address 0 yields
         * exactly the silent-retry encoding, which is not mapped: keep the counts true. */
        lost += !pte_is_mapped(e[i]);
    }
    ptb->count -= lost;
    vm->mapped -= lost;
}

vmc_status vmc_vm_protect(vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t perms)
{
    if (!vm)
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    if (perms & ~(uint64_t)PT_PERMS)
        return VMC_E_INVAL;
    protect_arg p = {perms};
    return for_each_chunk(vm, va, npages, 0, protect_chunk, &p);
}

static void classify(uint64_t pte, uint64_t perms, vmc_walk *out)
{
    out->level = VMC_LEVEL_PTB;
    out->pte = pte;
    out->phys = 0;
    if (!(pte & VMC_PTE_VALID))
        out->reason = (pte & PT_NORETRY) == PT_NORETRY ? VMC_WALK_NORETRY : VMC_WALK_INVALID;
    else if (pte_is_silent(pte))
        out->reason = VMC_WALK_SILENT_RETRY;
    else if ((pte & perms) != perms)
        out->reason = VMC_WALK_PERMISSION;
    else {
        out->reason = VMC_WALK_OK;
        out->phys = pte & VMC_PTE_ADDR_MASK;
    }
}

static void walk_one(const vmc_vm *vm, uint64_t va, uint64_t perms, vmc_walk *out)
{
    const pt_node *n = descend(vm, va, VMC_LEVEL_PTB);
    if (n->level != VMC_LEVEL_PTB) {
        out->level = n->level;
        out->reason = VMC_WALK_NO_TABLE;
        out->pte = 0;
        out->phys = 0;
        return;
    }
    classify(n->entries[entry_index(VMC_LEVEL_PTB, va)], perms, out);
    if (out->reason == VMC_WALK_OK)
        out->phys |= va & (VMC_PAGE_SIZE - 1);
}

vmc_status vmc_vm_walk(const vmc_vm *vm, uint64_t va, uint64_t perms, vmc_walk *out)
{
    if (!vm || !out)
        return VMC_E_INVAL;
    if (va >= PT_VA_LIMIT)
        return VMC_E_RANGE;
    if (perms & ~(uint64_t)PT_PERMS)
        return VMC_E_INVAL;
    walk_one(vm, va, perms, out);
    return VMC_OK;
}

int vmc_vm_translates(const vmc_vm *vm, uint64_t va, uint64_t perms)
{
    if (!vm || va >= PT_VA_LIMIT || (perms & ~(uint64_t)PT_PERMS))
        return -1;
    vmc_walk w;
    walk_one(vm, va, perms, &w);
    return w.reason == VMC_WALK_OK;
}

vmc_status vmc_vm_translating_prefix(const vmc_vm *vm, const uint64_t *va, const uint64_t *perms,
                                     uint64_t n, uint64_t *count)
{
    if (!vm || !count || (n && (!va || !perms)))
        return VMC_E_INVAL;
    uint64_t i = 0;
    while (i < n && vmc_vm_translates(vm, va[i], perms[i]) == 1)
        i++;
    *count = i;
    return VMC_OK;
}

vmc_status vmc_vm_scan(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t perms,
                       uint64_t *index, vmc_walk *out)
{
    if (!vm || !index || !out)
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    if (perms & ~(uint64_t)PT_PERMS)
        return VMC_E_INVAL;
    uint64_t page = 0;
    while (page < npages) {
        uint64_t a = va + (page << VMC_PAGE_SHIFT);
        unsigned first = entry_index(VMC_LEVEL_PTB, a);
        uint64_t cnt = VMC_ENTRIES_PER_PT - first;
        if (cnt > npages - page)
            cnt = npages - page;
        const pt_node *n = descend(vm, a, VMC_LEVEL_PTB);
        if (n->level != VMC_LEVEL_PTB) {
            walk_one(vm, a, perms, out);
            *index = page;
            return VMC_OK;
        }
        const uint64_t *e = n->entries + first;
        for (uint64_t i = 0; i < cnt; i++) {
            uint64_t pte = e[i];
            if ((pte & VMC_PTE_VALID) && (pte & perms) == perms && !pte_is_silent(pte))
                continue;
            classify(pte, perms, out);
            *index = page + i;
            return VMC_OK;
        }
        page += cnt;
    }
    *index = npages;
    out->level = VMC_LEVEL_PTB;
    out->reason = VMC_WALK_OK;
    out->pte = 0;
    out->phys = 0;
    return VMC_OK;
}

vmc_status vmc_vm_read_ptes(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t *out)
{
    if (!vm || (npages && !out))
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    uint64_t page = 0;
    while (page < npages) {
        uint64_t a = va + (page << VMC_PAGE_SHIFT);
        unsigned first = entry_index(VMC_LEVEL_PTB, a);
        uint64_t cnt = VMC_ENTRIES_PER_PT - first;
        if (cnt > npages - page)
            cnt = npages - page;
        const pt_node *n = descend(vm, a, VMC_LEVEL_PTB);
        if (n->level == VMC_LEVEL_PTB)
            memcpy(out + page, n->entries + first, cnt * sizeof(uint64_t));
        else
            memset(out + page, 0, cnt * sizeof(uint64_t));
        page += cnt;
    }
    return VMC_OK;
}

vmc_status vmc_vm_find_phys(const vmc_vm *vm, uint64_t lo, uint64_t hi, int system,
                            uint64_t *count, uint64_t *first_va)
{
    if (!vm || !count || !first_va || lo > hi || (system != 0 && system != 1))
        return VMC_E_INVAL;
    uint64_t c = 0, first = UINT64_MAX;
    for (uint32_t i = 0; i < vm->nnodes; i++) {
        const pt_node *n = &vm->nodes[i];
        if (!n->live || n->children || n->count == 0)
            continue;
        for (unsigned j = 0; j < VMC_ENTRIES_PER_PT; j++) {
            uint64_t pte = n->entries[j];
            if (!pte_is_mapped(pte))
                continue;
            uint64_t a = pte & VMC_PTE_ADDR_MASK;
            if (a < lo || a >= hi || (int)((pte & VMC_PTE_SYSTEM) != 0) != system)
                continue;
            c++;
            uint64_t va = n->va_base + ((uint64_t)j << VMC_PAGE_SHIFT);
            if (va < first)
                first = va;
        }
    }
    *count = c;
    *first_va = c ? first : 0;
    return VMC_OK;
}

vmc_status vmc_vm_counters(const vmc_vm *vm, uint64_t *valid_ptes, uint64_t *resident_pts,
                           uint64_t *bytes_used)
{
    if (!vm || !valid_ptes || !resident_pts || !bytes_used)
        return VMC_E_INVAL;
    *valid_ptes = vm->mapped;
    *resident_pts = vm->resident;
    *bytes_used = vm->resident * (uint64_t)VMC_ENTRIES_PER_PT * sizeof(uint64_t);
    return VMC_OK;
}

vmc_status vmc_vm_find_phys_in(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t lo, uint64_t hi,
                               int system, uint64_t *count, uint64_t *first_va)
{
    if (!vm || !count || !first_va || lo > hi || (system != 0 && system != 1))
        return VMC_E_INVAL;
    int st = check_range(va, npages);
    if (st)
        return st;
    uint64_t c = 0, first = 0;
    uint64_t page = 0;
    while (page < npages) {
        uint64_t a = va + (page << VMC_PAGE_SHIFT);
        unsigned idx = entry_index(VMC_LEVEL_PTB, a);
        uint64_t cnt = VMC_ENTRIES_PER_PT - idx;
        if (cnt > npages - page)
            cnt = npages - page;
        const pt_node *n = descend(vm, a, VMC_LEVEL_PTB);
        if (n->level == VMC_LEVEL_PTB && n->count) {
            for (uint64_t i = 0; i < cnt; i++) {
                uint64_t pte = n->entries[idx + i];
                if (!pte_is_mapped(pte))
                    continue;
                uint64_t p = pte & VMC_PTE_ADDR_MASK;
                if (p < lo || p >= hi || (int)((pte & VMC_PTE_SYSTEM) != 0) != system)
                    continue;
                if (!c)
                    first = a + (i << VMC_PAGE_SHIFT);
                c++;
            }
        }
        page += cnt;
    }
    *count = c;
    *first_va = first;
    return VMC_OK;
}
