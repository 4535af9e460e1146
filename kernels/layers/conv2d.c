/* conv2d.c: 3x3 convolution, padding 1, stride 1 or 2, through im2col + matmul
 * (the mapping of golden.conv2d_*); im2col / col2im are parallel kernels. */
#include "ly_common.h"

/* cols[(c*9 + i*3 + j), oh*Wo + ow] = xpad[c, oh*s + i, ow*s + j]; parallel over the C*9 rows. */
static void im2col_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, lo, hi;
    mm_range(a->C * 9, &lo, &hi);
    for (int r = lo; r < hi; r++) {
        int c = r / 9, i = (r % 9) / 3, j = r % 3;
        const float *x = a->in0 + c * H * W;
        float *dst = a->tmp0 + r * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++) {
            int h = oh * s + i - 1;
            for (int ow = 0; ow < Wo; ow++) {
                int w = ow * s + j - 1;
                dst[oh * Wo + ow] = (h < 0 || h >= H || w < 0 || w >= W) ? 0.0f : x[h * W + w];
            }
        }
    }
}

/* colsT[oh*Wo + ow, c*9 + i*3 + j] (the transpose of im2col); parallel over the Ho*Wo rows. */
static void im2col_t_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Wo = a->Wo, s = a->stride, C9 = a->C * 9, lo, hi;
    mm_range(a->Ho * Wo, &lo, &hi);
    for (int p = lo; p < hi; p++) {
        int oh = p / Wo, ow = p % Wo;
        float *dst = a->tmp0 + p * C9;
        for (int r = 0; r < C9; r++) {
            int c = r / 9, h = oh * s + (r % 9) / 3 - 1, w = ow * s + r % 3 - 1;
            dst[r] = (h < 0 || h >= H || w < 0 || w >= W) ? 0.0f : a->in0[(c * H + h) * W + w];
        }
    }
}

/* dx[c,h,w] = sum over taps (i, j increasing) landing on (h, w) of cols[c*9+i*3+j, oh*Wo+ow]
 * (cols in tmp1); a gather in the order of golden.col2im, parallel over channels. */
static void col2im_k(void *args)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, sh = a->stride - 1, lo, hi;
    mm_range(a->C, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        const float *cols = a->tmp1 + c * 9 * Ho * Wo;
        float *dx = a->out0 + c * H * W;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                dx[h * W + w] = ly_col2im_at(0, cols, Ho * Wo, h, w, Ho, Wo, sh);
    }
}

/* y (K x HoWo) = W (K x C*9) @ im2col(x) (C*9 x HoWo). */
void ly_conv2d_fw(struct ly_args *a)
{
    pi_cl_team_fork(a->cores, im2col_k, a);
    ly_matmul(a->cores, a->in1, a->tmp0, a->out0, a->K, a->Ho * a->Wo, a->C * 9);
}

/* dW (K x C*9) = dy (K x HoWo) @ im2col(x)^T (HoWo x C*9). */
void ly_conv2d_wg(struct ly_args *a)
{
    pi_cl_team_fork(a->cores, im2col_t_k, a);
    ly_matmul(a->cores, a->in2, a->tmp0, a->out0, a->K, a->C * 9, a->Ho * a->Wo);
}

/* cols (C*9 x HoWo) = W^T (C*9 x K) @ dy (K x HoWo), then dx = col2im(cols). */
void ly_conv2d_ig(struct ly_args *a)
{
    ly_transpose_team(a->cores, a->in1, a->tmp0, a->K, a->C * 9);
    ly_matmul(a->cores, a->tmp0, a->in2, a->tmp1, a->C * 9, a->Ho * a->Wo, a->K);
    pi_cl_team_fork(a->cores, col2im_k, a);
}
