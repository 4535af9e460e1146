/* elementwise.c: transpose, ReLU, average pooling, SGD with momentum, gradient accumulation.
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

/* Average pooling with non-overlapping windows of k x k (stride k: a->stride;
 * 0 means one global H x W window): y[c, oh, ow] = (sum over the window in
 * row-major order) / window size; parallel over channels. */
static void avgpool_fw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, kh = a->stride ? a->stride : H, kw = a->stride ? a->stride : W;
    int lo, hi;
    float n = (float)(kh * kw);
    mm_range(a->C, &lo, &hi);
    if (!a->stride) {   /* global: one contiguous window per channel */
        for (int c = lo; c < hi; c++) {
            const float *x = a->in0 + c * H * W;
            float acc = x[0];
            for (int i = 1; i < H * W; i++)
                acc += x[i];
            a->out0[c] = acc / n;
        }
        return;
    }
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * H * W;
        float *y = a->out0 + c * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                const float *win = x + oh * kh * W + ow * kw;
                float acc = win[0];
                for (int j = 1; j < kw; j++)
                    acc += win[j];
                for (int i = 1; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        acc += win[i * W + j];
                y[oh * Wo + ow] = acc / n;
            }
    }
}

/* dx[c, h, w] = dy[c, h / k, w / k] / (k * k) inside the windows, 0 in the
 * trailing rows and columns no window covers; one divide per output. */
static void avgpool_bw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, kh = a->stride ? a->stride : H, kw = a->stride ? a->stride : W;
    int lo, hi;
    float n = (float)(kh * kw);
    mm_range(a->C, &lo, &hi);
    if (!a->stride) {   /* global: every input of the channel gets dy / HW */
        for (int c = lo; c < hi; c++) {
            float g = a->in2[c] / n, *dx = a->out0 + c * H * W;
            for (int i = 0; i < H * W; i++)
                dx[i] = g;
        }
        return;
    }
    for (int c = lo; c < hi; c++) {
        const float *dy = a->in2 + c * Ho * Wo;
        float *dx = a->out0 + c * H * W;
        for (int h = Ho * kh; h < H; h++)
            for (int w = 0; w < W; w++)
                dx[h * W + w] = 0.0f;
        for (int oh = 0; oh < Ho; oh++) {
            for (int ow = 0; ow < Wo; ow++) {
                float g = dy[oh * Wo + ow] / n;
                float *win = dx + oh * kh * W + ow * kw;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        win[i * W + j] = g;
            }
            for (int i = 0; i < kh; i++)
                for (int w = Wo * kw; w < W; w++)
                    dx[(oh * kh + i) * W + w] = 0.0f;
        }
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

/* acc + g, one rounding per element: the running sum of a mini-batch's
 * per-sample gradients (samples streamed one at a time). */
static void accumulate_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int lo, hi;
    mm_range(a->n, &lo, &hi);
    for (int i = lo; i < hi; i++)
        a->out0[i] = a->in0[i] + a->in1[i];
}

void ly_relu_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, relu_fw_k, a); }
void ly_relu_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, relu_bw_k, a); }
void ly_avgpool_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, avgpool_fw_k, a); }
void ly_avgpool_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, avgpool_bw_k, a); }
void ly_sgd_step(struct ly_args *a) { pi_cl_team_fork(a->cores, sgd_k, a); }
void ly_accumulate_step(struct ly_args *a) { pi_cl_team_fork(a->cores, accumulate_k, a); }
