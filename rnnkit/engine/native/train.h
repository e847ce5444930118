/* What rnnkit's compiled training loops share (float32, CPU): the GEMM through torch's BLAS sgemm, a
 * vectorisable exp, the split of a step's units between threads, the order of a reverse loop, and padding.
 * Each cell family has its loops in a source of its own (train_lstm.c, train_gru.c, train_rnn.c), built
 * with step.c into one library by build.py.
 *
 * Per step the hand-written engine (rnnkit/engine/kernels) does one recurrent GEMM and a handful of
 * elementwise kernels; from Python each is a separate call, and at hidden size 128 the calls cost more than
 * the arithmetic. Here the whole loop over t is one call: per step the GEMM goes to the BLAS sgemm that torch
 * itself links (its address is passed in), and the elementwise work of a step is one pass over the (H, B)
 * units, with sigmoid and tanh from a vectorisable exp. Buffers, layouts and equations are the Python
 * kernels', so the backward's setup and the weight gradients after the loop are shared with them.
 * Feature-major: a state is (H, B), the gates of a step (G·H, B) in the layout of rnnkit/engine/layout.py,
 * row-major.
 *
 * Padding: `len` (B) gives each sequence's length, or is NULL (every sequence runs all T steps). Step t
 * exists for sequence b when t < len[b] (rnnkit/engine/reference.py): where it does not, the forward holds
 * the state (the new state is the old one) and the backward passes the state's gradient straight through
 * (no gradient reaches that step's gates). A loop with `len` builds, for each step with an ended sequence,
 * a mask M (H, B) of 1.0 (the step exists) and 0.0 in a buffer the caller passes (H·B floats), and hands it to
 * the step's passes; steps without one run the unmasked passes. The step's GEMMs skip the columns past the last
 * live sequence (step_mask). The outputs past the end (zero) and their gradients (ignored) are the caller's. With
 * `len` the backward loops need d_out (the caller passes zeros where nothing reaches the outputs).
 */
#ifndef RNNKIT_TRAIN_H
#define RNNKIT_TRAIN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fortran BLAS sgemm (column-major), as MKL and OpenBLAS export it. */
typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *,
                         const float *, const int *, const float *, const int *, const float *, float *,
                         const int *);

/* Row-major C (m, n) = op(A) (m, k) · op(B) (k, n) + beta C, through the column-major sgemm: C^T = B^T A^T. */
static inline void gemm(sgemm_fn f, int trans_a, int trans_b, int m, int n, int k, const float *A, int lda,
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

/* [lo, hi) of n units for thread k of m, in whole cache lines (16 floats). */
static inline void share(size_t n, int k, int m, size_t *lo, size_t *hi) {
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

static inline reverse_step reverse_at(int s, int T, int reverse, size_t n, float *d_out, float **cur, float **spare,
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


/* ---- padding -------------------------------------------------------------------------------------------- */

/* The columns a step's GEMMs cover for `live` live ones of B: rounded up to a whole number of GEMM_COLUMNS,
 * because BLAS kernels work on panels of columns and a ragged width can cost more than a whole one (with
 * MKL on a 2-core AVX-512 CPU, 31 columns of a 1024 × 256 product took about twice as long as 32). */
#define GEMM_COLUMNS 8
static inline int gemm_width(int live, int B) {
    const int w = (live + GEMM_COLUMNS - 1) / GEMM_COLUMNS * GEMM_COLUMNS;
    return w < B ? w : B;
}

/* The mask of step t: NULL when every sequence has step t (or there is no padding), else M (H, B) filled
 * with 1.0 where t < len[b] and 0.0 elsewhere. *cols gets the width the step's GEMMs need: one past the last
 * sequence that has step t (B without padding, 0 when none has it), rounded up by gemm_width. Columns past it take no part in the
 * GEMMs, so a batch ordered by decreasing length (rnnkit/engine/bptt.py orders it) does only the live work,
 * as a packed sequence would; what the elementwise passes compute there is discarded by the mask. */
static inline const float *step_mask(const int *len, int t, int H, int B, float *M, int *cols) {
    *cols = B;
    if (!len)
        return NULL;
    int ended = 0, last = -1;
    for (int b = 0; b < B; b++) {
        ended |= t >= len[b];
        last = t < len[b] ? b : last;
    }
    *cols = gemm_width(last + 1, B);
    if (!ended)
        return NULL;
    for (int b = 0; b < B; b++)
        M[b] = t < len[b] ? 1.0f : 0.0f;
    for (int h = 1; h < H; h++)
        memcpy(M + (size_t)h * B, M, (size_t)B * sizeof(float));
    return M;
}

/* The GEMM width of step t (see step_mask), without building the mask. */
static inline int step_cols(const int *len, int t, int B) {
    int last = -1;
    for (int b = 0; len && b < B; b++)
        last = t < len[b] ? b : last;
    return len ? gemm_width(last + 1, B) : B;
}

/* Units [lo, hi) of a state after a step: where the step does not exist (M 0), the old state is kept. */
static inline void hold_ended(const float *restrict M, const float *restrict old, float *restrict new_, size_t lo,
                              size_t hi) {
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        new_[i] = M[i] != 0.0f ? new_[i] : old[i];
}

/* After a step's d state<t-1> = W_hᵀ dz (computed in the live columns only): where the step does not exist,
 * the gradient of the state after the step, d, passes through to the state before it, out (added to what
 * out holds, or written when `write`). */
static inline void pass_ended(const float *restrict M, const float *restrict d, float *restrict out, size_t n,
                              int write) {
    if (write) {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            out[i] = M[i] != 0.0f ? out[i] : d[i];
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            out[i] += M[i] != 0.0f ? 0.0f : d[i];
    }
}

#endif
