/*
 * <math.h> of the pulpsim runtime.
 *
 * Single precision (libm.c, see there for the accuracy of each): expf, logf,
 * powf, tanhf, sqrtf, fabsf, copysignf, fmaxf, fminf, fmaf, floorf, ceilf,
 * truncf, roundf.
 * Double precision (libm_double.c): sqrt, exp, log, pow, tanh, fabs,
 * copysign, fmax, fmin, floor, ceil, trunc, round.  RV32F has no double
 * unit: these run on compiler-rt's software double arithmetic (as newlib's
 * on a PULP core), some hundred cycles per operation.
 * Constants: the C99 ones (INFINITY, NAN, HUGE_VAL, HUGE_VALF, FP_*) and the
 * POSIX M_* ones.
 */
#ifndef PULPSIM_LIBC_MATH_H
#define PULPSIM_LIBC_MATH_H

#ifdef __cplusplus
extern "C" {
#endif

#define INFINITY  (__builtin_inff())
#define NAN       (__builtin_nanf(""))
#define HUGE_VALF (__builtin_inff())
#define HUGE_VAL  (__builtin_inf())

/* POSIX (XSI) constants, the values of glibc's <math.h>. */
#define M_E        2.7182818284590452354  /* e          */
#define M_LOG2E    1.4426950408889634074  /* log2(e)    */
#define M_LOG10E   0.43429448190325182765 /* log10(e)   */
#define M_LN2      0.69314718055994530942 /* ln(2)      */
#define M_LN10     2.30258509299404568402 /* ln(10)     */
#define M_PI       3.14159265358979323846 /* pi         */
#define M_PI_2     1.57079632679489661923 /* pi/2       */
#define M_PI_4     0.78539816339744830962 /* pi/4       */
#define M_1_PI     0.31830988618379067154 /* 1/pi       */
#define M_2_PI     0.63661977236758134308 /* 2/pi       */
#define M_2_SQRTPI 1.12837916709551257390 /* 2/sqrt(pi) */
#define M_SQRT2    1.41421356237309504880 /* sqrt(2)    */
#define M_SQRT1_2  0.70710678118654752440 /* 1/sqrt(2)  */

#define FP_NAN       0
#define FP_INFINITE  1
#define FP_ZERO      2
#define FP_SUBNORMAL 3
#define FP_NORMAL    4

#define fpclassify(x) __builtin_fpclassify(FP_NAN, FP_INFINITE, FP_NORMAL, FP_SUBNORMAL, FP_ZERO, x)
#define isnan(x)      __builtin_isnan(x)
#define isinf(x)      __builtin_isinf(x)
#define isfinite(x)   __builtin_isfinite(x)
#define isnormal(x)   __builtin_isnormal(x)
#define signbit(x)    __builtin_signbit(x)

float expf(float x);
float logf(float x);
float powf(float x, float y);
float tanhf(float x);
float sqrtf(float x);
float fabsf(float x);
float copysignf(float x, float y);
float fmaxf(float x, float y);
float fminf(float x, float y);
float fmaf(float x, float y, float z);
float floorf(float x);
float ceilf(float x);
float truncf(float x);
float roundf(float x);

double sqrt(double x);
double exp(double x);
double log(double x);
double pow(double x, double y);
double tanh(double x);
double fabs(double x);
double copysign(double x, double y);
double fmax(double x, double y);
double fmin(double x, double y);
double floor(double x);
double ceil(double x);
double trunc(double x);
double round(double x);

#ifdef __cplusplus
}
#endif

#endif
