// The host-side face of the CUDA library (cuda/): plain C++ declarations, no CUDA headers, so
// that host code compiled by g++ can call into it: the backend factory, and the GPU tests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"

namespace gapbench::cuda {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  double memory_bytes = 0;
  double peak_bandwidth_bytes_per_s = 0;  // 2 (DDR) x memory clock x bus width / 8
};

struct Inventory {
  std::vector<DeviceInfo> devices;
  std::string reason;  // why there is none, when devices is empty
  int driver_version = 0;
  int runtime_version = 0;
};

// Devices visible to the CUDA runtime. Never throws: no driver or no device gives an empty list
// and a reason.
Inventory inventory();

// Versions of the CUDA runtime, driver, cuBLAS and cuSOLVER (name -> "major.minor.patch").
std::map<std::string, std::string> library_versions();

// The CUDA backend on `device` (from inventory()).
std::unique_ptr<Backend> make_cuda_backend(const DeviceInfo& device);

// Matrices `indices` of `spec` generated on the current device in one batch and copied back:
// row-major T x T each, one after another; their Frobenius sums into `sums` when given.
template <typename Real>
std::vector<Real> generate_on_device(const ModelSpec& spec, std::uint64_t seed,
                                     const std::vector<std::uint32_t>& indices,
                                     std::vector<FrobeniusSums>* sums = nullptr);

// The forms of the device's fused operator: kAuto takes the on-chip kernel where the model has
// one (attention with dk <= 128: cuda/fused_attention.cuh) and the three-step tiles elsewhere;
// kThreeStep always takes the tiles (logits GEMM, normalising kernel, product GEMM).
enum class FusedForm { kAuto, kThreeStep };

// Y = A X (or A^T X) by the device's fused (matrix-free) operator for matrix `index` of `spec`,
// in `form`, the three-step form with tiles of at most tile_rows x tile_cols, X and Y
// column-major T x b on the host; the operator's Frobenius sums into `sums` when given. For the
// GPU tests.
template <typename Real>
std::vector<Real> fused_product_on_device(const ModelSpec& spec, std::uint64_t seed,
                                          std::uint32_t index, const std::vector<Real>& x,
                                          std::int64_t b, bool transpose, FusedForm form,
                                          std::int64_t tile_rows, std::int64_t tile_cols,
                                          FrobeniusSums* sums = nullptr);

// Y = M X, or M^T X with `transpose`, for each of `batch` column-major rows x cols matrices M
// (leading dimension lda, one after another in `m`), by the device's block-product kernels
// (cuda/block_product.cuh). X holds one block of nv vectors per matrix (column-major, leading
// dimension ldx, one after another); Y comes back packed (leading dimension = its rows). For the
// GPU tests.
template <typename Real>
std::vector<Real> block_product_on_device(const std::vector<Real>& m, std::int64_t rows,
                                          std::int64_t cols, std::int64_t lda, std::int64_t batch,
                                          const std::vector<Real>& x, std::int64_t ldx, int nv,
                                          bool transpose);

}  // namespace gapbench::cuda
