/*
 * fp16.c: the bfloat16 conversions that zig's compiler-rt lacks, for the
 * float16alt type of pulp_builtin_types.h (clang calls them for every
 * float -> __bf16 and double -> __bf16 rounding).  Each is linked only when
 * called (--gc-sections).
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

/* double -> bfloat16, rounding to nearest even, correctly: the double is
 * first rounded to float "to odd" (truncated, lowest bit set when inexact),
 * which keeps 24 bits, more than the 8 + 2 a second rounding to nearest needs
 * to give the same result as one direct rounding. */
__attribute__((section(".text.__truncdfbf2"))) __bf16 __truncdfbf2(double x)
{
    float f = (float)x;                            /* to nearest (compiler-rt) */
    fp16_fbits b = {.f = f};
    if ((double)f == x || f != f || (b.u & 0x7FFFFFFFu) == 0x7F800000u)
        return __truncsfbf2(f);                    /* exact, NaN, or beyond every float */
    if (x > 0.0 ? (double)f > x : (double)f < x)
        b.u -= 1u;                                 /* rounded away from zero: truncate */
    b.u |= 1u;                                     /* to odd */
    return __truncsfbf2(b.f);
}
