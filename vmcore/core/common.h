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

/* A handle is (generation << 32) | (index + 1): index 0 is handle 1, so 0 is never valid. */
static inline uint64_t vmc_handle_make(uint32_t index, uint32_t gen)
{
    return ((uint64_t)gen << 32) | ((uint64_t)index + 1u);
}

static inline uint32_t vmc_handle_index(uint64_t h)
{
    return (uint32_t)((h & 0xffffffffu) - 1u);
}

static inline uint32_t vmc_handle_gen(uint64_t h)
{
    return (uint32_t)(h >> 32);
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
