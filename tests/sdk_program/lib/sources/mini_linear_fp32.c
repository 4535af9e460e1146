#include "mini_train.h"

static void linear_core(void *void_args)
{
    struct mini_linear_args *args = (struct mini_linear_args *)void_args;
    int blk = (args->out_size + NUM_CORES - 1) / NUM_CORES;
    int start = pi_core_id() * blk;
    int stop = start + blk > args->out_size ? args->out_size : start + blk;
    for (int o = start; o < stop; o++) {
        float acc = args->bias[o];
        for (int i = 0; i < args->in_size; i++)
            acc += args->weights[o * args->in_size + i] * args->input[i];
        args->output[o] = acc;
    }
}

void mini_linear_fw_cl(struct mini_linear_args *args)
{
    pi_cl_team_fork(NUM_CORES, linear_core, args);
}

struct gelu_args {
    float *data;
    int size;
};

static void gelu_core(void *void_args)
{
    struct gelu_args *args = (struct gelu_args *)void_args;
    const float k = (float)sqrt(M_2_PI);              /* double sqrt, POSIX constant */
    for (int i = pi_core_id(); i < args->size; i += NUM_CORES) {
        float x = args->data[i];
        args->data[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * powf(x, 3.0f))));
    }
}

void mini_gelu_fw_cl(float *data, int size)
{
    struct gelu_args args = {data, size};
    pi_cl_team_fork(NUM_CORES, gelu_core, &args);
}

int mini_load_weights(pi_fs_file_t *file, void *dst, int size)
{
    return pi_fs_read(file, dst, (uint32_t)size);
}
