/*
 * fp16.c: the bfloat16 conversion that zig's compiler-rt lacks, for the
 * float16alt type of pulp_builtin_types.h (clang calls it for every
 * float -> __bf16 rounding).  Linked only when called (--gc-sections).
 */
#include <stdint.h>

typedef union { float f; uint32_t u; } fp16_fbits;
typedef union { __bf16 b; uint16_t u; } fp16_bbits;

/* float -> bfloat16, rounding to nearest even; a NaN stays a NaN (quiet). */
__attribute__((section(".text.__truncsfbf2"))) __bf16 __truncsfbf2(float x)
{
    fp16_fbits in = {.f = x};
    fp16_bbits out;
    uint32_t u = in.u;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        out.u = (uint16_t)((u >> 16) | 0x40u);
    else
        out.u = (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    return out.b;
}
