/* Data formats and helpers of the mini training library. */
#ifndef MINI_TRAIN_DEFINES_H
#define MINI_TRAIN_DEFINES_H

typedef float16alt fp16;                              /* bfloat16, a PULP GCC built-in type */
typedef fp16 v2f16 __attribute__((vector_size(4)));   /* two of them, for SIMD */
typedef float16 half16;                               /* IEEE binary16, a PULP GCC built-in type */

#define ABS(x) ((x) > 0 ? (x) : (-(x)))

#endif
