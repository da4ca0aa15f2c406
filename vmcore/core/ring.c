/*
 * ring.c - the SDMA page queue: a ring buffer of 32-bit dwords.
 *
 * Writers follow amdgpu_ring_alloc / amdgpu_ring_write / amdgpu_ring_commit: reserve
 * n dwords, write them, commit (pad with NOPs, publish the write pointer).  The
 * engine executing the ring consumes whole packets from rptr up to the published
 * wptr.  Pointers are 64-bit dword counters that never wrap; the buffer index is
 * pointer & mask.
 *
 * The 2019 thread found that direct submission took no ring lock.  LOCKED mode adds
 * the lock it asked for: reserve, write and commit need the caller to hold it, so
 * reservations never overlap.  LOCKLESS mode takes none: a reservation starts at the
 * published wptr as its writer read it, so two writers whose reserve/write/commit
 * steps interleave write over the same dwords, and the integrity check finds the
 * damage (a bad header, a bad checksum, or committed dwords lost).
 *
 * Packet header: opcode (bits 0-7) | checksum of the body (8-15) | body dwords (16-31).
 *
 * Invariants: rptr <= wptr <= rptr + size; committed >= wptr, with equality unless
 * reservations overlapped; an open reservation r has r.written <= r.count.
 */
#include "common.h"

#define RING_MIN_DW 16u
#define RING_MAX_DW (1u << 24)
#define PKT_MAX_BODY 65535u

typedef struct {
    uint64_t start;
    uint32_t count;
    uint32_t written;
    uint8_t open;
} reservation;

struct vmc_ring {
    uint32_t *buf;
    uint32_t size, mask;
    int mode;
    uint64_t rptr, wptr, committed;
    uint32_t lock_owner;
    reservation res[VMC_RING_MAX_WRITERS + 1];
};

static uint32_t checksum(const uint32_t *body, uint32_t n)
{
    uint32_t x = 0;
    for (uint32_t i = 0; i < n; i++)
        x = x * 31u + body[i] + 0x9e37u;
    return (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24)) & 0xffu;
}

static uint32_t header(int op, const uint32_t *body, uint32_t n)
{
    return (uint32_t)op | (checksum(body, n) << 8) | (n << 16);
}

static int body_len_ok(int op, uint32_t len)
{
    switch (op) {
    case VMC_PKT_NOP: return 1;
    case VMC_PKT_COPY: return len == 5;
    case VMC_PKT_WRITE: return len >= 4;
    case VMC_PKT_FENCE: return len == 3;
    case VMC_PKT_PTEPDE: return len == 9;
    default: return 0;
    }
}

static int op_known(int op)
{
    return op == VMC_PKT_NOP || op == VMC_PKT_COPY || op == VMC_PKT_WRITE ||
           op == VMC_PKT_FENCE || op == VMC_PKT_PTEPDE;
}

vmc_status vmc_ring_packet_dw(int opcode, uint32_t count, uint32_t *out)
{
    if (!out)
        return VMC_E_INVAL;
    switch (opcode) {
    case VMC_PKT_NOP:
        if (count > PKT_MAX_BODY)
            return VMC_E_RANGE;
        *out = 1 + count;
        return VMC_OK;
    case VMC_PKT_COPY: *out = 6; return VMC_OK;
    case VMC_PKT_FENCE: *out = 4; return VMC_OK;
    case VMC_PKT_PTEPDE: *out = 10; return VMC_OK;
    case VMC_PKT_WRITE:
        if (count < 1 || count > PKT_MAX_BODY - 3)
            return VMC_E_RANGE;
        *out = 4 + count;
        return VMC_OK;
    default: return VMC_E_INVAL;
    }
}

vmc_status vmc_ring_create(uint32_t size_dw, int mode, vmc_ring **out)
{
    if (!out)
        return VMC_E_INVAL;
    *out = NULL;
    if (size_dw < RING_MIN_DW || size_dw > RING_MAX_DW || (size_dw & (size_dw - 1)))
        return VMC_E_INVAL;
    if (mode != VMC_RING_LOCKED && mode != VMC_RING_LOCKLESS)
        return VMC_E_INVAL;
    vmc_ring *r = calloc(1, sizeof(*r));
    if (!r)
        return VMC_E_NOMEM;
    r->buf = calloc(size_dw, sizeof(uint32_t));
    if (!r->buf) {
        free(r);
        return VMC_E_NOMEM;
    }
    r->size = size_dw;
    r->mask = size_dw - 1;
    r->mode = mode;
    *out = r;
    return VMC_OK;
}

vmc_status vmc_ring_destroy(vmc_ring *r)
{
    if (!r)
        return VMC_E_INVAL;
    free(r->buf);
    free(r);
    return VMC_OK;
}

static int writer_ok(uint32_t w)
{
    return w >= 1 && w <= VMC_RING_MAX_WRITERS;
}

vmc_status vmc_ring_lock(vmc_ring *r, uint32_t owner)
{
    if (!r || !writer_ok(owner))
        return VMC_E_INVAL;
    if (r->lock_owner == owner)
        return VMC_E_STATE;
    if (r->lock_owner)
        return VMC_E_LOCK;
    r->lock_owner = owner;
    return VMC_OK;
}

vmc_status vmc_ring_unlock(vmc_ring *r, uint32_t owner)
{
    if (!r || !writer_ok(owner))
        return VMC_E_INVAL;
    if (r->lock_owner != owner)
        return VMC_E_LOCK;
    if (r->res[owner].open)
        return VMC_E_STATE; /* commit before dropping the lock */
    r->lock_owner = 0;
    return VMC_OK;
}

vmc_status vmc_ring_reserve(vmc_ring *r, uint32_t writer, uint32_t n)
{
    if (!r || !writer_ok(writer) || n == 0)
        return VMC_E_INVAL;
    if (n > r->size)
        return VMC_E_NOSPACE;
    if (r->mode == VMC_RING_LOCKED && r->lock_owner != writer)
        return VMC_E_LOCK;
    reservation *res = &r->res[writer];
    if (res->open)
        return VMC_E_STATE;
    if (r->wptr + n - r->rptr > r->size)
        return VMC_E_NOSPACE;
    res->start = r->wptr;
    res->count = n;
    res->written = 0;
    res->open = 1;
    return VMC_OK;
}

vmc_status vmc_ring_write(vmc_ring *r, uint32_t writer, const uint32_t *dw, uint32_t n)
{
    if (!r || !writer_ok(writer) || (n && !dw))
        return VMC_E_INVAL;
    if (r->mode == VMC_RING_LOCKED && r->lock_owner != writer)
        return VMC_E_LOCK;
    reservation *res = &r->res[writer];
    if (!res->open)
        return VMC_E_STATE;
    if (n > res->count - res->written)
        return VMC_E_RANGE;
    for (uint32_t i = 0; i < n; i++)
        r->buf[(res->start + res->written + i) & r->mask] = dw[i];
    res->written += n;
    return VMC_OK;
}

vmc_status vmc_ring_commit(vmc_ring *r, uint32_t writer)
{
    if (!r || !writer_ok(writer))
        return VMC_E_INVAL;
    if (r->mode == VMC_RING_LOCKED && r->lock_owner != writer)
        return VMC_E_LOCK;
    reservation *res = &r->res[writer];
    if (!res->open)
        return VMC_E_STATE;
    /* pad with one NOP packet per remaining dword */
    uint32_t nop = header(VMC_PKT_NOP, NULL, 0);
    for (uint32_t i = res->written; i < res->count; i++)
        r->buf[(res->start + i) & r->mask] = nop;
    uint64_t end = res->start + res->count;
    r->committed += res->count;
    if (end > r->wptr)
        r->wptr = end;
    res->open = 0;
    return VMC_OK;
}

static vmc_status emit(vmc_ring *r, uint32_t writer, int op, const uint32_t *body, uint32_t n)
{
    if (!r || !writer_ok(writer))
        return VMC_E_INVAL;
    uint32_t stackbuf[16];
    uint32_t *pkt = n + 1 <= 16 ? stackbuf : malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!pkt)
        return VMC_E_NOMEM;
    pkt[0] = header(op, body, n);
    if (n)
        memcpy(pkt + 1, body, (size_t)n * sizeof(uint32_t));
    vmc_status st = vmc_ring_write(r, writer, pkt, n + 1);
    if (pkt != stackbuf)
        free(pkt);
    return st;
}

vmc_status vmc_ring_emit_nop(vmc_ring *r, uint32_t writer, uint32_t pad_dw)
{
    if (pad_dw > PKT_MAX_BODY)
        return VMC_E_RANGE;
    uint32_t *zeros = pad_dw ? calloc(pad_dw, sizeof(uint32_t)) : NULL;
    if (pad_dw && !zeros)
        return VMC_E_NOMEM;
    vmc_status st = emit(r, writer, VMC_PKT_NOP, zeros, pad_dw);
    free(zeros);
    return st;
}

vmc_status vmc_ring_emit_write(vmc_ring *r, uint32_t writer, uint64_t dst, const uint32_t *data,
                               uint32_t count)
{
    if (!data)
        return VMC_E_INVAL;
    if (count < 1 || count > PKT_MAX_BODY - 3)
        return VMC_E_RANGE;
    if (dst & 3)
        return VMC_E_ALIGN;
    uint32_t *body = malloc(((size_t)count + 3) * sizeof(uint32_t));
    if (!body)
        return VMC_E_NOMEM;
    body[0] = (uint32_t)dst;
    body[1] = (uint32_t)(dst >> 32);
    body[2] = count;
    memcpy(body + 3, data, (size_t)count * sizeof(uint32_t));
    vmc_status st = emit(r, writer, VMC_PKT_WRITE, body, count + 3);
    free(body);
    return st;
}

vmc_status vmc_ring_emit_copy(vmc_ring *r, uint32_t writer, uint64_t src, uint64_t dst,
                              uint32_t bytes)
{
    if (bytes == 0)
        return VMC_E_INVAL;
    uint32_t body[5] = {bytes, (uint32_t)src, (uint32_t)(src >> 32), (uint32_t)dst,
                        (uint32_t)(dst >> 32)};
    return emit(r, writer, VMC_PKT_COPY, body, 5);
}

vmc_status vmc_ring_emit_fence(vmc_ring *r, uint32_t writer, uint64_t addr, uint32_t seq)
{
    if (addr & 3)
        return VMC_E_ALIGN;
    uint32_t body[3] = {(uint32_t)addr, (uint32_t)(addr >> 32), seq};
    return emit(r, writer, VMC_PKT_FENCE, body, 3);
}

vmc_status vmc_ring_emit_ptepde(vmc_ring *r, uint32_t writer, uint64_t pe, uint64_t flags,
                                uint64_t addr, uint64_t incr, uint32_t count)
{
    if (count == 0)
        return VMC_E_INVAL;
    if (pe & 7)
        return VMC_E_ALIGN;
    uint32_t body[9] = {(uint32_t)pe,   (uint32_t)(pe >> 32),   (uint32_t)flags,
                        (uint32_t)(flags >> 32), (uint32_t)addr, (uint32_t)(addr >> 32),
                        (uint32_t)incr, (uint32_t)(incr >> 32), count};
    return emit(r, writer, VMC_PKT_PTEPDE, body, 9);
}

/* Parse the packet at pos (< end).  Returns 0 when good, else a VMC_RING_BAD_* reason. */
static int parse(const vmc_ring *r, uint64_t pos, uint64_t end, vmc_packet_info *info)
{
    uint32_t h = r->buf[pos & r->mask];
    int op = (int)(h & 0xffu);
    uint32_t len = h >> 16;
    info->offset = pos;
    info->opcode = op;
    info->body_len = len;
    info->reason = VMC_RING_BAD_NONE;
    if (!op_known(op))
        info->reason = VMC_RING_BAD_OPCODE;
    else if (!body_len_ok(op, len))
        info->reason = VMC_RING_BAD_LENGTH;
    else if (pos + 1 + len > end)
        info->reason = VMC_RING_BAD_TRUNCATED;
    else {
        uint32_t x = 0;
        for (uint32_t i = 0; i < len; i++)
            x = x * 31u + r->buf[(pos + 1 + i) & r->mask] + 0x9e37u;
        x = (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24)) & 0xffu;
        if (x != ((h >> 8) & 0xffu))
            info->reason = VMC_RING_BAD_CHECKSUM;
        else if (op == VMC_PKT_WRITE && r->buf[(pos + 3) & r->mask] != len - 3)
            info->reason = VMC_RING_BAD_LENGTH;
    }
    return info->reason;
}

vmc_status vmc_ring_consume(vmc_ring *r, vmc_packet_info *info, uint32_t *body, size_t cap)
{
    if (!r || !info || (cap && !body))
        return VMC_E_INVAL;
    if (r->rptr == r->wptr)
        return VMC_E_STATE;
    if (parse(r, r->rptr, r->wptr, info))
        return VMC_E_CORRUPT;
    for (uint32_t i = 0; i < info->body_len && i < cap; i++)
        body[i] = r->buf[(r->rptr + 1 + i) & r->mask];
    r->rptr += 1 + info->body_len;
    return VMC_OK;
}

static uint64_t lohi(const uint32_t *b)
{
    return (uint64_t)b[0] | (uint64_t)b[1] << 32;
}

vmc_status vmc_ring_consume_cmd(vmc_ring *r, vmc_packet_info *info, vmc_sdma_cmd *cmd)
{
    uint32_t body[9];
    if (!cmd)
        return VMC_E_INVAL;
    vmc_status st = vmc_ring_consume(r, info, body, 9);
    if (st != VMC_OK)
        return st;
    memset(cmd, 0, sizeof(*cmd));
    cmd->opcode = (uint64_t)info->opcode;
    switch (info->opcode) {
    case VMC_PKT_COPY:
        cmd->a = lohi(body + 1);
        cmd->b = lohi(body + 3);
        cmd->count = body[0];
        break;
    case VMC_PKT_FENCE:
        cmd->a = lohi(body);
        cmd->count = body[2];
        break;
    case VMC_PKT_PTEPDE:
        cmd->a = lohi(body);
        cmd->b = lohi(body + 2);
        cmd->c = lohi(body + 4);
        cmd->d = lohi(body + 6);
        cmd->count = body[8];
        break;
    case VMC_PKT_WRITE:
        cmd->a = lohi(body);
        cmd->count = info->body_len - 3;
        break;
    default:
        break;
    }
    return VMC_OK;
}

static int ring_idle(const vmc_ring *r)
{
    if (r->rptr != r->wptr || r->committed != r->wptr || r->lock_owner)
        return 0;
    for (uint32_t w = 0; w <= VMC_RING_MAX_WRITERS; w++)
        if (r->res[w].open)
            return 0;
    return 1;
}

vmc_status vmc_ring_skip(vmc_ring *r, uint32_t writer, uint32_t n, uint32_t *occupancy)
{
    if (!r || !writer_ok(writer) || !occupancy || n == 0)
        return VMC_E_INVAL;
    if (n > r->size / 2)
        return VMC_E_NOSPACE;
    if (!ring_idle(r))
        return VMC_E_STATE;
    r->wptr += n;
    r->committed += n;
    r->rptr = r->wptr;
    *occupancy = n;
    return VMC_OK;
}

vmc_status vmc_ring_check(const vmc_ring *r, int *ok, vmc_packet_info *info)
{
    if (!r || !ok || !info)
        return VMC_E_INVAL;
    uint64_t pos = r->rptr;
    while (pos < r->wptr) {
        if (parse(r, pos, r->wptr, info)) {
            *ok = 0;
            return VMC_OK;
        }
        pos += 1 + info->body_len;
    }
    if (r->committed != r->wptr) {
        *ok = 0;
        info->offset = r->wptr;
        info->opcode = 0;
        info->body_len = (uint32_t)(r->committed - r->wptr);
        info->reason = VMC_RING_BAD_LOST;
        return VMC_OK;
    }
    *ok = 1;
    memset(info, 0, sizeof(*info));
    return VMC_OK;
}

vmc_status vmc_ring_pointers(const vmc_ring *r, uint64_t *rptr, uint64_t *wptr,
                             uint32_t *size_dw, uint32_t *lock_owner)
{
    if (!r || !rptr || !wptr || !size_dw || !lock_owner)
        return VMC_E_INVAL;
    *rptr = r->rptr;
    *wptr = r->wptr;
    *size_dw = r->size;
    *lock_owner = r->lock_owner;
    return VMC_OK;
}
