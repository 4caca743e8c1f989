// Row-major dense linear algebra on the device for signal propagation (device.hpp's algebra
// stages): LayerNorm of rows, sums of squares, z = x + s z, the identity, and the mirrored
// triangle of a Gram matrix. Every reduction runs in a fixed launch shape and adds in a fixed
// order, so a result is the same from run to run. Queued on `stream`; the sums return once done.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace gapbench::cuda {

// Each row of the row-major rows x cols matrix x to zero mean and unit population variance (no
// epsilon, no affine); a constant row becomes 0. Mean and variance in float64, as on the CPU.
template <typename Real>
void layer_norm_rows(Real* x, std::int64_t rows, std::int64_t cols, cudaStream_t stream);

// sum_e x[e]^2 over n entries, in float64.
template <typename Real>
double sum_of_squares(const Real* x, std::int64_t n, cudaStream_t stream);

// sum_e (x[e] - shift)^2 over n entries, in float64.
template <typename Real>
double shifted_sum_of_squares(const Real* x, double shift, std::int64_t n, cudaStream_t stream);

// out[e] = x[e] - shift over n entries, in float64 rounded once (out may be x).
template <typename Real>
void subtract(const Real* x, double shift, Real* out, std::int64_t n, cudaStream_t stream);

// The trace of the row-major m x m matrix g, in float64.
template <typename Real>
double trace(const Real* g, std::int64_t m, cudaStream_t stream);

// z = x + s z over n entries.
template <typename Real>
void add_scaled(const Real* x, Real s, Real* z, std::int64_t n, cudaStream_t stream);

// m (rows x cols, row-major) = the identity (ones on the diagonal, zeros elsewhere).
template <typename Real>
void set_identity(Real* m, std::int64_t rows, std::int64_t cols, cudaStream_t stream);

// Copies the upper triangle of the row-major symmetric m x m matrix g onto its lower triangle
// (row-major upper = column-major lower, what a column-major SYRK with CUBLAS_FILL_MODE_LOWER
// writes).
template <typename Real>
void mirror_upper(Real* g, std::int64_t m, cudaStream_t stream);

// The reverse modes of a row softmax (probabilities a + offset) and of layer_norm_rows at its
// input z: g, the cotangent of the output, becomes that of the input (backward.hpp).
template <typename Real>
void softmax_backward_rows(const Real* a, Real offset, Real* g, std::int64_t rows,
                           std::int64_t cols, cudaStream_t stream);
template <typename Real>
void layer_norm_backward_rows(const Real* z, Real* g, std::int64_t rows, std::int64_t cols,
                              cudaStream_t stream);

// m[e] = value over n entries; sum_e a[e] b[e] in float64 (fixed order).
template <typename Real>
void fill(Real* m, Real value, std::int64_t n, cudaStream_t stream);
template <typename Real>
double dot(const Real* a, const Real* b, std::int64_t n, cudaStream_t stream);

}  // namespace gapbench::cuda
