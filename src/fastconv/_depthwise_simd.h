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
 *   span[q*M + m]   how many x values from there the slot reads, at most
 *                   L for kinds 1, 2, 4 (one masked load: nothing past them
 *                   is touched, so runs reach the row ends)
 *   idx[(q*M + m)*L + l]   the lane's read, relative to base
 *   mask[(q*M + m)*L + l]  all ones where the lane has a tap, else zero
 *
 * and, per source row r of the output row, xr[r] (the x row) and wr[r] (its
 * kernel row's weights as w[(q*M + m)*L + l], zero where no tap).  One call
 * writes one output row, each value summed in the order r, then m, from
 * zero: in registers when there is one pattern, at most 8 terms and every
 * slot full or empty (FCN's layers), else term by term over the row, the
 * partial sums in the output row (in L1).  The caller has checked that
 * every read of the vectors [v_lo, v_hi) is inside the x rows; the others
 * (the row ends, the last partial vector) check lane by lane.
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
    float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const float *const *, const float *const *,
    ptrdiff_t, const int32_t *, const int32_t *, const ptrdiff_t *,
    const ptrdiff_t *, const unsigned char *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
    ptrdiff_t, ptrdiff_t);
typedef void (*fastconv_depthwise_double_fn)(
    double *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, const double *const *, const double *const *,
    ptrdiff_t, const int32_t *, const int64_t *, const ptrdiff_t *,
    const ptrdiff_t *, const unsigned char *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
    ptrdiff_t, ptrdiff_t);
typedef void (*fastconv_depthwise_combine_float_fn)(
    float *, ptrdiff_t, const float *const *, const float *, ptrdiff_t, ptrdiff_t,
    ptrdiff_t);
typedef void (*fastconv_depthwise_combine_double_fn)(
    double *, ptrdiff_t, const double *const *, const double *, ptrdiff_t, ptrdiff_t,
    ptrdiff_t);

#if FASTCONV_DEPTHWISE_SIMD

/* Lane-by-lane permute: the baseline version, and kind 3 in every one. */
#define FASTCONV_DW_GATHER(pv, xs, iq)                                        \
    for (int l = 0; l < L; l++) pv[l] = xs[iq[l]];

/* Baseline permute: lane by lane, reading only the lanes' values. */
#define FASTCONV_DW_PERMUTE_GATHER(pv, xs, iq, lo, hi)                        \
    for (int l = 0; l < L; l++)                                               \
        pv[l] = iq[l] >= (lo) && iq[l] < (hi) ? xs[iq[l]] : 0;

/* The vectors of one pattern of the run for one term (source row, slot):
 * LOAD sets pv; the first term stores, the others add to y. */
#define FASTCONV_DW_RUN(LOAD)                                                 \
    if (first) {                                                              \
        for (ptrdiff_t v = v0; v < v_hi; v += P) {                            \
            vec pv, acc = (vec){0};                                           \
            LOAD                                                              \
            acc += wm * pv;                                                   \
            *(vec_u *)yv = acc;                                               \
            xs += period_step;                                                \
            yv += P * L;                                                      \
        }                                                                     \
    } else {                                                                  \
        for (ptrdiff_t v = v0; v < v_hi; v += P) {                            \
            vec pv, acc = *(vec_u *)yv;                                       \
            LOAD                                                              \
            acc += wm * pv;                                                   \
            *(vec_u *)yv = acc;                                               \
            xs += period_step;                                                \
            yv += P * L;                                                      \
        }                                                                     \
    }

/* The run with NT terms (P == 1, full slots xt, slots mt) for G output
 * rows that read the same source rows (in the same order) through other
 * kernel rows, row g's weights wg[g][t]: the terms summed in registers in
 * term order (the same sums as the term-by-term loops), each permuted
 * vector shared by the G rows.  G == 1: one row. */
#define FASTCONV_DW_FUSED_ROWS(NT, G, PERMUTE)                                \
    {                                                                         \
        vec wv_[G][NT];                                                       \
        int32_t ib_[NT][L];                                                   \
        ptrdiff_t nb_[NT];                                                    \
        for (int t = 0; t < NT; t++) {                                        \
            memcpy(ib_[t], idx + mt[t] * L, sizeof(ib_[t]));                  \
            nb_[t] = span[mt[t]];                                             \
            for (int g = 0; g < G; g++)                                       \
                wv_[g][t] = *(const vec_u *)wg[g][t];                         \
        }                                                                     \
        ptrdiff_t v_full = v_hi;                                              \
        for (int t = 0; t < NT; t++) {                                        \
            const ptrdiff_t room = rt[t] - L;                                 \
            const ptrdiff_t last = room < 0 ? v_lo - 1                        \
                                            : v_lo + room / period_step;      \
            if (last + 1 < v_full)                                            \
                v_full = last + 1 < v_lo ? v_lo : last + 1;                   \
        }                                                                     \
        ptrdiff_t at = 0, v = v_lo;                                           \
        for (; v < v_full; v++) {                                             \
            vec acc[G];                                                       \
            for (int g = 0; g < G; g++)                                       \
                acc[g] = (vec){0};                                            \
            for (int t = 0; t < NT; t++) {                                    \
                vec pv;                                                       \
                const elem *xs = xt[t] + at;                                  \
                const int32_t *iq = ib_[t];                                   \
                PERMUTE(pv, xs, iq, 0, L)                                     \
                for (int g = 0; g < G; g++)                                   \
                    acc[g] += wv_[g][t] * pv;                                 \
            }                                                                 \
            for (int g = 0; g < G; g++)                                       \
                *(vec_u *)(y + g * y_step + v * L) = acc[g];                  \
            at += period_step;                                                \
        }                                                                     \
        for (; v < v_hi; v++) {                                               \
            vec acc[G];                                                       \
            for (int g = 0; g < G; g++)                                       \
                acc[g] = (vec){0};                                            \
            for (int t = 0; t < NT; t++) {                                    \
                vec pv;                                                       \
                const elem *xs = xt[t] + at;                                  \
                const int32_t *iq = ib_[t];                                   \
                PERMUTE(pv, xs, iq, 0, nb_[t])                                \
                for (int g = 0; g < G; g++)                                   \
                    acc[g] += wv_[g][t] * pv;                                 \
            }                                                                 \
            for (int g = 0; g < G; g++)                                       \
                *(vec_u *)(y + g * y_step + v * L) = acc[g];                  \
            at += period_step;                                                \
        }                                                                     \
        /* the vectors outside the run (and the last, partial one): the   \
         * reads outside the row skipped lane by lane, weight and value    \
         * masked alike, in the same term order */                            \
        const ptrdiff_t n_vec_ = (n_out + L - 1) / L;                         \
        for (v = 0; v < n_vec_; v++) {                                        \
            if (v == v_lo) {                                                  \
                v = v_hi - 1;                                                 \
                continue;                                                     \
            }                                                                 \
            vec acc[G];                                                       \
            for (int g = 0; g < G; g++)                                       \
                acc[g] = (vec){0};                                            \
            for (int t = 0; t < NT; t++) {                                    \
                const ptrdiff_t at_ = v * period_step + bt[t];                \
                const ptrdiff_t lo = at_ < 0 ? -at_ : 0;                      \
                const ptrdiff_t hi = nb_[t] < n_x - at_ ? nb_[t] : n_x - at_; \
                if (lo >= hi)                                                 \
                    continue;                                                 \
                vec pv;                                                       \
                const elem *xs = x0t[t] + at_;                                \
                const int32_t *iq = ib_[t];                                   \
                PERMUTE(pv, xs, iq, lo, hi)                                   \
                const ivec iv_ = __builtin_convertvector(                     \
                    *(const ivec32_u *)iq, ivec);                             \
                const ivec ok_ = (ivec)((iv_ >= (ielem)lo) & (iv_ < (ielem)hi)); \
                for (int g = 0; g < G; g++)                                   \
                    acc[g] += (vec)((ivec)wv_[g][t] & ok_) * pv;              \
            }                                                                 \
            for (int g = 0; g < G; g++) {                                     \
                if ((v + 1) * L <= n_out) {                                   \
                    *(vec_u *)(y + g * y_step + v * L) = acc[g];              \
                } else {                                                      \
                    elem last_[L];                                            \
                    *(vec_u *)last_ = acc[g];                                 \
                    memcpy(y + g * y_step + v * L, last_,                     \
                           (n_out - v * L) * sizeof(elem));                   \
                }                                                             \
            }                                                                 \
        }                                                                     \
    }

/* n_y output rows, y_step apart, reading the same source rows xr (in the
 * same order), row g through the weights wr[g * n_rows + r].  One pattern
 * (P == 1) and every slot full or empty: the terms summed in registers,
 * vector by vector (FASTCONV_DW_FUSED_ROWS), at most 8 for one row, 4 for
 * 2 to 4 rows together (the permutes shared); else one row at a time,
 * again here, then term by term (ROW). */
#define FASTCONV_DEFINE_DEPTHWISE_ROWS(NAME, ROW, T, IT, BYTES, PERMUTE, ATTR) \
    ATTR static void NAME(T *y, ptrdiff_t n_out, ptrdiff_t n_x,               \
                          ptrdiff_t v_lo, ptrdiff_t v_hi,                     \
                          const T *const *xr, const T *const *wr,             \
                          ptrdiff_t n_rows, const int32_t *idx,               \
                          const IT *mask, const ptrdiff_t *base,              \
                          const ptrdiff_t *span,                              \
                          const unsigned char *kind, ptrdiff_t P,             \
                          ptrdiff_t M, ptrdiff_t period_step,                 \
                          ptrdiff_t n_y, ptrdiff_t y_step)                    \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        typedef IT ivec __attribute__((vector_size(BYTES)));                  \
        typedef int32_t ivec32_u __attribute__((vector_size(BYTES * 4 / sizeof(T)), \
                                                aligned(4), may_alias));      \
        typedef T elem;                                                       \
        typedef IT ielem;                                                     \
        enum { L = BYTES / sizeof(T) };                                       \
        if (n_y <= 4 && P == 1 && v_hi > v_lo && n_rows * M <= (n_y == 1 ? 8 : 4)) { \
            const T *xt[8], *x0t[8], *wg[4][8];                               \
            ptrdiff_t mt[8], rt[8], bt[8];                                    \
            int nt = 0, full = 1;                                             \
            for (ptrdiff_t r = 0; r < n_rows; r++)                            \
                for (ptrdiff_t m = 0; m < M; m++) {                           \
                    if (kind[m] == 0)                                         \
                        continue;                                             \
                    full = full && (kind[m] == 2 || kind[m] == 4);            \
                    xt[nt] = xr[r] + v_lo * period_step + base[m];            \
                    rt[nt] = n_x - (v_lo * period_step + base[m]);            \
                    for (ptrdiff_t g = 0; g < n_y; g++)                       \
                        wg[g][nt] = wr[g * n_rows + r] + m * L;               \
                    mt[nt] = m;                                               \
                    x0t[nt] = xr[r];                                          \
                    bt[nt] = base[m];                                         \
                    nt++;                                                     \
                }                                                             \
            if (full && nt > 0) {                                             \
                switch (nt * 8 + n_y) {                                       \
                case 9: FASTCONV_DW_FUSED_ROWS(1, 1, PERMUTE) break;          \
                case 17: FASTCONV_DW_FUSED_ROWS(2, 1, PERMUTE) break;         \
                case 25: FASTCONV_DW_FUSED_ROWS(3, 1, PERMUTE) break;         \
                case 33: FASTCONV_DW_FUSED_ROWS(4, 1, PERMUTE) break;         \
                case 41: FASTCONV_DW_FUSED_ROWS(5, 1, PERMUTE) break;         \
                case 49: FASTCONV_DW_FUSED_ROWS(6, 1, PERMUTE) break;         \
                case 57: FASTCONV_DW_FUSED_ROWS(7, 1, PERMUTE) break;         \
                case 65: FASTCONV_DW_FUSED_ROWS(8, 1, PERMUTE) break;         \
                case 10: FASTCONV_DW_FUSED_ROWS(1, 2, PERMUTE) break;         \
                case 11: FASTCONV_DW_FUSED_ROWS(1, 3, PERMUTE) break;         \
                case 12: FASTCONV_DW_FUSED_ROWS(1, 4, PERMUTE) break;         \
                case 18: FASTCONV_DW_FUSED_ROWS(2, 2, PERMUTE) break;         \
                case 19: FASTCONV_DW_FUSED_ROWS(2, 3, PERMUTE) break;         \
                case 20: FASTCONV_DW_FUSED_ROWS(2, 4, PERMUTE) break;         \
                case 26: FASTCONV_DW_FUSED_ROWS(3, 2, PERMUTE) break;         \
                case 27: FASTCONV_DW_FUSED_ROWS(3, 3, PERMUTE) break;         \
                case 28: FASTCONV_DW_FUSED_ROWS(3, 4, PERMUTE) break;         \
                case 34: FASTCONV_DW_FUSED_ROWS(4, 2, PERMUTE) break;         \
                case 35: FASTCONV_DW_FUSED_ROWS(4, 3, PERMUTE) break;         \
                default: FASTCONV_DW_FUSED_ROWS(4, 4, PERMUTE) break;         \
                }                                                             \
                return;                                                       \
            }                                                                 \
        }                                                                     \
        for (ptrdiff_t g = 0; g < n_y; g++)                                   \
            if (n_y > 1)                                                      \
                NAME(y + g * y_step, n_out, n_x, v_lo, v_hi, xr, wr + g * n_rows, \
                     n_rows, idx, mask, base, span, kind, P, M, period_step, 1, \
                     y_step);                                                 \
            else                                                              \
                ROW(y, n_out, n_x, v_lo, v_hi, xr, wr, n_rows, idx, mask,     \
                    base, span, kind, P, M, period_step);                     \
    }

/* One output row of n_out values (its source rows n_x long), term by term
 * (the rows FASTCONV_DEFINE_DEPTHWISE_ROWS does not sum in registers):
 * the vectors [v_lo, v_hi) read inside the rows; the others (and the last, partial
 * one) skip the reads outside, lane by lane, masking weight and value
 * alike so that no inf * 0 is added.  PERMUTE(pv, xs, iq, lo, hi) sets
 * lane l of pv to xs[iq[l]] where lo <= iq[l] < hi, reading xs[lo:hi]
 * only (hi <= L), and to zero elsewhere. */
#define FASTCONV_DEFINE_DEPTHWISE(NAME, T, IT, BYTES, PERMUTE, ATTR)          \
    ATTR static void NAME(T *y, ptrdiff_t n_out, ptrdiff_t n_x,               \
                          ptrdiff_t v_lo, ptrdiff_t v_hi,                     \
                          const T *const *xr, const T *const *wr,             \
                          ptrdiff_t n_rows, const int32_t *idx,               \
                          const IT *mask, const ptrdiff_t *base,              \
                          const ptrdiff_t *span,                              \
                          const unsigned char *kind, ptrdiff_t P,             \
                          ptrdiff_t M, ptrdiff_t period_step)                 \
    {                                                                         \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        typedef IT ivec __attribute__((vector_size(BYTES)));                  \
        typedef IT ivec_u __attribute__((vector_size(BYTES),                  \
                                         aligned(sizeof(IT)), may_alias));    \
        typedef int32_t ivec32_u __attribute__((vector_size(BYTES * 4 / sizeof(T)), \
                                                aligned(4), may_alias));      \
        enum { L = BYTES / sizeof(T) };                                       \
        const ptrdiff_t run_lo = v_lo, run_hi = v_hi;                         \
        /* term by term (source row r, slot m), each over the run's vectors   \
         * of one pattern at a time; the partial sums stay in y, in L1 */    \
        if (n_rows == 0)                                                      \
            for (ptrdiff_t v = v_lo; v < v_hi; v++)                           \
                *(vec_u *)(y + v * L) = (vec){0};                             \
        /* v_base: the multiple of P at or below v_lo */                      \
        const ptrdiff_t v_rem = P == 1 ? 0 : v_lo % P, v_base = v_lo - v_rem; \
        for (ptrdiff_t r = 0; r < n_rows; r++) {                              \
            for (ptrdiff_t m = 0; m < M; m++) {                               \
                const int first = r == 0 && m == 0;                           \
                for (ptrdiff_t q = 0; q < P; q++) {                           \
                    /* the run's first vector of pattern q: v0 */             \
                    const ptrdiff_t qm = q * M + m;                           \
                    const ptrdiff_t v0 = v_base + q + (q < v_rem ? P : 0);    \
                    const T *xs = xr[r] + (v_base / P + (q < v_rem))          \
                                          * period_step + base[qm];           \
                    const int32_t *iq = idx + qm * L;                         \
                    const vec wm = *(const vec_u *)(wr[r] + qm * L);          \
                    const ivec keep = *(const ivec_u *)(mask + qm * L);       \
                    const ptrdiff_t n = span[qm];                             \
                    T *yv = y + v0 * L;                                       \
                    switch (kind[qm]) {                                       \
                    case 4: FASTCONV_DW_RUN(pv = *(const vec_u *)xs;) break;  \
                    case 2: FASTCONV_DW_RUN(PERMUTE(pv, xs, iq, 0, n)) break; \
                    case 1:                                                   \
                        FASTCONV_DW_RUN(PERMUTE(pv, xs, iq, 0, n)             \
                                        pv = (vec)((ivec)pv & keep);)         \
                        break;                                                \
                    case 3:                                                   \
                        FASTCONV_DW_RUN(FASTCONV_DW_GATHER(pv, xs, iq)        \
                                        pv = (vec)((ivec)pv & keep);)         \
                        break;                                                \
                    default: FASTCONV_DW_RUN(pv = (vec){0};) break;           \
                    }                                                         \
                }                                                             \
            }                                                                 \
        }                                                                     \
        const ptrdiff_t n_vec = (n_out + L - 1) / L;                          \
        for (ptrdiff_t v = 0; v < n_vec; v++) {                               \
            if (v == run_lo && run_hi > run_lo) {                             \
                v = run_hi - 1;                                               \
                continue;                                                     \
            }                                                                 \
            const ptrdiff_t qv = P == 1 ? 0 : v % P;                          \
            const ptrdiff_t offv = (P == 1 ? v : v / P) * period_step;        \
            vec acc = (vec){0};                                               \
            for (ptrdiff_t r = 0; r < n_rows; r++) {                          \
                const T *wq = wr[r] + qv * M * L;                             \
                for (ptrdiff_t m = 0; m < M; m++) {                           \
                    const ptrdiff_t qm = qv * M + m;                          \
                    if (kind[qm] == 0)                                        \
                        continue;                                             \
                    const ptrdiff_t at = offv + base[qm];                     \
                    const ptrdiff_t lo = at < 0 ? -at : 0;                    \
                    const ptrdiff_t hi = span[qm] < n_x - at ? span[qm] : n_x - at; \
                    if (lo >= hi)                                             \
                        continue;                                             \
                    const T *xs = xr[r] + at;                                 \
                    const int32_t *iq = idx + qm * L;                         \
                    if (lo == 0 && hi == span[qm] && kind[qm] != 3) {         \
                        /* every read of the slot inside the row */           \
                        vec pv;                                               \
                        PERMUTE(pv, xs, iq, 0, hi)                            \
                        if (kind[qm] == 1)                                    \
                            pv = (vec)((ivec)pv                               \
                                       & *(const ivec_u *)(mask + qm * L));   \
                        acc += *(const vec_u *)(wq + m * L) * pv;             \
                        continue;                                             \
                    }                                                         \
                    const ivec iv = __builtin_convertvector(                  \
                        *(const ivec32_u *)iq, ivec);                         \
                    const ivec ok = (ivec)((iv >= (IT)lo) & (iv < (IT)hi))    \
                                    & *(const ivec_u *)(mask + qm * L);       \
                    vec pv;                                                   \
                    if (kind[qm] == 3) {                                      \
                        for (int l = 0; l < L; l++)                           \
                            pv[l] = ok[l] ? xs[iq[l]] : 0;                    \
                    } else {                                                  \
                        PERMUTE(pv, xs, iq, lo, hi)                           \
                    }                                                         \
                    acc += (vec)(*(const ivec_u *)(wq + m * L) & ok)          \
                           * (vec)((ivec)pv & ok);                            \
                }                                                             \
            }                                                                 \
            if ((v + 1) * L <= n_out) {                                       \
                *(vec_u *)(y + v * L) = acc;                                  \
            } else {                                                          \
                T last[L];                                                    \
                *(vec_u *)last = acc;                                         \
                memcpy(y + v * L, last, (n_out - v * L) * sizeof(T));         \
            }                                                                 \
        }                                                                     \
    }

FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_base_row, float, int32_t, 16,
                          FASTCONV_DW_PERMUTE_GATHER, )
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_base_row, double, int64_t, 16,
                          FASTCONV_DW_PERMUTE_GATHER, )
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_float_base,
                               fastconv_depthwise_float_base_row, float, int32_t, 16,
                               FASTCONV_DW_PERMUTE_GATHER, )
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_double_base,
                               fastconv_depthwise_double_base_row, double, int64_t, 16,
                               FASTCONV_DW_PERMUTE_GATHER, )

/* The separable form's output rows (_depthwise.pyx: weights a[kernel row]
 * x b[tap along W]), n_y rows y_step apart reading the same source rows:
 * row g is y[j] = sum over r of a[g * n_rows + r] * h[r][j], h[r] the W
 * pass of the r-th source row through b, summed from zero in the order r;
 * NR terms with their factors in registers. */
#define FASTCONV_DW_COMBINE(NR)                                               \
    {                                                                         \
        vec a_[NR];                                                           \
        const elem *h_[NR];                                                   \
        for (int r = 0; r < NR; r++) {                                        \
            a_[r] = (vec){0} + a[r];                                          \
            h_[r] = h[r];                                                     \
        }                                                                     \
        for (; j + L <= n; j += L) {                                          \
            vec acc = (vec){0};                                               \
            for (int r = 0; r < NR; r++)                                      \
                acc += a_[r] * *(const vec_u *)(h_[r] + j);                   \
            *(vec_u *)(y + j) = acc;                                          \
        }                                                                     \
    }

#define FASTCONV_DEFINE_DEPTHWISE_COMBINE(NAME, T, BYTES, ATTR)               \
    ATTR static void NAME(T *y, ptrdiff_t n, const T *const *h, const T *a,   \
                          ptrdiff_t n_rows, ptrdiff_t n_y, ptrdiff_t y_step)  \
    {                                                                         \
        typedef T elem;                                                       \
        typedef T vec __attribute__((vector_size(BYTES)));                    \
        typedef T vec_u __attribute__((vector_size(BYTES), aligned(sizeof(T)), \
                                       may_alias));                           \
        enum { L = BYTES / sizeof(T) };                                       \
        for (ptrdiff_t g = 0; g < n_y; g++, y += y_step, a += n_rows) {      \
            ptrdiff_t j = 0;                                                  \
            switch (n_rows) {                                                 \
            case 1: FASTCONV_DW_COMBINE(1) break;                             \
            case 2: FASTCONV_DW_COMBINE(2) break;                             \
            case 3: FASTCONV_DW_COMBINE(3) break;                             \
            case 4: FASTCONV_DW_COMBINE(4) break;                             \
            default:                                                          \
                for (; j + L <= n; j += L) {                                  \
                    vec acc = (vec){0};                                       \
                    for (ptrdiff_t r = 0; r < n_rows; r++)                    \
                        acc += ((vec){0} + a[r]) * *(const vec_u *)(h[r] + j); \
                    *(vec_u *)(y + j) = acc;                                  \
                }                                                             \
            }                                                                 \
            for (; j < n; j++) {   /* the last, partial vector */             \
                T acc = 0;                                                    \
                for (ptrdiff_t r = 0; r < n_rows; r++)                        \
                    acc += a[r] * h[r][j];                                    \
                y[j] = acc;                                                   \
            }                                                                 \
        }                                                                     \
    }

FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_float_base, float, 16, )
FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_double_base, double, 16, )

#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
#define FASTCONV_DW_X86 1
#include <immintrin.h>

/* lanes [lo, hi) of a vector, as a load mask */
#define FASTCONV_DW_LANES_8(lo, hi)                                           \
    _mm256_and_si256(                                                         \
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(hi)), iota8),              \
        _mm256_cmpgt_epi32(iota8, _mm256_set1_epi32((int)(lo) - 1)))
#define FASTCONV_DW_PERMUTE_F8(pv, xs, iq, lo, hi)                            \
    {                                                                         \
        const __m256i iota8 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);      \
        pv = (vec)_mm256_permutevar8x32_ps(                                   \
            _mm256_maskload_ps(xs, FASTCONV_DW_LANES_8(lo, hi)),              \
            _mm256_loadu_si256((const __m256i *)iq));                         \
    }
/* doubles as pairs of floats: lane l takes float lanes 2 iq[l], 2 iq[l] + 1 */
#define FASTCONV_DW_PERMUTE_D4(pv, xs, iq, lo, hi)                            \
    {                                                                         \
        const __m256i iota4 = _mm256_setr_epi64x(0, 1, 2, 3);                 \
        __m256i lo2 = _mm256_slli_epi64(                                      \
            _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)iq)), 1);  \
        __m256i hi2 = _mm256_slli_epi64(                                      \
            _mm256_add_epi64(lo2, _mm256_set1_epi64x(1)), 32);                \
        __m256i in = _mm256_and_si256(                                        \
            _mm256_cmpgt_epi64(_mm256_set1_epi64x(hi), iota4),                \
            _mm256_cmpgt_epi64(iota4, _mm256_set1_epi64x((lo) - 1)));         \
        __m256d xv = _mm256_maskload_pd(xs, in);                              \
        pv = (vec)_mm256_castps_pd(_mm256_permutevar8x32_ps(                  \
            _mm256_castpd_ps(xv), _mm256_or_si256(lo2, hi2)));                \
    }
#define FASTCONV_DW_PERMUTE_F16(pv, xs, iq, lo, hi)                           \
    pv = (vec)_mm512_permutexvar_ps(                                          \
        _mm512_loadu_si512((const void *)iq),                                 \
        _mm512_maskz_loadu_ps((__mmask16)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)), xs));
#define FASTCONV_DW_PERMUTE_D8(pv, xs, iq, lo, hi)                            \
    pv = (vec)_mm512_permutexvar_pd(                                          \
        _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)iq)),       \
        _mm512_maskz_loadu_pd((__mmask8)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)), xs));

FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_avx2_row, float, int32_t, 32,
                          FASTCONV_DW_PERMUTE_F8,
                          __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_avx2_row, double, int64_t, 32,
                          FASTCONV_DW_PERMUTE_D4,
                          __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_float_avx512_row, float, int32_t, 64,
                          FASTCONV_DW_PERMUTE_F16,
                          __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE(fastconv_depthwise_double_avx512_row, double, int64_t, 64,
                          FASTCONV_DW_PERMUTE_D8,
                          __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_float_avx2,
                               fastconv_depthwise_float_avx2_row, float, int32_t, 32,
                               FASTCONV_DW_PERMUTE_F8,
                               __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_double_avx2,
                               fastconv_depthwise_double_avx2_row, double, int64_t, 32,
                               FASTCONV_DW_PERMUTE_D4,
                               __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_float_avx512,
                               fastconv_depthwise_float_avx512_row, float, int32_t, 64,
                               FASTCONV_DW_PERMUTE_F16,
                               __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_ROWS(fastconv_depthwise_double_avx512,
                               fastconv_depthwise_double_avx512_row, double, int64_t, 64,
                               FASTCONV_DW_PERMUTE_D8,
                               __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_float_avx2, float, 32,
                                  __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_double_avx2, double, 32,
                                  __attribute__((target("avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_float_avx512, float, 64,
                                  __attribute__((target("avx512f,avx2,fma"))))
FASTCONV_DEFINE_DEPTHWISE_COMBINE(fastconv_depthwise_combine_double_avx512, double, 64,
                                  __attribute__((target("avx512f,avx2,fma"))))
#else
#define FASTCONV_DW_X86 0
#endif

static fastconv_depthwise_float_fn fastconv_depthwise_float =
    fastconv_depthwise_float_base;
static fastconv_depthwise_double_fn fastconv_depthwise_double =
    fastconv_depthwise_double_base;
static fastconv_depthwise_combine_float_fn fastconv_depthwise_combine_float =
    fastconv_depthwise_combine_float_base;
static fastconv_depthwise_combine_double_fn fastconv_depthwise_combine_double =
    fastconv_depthwise_combine_double_base;
/* Vector width of the chosen version, in bytes. */
static ptrdiff_t fastconv_depthwise_bytes = 16;

#define FASTCONV_DW_USE(VERSION, BYTES)                                       \
    {                                                                         \
        fastconv_depthwise_float = fastconv_depthwise_float_##VERSION;        \
        fastconv_depthwise_double = fastconv_depthwise_double_##VERSION;      \
        fastconv_depthwise_combine_float = fastconv_depthwise_combine_float_##VERSION; \
        fastconv_depthwise_combine_double = fastconv_depthwise_combine_double_##VERSION; \
        fastconv_depthwise_bytes = BYTES;                                     \
        return 0;                                                             \
    }

/* Use version `name` ("baseline", "avx2", "avx512"); the caller
 * (_direct.use_simd) has checked that this CPU runs it.  0 on success. */
static int fastconv_depthwise_select(const char *name)
{
    if (strcmp(name, "baseline") == 0)
        FASTCONV_DW_USE(base, 16)
#if FASTCONV_DW_X86
    if (strcmp(name, "avx2") == 0)
        FASTCONV_DW_USE(avx2, 32)
    if (strcmp(name, "avx512") == 0)
        FASTCONV_DW_USE(avx512, 64)
#endif
    return -1;
}

#else  /* no vector extensions: the caller never calls these */

static ptrdiff_t fastconv_depthwise_bytes = 0;
static int fastconv_depthwise_select(const char *name) { return -1; }
static void fastconv_depthwise_float(
    float *y, ptrdiff_t n_out, ptrdiff_t n_x, ptrdiff_t v_lo, ptrdiff_t v_hi, const float *const *xr,
    const float *const *wr, ptrdiff_t n_rows, const int32_t *idx,
    const int32_t *mask, const ptrdiff_t *base, const ptrdiff_t *span,
    const unsigned char *kind, ptrdiff_t P, ptrdiff_t M, ptrdiff_t period_step,
    ptrdiff_t n_y, ptrdiff_t y_step) {}
static void fastconv_depthwise_double(
    double *y, ptrdiff_t n_out, ptrdiff_t n_x, ptrdiff_t v_lo, ptrdiff_t v_hi, const double *const *xr,
    const double *const *wr, ptrdiff_t n_rows, const int32_t *idx,
    const int64_t *mask, const ptrdiff_t *base, const ptrdiff_t *span,
    const unsigned char *kind, ptrdiff_t P, ptrdiff_t M, ptrdiff_t period_step,
    ptrdiff_t n_y, ptrdiff_t y_step) {}
static void fastconv_depthwise_combine_float(float *y, ptrdiff_t n, const float *const *h,
                                             const float *a, ptrdiff_t n_rows,
                                             ptrdiff_t n_y, ptrdiff_t y_step) {}
static void fastconv_depthwise_combine_double(double *y, ptrdiff_t n, const double *const *h,
                                              const double *a, ptrdiff_t n_rows,
                                              ptrdiff_t n_y, ptrdiff_t y_step) {}

#endif

/* The kernels for either dtype, by element size (4: float, 8: double): the
 * one declaration _depthwise.pyx calls. */
static void fastconv_depthwise_rows(
    ptrdiff_t itemsize, void *y, ptrdiff_t n_out, ptrdiff_t n_x, ptrdiff_t v_lo,
    ptrdiff_t v_hi, const void *const *xr, const void *const *wr, ptrdiff_t n_rows,
    const int32_t *idx, const void *mask, const ptrdiff_t *base, const ptrdiff_t *span,
    const unsigned char *kind, ptrdiff_t P, ptrdiff_t M, ptrdiff_t period_step,
    ptrdiff_t n_y, ptrdiff_t y_step)
{
    if (itemsize == 4)
        fastconv_depthwise_float((float *)y, n_out, n_x, v_lo, v_hi,
                                 (const float *const *)xr, (const float *const *)wr,
                                 n_rows, idx, (const int32_t *)mask, base, span, kind,
                                 P, M, period_step, n_y, y_step);
    else
        fastconv_depthwise_double((double *)y, n_out, n_x, v_lo, v_hi,
                                  (const double *const *)xr, (const double *const *)wr,
                                  n_rows, idx, (const int64_t *)mask, base, span, kind,
                                  P, M, period_step, n_y, y_step);
}

static void fastconv_depthwise_combine(ptrdiff_t itemsize, void *y, ptrdiff_t n,
                                       const void *const *h, const void *a,
                                       ptrdiff_t n_rows, ptrdiff_t n_y, ptrdiff_t y_step)
{
    if (itemsize == 4)
        fastconv_depthwise_combine_float((float *)y, n, (const float *const *)h,
                                         (const float *)a, n_rows, n_y, y_step);
    else
        fastconv_depthwise_combine_double((double *)y, n, (const double *const *)h,
                                          (const double *)a, n_rows, n_y, y_step);
}

#endif
