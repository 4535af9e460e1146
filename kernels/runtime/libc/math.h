/*
 * <math.h> of the pulpsim runtime: the single-precision functions of libm.c
 * (see there for their accuracy) and the usual classification macros.
 * Double-precision functions are not provided (RV32F has no double unit).
 */
#ifndef PULPSIM_LIBC_MATH_H
#define PULPSIM_LIBC_MATH_H

#ifdef __cplusplus
extern "C" {
#endif

#define INFINITY  (__builtin_inff())
#define NAN       (__builtin_nanf(""))
#define HUGE_VALF (__builtin_inff())
#define M_PI      3.14159265358979323846
#define M_E       2.7182818284590452354
#define M_LN2     0.69314718055994530942

#define isnan(x)    __builtin_isnan(x)
#define isinf(x)    __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)
#define signbit(x)  __builtin_signbit(x)

float expf(float x);
float logf(float x);
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

#ifdef __cplusplus
}
#endif

#endif
