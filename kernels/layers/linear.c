/* linear.c: fully connected layer (W[K,C], x[C], y[K]) and bias add / grad. */
#include "ly_common.h"

/* y = W @ x: A = W (K x C), B = x (C x 1). */
void ly_linear_fw(struct ly_args *a) { ly_matmul(a->cores, a->in1, a->in0, a->out0, a->K, 1, a->C); }

/* dW = dy (K x 1) @ x (1 x C): an outer product (each element one rounding). */
void ly_linear_wg(struct ly_args *a) { ly_matmul(a->cores, a->in2, a->in0, a->out0, a->K, a->C, 1); }

/* dx = W^T dy as dy^T (1 x K) @ W (K x C): parallel over the C columns. */
void ly_linear_ig(struct ly_args *a) { ly_matmul(a->cores, a->in2, a->in1, a->out0, 1, a->C, a->K); }

/* y[k, :] + b[k], parallel over all K*HW elements (HW = a->n); one divide per core
 * finds the channel of its first element, then the channel advances every HW elements. */
static void bias_add_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int hw = a->n, lo, hi;
    mm_range(a->K * hw, &lo, &hi);
    if (lo >= hi)
        return;
    int k = lo / hw, left = hw - (lo - k * hw);
    float b = a->in1[k];
    for (int i = lo; i < hi; i++) {
        a->out0[i] = a->in0[i] + b;
        if (--left == 0 && i + 1 < hi) {
            b = a->in1[++k];
            left = hw;
        }
    }
}

/* db[k] = sum_hw dy[k, hw] in increasing hw, parallel over k. */
static void bias_grad_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int hw = a->n, lo, hi;
    mm_range(a->K, &lo, &hi);
    for (int k = lo; k < hi; k++) {
        const float *d = a->in2 + k * hw;
        float acc = d[0];
        for (int i = 1; i < hw; i++)
            acc += d[i];
        a->out0[k] = acc;
    }
}

void ly_bias_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, bias_add_k, a); }
void ly_bias_wg(struct ly_args *a) { pi_cl_team_fork(a->cores, bias_grad_k, a); }
