/*
 * layers.h: FP32 training layer kernels for the PULP cluster (pulpsim).
 *
 * One entry per (layer, step): void ly_<layer>_<step>(struct ly_args *a).
 * Each entry runs on core 0 (outside any fork) and forks its parallel
 * sub-kernels with pi_cl_team_fork(a->cores, ...); the matmul-shaped steps
 * reuse the kernels of kernels/matmul/ (mm_4x4, mm_naive_n).
 * Layouts are those of pulpsim/workloads/golden.py: CHW activations, linear W[out,in],
 * pointwise W[K,C], depthwise W[C,3,3], conv2d W[K,C,3,3], padding 1.
 *
 * Buffers (float32, contiguous) of struct ly_args, per step:
 *   linear    fw: in0=x[C] in1=W[K,C]            -> out0=y[K]
 *             wg: in0=x[C] in2=dy[K]             -> out0=dW[K,C]
 *             ig: in1=W[K,C] in2=dy[K]           -> out0=dx[C]
 *   bias      fw: in0=y[K,HW] in1=b[K]          -> out0=y+b     (HW = H*W, 1 for vectors)
 *             wg: in2=dy[K,HW]                   -> out0=db[K]
 *   pointwise fw: in0=x[C,HW] in1=W[K,C]         -> out0=y[K,HW]
 *             wg: in0=x in2=dy[K,HW]             -> out0=dW[K,C]      tmp0: x^T [HW,C]
 *             ig: in1=W in2=dy                   -> out0=dx[C,HW]     tmp0: W^T [C,K]
 *   depthwise fw: in0=x[C,H,W] in1=W[C,3,3]      -> out0=y[C,Ho,Wo]
 *             wg: in0=x in2=dy[C,Ho,Wo]          -> out0=dW[C,3,3]
 *             ig: in1=W in2=dy                   -> out0=dx[C,H,W]
 *   conv2d    fw: in0=x in1=W[K,C,3,3]           -> out0=y[K,Ho,Wo]   tmp0: im2col [C*9,HoWo]
 *             wg: in0=x in2=dy[K,Ho,Wo]          -> out0=dW           tmp0: im2col^T [HoWo,C*9]
 *             ig: in1=W in2=dy                   -> out0=dx[C,H,W]    tmp0: W^T [C*9,K], tmp1: cols [C*9,HoWo]
 *   relu      fw: in0=x[n]                       -> out0=y[n]
 *             bw: in0=x[n] in2=dy[n]             -> out0=dx[n]
 *   avgpool   fw: in0=x[C,H,W]                   -> out0=y[C,Ho,Wo]    windows k x k, stride k
 *                                                    (k = stride; 0: one global H x W window, Ho = Wo = 1)
 *             bw: in2=dy[C,Ho,Wo]                -> out0=dx[C,H,W]    (0 where no window covers)
 *   softmax_ce fw: in0=z[n], label               -> out0=p[n], out1=loss[1]   tmp0: per-core partials
 *             bw: in0=z[n], label, K             -> out0=dz[n]                tmp0: per-core partials
 *                                                    (dz = (p - onehot) / K when K > 1: a mini-batch mean)
 *   sgd     step: in0=w[n] in1=g[n] in3=v[n]     -> out0=w'[n] out1=v'[n]
 *   accumulate step: in0=acc[n] in1=g[n]         -> out0=acc+g[n]
 */
#ifndef PULPSIM_LAYERS_H
#define PULPSIM_LAYERS_H

#ifdef __cplusplus
extern "C" {
#endif

struct ly_args {
    const float *in0, *in1, *in2, *in3;
    float *out0, *out1, *tmp0, *tmp1;
    int C, H, W, K, Ho, Wo, stride, n, label, cores;
    float lr, momentum, wd;
};

void ly_linear_fw(struct ly_args *a);
void ly_linear_wg(struct ly_args *a);
void ly_linear_ig(struct ly_args *a);
void ly_bias_fw(struct ly_args *a);
void ly_bias_wg(struct ly_args *a);
void ly_pointwise_fw(struct ly_args *a);
void ly_pointwise_wg(struct ly_args *a);
void ly_pointwise_ig(struct ly_args *a);
void ly_depthwise_fw(struct ly_args *a);
void ly_depthwise_wg(struct ly_args *a);
void ly_depthwise_ig(struct ly_args *a);
void ly_conv2d_fw(struct ly_args *a);
void ly_conv2d_wg(struct ly_args *a);
void ly_conv2d_ig(struct ly_args *a);
void ly_relu_fw(struct ly_args *a);
void ly_relu_bw(struct ly_args *a);
void ly_avgpool_fw(struct ly_args *a);
void ly_avgpool_bw(struct ly_args *a);
void ly_softmax_ce_fw(struct ly_args *a);
void ly_softmax_ce_bw(struct ly_args *a);
void ly_sgd_step(struct ly_args *a);
void ly_accumulate_step(struct ly_args *a);

/* Helpers (exposed for tests): a parallel transpose dst[cols][rows] = src[rows][cols]
 * (a fork entry on struct ly_tr_args), and the guest's expf/logf. */
struct ly_tr_args { const float *src; float *dst; int rows, cols; };
void ly_transpose(void *args);
float ly_expf(float x);
float ly_logf(float x);

#ifdef __cplusplus
}
#endif

#endif /* PULPSIM_LAYERS_H */
