// CPU kernels of the SEMEDA loss's elementwise work (float32).
//
// Each kernel reads its maps once and writes its results once, a row of
// pixels at a time on torch's intra-op threads (at::parallel_for). They
// compute what the eager code in semeda_loss.py and utils.py computes
// (tested against it): the softmax of the logits, masked and written
// transposed into the first convolution's padded channels-last input; its
// backward, which folds the padding frame's gradient back and writes the
// logits' gradient in their layout; the ReLU-L1 of a layer and its backward.
//
// Layouts: logits (N, C, H, W) contiguous; "padded" maps are channels-last
// (H + 2p, W + 2p, C) per image, the map in the interior and a frame of p
// pixels; other maps are channels-last (N, H, W, C).
//
// The row functions take plain pointers and sizes: their int8 stores could
// otherwise alias the sizes and stop the compiler from vectorising.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

using i64 = int64_t;

// exp(x) for x <= 0 (softmax arguments less their max): Cephes' expf on a
// range-reduced argument, plain arithmetic that the compiler vectorises;
// within 2 ulp of std::exp, and 0 < exp(-87) below that.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float q = 1.9875691500e-4f;
  q = q * r + 1.3981999507e-3f;
  q = q * r + 8.3334519073e-3f;
  q = q * r + 4.1665795894e-2f;
  q = q * r + 1.6666665459e-1f;
  q = q * r + 5.0000001201e-1f;
  q = q * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return q * scale;
}

// Pixels per block of a row: a block's C x B temporaries stay in cache.
constexpr i64 kBlock = 64;

// out (w, c) = the gradient reaching interior row y of a padded map `grad`
// (rows of `row` floats, frame p, interior h x w), the frame's folded in.
void fold_row(const float* __restrict grad, i64 row, i64 y, i64 h, i64 w,
              i64 p, i64 c, float* __restrict out) {
  std::memcpy(out, grad + (y + p) * row + p * c, sizeof(float) * w * c);
  i64 lo[3] = {y + p, 0, h + p}, hi[3] = {y + p + 1, 0, h + p};
  if (y == 0) hi[1] = p;
  if (y == h - 1) hi[2] = h + 2 * p;
  for (int r = 0; r < 3; ++r) {
    for (i64 yy = lo[r]; yy < hi[r]; ++yy) {
      const float* g = grad + yy * row;
      if (r > 0)
        for (i64 i = 0; i < w * c; ++i) out[i] += g[p * c + i];
      for (i64 j = 0; j < p; ++j) {
        for (i64 k = 0; k < c; ++k) {
          out[k] += g[j * c + k];
          out[(w - 1) * c + k] += g[(w + p + j) * c + k];
        }
      }
    }
  }
}

// One row of the softmax backward: g and probs channels-last (w, c), the
// result p * (g - sum_k p_k g_k) written into C planes of stride `plane`.
void softmax_backward_row(const float* __restrict g,
                          const float* __restrict probs,
                          float* __restrict out, i64 plane, i64 w, i64 c,
                          float* __restrict tmp) {
  for (i64 x0 = 0; x0 < w; x0 += kBlock) {
    const i64 b = std::min(kBlock, w - x0);
    for (i64 j = 0; j < b; ++j) {
      const float* pj = probs + (x0 + j) * c;
      const float* gj = g + (x0 + j) * c;
      float dot = 0.0f;
      for (i64 k = 0; k < c; ++k) dot += pj[k] * gj[k];
      for (i64 k = 0; k < c; ++k) tmp[k * kBlock + j] = pj[k] * (gj[k] - dot);
    }
    for (i64 k = 0; k < c; ++k)
      std::memcpy(out + k * plane + x0, tmp + k * kBlock, sizeof(float) * b);
  }
}

// One row of the ReLU-L1: x and target (w, c); out (w) the channel mean of
// |relu(x) - relu(target)|; code (w, c) the sign of that difference where
// x > 0, 2 where x <= 0 (no gradient); relu(x) into `relu` unless null.
// Elementwise over the whole row first (tmp: w * c floats), then the
// channel sums: both loops vectorise.
void relu_l1_row(const float* __restrict x, const float* __restrict target,
                 int8_t* __restrict code, float* __restrict out,
                 float* __restrict relu, i64 w, i64 c,
                 float* __restrict tmp) {
  const i64 n = w * c;
  for (i64 i = 0; i < n; ++i) {
    const float v = x[i];
    const float d = std::max(v, 0.0f) - std::max(target[i], 0.0f);
    tmp[i] = std::fabs(d);
    const float sign = (d > 0.0f ? 1.0f : 0.0f) - (d < 0.0f ? 1.0f : 0.0f);
    const float on = v > 0.0f ? 1.0f : 0.0f;
    code[i] = static_cast<int8_t>(
        static_cast<int32_t>(on * sign + (1.0f - on) * 2.0f));
  }
  if (relu)
    for (i64 i = 0; i < n; ++i) relu[i] = std::max(x[i], 0.0f);
  const float inv = 1.0f / static_cast<float>(c);
  for (i64 j = 0; j < w; ++j) {
    float acc = 0.0f;
    for (i64 k = 0; k < c; ++k) acc += tmp[j * c + k];
    out[j] = acc * inv;
  }
}

// One row of the ReLU-L1 backward: out (w, c) = code * grad / c + g where
// code != 2, else 0; grad (w) and g (w, c) may be null. tmp: w * c floats.
void relu_l1_backward_row(const int8_t* __restrict code,
                          const float* __restrict grad,
                          const float* __restrict g, float* __restrict out,
                          i64 w, i64 c, float* __restrict tmp) {
  const i64 n = w * c;
  for (i64 i = 0; i < n; ++i) tmp[i] = static_cast<float>(code[i]);
  const float inv = 1.0f / static_cast<float>(c);
  for (i64 j = 0; j < w; ++j) {
    const float s = grad ? grad[j] * inv : 0.0f;
    const float* qj = tmp + j * c;
    float* oj = out + j * c;
    if (g) {
      const float* gj = g + j * c;
      for (i64 k = 0; k < c; ++k)
        oj[k] = qj[k] == 2.0f ? 0.0f : qj[k] * s + gj[k];
    } else {
      for (i64 k = 0; k < c; ++k) oj[k] = qj[k] == 2.0f ? 0.0f : qj[k] * s;
    }
  }
}

// One row of the labels' first layer: out (w, o) = relu(bias + sum over
// the k x k taps t of table[t][label at pixel + t]), neighbours outside the
// image replicated. `offset` holds, for each of the k label rows of the
// taps, the table offset of each label of the row replicate-padded by k / 2
// (the ignore label and labels outside [0, C) at the all-zero row C).
void labels_row(const i64* __restrict offset, const float* __restrict table,
                const float* __restrict bias, float* __restrict out, i64 w,
                i64 k, i64 tap_stride, i64 o, float* __restrict acc) {
  const i64 wp = w + k - 1;
  for (i64 j = 0; j < w; ++j) {
    for (i64 q = 0; q < o; ++q) acc[q] = bias[q];
    for (i64 dy = 0; dy < k; ++dy) {
      for (i64 dx = 0; dx < k; ++dx) {
        const float* t = table + (dy * k + dx) * tap_stride +
                         offset[dy * wp + j + dx];
        for (i64 q = 0; q < o; ++q) acc[q] += t[q];
      }
    }
    for (i64 q = 0; q < o; ++q) out[j * o + q] = std::max(acc[q], 0.0f);
  }
}

// labels_row for 16 channels (the default edge net's): a row of the table
// is one vector of 16 floats (GCC and Clang vector extensions; one AVX-512
// register, two AVX2 ones).
typedef float Row16 __attribute__((vector_size(64), aligned(4)));

void labels_row16(const i64* __restrict offset,
                  const float* __restrict table,
                  const float* __restrict bias, float* __restrict out, i64 w,
                  i64 k, i64 tap_stride) {
  const i64 wp = w + k - 1;
  const Row16 zero = {};
  for (i64 j = 0; j < w; ++j) {
    Row16 acc = *reinterpret_cast<const Row16*>(bias);
    for (i64 dy = 0; dy < k; ++dy) {
      const i64* off = offset + dy * wp + j;
      const float* tap = table + dy * k * tap_stride;
      for (i64 dx = 0; dx < k; ++dx)
        acc += *reinterpret_cast<const Row16*>(tap + dx * tap_stride +
                                               off[dx]);
    }
    *reinterpret_cast<Row16*>(out + j * 16) = acc > zero ? acc : zero;
  }
}

// Row y of the labels' first layer of one image (h x w labels), relu
// applied: out (w, o) from the table (k * k * (C + 1), o) and bias (o), as
// labels_row. offset: k (w + k - 1) indices, acc: o floats.
void labels_first_row(const int64_t* labels, i64 h, i64 w, i64 y, i64 k,
                      i64 c, int64_t ignore, const float* table,
                      const float* bias, i64 o, float* out,
                      i64* __restrict offset, float* acc) {
  const i64 r = k / 2, wp = w + 2 * r;
  for (i64 dy = 0; dy < k; ++dy) {
    const int64_t* row =
        labels + std::min(std::max(y + dy - r, i64(0)), h - 1) * w;
    for (i64 x = 0; x < wp; ++x) {
      const int64_t l = row[std::min(std::max(x - r, i64(0)), w - 1)];
      offset[dy * wp + x] = (l >= 0 && l < c && l != ignore ? l : c) * o;
    }
  }
  if (o == 16)
    labels_row16(offset, table, bias, out, w, k, (c + 1) * o);
  else
    labels_row(offset, table, bias, out, w, k, (c + 1) * o, o, acc);
}

// The softmax over c planes of x (stride `plane`) at b <= kBlock pixels,
// channel-major: p[k * kBlock + j] for class k at pixel j.
void softmax_block(const float* __restrict x, i64 plane, i64 b, i64 c,
                   float* __restrict p) {
  float m[kBlock], s[kBlock];
  for (i64 j = 0; j < b; ++j) m[j] = x[j];
  for (i64 k = 1; k < c; ++k)
    for (i64 j = 0; j < b; ++j) m[j] = std::max(m[j], x[k * plane + j]);
  for (i64 j = 0; j < b; ++j) s[j] = 0.0f;
  for (i64 k = 0; k < c; ++k) {
    float* t = p + k * kBlock;
    for (i64 j = 0; j < b; ++j) {
      t[j] = exp_nonpositive(x[k * plane + j] - m[j]);
      s[j] += t[j];
    }
  }
  for (i64 j = 0; j < b; ++j) s[j] = 1.0f / s[j];
  for (i64 k = 0; k < c; ++k)
    for (i64 j = 0; j < b; ++j) p[k * kBlock + j] *= s[j];
}

// One row of the masked softmax: logits x (C planes of stride `plane`, a
// row of w pixels each), mask v (w), written channels-last at out (w, c).
// tmp: c * kBlock floats.
void softmax_row(const float* __restrict x, i64 plane, const float* v,
                 float* __restrict out, i64 w, i64 c,
                 float* __restrict tmp) {
  for (i64 x0 = 0; x0 < w; x0 += kBlock) {
    const i64 b = std::min(kBlock, w - x0);
    softmax_block(x + x0, plane, b, c, tmp);
    for (i64 j = 0; j < b; ++j) {
      float* o = out + (x0 + j) * c;
      for (i64 k = 0; k < c; ++k) o[k] = tmp[k * kBlock + j] * v[x0 + j];
    }
  }
}

// G rows of out (rows of kBlock floats) at b pixels: out[r][j] = sum over
// k < depth of a[r * ar + k * ak] * m[k * kBlock + j]. Sixteen pixels at a
// time, G vectors of accumulators, each vector of m loaded once for G rows.
template <int G>
void block_product_rows(const float* __restrict a, i64 ar, i64 ak,
                        i64 depth, const float* __restrict m, i64 b,
                        float* __restrict out) {
  i64 j = 0;
  for (; j + 16 <= b; j += 16) {
    Row16 acc[G];
    for (int r = 0; r < G; ++r) acc[r] = Row16{};
    for (i64 k = 0; k < depth; ++k) {
      const Row16 v = *reinterpret_cast<const Row16*>(m + k * kBlock + j);
      for (int r = 0; r < G; ++r) acc[r] += a[r * ar + k * ak] * v;
    }
    for (int r = 0; r < G; ++r)
      *reinterpret_cast<Row16*>(out + r * kBlock + j) = acc[r];
  }
  for (; j < b; ++j) {
    for (int r = 0; r < G; ++r) {
      float acc = 0.0f;
      for (i64 k = 0; k < depth; ++k)
        acc += a[r * ar + k * ak] * m[k * kBlock + j];
      out[r * kBlock + j] = acc;
    }
  }
}

// out (rows x kBlock) = a (rows x depth, strides ar and ak) times m
// (depth x kBlock), at b pixels.
void block_product(const float* a, i64 ar, i64 ak, i64 rows, i64 depth,
                   const float* m, i64 b, float* out) {
  i64 r = 0;
  for (; r + 8 <= rows; r += 8)
    block_product_rows<8>(a + r * ar, ar, ak, depth, m, b, out + r * kBlock);
  for (; r < rows; ++r)
    block_product_rows<1>(a + r * ar, ar, ak, depth, m, b, out + r * kBlock);
}

// The second layer's sum at N pixels of a row, 32 outputs: two vectors of
// accumulators per pixel in registers, each weight vector loaded once for
// the N pixels.
template <int N, int V>
void conv_sum(const float* const* r, const float* __restrict weight,
              const float* __restrict bias, float* const* out, i64 k,
              i64 row1, i64 o1) {
  Row16 a[N][V];
  for (int m = 0; m < N; ++m)
    for (int v = 0; v < V; ++v)
      a[m][v] = *reinterpret_cast<const Row16*>(bias + 16 * v);
  for (i64 ty = 0; ty < k; ++ty) {
    for (i64 tx = 0; tx < k; ++tx) {
      const i64 at = ty * row1 + tx * o1;
      const float* wt = weight + (ty * k + tx) * o1 * 16 * V;
      for (i64 i = 0; i < o1; ++i) {
        Row16 wv[V];
        for (int v = 0; v < V; ++v)
          wv[v] = *reinterpret_cast<const Row16*>(wt + (i * V + v) * 16);
        for (int m = 0; m < N; ++m) {
          const float x = r[m][at + i];
          for (int v = 0; v < V; ++v) a[m][v] += wv[v] * x;
        }
      }
    }
  }
  for (int m = 0; m < N; ++m)
    for (int v = 0; v < V; ++v)
      *reinterpret_cast<Row16*>(out[m] + 16 * v) = a[m][v];
}

// The same for any number of outputs o2, one pixel, acc: o2 floats.
void second_sum(const float* __restrict r, const float* __restrict weight,
                const float* __restrict bias, float* __restrict out, i64 k,
                i64 row1, i64 o1, i64 o2, float* __restrict acc) {
  for (i64 q = 0; q < o2; ++q) acc[q] = bias[q];
  for (i64 ty = 0; ty < k; ++ty) {
    for (i64 tx = 0; tx < k; ++tx) {
      const float* rt = r + ty * row1 + tx * o1;
      const float* wt = weight + (ty * k + tx) * o1 * o2;
      for (i64 i = 0; i < o1; ++i)
        for (i64 q = 0; q < o2; ++q) acc[q] += wt[i * o2 + q] * rt[i];
    }
  }
  std::memcpy(out, acc, sizeof(float) * o2);
}

// The input gradient of a valid k x k convolution at `count` pixels
// `pending` of one row of the padded input: pixel X gets the sum over taps
// (ty, tx) of weight[ty][tx] (co, ci) applied to the output gradient at
// (row - ty, X - tx), where that lies in the output. grows[ty] points at the
// output gradient's row `row - ty` ((w, co) floats), null where that row
// lies outside the output; columns are checked here.
// The weight's rows are `cs` floats (ci, padded with zeros up to a
// multiple of 16 where that is at most 32). For those, N pixels whose
// every tap lies in the output: V = cs / 16 vectors of accumulators per
// pixel, each weight vector loaded once for the N pixels.
template <int N, int V>
void input_grad_vec(const i64* x, const float* const* grows,
                    const float* __restrict weight, float* __restrict out,
                    i64 k, i64 ci, i64 co) {
  Row16 a[N][V];
  for (int m = 0; m < N; ++m)
    for (int v = 0; v < V; ++v) a[m][v] = Row16{};
  for (i64 ty = 0; ty < k; ++ty) {
    for (i64 tx = 0; tx < k; ++tx) {
      const float* g[N];
      for (int m = 0; m < N; ++m) g[m] = grows[ty] + (x[m] - tx) * co;
      const float* wt = weight + (ty * k + tx) * co * 16 * V;
      for (i64 o = 0; o < co; ++o) {
        for (int v = 0; v < V; ++v) {
          const Row16 wo =
              *reinterpret_cast<const Row16*>(wt + (o * V + v) * 16);
          for (int m = 0; m < N; ++m) a[m][v] += wo * g[m][o];
        }
      }
    }
  }
  for (int m = 0; m < N; ++m) {
    if (ci == 16 * V) {
      for (int v = 0; v < V; ++v)
        *reinterpret_cast<Row16*>(out + x[m] * ci + 16 * v) = a[m][v];
    } else {
      float lanes[16 * V];
      for (int v = 0; v < V; ++v)
        *reinterpret_cast<Row16*>(lanes + 16 * v) = a[m][v];
      std::memcpy(out + x[m] * ci, lanes, sizeof(float) * ci);
    }
  }
}

template <int N>
void input_grad_pixels(const i64* x, const float* const* grows,
                       const float* weight, float* out, i64 k, i64 ci,
                       i64 cs, i64 co) {
  if (cs == 16)
    input_grad_vec<N, 1>(x, grows, weight, out, k, ci, co);
  else
    input_grad_vec<N, 2>(x, grows, weight, out, k, ci, co);
}

void conv_input_grad_pixels(const i64* __restrict pending, i64 count,
                            const float* const* grows, i64 w,
                            const float* __restrict weight,
                            float* __restrict out, i64 k, i64 ci, i64 cs,
                            i64 co, float* __restrict acc) {
  const bool vec = cs == 16 || cs == 32;
  // rows and columns whose every tap lies in the output: the fast path
  bool inner_row = true;
  for (i64 ty = 0; ty < k; ++ty) inner_row = inner_row && grows[ty];
  i64 fast[4], nf = 0;
  for (i64 m = 0; m < count; ++m) {
    const i64 x = pending[m];
    if (vec && inner_row && x >= k - 1 && x <= w - 1) {
      fast[nf++] = x;
      if (nf == 4) {
        input_grad_pixels<4>(fast, grows, weight, out, k, ci, cs, co);
        nf = 0;
      }
      continue;
    }
    for (i64 q = 0; q < ci; ++q) acc[q] = 0.0f;
    for (i64 ty = 0; ty < k; ++ty) {
      if (!grows[ty]) continue;
      for (i64 tx = 0; tx < k; ++tx) {
        const i64 gx = x - tx;
        if (gx < 0 || gx >= w) continue;
        const float* g = grows[ty] + gx * co;
        const float* wt = weight + (ty * k + tx) * co * cs;
        for (i64 o = 0; o < co; ++o) {
          const float go = g[o];
          for (i64 q = 0; q < ci; ++q) acc[q] += wt[o * cs + q] * go;
        }
      }
    }
    std::memcpy(out + x * ci, acc, sizeof(float) * ci);
  }
  for (i64 m = 0; m < nf; ++m)
    input_grad_pixels<1>(fast + m, grows, weight, out, k, ci, cs, co);
}

// A valid k x k convolution (weight (k, k, ci, co), bias) at `count`
// pixels `pending` of one output row: the window of pixel j starts at
// base + j * ci, rows of `row` floats; results at out + j * co.
void conv_pixels(const i64* __restrict pending, i64 count, const float* base,
                 i64 row, const float* __restrict weight,
                 const float* __restrict bias, float* out, i64 k, i64 ci,
                 i64 co, float* __restrict acc) {
  if (co == 32 || co == 16) {  // the default net's: four pixels at a time
    i64 m = 0;
    for (; m + 4 <= count; m += 4) {
      const float* r[4];
      float* o[4];
      for (int q = 0; q < 4; ++q) {
        r[q] = base + pending[m + q] * ci;
        o[q] = out + pending[m + q] * co;
      }
      if (co == 32)
        conv_sum<4, 2>(r, weight, bias, o, k, row, ci);
      else
        conv_sum<4, 1>(r, weight, bias, o, k, row, ci);
    }
    for (; m < count; ++m) {
      const float* r[1] = {base + pending[m] * ci};
      float* o[1] = {out + pending[m] * co};
      if (co == 32)
        conv_sum<1, 2>(r, weight, bias, o, k, row, ci);
      else
        conv_sum<1, 1>(r, weight, bias, o, k, row, ci);
    }
  } else {
    for (i64 m = 0; m < count; ++m)
      second_sum(base + pending[m] * ci, weight, bias, out + pending[m] * co,
                 k, row, ci, co, acc);
  }
}

// One output row of a masked valid convolution: out (w, co) = conv_pixels
// at the pixels where mask (w) is not zero, 0 elsewhere; x points at the
// row's window in the padded input (rows of `row` floats). pending: w.
void masked_conv_row(const float* __restrict mask, i64 w, const float* x,
                     i64 row, const float* weight, const float* bias,
                     float* out, i64 k, i64 ci, i64 co, float* acc,
                     i64* __restrict pending) {
  i64 count = 0;
  for (i64 j = 0; j < w; ++j) {
    if (mask[j] != 0.0f)
      pending[count++] = j;
    else
      std::memset(out + j * co, 0, sizeof(float) * co);
  }
  conv_pixels(pending, count, x, row, weight, bias, out, k, ci, co, acc);
}

// One row of the labels' second layer, before its relu (0 where `mask`, if
// given, is 0): out (w, o2) at
// output row y = bias + sum over taps t of weight[t] . relu1[pixel + t],
// relu1 being the first layer's padded channels-last output (rows of `row1`
// floats, frame k / 2). Where the labels' replicate-padded window of radius
// R = 2 (k / 2) holds one table index, every relu1 the sum reads is that
// index's, and the sum is the precomputed row `uniform[index]`. `column`
// (w + 2R) holds the index of each column of the window's 2R + 1 label rows
// where they agree, -1 elsewhere; `pending` (w) collects the other pixels.
void labels_second_row(const i64* __restrict column, i64 radius,
                       const float* __restrict relu1, i64 row1, i64 y,
                       const float* __restrict weight,
                       const float* __restrict bias,
                       const float* __restrict uniform,
                       float* __restrict out, i64 w, i64 k, i64 o1, i64 o2,
                       float* __restrict acc, i64* __restrict pending,
                       const float* mask) {
  const i64 span = 2 * radius + 1;
  i64 run = 0, count = 0;
  for (i64 x = 0; x < w + 2 * radius; ++x) {
    // run: how many columns up to x agree on one index
    run = column[x] < 0 ? 0
          : (x > 0 && column[x] == column[x - 1] ? run + 1 : 1);
    const i64 j = x - 2 * radius;  // the pixel whose window ends at x
    if (j < 0) continue;
    if (mask && mask[j] == 0.0f)
      std::memset(out + j * o2, 0, sizeof(float) * o2);
    else if (run >= span)
      std::memcpy(out + j * o2, uniform + column[x] * o2,
                  sizeof(float) * o2);
    else
      pending[count++] = j;
  }
  conv_pixels(pending, count, relu1 + y * row1, row1, weight, bias, out, k,
              o1, o2, acc);
}

// column (w + 2R) for output row y of labels_second_row: the table index
// (the label, or C for the ignore label and labels outside [0, C)) of each
// column of the replicate-padded label rows y - R .. y + R of one image
// (h x w labels) where all 2R + 1 agree, -1 elsewhere.
void label_columns(const int64_t* labels, i64 h, i64 w, i64 y, i64 radius,
                   i64 c, int64_t ignore, i64* __restrict column) {
  for (i64 x = 0; x < w + 2 * radius; ++x) {
    const i64 col = std::min(std::max(x - radius, i64(0)), w - 1);
    i64 agreed = -1;
    for (i64 dy = -radius; dy <= radius; ++dy) {
      const int64_t l =
          labels[std::min(std::max(y + dy, i64(0)), h - 1) * w + col];
      const i64 index = l >= 0 && l < c && l != ignore ? l : c;
      if (dy == -radius) {
        agreed = index;
      } else if (index != agreed) {
        agreed = -1;
        break;
      }
    }
    column[x] = agreed;
  }
}

void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat, name,
              ": expected a float32 CPU tensor, got ", t.scalar_type(),
              " on ", t.device());
}

void check_channels_last(const at::Tensor& t, const char* name) {
  check_float(t, name);
  TORCH_CHECK(t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast),
              name, ": expected a channels-last (N, C, H, W) map, got sizes ",
              t.sizes(), " and strides ", t.strides());
}

void check_labels(const at::Tensor& label) {
  TORCH_CHECK(label.scalar_type() == at::kLong && label.dim() == 3 &&
                  label.is_contiguous(),
              "expected contiguous int64 labels (N, H, W), got ",
              label.scalar_type(), " labels of sizes ", label.sizes());
}

// The data of per-image padded buffers (1, c, h + 2p, w + 2p), checked.
std::vector<float*> padded_buffers(const std::vector<at::Tensor>& buffers,
                                   i64 c, i64 h, i64 w, i64 p) {
  std::vector<float*> data;
  for (const auto& b : buffers) {
    check_channels_last(b, "buffer");
    TORCH_CHECK(b.size(0) == 1 && b.size(1) == c && b.size(2) == h + 2 * p &&
                    b.size(3) == w + 2 * p,
                "expected a padded buffer (1, ", c, ", ", h + 2 * p, ", ",
                w + 2 * p, "), got ", b.sizes());
    data.push_back(b.data_ptr<float>());
  }
  return data;
}

}  // namespace

// An uninitialised contiguous float32 tensor. From 32 MB on, glibc's malloc
// maps each block afresh (32 MB is the most its mmap threshold grows to), so
// the first write faults once per 4 KB page: at 150 classes, 19,000 faults
// and 35-45 ms per call for the logits' gradient. Blocks that large are
// mapped here instead, with transparent huge pages advised (one fault per
// 2 MB where the system allows them, 4 KB pages elsewhere).
at::Tensor empty_large(at::IntArrayRef sizes) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  i64 numel = 1;
  for (const i64 s : sizes) numel *= s;
  const size_t bytes = sizeof(float) * numel, huge = size_t(1) << 21;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes >= (size_t(32) << 20)) {
    const size_t length = bytes + huge;  // room to start on a 2 MB boundary
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base != MAP_FAILED) {
      char* start = reinterpret_cast<char*>(
          (reinterpret_cast<uintptr_t>(base) + huge - 1) & ~(huge - 1));
      madvise(start, (bytes + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
      return at::from_blob(
          start, sizes, [base, length](void*) { munmap(base, length); },
          options);
    }
  }
#endif
  return at::empty(sizes, options);
}

// Softmax over the classes of the logits x (N, C, H, W), times valid
// (N, H, W), written into the interior of out[i] (1, C, H + 2p, W + 2p),
// channels-last, for each image i. The frame is left to the caller.
void softmax_padded_forward(const at::Tensor& x, const at::Tensor& valid,
                            const std::vector<at::Tensor>& out, i64 p) {
  check_float(x, "logits");
  check_float(valid, "valid");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && valid.is_contiguous(),
              "softmax_padded_forward: contiguous logits and mask expected");
  const i64 n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(static_cast<i64>(out.size()) == n, "one buffer per image");
  const i64 row = (w + 2 * p) * c;
  const std::vector<float*> outs = padded_buffers(out, c, h, w, p);
  const float* xs = x.data_ptr<float>();
  const float* vs = valid.data_ptr<float>();
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> tmp(c * kBlock);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      softmax_row(xs + (i * c * h + y) * w, h * w, vs + ny * w,
                  outs[i] + (y + p) * row + p * c, w, c, tmp.data());
    }
  });
}

// The logits' gradient (N, C, H, W) from the gradients grad[i] of the padded
// probability maps and the saved maps probs[i] (masked, as the forward wrote
// them): p * (g - sum_k p_k g_k), with g folded from the frame.
at::Tensor softmax_padded_backward(const std::vector<at::Tensor>& grad,
                                   const std::vector<at::Tensor>& probs,
                                   i64 h, i64 w, i64 p) {
  const i64 n = grad.size();
  TORCH_CHECK(n > 0 && static_cast<i64>(probs.size()) == n,
              "one gradient and one probability map per image");
  const i64 c = grad[0].size(1), row = (w + 2 * p) * c;
  std::vector<const float*> gs, ps;
  for (i64 i = 0; i < n; ++i) {
    check_channels_last(grad[i], "gradient");
    check_channels_last(probs[i], "probabilities");
    TORCH_CHECK(grad[i].sizes() == probs[i].sizes(), "sizes differ");
    gs.push_back(grad[i].data_ptr<float>());
    ps.push_back(probs[i].data_ptr<float>());
  }
  at::Tensor out = empty_large({n, c, h, w});
  float* os = out.data_ptr<float>();
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> g(w * c), tmp(c * kBlock);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      fold_row(gs[i], row, y, h, w, p, c, g.data());
      softmax_backward_row(g.data(), ps[i] + (y + p) * row + p * c,
                           os + (i * c * h + y) * w, h * w, w, c,
                           tmp.data());
    }
  });
  return out;
}

// Through a class embedding weight (E, C): weight times the softmax over
// the classes of the logits x (N, C, H, W), times valid (N, H, W), written
// into the interior of out[i] (1, E, H + 2p, W + 2p), channels-last, for
// each image i. The C-channel probabilities exist a block of pixels at a
// time only. The frame is left to the caller.
void embed_softmax_forward(const at::Tensor& x, const at::Tensor& valid,
                           const at::Tensor& weight,
                           const std::vector<at::Tensor>& out, i64 p) {
  check_float(x, "logits");
  check_float(valid, "valid");
  check_float(weight, "weight");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && valid.is_contiguous() &&
                  weight.dim() == 2 && weight.is_contiguous() &&
                  weight.size(1) == x.size(1),
              "embed_softmax_forward: contiguous logits (N, C, H, W), mask "
              "and weight (E, C) expected, got ", x.sizes(), " and ",
              weight.sizes());
  const i64 n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const i64 e = weight.size(0), row = (w + 2 * p) * e;
  TORCH_CHECK(static_cast<i64>(out.size()) == n, "one buffer per image");
  const std::vector<float*> outs = padded_buffers(out, e, h, w, p);
  const float* xs = x.data_ptr<float>();
  const float* vs = valid.data_ptr<float>();
  const float* ws = weight.data_ptr<float>();
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> probs(c * kBlock), emb(e * kBlock);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      const float* xr = xs + (i * c * h + y) * w;
      float* dst = outs[i] + (y + p) * row + p * e;
      for (i64 x0 = 0; x0 < w; x0 += kBlock) {
        const i64 b = std::min(kBlock, w - x0);
        softmax_block(xr + x0, h * w, b, c, probs.data());
        block_product(ws, c, 1, e, c, probs.data(), b, emb.data());
        for (i64 j = 0; j < b; ++j) {
          const float v = vs[ny * w + x0 + j];
          for (i64 k = 0; k < e; ++k)
            dst[(x0 + j) * e + k] = emb[k * kBlock + j] * v;
        }
      }
    }
  });
}

// The logits' gradient (N, C, H, W) of embed_softmax_forward from the
// gradients grad[i] of the padded maps (frame folded in), the probabilities
// recomputed from the logits x a block of pixels at a time.
at::Tensor embed_softmax_backward(const std::vector<at::Tensor>& grad,
                                  const at::Tensor& x,
                                  const at::Tensor& valid,
                                  const at::Tensor& weight, i64 p) {
  check_float(x, "logits");
  check_float(valid, "valid");
  check_float(weight, "weight");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && valid.is_contiguous() &&
                  weight.dim() == 2 && weight.is_contiguous() &&
                  weight.size(1) == x.size(1) &&
                  static_cast<i64>(grad.size()) == x.size(0),
              "embed_softmax_backward: contiguous logits, mask, weight "
              "(E, C) and one gradient per image expected");
  const i64 n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const i64 e = weight.size(0), row = (w + 2 * p) * e;
  std::vector<const float*> gs;
  for (const auto& g : grad) {
    check_channels_last(g, "gradient");
    TORCH_CHECK(g.size(0) == 1 && g.size(1) == e && g.size(2) == h + 2 * p &&
                    g.size(3) == w + 2 * p,
                "embed_softmax_backward: gradients (1, ", e, ", ",
                h + 2 * p, ", ", w + 2 * p, ") expected, got ", g.sizes());
    gs.push_back(g.data_ptr<float>());
  }
  at::Tensor out = empty_large({n, c, h, w});
  const float* xs = x.data_ptr<float>();
  const float* vs = valid.data_ptr<float>();
  const float* ws = weight.data_ptr<float>();
  float* os = out.data_ptr<float>();
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> g(w * e), ge(e * kBlock), probs(c * kBlock),
        gp(c * kBlock);
    float dot[kBlock];
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      fold_row(gs[i], row, y, h, w, p, e, g.data());
      const float* xr = xs + (i * c * h + y) * w;
      float* orow = os + (i * c * h + y) * w;
      for (i64 x0 = 0; x0 < w; x0 += kBlock) {
        const i64 b = std::min(kBlock, w - x0);
        for (i64 j = 0; j < b; ++j) {  // masked where the forward masked
          const float v = vs[ny * w + x0 + j];
          for (i64 k = 0; k < e; ++k)
            ge[k * kBlock + j] = g[(x0 + j) * e + k] * v;
        }
        softmax_block(xr + x0, h * w, b, c, probs.data());
        block_product(ws, 1, c, c, e, ge.data(), b, gp.data());
        for (i64 j = 0; j < b; ++j) dot[j] = 0.0f;
        for (i64 k = 0; k < c; ++k)
          for (i64 j = 0; j < b; ++j)
            dot[j] += probs[k * kBlock + j] * gp[k * kBlock + j];
        for (i64 k = 0; k < c; ++k)
          for (i64 j = 0; j < b; ++j)
            orow[k * h * w + x0 + j] =
                probs[k * kBlock + j] * (gp[k * kBlock + j] - dot[j]);
      }
    }
  });
  return out;
}

// The ReLU-L1 of x (N, C, H, W) against target (same sizes), both
// channels-last (the target may be the interior of a padded buffer): the
// per-pixel term into out (N, H, W), the int8 code (see relu_l1_row) into
// code, and relu(x) into the interior of the padded buffer `relu` (frame p)
// if given.
void relu_l1_forward(const at::Tensor& x, const at::Tensor& target,
                     const at::Tensor& out, const at::Tensor& code,
                     const c10::optional<at::Tensor>& relu, i64 p) {
  check_channels_last(x, "x");
  check_float(target, "target");
  const i64 n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(target.sizes() == x.sizes() && target.stride(1) == 1 &&
                  target.stride(3) == c,
              "relu_l1_forward: a channels-last target of x's sizes "
              "expected, got sizes ", target.sizes(), " and strides ",
              target.strides());
  TORCH_CHECK(code.scalar_type() == at::kChar && code.sizes() == x.sizes() &&
                  code.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                  out.is_contiguous() && out.numel() == n * h * w,
              "relu_l1_forward: wrong output buffers");
  const i64 trow = target.stride(2), timg = target.stride(0);
  const i64 rrow = (w + 2 * p) * c, rimg = (h + 2 * p) * rrow;
  if (relu) check_channels_last(*relu, "relu");
  const float* xs = x.data_ptr<float>();
  const float* ts = target.data_ptr<float>();
  int8_t* cs = code.data_ptr<int8_t>();
  float* os = out.data_ptr<float>();
  float* rs = relu ? relu->data_ptr<float>() : nullptr;
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> tmp(w * c);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      relu_l1_row(xs + ny * w * c, ts + i * timg + y * trow, cs + ny * w * c,
                  os + ny * w,
                  rs ? rs + i * rimg + (y + p) * rrow + p * c : nullptr, w,
                  c, tmp.data());
    }
  });
}

// The gradient of x (N, C, H, W, channels-last) from the code of the
// forward, the term's gradient `grad` (N, H, W) and the gradient of the
// padded relu output `grad_relu` (frame p); either gradient may be absent.
at::Tensor relu_l1_backward(const at::Tensor& code,
                            const c10::optional<at::Tensor>& grad,
                            const c10::optional<at::Tensor>& grad_relu,
                            i64 p) {
  const i64 n = code.size(0), c = code.size(1), h = code.size(2),
            w = code.size(3);
  at::Tensor out = at::empty({n, c, h, w}, code.options().dtype(at::kFloat),
                             at::MemoryFormat::ChannelsLast);
  at::Tensor gc;
  if (grad) {
    check_float(*grad, "gradient");
    gc = grad->contiguous();
  }
  if (grad_relu) check_channels_last(*grad_relu, "relu gradient");
  const int8_t* cs = code.data_ptr<int8_t>();
  const float* gs = grad ? gc.data_ptr<float>() : nullptr;
  const float* rs = grad_relu ? grad_relu->data_ptr<float>() : nullptr;
  float* os = out.data_ptr<float>();
  const i64 rrow = (w + 2 * p) * c, rimg = (h + 2 * p) * rrow;
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<float> g(rs ? w * c : 0), tmp(w * c);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      if (rs) fold_row(rs + i * rimg, rrow, y, h, w, p, c, g.data());
      relu_l1_backward_row(cs + ny * w * c, gs ? gs + ny * w : nullptr,
                           rs ? g.data() : nullptr, os + ny * w * c, w, c,
                           tmp.data());
    }
  });
  return out;
}

// The edge net's first layer on the one-hot labels, relu applied:
// label (N, H, W) int64 (`ignore`: no class), table (k * k * (C + 1), O)
// (tap-major, row C of each tap all zero), bias (O); written into the
// interior of out[i] (1, O, H + 2p, W + 2p), channels-last, for each image
// i. The frame is left to the caller.
void labels_first_layer(const at::Tensor& label, const at::Tensor& table,
                        const at::Tensor& bias, i64 k, int64_t ignore,
                        const std::vector<at::Tensor>& out, i64 p) {
  check_labels(label);
  check_float(table, "table");
  check_float(bias, "bias");
  const i64 n = label.size(0), h = label.size(1), w = label.size(2);
  const i64 o = table.size(1), c = table.size(0) / (k * k) - 1;
  TORCH_CHECK(table.is_contiguous() && table.size(0) == k * k * (c + 1) &&
                  bias.numel() == o && static_cast<i64>(out.size()) == n,
              "labels_first_layer: a (k * k * (C + 1), O) table, O biases "
              "and one buffer per image expected");
  const i64 row = (w + 2 * p) * o;
  const std::vector<float*> outs = padded_buffers(out, o, h, w, p);
  const int64_t* ls = label.data_ptr<int64_t>();
  const float* ts = table.data_ptr<float>();
  const float* bs = bias.data_ptr<float>();
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<i64> offset(k * (w + k - 1));
    std::vector<float> acc(o);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      labels_first_row(ls + i * h * w, h, w, y, k, c, ignore, ts, bs, o,
                       outs[i] + (y + p) * row + p * o, offset.data(),
                       acc.data());
    }
  });
}

// The edge net's second layer on the labels, before its relu: out (N, O2,
// H, W) channels-last from the labels (N, H, W) int64 (`ignore`: no class),
// the first layer's relu output relu1[i] (1, O1, H + 2p, W + 2p) per image
// (p = k / 2, frame filled), weight (k, k, O1, O2), bias (O2) and the rows
// `uniform` (C + 1, O2) of windows of one label (see labels_second_row).
at::Tensor labels_second_layer(const at::Tensor& label,
                               const std::vector<at::Tensor>& relu1,
                               const at::Tensor& weight,
                               const at::Tensor& bias,
                               const at::Tensor& uniform, int64_t ignore) {
  check_labels(label);
  check_float(weight, "weight");
  check_float(bias, "bias");
  check_float(uniform, "uniform");
  TORCH_CHECK(weight.dim() == 4 && weight.is_contiguous() &&
                  weight.size(0) == weight.size(1) && uniform.dim() == 2 &&
                  uniform.is_contiguous() &&
                  uniform.size(1) == weight.size(3) &&
                  bias.numel() == weight.size(3),
              "labels_second_layer: weight (k, k, O1, O2), bias (O2) and "
              "uniform rows (C + 1, O2) expected");
  const i64 n = label.size(0), h = label.size(1), w = label.size(2);
  const i64 k = weight.size(0), o1 = weight.size(2), o2 = weight.size(3);
  const i64 c = uniform.size(0) - 1, p = k / 2, radius = 2 * p;
  const std::vector<float*> r1 = padded_buffers(relu1, o1, h, w, p);
  TORCH_CHECK(static_cast<i64>(r1.size()) == n, "one relu1 map per image");
  at::Tensor out = at::empty({n, o2, h, w}, weight.options(),
                             at::MemoryFormat::ChannelsLast);
  const int64_t* ls = label.data_ptr<int64_t>();
  const float* ws = weight.data_ptr<float>();
  const float* bs = bias.data_ptr<float>();
  const float* us = uniform.data_ptr<float>();
  float* os = out.data_ptr<float>();
  const i64 row1 = (w + 2 * p) * o1, wp = w + 2 * radius;
  at::parallel_for(0, n * h, 1, [&](i64 begin, i64 end) {
    std::vector<i64> column(wp), pending(w);
    std::vector<float> acc(o2);
    for (i64 ny = begin; ny < end; ++ny) {
      const i64 i = ny / h, y = ny % h;
      label_columns(ls + i * h * w, h, w, y, radius, c, ignore,
                    column.data());
      labels_second_row(column.data(), radius, r1[i], row1, y, ws, bs, us,
                        os + ny * w * o2, w, k, o1, o2, acc.data(),
                        pending.data(), nullptr);
    }
  });
  return out;
}

// A valid convolution of the padded channels-last map x (1, Ci, H + 2p,
// W + 2p) (weight (k, k, Ci, Co), bias (Co)) at the pixels where mask
// (H, W) is not zero, 0 elsewhere: out (1, Co, H, W) channels-last. The
// loss's last layer, whose output counts only where its term is weighted.
at::Tensor masked_conv(const at::Tensor& x, const at::Tensor& weight,
                       const at::Tensor& bias, const at::Tensor& mask) {
  check_float(weight, "weight");
  check_float(bias, "bias");
  check_float(mask, "mask");
  TORCH_CHECK(weight.dim() == 4 && weight.is_contiguous() &&
                  weight.size(0) == weight.size(1) &&
                  bias.numel() == weight.size(3) && mask.dim() == 2 &&
                  mask.is_contiguous(),
              "masked_conv: weight (k, k, Ci, Co), bias (Co) and a "
              "contiguous mask (H, W) expected");
  const i64 k = weight.size(0), ci = weight.size(2), co = weight.size(3);
  const i64 h = mask.size(0), w = mask.size(1), p = k / 2;
  const float* xs = padded_buffers({x}, ci, h, w, p)[0];
  at::Tensor out = at::empty({1, co, h, w}, weight.options(),
                             at::MemoryFormat::ChannelsLast);
  const float* ws = weight.data_ptr<float>();
  const float* bs = bias.data_ptr<float>();
  const float* ms = mask.data_ptr<float>();
  float* os = out.data_ptr<float>();
  const i64 row = (w + 2 * p) * ci;
  at::parallel_for(0, h, 1, [&](i64 begin, i64 end) {
    std::vector<i64> pending(w);
    std::vector<float> acc(co);
    for (i64 y = begin; y < end; ++y)
      masked_conv_row(ms + y * w, w, xs + y * row, row, ws, bs,
                      os + y * w * co, k, ci, co, acc.data(), pending.data());
  });
  return out;
}

// The edge net's first two layers where the loss needs them, in one pass
// over the rows: at the pixels where reach (H, W) is not zero, the first
// layer's valid convolution of the padded input x (1, Ci, H + 2p, W + 2p)
// (weight1 (k, k, Ci, O1), bias1) and its ReLU-L1 against the labels' first
// layer (from `table`, as labels_first_layer); at the pixels where mask
// (H, W) is not zero, the second layer's (weight2 (k, k, O1, O2), bias2)
// on the prediction's first relu, replicate-padded, and the labels' second
// layer (labels_second_row, from their first relu and the `uniform` rows),
// then their ReLU-L1. reach must hold every pixel within p of a masked one
// (dilate_mask): the pixels whose first layer the second reads.
// Returns the terms (1, H, W) and the int8 codes (1, O1 or O2, H, W)
// channels-last of both layers: term1, code1, term2, code2; off reach (off
// the mask) term 0 and code 2. No (O1, H, W) map is written: each thread
// keeps the k padded rows of both first layers that its next output row
// reads, each stored twice in a ring of 2k rows so that the k rows lie
// contiguous at any start.
std::vector<at::Tensor> masked_two_layers(
    const at::Tensor& x, const at::Tensor& weight1, const at::Tensor& bias1,
    const at::Tensor& table, const at::Tensor& weight2,
    const at::Tensor& bias2, const at::Tensor& uniform,
    const at::Tensor& reach, const at::Tensor& mask, const at::Tensor& label,
    int64_t ignore) {
  for (const auto& [t, name] :
       {std::pair(&weight1, "weight1"), std::pair(&bias1, "bias1"),
        std::pair(&table, "table"), std::pair(&weight2, "weight2"),
        std::pair(&bias2, "bias2"), std::pair(&uniform, "uniform"),
        std::pair(&reach, "reach"), std::pair(&mask, "mask")}) {
    check_float(*t, name);
    TORCH_CHECK(t->is_contiguous(), "masked_two_layers: ", name,
                " must be contiguous");
  }
  check_labels(label);
  const i64 k = weight1.size(0), ci = weight1.size(2), o1 = weight1.size(3);
  const i64 o2 = weight2.size(3), c = uniform.size(0) - 1;
  TORCH_CHECK(weight1.dim() == 4 && weight1.size(1) == k &&
                  bias1.numel() == o1 && weight2.dim() == 4 &&
                  weight2.size(0) == k && weight2.size(1) == k &&
                  weight2.size(2) == o1 && bias2.numel() == o2 &&
                  uniform.dim() == 2 && uniform.size(1) == o2 &&
                  table.dim() == 2 && table.size(0) == k * k * (c + 1) &&
                  table.size(1) == o1 && mask.dim() == 2 &&
                  reach.sizes() == mask.sizes() && label.size(0) == 1 &&
                  label.size(1) == mask.size(0) &&
                  label.size(2) == mask.size(1),
              "masked_two_layers: weights (k, k, Ci, O1) and (k, k, O1, O2), "
              "biases (O1) and (O2), a table (k * k * (C + 1), O1), uniform "
              "rows (C + 1, O2), reach and mask (H, W) and labels (1, H, W) "
              "expected");
  const i64 h = mask.size(0), w = mask.size(1), p = k / 2;
  const float* xs = padded_buffers({x}, ci, h, w, p)[0];
  const auto opts = weight1.options();
  at::Tensor term1 = at::empty({1, h, w}, opts);
  at::Tensor term2 = at::empty({1, h, w}, opts);
  at::Tensor code1 = at::empty({1, o1, h, w}, opts.dtype(at::kChar),
                               at::MemoryFormat::ChannelsLast);
  at::Tensor code2 = at::empty({1, o2, h, w}, opts.dtype(at::kChar),
                               at::MemoryFormat::ChannelsLast);
  const float *w1 = weight1.data_ptr<float>(), *b1 = bias1.data_ptr<float>();
  const float *w2 = weight2.data_ptr<float>(), *b2 = bias2.data_ptr<float>();
  const float *ts = table.data_ptr<float>(), *us = uniform.data_ptr<float>();
  const float *rs = reach.data_ptr<float>(), *ms = mask.data_ptr<float>();
  const int64_t* ls = label.data_ptr<int64_t>();
  float *t1 = term1.data_ptr<float>(), *t2 = term2.data_ptr<float>();
  int8_t *c1 = code1.data_ptr<int8_t>(), *c2 = code2.data_ptr<int8_t>();
  const i64 row = (w + 2 * p) * ci, row1 = (w + 2 * p) * o1;
  at::parallel_for(0, h, 1, [&](i64 begin, i64 end) {
    const i64 wide = std::max(o1, o2);
    std::vector<i64> pending(w), offset(k * (w + k - 1)),
        column(w + 4 * p);
    std::vector<float> acc(wide), pred(w * wide), gt(w * wide),
        tmp(w * wide), spare_term(w), ring(4 * k * row1);
    std::vector<int8_t> spare_code(w * o1);
    float* pring = ring.data();            // the prediction's relu rows
    float* gring = ring.data() + 2 * k * row1;  // the labels'
    i64 next = begin;  // the next padded row of the first layers to make
    for (i64 y = begin; y < end; ++y) {
      // padded rows y .. y + k - 1: image rows y - p .. y + p, replicated
      for (; next < y + k; ++next) {
        const i64 r = std::min(std::max(next - p, i64(0)), h - 1);
        const bool own = next - p == r && r >= begin && r < end;
        float* pr = pring + (next % k) * row1;
        float* gr = gring + (next % k) * row1;
        labels_first_row(ls, h, w, r, k, c, ignore, ts, b1, o1, gr + p * o1,
                         offset.data(), acc.data());
        masked_conv_row(rs + r * w, w, xs + r * row, row, w1, b1,
                        pred.data(), k, ci, o1, acc.data(), pending.data());
        float* term = own ? t1 + r * w : spare_term.data();
        relu_l1_row(pred.data(), gr + p * o1,
                    own ? c1 + r * w * o1 : spare_code.data(), term,
                    pr + p * o1, w, o1, tmp.data());
        for (i64 j = 0; j < w; ++j)
          if (rs[r * w + j] == 0.0f) term[j] = 0.0f;
        for (float* dst : {pr, gr}) {  // the frame's columns, replicated
          for (i64 j = 0; j < p; ++j) {
            std::memcpy(dst + j * o1, dst + p * o1, sizeof(float) * o1);
            std::memcpy(dst + (w + p + j) * o1, dst + (w + p - 1) * o1,
                        sizeof(float) * o1);
          }
          std::memcpy(dst + k * row1, dst, sizeof(float) * row1);
        }
      }
      const float* mrow = ms + y * w;
      const float* pwin = pring + (y % k) * row1;
      masked_conv_row(mrow, w, pwin, row1, w2, b2, pred.data(), k, o1, o2,
                      acc.data(), pending.data());
      label_columns(ls, h, w, y, 2 * p, c, ignore, column.data());
      labels_second_row(column.data(), 2 * p, gring + (y % k) * row1, row1, 0,
                        w2, b2, us, gt.data(), w, k, o1, o2, acc.data(),
                        pending.data(), mrow);
      relu_l1_row(pred.data(), gt.data(), c2 + y * w * o2, t2 + y * w,
                  nullptr, w, o2, tmp.data());
    }
  });
  return {term1, code1, term2, code2};
}

// The input gradient of a masked convolution (dense math, computed where it
// can be non-zero) into out (1, Ci, H + 2p, W + 2p) channels-last, 0 where
// no masked pixel's window reaches: weight (k, k, Co, Ci) (each tap
// transposed; rows of cs floats, see input_grad_vec), mask (H, W).
// rows(gy, slot, tmp, made) gives the output gradient's row gy ((w, Co)
// floats), which it may write into `slot` (w * Co floats; `made`: it holds
// row gy already) with `tmp` (2 w * Co floats).
template <typename Rows>
void masked_input_grad(const float* ms, i64 h, i64 w,
                       const float* __restrict ws, i64 k, i64 ci, i64 cs,
                       i64 co, float* os, const Rows& rows) {
  const i64 hp = h + k - 1, wp = w + k - 1;
  at::parallel_for(0, hp, 1, [&](i64 begin, i64 end) {
    std::vector<i64> pending(wp), tag(k, -1);
    std::vector<char> column(w);
    std::vector<float> acc(ci), ring(k * w * co), tmp(2 * w * co);
    std::vector<const float*> grows(k);
    for (i64 y = begin; y < end; ++y) {
      // column[x]: a masked output pixel in rows y - k + 1 .. y
      for (i64 x = 0; x < w; ++x) column[x] = 0;
      for (i64 gy = std::max(y - k + 1, i64(0)); gy <= std::min(y, h - 1);
           ++gy)
        for (i64 x = 0; x < w; ++x) column[x] |= ms[gy * w + x] != 0.0f;
      i64 count = 0;
      float* orow = os + y * wp * ci;
      for (i64 x = 0; x < wp; ++x) {
        bool any = false;
        for (i64 gx = std::max(x - k + 1, i64(0)); gx <= std::min(x, w - 1);
             ++gx)
          any |= column[gx] != 0;
        if (any)
          pending[count++] = x;
        else
          std::memset(orow + x * ci, 0, sizeof(float) * ci);
      }
      if (!count) continue;
      for (i64 ty = 0; ty < k; ++ty) {  // output rows y - ty, each made once
        const i64 gy = y - ty, slot = ((gy % k) + k) % k;
        grows[ty] = nullptr;
        if (gy < 0 || gy >= h) continue;
        float* dst = ring.data() + slot * w * co;
        grows[ty] = rows(gy, dst, tmp.data(), tag[slot] == gy);
        tag[slot] = gy;
      }
      conv_input_grad_pixels(pending.data(), count, grows.data(), w, ws,
                             orow, k, ci, cs, co, acc.data());
    }
  });
}

void check_masked_backward(const at::Tensor& weight, const at::Tensor& mask) {
  check_float(weight, "weight");
  check_float(mask, "mask");
  TORCH_CHECK(weight.dim() == 4 && weight.is_contiguous() &&
                  weight.size(0) == weight.size(1) && mask.dim() == 2 &&
                  mask.is_contiguous(),
              "expected weight (k, k, Co, Ci) and a contiguous mask (H, W), "
              "got sizes ", weight.sizes(), " and ", mask.sizes());
}

// The input gradient of masked_conv: grad (1, Co, H, W) channels-last, zero
// off the mask; weight (k, k, Co, Ci) (each tap transposed); mask (H, W).
// Returns the gradient of the padded input (1, Ci, H + 2p, W + 2p),
// channels-last, 0 where no masked pixel's window reaches.
at::Tensor masked_conv_backward(const at::Tensor& grad,
                                const at::Tensor& weight,
                                const at::Tensor& mask) {
  check_channels_last(grad, "gradient");
  check_masked_backward(weight, mask);
  const i64 k = weight.size(0), co = weight.size(2), ci = weight.size(3);
  const i64 h = mask.size(0), w = mask.size(1), p = k / 2;
  TORCH_CHECK(grad.size(0) == 1 && grad.size(1) == co && grad.size(2) == h &&
                  grad.size(3) == w,
              "masked_conv_backward: a gradient (1, ", co, ", ", h, ", ", w,
              ") expected, got ", grad.sizes());
  at::Tensor out = at::empty({1, ci, h + 2 * p, w + 2 * p}, grad.options(),
                             at::MemoryFormat::ChannelsLast);
  const float* gs = grad.data_ptr<float>();
  masked_input_grad(mask.data_ptr<float>(), h, w, weight.data_ptr<float>(),
                    k, ci, ci, co, out.data_ptr<float>(),
                    [&](i64 gy, float*, float*, bool) {
                      return gs + gy * w * co;
                    });
  return out;
}

// The input gradient of masked_two_layers' second layer, from its term's
// gradient grad (1, H, W) and int8 code (1, Co, H, W) channels-last: the
// ReLU-L1's gradient (relu_l1_backward_row) made a few rows at a time, no
// (Co, H, W) map; weight (k, k, Co, Ci) (each tap transposed); mask (H, W).
// Returns the gradient of the padded input x (1, Ci, H + 2p, W + 2p),
// channels-last.
at::Tensor masked_second_relu_l1_backward(const at::Tensor& code,
                                          const at::Tensor& grad,
                                          const at::Tensor& weight,
                                          const at::Tensor& mask) {
  check_masked_backward(weight, mask);
  check_float(grad, "gradient");
  const i64 k = weight.size(0), co = weight.size(2), ci = weight.size(3);
  const i64 h = mask.size(0), w = mask.size(1), p = k / 2;
  TORCH_CHECK(code.scalar_type() == at::kChar && code.dim() == 4 &&
                  code.size(0) == 1 && code.size(1) == co &&
                  code.size(2) == h && code.size(3) == w &&
                  code.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                  grad.numel() == h * w,
              "masked_second_relu_l1_backward: a channels-last int8 code "
              "(1, ", co, ", ", h, ", ", w, ") and a gradient of ", h * w,
              " pixels expected, got ", code.sizes(), " and ", grad.sizes());
  at::Tensor gc = grad.contiguous();
  at::Tensor out = at::empty({1, ci, h + 2 * p, w + 2 * p}, grad.options(),
                             at::MemoryFormat::ChannelsLast);
  const int8_t* cs = code.data_ptr<int8_t>();
  const float* gs = gc.data_ptr<float>();
  masked_input_grad(mask.data_ptr<float>(), h, w, weight.data_ptr<float>(),
                    k, ci, ci, co, out.data_ptr<float>(),
                    [&](i64 gy, float* dst, float* tmp, bool made) {
                      if (!made)
                        relu_l1_backward_row(cs + gy * w * co, gs + gy * w,
                                             nullptr, dst, w, co, tmp);
                      return static_cast<const float*>(dst);
                    });
  return out;
}

// 1 where mask (H, W) is not zero within `radius` pixels (Chebyshev), 0
// elsewhere: the pixels whose value a weighted window of the next layer
// reads.
at::Tensor dilate_mask(const at::Tensor& mask, i64 radius) {
  check_float(mask, "mask");
  TORCH_CHECK(mask.dim() == 2 && mask.is_contiguous(),
              "dilate_mask: a contiguous mask (H, W) expected, got ",
              mask.sizes());
  const i64 h = mask.size(0), w = mask.size(1);
  at::Tensor out = at::empty({h, w}, mask.options());
  const float* ms = mask.data_ptr<float>();
  float* os = out.data_ptr<float>();
  at::parallel_for(0, h, 1, [&](i64 begin, i64 end) {
    std::vector<char> column(w);
    for (i64 y = begin; y < end; ++y) {
      for (i64 x = 0; x < w; ++x) column[x] = 0;
      for (i64 yy = std::max(y - radius, i64(0));
           yy <= std::min(y + radius, h - 1); ++yy)
        for (i64 x = 0; x < w; ++x) column[x] |= ms[yy * w + x] != 0.0f;
      for (i64 x = 0; x < w; ++x) {
        char any = 0;
        for (i64 xx = std::max(x - radius, i64(0));
             xx <= std::min(x + radius, w - 1); ++xx)
          any |= column[xx];
        os[y * w + x] = any ? 1.0f : 0.0f;
      }
    }
  });
  return out;
}

// The gradient of the padded input x of masked_two_layers' first layer,
// from its term's gradient grad (1, H, W) and the gradient of its padded
// relu grad_relu (frame p), either of which may be absent: the ReLU-L1's
// gradient made a few rows at a time, then the convolution's input gradient
// where a pixel of `reach` has a window; weight (k, k, Co, Ci) (each tap
// transposed). Returns (1, Ci, H + 2p, W + 2p) channels-last.
at::Tensor masked_first_relu_l1_backward(
    const at::Tensor& code, const c10::optional<at::Tensor>& grad,
    const c10::optional<at::Tensor>& grad_relu, const at::Tensor& weight,
    const at::Tensor& reach) {
  check_masked_backward(weight, reach);
  const i64 k = weight.size(0), co = weight.size(2), ci = weight.size(3);
  const i64 h = reach.size(0), w = reach.size(1), p = k / 2;
  TORCH_CHECK(code.scalar_type() == at::kChar && code.dim() == 4 &&
                  code.size(1) == co && code.size(2) == h &&
                  code.size(3) == w &&
                  code.is_contiguous(at::MemoryFormat::ChannelsLast),
              "masked_first_relu_l1_backward: a channels-last int8 code (1, ",
              co, ", ", h, ", ", w, ") expected, got ", code.sizes());
  at::Tensor gc;
  if (grad) {
    check_float(*grad, "gradient");
    gc = grad->contiguous();
  }
  const float* rs = nullptr;
  if (grad_relu) rs = padded_buffers({*grad_relu}, co, h, w, p)[0];
  // input channels padded with zeros to 16 or 32 for the vector path
  const i64 cs = ci <= 16 ? 16 : (ci <= 32 ? 32 : ci);
  at::Tensor wp = weight;
  if (cs != ci)
    wp = at::constant_pad_nd(weight, {0, cs - ci}).contiguous();
  at::Tensor out = at::empty({1, ci, h + 2 * p, w + 2 * p},
                             weight.options(),
                             at::MemoryFormat::ChannelsLast);
  const int8_t* cd = code.data_ptr<int8_t>();
  const float* gs = grad ? gc.data_ptr<float>() : nullptr;
  const i64 rrow = (w + 2 * p) * co;
  masked_input_grad(reach.data_ptr<float>(), h, w, wp.data_ptr<float>(), k,
                    ci, cs, co, out.data_ptr<float>(),
                    [&](i64 gy, float* dst, float* tmp, bool made) {
                      if (!made) {
                        float* g = tmp + w * co;
                        if (rs) fold_row(rs, rrow, gy, h, w, p, co, g);
                        relu_l1_backward_row(cd + gy * w * co,
                                             gs ? gs + gy * w : nullptr,
                                             rs ? g : nullptr, dst, w, co,
                                             tmp);
                      }
                      return static_cast<const float*>(dst);
                    });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("softmax_padded_forward", &softmax_padded_forward);
  m.def("softmax_padded_backward", &softmax_padded_backward);
  m.def("embed_softmax_forward", &embed_softmax_forward);
  m.def("embed_softmax_backward", &embed_softmax_backward);
  m.def("relu_l1_forward", &relu_l1_forward);
  m.def("relu_l1_backward", &relu_l1_backward);
  m.def("labels_first_layer", &labels_first_layer);
  m.def("labels_second_layer", &labels_second_layer);
  m.def("masked_conv", &masked_conv);
  m.def("masked_conv_backward", &masked_conv_backward);
  m.def("masked_second_relu_l1_backward", &masked_second_relu_l1_backward);
  m.def("masked_two_layers", &masked_two_layers);
  m.def("dilate_mask", &dilate_mask);
  m.def("masked_first_relu_l1_backward", &masked_first_relu_l1_backward);
  m.def("empty_large", &empty_large);
}
