// The one measurement loop, above any device (device.hpp): for each point, the operator chosen by
// one rule over the device's memory budget, generation, the finite check, timing, solving and the
// outcome of each matrix. `sweep`, `run`, `run --qk`, `dump` and the reference solves all go
// through it, on the CPU or a CUDA device alike. `make_backend` (backend_factory.cpp) is the one
// place that knows which devices were compiled in.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gapbench/device.hpp"
#include "gapbench/point.hpp"

namespace gapbench {

enum class BackendChoice { kAuto, kCpu, kCuda };
BackendChoice parse_backend(const std::string& s, const std::string& flag = "--backend");
std::string to_string(BackendChoice v);

// Throws Error when the matrix of `o` has entries that are not finite (its Frobenius sum is not):
// the logits overflowed at this beta and precision. `what` names the matrix ("matrix 3 of ...").
void check_sums_finite(const std::string& what, Precision precision, const FrobeniusSums& sums);

class Backend {
 public:
  explicit Backend(std::unique_ptr<Device> device);

  Device& device() { return *m_device; }
  std::string name() const { return m_device->name(); }
  std::string description() const { return m_device->description(); }
  std::map<std::string, std::string> versions() const { return m_device->versions(); }

  // Throws UsageError (naming the flag) when `point` cannot run on this device, before any work.
  void check(const PointSpec& point) const;
  // The operator `point` runs with: dense when asked (or for the solvers that need the matrix),
  // fused when asked, and for auto dense while one dense matrix and its solve fit the device's
  // memory budget, else fused. Throws UsageError naming the flag when neither can run.
  OperatorChoice choose_operator(const PointSpec& point) const;
  // How many matrices of `point` one batch takes: the device's largest that fits (1 when fused).
  int preferred_batch(const PointSpec& point) const;

  // Generates matrices `indices` of `point` under `seed` and solves each, in batches that fit.
  std::vector<MatrixOutcome> run_batch(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices);
  // The top values of the attention matrix of given factors (Q, K row-major T x dk on the host;
  // point.model says how A is formed: beta, causal, fix, logits, T = rows, dk = cols). The
  // factors are rounded per --logits first. `index` labels the outcome (a head).
  template <typename Real>
  MatrixOutcome run_factors(const PointSpec& point, const Real* queries, const Real* keys,
                            std::uint32_t index, std::uint64_t seed);
  // The top values of a given dense matrix (row-major T x T on the host, T = point.model.T;
  // point.model.fix: none, center (A - (1/T) 1 1^T, applied to a copy) or deflate). It is copied
  // to the device once (exact overwrites its matrix). `index` labels the outcome.
  template <typename Real>
  MatrixOutcome run_matrix(const PointSpec& point, const Real* a, std::uint32_t index,
                           std::uint64_t seed);
  // Matrix `index` of `spec` under `seed`, generated on the device and copied to the host
  // (row-major T x T). Refused (UsageError naming --T) when it does not fit.
  template <typename Real>
  std::vector<Real> generate_to_host(const ModelSpec& spec, std::uint64_t seed,
                                     std::uint32_t index);

  // The same three on data already in the device's memory (Device::cuda_ordinal says which;
  // the caller's, not owned, read and never written): no copy, except that --logits rounds
  // copies of the factors, and a solver that overwrites its matrix (exact, xgesvdr) or fix
  // center works on a copy of A. generate_resident leaves the matrix on the device.
  template <typename Real>
  MatrixOutcome run_resident_factors(const PointSpec& point, const Real* queries, const Real* keys,
                                     std::uint32_t index, std::uint64_t seed);
  template <typename Real>
  MatrixOutcome run_resident_matrix(const PointSpec& point, const Real* a, std::uint32_t index,
                                    std::uint64_t seed);
  template <typename Real>
  Matrix<Real> generate_resident(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index);

 private:
  // Bytes of `batch` dense matrices of `point` and their solve; a batch whose matrices alone pass
  // `budget` is not sized further (cuSOLVER's size queries can fail for absurd sizes).
  std::int64_t dense_batch_bytes(const PointSpec& point, int batch, std::int64_t budget) const;
  // Largest batch up to `wanted` that fits; throws UsageError naming --T when none does.
  int fitting_batch(const PointSpec& point, int wanted) const;
  std::int64_t fused_plan_bytes(const PointSpec& point) const;

  using TimePoint = std::chrono::steady_clock::time_point;
  // The tails of run_factors and run_matrix, from the factors or matrix in the device's memory
  // (`start`: when the call began; `writable`: the matrix may be overwritten).
  template <typename Real>
  MatrixOutcome run_given(const PointSpec& point, GivenFactors<Real> factors, std::uint32_t index,
                          std::uint64_t seed, TimePoint start);
  template <typename Real>
  MatrixOutcome run_given_matrix(const PointSpec& point, const Real* a, bool writable,
                                 std::uint32_t index, std::uint64_t seed, TimePoint start);

  template <typename Real>
  std::vector<MatrixOutcome> run_dense(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices);
  template <typename Real>
  SolveResult solve_one(const PointSpec& point, OperatorChoice op, Real* a, std::uint64_t seed);
  // The dense matrix `a` the caller formed (o.sums and o.generate_seconds set): its sums
  // checked, solved (timed), the sums deflated.
  template <typename Real>
  void solve_formed(const PointSpec& point, Real* a, std::uint64_t seed, const std::string& what,
                    MatrixOutcome& o);
  // The iterative solver of `point` on `op` (products through `choice`'s lanczos block), with
  // --fix deflate applied to the operator first.
  template <typename Real>
  SolveResult solve_on(const PointSpec& point, const LinearOperator<Real>& op,
                       OperatorChoice choice, std::uint64_t seed);
  template <typename Real>
  MatrixOutcome solve_matrix_free(const PointSpec& point, std::uint32_t index, std::uint64_t seed,
                                  MatrixFreeOperator<Real>& op, double make_seconds);

  std::unique_ptr<Device> m_device;
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
