/* softmax.c: softmax + cross-entropy loss (fw) and its gradient softmax - onehot (bw),
 * with the guest's own expf / logf (the guest is linked without libm). */
#include "ly_common.h"

typedef union { float f; unsigned int u; } ly_fbits;

/* expf: x = k*ln2 + r, |r| <= ln2/2, e^r by a degree-7 Taylor polynomial, times 2^k.
 * Within about 2 ulp of the correctly rounded result on [-87, 88]. */
float ly_expf(float x)
{
    if (x != x)
        return x;
    if (x > 88.72283f)
        return __builtin_inff();
    if (x < -103.97208f)
        return 0.0f;
    float t = x * 1.44269504f;
    int k = (int)(t + (t >= 0.0f ? 0.5f : -0.5f));
    float fk = (float)k;
    float r = x - fk * 0.693145751953125f;     /* ln2 high part: fk * hi is exact */
    LY_ROUND(r);
    r = r - fk * 1.42860677e-06f;               /* ln2 low part */
    LY_ROUND(r);
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    ly_fbits s;
    if (k < -125) {         /* subnormal result: scale in two steps */
        s.u = (unsigned int)(k + 64 + 127) << 23;
        return p * s.f * 5.42101086e-20f;   /* 2^-64 */
    }
    s.u = (unsigned int)(k + 127) << 23;
    return p * s.f;
}

/* logf for normal x > 0: x = m * 2^e, m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), by its series to s^9. */
float ly_logf(float x)
{
    if (!(x > 0.0f))
        return x == 0.0f ? -__builtin_inff() : (x - x) / (x - x);
    if (x == __builtin_inff())
        return x;
    ly_fbits b;
    b.f = x;
    int e = (int)((b.u >> 23) & 0xff) - 127;
    b.u = (b.u & 0x7fffff) | 0x3f800000u;
    float m = b.f;
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e++;
    }
    float f = m - 1.0f;
    float s = f / (m + 1.0f);
    float s2 = s * s;
    float q = 1.0f / 9.0f;
    q = q * s2 + 1.0f / 7.0f;
    q = q * s2 + 1.0f / 5.0f;
    q = q * s2 + 1.0f / 3.0f;
    float lm = f - s * (f - 2.0f * s2 * q);   /* 2s(1 + s2 q) = f - s*(f - 2 s s2 q) since 2s = f - s f */
    float fe = (float)e;
    return fe * 0.693145751953125f + (lm + fe * 1.42860677e-06f);
}

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
        p[i] = q;
    }
    if (!grad && id == 0)
        a->out1[0] = ly_logf(sum) - (z[a->label] - mx);
}

static void softmax_fw_k(void *args) { softmax_k(args, 0); }
static void softmax_bw_k(void *args) { softmax_k(args, 1); }

void ly_softmax_ce_fw(struct ly_args *a) { pi_cl_team_fork(a->cores, softmax_fw_k, a); }
void ly_softmax_ce_bw(struct ly_args *a) { pi_cl_team_fork(a->cores, softmax_bw_k, a); }
