/* rnnkit's batch-1 kernels for generation, compiled on first use by rnnkit/engine/native/build.py.
 *
 * At batch 1 a step is matrix-vector products over every weight once (memory-bound: a 2x512 LSTM streams
 * 12 MB of float32 per token) and a few thousand scalar gate operations. Calling torch once per gate
 * operation costs more than the arithmetic, so here one call does a whole layer: each thread takes a block
 * of hidden units j and, for each, the dot products of unit j's gate rows (several independent
 * accumulators, so the FMAs pipeline) and then the cell's equations for unit j. Gate layouts as
 * rnnkit/engine/layout.py fuses the weights: LSTM (u, f, o, c~), GRU (r, u, c~), simplified GRU (u, c~),
 * RNN (a). All float32; sums run in another order than torch's, which the tests bound at 1e-5.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Below this many weights a layer runs on one thread: waking the others costs more than it saves. */
#define PARALLEL_MIN 32768

static inline float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

/* The dot products of rows r0..r3 of W (N, K) with x (K). */
static inline void dot4(const float *W, size_t K, size_t r0, size_t r1, size_t r2, size_t r3, const float *x,
                        float *s) {
    const float *w0 = W + r0 * K, *w1 = W + r1 * K, *w2 = W + r2 * K, *w3 = W + r3 * K;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (size_t k = 0; k < K; k++) {
        float xk = x[k];
        s0 += w0[k] * xk;
        s1 += w1[k] * xk;
        s2 += w2[k] * xk;
        s3 += w3[k] * xk;
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/* One LSTM layer, one step, batch 1:
 *   z = W x + base,  Γu, Γf, Γo = σ(z_u, z_f, z_o) (+ P * c<t-1> inside σ with peepholes),  c~ = tanh(z_c)
 *   c<t> = Γf c<t-1> + Γu c~,  a<t> = Γo tanh(c<t>)
 * W (4H, K); x (K); base (4H): the bias, or the pre-activations already computed (a table row); P (3, H)
 * or NULL; c_prev, c_out (H), may be the same; a_out (H) may lie inside x (the stacked [x; a<t-1>]), so
 * a<t> goes to scratch (H) first and is copied out after every thread has read x. */
void rnnkit_lstm_step(const float *W, const float *x, const float *base, const float *P, const float *c_prev,
                      float *c_out, float *a_out, float *scratch, int H, int K, int threads) {
#pragma omp parallel num_threads(threads) if ((size_t)4 * H * K >= PARALLEL_MIN)
    {
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) {
            float s[4];
            dot4(W, (size_t)K, j, (size_t)H + j, (size_t)2 * H + j, (size_t)3 * H + j, x, s);
            float c = c_prev[j];
            float z_u = s[0] + base[j], z_f = s[1] + base[H + j], z_o = s[2] + base[2 * H + j];
            if (P) {
                z_u += P[j] * c;
                z_f += P[H + j] * c;
                z_o += P[2 * H + j] * c;
            }
            float c_t = sigmoid(z_f) * c + sigmoid(z_u) * tanhf(s[3] + base[3 * H + j]);
            c_out[j] = c_t;
            scratch[j] = sigmoid(z_o) * tanhf(c_t);
        }
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) a_out[j] = scratch[j];
    }
}

/* ---- bfloat16 weights (Stepper(weights="bf16")): the same steps reading W as bfloat16 ---------------------
 * A bfloat16 is the top half of a float32, so widening is a 16-bit shift; products and sums stay float32.
 * At batch 1 the step streams its weights once per token, so half the bytes is the whole gain. */

static inline float bf16(uint16_t h) {
    union { uint32_t i; float f; } u = {.i = (uint32_t)h << 16};
    return u.f;
}

/* dot4 with W (N, K) in bfloat16. */
static inline void dot4_bf16(const uint16_t *W, size_t K, size_t r0, size_t r1, size_t r2, size_t r3,
                             const float *x, float *s) {
    const uint16_t *w0 = W + r0 * K, *w1 = W + r1 * K, *w2 = W + r2 * K, *w3 = W + r3 * K;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (size_t k = 0; k < K; k++) {
        float xk = x[k];
        s0 += bf16(w0[k]) * xk;
        s1 += bf16(w1[k]) * xk;
        s2 += bf16(w2[k]) * xk;
        s3 += bf16(w3[k]) * xk;
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

/* rnnkit_lstm_step with W (4H, K) in bfloat16 (no peepholes). */
void rnnkit_lstm_step_bf16(const uint16_t *W, const float *x, const float *base, const float *c_prev, float *c_out,
                           float *a_out, float *scratch, int H, int K, int threads) {
#pragma omp parallel num_threads(threads) if ((size_t)4 * H * K >= PARALLEL_MIN)
    {
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) {
            float s[4];
            dot4_bf16(W, (size_t)K, j, (size_t)H + j, (size_t)2 * H + j, (size_t)3 * H + j, x, s);
            float c_t = sigmoid(s[1] + base[H + j]) * c_prev[j] + sigmoid(s[0] + base[j]) * tanhf(s[3] + base[3 * H + j]);
            c_out[j] = c_t;
            scratch[j] = sigmoid(s[2] + base[2 * H + j]) * tanhf(c_t);
        }
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) a_out[j] = scratch[j];
    }
}

/* rnnkit_linear_row with W (N, K) in bfloat16. */
void rnnkit_linear_row_bf16(const uint16_t *W, const float *x, const float *b, float *out, int N, int K,
                            int threads) {
    int blocks = N / 4;
#pragma omp parallel for schedule(static) num_threads(threads) if ((size_t)N * K >= PARALLEL_MIN)
    for (int i = 0; i < blocks; i++) {
        size_t r = (size_t)4 * i;
        dot4_bf16(W, (size_t)K, r, r + 1, r + 2, r + 3, x, out + r);
    }
    for (int r = 4 * blocks; r < N; r++) {
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += bf16(W[(size_t)r * K + k]) * x[k];
        out[r] = s;
    }
    if (b)
        for (int r = 0; r < N; r++) out[r] += b[r];
}

/* The dot products of rows r0, r1 of W (N, K) with x (K). */
static inline void dot2(const float *W, size_t K, size_t r0, size_t r1, const float *x, float *s) {
    const float *w0 = W + r0 * K, *w1 = W + r1 * K;
    float s0 = 0.0f, s1 = 0.0f;
#pragma omp simd reduction(+ : s0, s1)
    for (size_t k = 0; k < K; k++) {
        s0 += w0[k] * x[k];
        s1 += w1[k] * x[k];
    }
    s[0] = s0, s[1] = s1;
}

/* The dot product of n values of w and x. */
static inline float dot1(const float *w, size_t n, const float *x) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t k = 0; k < n; k++) s += w[k] * x[k];
    return s;
}

/* One GRU layer, one step, batch 1, on the stacked input v = [x<t>; a<t-1>] (X + H) and W = [W_x | W_h]
 * (G·H, X + H), X = 0 when base already holds the input projection (a table row). base (G·H): the bias or
 * the pre-activations so far. Every form ends in a<t> = Γu c~ + (1 − Γu) a<t-1>.
 *   kind 0, simplified (u, c):   Γu = σ(z_u),  c~ = tanh(z_c)
 *   kind 1, reset before (r, u, c): Γr, Γu = σ(z_r, z_u),  c~ = tanh(W_cx x + b_c + W_cc (Γr * a<t-1>)):
 *           a second pass, after every Γr * a_j is known (scratch[0:H])
 *   kind 2, reset after (r, u, c):  c~ = tanh(W_cx x + b_c + Γr * (W_cc a<t-1> + b_cc)), b_cc (H) or NULL
 * a_out is a<t-1>'s place in v; scratch holds 4H values. */
void rnnkit_gru_step(const float *W, const float *v, const float *base, const float *b_cc, float *a_out,
                     float *scratch, int H, int X, int kind, int threads) {
    const size_t K = (size_t)X + H, G = kind == 0 ? 2 : 3;
    const float *a = v + X;
    float *rc = scratch, *u_keep = scratch + H, *xc = scratch + 2 * H, *out = scratch + 3 * H;
#pragma omp parallel num_threads(threads) if (G * H * K >= PARALLEL_MIN)
    {
        if (kind == 0) {
#pragma omp for schedule(static)
            for (int j = 0; j < H; j++) {
                float s[2];
                dot2(W, K, j, (size_t)H + j, v, s);
                float u = sigmoid(s[0] + base[j]), c_tilde = tanhf(s[1] + base[H + j]);
                out[j] = a[j] + u * (c_tilde - a[j]);
            }
        } else {
#pragma omp for schedule(static)
            for (int j = 0; j < H; j++) {
                float s[2];
                dot2(W, K, j, (size_t)H + j, v, s);
                const float *w_c = W + (2 * (size_t)H + j) * K;
                float r = sigmoid(s[0] + base[j]), u = sigmoid(s[1] + base[H + j]);
                float z_cx = dot1(w_c, X, v) + base[2 * H + j];                    /* W_cx x + b_c */
                if (kind == 1) {
                    rc[j] = r * a[j], u_keep[j] = u, xc[j] = z_cx;
                } else {
                    float n = dot1(w_c + X, H, a) + (b_cc ? b_cc[j] : 0.0f);     /* W_cc a + b_cc */
                    float c_tilde = tanhf(z_cx + r * n);
                    out[j] = a[j] + u * (c_tilde - a[j]);
                }
            }
            if (kind == 1) {              /* the implicit barrier above: every Γr * a_j is in rc */
#pragma omp for schedule(static)
                for (int j = 0; j < H; j++) {
                    float c_tilde = tanhf(xc[j] + dot1(W + (2 * (size_t)H + j) * K + X, H, rc));
                    out[j] = a[j] + u_keep[j] * (c_tilde - a[j]);
                }
            }
        }
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) a_out[j] = out[j];
    }
}

/* One vanilla RNN layer, one step, batch 1: a<t> = g(W v + base), g = tanh or relu; W (H, K), v (K) the
 * stacked [x<t>; a<t-1>], base (H); a_out may lie in v (through scratch (H), as above). */
void rnnkit_rnn_step(const float *W, const float *v, const float *base, float *a_out, float *scratch, int H,
                     int K, int relu, int threads) {
    int blocks = H / 4;
#pragma omp parallel num_threads(threads) if ((size_t)H * K >= PARALLEL_MIN)
    {
#pragma omp for schedule(static)
        for (int i = 0; i <= blocks; i++) {
            size_t r = (size_t)4 * i;
            float s[4];
            if (i < blocks)
                dot4(W, (size_t)K, r, r + 1, r + 2, r + 3, v, s);
            else                                   /* the last H mod 4 rows */
                for (size_t q = 0; q < (size_t)H - r; q++) s[q] = dot1(W + (r + q) * K, K, v);
            for (size_t q = 0; q < 4 && r + q < (size_t)H; q++) {
                float z = s[q] + base[r + q];
                scratch[r + q] = relu ? (z > 0.0f ? z : 0.0f) : tanhf(z);
            }
        }
#pragma omp for schedule(static)
        for (int j = 0; j < H; j++) a_out[j] = scratch[j];
    }
}

/* out = W x (+ b): W (N, K), x (K), b (N) or NULL, out (N). */
void rnnkit_linear_row(const float *W, const float *x, const float *b, float *out, int N, int K, int threads) {
    int blocks = N / 4;
#pragma omp parallel for schedule(static) num_threads(threads) if ((size_t)N * K >= PARALLEL_MIN)
    for (int i = 0; i < blocks; i++) {
        size_t r = (size_t)4 * i;
        dot4(W, (size_t)K, r, r + 1, r + 2, r + 3, x, out + r);
    }
    for (int r = 4 * blocks; r < N; r++) out[r] = dot1(W + (size_t)r * K, K, x);
    if (b)
        for (int r = 0; r < N; r++) out[r] += b[r];
}
