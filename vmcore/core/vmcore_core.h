/*
 * vmcore_core.h - the C core of vmcore: page tables, fences, the wait-for graph,
 * the SDMA ring and memory pools.
 *
 * This header is the whole API.  The part between the "cdef-begin" and "cdef-end"
 * markers is read verbatim by the cffi build script (vmcore/core/_build.py), so it
 * holds only declarations and integer #defines that cffi understands.
 *
 * Rules every subsystem keeps:
 *   - no global state: each object hangs off a context struct the caller creates and
 *     destroys;
 *   - every entry point validates its arguments and returns a vmc_status;
 *   - objects inside a context (fences, page-table BOs, graph nodes, pool blocks) are
 *     named by 64-bit handles: low 32 bits an index, high 32 bits a generation, so a
 *     freed or foreign handle is reported as VMC_E_HANDLE, never dereferenced.
 *     Handle 0 is never valid.
 */
#ifndef VMCORE_CORE_H
#define VMCORE_CORE_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */

/* ---- status codes (common.h) ------------------------------------------- */
typedef int vmc_status;
#define VMC_OK 0
#define VMC_E_INVAL 1      /* an argument has a value the call cannot take */
#define VMC_E_RANGE 2      /* an address or count lies outside what the object covers */
#define VMC_E_ALIGN 3      /* an address or size is not aligned as required */
#define VMC_E_HANDLE 4     /* an unknown, freed or foreign handle */
#define VMC_E_STATE 5      /* the object is in the wrong state for this call */
#define VMC_E_NOMEM 6      /* the host could not allocate memory */
#define VMC_E_NOSPACE 7    /* the pool or ring has no room */
#define VMC_E_LOCK 8       /* the lock is not held by the caller, or held by another */
#define VMC_E_BUSY 9       /* the object is in use (pinned, has children, ...) */
#define VMC_E_MISSING 10   /* a page-table BO needed by the call is not allocated */
#define VMC_E_LIMIT 11     /* a configured capacity limit would be exceeded */
#define VMC_E_CORRUPT 12   /* the ring holds a corrupt packet */

/* ---- page tables (pt.c) ------------------------------------------------ */
/* gfx9 layout: PDB2 -> PDB1 -> PDB0 -> PTB, 9 bits per level, 4 KiB pages, 48-bit VA
 * (gmc_v9_0_sw_init: amdgpu_vm_adjust_size(adev, 256*1024, 9, 3, 48)). */
#define VMC_LEVEL_PDB2 0
#define VMC_LEVEL_PDB1 1
#define VMC_LEVEL_PDB0 2
#define VMC_LEVEL_PTB 3
#define VMC_PAGE_SHIFT 12
#define VMC_PAGE_SIZE 4096
#define VMC_ENTRIES_PER_PT 512
#define VMC_VA_BITS 48

/* PTE/PDE bits as amdgpu encodes them for gfx9: drivers/gpu/drm/amd/amdgpu/amdgpu_vm.h
 * (AMDGPU_PTE_*, AMDGPU_PDE_PTE) and the "PTE format on VEGA 10" comment in
 * drivers/gpu/drm/amd/amdgpu/gmc_v9_0.c (address field bits 47:12). */
#define VMC_PTE_VALID 0x1
#define VMC_PTE_SYSTEM 0x2
#define VMC_PTE_SNOOPED 0x4
#define VMC_PTE_TMZ 0x8
#define VMC_PTE_EXECUTABLE 0x10
#define VMC_PTE_READABLE 0x20
#define VMC_PTE_WRITEABLE 0x40
#define VMC_PTE_FRAG_MASK 0xf80
#define VMC_PTE_ADDR_MASK 0x0000fffffffff000
#define VMC_PTE_PRT 0x0008000000000000
#define VMC_PDE_PTE 0x0040000000000000
#define VMC_PTE_LOG 0x0080000000000000
#define VMC_PTE_TF 0x0100000000000000
/* PDE address field: bits 47:6 (gmc_v9_0.c, "PDE format on VEGA 10"). */
#define VMC_PDE_ADDR_MASK 0x0000ffffffffffc0

/* Invalidation modes. SILENT_RETRY is what amdgpu_vm_handle_fault writes to let the
 * hardware retry silently: address 0, VALID|SYSTEM|SNOOPED, no R/W/X permission.
 * NORETRY is AMDGPU_VM_NORETRY_FLAGS (EXECUTABLE|PDE_PTE|TF), a deliberately invalid
 * combination that turns the next access into a no-retry fault. */
#define VMC_INV_INVALID 0
#define VMC_INV_SILENT_RETRY 1
#define VMC_INV_NORETRY 2

/* Why a walk stopped. */
#define VMC_WALK_OK 0            /* a valid PTE with the permission asked for */
#define VMC_WALK_NO_TABLE 1      /* a PDE on the way is invalid (level = that PD's level) */
#define VMC_WALK_INVALID 2       /* the PTE is invalid: a retry fault on retry engines */
#define VMC_WALK_SILENT_RETRY 3  /* the PTE is in silent-retry mode */
#define VMC_WALK_NORETRY 4       /* the PTE carries the no-retry combination */
#define VMC_WALK_PERMISSION 5    /* valid, but lacks a permission asked for */

typedef struct vmc_vm vmc_vm;

typedef struct {
    int level;        /* level of the PD/PT at which the walk stopped (PTB when it reached a PTE) */
    int reason;       /* VMC_WALK_* */
    uint64_t pte;     /* the entry read at that level (0 when a PDE was missing) */
    uint64_t phys;    /* translated address, valid when reason == VMC_WALK_OK */
} vmc_walk;

typedef struct {
    int level;
    uint64_t va_base;     /* first VA this PD/PT covers */
    uint64_t va_span;     /* bytes of VA it covers */
    uint64_t addr;        /* where the BO lives (an address the caller chose) */
    uint32_t nchildren;   /* directories: allocated children */
    uint32_t nvalid;      /* PTBs: valid PTEs */
} vmc_pt_info;

/* A VM with its root PD (PDB2) at root_addr; max_pts bounds the number of page-table
 * BOs (root included) the VM may hold. */
vmc_status vmc_vm_create(uint64_t root_addr, uint32_t max_pts, vmc_vm **out);
vmc_status vmc_vm_destroy(vmc_vm *vm);
/* Handle of the root PD. */
vmc_status vmc_vm_root(const vmc_vm *vm, uint64_t *out);
/* The PD/PT BOs missing to cover [va, va + npages pages), top-down: for each, the
 * level and the first VA it would cover.  *n receives the number needed even when
 * it exceeds cap (then only cap are written). */
vmc_status vmc_vm_missing(const vmc_vm *vm, uint64_t va, uint64_t npages,
                          int *levels, uint64_t *vas, size_t cap, size_t *n);
/* Allocate the PD/PT BO of `level` covering va at address addr; its parent must exist. */
vmc_status vmc_pt_alloc(vmc_vm *vm, int level, uint64_t va, uint64_t addr, uint64_t *out);
/* The PD/PT BO of `level` covering va (VMC_E_MISSING when none). */
vmc_status vmc_pt_lookup(const vmc_vm *vm, int level, uint64_t va, uint64_t *out);
vmc_status vmc_pt_info_get(const vmc_vm *vm, uint64_t pt, vmc_pt_info *out);
/* Move a PD/PT BO (the root PD too): its parent PDE now points to new_addr. */
vmc_status vmc_pt_move(vmc_vm *vm, uint64_t pt, uint64_t new_addr);
/* Free a PD/PT BO with no children; its PTEs are lost and its parent PDE invalidated.
 * The root PD cannot be freed (it lives as long as the VM). */
vmc_status vmc_pt_free(vmc_vm *vm, uint64_t pt);
/* Existing PD/PT BOs (not the root) that intersect the range, children before parents. */
vmc_status vmc_vm_pts_in_range(const vmc_vm *vm, uint64_t va, uint64_t npages,
                               uint64_t *out, size_t cap, size_t *n);
/* Write npages PTEs: VALID | flags | (phys + i * 4 KiB).  flags may hold only
 * SYSTEM, SNOOPED, TMZ, EXECUTABLE, READABLE, WRITEABLE and a fragment. */
vmc_status vmc_vm_map(vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t flags, uint64_t phys);
/* Clear npages PTEs to 0.  Missing page tables are skipped (nothing is mapped there). */
vmc_status vmc_vm_unmap(vmc_vm *vm, uint64_t va, uint64_t npages);
/* Invalidate npages PTEs into mode VMC_INV_*.  Missing page tables are skipped. */
vmc_status vmc_vm_invalidate(vmc_vm *vm, uint64_t va, uint64_t npages, int mode);
/* Replace the R/W/X bits of the valid PTEs in range with perms. */
vmc_status vmc_vm_protect(vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t perms);
/* Translate one address. */
vmc_status vmc_vm_walk(const vmc_vm *vm, uint64_t va, uint64_t perms, vmc_walk *out);
/* Does va translate with perms?  1 or 0, the walk's verdict without its details
 * (the fault handler asks this once per fault); -1 when vmc_vm_walk would return an
 * error for these arguments (call it for the status). */
int vmc_vm_translates(const vmc_vm *vm, uint64_t va, uint64_t perms);
/* How many leading pairs (va[i], perms[i]) of the n given translate (vmc_vm_translates
 * is 1 for each): *count stops at the first that does not, or whose arguments
 * vmc_vm_walk would reject.  Walking them in one call lets their cache misses overlap. */
vmc_status vmc_vm_translating_prefix(const vmc_vm *vm, const uint64_t *va, const uint64_t *perms,
                                     uint64_t n, uint64_t *count);
/* Walk pages in address order; *index receives the first page whose walk is not
 * VMC_WALK_OK for perms (npages when all translate), *out describes that walk. */
vmc_status vmc_vm_scan(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t perms,
                       uint64_t *index, vmc_walk *out);
/* Copy npages PTEs into out (0 where no page table exists). */
vmc_status vmc_vm_read_ptes(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t *out);
/* Count valid PTEs (silent-retry entries excluded) whose address lies in
 * [lo, hi) and whose SYSTEM bit equals `system`; *first_va is the lowest such VA. */
vmc_status vmc_vm_find_phys(const vmc_vm *vm, uint64_t lo, uint64_t hi, int system,
                            uint64_t *count, uint64_t *first_va);
/* The same, looking only at the PTEs of [va, va + npages pages): what a check after
 * freeing the memory of one object (mapped at known VAs) needs, in O(npages). */
vmc_status vmc_vm_find_phys_in(const vmc_vm *vm, uint64_t va, uint64_t npages, uint64_t lo, uint64_t hi,
                               int system, uint64_t *count, uint64_t *first_va);
/* Counters. */
vmc_status vmc_vm_counters(const vmc_vm *vm, uint64_t *valid_ptes, uint64_t *resident_pts,
                           uint64_t *bytes_used);

/* ---- fences (fence.c) -------------------------------------------------- */
#define VMC_FENCE_KERNEL 0
#define VMC_FENCE_USER 1
#define VMC_FENCE_UNARMED 0      /* created; dependencies may still be added */
#define VMC_FENCE_ARMED 1        /* dependencies fixed; may signal */
#define VMC_FENCE_SIGNALED 2

typedef struct vmc_fences vmc_fences;

vmc_status vmc_fences_create(uint32_t max_fences, vmc_fences **out);
vmc_status vmc_fences_destroy(vmc_fences *t);
vmc_status vmc_fence_create(vmc_fences *t, int kind, uint32_t producer, uint64_t *out);
vmc_status vmc_fence_add_dep(vmc_fences *t, uint64_t f, uint64_t dep);
/* Fix the dependencies; every dependency must be armed or signaled. */
vmc_status vmc_fence_arm(vmc_fences *t, uint64_t f);
vmc_status vmc_fence_signal(vmc_fences *t, uint64_t f);
/* Record an error (negative errno) on an armed fence that has not signaled. */
vmc_status vmc_fence_set_error(vmc_fences *t, uint64_t f, int32_t error);
vmc_status vmc_fence_state(const vmc_fences *t, uint64_t f, int *state, int32_t *error);
vmc_status vmc_fence_info(const vmc_fences *t, uint64_t f, int *kind, uint32_t *producer,
                          uint32_t *ndeps);
/* Does f, or anything it transitively depends on, come from user work?  O(1) once
 * armed.  *ancestor is one such user fence (f itself when f is a user fence). */
vmc_status vmc_fence_depends_on_user(const vmc_fences *t, uint64_t f, int *out,
                                     uint64_t *ancestor);
/* Have all of f's direct dependencies signaled? */
vmc_status vmc_fence_deps_signaled(const vmc_fences *t, uint64_t f, int *out);
vmc_status vmc_fence_deps(const vmc_fences *t, uint64_t f, uint64_t *out, size_t cap,
                          size_t *n);
/* Forget a signaled fence; its handle becomes invalid. */
vmc_status vmc_fence_release(vmc_fences *t, uint64_t f);
vmc_status vmc_fences_counters(const vmc_fences *t, uint64_t *live, uint64_t *pending);

/* ---- wait-for graph (wfg.c) -------------------------------------------- */
/* Nodes are fences, actors, jobs and faults; an edge a -> b means "a waits for b". */
#define VMC_NODE_ACTOR 0
#define VMC_NODE_FENCE 1
#define VMC_NODE_JOB 2
#define VMC_NODE_FAULT 3

typedef struct vmc_wfg vmc_wfg;

vmc_status vmc_wfg_create(uint32_t max_nodes, vmc_wfg **out);
vmc_status vmc_wfg_destroy(vmc_wfg *g);
vmc_status vmc_wfg_add_node(vmc_wfg *g, int kind, uint64_t label, uint64_t *out);
/* Remove a node and every edge touching it. */
vmc_status vmc_wfg_remove_node(vmc_wfg *g, uint64_t node);
vmc_status vmc_wfg_node_info(const vmc_wfg *g, uint64_t node, int *kind, uint64_t *label);
/* Insert a -> b.  If the edge closes a cycle, the cycle is written to cycle as the
 * node list a, b, ..., (the node before a) and *cycle_len receives its length (0 when
 * no cycle; the full length even when it exceeds cap).  The edge is inserted either way. */
vmc_status vmc_wfg_add_edge(vmc_wfg *g, uint64_t a, uint64_t b, uint64_t *cycle, size_t cap,
                            size_t *cycle_len);
vmc_status vmc_wfg_remove_edge(vmc_wfg *g, uint64_t a, uint64_t b);
vmc_status vmc_wfg_has_edge(const vmc_wfg *g, uint64_t a, uint64_t b, int *out);
/* Any cycle in the whole graph (same output convention as add_edge). */
vmc_status vmc_wfg_find_cycle(vmc_wfg *g, uint64_t *cycle, size_t cap, size_t *cycle_len);
vmc_status vmc_wfg_counters(const vmc_wfg *g, uint64_t *nodes, uint64_t *edges);

/* ---- SDMA ring (ring.c) ------------------------------------------------ */
/* Packet opcodes follow the SDMA v4 numbering (SDMA_OP_* in the sdma_v4_0 packet
 * header): header dword = opcode (bits 0-7) | body checksum (bits 8-15) |
 * body length in dwords (bits 16-31). */
#define VMC_PKT_NOP 0
#define VMC_PKT_COPY 1       /* body: bytes, src lo, src hi, dst lo, dst hi */
#define VMC_PKT_WRITE 2      /* body: dst lo, dst hi, count, count data dwords */
#define VMC_PKT_FENCE 5      /* body: addr lo, addr hi, seq */
#define VMC_PKT_PTEPDE 12    /* body: pe lo/hi, flags lo/hi, addr lo/hi, incr lo/hi, count */
#define VMC_RING_LOCKED 0
#define VMC_RING_LOCKLESS 1
#define VMC_RING_MAX_WRITERS 64

typedef struct vmc_ring vmc_ring;

typedef struct {
    uint64_t offset;      /* dwords from the ring's start of time (rptr-relative positions) */
    int opcode;
    uint32_t body_len;
    int reason;           /* VMC_RING_BAD_* when corrupt, 0 otherwise */
} vmc_packet_info;

#define VMC_RING_BAD_NONE 0
#define VMC_RING_BAD_OPCODE 1     /* unknown opcode in a header */
#define VMC_RING_BAD_LENGTH 2     /* body length not allowed for the opcode */
#define VMC_RING_BAD_CHECKSUM 3   /* body does not match the header's checksum */
#define VMC_RING_BAD_TRUNCATED 4  /* packet runs past the write pointer */
#define VMC_RING_BAD_LOST 5       /* committed dwords were overwritten (overlapping reservations) */

vmc_status vmc_ring_create(uint32_t size_dw, int mode, vmc_ring **out);
vmc_status vmc_ring_destroy(vmc_ring *r);
/* The lock the 2019 thread asked for: held from reserve to commit in LOCKED mode. */
vmc_status vmc_ring_lock(vmc_ring *r, uint32_t owner);
vmc_status vmc_ring_unlock(vmc_ring *r, uint32_t owner);
/* Reserve n dwords for writer (1..VMC_RING_MAX_WRITERS).  In LOCKED mode the writer
 * must hold the lock.  In LOCKLESS mode the reservation starts at the published write
 * pointer as the writer read it, as amdgpu_ring_alloc does without a lock. */
vmc_status vmc_ring_reserve(vmc_ring *r, uint32_t writer, uint32_t n);
vmc_status vmc_ring_write(vmc_ring *r, uint32_t writer, const uint32_t *dw, uint32_t n);
/* Pad the rest of the reservation with NOPs and publish the write pointer. */
vmc_status vmc_ring_commit(vmc_ring *r, uint32_t writer);
/* Whole packets (each one vmc_ring_write). */
vmc_status vmc_ring_emit_nop(vmc_ring *r, uint32_t writer, uint32_t pad_dw);
vmc_status vmc_ring_emit_write(vmc_ring *r, uint32_t writer, uint64_t dst, const uint32_t *data,
                               uint32_t count);
vmc_status vmc_ring_emit_copy(vmc_ring *r, uint32_t writer, uint64_t src, uint64_t dst,
                              uint32_t bytes);
vmc_status vmc_ring_emit_fence(vmc_ring *r, uint32_t writer, uint64_t addr, uint32_t seq);
vmc_status vmc_ring_emit_ptepde(vmc_ring *r, uint32_t writer, uint64_t pe, uint64_t flags,
                                uint64_t addr, uint64_t incr, uint32_t count);
/* Packet size in dwords for an opcode and body-count argument (count for WRITE/NOP). */
vmc_status vmc_ring_packet_dw(int opcode, uint32_t count, uint32_t *out);
/* Execute the next packet (as the SDMA engine): copy its body out and advance rptr.
 * VMC_E_STATE when the ring is empty, VMC_E_CORRUPT (info->reason set) when corrupt. */
vmc_status vmc_ring_consume(vmc_ring *r, vmc_packet_info *info, uint32_t *body, size_t cap);
/* A packet decoded into its fields: what the SDMA engine executes.  Six 64-bit words,
 * so an array of them is an array of uint64_t six at a time. */
typedef struct {
    uint64_t opcode;
    uint64_t a;      /* PTEPDE: pe; COPY: src; FENCE, WRITE: addr */
    uint64_t b;      /* PTEPDE: flags; COPY: dst */
    uint64_t c;      /* PTEPDE: addr */
    uint64_t d;      /* PTEPDE: incr */
    uint64_t count;  /* PTEPDE: PTEs; COPY: bytes; FENCE: seq; WRITE: data dwords; NOP: 0 */
} vmc_sdma_cmd;
/* vmc_ring_consume with the body decoded into *cmd (same statuses; info as there). */
vmc_status vmc_ring_consume_cmd(vmc_ring *r, vmc_packet_info *info, vmc_sdma_cmd *cmd);
/* A kernel job of n dwords through an idle ring, when its words need not be written
 * (the caller executes the job itself): the pointers move as if the scheduler had
 * reserved, written and committed it and the engine had consumed it, and the buffer is
 * left as it was.  Every dword the engine or the integrity check reads lies between rptr
 * and wptr and was written by the reservation that put it there, so words never written
 * past the old wptr are never read.  The ring must be idle: empty, every write
 * committed, no reservation open, the lock free (VMC_E_STATE otherwise); n at most half
 * the ring (VMC_E_NOSPACE: the scheduler would write it in several steps).
 * *occupancy: the dwords the job would have published. */
vmc_status vmc_ring_skip(vmc_ring *r, uint32_t writer, uint32_t n, uint32_t *occupancy);
/* Walk rptr..wptr; *ok = 1 when intact, else info describes the first corrupt packet. */
vmc_status vmc_ring_check(const vmc_ring *r, int *ok, vmc_packet_info *info);
vmc_status vmc_ring_pointers(const vmc_ring *r, uint64_t *rptr, uint64_t *wptr,
                             uint32_t *size_dw, uint32_t *lock_owner);

/* ---- memory pools (pool.c) --------------------------------------------- */
#define VMC_POOL_MIN_BLOCK 4096
#define VMC_POOL_MAX_BLOCKS 67108864

typedef struct vmc_pool vmc_pool;

typedef struct {
    uint64_t offset;
    uint64_t size;
    int pinned;
} vmc_block_info;

vmc_status vmc_pool_create(uint64_t size, vmc_pool **out);
vmc_status vmc_pool_destroy(vmc_pool *p);
/* One contiguous buddy block of at least `size` bytes (rounded up to a power of two
 * times 4 KiB). */
vmc_status vmc_pool_alloc(vmc_pool *p, uint64_t size, uint64_t *out);
vmc_status vmc_pool_free(vmc_pool *p, uint64_t block);
/* The blocks of a BO of size bytes (rounded up to 4 KiB): one block of the next power of
 * two when contiguous (recording the rounded size, not the block's), else the largest
 * power-of-two blocks first, each at most the largest free block.  Nothing is allocated
 * when it does not fit (VMC_E_NOSPACE).  handles/offsets/sizes get *n entries; when cap
 * entries were not enough it returns VMC_E_RANGE with the cap blocks it took, and
 * asking again for the rest continues exactly where it stopped. */
vmc_status vmc_pool_alloc_bo(vmc_pool *p, uint64_t size, int contiguous, uint64_t *handles,
                             uint64_t *offsets, uint64_t *sizes, uint32_t cap, uint32_t *n);
vmc_status vmc_pool_pin(vmc_pool *p, uint64_t block);
vmc_status vmc_pool_unpin(vmc_pool *p, uint64_t block);
vmc_status vmc_pool_block(const vmc_pool *p, uint64_t block, vmc_block_info *out);
/* Sizes in bytes; fragmentation in parts per million: 1 - largest_free / free. */
vmc_status vmc_pool_stats(const vmc_pool *p, uint64_t *size, uint64_t *free_bytes,
                          uint64_t *largest_free, uint64_t *pinned_bytes,
                          uint32_t *fragmentation_ppm);

/* ---- page store (store.c) --------------------------------------------- */
/* One 64-bit value per simulated 4 KiB page of physical memory: the data oracle behind
 * `reads V`.  Memory is added as regions of pages (all 0 when added); values move in
 * bulk calls, never one Python call per page. */
#define VMC_STORE_MAX_REGIONS 1048576

typedef struct vmc_store vmc_store;

vmc_status vmc_store_create(vmc_store **out);
vmc_status vmc_store_destroy(vmc_store *s);
/* Add [base, base + npages pages); it must not overlap an existing region. */
vmc_status vmc_store_add_region(vmc_store *s, uint64_t base, uint64_t npages);
vmc_status vmc_store_fill(vmc_store *s, uint64_t phys, uint64_t npages, uint64_t value);
vmc_status vmc_store_copy(vmc_store *s, uint64_t src, uint64_t dst, uint64_t npages);
vmc_status vmc_store_get(const vmc_store *s, uint64_t phys, uint64_t *value);
/* *mismatch = index of the first page whose value is not `value` (npages when none);
 * *seen = the value found there. */
vmc_status vmc_store_check(const vmc_store *s, uint64_t phys, uint64_t npages, uint64_t value,
                           uint64_t *mismatch, uint64_t *seen);
/* A GPU access through the VM's PTEs: write `value` into the page each valid PTE of the
 * range points to (pages without a valid PTE are skipped; *written counts the others). */
vmc_status vmc_vm_store_write(const vmc_vm *vm, vmc_store *s, uint64_t va, uint64_t npages,
                              uint64_t value, uint64_t *written);
/* Copy page values from src_va to dst_va through the VM's PTEs (both must translate;
 * pages where either does not are skipped). */
vmc_status vmc_vm_store_copy(const vmc_vm *vm, vmc_store *s, uint64_t src_va, uint64_t dst_va,
                             uint64_t npages, uint64_t *copied);

/* cdef-end */

#endif
