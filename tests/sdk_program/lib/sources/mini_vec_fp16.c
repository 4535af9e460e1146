#include "mini_train.h"

void mini_swap_mul_bf16(void *void_args)
{
    struct mini_vec_args *args = (struct mini_vec_args *)void_args;
    v2f16 *a = (v2f16 *)args->a, *b = (v2f16 *)args->b, *out = (v2f16 *)args->out;
    for (int i = pi_core_id(); i < args->size / 2; i += NUM_CORES)
        out[i] = (v2f16)__builtin_shuffle(a[i], (v2s){1, 0}) * b[i];
}
