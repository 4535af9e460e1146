/* depthwise.c: depthwise 3x3 convolution, padding 1, stride 1 or 2; direct
 * loops, parallel over channels.  Padding taps are skipped (they add 0). */
#include "ly_common.h"

/* y[c,oh,ow] = sum_{i,j} W[c,i,j] * x[c, oh*s+i-1, ow*s+j-1], (i, j) increasing.
 * Outputs whose window lies inside x take an unrolled path without bound
 * checks (same order, so the same result as the checked loop). */
static void dw_fw_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * H * W, *w = a->in1 + c * 9;
        float *y = a->out0 + c * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++) {
            int h0 = oh * s - 1, row_in = h0 >= 0 && h0 + 2 < H;
            for (int ow = 0; ow < Wo; ow++) {
                int w0 = ow * s - 1;
                float acc = 0.0f;
                if (row_in && w0 >= 0 && w0 + 2 < W) {
                    const float *p = x + h0 * W + w0;
                    acc += w[0] * p[0];
                    acc += w[1] * p[1];
                    acc += w[2] * p[2];
                    acc += w[3] * p[W];
                    acc += w[4] * p[W + 1];
                    acc += w[5] * p[W + 2];
                    acc += w[6] * p[2 * W];
                    acc += w[7] * p[2 * W + 1];
                    acc += w[8] * p[2 * W + 2];
                } else {
                    for (int i = 0; i < 3; i++) {
                        int h = h0 + i;
                        if (h < 0 || h >= H)
                            continue;
                        for (int j = 0; j < 3; j++) {
                            int ww = w0 + j;
                            if (ww < 0 || ww >= W)
                                continue;
                            acc += w[i * 3 + j] * x[h * W + ww];
                        }
                    }
                }
                y[oh * Wo + ow] = acc;
            }
        }
    }
}

/* [*lo, *hi): the outputs o < n whose tap o*s + t - 1 lies in [0, size). */
static inline void dw_tap_range(int t, int s, int size, int n, int *lo, int *hi)
{
    int l = 0, h = n;
    while (l < h && l * s + t - 1 < 0)
        l++;
    while (h > l && (h - 1) * s + t - 1 >= size)
        h--;
    *lo = l;
    *hi = h;
}

/* dW[c,i,j] = sum_{oh,ow} dy[c,oh,ow] * x[c, oh*s+i-1, ow*s+j-1], (oh, ow) increasing
 * over the outputs whose tap lies inside x (the others add 0). */
static void dw_wg_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *x = a->in0 + c * H * W, *dy = a->in2 + c * Ho * Wo;
        for (int i = 0; i < 3; i++) {
            int oh0, oh1;
            dw_tap_range(i, s, H, Ho, &oh0, &oh1);
            for (int j = 0; j < 3; j++) {
                int ow0, ow1;
                dw_tap_range(j, s, W, Wo, &ow0, &ow1);
                float acc = 0.0f;
                for (int oh = oh0; oh < oh1; oh++) {
                    const float *d = dy + oh * Wo, *xr = x + (oh * s + i - 1) * W + j - 1;
                    for (int ow = ow0; ow < ow1; ow++)
                        acc += d[ow] * xr[ow * s];
                }
                a->out0[c * 9 + i * 3 + j] = acc;
            }
        }
    }
}

/* dx[c,h,w] = sum over taps (i, j increasing) with oh*s+i-1 == h, ow*s+j-1 == w
 * of W[c,i,j] * dy[c,oh,ow] (a gather: the order of golden.col2im). */
static void dw_ig_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, sh = a->stride - 1, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *w = a->in1 + c * 9, *dy = a->in2 + c * Ho * Wo;
        float *dx = a->out0 + c * H * W;
        for (int h = 0; h < H; h++) {
            int row_in = sh == 0 && h >= 1 && h + 1 < Ho;
            for (int ww = 0; ww < W; ww++) {
                if (row_in && ww >= 1 && ww + 1 < Wo) {
                    /* stride 1, all nine taps inside dy: unrolled, same order */
                    const float *p = dy + (h + 1) * Wo + ww + 1;
                    float acc = 0.0f;
                    acc += w[0] * p[0];
                    acc += w[1] * p[-1];
                    acc += w[2] * p[-2];
                    acc += w[3] * p[-Wo];
                    acc += w[4] * p[-Wo - 1];
                    acc += w[5] * p[-Wo - 2];
                    acc += w[6] * p[-2 * Wo];
                    acc += w[7] * p[-2 * Wo - 1];
                    acc += w[8] * p[-2 * Wo - 2];
                    dx[h * W + ww] = acc;
                } else {
                    dx[h * W + ww] = ly_col2im_at(w, dy, 0, h, ww, Ho, Wo, sh);
                }
            }
        }
    }
}

void ly_depthwise_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_fw_k, a); }
void ly_depthwise_wg(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_wg_k, a); }
void ly_depthwise_ig(struct ly_args *a) { pi_cl_team_fork(a->cores, dw_ig_k, a); }
