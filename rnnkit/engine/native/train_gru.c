/* rnnkit's compiled training loops for the GRU family, state c (H, B): the GRU with the reset before the
 * matmul (GRUKernel, layout (r, u, c~)), with the reset after it (GRUResetAfterKernel, torch's form, same
 * layout) and the simplified GRU (SimpleGRUKernel, layout (u, c~)). Shared parts and padding: train.h.
 *
 * Padding in reverse: where a step does not exist (M 0) its gate gradients are 0, so every GEMM of the step
 * adds nothing there, and the state's gradient passes through whole ("through" below is then dc itself). */
#include "train.h"

/* ---- GRU, reset before the matmul (GRUKernel): layout (r, u, c~) ------------------------------------------ */

/* Forward loop of one direction of one layer. G (T, 3H, B): the input projections in, [Γr; Γu; c~] out;
 * S (T + 1, H, B) the states at the step boundaries (as for the LSTM); RC (T, H, B) gets Γr * c<t-1>.
 *   [Γr; Γu] = σ(xp_ru + W_ru c<t-1>),  c~ = tanh(xp_c + W_cc (Γr * c<t-1>)),  c<t> = c<t-1> + Γu (c~ − c<t-1>)
 * W_h (3H, H) = [W_ru; W_cc] with row stride ldw. len, M: padding (train.h), or NULL. */
void rnnkit_gru_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, float *RC, const int *len,
                        float *M, int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 3 * n, *rc = RC + (size_t)t * n;
        int cols;
        const float *c_prev = S + before * n, *m = step_mask(len, t, H, B, M, &cols);
        float *c_new = S + after * n;
        gemm(f, 0, 0, 2 * H, cols, H, W_h, ldw, c_prev, B, 1.0f, g, B);          /* z_ru = xp_ru + W_ru c<t-1> */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            float *restrict gr = g, *restrict gu = g + n;
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float r = sigmoid_v(gr[i]);
                gr[i] = r, gu[i] = sigmoid_v(gu[i]), rc[i] = r * c_prev[i];
            }
        }
        gemm(f, 0, 0, H, cols, H, W_cc, ldw, rc, B, 1.0f, g + 2 * n, B);       /* z_c = xp_c + W_cc (Γr c<t-1>) */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            const float *restrict gu = g + n;
            float *restrict gc = g + 2 * n;
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float c_tilde = tanh_v(gc[i]);
                gc[i] = c_tilde, c_new[i] = c_prev[i] + gu[i] * (c_tilde - c_prev[i]);
            }
            if (m)
                hold_ended(m, c_prev, c_new, lo, hi);
        }
    }
}

/* Reverse loop (GRUKernel.back for every step, with the factors of GRUKernel.start_backward computed here).
 * G (T, 3H, B) the activations [Γr; Γu; c~]; C_prev (T, H, B) the state each step read; dZ (T, 3H, B) gets
 * the pre-activations' gradients. d_out, d_c_0 as for the LSTM (dc: the last state's gradient when d_out is
 * NULL, overwritten); work holds 2·H·B values; len, M: padding (then d_out is given), or NULL. Per step,
 * with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  d(Γr c<t-1>) = W_ccᵀ dz_c,
 *   dz_r = d(Γr c<t-1>) c<t-1> Γr (1 − Γr),
 *   dc<t-1> = dc (1 − Γu) + d(Γr c<t-1>) Γr + W_ruᵀ [dz_r; dz_u]   (added to what c<t-1> got from above) */
void rnnkit_gru_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev, float *dZ,
                         float *d_out, float *dc, float *d_c_0, float *work, const int *len, float *M, int T, int H,
                         int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    float *d_rc = work, *spare = work + n, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int t = r.t, add = r.add;
        int cols;
        const float *d = r.d, *m = step_mask(len, t, H, B, M, &cols);
        float *out = r.out;
        const float *g = G + (size_t)t * 3 * n, *c_prev = C_prev + (size_t)t * n;
        float *dz = dZ + (size_t)t * 3 * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            if (!m) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) {
                    float u = g[n + i], ct = g[2 * n + i];
                    dz[n + i] = d[i] * u * (1.0f - u) * (ct - c_prev[i]);
                    dz[2 * n + i] = d[i] * u * (1.0f - ct * ct);
                    float through = d[i] * (1.0f - u);              /* dc (1 − Γu) */
                    out[i] = add ? out[i] + through : through;
                }
            } else {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) {
                    float u = g[n + i], ct = g[2 * n + i];
                    int live = m[i] != 0.0f;
                    dz[n + i] = live ? d[i] * u * (1.0f - u) * (ct - c_prev[i]) : 0.0f;
                    dz[2 * n + i] = live ? d[i] * u * (1.0f - ct * ct) : 0.0f;
                    float through = live ? d[i] * (1.0f - u) : d[i];
                    out[i] = add ? out[i] + through : through;
                }
            }
        }
        gemm(f, 1, 0, H, cols, H, W_cc, ldw, dz + 2 * n, B, 0.0f, d_rc, B);     /* d(Γr c<t-1>) = W_ccᵀ dz_c */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            if (!m) {
#pragma omp simd
                for (size_t i = lo; i < hi; i++) {
                    float r = g[i];
                    dz[i] = d_rc[i] * c_prev[i] * r * (1.0f - r);
                    out[i] += d_rc[i] * r;
                }
            } else {                                    /* d_rc is not computed past the live columns */
#pragma omp simd
                for (size_t i = lo; i < hi; i++) {
                    float r = g[i];
                    int live = m[i] != 0.0f;
                    dz[i] = live ? d_rc[i] * c_prev[i] * r * (1.0f - r) : 0.0f;
                    out[i] += live ? d_rc[i] * r : 0.0f;
                }
            }
        }
        gemm(f, 1, 0, H, cols, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);           /* + W_ruᵀ [dz_r; dz_u] */
    }
}

/* ---- GRU, reset after the matmul (GRUResetAfterKernel, torch's form): layout (r, u, c~) ------------------- */

/* Forward loop: G (T, 3H, B) projections in, [Γr; Γu; c~] out; S (T + 1, H, B) the states; N (T, H, B) gets
 * n = W_cc c<t-1> + b_cc (b_cc (H) or NULL); len, M: padding, or NULL:
 *   [Γr; Γu] = σ(xp_ru + W_ru c<t-1>),  c~ = tanh(xp_c + Γr n),  c<t> = c<t-1> + Γu (c~ − c<t-1>) */
void rnnkit_gru_after_forward(sgemm_fn f, const float *W_h, int ldw, const float *b_cc, float *G, float *S, float *N,
                              const int *len, float *M, int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 3 * n, *nt = N + (size_t)t * n, *c_new = S + after * n;
        int cols;
        const float *c_prev = S + before * n, *m = step_mask(len, t, H, B, M, &cols);
        gemm(f, 0, 0, 2 * H, cols, H, W_h, ldw, c_prev, B, 1.0f, g, B);          /* z_ru = xp_ru + W_ru c<t-1> */
        gemm(f, 0, 0, H, cols, H, W_cc, ldw, c_prev, B, 0.0f, nt, B);            /* W_cc c<t-1> */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            float *restrict gr = g, *restrict gu = g + n, *restrict gc = g + 2 * n;
            if (b_cc)
                for (size_t i = lo; i < hi; i++) nt[i] += b_cc[i / B];
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float r = sigmoid_v(gr[i]), u = sigmoid_v(gu[i]), c_tilde = tanh_v(gc[i] + r * nt[i]);
                gr[i] = r, gu[i] = u, gc[i] = c_tilde, c_new[i] = c_prev[i] + u * (c_tilde - c_prev[i]);
            }
            if (m)
                hold_ended(m, c_prev, c_new, lo, hi);
        }
    }
}

/* Reverse loop, with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  dz_r = dz_c n Γr (1 − Γr),  dn = dz_c Γr,
 *   dc<t-1> = dc (1 − Γu) + W_ruᵀ [dz_r; dz_u] + W_ccᵀ dn
 * dN (T, H, B) gets dn (for W_cc's and b_cc's gradients after the loop); the rest as for the other GRU. */
void rnnkit_gru_after_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev,
                               const float *N, float *dZ, float *dN, float *d_out, float *dc, float *d_c_0, float *work,
                               const int *len, float *M, int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    float *spare = work, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int t = r.t, add = r.add;
        int cols;
        const float *d = r.d, *m = step_mask(len, t, H, B, M, &cols);
        float *out = r.out;
        const float *g = G + (size_t)t * 3 * n, *c_prev = C_prev + (size_t)t * n, *nt = N + (size_t)t * n;
        float *dz = dZ + (size_t)t * 3 * n, *dn = dN + (size_t)t * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float r = g[i], u = g[n + i], ct = g[2 * n + i];
                /* past the live columns n<t> was not computed: every product with it is selected away */
                const int live = !m || m[i] != 0.0f;
                float dz_c = live ? d[i] * u * (1.0f - ct * ct) : 0.0f;
                dz[i] = live ? dz_c * nt[i] * r * (1.0f - r) : 0.0f;
                dz[n + i] = live ? d[i] * u * (1.0f - u) * (ct - c_prev[i]) : 0.0f;
                dz[2 * n + i] = dz_c;
                dn[i] = live ? dz_c * r : 0.0f;
                float through = live ? d[i] * (1.0f - u) : d[i];
                out[i] = add ? out[i] + through : through;
            }
        }
        gemm(f, 1, 0, H, cols, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);           /* + W_ruᵀ [dz_r; dz_u] */
        gemm(f, 1, 0, H, cols, H, W_cc, ldw, dn, B, 1.0f, out, B);              /* + W_ccᵀ dn */
    }
}

/* ---- simplified GRU (SimpleGRUKernel): layout (u, c~) ---------------------------------------------------- */

/* Forward, G (T, 2H, B) projections in, [Γu; c~] out; S (T + 1, H, B); len, M: padding, or NULL:
 *   Γu = σ(z_u),  c~ = tanh(z_c),  c<t> = c<t-1> + Γu (c~ − c<t-1>) */
void rnnkit_simple_gru_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, const int *len, float *M,
                               int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 2 * n, *c_new = S + after * n;
        int cols;
        const float *c_prev = S + before * n, *m = step_mask(len, t, H, B, M, &cols);
        gemm(f, 0, 0, 2 * H, cols, H, W_h, ldw, c_prev, B, 1.0f, g, B);
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            float *restrict gu = g, *restrict gc = g + n;
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float u = sigmoid_v(gu[i]), c_tilde = tanh_v(gc[i]);
                gu[i] = u, gc[i] = c_tilde, c_new[i] = c_prev[i] + u * (c_tilde - c_prev[i]);
            }
            if (m)
                hold_ended(m, c_prev, c_new, lo, hi);
        }
    }
}

/* Simplified GRU in reverse, with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  dc<t-1> = dc (1 − Γu) + W_hᵀ dz */
void rnnkit_simple_gru_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev,
                                float *dZ, float *d_out, float *dc, float *d_c_0, float *work, const int *len, float *M,
                                int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    float *spare = work, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int add = r.add;
        int cols;
        const float *d = r.d, *m = step_mask(len, r.t, H, B, M, &cols);
        float *out = r.out;
        const float *g = G + (size_t)r.t * 2 * n, *c_prev = C_prev + (size_t)r.t * n;
        float *dz = dZ + (size_t)r.t * 2 * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float u = g[i], ct = g[n + i];
                const int live = !m || m[i] != 0.0f;
                dz[i] = live ? d[i] * u * (1.0f - u) * (ct - c_prev[i]) : 0.0f;
                dz[n + i] = live ? d[i] * u * (1.0f - ct * ct) : 0.0f;
                float through = live ? d[i] * (1.0f - u) : d[i];
                out[i] = add ? out[i] + through : through;
            }
        }
        gemm(f, 1, 0, H, cols, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);
    }
}
