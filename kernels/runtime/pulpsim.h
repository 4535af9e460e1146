/*
 * pulpsim.h: the guest runtime API of pulpsim programs (RV32IMF, bare metal).
 *
 * Provides exit/putchar/puts/printf (output through the SoC stdout
 * peripheral), the few string/memory functions compilers call, and inline
 * accessors of the core's CSRs.  Implemented in runtime.c; the start-up code
 * is crt0.S.  Address macros are usable from assembly (.S) too.
 */
#ifndef PULPSIM_H
#define PULPSIM_H

/* SoC peripherals (see shared spec, "Memory map" and "Program conventions"). */
#define PULPSIM_CORESTATUS_ADDR 0x1A1040A0u /* store (1<<31)|code: exit        */
#define PULPSIM_STDOUT_ADDR     0x1A120000u /* + (core<<3) + (cluster<<7): putc */
#define PULPSIM_TCDM_BASE       0x10000000u
#define PULPSIM_L2_BASE         0x1C000000u

#ifndef __ASSEMBLER__

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Spike / riscv-tests host interface, defined by runtime.c in section
 * .tohost.  Storing (code << 1) | 1 to tohost ends the run with `code`. */
extern volatile uint32_t tohost;
extern volatile uint32_t fromhost;

/* Ends the simulation with exit code `code` (CORESTATUS store, or a tohost
 * store when runtime.c is compiled with -DPULPSIM_EXIT_TOHOST). */
void exit(int code) __attribute__((noreturn));

int putchar(int c);
int puts(const char *s);
int printf(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(__printf__, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* CSR accessors.  On a non-RISC-V host (runtime unit tests) they return 0. */
#if defined(__riscv)
static inline unsigned read_csr_mhartid(void)
{
    unsigned v;
    __asm__ volatile("csrr %0, mhartid" : "=r"(v));
    return v;
}

/* Low 32 bits of the cycle counter. */
static inline unsigned read_mcycle(void)
{
    unsigned v;
    __asm__ volatile("csrr %0, mcycle" : "=r"(v));
    return v;
}

/* Low 32 bits of the retired-instruction counter. */
static inline unsigned read_minstret(void)
{
    unsigned v;
    __asm__ volatile("csrr %0, minstret" : "=r"(v));
    return v;
}
#else
static inline unsigned read_csr_mhartid(void) { return 0; }
static inline unsigned read_mcycle(void) { return 0; }
static inline unsigned read_minstret(void) { return 0; }
#endif

/* Core id within the cluster: mhartid[3:0]. */
static inline unsigned core_id(void) { return read_csr_mhartid() & 0xF; }

/* Cluster id: mhartid[10:5]. */
static inline unsigned cluster_id(void) { return (read_csr_mhartid() >> 5) & 0x3F; }

#ifdef __cplusplus
}
#endif

#endif /* __ASSEMBLER__ */
#endif /* PULPSIM_H */
