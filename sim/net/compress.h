/* compress.h: what a compressed vector costs on the wire and what the
 * receiver reads back.
 *
 * Pure functions with no clock: an algorithm applies a codec to the vector
 * it is about to send, charges net_codec_size bytes for the message, and
 * uses the decoded values (what the receiver reconstructs) in its math, so
 * accuracy shows the cost of compression and time and bytes its gain.
 *
 * Wire formats (sizes exact, independent of the values; vb = value bytes,
 * 4 for float32 or 8 for float64; every header field is 4 bytes):
 *   NONE   count | n values (vb each)                    4 + n vb
 *   FP16   count | n IEEE half-precision values          4 + 2 n
 *   TOPK   count, k | k (index: 4, value: vb) pairs      8 + k (4 + vb)
 *   RANDK  count, k, seed (8 bytes) | k values; the      16 + k vb
 *          indices are regenerated from the seed, so they are not sent
 *   QSGD   count, s | norm (vb) | per value a sign bit   8 + vb +
 *          and a level in [0, s] in ceil(log2(s + 1))    ceil(n (1 + b) / 8)
 *          bits, packed                                  b = ceil(log2(s+1))
 * (k is min(k, n).) Decoding:
 *   FP16   rounds to the nearest half (ties to even), overflow to infinity;
 *   TOPK   the k values largest in magnitude (ties: lower index), zeros
 *          elsewhere; with error feedback the caller's residual is added
 *          before selection and keeps what was not sent;
 *   RANDK  k indices uniformly without replacement, values scaled by n / k
 *          so that the decoded vector is unbiased;
 *   QSGD   norm * sign(x_i) * xi_i / s, xi_i = floor(s |x_i| / norm) + 1
 *          with probability equal to the fractional part: unbiased. The norm
 *          is sent as a vb-byte float, and decoded as such.
 * Random codecs draw from the caller's generator only.
 *
 * Ownership: a codec owns its scratch space, sized for vectors of n values
 * at creation, so applying it allocates nothing. */
#ifndef DTSIM_COMPRESS_H
#define DTSIM_COMPRESS_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

typedef enum net_codec_kind {
    NET_CODEC_NONE,
    NET_CODEC_FP16,
    NET_CODEC_TOPK,
    NET_CODEC_RANDK,
    NET_CODEC_QSGD,
} net_codec_kind;

typedef struct net_codec_cfg {
    net_codec_kind kind;
    int value_bytes; /* 4 or 8 (NONE, TOPK, RANDK, QSGD) */
    size_t k;        /* TOPK, RANDK: values sent, >= 1 */
    int levels;      /* QSGD: s >= 1 */
} net_codec_cfg;

typedef struct net_codec net_codec;

/* A codec for vectors of n >= 1 values; NULL on a bad configuration or
 * out of memory. */
net_codec *net_codec_create(const net_codec_cfg *cfg, size_t n);
void net_codec_destroy(net_codec *c); /* NULL-safe */

/* Bytes on the wire for one vector of the codec's length. */
uint64_t net_codec_size(const net_codec *c);
/* The same without a codec; 0 on a bad configuration. */
uint64_t net_codec_size_for(const net_codec_cfg *cfg, size_t n);

/* out = decode(encode(x)) for the codec's n values (out may be x).
 * residual: TOPK's error feedback (n values, kept by the caller, start at
 * zero), or NULL for none; ignored by other codecs. With it, the values
 * selected are those of x + residual, and residual becomes
 * x + residual - out. rng: needed by RANDK and QSGD, ignored otherwise.
 * Returns 0, or SIM_EINVAL when a random codec has no generator. */
int net_codec_apply(net_codec *c, const double *x, double *out,
                    double *residual, gsl_rng *rng);

/* One value rounded to IEEE half precision and back. */
double net_fp16_round(double v);

#endif
