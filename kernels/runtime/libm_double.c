/*
 * libm_double.c: the double-precision <math.h> functions of the pulpsim
 * runtime.  RV32F has no double unit, so every double operation here is a
 * compiler-rt call (software floating point), as with newlib on a PULP core.
 *
 * Accuracy (tests/test_libc.py checks each against numpy):
 *   sqrt                          correctly rounded (integer square root)
 *   fabs, copysign, fmax, fmin,
 *   floor, ceil, trunc, round     exact
 *   exp, log                      within 2 ulp (range reduction by ln 2 and
 *                                 a Taylor / atanh series; 1 ulp measured)
 *   tanh                          within 3 ulp (2 measured)
 *   pow                           integer exponents |y| <= 64 by repeated
 *                                 squaring (within 8 ulp); otherwise
 *                                 exp(y * log|x|), whose error grows with
 *                                 |y * log|x||: within 2 + 2 |y log x| ulp
 *                                 (so up to ~1400 ulp near overflow)
 * Special values (NaN, infinities, zeros, negative bases) follow C99 Annex F.
 * Each function has a section of its own, so that only the ones a program
 * calls are linked (--gc-sections).
 */
#include <stdint.h>
#include "libc/math.h"

#define PD_FN(type, name) __attribute__((section(".text." #name))) type name

#define PD_SIGN 0x8000000000000000ull
#define PD_FRAC 0x000FFFFFFFFFFFFFull

typedef union { double d; uint64_t u; } pd_bits;

static inline uint64_t pd_u(double x) { pd_bits b = {.d = x}; return b.u; }
static inline double pd_d(uint64_t u) { pd_bits b = {.u = u}; return b.d; }
/* Biased exponent field. */
static inline int pd_expfield(double x) { return (int)((pd_u(x) >> 52) & 0x7FF); }
/* 2^k for -1022 <= k <= 1023. */
static inline double pd_pow2(int k) { return pd_d((uint64_t)(k + 1023) << 52); }

/* x * 2^k for any k; at most the last multiplication rounds. */
static double pd_scale(double x, int k)
{
    while (k > 1023) {
        x *= pd_pow2(1023);
        k -= 1023;
    }
    while (k < -1022) {
        int step = k + 1022 < -1022 ? -1022 : k + 1022;
        x *= pd_pow2(step);
        k -= step;
    }
    return x * pd_pow2(k);
}

/* ln 2 in two parts: LN2_HI has 32 significant bits, so k * LN2_HI is exact for |k| < 2^21. */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10

PD_FN(double, fabs)(double x) { return pd_d(pd_u(x) & ~PD_SIGN); }

PD_FN(double, copysign)(double x, double y) { return pd_d((pd_u(x) & ~PD_SIGN) | (pd_u(y) & PD_SIGN)); }

/* As fmax.d: a NaN operand gives the other one; +0 is larger than -0. */
PD_FN(double, fmax)(double x, double y)
{
    if (x != x)
        return y;
    if (y != y || x > y)
        return x;
    if (y > x)
        return y;
    return signbit(x) ? y : x;
}

PD_FN(double, fmin)(double x, double y)
{
    if (x != x)
        return y;
    if (y != y || x < y)
        return x;
    if (y < x)
        return y;
    return signbit(x) ? x : y;
}

/* Clears the fraction bits below the binary point (the sign of zero kept). */
PD_FN(double, trunc)(double x)
{
    uint64_t u = pd_u(x);
    int e = pd_expfield(x) - 1023;
    if (e >= 52)                      /* integral, infinite or NaN */
        return x;
    if (e < 0)                        /* |x| < 1 */
        return pd_d(u & PD_SIGN);
    return pd_d(u & ~(PD_FRAC >> e));
}

PD_FN(double, floor)(double x)
{
    double t = trunc(x);
    return x < t ? t - 1.0 : t;
}

PD_FN(double, ceil)(double x)
{
    double t = trunc(x);
    return x > t ? t + 1.0 : t;
}

/* Halfway cases away from zero; x - trunc(x) is exact. */
PD_FN(double, round)(double x)
{
    double t = trunc(x), d = x - t;
    if (d >= 0.5)
        return t + 1.0;
    if (d <= -0.5)
        return t - 1.0;
    return t;
}

/* Correctly rounded: x = m * 2^(2h) with m in [1, 4); the integer square root
 * of m's 54-bit significand shifted left by 52 gives 53 bits and a remainder,
 * which decides the rounding (ties cannot occur). */
PD_FN(double, sqrt)(double x)
{
    if (x == 0.0 || x != x || x == HUGE_VAL)
        return x;
    if (x < 0.0)
        return __builtin_nan("");
    int bias = 0;
    if (pd_expfield(x) == 0) {        /* subnormal: scale into the normal range */
        x *= 0x1p108;
        bias = -54;
    }
    int e = pd_expfield(x) - 1023;
    int h = e >> 1;                   /* floor(e / 2) */
    uint64_t m = (pd_u(x) & PD_FRAC) | (1ull << 52);
    if (e & 1)
        m <<= 1;                      /* m / 2^52 in [1, 4) */
    uint64_t q = 0, r = 0;
    for (int i = 52; i >= 0; i--) {   /* two bits of m * 2^52 per step, from the top */
        uint64_t pair = 2 * i >= 52 ? (m >> (2 * i - 52)) & 3u : 0;
        r = (r << 2) | pair;
        uint64_t t = (q << 2) | 1u;
        if (r >= t) {
            r -= t;
            q = (q << 1) | 1u;
        } else {
            q <<= 1;
        }
    }
    if (r > q)                        /* sqrt > q + 1/2 */
        q++;
    return pd_scale((double)q * 0x1p-52, h + bias);
}

/* 1/n!, n = 0..20 (constant expressions: rounded once by the compiler) */
static const double pd_inv_fact[21] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
    1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0, 1.0 / 87178291200.0,
    1.0 / 1307674368000.0, 1.0 / 20922789888000.0, 1.0 / 355687428096000.0, 1.0 / 6402373705728000.0,
    1.0 / 121645100408832000.0, 1.0 / 2432902008176640000.0,
};

/* 2 / (2n + 1), n = 1..12: the series of 2 atanh(s) / s - 2 in z = s^2 */
static const double pd_atanh_c[12] = {
    2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19, 2.0 / 21, 2.0 / 23, 2.0 / 25,
};

/* x = k ln2 + r, |r| <= ln2 / 2; e^r by its Taylor polynomial of degree 13
 * (remainder below 2^-60), times 2^k. */
PD_FN(double, exp)(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893383973096)
        return HUGE_VAL;
    if (x < -745.13321910194110842)
        return 0.0;
    double t = x * 1.44269504088896338700;
    int k = (int)(t < 0.0 ? t - 0.5 : t + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    double p = pd_inv_fact[13];
    for (int n = 12; n >= 0; n--)
        p = p * r + pd_inv_fact[n];
    return pd_scale(p, k);
}

/* x = m * 2^k, m in (sqrt(2)/2, sqrt(2)]; with f = m - 1 (exact) and
 * s = f / (2 + f), log(m) = 2 atanh(s) = f - s (f - R), R = 2 z/3 + 2 z^2/5 + ..., z = s^2 <= 0.0295. */
PD_FN(double, log)(double x)
{
    if (x != x)
        return x;
    if (x < 0.0)
        return __builtin_nan("");
    if (x == 0.0)
        return -HUGE_VAL;
    if (x == HUGE_VAL)
        return x;
    int k = 0;
    if (pd_expfield(x) == 0) {
        x *= 0x1p54;
        k = -54;
    }
    k += pd_expfield(x) - 1023;
    double m = pd_d((pd_u(x) & PD_FRAC) | (1023ull << 52));
    if (m > M_SQRT2) {
        m *= 0.5;
        k++;
    }
    double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double R = pd_atanh_c[11];
    for (int n = 10; n >= 0; n--)
        R = R * z + pd_atanh_c[n];
    R *= z;
    double logm = f - s * (f - R);
    return k * LN2_HI + (logm + k * LN2_LO);
}

/* e^u - 1 for |u| <= 1.1, by its Taylor series (20 terms; no cancellation). */
static double pd_expm1_small(double u)
{
    double p = pd_inv_fact[20];
    for (int n = 19; n >= 1; n--)
        p = p * u + pd_inv_fact[n];
    return p * u;
}

PD_FN(double, tanh)(double x)
{
    double a = fabs(x), r;
    if (a != a)
        return x;
    if (a > 22.0)
        r = 1.0;
    else if (a < 0x1p-28)
        return x;
    else if (a < 0.55) {
        double e = pd_expm1_small(2.0 * a);
        r = e / (e + 2.0);
    } else {
        r = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    }
    return copysign(r, x);
}

/* 1 if y is an odd integer. */
static int pd_is_odd(double y)
{
    if (fabs(y) >= 0x1p53 || trunc(y) != y)
        return 0;
    double h = y * 0.5;
    return trunc(h) != h;
}

PD_FN(double, pow)(double x, double y)
{
    if (y == 0.0 || x == 1.0)
        return 1.0;
    if (x != x || y != y)
        return x + y;
    int odd = pd_is_odd(y);
    if (x == 0.0) {
        if (y < 0.0)
            return odd ? copysign(HUGE_VAL, x) : HUGE_VAL;
        return odd ? x : 0.0;
    }
    if (y == HUGE_VAL || y == -HUGE_VAL) {
        double a = fabs(x);
        if (a == 1.0)
            return 1.0;
        return (a > 1.0) == (y > 0.0) ? HUGE_VAL : 0.0;
    }
    if (x == HUGE_VAL || x == -HUGE_VAL) {
        double mag = y < 0.0 ? 0.0 : HUGE_VAL;
        return (x < 0.0 && odd) ? -mag : mag;
    }
    if (x < 0.0 && trunc(y) != y)
        return __builtin_nan("");
    double sign = (x < 0.0 && odd) ? -1.0 : 1.0, a = fabs(x);
    if (trunc(y) == y && fabs(y) <= 64.0) {   /* repeated squaring */
        unsigned n = (unsigned)fabs(y);
        double r = 1.0, b = a;
        for (; n; n >>= 1, b *= b)
            if (n & 1)
                r *= b;
        return sign * (y < 0.0 ? 1.0 / r : r);
    }
    return sign * exp(y * log(a));
}
