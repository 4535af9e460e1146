/* A dot product of two vectors held in L2, every core loading its share directly from L2 (no DMA):
 * the program whose time grows with l2.latency.  Exits 1 if the sum is wrong. */
#include "pmsis.h"

#define N 2048

float a[N], b[N];                 /* not PI_L1: in L2 */
PI_L1 float partial[16];

static void dot(void *arg)
{
    int id = pi_core_id(), n = pi_cl_team_nb_cores();
    float s = 0.0f;
    for (int i = id; i < N; i += n)
        s += a[i] * b[i];
    partial[id] = s;
    pi_cl_team_barrier();
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        a[i] = (float)(i & 7);
        b[i] = 0.25f;
    }
    pi_cl_team_fork(0, dot, 0);
    float sum = 0.0f;
    for (int c = 0; c < pi_cl_cluster_nb_cores(); c++)
        sum += partial[c];
    /* every term and partial sum is a multiple of 0.25 below 2^20: exact in float */
    return sum == (float)(N / 8 * 28) * 0.25f ? 0 : 1;
}
