/* softmax.c: softmax + cross-entropy loss (fw) and its gradient softmax - onehot (bw),
 * with the runtime's expf / logf.  The gradient is divided by K when K > 1: the
 * mean loss of a mini-batch of K samples streamed one at a time. */
#include "ly_common.h"
#include "pulpsim_math.h"

/* The runtime's expf / logf (kernels/runtime/pulpsim_math.h), under the layer
 * library's names so that the host build of this file uses the same code. */
float ly_expf(float x) { return ps_expf(x); }
float ly_logf(float x) { return ps_logf(x); }

static void softmax_k(void *args, int grad)
{
    const struct ly_args *a = (const struct ly_args *)args;
    int n = a->n, nc = pi_cl_team_nb_cores(), id = pi_core_id(), lo, hi;
    const float *z = a->in0;
    float *p = a->out0;
    mm_range(n, &lo, &hi);
    /* 1. per-core maxima, combined by every core (max is order independent). */
    float mx = -__builtin_inff();
    for (int i = lo; i < hi; i++)
        if (z[i] > mx)
            mx = z[i];
    a->tmp0[id] = mx;
    pi_cl_team_barrier();
    mx = a->tmp0[0];
    for (int c = 1; c < nc; c++)
        if (a->tmp0[c] > mx)
            mx = a->tmp0[c];
    /* 2. e[i] = exp(z[i] - max) into p. */
    for (int i = lo; i < hi; i++)
        p[i] = ly_expf(z[i] - mx);
    pi_cl_team_barrier();
    /* 3. every core sums all of e in increasing i (the same result for any team size). */
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += p[i];
    pi_cl_team_barrier();
    for (int i = lo; i < hi; i++) {
        float q = p[i] / sum;
        if (grad && i == a->label)
            q = q - 1.0f;
        if (grad && a->K > 1)
            q = q / (float)a->K;
        p[i] = q;
    }
    if (!grad && id == 0)
        a->out1[0] = ly_logf(sum) - (z[a->label] - mx);
}

static void softmax_fw_k(void *args) { softmax_k(args, 0); }
static void softmax_bw_k(void *args) { softmax_k(args, 1); }

void ly_softmax_ce_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, softmax_fw_k, a); }
void ly_softmax_ce_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, softmax_bw_k, a); }
