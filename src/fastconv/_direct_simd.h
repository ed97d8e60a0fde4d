/* The vectorised inner kernel of the direct methods.
 *
 * One call computes a run of n_out consecutive outputs of one output row as
 * a sum over input rows and kernel taps, every term in range (no padding):
 *
 *     y[o] = sum over r < n_rows, t < n_taps of
 *            w[w_off[r] + t] * x[x_off[r] + o + t * tap_step]      o < n_out
 *
 * y is overwritten.  tap_step is the dilation for a convolution and minus
 * the dilation for a unit-stride transposed convolution.  Each output is
 * accumulated in registers, in the order r, then t, whatever the block it
 * falls in, so a value never depends on how the row was cut into blocks
 * (blocks may overlap and recompute outputs) or on the thread running it.
 *
 * Built with GCC / Clang vector extensions.  On x86-64 three versions are
 * compiled (SSE2 baseline, AVX2+FMA, AVX-512) and fastconv_simd_init() picks
 * the widest the CPU runs; wheels therefore need no -march flag.  (The
 * versions differ in vector width, not only in instruction set, which is
 * why they are separate functions and not GCC target_clones.)  Other
 * compilers get no kernel (FASTCONV_HAVE_SIMD == 0) and the caller uses its
 * scalar loops.
 */

#ifndef FASTCONV_DIRECT_SIMD_H
#define FASTCONV_DIRECT_SIMD_H

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FASTCONV_HAVE_SIMD 1
#else
#define FASTCONV_HAVE_SIMD 0
#endif

/* Output channels per register block of the channel-blocked kernel, and
 * the positions of slack it needs after each buffer: the same in every
 * build (with or without vector extensions), so that the planner's rules
 * and the tests hold on every wheel. */
#define FASTCONV_CHANNELS 4
#define FASTCONV_CHANNEL_SLACK 128

#if FASTCONV_HAVE_SIMD

/* A block of NV vectors starting at output o0.  At most 8 accumulators:
 * enough to keep the FMA units busy, and they leave registers for the
 * operands even on SSE2's 16. */
#define FASTCONV_BLOCK(T, VEC, VEC_U, L, NV)                                  \
    {                                                                         \
        VEC acc[NV];                                                          \
        for (int v = 0; v < NV; v++) acc[v] = (VEC){0};                       \
        for (ptrdiff_t r = 0; r < n_rows; r++) {                              \
            const T *xr = x + x_off[r] + o0;                                  \
            const T *wr = w + w_off[r];                                       \
            for (ptrdiff_t t = 0; t < n_taps; t++) {                          \
                const T wv = wr[t];                                           \
                const T *xt = xr + t * tap_step;                              \
                for (int v = 0; v < NV; v++)                                  \
                    acc[v] += wv * *(const VEC_U *)(xt + v * L);              \
            }                                                                 \
        }                                                                     \
        for (int v = 0; v < NV; v++) *(VEC_U *)(y + o0 + v * L) = acc[v];   \
    }

/* Blocks of NV vectors across the run; the last one is moved back to end
 * at n_out (overlapping its neighbour).  n_out >= NV * L. */
#define FASTCONV_RUN(T, VEC, VEC_U, L, NV)                                    \
    for (ptrdiff_t o = 0; o < n_out; o += (NV) * L) {                         \
        const ptrdiff_t o0 = o + (NV) * L <= n_out ? o : n_out - (NV) * L;    \
        FASTCONV_BLOCK(T, VEC, VEC_U, L, NV)                                  \
    }

/* The widest block that fits n_out (>= L), so that short rows (depthwise
 * layers, small images) still keep several accumulators in flight. */
#define FASTCONV_DEFINE_ROWS(NAME, T, BYTES, ATTR)                            \
    ATTR static void NAME(T *y, ptrdiff_t n_out, const T *x,                  \
                          const ptrdiff_t *x_off, const T *w,                 \
                          const ptrdiff_t *w_off, ptrdiff_t n_rows,           \
                          ptrdiff_t n_taps, ptrdiff_t tap_step)               \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        enum { L = BYTES / sizeof(T) };                                       \
        if (n_out >= 8 * L) {                                                 \
            FASTCONV_RUN(T, vec, vec_u, L, 8)                                 \
        } else if (n_out >= 4 * L) {                                          \
            FASTCONV_RUN(T, vec, vec_u, L, 4)                                 \
        } else if (n_out >= 2 * L) {                                          \
            FASTCONV_RUN(T, vec, vec_u, L, 2)                                 \
        } else {                                                              \
            FASTCONV_RUN(T, vec, vec_u, L, 1)                                 \
        }                                                                     \
    }

/* The channel-blocked kernel: many output channels from one shared,
 * zero-padded input, for convolutions with enough channels that the input
 * values are worth reusing from registers across output channels:
 *
 *     y[co*ldy + p] = sum over ci < n_ci, t < n_taps of
 *                     w[(co*n_ci + ci)*n_taps + t] * x[ci*ldx + p + off[t]]
 *
 * for co < n_co (n_co >= FASTCONV_CHANNELS) and p < n_pos rounded up to a
 * whole vector: y and x must have that many positions of slack
 * (FASTCONV_CHANNEL_SLACK elements is always enough).  Blocks of
 * FASTCONV_CHANNELS output channels x NV vectors of positions are
 * accumulated in registers, each input vector loaded once for the
 * FASTCONV_CHANNELS channels; the last channel block is moved back to end
 * at n_co (recomputing channels, same values).  Each value is summed in the
 * order ci, then t, whatever block computes it.  (Cutting the input
 * channels into chunks kept in L1, the partial sums in y between chunks,
 * measured no faster on the benchmark's workloads.) */

/* One block: FASTCONV_CHANNELS output channels from c0 x NVB vectors of
 * positions from p0, in the scope of FASTCONV_DEFINE_CHANNELS. */
#define FASTCONV_CHANNEL_BLOCK(NVB)                                           \
    {                                                                         \
        vec acc[NC][NVB];                                                     \
        for (int c = 0; c < NC; c++)                                          \
            for (int v = 0; v < NVB; v++) acc[c][v] = (vec){0};               \
        for (ptrdiff_t ci = 0; ci < n_ci; ci++) {                             \
            const elem *xc = x + ci * ldx + p0;                               \
            const elem *wc = w + c0 * w_co + ci * n_taps;                     \
            for (ptrdiff_t t = 0; t < n_taps; t++) {                          \
                vec xv[NVB];                                                  \
                for (int v = 0; v < NVB; v++)                                 \
                    xv[v] = *(const vec_u *)(xc + off[t] + v * L);            \
                for (int c = 0; c < NC; c++) {                                \
                    const elem wv = wc[c * w_co + t];                         \
                    for (int v = 0; v < NVB; v++) acc[c][v] += wv * xv[v];    \
                }                                                             \
            }                                                                 \
        }                                                                     \
        for (int c = 0; c < NC; c++)                                          \
            for (int v = 0; v < NVB; v++)                                     \
                *(vec_u *)(y + (c0 + c) * ldy + p0 + v * L) = acc[c][v];      \
    }

/* Whole blocks of NV vectors, then the last positions in one block of as
 * few vectors as cover them (NV is at most 6). */
#define FASTCONV_DEFINE_CHANNELS(NAME, T, BYTES, NV, ATTR)                     \
    ATTR static void NAME(T *y, ptrdiff_t ldy, ptrdiff_t n_pos, ptrdiff_t n_co, \
                          const T *x, ptrdiff_t ldx, ptrdiff_t n_ci,           \
                          const ptrdiff_t *off, ptrdiff_t n_taps, const T *w)  \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        typedef T elem;                                                       \
        enum { L = BYTES / sizeof(T), NC = FASTCONV_CHANNELS };               \
        const ptrdiff_t w_co = n_ci * n_taps;                                 \
        for (ptrdiff_t p0 = 0; p0 < n_pos; p0 += NV * L) {                    \
            const ptrdiff_t left = (n_pos - p0 + L - 1) / L;                  \
            for (ptrdiff_t cb = 0; cb < n_co; cb += NC) {                     \
                const ptrdiff_t c0 = cb + NC <= n_co ? cb : n_co - NC;        \
                switch (left < NV ? left : NV) {                              \
                case 1: FASTCONV_CHANNEL_BLOCK(1) break;                      \
                case 2: FASTCONV_CHANNEL_BLOCK(2) break;                      \
                case 3: FASTCONV_CHANNEL_BLOCK((NV < 3 ? NV : 3)) break;      \
                case 4: FASTCONV_CHANNEL_BLOCK((NV < 4 ? NV : 4)) break;      \
                case 5: FASTCONV_CHANNEL_BLOCK((NV < 5 ? NV : 5)) break;      \
                default: FASTCONV_CHANNEL_BLOCK(NV) break;                    \
                }                                                             \
            }                                                                 \
        }                                                                     \
    }

/* The depthwise convolution's band kernel: FASTCONV_BAND_ROWS rows of
 * wide outputs at a time, each input vector loaded once for all the output
 * rows that read it (a window of rows rotating through registers):
 *
 *     y[j*ld + q] = sum over classes c, then r < cnt[c] of
 *                   w_c[r] * x[off[c] + (j + r)*ld + q]
 *
 * for j < n_rows and q < ld (whole rows of ld positions), w_c the cnt[c]
 * weights of class c, the classes' weights one after the other.  A class
 * is the taps reading one phase at one column offset from consecutive
 * rows.  Rows up to the next multiple of FASTCONV_BAND_ROWS and 2 vectors
 * past each row's end are computed too: y needs that slack, x the rows and
 * vectors they read.  Each value is summed in the order c, then r,
 * whatever block computes it. */
#define FASTCONV_BAND_ROWS 4
#define FASTCONV_DEFINE_BANDS(NAME, T, BYTES, ATTR)                           \
    ATTR static void NAME(T *y, ptrdiff_t ld, ptrdiff_t n_rows, const T *x,   \
                          const ptrdiff_t *off, const ptrdiff_t *cnt,         \
                          ptrdiff_t n_cls, const T *w)                        \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        enum { L = BYTES / sizeof(T), R = FASTCONV_BAND_ROWS, NV = 2 };       \
        for (ptrdiff_t j0 = 0; j0 < n_rows; j0 += R) {                        \
            for (ptrdiff_t q0 = 0; q0 < ld; q0 += NV * L) {                   \
                vec acc[R][NV];                                               \
                for (int j = 0; j < R; j++)                                   \
                    for (int v = 0; v < NV; v++) acc[j][v] = (vec){0};        \
                const T *wc = w;                                              \
                for (ptrdiff_t c = 0; c < n_cls; c++) {                       \
                    const T *xc = x + off[c] + j0 * ld + q0;                  \
                    vec xw[R][NV];                                            \
                    for (int j = 0; j < R - 1; j++)                           \
                        for (int v = 0; v < NV; v++)                          \
                            xw[j][v] = *(const vec_u *)(xc + j * ld + v * L); \
                    for (ptrdiff_t r = 0; r < cnt[c]; r++) {                  \
                        for (int v = 0; v < NV; v++)                          \
                            xw[R - 1][v] =                                    \
                                *(const vec_u *)(xc + (r + R - 1) * ld + v * L); \
                        const T wv = wc[r];                                   \
                        for (int j = 0; j < R; j++)                           \
                            for (int v = 0; v < NV; v++)                      \
                                acc[j][v] += wv * xw[j][v];                   \
                        for (int j = 0; j < R - 1; j++)                       \
                            for (int v = 0; v < NV; v++) xw[j][v] = xw[j + 1][v]; \
                    }                                                         \
                    wc += cnt[c];                                             \
                }                                                             \
                for (int j = 0; j < R; j++)                                   \
                    for (int v = 0; v < NV; v++)                              \
                        *(vec_u *)(y + (j0 + j) * ld + q0 + v * L) = acc[j][v]; \
            }                                                                 \
        }                                                                     \
    }

typedef void (*fastconv_bands_float_fn)(float *, ptrdiff_t, ptrdiff_t, const float *,
                                        const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t,
                                        const float *);
typedef void (*fastconv_bands_double_fn)(double *, ptrdiff_t, ptrdiff_t, const double *,
                                         const ptrdiff_t *, const ptrdiff_t *, ptrdiff_t,
                                         const double *);

/* The weight gradient's kernel: the channel-blocked kernel transposed.  On
 * the same padded, stride-phase-split copy x of a sample (channels ldx
 * apart) and the output gradient g laid out on the copy's grid (channels
 * ldg apart, zeros where the grid holds no output, and up to a whole
 * vector past n_pos), one tile adds, over n_seg such samples (seg_x and
 * seg_g apart),
 *
 *     dw[c*ld_dw + j] += sum over s < n_seg, p < n_pos of
 *                        g[s*seg_g + c*ldg + p] * x[s*seg_x + off[j] + p]
 *
 * for c < FASTCONV_CHANNELS output channels and j < fastconv_weight_terms
 * (input channel, tap) pairs, each pair's offset into x in off.  The
 * products are summed in one register per (c, j), one lane per position
 * modulo the vector length, the lanes added once at the end in a fixed
 * tree; so a value depends on neither the tile's neighbours nor the
 * thread.  Only c >= skip_c and j >= skip_j are written: a last tile moved
 * back to end at the last channel (pair) writes only the ones no other tile
 * has.  x needs a vector of slack past its last position read. */
#define FASTCONV_DEFINE_WEIGHT(NAME, T, BYTES, NT, ATTR)                      \
    ATTR static void NAME(T *dw, ptrdiff_t ld_dw, const T *g, ptrdiff_t ldg,  \
                          ptrdiff_t n_pos, const T *x, const ptrdiff_t *off,  \
                          ptrdiff_t n_seg, ptrdiff_t seg_g, ptrdiff_t seg_x,  \
                          ptrdiff_t skip_c, ptrdiff_t skip_j)                 \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        enum { L = BYTES / sizeof(T), NC = FASTCONV_CHANNELS };               \
        vec acc[NC][NT];                                                      \
        for (int c = 0; c < NC; c++)                                          \
            for (int j = 0; j < NT; j++) acc[c][j] = (vec){0};                \
        for (ptrdiff_t s = 0; s < n_seg; s++) {                               \
            const T *gs = g + s * seg_g;                                      \
            const T *xj[NT];                                                  \
            for (int j = 0; j < NT; j++) xj[j] = x + s * seg_x + off[j];      \
            for (ptrdiff_t p = 0; p < n_pos; p += L) {                        \
                vec gv[NC];                                                   \
                for (int c = 0; c < NC; c++)                                  \
                    gv[c] = *(const vec_u *)(gs + c * ldg + p);               \
                for (int j = 0; j < NT; j++) {                                \
                    const vec xv = *(const vec_u *)(xj[j] + p);               \
                    for (int c = 0; c < NC; c++) acc[c][j] += gv[c] * xv;     \
                }                                                             \
            }                                                                 \
        }                                                                     \
        for (int c = (int)skip_c; c < NC; c++)                                \
            for (int j = (int)skip_j; j < NT; j++) {                          \
                T lane[L];                                                    \
                memcpy(lane, &acc[c][j], sizeof(lane));                       \
                for (int w = L / 2; w > 0; w /= 2)                            \
                    for (int i = 0; i < w; i++) lane[i] += lane[i + w];       \
                dw[c * ld_dw + j] += lane[0];                                 \
            }                                                                 \
    }

typedef void (*fastconv_weight_float_fn)(float *, ptrdiff_t, const float *,
                                         ptrdiff_t, ptrdiff_t, const float *,
                                         const ptrdiff_t *, ptrdiff_t, ptrdiff_t,
                                         ptrdiff_t, ptrdiff_t, ptrdiff_t);
typedef void (*fastconv_weight_double_fn)(double *, ptrdiff_t, const double *,
                                          ptrdiff_t, ptrdiff_t, const double *,
                                          const ptrdiff_t *, ptrdiff_t, ptrdiff_t,
                                          ptrdiff_t, ptrdiff_t, ptrdiff_t);

/* (input channel, tap) pairs per tile, at most this many in any version:
 * the fewest pairs a group must have. */
#define FASTCONV_WEIGHT_MAX_TERMS 6

typedef void (*fastconv_rows_float_fn)(float *, ptrdiff_t, const float *,
                                       const ptrdiff_t *, const float *,
                                       const ptrdiff_t *, ptrdiff_t, ptrdiff_t,
                                       ptrdiff_t);
typedef void (*fastconv_rows_double_fn)(double *, ptrdiff_t, const double *,
                                        const ptrdiff_t *, const double *,
                                        const ptrdiff_t *, ptrdiff_t, ptrdiff_t,
                                        ptrdiff_t);

typedef void (*fastconv_channels_float_fn)(float *, ptrdiff_t, ptrdiff_t,
                                           ptrdiff_t, const float *, ptrdiff_t,
                                           ptrdiff_t, const ptrdiff_t *,
                                           ptrdiff_t, const float *);
typedef void (*fastconv_channels_double_fn)(double *, ptrdiff_t, ptrdiff_t,
                                            ptrdiff_t, const double *,
                                            ptrdiff_t, ptrdiff_t,
                                            const ptrdiff_t *, ptrdiff_t,
                                            const double *);

/* Vectors per block (NV): as many accumulators as the registers hold beside
 * the NV operands, 4 x NV of them: 16 registers (SSE2, AVX2) take 2, AVX-512's
 * 32 take 6 (measured: 4 x 6 and 8 x 3 ran alike, 2 x 12 slower). */
FASTCONV_DEFINE_ROWS(fastconv_rows_float_base, float, 16, )
FASTCONV_DEFINE_ROWS(fastconv_rows_double_base, double, 16, )
FASTCONV_DEFINE_CHANNELS(fastconv_channels_float_base, float, 16, 2, )
FASTCONV_DEFINE_CHANNELS(fastconv_channels_double_base, double, 16, 2, )
FASTCONV_DEFINE_BANDS(fastconv_bands_float_base, float, 16, )
FASTCONV_DEFINE_BANDS(fastconv_bands_double_base, double, 16, )
/* Pairs per weight-gradient tile: 4 x NT accumulators beside 4 gradient
 * vectors and one input vector: 2 in 16 registers, 6 in AVX-512's 32. */
FASTCONV_DEFINE_WEIGHT(fastconv_weight_float_base, float, 16, 2, )
FASTCONV_DEFINE_WEIGHT(fastconv_weight_double_base, double, 16, 2, )

#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
#define FASTCONV_X86_DISPATCH 1
FASTCONV_DEFINE_ROWS(fastconv_rows_float_avx2, float, 32,
                     __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_ROWS(fastconv_rows_double_avx2, double, 32,
                     __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_ROWS(fastconv_rows_float_avx512, float, 64,
                     __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_ROWS(fastconv_rows_double_avx512, double, 64,
                     __attribute__((target("avx512f,avx2,fma"))))
/* A register-blocked kernel's AVX2 and AVX-512 versions, float and double:
 * NAME_float_avx2 ... NAME_double_avx512, with NV2 / NV512 as its block
 * parameter. */
#define FASTCONV_DEFINE_X86(DEFINE, NAME, NV2, NV512)                         \
    DEFINE(NAME##_float_avx2, float, 32, NV2,                                 \
           __attribute__((target("avx2,fma"))))                               \
    DEFINE(NAME##_double_avx2, double, 32, NV2,                               \
           __attribute__((target("avx2,fma"))))                               \
    DEFINE(NAME##_float_avx512, float, 64, NV512,                             \
           __attribute__((target("avx512f,avx2,fma"))))                       \
    DEFINE(NAME##_double_avx512, double, 64, NV512,                           \
           __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_X86(FASTCONV_DEFINE_CHANNELS, fastconv_channels, 2, 6)
FASTCONV_DEFINE_X86(FASTCONV_DEFINE_WEIGHT, fastconv_weight, 2, 6)
FASTCONV_DEFINE_BANDS(fastconv_bands_float_avx2, float, 32,
                      __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_BANDS(fastconv_bands_double_avx2, double, 32,
                      __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_BANDS(fastconv_bands_float_avx512, float, 64,
                      __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_BANDS(fastconv_bands_double_avx512, double, 64,
                      __attribute__((target("avx512f,avx2,fma"))))
#else
#define FASTCONV_X86_DISPATCH 0
#endif

static fastconv_rows_float_fn fastconv_rows_float = fastconv_rows_float_base;
static fastconv_rows_double_fn fastconv_rows_double = fastconv_rows_double_base;
static fastconv_channels_float_fn fastconv_channels_float = fastconv_channels_float_base;
static fastconv_channels_double_fn fastconv_channels_double =
    fastconv_channels_double_base;
static fastconv_bands_float_fn fastconv_bands_float = fastconv_bands_float_base;
static fastconv_bands_double_fn fastconv_bands_double = fastconv_bands_double_base;
static fastconv_weight_float_fn fastconv_weight_float = fastconv_weight_float_base;
static fastconv_weight_double_fn fastconv_weight_double = fastconv_weight_double_base;
/* Pairs per weight-gradient tile of the chosen version. */
static ptrdiff_t fastconv_weight_terms = 2;
/* Vector length in floats of the chosen version: the shortest run it takes. */
static ptrdiff_t fastconv_simd_floats = 4;
static const char *fastconv_simd_name = "baseline";

/* Whether this CPU runs version `name` ("baseline", "avx2", "avx512"). */
static int fastconv_simd_runs(const char *name)
{
    if (strcmp(name, "baseline") == 0)
        return 1;
#if FASTCONV_X86_DISPATCH
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    if (strcmp(name, "avx2") == 0)
        return 1;
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

/* Use version `name` if this CPU runs it: 0 on success, -1 otherwise.
 * Not thread-safe: at import, or in tests. */
static int fastconv_simd_select(const char *name)
{
    if (!fastconv_simd_runs(name))
        return -1;
    if (strcmp(name, "baseline") == 0) {
        fastconv_rows_float = fastconv_rows_float_base;
        fastconv_rows_double = fastconv_rows_double_base;
        fastconv_channels_float = fastconv_channels_float_base;
        fastconv_channels_double = fastconv_channels_double_base;
        fastconv_bands_float = fastconv_bands_float_base;
        fastconv_bands_double = fastconv_bands_double_base;
        fastconv_weight_float = fastconv_weight_float_base;
        fastconv_weight_double = fastconv_weight_double_base;
        fastconv_weight_terms = 2;
        fastconv_simd_floats = 4;
        fastconv_simd_name = "baseline";
    }
#if FASTCONV_X86_DISPATCH
    else if (strcmp(name, "avx2") == 0) {
        fastconv_rows_float = fastconv_rows_float_avx2;
        fastconv_rows_double = fastconv_rows_double_avx2;
        fastconv_channels_float = fastconv_channels_float_avx2;
        fastconv_channels_double = fastconv_channels_double_avx2;
        fastconv_bands_float = fastconv_bands_float_avx2;
        fastconv_bands_double = fastconv_bands_double_avx2;
        fastconv_weight_float = fastconv_weight_float_avx2;
        fastconv_weight_double = fastconv_weight_double_avx2;
        fastconv_weight_terms = 2;
        fastconv_simd_floats = 8;
        fastconv_simd_name = "avx2";
    } else {
        fastconv_rows_float = fastconv_rows_float_avx512;
        fastconv_rows_double = fastconv_rows_double_avx512;
        fastconv_channels_float = fastconv_channels_float_avx512;
        fastconv_channels_double = fastconv_channels_double_avx512;
        fastconv_bands_float = fastconv_bands_float_avx512;
        fastconv_bands_double = fastconv_bands_double_avx512;
        fastconv_weight_float = fastconv_weight_float_avx512;
        fastconv_weight_double = fastconv_weight_double_avx512;
        fastconv_weight_terms = 6;
        fastconv_simd_floats = 16;
        fastconv_simd_name = "avx512";
    }
#endif
    return 0;
}

/* The widest version this CPU runs; called once, at import. */
static void fastconv_simd_init(void)
{
    if (fastconv_simd_select("avx512") != 0 && fastconv_simd_select("avx2") != 0)
        fastconv_simd_select("baseline");
}

#else  /* no vector extensions: the caller never calls these */

static ptrdiff_t fastconv_simd_floats = 0;
static ptrdiff_t fastconv_weight_terms = 1;
#define FASTCONV_WEIGHT_MAX_TERMS 6
static const char *fastconv_simd_name = "none";
static int fastconv_simd_runs(const char *name) { return 0; }
static int fastconv_simd_select(const char *name) { return -1; }
static void fastconv_simd_init(void) {}
static void fastconv_rows_float(float *y, ptrdiff_t n_out, const float *x,
                                const ptrdiff_t *x_off, const float *w,
                                const ptrdiff_t *w_off, ptrdiff_t n_rows,
                                ptrdiff_t n_taps, ptrdiff_t tap_step) {}
static void fastconv_rows_double(double *y, ptrdiff_t n_out, const double *x,
                                 const ptrdiff_t *x_off, const double *w,
                                 const ptrdiff_t *w_off, ptrdiff_t n_rows,
                                 ptrdiff_t n_taps, ptrdiff_t tap_step) {}
static void fastconv_channels_float(float *y, ptrdiff_t ldy, ptrdiff_t n_pos,
                                    ptrdiff_t n_co, const float *x, ptrdiff_t ldx,
                                    ptrdiff_t n_ci, const ptrdiff_t *off,
                                    ptrdiff_t n_taps, const float *w) {}
static void fastconv_channels_double(double *y, ptrdiff_t ldy, ptrdiff_t n_pos,
                                     ptrdiff_t n_co, const double *x, ptrdiff_t ldx,
                                     ptrdiff_t n_ci, const ptrdiff_t *off,
                                     ptrdiff_t n_taps, const double *w) {}
#define FASTCONV_BAND_ROWS 4
static void fastconv_bands_float(float *y, ptrdiff_t ld, ptrdiff_t n_rows, const float *x,
                                 const ptrdiff_t *off, const ptrdiff_t *cnt,
                                 ptrdiff_t n_cls, const float *w) {}
static void fastconv_bands_double(double *y, ptrdiff_t ld, ptrdiff_t n_rows,
                                  const double *x, const ptrdiff_t *off,
                                  const ptrdiff_t *cnt, ptrdiff_t n_cls, const double *w) {}
static void fastconv_weight_float(float *dw, ptrdiff_t ld_dw, const float *g,
                                  ptrdiff_t ldg, ptrdiff_t n_pos, const float *x,
                                  const ptrdiff_t *off, ptrdiff_t n_seg,
                                  ptrdiff_t seg_g, ptrdiff_t seg_x, ptrdiff_t skip_c,
                                  ptrdiff_t skip_j) {}
static void fastconv_weight_double(double *dw, ptrdiff_t ld_dw, const double *g,
                                   ptrdiff_t ldg, ptrdiff_t n_pos, const double *x,
                                   const ptrdiff_t *off, ptrdiff_t n_seg,
                                   ptrdiff_t seg_g, ptrdiff_t seg_x, ptrdiff_t skip_c,
                                   ptrdiff_t skip_j) {}

#endif

#endif
