/* elementwise.c: transpose, ReLU, global average pooling, SGD with momentum.
 * All parallel over contiguous slices of elements (or channels). */
#include "ly_common.h"

void ly_transpose(void *args)
{
    const struct ly_tr_args *t = (const struct ly_tr_args *)args;
    int rows = t->rows, cols = t->cols, lo, hi;
    mm_range(cols, &lo, &hi);   /* each core writes its own rows of dst */
    for (int j = lo; j < hi; j++)
        for (int i = 0; i < rows; i++)
            t->dst[j * rows + i] = t->src[i * cols + j];
}

static void relu_fw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int lo, hi;
    mm_range(a->n, &lo, &hi);
    for (int i = lo; i < hi; i++) {
        float x = a->in0[i];
        a->out0[i] = x > 0.0f ? x : 0.0f;
    }
}

static void relu_bw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int lo, hi;
    mm_range(a->n, &lo, &hi);
    for (int i = lo; i < hi; i++)
        a->out0[i] = a->in0[i] > 0.0f ? a->in2[i] : 0.0f;
}

/* y[c] = (sum_hw x[c, hw], increasing hw) / HW; parallel over channels. */
static void avgpool_fw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int hw = a->H * a->W, lo, hi;
    float n = (float)hw;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * hw;
        float acc = x[0];
        for (int i = 1; i < hw; i++)
            acc += x[i];
        a->out0[c] = acc / n;
    }
}

/* dx[c, hw] = dy[c] / HW (one divide per channel); parallel over channels. */
static void avgpool_bw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int hw = a->H * a->W, lo, hi;
    float n = (float)hw;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        float g = a->in2[c] / n;
        float *dx = a->out0 + c * hw;
        for (int i = 0; i < hw; i++)
            dx[i] = g;
    }
}

/* PyTorch SGD (dampening 0): g' = g + wd*w; v = m*v + g'; w = w - lr*v.  Every
 * operation rounded separately (LY_ROUND: no fmadd), as golden.sgd_momentum. */
static void sgd_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    float lr = a->lr, m = a->momentum, wd = a->wd;
    int lo, hi;
    mm_range(a->n, &lo, &hi);
    for (int i = lo; i < hi; i++) {
        float w = a->in0[i];
        float t = wd * w;
        LY_ROUND(t);
        float g = a->in1[i] + t;
        float mv = m * a->in3[i];
        LY_ROUND(mv);
        float v = mv + g;
        float u = lr * v;
        LY_ROUND(u);
        a->out0[i] = w - u;
        a->out1[i] = v;
    }
}

void ly_relu_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, relu_fw_k, a); }
void ly_relu_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, relu_bw_k, a); }
void ly_avgpool_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, avgpool_fw_k, a); }
void ly_avgpool_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, avgpool_bw_k, a); }
void ly_sgd_step(struct ly_args *a) { pi_cl_team_fork(a->cores, sgd_k, a); }
