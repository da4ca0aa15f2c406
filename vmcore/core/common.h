/*
 * common.h - private helpers shared by the core's subsystems: handle packing and
 * growable arrays.  Nothing here is part of the API.
 */
#ifndef VMCORE_COMMON_H
#define VMCORE_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmcore_core.h"

/* A handle is ((generation ^ tag) << 32) | (index + 1): index 0 is handle 1, so 0 is
 * never valid.  The tag is drawn from the owning context's address, so a handle of one
 * context presented to another decodes to a generation its slot does not have and is
 * refused, instead of naming that context's object at the same index. */
static inline uint32_t vmc_tag_of(const void *ctx)
{
    uint64_t x = (uint64_t)(uintptr_t)ctx;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    x ^= x >> 32;
    return (uint32_t)x;
}

static inline uint64_t vmc_handle_make(uint32_t index, uint32_t gen, uint32_t tag)
{
    return ((uint64_t)(gen ^ tag) << 32) | ((uint64_t)index + 1u);
}

static inline uint32_t vmc_handle_index(uint64_t h)
{
    return (uint32_t)((h & 0xffffffffu) - 1u);
}

static inline uint32_t vmc_handle_gen(uint64_t h, uint32_t tag)
{
    return (uint32_t)(h >> 32) ^ tag;
}

/* Grow *buf (elements of size elem) so that it holds at least need elements. */
static inline int vmc_grow(void **buf, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint32_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > UINT32_MAX / 2)
            return -1;
        ncap *= 2;
    }
    void *nb = realloc(*buf, (size_t)ncap * elem);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

#endif
