/* The vectorised row kernel of the depthwise transposed convolution
 * (_depthwise.pyx): one input channel per output channel, so each output
 * gathers few terms and the work is writing the output.
 *
 * Along W an output j reads x[(j + p - t*d) / s] through tap t when s
 * divides j + p - t*d.  Vectors of L outputs start at multiples of L, so the
 * taps and offsets of a vector depend only on q = v mod P, P = s / gcd(s, L)
 * (its pattern); per pattern, "slot" m is each lane's m-th valid tap
 * (ascending).  For pattern q and slot m the caller's tables give
 *
 *   kind[q*M + m]   0: no lane has a tap; 1: some lanes do (the others are
 *                   masked to zero, so an inf input adds no NaN); 2: every
 *                   lane does; 3: the lanes read further apart than one
 *                   vector: gathered lane by lane (masked as 1);
 *                   4: every lane does and lane l reads base + l
 *   base[q*M + m]   x offset of the slot's first lane read (vector v of
 *                   pattern q reads from (v / P) * period_step + base)
 *   idx[(q*M + m)*L + l]   the lane's read, relative to base
 *   mask[(q*M + m)*L + l]  all ones where the lane has a tap, else zero
 *
 * and, per source row r of the output row, xr[r] (the x row) and wr[r] (its
 * kernel row's weights as w[(q*M + m)*L + l], zero where no tap).  One call
 * writes the vectors [v_lo, v_hi) of one output row, each summed in the
 * order r, then m, from zero, and stores it once.  The caller has checked
 * that every read of these vectors is inside the x rows.
 *
 * Versions as in _direct_simd.h: SSE2-width baseline (lane-by-lane
 * permutes), AVX2 (vpermps) and AVX-512 (vpermps / vpermpd zmm), picked at
 * run time; no -march flag.
 */

#ifndef FASTCONV_DEPTHWISE_SIMD_H
#define FASTCONV_DEPTHWISE_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FASTCONV_DEPTHWISE_SIMD 1
#else
#define FASTCONV_DEPTHWISE_SIMD 0
#endif

typedef void (*fastconv_depthwise_float_fn)(
    float *, ptrdiff_t, ptrdiff_t, const float *const *, const float *const *,
    ptrdiff_t, const int32_t *, const int32_t *, const ptrdiff_t *,
    const unsigned char *, ptrdiff_t, ptrdiff_t, ptrdiff_t);
typedef void (*fastconv_depthwise_double_fn)(
    double *, ptrdiff_t, ptrdiff_t, const double *const *, const double *const *,
    ptrdiff_t, const int32_t *, const int64_t *, const ptrdiff_t *,
    const unsigned char *, ptrdiff_t, ptrdiff_t, ptrdiff_t);

#if FASTCONV_DEPTHWISE_SIMD

/* Lane-by-lane permute: the baseline version, and kind 3 in every one. */
#define FASTCONV_DW_GATHER(pv, xs, iq)                                        \
    for (int l = 0; l < L; l++) pv[l] = xs[iq[l]];

#define FASTCONV_DW_PERMUTE_GATHER(pv, xs, iq) FASTCONV_DW_GATHER(pv, xs, iq)

/* One output row's vectors [v_lo, v_hi); PERMUTE(pv, xs, iq) sets vector pv
 * to xs[iq[l]] per lane, with every iq[l] < L. */
#define FASTCONV_DEFINE_DEPTHWISE(NAME, T, IT, BYTES, PERMUTE, ATTR)          \
    ATTR static void NAME(T *y, ptrdiff_t v_lo, ptrdiff_t v_hi,               \
                          const T *const *xr, const T *const *wr,             \
                          ptrdiff_t n_rows, const int32_t *idx,               \
                          const IT *mask, const ptrdiff_t *base,              \
                          const unsigned char *kind, ptrdiff_t P,             \
                          ptrdiff_t M, ptrdiff_t period_step)                 \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        typedef IT ivec __attribute__((vector_size(BYTES)));                  \
        typedef IT ivec_u __attribute__((vector_size(BYTES),                  \
                                         aligned(sizeof(IT)), may_alias));    \
        enum { L = BYTES / sizeof(T) };                                       \
        ptrdiff_t q = v_lo % P, off = v_lo / P * period_step;                 \
        for (ptrdiff_t v = v_lo; v < v_hi; v++) {                             \
            vec acc = (vec){0};                                               \
            for (ptrdiff_t r = 0; r < n_rows; r++) {                          \
                const T *xrow = xr[r] + off;                                  \
                const T *wq = wr[r] + q * M * L;                              \
                for (ptrdiff_t m = 0; m < M; m++) {                           \
                    const ptrdiff_t qm = q * M + m;                           \
                    const int k = kind[qm];                                   \
                    const T *xs = xrow + base[qm];                            \
                    const int32_t *iq = idx + qm * L;                         \
                    vec pv;                                                   \
                    if (k == 4) {                                             \
                        pv = *(const vec_u *)xs;                              \
                    } else if (k == 2) {                                      \
                        PERMUTE(pv, xs, iq)                                   \
                    } else if (k == 0) {                                      \
                        continue;                                             \
                    } else {                                                  \
                        if (k == 1) {                                         \
                            PERMUTE(pv, xs, iq)                               \
                        } else {                                              \
                            FASTCONV_DW_GATHER(pv, xs, iq)                    \
                        }                                                     \
                        pv = (vec)((ivec)pv & *(const ivec_u *)(mask + qm * L)); \
                    }                                                         \
                    acc += *(const vec_u *)(wq + m * L) * pv;                 \
                }                                                             \
            }                                                                 \
            *(vec_u *)(y + v * L) = acc;                                      \
            if (++q == P) {                                                   \
                q = 0;                                                        \
                off += period_step;                                           \
            }                                                                 \
        }                                                                     \
    }

FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_base, float, int32_t, 16,
                          FASTCONV_DW_PERMUTE_GATHER, )
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_base, double, int64_t, 16,
                          FASTCONV_DW_PERMUTE_GATHER, )

#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
#define FASTCONV_DW_X86 1
#include <immintrin.h>

#define FASTCONV_DW_PERMUTE_F8(pv, xs, iq)                                    \
    pv = (vec)_mm256_permutevar8x32_ps(_mm256_loadu_ps(xs),                   \
                                       _mm256_loadu_si256((const __m256i *)iq));
/* doubles as pairs of floats: lane l takes float lanes 2 iq[l], 2 iq[l] + 1 */
#define FASTCONV_DW_PERMUTE_D4(pv, xs, iq)                                    \
    {                                                                         \
        __m256i lo = _mm256_slli_epi64(                                       \
            _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)iq)), 1);  \
        __m256i hi = _mm256_slli_epi64(                                       \
            _mm256_add_epi64(lo, _mm256_set1_epi64x(1)), 32);                 \
        pv = (vec)_mm256_castps_pd(_mm256_permutevar8x32_ps(                  \
            _mm256_castpd_ps(_mm256_loadu_pd(xs)), _mm256_or_si256(lo, hi))); \
    }
#define FASTCONV_DW_PERMUTE_F16(pv, xs, iq)                                   \
    pv = (vec)_mm512_permutexvar_ps(_mm512_loadu_si512((const void *)iq),     \
                                    _mm512_loadu_ps(xs));
#define FASTCONV_DW_PERMUTE_D8(pv, xs, iq)                                    \
    pv = (vec)_mm512_permutexvar_pd(                                          \
        _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)iq)),       \
        _mm512_loadu_pd(xs));

FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_avx2, float, int32_t, 32,
                          FASTCONV_DW_PERMUTE_F8,
                          __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_avx2, double, int64_t, 32,
                          FASTCONV_DW_PERMUTE_D4,
                          __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_avx512, float, int32_t, 64,
                          FASTCONV_DW_PERMUTE_F16,
                          __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_avx512, double, int64_t, 64,
                          FASTCONV_DW_PERMUTE_D8,
                          __attribute__((target("avx512f,avx2,fma"))))
#else
#define FASTCONV_DW_X86 0
#endif

static fastconv_depthwise_float_fn fastconv_depthwise_float =
    fastconv_depthwise_float_base;
static fastconv_depthwise_double_fn fastconv_depthwise_double =
    fastconv_depthwise_double_base;
/* Vector width of the chosen version, in bytes. */
static ptrdiff_t fastconv_depthwise_bytes = 16;

/* Use version `name` ("baseline", "avx2", "avx512"); the caller
 * (_direct.use_simd) has checked that this CPU runs it.  0 on success. */
static int fastconv_depthwise_select(const char *name)
{
    if (strcmp(name, "baseline") == 0) {
        fastconv_depthwise_float = fastconv_depthwise_float_base;
        fastconv_depthwise_double = fastconv_depthwise_double_base;
        fastconv_depthwise_bytes = 16;
        return 0;
    }
#if FASTCONV_DW_X86
    if (strcmp(name, "avx2") == 0) {
        fastconv_depthwise_float = fastconv_depthwise_float_avx2;
        fastconv_depthwise_double = fastconv_depthwise_double_avx2;
        fastconv_depthwise_bytes = 32;
        return 0;
    }
    if (strcmp(name, "avx512") == 0) {
        fastconv_depthwise_float = fastconv_depthwise_float_avx512;
        fastconv_depthwise_double = fastconv_depthwise_double_avx512;
        fastconv_depthwise_bytes = 64;
        return 0;
    }
#endif
    return -1;
}

#else  /* no vector extensions: the caller never calls these */

static ptrdiff_t fastconv_depthwise_bytes = 0;
static int fastconv_depthwise_select(const char *name) { return -1; }
static void fastconv_depthwise_float(
    float *y, ptrdiff_t v_lo, ptrdiff_t v_hi, const float *const *xr,
    const float *const *wr, ptrdiff_t n_rows, const int32_t *idx,
    const int32_t *mask, const ptrdiff_t *base, const unsigned char *kind,
    ptrdiff_t P, ptrdiff_t M, ptrdiff_t period_step) {}
static void fastconv_depthwise_double(
    double *y, ptrdiff_t v_lo, ptrdiff_t v_hi, const double *const *xr,
    const double *const *wr, ptrdiff_t n_rows, const int32_t *idx,
    const int64_t *mask, const ptrdiff_t *base, const unsigned char *kind,
    ptrdiff_t P, ptrdiff_t M, ptrdiff_t period_step) {}

#endif

#endif
