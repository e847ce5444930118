/* rnnkit's compiled training loops for the vanilla RNN (RNNTanhKernel, RNNReLUKernel), and the weight
 * gradients every cell family's kernel accumulates after its loop. Shared parts and padding: train.h. */
#include "train.h"

/* Forward loop: G (T, H, B) the input projections, z = xp + W_h a<t-1> left in it; S (T + 1, H, B) the states
 * (as for the LSTM): a<t> = tanh(z), or max(z, 0) with relu. len, M: padding (train.h), or NULL. */
void rnnkit_rnn_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, const int *len, float *M, int T,
                        int H, int B, int reverse, int relu, int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * n, *a = S + after * n;
        int cols;
        const float *m = step_mask(len, t, H, B, M, &cols);
        gemm(f, 0, 0, H, cols, H, W_h, ldw, S + before * n, B, 1.0f, g, B);
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            if (relu) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) a[i] = g[i] > 0.0f ? g[i] : 0.0f;
            } else {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) a[i] = tanh_v(g[i]);
            }
            if (m)
                hold_ended(m, S + before * n, a, lo, hi);
        }
    }
}

/* Reverse loop: dz = da g'(z) with g'(z) = 1 − a<t>² (tanh) or [a<t> > 0] (relu), read from A (T, H, B) the
 * state each step wrote; d a<t-1> = W_hᵀ dz. d_out, da, da_0, work (H·B) as for the GRU (train_gru.c); len, M:
 * padding (then d_out is given), or NULL. */
void rnnkit_rnn_backward(sgemm_fn f, const float *W_h, int ldw, const float *A, float *dZ, float *d_out, float *da,
                         float *da_0, float *work, const int *len, float *M, int T, int H, int B, int reverse, int relu,
                         int threads) {
    const size_t n = (size_t)H * B;
    float *spare = work, *cur = da;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, da_0);
        int cols;
        const float *d = r.d, *a = A + (size_t)r.t * n, *m = step_mask(len, r.t, H, B, M, &cols);
        float *dz = dZ + (size_t)r.t * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++)
                dz[i] = relu ? (a[i] > 0.0f ? d[i] : 0.0f) : d[i] * (1.0f - a[i] * a[i]);
            if (m) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++)
                    dz[i] = m[i] != 0.0f ? dz[i] : 0.0f;
            }
        }
        gemm(f, 1, 0, H, cols, H, W_h, ldw, dz, B, r.add ? 1.0f : 0.0f, r.out, B);
        if (m)
            pass_ended(m, d, r.out, n, !r.add);
    }
}

/* out (n, m) = Σ_t dZ_t inp_tᵀ (Kernel.weight_grad): dZ_t (n, B) at dZ + t·dz_t with row stride ldz; inp_t
 * (m, B) at inp + t·in_t, stored with contiguous rows (rows = 1: row stride ld, a state (T, m, B)) or
 * contiguous columns (rows = 0: column stride ld, an input (T, B, m) read transposed). One GEMM per step,
 * the first writing out. */
void rnnkit_weight_grad(sgemm_fn f, const float *dZ, long dz_t, int ldz, const float *inp, long in_t, int rows,
                        int ld, float *out, int T, int n, int m, int B) {
    for (int t = 0; t < T; t++)
        gemm(f, 0, rows, n, m, B, dZ + t * dz_t, ldz, inp + t * in_t, ld, t == 0 ? 0.0f : 1.0f, out, m);
}
