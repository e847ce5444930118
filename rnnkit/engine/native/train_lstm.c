/* rnnkit's compiled training loops for the LSTM, plain and with peepholes (LSTMKernel, PeepholeLSTMKernel):
 * layout (u, f, o, c~), states a and c (H, B). Shared parts and padding: train.h. */
#include "train.h"

/* One step's gates after the GEMM, units [lo, hi) of n = H·B: g (4H, B) holds z and gets
 * [Γu; Γf; Γo; c~]; c<t> = Γf c<t-1> + Γu c~; tc = tanh(c<t>); a<t> = Γo tc. P (3, H) or NULL: peepholes,
 * z_g += P_g * c<t-1> on the three sigmoid gates. */
static void lstm_gates(float *restrict g, const float *restrict c_prev, float *restrict c_new,
                       float *restrict tc, float *restrict a_new, const float *restrict P, size_t n, int B,
                       size_t lo, size_t hi) {
    float *gu = g, *gf = g + n, *go = g + 2 * n, *gc = g + 3 * n;
    if (P) {
        size_t H = n / B;
        for (size_t i = lo; i < hi; i++) {
            size_t h = i / B;
            gu[i] += P[h] * c_prev[i];
            gf[i] += P[H + h] * c_prev[i];
            go[i] += P[2 * H + h] * c_prev[i];
        }
    }
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float u = sigmoid_v(gu[i]), f = sigmoid_v(gf[i]), o = sigmoid_v(go[i]), ct = tanh_v(gc[i]);
        float c = f * c_prev[i] + u * ct;
        float t = tanh_v(c);
        gu[i] = u, gf[i] = f, go[i] = o, gc[i] = ct;
        c_new[i] = c, tc[i] = t, a_new[i] = o * t;
    }
}

/* One step in reverse, units [lo, hi) (LSTMKernel.back, with the factors of LSTMKernel.start_backward
 * computed here from the step's activations g = [Γu; Γf; Γo; c~] (4H, B), tc = tanh(c<t>) and c<t-1>):
 *   K_u = c~ Γu (1 − Γu),  K_f = c<t-1> Γf (1 − Γf),  K_o = tc Γo (1 − Γo),  K_c = Γu (1 − c~²),  K_a = Γo (1 − tc²)
 *   dc' = dc + da K_a;  dz_u = dc' K_u,  dz_f = dc' K_f,  dz_o = da K_o,  dz_c = dc' K_c
 *   dc<t-1> = dc' Γf (+ Σ_g P_g dz_g with peepholes), written over dc;  dz (4H, B).
 * M (H, B) or NULL: where M is 0 the step does not exist, so dz = 0 and dc passes unchanged. */
static void lstm_gates_back(const float *restrict da, float *restrict dc, const float *restrict g,
                            const float *restrict tc, const float *restrict c_prev, const float *restrict P,
                            const float *restrict M, float *restrict dz, size_t n, int B, size_t lo, size_t hi) {
    if (!M) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            float u = g[i], f = g[n + i], o = g[2 * n + i], ct = g[3 * n + i], t = tc[i];
            float d = dc[i] + da[i] * o * (1.0f - t * t);
            dz[i] = d * ct * u * (1.0f - u);
            dz[n + i] = d * c_prev[i] * f * (1.0f - f);
            dz[2 * n + i] = da[i] * t * o * (1.0f - o);
            dz[3 * n + i] = d * u * (1.0f - ct * ct);
            dc[i] = d * f;
        }
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            float u = g[i], f = g[n + i], o = g[2 * n + i], ct = g[3 * n + i], t = tc[i];
            float d = dc[i] + da[i] * o * (1.0f - t * t);
            int live = M[i] != 0.0f;
            dz[i] = live ? d * ct * u * (1.0f - u) : 0.0f;
            dz[n + i] = live ? d * c_prev[i] * f * (1.0f - f) : 0.0f;
            dz[2 * n + i] = live ? da[i] * t * o * (1.0f - o) : 0.0f;
            dz[3 * n + i] = live ? d * u * (1.0f - ct * ct) : 0.0f;
            dc[i] = live ? d * f : dc[i];
        }
    }
    if (P) {
        size_t H = n / B;
        for (size_t i = lo; i < hi; i++) {
            size_t h = i / B;
            dc[i] += P[h] * dz[i] + P[H + h] * dz[n + i] + P[2 * H + h] * dz[2 * n + i];
        }
    }
}

/* The forward loop of one direction of one layer. G (T, 4H, B): the input projections W_x x<t> + b,
 * overwritten with the gate activations; S_a, S_c (T + 1, H, B): the states at the step boundaries, entry 0
 * (T when reverse) holding the initial state; TC (T, H, B) gets tanh(c<t>). Step t reads the states at
 * boundary t (t + 1 when reverse) and writes them at t + 1 (t). W_h (4H, H) with row stride ldw. len (B) and
 * M (H·B floats): padding (train.h), or NULL. */
void rnnkit_lstm_forward(sgemm_fn f, const float *W_h, int ldw, const float *P, float *G, float *S_a,
                         float *S_c, float *TC, const int *len, float *M, int T, int H, int B, int reverse,
                         int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 4 * n;
        int cols;
        const float *m = step_mask(len, t, H, B, M, &cols);
        gemm(f, 0, 0, 4 * H, cols, H, W_h, ldw, S_a + before * n, B, 1.0f, g, B);   /* z = xp + W_h a<t-1> */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            lstm_gates(g, S_c + before * n, S_c + after * n, TC + (size_t)t * n, S_a + after * n, P, n, B, lo,
                       hi);
            if (m) {
                hold_ended(m, S_a + before * n, S_a + after * n, lo, hi);
                hold_ended(m, S_c + before * n, S_c + after * n, lo, hi);
            }
        }
    }
}

/* The weight gradients of one step, added (or written, first) into dW_h (4H, H) += dz a<t-1>ᵀ and, unless
 * dW_x is NULL, dW_x (4H, X) += dz x<t> (x<t> (B, X) row-major, as the layer's input (T, B, X) holds it),
 * over the first `cols` sequences (the others have dz = 0: step_cols). */
static void lstm_weight_step(sgemm_fn f, const float *dz, const float *a_prev, const float *x_t, float *dW_h,
                             float *dW_x, int H, int X, int B, int cols, int first) {
    gemm(f, 0, 1, 4 * H, H, cols, dz, B, a_prev, B, first ? 0.0f : 1.0f, dW_h, H);
    if (dW_x)
        gemm(f, 0, 0, 4 * H, X, cols, dz, B, x_t, X, first ? 0.0f : 1.0f, dW_x, X);
}

/* Below this many multiply-adds per step's recurrent GEMM (4H·H·B) the LSTM's backward overlaps its weight
 * gradients with its loop (see rnnkit_lstm_backward); above it each GEMM keeps both cores busy by itself. */
#define OVERLAP_MAX_MACS ((size_t)1 << 24)

/* Step s of the reverse loop: the gates' pass (on `threads` threads), then (s is stored in *finished, when
 * given, as soon as dz is written) d a<t-1> = W_hᵀ dz, and where the step does not exist (padding) d a<t>
 * passes to a<t-1>. */
static void lstm_back_step(sgemm_fn f, const float *W_h, int ldw, const float *P, const float *G, const float *TC,
                           const float *C_prev, float *dZ, float *d_out, float *da, float *dc, float *da_0,
                           const int *len, float *M, int s, int T, int H, int B, int reverse, int threads,
                           int *finished) {
    const size_t n = (size_t)H * B;
    const int t = reverse ? s : T - 1 - s, next = reverse ? t + 1 : t - 1, last = s == T - 1;
    const float *da_t = d_out ? d_out + (size_t)t * n : da;
    float *dz = dZ + (size_t)t * 4 * n;
    int cols;
    const float *m = step_mask(len, t, H, B, M, &cols);
#pragma omp parallel num_threads(threads) if (threads > 1 && n >= ELEMENTWISE_PARALLEL_MIN)
    {
        size_t lo, hi;
        share(n, THREAD_ID, THREADS, &lo, &hi);
        lstm_gates_back(da_t, dc, G + (size_t)t * 4 * n, TC + (size_t)t * n, C_prev + (size_t)t * n, P, m, dz, n,
                        B, lo, hi);
    }
    if (finished)
        __atomic_store_n(finished, s, __ATOMIC_RELEASE);
    /* d a<t-1> = W_hᵀ dz, added to what a<t-1> got from above (or alone) */
    float *acc = last ? da_0 : (d_out ? d_out + (size_t)next * n : da);
    gemm(f, 1, 0, H, cols, 4 * H, W_h, ldw, dz, B, last || !d_out ? 0.0f : 1.0f, acc, B);
    if (m)
        pass_ended(m, da_t, acc, n, last || !d_out);
}

/* The reverse loop (LSTMKernel.back for every step, in the order the forward's steps are undone), and the
 * weight gradients. G (T, 4H, B) the gate activations, TC (T, H, B) tanh(c<t>), A_prev, C_prev (T, H, B)
 * the states each step read; dZ (T, 4H, B) gets the gradients of the pre-activations. d_out (T, H, B): the
 * gradient each output a<t> gets from above (NULL: none), which this loop completes in place with what a<t>
 * gets through the next step; da (H, B) holds the gradient of the last step's a<t> when d_out is NULL (and
 * is then overwritten); dc (H, B): the gradient of the last c<t> in, of the initial c out; da_0 (H, B)
 * gets the initial a's. x (T, B, X) the layer's input: dW_h (4H, H) and dW_x (4H, X) (or NULL) get
 * Σ_t dz a<t-1>ᵀ and Σ_t dz x<t>. len, M: padding (train.h; then d_out is given), or NULL.
 *
 * Small steps (4H·H·B < OVERLAP_MAX_MACS) on two or more threads: the weight gradients run beside the loop.
 * One thread walks the steps (its GEMMs single-threaded), another follows a step behind, accumulating each
 * finished step's dz: a GEMM this small keeps two cores only half busy, so the chains overlap instead of
 * taking turns. Larger steps: the loop, then the weight gradients, each GEMM on every thread. */
void rnnkit_lstm_backward(sgemm_fn f, const float *W_h, int ldw, const float *P, const float *G,
                          const float *TC, const float *A_prev, const float *C_prev, float *dZ, float *d_out,
                          float *da, float *dc, float *da_0, const float *x, int X, float *dW_h, float *dW_x,
                          const int *len, float *M, int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    if (threads < 2 || (size_t)4 * H * H * B >= OVERLAP_MAX_MACS) {
        for (int s = 0; s < T; s++)
            lstm_back_step(f, W_h, ldw, P, G, TC, C_prev, dZ, d_out, da, dc, da_0, len, M, s, T, H, B, reverse,
                           threads, NULL);
        for (int s = 0; s < T; s++) {
            const int t = reverse ? s : T - 1 - s;
            lstm_weight_step(f, dZ + (size_t)t * 4 * n, A_prev + (size_t)t * n, x + (size_t)t * B * X, dW_h, dW_x,
                             H, X, B, step_cols(len, t, B), s == 0);
        }
        return;
    }
    int finished = -1;                                            /* the last step whose dz is written */
#pragma omp parallel num_threads(2)
    {
        const int role = THREAD_ID, team = THREADS;
        if (role == 0)
            for (int s = 0; s < T; s++)
                lstm_back_step(f, W_h, ldw, P, G, TC, C_prev, dZ, d_out, da, dc, da_0, len, M, s, T, H, B, reverse,
                               1, &finished);
        if (role == 1 || team == 1)
            for (int s = 0; s < T; s++) {
                while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < s) {
                }
                const int t = reverse ? s : T - 1 - s;
                lstm_weight_step(f, dZ + (size_t)t * 4 * n, A_prev + (size_t)t * n, x + (size_t)t * B * X, dW_h,
                                 dW_x, H, X, B, step_cols(len, t, B), s == 0);
            }
    }
}
