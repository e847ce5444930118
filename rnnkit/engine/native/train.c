/* rnnkit's compiled time loops for training a layer (float32, CPU): LSTM, GRU (reset before and after),
 * simplified GRU, vanilla RNN. Built with step.c.
 *
 * Per step the hand-written engine (rnnkit/engine/kernels/lstm.py) does one recurrent GEMM and a handful
 * of elementwise kernels; from Python each is a separate call, and at hidden size 128 the calls cost more
 * than the arithmetic. Here the whole loop over t is one call: per step the GEMM goes to the BLAS sgemm
 * that torch itself links (its address is passed in), and the elementwise work of a step is one pass over
 * the (H, B) units, with sigmoid and tanh from a vectorisable exp. Buffers, layouts and equations are the
 * Python kernel's, so the backward's setup (LSTMKernel.start_backward) and the weight gradients after the
 * loop are shared with it. Feature-major: a state is (H, B), the gates of a step (4H, B) in the layout
 * (u, f, o, c~), row-major.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Fortran BLAS sgemm (column-major), as MKL and OpenBLAS export it. */
typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *,
                         const float *, const int *, const float *, const int *, const float *, float *,
                         const int *);

/* Row-major C (m, n) = op(A) (m, k) · op(B) (k, n) + beta C, through the column-major sgemm: C^T = B^T A^T. */
static void gemm(sgemm_fn f, int trans_a, int trans_b, int m, int n, int k, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    const float one = 1.0f;
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    f(&tb, &ta, &n, &m, &k, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* exp(x) to about 2 ulp for |x| < 87, in straight-line code the compiler vectorises (Cephes' expf:
 * x = n ln2 + r, a degree-7 polynomial of r, times 2^n built in the exponent bits). */
static inline float exp_v(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return y * scale.f;
}
static inline float sigmoid_v(float z) { return 1.0f / (1.0f + exp_v(-z)); }
static inline float tanh_v(float z) { return 1.0f - 2.0f / (1.0f + exp_v(2.0f * z)); }

/* Units (H·B) below which the elementwise pass runs on one thread. */
#define ELEMENTWISE_PARALLEL_MIN 2048

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
 *   dc<t-1> = dc' Γf (+ Σ_g P_g dz_g with peepholes), written over dc;  dz (4H, B). */
static void lstm_gates_back(const float *restrict da, float *restrict dc, const float *restrict g,
                            const float *restrict tc, const float *restrict c_prev, const float *restrict P,
                            float *restrict dz, size_t n, int B, size_t lo, size_t hi) {
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
    if (P) {
        size_t H = n / B;
        for (size_t i = lo; i < hi; i++) {
            size_t h = i / B;
            dc[i] += P[h] * dz[i] + P[H + h] * dz[n + i] + P[2 * H + h] * dz[2 * n + i];
        }
    }
}

/* [lo, hi) of n units for thread k of m, in whole cache lines (16 floats). */
static void share(size_t n, int k, int m, size_t *lo, size_t *hi) {
    size_t per = ((n + m - 1) / m + 15) / 16 * 16;
    *lo = k * per < n ? k * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* Step s of a one-state reverse loop (GRU, simplified GRU, RNN): the step t it visits, where it reads the
 * complete gradient of its state (d) and where it writes the gradient of the state before it (out; added
 * to when `add`, because out then already holds what that state's output got from above). With d_out
 * (T, H, B) both are its rows; without, two buffers take turns (*cur, *spare, swapped here), and the last
 * step writes d_0. */
typedef struct {
    int t, add;
    const float *d;
    float *out;
} reverse_step;

static reverse_step reverse_at(int s, int T, int reverse, size_t n, float *d_out, float **cur, float **spare,
                               float *d_0) {
    const int last = s == T - 1;
    reverse_step r;
    r.t = reverse ? s : T - 1 - s;
    const int next = reverse ? r.t + 1 : r.t - 1;
    r.d = d_out ? d_out + (size_t)r.t * n : *cur;
    r.out = last ? d_0 : (d_out ? d_out + (size_t)next * n : *spare);
    r.add = d_out && !last;
    if (!d_out && !last) {
        *spare = *cur;
        *cur = r.out;
    }
    return r;
}

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID omp_get_thread_num()
#define THREADS omp_get_num_threads()
#else
#define THREAD_ID 0
#define THREADS 1
#endif

/* The forward loop of one direction of one layer. G (T, 4H, B): the input projections W_x x<t> + b,
 * overwritten with the gate activations; S_a, S_c (T + 1, H, B): the states at the step boundaries, entry 0
 * (T when reverse) holding the initial state; TC (T, H, B) gets tanh(c<t>). Step t reads the states at
 * boundary t (t + 1 when reverse) and writes them at t + 1 (t). W_h (4H, H) with row stride ldw. */
void rnnkit_lstm_forward(sgemm_fn f, const float *W_h, int ldw, const float *P, float *G, float *S_a,
                         float *S_c, float *TC, int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 4 * n;
        gemm(f, 0, 0, 4 * H, B, H, W_h, ldw, S_a + before * n, B, 1.0f, g, B);   /* z = xp + W_h a<t-1> */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
            lstm_gates(g, S_c + before * n, S_c + after * n, TC + (size_t)t * n, S_a + after * n, P, n, B, lo,
                       hi);
        }
    }
}

/* The weight gradients of one step, added (or written, first) into dW_h (4H, H) += dz a<t-1>ᵀ and, unless
 * dW_x is NULL, dW_x (4H, X) += dz x<t> (x<t> (B, X) row-major, as the layer's input (T, B, X) holds it). */
static void lstm_weight_step(sgemm_fn f, const float *dz, const float *a_prev, const float *x_t, float *dW_h,
                             float *dW_x, int H, int X, int B, int first) {
    gemm(f, 0, 1, 4 * H, H, B, dz, B, a_prev, B, first ? 0.0f : 1.0f, dW_h, H);
    if (dW_x)
        gemm(f, 0, 0, 4 * H, X, B, dz, B, x_t, X, first ? 0.0f : 1.0f, dW_x, X);
}

/* Below this many multiply-adds per step's recurrent GEMM (4H·H·B) the LSTM's backward overlaps its weight
 * gradients with its loop (see rnnkit_lstm_backward); above it each GEMM keeps both cores busy by itself. */
#define OVERLAP_MAX_MACS ((size_t)1 << 24)

/* Step s of the reverse loop: the gates' pass (on `threads` threads), then (s is stored in *finished, when
 * given, as soon as dz is written) d a<t-1> = W_hᵀ dz. */
static void lstm_back_step(sgemm_fn f, const float *W_h, int ldw, const float *P, const float *G, const float *TC,
                           const float *C_prev, float *dZ, float *d_out, float *da, float *dc, float *da_0, int s,
                           int T, int H, int B, int reverse, int threads, int *finished) {
    const size_t n = (size_t)H * B;
    const int t = reverse ? s : T - 1 - s, next = reverse ? t + 1 : t - 1, last = s == T - 1;
    const float *da_t = d_out ? d_out + (size_t)t * n : da;
    float *dz = dZ + (size_t)t * 4 * n;
#pragma omp parallel num_threads(threads) if (threads > 1 && n >= ELEMENTWISE_PARALLEL_MIN)
    {
        size_t lo, hi;
        share(n, THREAD_ID, THREADS, &lo, &hi);
        lstm_gates_back(da_t, dc, G + (size_t)t * 4 * n, TC + (size_t)t * n, C_prev + (size_t)t * n, P, dz, n, B,
                        lo, hi);
    }
    if (finished)
        __atomic_store_n(finished, s, __ATOMIC_RELEASE);
    /* d a<t-1> = W_hᵀ dz, added to what a<t-1> got from above (or alone) */
    float *acc = last ? da_0 : (d_out ? d_out + (size_t)next * n : da);
    gemm(f, 1, 0, H, B, 4 * H, W_h, ldw, dz, B, last || !d_out ? 0.0f : 1.0f, acc, B);
}

/* The reverse loop (LSTMKernel.back for every step, in the order the forward's steps are undone), and the
 * weight gradients. G (T, 4H, B) the gate activations, TC (T, H, B) tanh(c<t>), A_prev, C_prev (T, H, B)
 * the states each step read; dZ (T, 4H, B) gets the gradients of the pre-activations. d_out (T, H, B): the
 * gradient each output a<t> gets from above (NULL: none), which this loop completes in place with what a<t>
 * gets through the next step; da (H, B) holds the gradient of the last step's a<t> when d_out is NULL (and
 * is then overwritten); dc (H, B): the gradient of the last c<t> in, of the initial c out; da_0 (H, B)
 * gets the initial a's. x (T, B, X) the layer's input: dW_h (4H, H) and dW_x (4H, X) (or NULL) get
 * Σ_t dz a<t-1>ᵀ and Σ_t dz x<t>.
 *
 * Small steps (4H·H·B < OVERLAP_MAX_MACS) on two or more threads: the weight gradients run beside the loop.
 * One thread walks the steps (its GEMMs single-threaded), another follows a step behind, accumulating each
 * finished step's dz: a GEMM this small keeps two cores only half busy, so the chains overlap instead of
 * taking turns. Larger steps: the loop, then the weight gradients, each GEMM on every thread. */
void rnnkit_lstm_backward(sgemm_fn f, const float *W_h, int ldw, const float *P, const float *G,
                          const float *TC, const float *A_prev, const float *C_prev, float *dZ, float *d_out,
                          float *da, float *dc, float *da_0, const float *x, int X, float *dW_h, float *dW_x, int T,
                          int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    if (threads < 2 || (size_t)4 * H * H * B >= OVERLAP_MAX_MACS) {
        for (int s = 0; s < T; s++)
            lstm_back_step(f, W_h, ldw, P, G, TC, C_prev, dZ, d_out, da, dc, da_0, s, T, H, B, reverse, threads, NULL);
        for (int s = 0; s < T; s++) {
            const int t = reverse ? s : T - 1 - s;
            lstm_weight_step(f, dZ + (size_t)t * 4 * n, A_prev + (size_t)t * n, x + (size_t)t * B * X, dW_h, dW_x,
                             H, X, B, s == 0);
        }
        return;
    }
    int finished = -1;                                            /* the last step whose dz is written */
#pragma omp parallel num_threads(2)
    {
        const int role = THREAD_ID, team = THREADS;
        if (role == 0)
            for (int s = 0; s < T; s++)
                lstm_back_step(f, W_h, ldw, P, G, TC, C_prev, dZ, d_out, da, dc, da_0, s, T, H, B, reverse, 1,
                               &finished);
        if (role == 1 || team == 1)
            for (int s = 0; s < T; s++) {
                while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < s) {
                }
                const int t = reverse ? s : T - 1 - s;
                lstm_weight_step(f, dZ + (size_t)t * 4 * n, A_prev + (size_t)t * n, x + (size_t)t * B * X, dW_h,
                                 dW_x, H, X, B, s == 0);
            }
    }
}

/* ---- GRU, reset before the matmul (GRUKernel): layout (r, u, c~), state c (H, B) ------------------------- */

/* Forward loop of one direction of one layer. G (T, 3H, B): the input projections in, [Γr; Γu; c~] out;
 * S (T + 1, H, B) the states at the step boundaries (as for the LSTM); RC (T, H, B) gets Γr * c<t-1>.
 *   [Γr; Γu] = σ(xp_ru + W_ru c<t-1>),  c~ = tanh(xp_c + W_cc (Γr * c<t-1>)),  c<t> = c<t-1> + Γu (c~ − c<t-1>)
 * W_h (3H, H) = [W_ru; W_cc] with row stride ldw. */
void rnnkit_gru_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, float *RC, int T, int H, int B,
                        int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 3 * n, *rc = RC + (size_t)t * n;
        const float *c_prev = S + before * n;
        float *c_new = S + after * n;
        gemm(f, 0, 0, 2 * H, B, H, W_h, ldw, c_prev, B, 1.0f, g, B);          /* z_ru = xp_ru + W_ru c<t-1> */
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
        gemm(f, 0, 0, H, B, H, W_cc, ldw, rc, B, 1.0f, g + 2 * n, B);       /* z_c = xp_c + W_cc (Γr c<t-1>) */
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
        }
    }
}

/* Reverse loop (GRUKernel.back for every step, with the factors of GRUKernel.start_backward computed here).
 * G (T, 3H, B) the activations [Γr; Γu; c~]; C_prev (T, H, B) the state each step read; dZ (T, 3H, B) gets
 * the pre-activations' gradients. d_out, d_c_0 as for the LSTM (dc: the last state's gradient when d_out is
 * NULL, overwritten); work holds 2·H·B values. Per step, with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  d(Γr c<t-1>) = W_ccᵀ dz_c,
 *   dz_r = d(Γr c<t-1>) c<t-1> Γr (1 − Γr),
 *   dc<t-1> = dc (1 − Γu) + d(Γr c<t-1>) Γr + W_ruᵀ [dz_r; dz_u]   (added to what c<t-1> got from above) */
void rnnkit_gru_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev, float *dZ,
                         float *d_out, float *dc, float *d_c_0, float *work, int T, int H, int B, int reverse,
                         int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    float *d_rc = work, *spare = work + n, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int t = r.t, add = r.add;
        const float *d = r.d;
        float *out = r.out;
        const float *g = G + (size_t)t * 3 * n, *c_prev = C_prev + (size_t)t * n;
        float *dz = dZ + (size_t)t * 3 * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float u = g[n + i], ct = g[2 * n + i];
                dz[n + i] = d[i] * u * (1.0f - u) * (ct - c_prev[i]);
                dz[2 * n + i] = d[i] * u * (1.0f - ct * ct);
                float through = d[i] * (1.0f - u);                  /* dc (1 − Γu) */
                out[i] = add ? out[i] + through : through;
            }
        }
        gemm(f, 1, 0, H, B, H, W_cc, ldw, dz + 2 * n, B, 0.0f, d_rc, B);     /* d(Γr c<t-1>) = W_ccᵀ dz_c */
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++) {
                float r = g[i];
                dz[i] = d_rc[i] * c_prev[i] * r * (1.0f - r);
                out[i] += d_rc[i] * r;
            }
        }
        gemm(f, 1, 0, H, B, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);           /* + W_ruᵀ [dz_r; dz_u] */
    }
}

/* ---- GRU, reset after the matmul (GRUResetAfterKernel, torch's form): layout (r, u, c~) ------------------- */

/* Forward loop: G (T, 3H, B) projections in, [Γr; Γu; c~] out; S (T + 1, H, B) the states; N (T, H, B) gets
 * n = W_cc c<t-1> + b_cc (b_cc (H) or NULL):
 *   [Γr; Γu] = σ(xp_ru + W_ru c<t-1>),  c~ = tanh(xp_c + Γr n),  c<t> = c<t-1> + Γu (c~ − c<t-1>) */
void rnnkit_gru_after_forward(sgemm_fn f, const float *W_h, int ldw, const float *b_cc, float *G, float *S, float *N,
                              int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 3 * n, *nt = N + (size_t)t * n, *c_new = S + after * n;
        const float *c_prev = S + before * n;
        gemm(f, 0, 0, 2 * H, B, H, W_h, ldw, c_prev, B, 1.0f, g, B);          /* z_ru = xp_ru + W_ru c<t-1> */
        gemm(f, 0, 0, H, B, H, W_cc, ldw, c_prev, B, 0.0f, nt, B);            /* W_cc c<t-1> */
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
        }
    }
}

/* Reverse loop, with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  dz_r = dz_c n Γr (1 − Γr),  dn = dz_c Γr,
 *   dc<t-1> = dc (1 − Γu) + W_ruᵀ [dz_r; dz_u] + W_ccᵀ dn
 * dN (T, H, B) gets dn (for W_cc's and b_cc's gradients after the loop); the rest as for the other GRU. */
void rnnkit_gru_after_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev,
                               const float *N, float *dZ, float *dN, float *d_out, float *dc, float *d_c_0, float *work,
                               int T, int H, int B, int reverse, int threads) {
    const size_t n = (size_t)H * B;
    const float *W_cc = W_h + (size_t)2 * H * ldw;
    float *spare = work, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int t = r.t, add = r.add;
        const float *d = r.d;
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
                float dz_c = d[i] * u * (1.0f - ct * ct);
                dz[i] = dz_c * nt[i] * r * (1.0f - r);
                dz[n + i] = d[i] * u * (1.0f - u) * (ct - c_prev[i]);
                dz[2 * n + i] = dz_c;
                dn[i] = dz_c * r;
                float through = d[i] * (1.0f - u);
                out[i] = add ? out[i] + through : through;
            }
        }
        gemm(f, 1, 0, H, B, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);           /* + W_ruᵀ [dz_r; dz_u] */
        gemm(f, 1, 0, H, B, H, W_cc, ldw, dn, B, 1.0f, out, B);              /* + W_ccᵀ dn */
    }
}

/* ---- vanilla RNN (RNNTanhKernel, RNNReLUKernel) and simplified GRU (SimpleGRUKernel) ---------------------- */

/* Forward loop: G (T, H, B) the input projections, z = xp + W_h a<t-1> left in it; S (T + 1, H, B) the states
 * (as for the LSTM): a<t> = tanh(z), or max(z, 0) with relu. */
void rnnkit_rnn_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, int T, int H, int B, int reverse,
                        int relu, int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * n, *a = S + after * n;
        gemm(f, 0, 0, H, B, H, W_h, ldw, S + before * n, B, 1.0f, g, B);
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
        }
    }
}

/* Reverse loop: dz = da g'(z) with g'(z) = 1 − a<t>² (tanh) or [a<t> > 0] (relu), read from A (T, H, B) the
 * state each step wrote; d a<t-1> = W_hᵀ dz. d_out, da, da_0, work (H·B) as for the GRU. */
void rnnkit_rnn_backward(sgemm_fn f, const float *W_h, int ldw, const float *A, float *dZ, float *d_out, float *da,
                         float *da_0, float *work, int T, int H, int B, int reverse, int relu, int threads) {
    const size_t n = (size_t)H * B;
    float *spare = work, *cur = da;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, da_0);
        const float *d = r.d, *a = A + (size_t)r.t * n;
        float *dz = dZ + (size_t)r.t * n;
#pragma omp parallel num_threads(threads) if (n >= ELEMENTWISE_PARALLEL_MIN)
        {
            size_t lo, hi;
            share(n, THREAD_ID, THREADS, &lo, &hi);
#pragma omp simd
            for (size_t i = lo; i < hi; i++)
                dz[i] = relu ? (a[i] > 0.0f ? d[i] : 0.0f) : d[i] * (1.0f - a[i] * a[i]);
        }
        gemm(f, 1, 0, H, B, H, W_h, ldw, dz, B, r.add ? 1.0f : 0.0f, r.out, B);
    }
}

/* Simplified GRU, layout (u, c~): forward, G (T, 2H, B) projections in, [Γu; c~] out; S (T + 1, H, B):
 *   Γu = σ(z_u),  c~ = tanh(z_c),  c<t> = c<t-1> + Γu (c~ − c<t-1>) */
void rnnkit_simple_gru_forward(sgemm_fn f, const float *W_h, int ldw, float *G, float *S, int T, int H, int B,
                               int reverse, int threads) {
    const size_t n = (size_t)H * B;
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, before = reverse ? t + 1 : t, after = reverse ? t : t + 1;
        float *g = G + (size_t)t * 2 * n, *c_new = S + after * n;
        const float *c_prev = S + before * n;
        gemm(f, 0, 0, 2 * H, B, H, W_h, ldw, c_prev, B, 1.0f, g, B);
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
        }
    }
}

/* Simplified GRU in reverse, with dc the complete gradient of c<t>:
 *   dz_u = dc Γu (1 − Γu) (c~ − c<t-1>),  dz_c = dc Γu (1 − c~²),  dc<t-1> = dc (1 − Γu) + W_hᵀ dz */
void rnnkit_simple_gru_backward(sgemm_fn f, const float *W_h, int ldw, const float *G, const float *C_prev,
                                float *dZ, float *d_out, float *dc, float *d_c_0, float *work, int T, int H, int B,
                                int reverse, int threads) {
    const size_t n = (size_t)H * B;
    float *spare = work, *cur = dc;
    for (int s = 0; s < T; s++) {
        const reverse_step r = reverse_at(s, T, reverse, n, d_out, &cur, &spare, d_c_0);
        const int add = r.add;
        const float *d = r.d;
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
                dz[i] = d[i] * u * (1.0f - u) * (ct - c_prev[i]);
                dz[n + i] = d[i] * u * (1.0f - ct * ct);
                float through = d[i] * (1.0f - u);
                out[i] = add ? out[i] + through : through;
            }
        }
        gemm(f, 1, 0, H, B, 2 * H, W_h, ldw, dz, B, 1.0f, out, B);
    }
}

/* ---- weight gradients ----------------------------------------------------------------------------------- */

/* out (n, m) = Σ_t dZ_t inp_tᵀ (Kernel.weight_grad): dZ_t (n, B) at dZ + t·dz_t with row stride ldz; inp_t
 * (m, B) at inp + t·in_t, stored with contiguous rows (rows = 1: row stride ld, a state (T, m, B)) or
 * contiguous columns (rows = 0: column stride ld, an input (T, B, m) read transposed). One GEMM per step,
 * the first writing out. */
void rnnkit_weight_grad(sgemm_fn f, const float *dZ, long dz_t, int ldz, const float *inp, long in_t, int rows,
                        int ld, float *out, int T, int n, int m, int B) {
    for (int t = 0; t < T; t++)
        gemm(f, 0, rows, n, m, B, dZ + t * dz_t, ldz, inp + t * in_t, ld, t == 0 ? 0.0f : 1.0f, out, m);
}
