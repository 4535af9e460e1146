/*
 * pulp_builtin_types.h: the half-precision types that PULP GCC has built in,
 * for code written for the PULP SDK (PULP-TrainLib's headers, for example,
 * start with `typedef float16alt fp16;`).
 *
 * pulpsim.toolchain.build() force-includes this file (-include) ahead of every
 * source, as PULP GCC's types need no header there.
 *
 *   float16     IEEE 754 binary16 (PULP GCC's float16)      -> _Float16
 *   float16alt  bfloat16, 8-bit exponent (PULP's float16alt) -> __bf16
 *
 * RV32IMF has no half-precision instructions: clang computes each +, -, *, /
 * of these types in single precision and rounds the result to the 16-bit
 * format at once (the toolchain passes -ffloat16-excess-precision=none and
 * -fbfloat16-excess-precision=none), which is the correctly rounded result
 * of the 16-bit operation (binary32 has more than 2p+2 significand bits), as
 * a PULP core with a half-precision FPU computes it.  The conversions are
 * compiler-rt calls (__extendhfsf2, __truncsfhf2, __truncsfbf2), so the
 * cycle counts are not those of a core with native half-precision
 * instructions.  Vector types of them (`vector_size(4)`, PULP's v2f16) work
 * element by element.
 *
 * GCC's one-vector __builtin_shuffle(v, mask) (result[i] = v[mask[i] mod n]),
 * which PULP code uses on such vectors, is defined for clang as a macro; the
 * two-vector form __builtin_shuffle(a, b, mask) is not supported there.
 *
 * Define PULPSIM_NO_PULP_TYPES to leave the names free.
 */
#if !defined(__ASSEMBLER__) && !defined(PULPSIM_NO_PULP_TYPES) && !defined(PULP_BUILTIN_TYPES_H)
#define PULP_BUILTIN_TYPES_H

#ifdef __FLT16_MAX__                               /* clang; GCC >= 12 on RISC-V */
typedef _Float16 float16;
#endif
#if defined(__clang__) || defined(__BFLT16_MAX__)  /* clang; GCC >= 13 */
typedef __bf16 float16alt;
#endif

#ifdef __clang__
#define __builtin_shuffle(v, ...) __extension__({                                           \
        __typeof__(v) __ps_v = (v), __ps_r;                                                 \
        __typeof__(__VA_ARGS__) __ps_m = (__VA_ARGS__);                                     \
        for (unsigned __ps_i = 0; __ps_i < sizeof __ps_v / sizeof __ps_v[0]; __ps_i++)      \
            __ps_r[__ps_i] = __ps_v[__ps_m[__ps_i] & (sizeof __ps_v / sizeof __ps_v[0] - 1)]; \
        __ps_r;                                                                              \
    })
#endif

#endif
