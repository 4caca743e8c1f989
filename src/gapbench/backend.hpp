// The backend interface: generate a batch of model matrices and find their top singular values,
// on the CPU (src/gapbench/cpu/) or on a CUDA device (cuda/). Everything above it (sweeps, the
// CLI, benchmarks) is written once. `make_backend` in backend_factory.cpp is the one place that
// knows which backends were compiled in.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

enum class BackendChoice { kAuto, kCpu, kCuda };
BackendChoice parse_backend(const std::string& s, const std::string& flag = "--backend");
std::string to_string(BackendChoice v);

// How the solvers' products with A are computed: from the dense matrix, or matrix-free (fused:
// tiles of A regenerated in every product, O(T) memory besides the factors), or auto: dense when
// the dense matrix fits in memory, else fused.
enum class OperatorChoice { kDense, kFused, kAuto };
OperatorChoice parse_operator(const std::string& s, const std::string& flag = "--operator");
std::string to_string(OperatorChoice v);

// Everything that defines a measurement of one matrix besides its seed and index.
struct PointSpec {
  ModelSpec model;
  Precision precision = Precision::kFloat64;
  SolverOptions solver;
  OperatorChoice op = OperatorChoice::kDense;
};

struct MatrixOutcome {
  std::uint32_t index = 0;
  OperatorChoice op = OperatorChoice::kDense;  // the operator used: kDense or kFused
  SolveResult solve;
  FrobeniusSums sums;
  double generate_seconds = 0;
  double solve_seconds = 0;
};

// Throws Error when the generated matrix of `o` has entries that are not finite (its Frobenius
// sum is not): the logits overflowed at this beta and precision.
void check_sums_finite(const PointSpec& point, const MatrixOutcome& o);

// Matrix-free solves of matrices `indices`, one at a time, as every backend times them:
// make(index) builds the fused operator (timed as generation; its Frobenius sums kept and
// checked), solve(op) runs the solver on it and returns once its work is done (timed as the
// solve).
template <typename Make, typename Solve>
std::vector<MatrixOutcome> solve_matrix_free(const PointSpec& point,
                                             const std::vector<std::uint32_t>& indices, Make make,
                                             Solve solve) {
  using clock = std::chrono::steady_clock;
  std::vector<MatrixOutcome> out;
  for (const std::uint32_t index : indices) {
    MatrixOutcome o;
    o.index = index;
    o.op = OperatorChoice::kFused;
    const auto t0 = clock::now();
    const auto op = make(index);
    o.sums = op.sums();
    check_sums_finite(point, o);
    const auto t1 = clock::now();
    o.solve = solve(op);
    o.generate_seconds = std::chrono::duration<double>(t1 - t0).count();
    o.solve_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    out.push_back(std::move(o));
  }
  return out;
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;    // "cpu" or "cuda"
  virtual std::string device() const = 0;  // the processor or GPU, in words
  // Library versions and settings for results metadata (name -> value).
  virtual std::map<std::string, std::string> versions() const = 0;
  // Throws UsageError (naming the flag) when this backend cannot run `point`, before any work.
  virtual void check(const PointSpec& point) const = 0;
  // Generates matrices `indices` of `point` under `seed` and solves each. Backends may batch.
  virtual std::vector<MatrixOutcome> run_batch(const PointSpec& point, std::uint64_t seed,
                                               const std::vector<std::uint32_t>& indices) = 0;
  // How many matrices of `point` run_batch takes at once to good effect.
  virtual int preferred_batch(const PointSpec& point) const = 0;
};

struct BackendSelection {
  std::unique_ptr<Backend> backend;
  std::string note;  // why this backend: e.g. "auto: no CUDA device (...); using cpu"
};

// Builds the backend asked for. `threads` = 0 uses every core. Throws UsageError when the choice
// cannot be met (e.g. --backend cuda without a CUDA build or device).
BackendSelection make_backend(BackendChoice choice, int threads);

// The compiled-in CUDA support, for `gapbench info`: one line per device or the reason none.
std::vector<std::string> describe_cuda_devices();
bool cuda_compiled_in();
// CUDA runtime, driver, cuBLAS and cuSOLVER versions; empty without CUDA.
std::map<std::string, std::string> cuda_versions();

}  // namespace gapbench
