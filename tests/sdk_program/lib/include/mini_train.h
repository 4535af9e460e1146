/* The mini training library: a linear layer, a GELU activation and a bfloat16 vector product. */
#ifndef MINI_TRAIN_H
#define MINI_TRAIN_H

#include "pmsis.h"
#include <math.h>
#include <bsp/bsp.h>
#include <bsp/fs/readfs.h>
#include "mini_train_defines.h"

struct mini_linear_args {
    float *input, *weights, *bias, *output;
    int in_size, out_size;
};

struct mini_vec_args {
    fp16 *a, *b, *out;
    int size;        /* even */
};

/* out = W @ in + b over NUM_CORES cores (forks) */
void mini_linear_fw_cl(struct mini_linear_args *args);
/* GELU (tanh approximation) in place over NUM_CORES cores (forks) */
void mini_gelu_fw_cl(float *data, int size);
/* out[2i], out[2i+1] = a[2i+1] * b[2i], a[2i] * b[2i+1] in bfloat16 SIMD (fork body) */
void mini_swap_mul_bf16(void *args);
/* Reads size bytes of weights from a file of the flash file system. */
int mini_load_weights(pi_fs_file_t *file, void *dst, int size);

#endif
