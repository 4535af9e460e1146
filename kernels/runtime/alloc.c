/*
 * alloc.c: the L1 (TCDM) and L2 heaps of pmsis.h.
 *
 * First fit over an address-ordered free list whose nodes live in the free
 * memory itself; free() gets the size back from the caller (as the PULP SDK
 * allocators), so allocated chunks carry no header.  Sizes are rounded up to
 * 8 bytes and chunks are 8-byte aligned.  Freed neighbours merge.
 *
 * Heap bounds come from the linker script (link.ld.in): the L1 heap is the
 * TCDM between the .l1 data and the stacks, the L2 heap the L2 after the
 * program's data.  Heaps are set up on first use.  Inside a fork (team of
 * more than one core) the allocators hold HW mutex PMSIS_ALLOC_MUTEX
 * (event unit +0xC4: lw = lock, sw = unlock); in a team of one they do not
 * touch the event unit.
 */
#include "pmsis_impl.h"

extern char __l1_heap_start[], __l1_heap_end[], __l2_heap_start[], __l2_heap_end[];

typedef struct chunk {
    uint32_t size; /* bytes, multiple of 8, including this header */
    struct chunk *next;
} chunk_t;

typedef struct {
    chunk_t *first;
    uintptr_t lo, hi; /* bounds, 0/0 until the first use */
} heap_t;

PI_L1 static heap_t l1_heap;
PI_L1 static heap_t l2_heap;

static heap_t *heap_get(heap_t *h, char *start, char *end)
{
    if (h->hi == 0) {
        uintptr_t lo = ((uintptr_t)start + 7u) & ~(uintptr_t)7u;
        uintptr_t hi = (uintptr_t)end & ~(uintptr_t)7u;
        h->first = NULL;
        if (hi > lo + sizeof(chunk_t)) {
            h->first = (chunk_t *)lo;
            h->first->size = (uint32_t)(hi - lo);
            h->first->next = NULL;
        } else {
            hi = lo = 8; /* empty heap, but initialised */
        }
        h->lo = lo;
        h->hi = hi;
    }
    return h;
}

#define L1_HEAP() heap_get(&l1_heap, __l1_heap_start, __l1_heap_end)
#define L2_HEAP() heap_get(&l2_heap, __l2_heap_start, __l2_heap_end)

static void lock(void)
{
    if (__pmsis_team_nb_cores > 1)
        (void)PMSIS_EU(PULPSIM_EU_MUTEX(PMSIS_ALLOC_MUTEX));
}

static void unlock(void)
{
    if (__pmsis_team_nb_cores > 1)
        PMSIS_EU(PULPSIM_EU_MUTEX(PMSIS_ALLOC_MUTEX)) = 0;
}

static void *heap_alloc(heap_t *h, uint32_t size)
{
    chunk_t **link, *c;
    if (size == 0 || size > 0x7FFFFFF0u)
        return NULL;
    size = (size + 7u) & ~7u;
    for (link = &h->first; (c = *link) != NULL; link = &c->next) {
        if (c->size < size)
            continue;
        if (c->size - size >= sizeof(chunk_t)) {
            /* Split: the rest stays free, after the allocated part. */
            chunk_t *rest = (chunk_t *)((char *)c + size);
            rest->size = c->size - size;
            rest->next = c->next;
            *link = rest;
        } else {
            *link = c->next; /* exact fit (sizes are multiples of 8) */
        }
        return c;
    }
    return NULL;
}

static void heap_free(heap_t *h, void *ptr, uint32_t size, const char *who)
{
    uintptr_t p = (uintptr_t)ptr;
    chunk_t **link, *c, *prev = NULL, *node;
    if (ptr == NULL || size == 0)
        return;
    size = (size + 7u) & ~7u;
    if ((p & 7u) || p < h->lo || p + size > h->hi || p + size < p)
        __pmsis_fatal(who, (unsigned)p, (unsigned)size);
    for (link = &h->first; (c = *link) != NULL && (uintptr_t)c < p; link = &c->next)
        prev = c;
    /* Overlap with a free neighbour: double free or wrong size. */
    if ((prev && (uintptr_t)prev + prev->size > p) || (c && p + size > (uintptr_t)c))
        __pmsis_fatal(who, (unsigned)p, (unsigned)size);
    node = (chunk_t *)p;
    node->size = size;
    node->next = c;
    if (c && p + size == (uintptr_t)c) { /* merge with the next free chunk */
        node->size += c->size;
        node->next = c->next;
    }
    if (prev && (uintptr_t)prev + prev->size == p) { /* merge with the previous */
        prev->size += node->size;
        prev->next = node->next;
    } else {
        *link = node;
    }
}

static uint32_t heap_free_bytes(heap_t *h)
{
    uint32_t n = 0;
    chunk_t *c;
    for (c = h->first; c; c = c->next)
        n += c->size;
    return n;
}

/* ---- L1 ------------------------------------------------------------------ */

void *pi_l1_malloc(pi_l1_dev_t dev, uint32_t size)
{
    void *p;
    (void)dev;
    lock();
    p = heap_alloc(L1_HEAP(), size);
    unlock();
    return p;
}

void pi_l1_free(pi_l1_dev_t dev, void *chunk, uint32_t size)
{
    (void)dev;
    lock();
    heap_free(L1_HEAP(), chunk, size, "pi_l1_free(0x%08x, %u): not an allocated chunk of the L1 heap");
    unlock();
}

void *pi_cl_l1_malloc(pi_l1_dev_t dev, uint32_t size)
{
    return pi_l1_malloc(dev, size);
}

void pi_cl_l1_free(pi_l1_dev_t dev, void *chunk, uint32_t size)
{
    pi_l1_free(dev, chunk, size);
}

uint32_t pi_l1_heap_free_bytes(void)
{
    uint32_t n;
    lock();
    n = heap_free_bytes(L1_HEAP());
    unlock();
    return n;
}

/* ---- L2 ------------------------------------------------------------------ */

void *pi_l2_malloc(int size)
{
    void *p;
    if (size <= 0)
        return NULL;
    lock();
    p = heap_alloc(L2_HEAP(), (uint32_t)size);
    unlock();
    return p;
}

void pi_l2_free(void *chunk, int size)
{
    if (size <= 0)
        return;
    lock();
    heap_free(L2_HEAP(), chunk, (uint32_t)size, "pi_l2_free(0x%08x, %u): not an allocated chunk of the L2 heap");
    unlock();
}

uint32_t pi_l2_heap_free_bytes(void)
{
    uint32_t n;
    lock();
    n = heap_free_bytes(L2_HEAP());
    unlock();
    return n;
}
