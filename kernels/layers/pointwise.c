/* pointwise.c: 1x1 convolution on CHW maps viewed as C x HW matrices. */
#include "ly_common.h"

/* y (K x HW) = W (K x C) @ x (C x HW). */
void ly_pointwise_fw(struct ly_args *a)
{
    ly_matmul(a->cores, a->in1, a->in0, a->out0, a->K, a->H * a->W, a->C);
}

/* dW (K x C) = dy (K x HW) @ x^T (HW x C); x^T built in tmp0. */
void ly_pointwise_wg(struct ly_args *a)
{
    int hw = a->H * a->W;
    ly_transpose_team(a->cores, a->in0, a->tmp0, a->C, hw);
    ly_matmul(a->cores, a->in2, a->tmp0, a->out0, a->K, a->C, hw);
}

/* dx (C x HW) = W^T (C x K) @ dy (K x HW); W^T built in tmp0. */
void ly_pointwise_ig(struct ly_args *a)
{
    ly_transpose_team(a->cores, a->in1, a->tmp0, a->K, a->C);
    ly_matmul(a->cores, a->tmp0, a->in2, a->out0, a->C, a->H * a->W, a->K);
}
