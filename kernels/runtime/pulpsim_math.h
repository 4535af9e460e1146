/*
 * pulpsim_math.h: the single-precision elementary functions of the runtime
 * (libm.c, <math.h>), as inline functions so that kernels compiled natively
 * for the host (golden references) run exactly the same code.
 *
 * Plain C with float arithmetic only; PS_ROUND forces a rounding to float
 * where a fused multiply-add would change the result (contraction).
 */
#ifndef PULPSIM_MATH_H
#define PULPSIM_MATH_H

#if defined(MM_HOST) || !defined(__riscv)
#define PS_ROUND(x) ((void)0)
#else
#define PS_ROUND(x) __asm__("" : "+f"(x))
#endif

typedef union { float f; unsigned int u; } ps_fbits;

/* expf: x = k*ln2 + r, |r| <= ln2/2, e^r by a degree-7 Taylor polynomial, times 2^k.
 * Within about 2 ulp of the correctly rounded result on [-87, 88]. */
static inline float ps_expf(float x)
{
    if (x != x)
        return x;
    if (x > 88.72283f)
        return __builtin_inff();
    if (x < -103.97208f)
        return 0.0f;
    float t = x * 1.44269504f;
    int k = (int)(t + (t >= 0.0f ? 0.5f : -0.5f));
    float fk = (float)k;
    float r = x - fk * 0.693145751953125f;     /* ln2 high part: fk * hi is exact */
    PS_ROUND(r);
    r = r - fk * 1.42860677e-06f;               /* ln2 low part */
    PS_ROUND(r);
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    ps_fbits s;
    if (k < -125) {         /* subnormal result: scale in two steps */
        s.u = (unsigned int)(k + 64 + 127) << 23;
        return p * s.f * 5.42101086e-20f;   /* 2^-64 */
    }
    s.u = (unsigned int)(k + 127) << 23;
    return p * s.f;
}

/* logf: x = m * 2^e, m in [sqrt(1/2), sqrt(2)) (subnormal x scaled by 2^23
 * first), log m = 2 atanh(s), s = (m - 1) / (m + 1), by its series to s^9. */
static inline float ps_logf(float x)
{
    if (!(x > 0.0f))
        return x == 0.0f ? -__builtin_inff() : (x - x) / (x - x);
    if (x == __builtin_inff())
        return x;
    int e0 = 0;
    if (x < 1.17549435e-38f) {      /* subnormal: exact scaling into the normal range */
        x = x * 8388608.0f;
        e0 = -23;
    }
    ps_fbits b;
    b.f = x;
    int e = (int)((b.u >> 23) & 0xff) - 127 + e0;
    b.u = (b.u & 0x7fffff) | 0x3f800000u;
    float m = b.f;
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e++;
    }
    float f = m - 1.0f;
    float s = f / (m + 1.0f);
    float s2 = s * s;
    float q = 1.0f / 9.0f;
    q = q * s2 + 1.0f / 7.0f;
    q = q * s2 + 1.0f / 5.0f;
    q = q * s2 + 1.0f / 3.0f;
    float lm = f - s * (f - 2.0f * s2 * q);   /* 2s(1 + s2 q) = f - s*(f - 2 s s2 q) since 2s = f - s f */
    float fe = (float)e;
    return fe * 0.693145751953125f + (lm + fe * 1.42860677e-06f);
}

#endif /* PULPSIM_MATH_H */
