#include "mini_train.h"
#include "stats.h"
#include "net.h"

#include "sdk-data.h"     /* written by the golden model: IN_SIZE, OUT_SIZE, VEC_SIZE and the tensors */

PI_L1 float l1_in[IN_SIZE];
PI_L1 float l1_wgt[IN_SIZE * OUT_SIZE];
PI_L1 float l1_bias[OUT_SIZE];
PI_L1 float l1_out[OUT_SIZE];
PI_L1 fp16 l1_a[VEC_SIZE], l1_b[VEC_SIZE], l1_prod[VEC_SIZE];
PI_L1 struct mini_linear_args lin_args;
PI_L1 struct mini_vec_args vec_args;

static void compare_tensors(float *A, float *B, int length)
{
    float mean_err_rel = 0.0f;
    for (int i = 0; i < length; i++) {
        float diff = ABS(A[i] - B[i]);
        float den = ABS(A[i]) > 1e-6f ? ABS(A[i]) : 1e-6f;
        mean_err_rel += diff / den / length;
    }
    if (mean_err_rel < ERROR_TOLERANCE)
        printf(">>>TENSOR MATCHING!\n");
    else
        printf(">>>TENSOR NOT MATCHING!\n");
}

static unsigned bits32(float f)
{
    union { float f; unsigned u; } b = {f};
    return b.u;
}

static unsigned bits16(fp16 h)
{
    union { fp16 h; unsigned short u; } b = {h};
    return b.u;
}

void net_step(void *arg)
{
    (void)arg;
#ifdef USE_FLASH
    struct pi_device fs;
    struct pi_readfs_conf conf;
    pi_readfs_conf_init(&conf);
    pi_open_from_conf(&fs, &conf);
    if (pi_fs_mount(&fs))
        return;
#endif
    for (int i = 0; i < IN_SIZE; i++) l1_in[i] = INPUT[i];
    for (int i = 0; i < IN_SIZE * OUT_SIZE; i++) l1_wgt[i] = WEIGHTS[i];
    for (int i = 0; i < OUT_SIZE; i++) l1_bias[i] = BIAS[i];
    for (int i = 0; i < VEC_SIZE; i++) {
        l1_a[i] = (fp16)VEC_A[i];
        l1_b[i] = (fp16)VEC_B[i];
    }
    lin_args = (struct mini_linear_args){l1_in, l1_wgt, l1_bias, l1_out, IN_SIZE, OUT_SIZE};

    printf("\nLinear forward\n");
    START_STATS();
    mini_linear_fw_cl(&lin_args);
    STOP_STATS();
    compare_tensors(l1_out, OUTPUT, OUT_SIZE);
    for (int i = 0; i < OUT_SIZE; i++)
        printf("out %d %08x\n", i, bits32(l1_out[i]));

    printf("\nGELU forward\n");
    mini_gelu_fw_cl(l1_out, OUT_SIZE);
    for (int i = 0; i < OUT_SIZE; i++)
        printf("gelu %d %08x\n", i, bits32(l1_out[i]));

    printf("\nbf16 SIMD product\n");
    vec_args = (struct mini_vec_args){l1_a, l1_b, l1_prod, VEC_SIZE};
    pi_cl_team_fork(NUM_CORES, mini_swap_mul_bf16, &vec_args);
    for (int i = 0; i < VEC_SIZE; i++)
        printf("vmul %d %04x\n", i, bits16(l1_prod[i]));

    half16 h = (half16)VEC_A[0] * (half16)VEC_B[0];
    printf("half %04x\n", (unsigned)*(unsigned short *)&h);
    printf("quarter pi %08x\n", bits32((float)(M_PI_2 / 2)));
}
