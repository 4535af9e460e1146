/* depthwise.c: depthwise 3x3 convolution, padding 1, stride 1 or 2; direct
 * loops, parallel over channels.  Padding taps are skipped (they add 0). */
#include "ly_common.h"

/* y[c,oh,ow] = sum_{i,j} W[c,i,j] * x[c, oh*s+i-1, ow*s+j-1], (i, j) increasing. */
static void dw_fw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * H * W, *w = a->in1 + c * 9;
        float *y = a->out0 + c * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float acc = 0.0f;
                for (int i = 0; i < 3; i++) {
                    int h = oh * s + i - 1;
                    if (h < 0 || h >= H)
                        continue;
                    for (int j = 0; j < 3; j++) {
                        int ww = ow * s + j - 1;
                        if (ww < 0 || ww >= W)
                            continue;
                        acc += w[i * 3 + j] * x[h * W + ww];
                    }
                }
                y[oh * Wo + ow] = acc;
            }
    }
}

/* dW[c,i,j] = sum_{oh,ow} dy[c,oh,ow] * x[c, oh*s+i-1, ow*s+j-1], (oh, ow) increasing. */
static void dw_wg_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * H * W, *dy = a->in2 + c * Ho * Wo;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                float acc = 0.0f;
                for (int oh = 0; oh < Ho; oh++) {
                    int h = oh * s + i - 1;
                    if (h < 0 || h >= H)
                        continue;
                    for (int ow = 0; ow < Wo; ow++) {
                        int ww = ow * s + j - 1;
                        if (ww < 0 || ww >= W)
                            continue;
                        acc += dy[oh * Wo + ow] * x[h * W + ww];
                    }
                }
                a->out0[c * 9 + i * 3 + j] = acc;
            }
    }
}

/* dx[c,h,w] = sum over taps (i, j increasing) with oh*s+i-1 == h, ow*s+j-1 == w
 * of W[c,i,j] * dy[c,oh,ow] (a gather: the order of golden.col2im). */
static void dw_ig_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *w = a->in1 + c * 9, *dy = a->in2 + c * Ho * Wo;
        float *dx = a->out0 + c * H * W;
        for (int h = 0; h < H; h++)
            for (int ww = 0; ww < W; ww++) {
                float acc = 0.0f;
                for (int i = 0; i < 3; i++) {
                    int t = h + 1 - i, oh = t / s;
                    if (t < 0 || t % s || oh >= Ho)
                        continue;
                    for (int j = 0; j < 3; j++) {
                        int u = ww + 1 - j, ow = u / s;
                        if (u < 0 || u % s || ow >= Wo)
                            continue;
                        acc += w[i * 3 + j] * dy[oh * Wo + ow];
                    }
                }
                dx[h * W + ww] = acc;
            }
    }
}

void ly_depthwise_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_fw_k, a); }
void ly_depthwise_wg(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_wg_k, a); }
void ly_depthwise_ig(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_ig_k, a); }
