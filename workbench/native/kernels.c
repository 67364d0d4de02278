/* Small-map convolution kernels for the CPU search step (see workbench/native/__init__.py).
 *
 * Every tensor is float32, contiguous, channels-last: a (B, C, H, W) activation is stored as (B, H, W, C), so a
 * pixel's channels are adjacent and the loops below vectorise over channels with GCC/Clang vector extensions
 * (8 floats: one AVX register, two NEON ones). Two convolutions, forward and both gradients:
 *
 *   grouped pointwise (1x1, groups E, Ci -> Co channels per group):
 *       y[n, e, o] = sum_c x[n, e, c] * w[e, c, o]
 *       dx[n, e, c] = sum_o g[n, e, o] * w[e, c, o]      (the forward with the weight (E, Co, Ci))
 *       dw[e, c, o] = sum_n x[n, e, c] * g[n, e, o]
 *   depthwise, stride (sh, sw), zero padding (ph, pw), dilation (dh, dl); with u = p sh + i dh - ph and
 *   v = q sw + j dl - pw (taps outside the map read zeros and are skipped):
 *       y[b, p, q, c] = sum_{i, j} w[i, j, c] * x[b, u, v, c]
 *       dx[b, u, v, c] += w[i, j, c] * g[b, p, q, c]    (stride 1 and "same" padding: the forward, kernel flipped)
 *       dw[i, j, c] = sum_{b, p, q} g[b, p, q, c] * x[b, u, v, c]
 *
 * Every sum runs in a fixed order, on one thread: results do not depend on timing or the machine's load.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32), aligned(4))); /* aligned(4): unaligned loads and stores */

#define V8_SPLAT(s) ((v8){(s), (s), (s), (s), (s), (s), (s), (s)})

/* ---------------------------------------------------------------- grouped pointwise */

/* Q = Co / 8 output blocks, kept in registers across the input channels. */
#define PW_FWD(Q)                                                                                          \
    static void pw_fwd_q##Q(const float *restrict x, const float *restrict w, float *restrict y, int64_t N,  \
                            int64_t E, int64_t Ci) {                                                         \
        const int64_t Co = 8 * Q;                                                                            \
        for (int64_t n = 0; n < N; ++n)                                                                      \
            for (int64_t e = 0; e < E; ++e) {                                                                \
                const float *xe = x + (n * E + e) * Ci, *we = w + e * Ci * Co;                               \
                v8 a[Q];                                                                                     \
                for (int q = 0; q < Q; ++q) a[q] = V8_SPLAT(0.0f);                                           \
                for (int64_t c = 0; c < Ci; ++c) {                                                           \
                    const v8 s = V8_SPLAT(xe[c]);                                                            \
                    const float *wr = we + c * Co;                                                           \
                    for (int q = 0; q < Q; ++q) a[q] += s * *(const v8 *)(wr + 8 * q);                       \
                }                                                                                            \
                float *o = y + (n * E + e) * Co;                                                             \
                for (int q = 0; q < Q; ++q) *(v8 *)(o + 8 * q) = a[q];                                       \
            }                                                                                                \
    }
PW_FWD(1)
PW_FWD(2)
PW_FWD(3)
PW_FWD(4)
PW_FWD(5)
PW_FWD(6)
PW_FWD(7)
PW_FWD(8)

/* x: (N, E, Ci); w: (E, Ci, Co); y: (N, E, Co). Co must be 8, 16, ..., 64. Returns 0, or -1 if refused. */
static int pw_forward_eco(const float *x, const float *w, float *y, int64_t N, int64_t E, int64_t Ci, int64_t Co) {
    switch (Co) {
    case 8: pw_fwd_q1(x, w, y, N, E, Ci); return 0;
    case 16: pw_fwd_q2(x, w, y, N, E, Ci); return 0;
    case 24: pw_fwd_q3(x, w, y, N, E, Ci); return 0;
    case 32: pw_fwd_q4(x, w, y, N, E, Ci); return 0;
    case 40: pw_fwd_q5(x, w, y, N, E, Ci); return 0;
    case 48: pw_fwd_q6(x, w, y, N, E, Ci); return 0;
    case 56: pw_fwd_q7(x, w, y, N, E, Ci); return 0;
    case 64: pw_fwd_q8(x, w, y, N, E, Ci); return 0;
    default: return -1;
    }
}

/* dw (E, Ci, Co) = sum_n x[n, e, c] g[n, e, o]; x: (N, E, Ci), g: (N, E, Co); Co a multiple of 8. */
static int pw_weight_grad_eco(const float *restrict x, const float *restrict g, float *restrict dw, int64_t N, int64_t E,
                   int64_t Ci, int64_t Co) {
    if (Co % 8) return -1;
    for (int64_t e = 0; e < E; ++e)
        for (int64_t o = 0; o < Co; o += 8)
            for (int64_t c0 = 0; c0 < Ci; c0 += 8) {
                const int64_t cn = Ci - c0 < 8 ? Ci - c0 : 8;
                v8 a[8];
                for (int k = 0; k < 8; ++k) a[k] = V8_SPLAT(0.0f);
                if (cn == 8) {
                    for (int64_t n = 0; n < N; ++n) {
                        const v8 gv = *(const v8 *)(g + (n * E + e) * Co + o);
                        const float *xe = x + (n * E + e) * Ci + c0;
                        for (int k = 0; k < 8; ++k) a[k] += xe[k] * gv;
                    }
                } else {
                    for (int64_t n = 0; n < N; ++n) {
                        const v8 gv = *(const v8 *)(g + (n * E + e) * Co + o);
                        const float *xe = x + (n * E + e) * Ci + c0;
                        for (int64_t k = 0; k < cn; ++k) a[k] += xe[k] * gv;
                    }
                }
                for (int64_t k = 0; k < cn; ++k) *(v8 *)(dw + (e * Ci + c0 + k) * Co + o) = a[k];
            }
    return 0;
}

/* ---------------------------------------------------------------- depthwise */

/* The kernel taps [*i0, *i1) that land inside a map of side `size` for output position p (input p*s - pad + i*d). */
static inline void valid_taps(int64_t p, int64_t s, int64_t pad, int64_t d, int64_t k, int64_t size, int64_t *i0,
                              int64_t *i1) {
    const int64_t first = p * s - pad, end = size - first; /* tap i is inside iff 0 <= first + i*d < size */
    *i0 = first < 0 ? (-first + d - 1) / d : 0;
    *i1 = end <= 0 ? 0 : ((end + d - 1) / d < k ? (end + d - 1) / d : k);
}

/* x: (B, H, W, C); w: (kh, kw, C); y: (B, Ho, Wo, C). C a multiple of 8. */
static int dw_forward_hwc(const float *restrict x, const float *restrict w, float *restrict y, int64_t B, int64_t H,
               int64_t W, int64_t C, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
               int64_t dh, int64_t dl, int64_t Ho, int64_t Wo) {
    if (C % 8) return -1;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < Ho; ++p) {
            int64_t i0, i1;
            valid_taps(p, sh, ph, dh, kh, H, &i0, &i1);
            for (int64_t q = 0; q < Wo; ++q) {
                int64_t j0, j1;
                valid_taps(q, sw, pw, dl, kw, W, &j0, &j1);
                float *o = y + ((b * Ho + p) * Wo + q) * C;
                const float *x0 = x + ((b * H + p * sh - ph) * W + q * sw - pw) * C;
                if (q + 3 < Wo && q * sw - pw >= 0 && (q + 3) * sw - pw + (kw - 1) * dl < W) {
                    /* four outputs whose taps are all inside the row: each weight vector loaded once for the four */
                    const int64_t step = sw * C;
                    for (int64_t c = 0; c < C; c += 8) {
                        v8 a0 = V8_SPLAT(0.0f), a1 = a0, a2 = a0, a3 = a0;
                        for (int64_t i = i0; i < i1; ++i) {
                            const float *xr = x0 + i * dh * W * C + c, *wr = w + i * kw * C + c;
                            for (int64_t j = 0; j < kw; ++j) {
                                const v8 wv = *(const v8 *)(wr + j * C);
                                const float *xj = xr + j * dl * C;
                                a0 += *(const v8 *)(xj) * wv;
                                a1 += *(const v8 *)(xj + step) * wv;
                                a2 += *(const v8 *)(xj + 2 * step) * wv;
                                a3 += *(const v8 *)(xj + 3 * step) * wv;
                            }
                        }
                        *(v8 *)(o + c) = a0;
                        *(v8 *)(o + C + c) = a1;
                        *(v8 *)(o + 2 * C + c) = a2;
                        *(v8 *)(o + 3 * C + c) = a3;
                    }
                    q += 3;
                    continue;
                }
                int64_t c = 0;
                for (; c + 16 <= C; c += 16) {
                    v8 a0 = V8_SPLAT(0.0f), a1 = V8_SPLAT(0.0f);
                    for (int64_t i = i0; i < i1; ++i) {
                        const float *xr = x0 + i * dh * W * C + c, *wr = w + i * kw * C + c;
                        for (int64_t j = j0; j < j1; ++j) {
                            a0 += *(const v8 *)(xr + j * dl * C) * *(const v8 *)(wr + j * C);
                            a1 += *(const v8 *)(xr + j * dl * C + 8) * *(const v8 *)(wr + j * C + 8);
                        }
                    }
                    *(v8 *)(o + c) = a0;
                    *(v8 *)(o + c + 8) = a1;
                }
                for (; c < C; c += 8) {
                    v8 a0 = V8_SPLAT(0.0f);
                    for (int64_t i = i0; i < i1; ++i) {
                        const float *xr = x0 + i * dh * W * C + c, *wr = w + i * kw * C + c;
                        for (int64_t j = j0; j < j1; ++j) a0 += *(const v8 *)(xr + j * dl * C) * *(const v8 *)(wr + j * C);
                    }
                    *(v8 *)(o + c) = a0;
                }
            }
        }
    return 0;
}

/* dx: (B, H, W, C) = the transpose of dw_forward applied to g (B, Ho, Wo, C), scattered tap by tap. */
static int dw_input_grad_hwc(const float *restrict g, const float *restrict w, float *restrict dx, int64_t B, int64_t H,
                  int64_t W, int64_t C, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                  int64_t dh, int64_t dl, int64_t Ho, int64_t Wo) {
    if (C % 8) return -1;
    memset(dx, 0, (size_t)(B * H * W * C) * sizeof(float));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < Ho; ++p) {
            int64_t i0, i1;
            valid_taps(p, sh, ph, dh, kh, H, &i0, &i1);
            for (int64_t q = 0; q < Wo; ++q) {
                int64_t j0, j1;
                valid_taps(q, sw, pw, dl, kw, W, &j0, &j1);
                const float *gr = g + ((b * Ho + p) * Wo + q) * C;
                float *d0 = dx + ((b * H + p * sh - ph) * W + q * sw - pw) * C;
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = j0; j < j1; ++j) {
                        float *dr = d0 + (i * dh * W + j * dl) * C;
                        const float *wr = w + (i * kw + j) * C;
                        for (int64_t c = 0; c < C; c += 8)
                            *(v8 *)(dr + c) += *(const v8 *)(gr + c) * *(const v8 *)(wr + c);
                    }
            }
        }
    return 0;
}

/* dw: (kh, kw, C), the weight gradient (see the top of this file). */
static int dw_weight_grad_hwc(const float *restrict x, const float *restrict g, float *restrict dw, int64_t B, int64_t H,
                   int64_t W, int64_t C, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                   int64_t dh, int64_t dl, int64_t Ho, int64_t Wo) {
    if (C % 8) return -1;
    memset(dw, 0, (size_t)(kh * kw * C) * sizeof(float));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < Ho; ++p) {
            int64_t i0, i1;
            valid_taps(p, sh, ph, dh, kh, H, &i0, &i1);
            for (int64_t q = 0; q < Wo; ++q) {
                int64_t j0, j1;
                valid_taps(q, sw, pw, dl, kw, W, &j0, &j1);
                const float *gr = g + ((b * Ho + p) * Wo + q) * C;
                const float *x0 = x + ((b * H + p * sh - ph) * W + q * sw - pw) * C;
                if (q + 3 < Wo && q * sw - pw >= 0 && (q + 3) * sw - pw + (kw - 1) * dl < W) {
                    /* four outputs whose taps are all inside the row: one accumulator update for the four */
                    const int64_t step = sw * C;
                    for (int64_t c = 0; c < C; c += 8) {
                        const v8 g0 = *(const v8 *)(gr + c), g1 = *(const v8 *)(gr + C + c),
                                 g2 = *(const v8 *)(gr + 2 * C + c), g3 = *(const v8 *)(gr + 3 * C + c);
                        for (int64_t i = i0; i < i1; ++i)
                            for (int64_t j = 0; j < kw; ++j) {
                                const float *xj = x0 + (i * dh * W + j * dl) * C + c;
                                *(v8 *)(dw + (i * kw + j) * C + c) +=
                                    (g0 * *(const v8 *)(xj) + g1 * *(const v8 *)(xj + step)) +
                                    (g2 * *(const v8 *)(xj + 2 * step) + g3 * *(const v8 *)(xj + 3 * step));
                            }
                    }
                    q += 3;
                    continue;
                }
                for (int64_t i = i0; i < i1; ++i)
                    for (int64_t j = j0; j < j1; ++j) {
                        const float *xr = x0 + (i * dh * W + j * dl) * C;
                        float *dr = dw + (i * kw + j) * C;
                        for (int64_t c = 0; c < C; c += 8)
                            *(v8 *)(dr + c) += *(const v8 *)(gr + c) * *(const v8 *)(xr + c);
                    }
            }
        }
    return 0;
}

/* ---------------------------------------------------------------- entry points: PyTorch's weight layouts */

/* Grouped pointwise forward; w in PyTorch's layout (E*Co, Ci) or, with w_eco, already (E, Ci, Co) (the input
 * gradient passes PyTorch's (E*Co, Ci) weight as the (E, Ci', Co') weight of the transposed problem). */
int pw_forward(const float *x, const float *w, float *y, int64_t N, int64_t E, int64_t Ci, int64_t Co, int64_t w_eco) {
    if (w_eco) return pw_forward_eco(x, w, y, N, E, Ci, Co);
    float *t = malloc((size_t)(E * Ci * Co) * sizeof(float));
    if (!t) return -2;
    for (int64_t e = 0; e < E; ++e)
        for (int64_t o = 0; o < Co; ++o)
            for (int64_t c = 0; c < Ci; ++c) t[(e * Ci + c) * Co + o] = w[(e * Co + o) * Ci + c];
    const int rc = pw_forward_eco(x, t, y, N, E, Ci, Co);
    free(t);
    return rc;
}

/* The pointwise weight gradient in PyTorch's layout (E*Co, Ci). */
int pw_weight_grad(const float *x, const float *g, float *dw, int64_t N, int64_t E, int64_t Ci, int64_t Co) {
    float *t = malloc((size_t)(E * Ci * Co) * sizeof(float));
    if (!t) return -2;
    const int rc = pw_weight_grad_eco(x, g, t, N, E, Ci, Co);
    for (int64_t e = 0; e < E; ++e)
        for (int64_t o = 0; o < Co; ++o)
            for (int64_t c = 0; c < Ci; ++c) dw[(e * Co + o) * Ci + c] = t[(e * Ci + c) * Co + o];
    free(t);
    return rc;
}

/* PyTorch's depthwise weight (C, kh, kw) as (kh, kw, C), flipped in both axes if `flip`. */
static float *to_hwc(const float *w, int64_t C, int64_t kh, int64_t kw, int64_t flip) {
    float *t = malloc((size_t)(C * kh * kw) * sizeof(float));
    if (!t) return 0;
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j)
                t[((flip ? kh - 1 - i : i) * kw + (flip ? kw - 1 - j : j)) * C + c] = w[(c * kh + i) * kw + j];
    return t;
}

#define DW_ARGS                                                                                                     \
    int64_t B, int64_t H, int64_t W, int64_t C, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,          \
        int64_t pw, int64_t dh, int64_t dl, int64_t Ho, int64_t Wo
#define DW_PASS B, H, W, C, kh, kw, sh, sw, ph, pw, dh, dl, Ho, Wo

/* Depthwise forward, w in PyTorch's layout (C, 1, kh, kw); `flip`: the kernel flipped in both axes (the input
 * gradient of a stride-1 "same" convolution). */
int dw_forward(const float *x, const float *w, float *y, DW_ARGS, int64_t flip) {
    float *t = to_hwc(w, C, kh, kw, flip);
    if (!t) return -2;
    const int rc = dw_forward_hwc(x, t, y, DW_PASS);
    free(t);
    return rc;
}

int dw_input_grad(const float *g, const float *w, float *dx, DW_ARGS) {
    float *t = to_hwc(w, C, kh, kw, 0);
    if (!t) return -2;
    const int rc = dw_input_grad_hwc(g, t, dx, DW_PASS);
    free(t);
    return rc;
}

/* The depthwise weight gradient in PyTorch's layout (C, 1, kh, kw). */
int dw_weight_grad(const float *x, const float *g, float *dw, DW_ARGS) {
    float *t = malloc((size_t)(C * kh * kw) * sizeof(float));
    if (!t) return -2;
    const int rc = dw_weight_grad_hwc(x, g, t, DW_PASS);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < kh * kw; ++i) dw[c * kh * kw + i] = t[i * C + c];
    free(t);
    return rc;
}

/* ---------------------------------------------------------------- batch normalisation, training mode */

/* Per-channel sums over the N rows of x (N, C), or of (x - centre) * (x - centre) when `centre` is given, or of
 * g * (x - centre) when `g` is given too: row by row (sequential memory) into float partial sums of 64 rows, added
 * up in double. out: (C) doubles; C a multiple of 8, at most 4096. */
static void channel_sums(const float *restrict x, const float *restrict g, const float *restrict centre, double *out,
                         int64_t N, int64_t C) {
    float part[4096] __attribute__((aligned(32)));
    for (int64_t c = 0; c < C; ++c) out[c] = 0.0;
    for (int64_t n0 = 0; n0 < N; n0 += 64) {
        const int64_t n1 = n0 + 64 < N ? n0 + 64 : N;
        for (int64_t c = 0; c < C; ++c) part[c] = 0.0f;
        for (int64_t n = n0; n < n1; ++n) {
            const float *xr = x + n * C;
            if (g) {
                const float *gr = g + n * C;
                for (int64_t c = 0; c < C; c += 8)
                    *(v8 *)(part + c) += (*(const v8 *)(xr + c) - *(const v8 *)(centre + c)) * *(const v8 *)(gr + c);
            } else if (centre) {
                for (int64_t c = 0; c < C; c += 8) {
                    const v8 d = *(const v8 *)(xr + c) - *(const v8 *)(centre + c);
                    *(v8 *)(part + c) += d * d;
                }
            } else {
                for (int64_t c = 0; c < C; c += 8) *(v8 *)(part + c) += *(const v8 *)(xr + c);
            }
        }
        for (int64_t c = 0; c < C; ++c) out[c] += part[c];
    }
}

/* y = (x - mean) * invstd * w + b per channel (w, b may be NULL: 1 and 0); mean and invstd (C) are written out,
 * and the running statistics (rm, rv; may be NULL) move by `momentum` towards mean and the unbiased variance, in
 * place, as ATen's kernel does (its buffers' autograd version counters are not bumped either: buffers that are
 * views of one flat tensor, RARTS's second weight copy, stay valid for the backward of BatchNorms run earlier).
 * x, y: (N, C), C a multiple of 8. */
int bn_forward(const float *restrict x, const float *w, const float *b, float *restrict y, float *restrict mean,
               float *restrict invstd, float *rm, float *rv, int64_t N, int64_t C, double eps, double momentum) {
    if (C % 8 || N < 2 || C > 4096) return -1;
    double s[4096];
    channel_sums(x, 0, 0, s, N, C);
    for (int64_t c = 0; c < C; ++c) mean[c] = (float)(s[c] / (double)N);
    channel_sums(x, 0, mean, s, N, C);
    float a[4096], k[4096];
    for (int64_t c = 0; c < C; ++c) {
        const double var = s[c] / (double)N;
        if (rm && rv) {
            rm[c] = (float)(momentum * mean[c] + (1.0 - momentum) * rm[c]);
            rv[c] = (float)(momentum * (s[c] / (double)(N - 1)) + (1.0 - momentum) * rv[c]);
        }
        invstd[c] = (float)(1.0 / __builtin_sqrt(var + eps));
        a[c] = invstd[c] * (w ? w[c] : 1.0f);
        k[c] = (b ? b[c] : 0.0f) - mean[c] * a[c];
    }
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; c += 8)
            *(v8 *)(y + n * C + c) = *(const v8 *)(x + n * C + c) * *(const v8 *)(a + c) + *(const v8 *)(k + c);
    return 0;
}

/* The gradients of bn_forward: dw = sum g * xhat, db = sum g, and (if dx) dx = w invstd (g - db/N - xhat dw/N),
 * xhat = (x - mean) invstd. */
int bn_backward(const float *restrict x, const float *restrict g, const float *w, const float *restrict mean,
                const float *restrict invstd, float *restrict dx, float *restrict dw, float *restrict db, int64_t N,
                int64_t C) {
    if (C % 8 || C > 4096) return -1;
    double sg[4096], sgx[4096];
    channel_sums(g, 0, 0, sg, N, C);
    channel_sums(x, g, mean, sgx, N, C);
    float k1[4096], k2[4096], k3[4096];
    for (int64_t c = 0; c < C; ++c) {
        db[c] = (float)sg[c];
        dw[c] = (float)(sgx[c] * invstd[c]);
        k1[c] = (w ? w[c] : 1.0f) * invstd[c];
        k2[c] = (float)(-(double)k1[c] * invstd[c] * dw[c] / (double)N);
        k3[c] = (float)(-(double)k1[c] * sg[c] / (double)N - (double)k2[c] * mean[c]);
    }
    if (dx)
        for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < C; c += 8)
                *(v8 *)(dx + n * C + c) = *(const v8 *)(g + n * C + c) * *(const v8 *)(k1 + c) +
                                          *(const v8 *)(x + n * C + c) * *(const v8 *)(k2 + c) + *(const v8 *)(k3 + c);
    return 0;
}
