/*
 * libm.c: the single-precision <math.h> functions of the pulpsim runtime.
 *
 * expf and logf are the portable implementations of pulpsim_math.h (within
 * about 2 ulp); the others map to one RV32F instruction or are exact:
 *   sqrtf -> fsqrt.s (correctly rounded), fabsf -> fsgnjx.s, copysignf -> fsgnj.s,
 *   fmaxf/fminf -> fmax.s/fmin.s (a NaN operand yields the other one),
 *   fmaf -> fmadd.s (one rounding), floorf/ceilf/truncf/roundf via fcvt.w.s
 *   with a static rounding mode (exact; |x| >= 2^23, inf and NaN returned
 *   as they are, the sign of zero kept).
 * powf and tanhf evaluate pow and tanh of libm_double.c in double precision
 * and round once (within 1 ulp).
 * Each function has a section of its own, so that only the ones a program
 * calls are linked (--gc-sections).
 */
#include "pulpsim_math.h"
#include "libc/math.h"

#define PS_FN(name) __attribute__((section(".text." #name))) float name

PS_FN(expf)(float x) { return ps_expf(x); }
PS_FN(logf)(float x) { return ps_logf(x); }

PS_FN(sqrtf)(float x)
{
    float r;
    __asm__("fsqrt.s %0, %1" : "=f"(r) : "f"(x));
    return r;
}

PS_FN(fabsf)(float x)
{
    float r;
    __asm__("fsgnjx.s %0, %1, %1" : "=f"(r) : "f"(x));
    return r;
}

PS_FN(copysignf)(float x, float y)
{
    float r;
    __asm__("fsgnj.s %0, %1, %2" : "=f"(r) : "f"(x), "f"(y));
    return r;
}

PS_FN(fmaxf)(float x, float y)
{
    float r;
    __asm__("fmax.s %0, %1, %2" : "=f"(r) : "f"(x), "f"(y));
    return r;
}

PS_FN(fminf)(float x, float y)
{
    float r;
    __asm__("fmin.s %0, %1, %2" : "=f"(r) : "f"(x), "f"(y));
    return r;
}

PS_FN(fmaf)(float x, float y, float z)
{
    float r;
    __asm__("fmadd.s %0, %1, %2, %3" : "=f"(r) : "f"(x), "f"(y), "f"(z));
    return r;
}

/* x rounded to an integer with fcvt.w.s in rounding mode RM, back to float
 * with the sign of x (so -0.5 -> -0.0 for ceil, trunc and round). */
#define PS_ROUND_INT(NAME, RM)                                          \
    PS_FN(NAME)(float x)                                                \
    {                                                                   \
        if (!(fabsf(x) < 8388608.0f))   /* |x| >= 2^23, inf, NaN */     \
            return x;                                                   \
        int i;                                                          \
        __asm__("fcvt.w.s %0, %1, " RM : "=r"(i) : "f"(x));             \
        return copysignf((float)i, x);                                  \
    }

PS_ROUND_INT(floorf, "rdn")
PS_ROUND_INT(ceilf, "rup")
PS_ROUND_INT(truncf, "rtz")
PS_ROUND_INT(roundf, "rmm")

PS_FN(powf)(float x, float y) { return (float)pow((double)x, (double)y); }
PS_FN(tanhf)(float x) { return (float)tanh((double)x); }
