// Products of dense matrices with a thin block of vectors, Y = M X or Y = M^T X with X of
// 1..kMaxBlockProductVectors columns, over a strided batch: the passes over A that the iterative
// solvers make. They are memory-bound (each entry of M is read once and used nv times), and
// cuBLAS's GEMM with n = 4 reads M at about half the bandwidth its GEMV reaches (H200, T = 32768:
// 2.2x the copy-bandwidth floor against 1.17x). These kernels keep every product a streaming read:
//
//   M^T X (columns of M are contiguous): a thread block takes kProductColumns columns, its threads
//     walk down them together (coalesced), each keeping kProductColumns x nv sums, then reduce
//     across the block. X is read once per kProductColumns columns (from L2).
//   M X (rows of M are strided): a thread owns a row and walks along a chunk of columns, with the
//     chunk's rows of X staged in shared memory; the columns are split into chunks so that small
//     batches still fill the device, and the chunks' partial sums are added in a fixed order
//     (deterministic, unlike atomics) by a second kernel.
//
// Layout: M column-major (m x n, leading dimension lda), matrix b of the batch at a + b stride_a;
// X and Y column-major with their own leading dimensions and batch strides. All work is queued on
// `stream`; nothing synchronises. The sums run in Real, in an order that differs from cuBLAS's:
// results agree with it normwise, not bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "block_width.cuh"
#include "resources.cuh"

namespace gapbench::cuda {

// The widest block the kernels take; wider blocks are GEMMs that cuBLAS runs well.
constexpr int kMaxBlockProductVectors = 8;
static_assert(kMaxBlockProductVectors == kMaxTemplatedWidth);

enum class ProductSide { kM, kMTranspose };

template <typename Real>
struct StridedMatrices {
  const Real* data = nullptr;
  std::int64_t rows = 0, cols = 0, ld = 0, stride = 0;
};

template <typename Real>
struct StridedBlocks {
  Real* data = nullptr;
  std::int64_t ld = 0, stride = 0;
};

// Elements of the workspace block_product needs for M X (M^T X needs none); `batch` matrices of
// m x n with nv vectors. At most 64 m nv batch.
std::int64_t block_product_workspace_elements(ProductSide side, std::int64_t m, std::int64_t n,
                                              int nv, std::int64_t batch);

// Y = M X (side kM: X is n x nv, Y is m x nv) or Y = M^T X (kMTranspose: X is m x nv, Y is
// n x nv) for each of `batch` (at most 65535) matrices; 1 <= nv <= kMaxBlockProductVectors.
// `workspace` is grown when smaller than block_product_workspace_elements (an allocation: size it
// up front in timed code). Y must not overlap X or the workspace.
template <typename Real>
void block_product(ProductSide side, const StridedMatrices<Real>& a,
                   const StridedBlocks<const Real>& x, const StridedBlocks<Real>& y, int nv,
                   std::int64_t batch, DeviceBuffer<Real>& workspace, cudaStream_t stream);

}  // namespace gapbench::cuda
