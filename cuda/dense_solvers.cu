#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "dense_solvers.cuh"
#include "gapbench/solvers/eigen_values.hpp"
#include "resources.cuh"

namespace gapbench::cuda {
namespace {

template <typename Real>
constexpr cudaDataType data_type() {
  return std::is_same_v<Real, float> ? CUDA_R_32F : CUDA_R_64F;
}

cudaStream_t stream_of(const CusolverHandle& solver) {
  cudaStream_t s = nullptr;
  GAPBENCH_CUSOLVER_CHECK(cusolverDnGetStream(solver.get(), &s));
  return s;
}

// Waits for the call and throws when cuSOLVER's info is not 0 (an illegal argument or no
// convergence), naming the routine.
void check_info(const DeviceBuffer<int>& info, int count, cudaStream_t s, const char* routine) {
  std::vector<int> host(static_cast<std::size_t>(count));
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(host.data(), info.data(), count * sizeof(int), cudaMemcpyDeviceToHost, s));
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(s));
  for (int b = 0; b < count; ++b) {
    if (host[b] != 0) {
      throw BackendError(fmt::format("{} returned info = {} for matrix {} of the batch ({})",
                                     routine, host[b], b,
                                     host[b] < 0 ? "an illegal argument" : "no convergence"));
    }
  }
}

template <typename Real>
std::vector<double> download(const Real* d, std::size_t n, cudaStream_t s) {
  const std::vector<Real> host = to_host(d, static_cast<std::int64_t>(n), s);
  return std::vector<double>(host.begin(), host.end());
}

struct Workspace {
  std::size_t device = 0;
  std::size_t host = 0;
};

// What one 64-bit cuSOLVER call takes besides its matrices: its device and host workspaces, as
// sized by its _bufferSize, and the info word.
struct CallBuffers {
  explicit CallBuffers(const Workspace& w) : size(w), device(w.device), host(w.host), info(1) {}
  Workspace size;
  DeviceBuffer<unsigned char> device;
  std::vector<unsigned char> host;
  DeviceBuffer<int> info;
};

template <typename Real>
Workspace xgesvd_workspace(const CusolverHandle& solver, std::int64_t T) {
  Workspace w;
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgesvd_bufferSize(
      solver.get(), solver.params(), 'N', 'N', T, T, data_type<Real>(), nullptr, T,
      data_type<Real>(), nullptr, data_type<Real>(), nullptr, T, data_type<Real>(), nullptr, T,
      data_type<Real>(), &w.device, &w.host));
  return w;
}

template <typename Real>
Workspace xgeev_workspace(const CusolverHandle& solver, std::int64_t T) {
  Workspace w;
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgeev_bufferSize(
      solver.get(), solver.params(), CUSOLVER_EIG_MODE_NOVECTOR, CUSOLVER_EIG_MODE_NOVECTOR, T,
      data_type<Real>(), nullptr, T, data_type<Real>(), nullptr, data_type<Real>(), nullptr, T,
      data_type<Real>(), nullptr, T, data_type<Real>(), &w.device, &w.host));
  return w;
}

template <typename Real>
Workspace xgesvdr_workspace(const CusolverHandle& solver, std::int64_t T, int k, int p, int iters) {
  Workspace w;
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgesvdr_bufferSize(
      solver.get(), solver.params(), 'N', 'N', T, T, k, p, iters, data_type<Real>(), nullptr, T,
      data_type<Real>(), nullptr, data_type<Real>(), nullptr, T, data_type<Real>(), nullptr, T,
      data_type<Real>(), &w.device, &w.host));
  return w;
}

int gesvda_lwork(const CusolverHandle& solver, const float* a, std::int64_t T, int k, float* s,
                 float* u, float* v, int batch) {
  int lwork = 0;
  const int n = static_cast<int>(T);
  GAPBENCH_CUSOLVER_CHECK(cusolverDnSgesvdaStridedBatched_bufferSize(
      solver.get(), CUSOLVER_EIG_MODE_VECTOR, k, n, n, a, n, T * T, s, k, u, n, T * k, v, n, T * k,
      &lwork, batch));
  return lwork;
}
int gesvda_lwork(const CusolverHandle& solver, const double* a, std::int64_t T, int k, double* s,
                 double* u, double* v, int batch) {
  int lwork = 0;
  const int n = static_cast<int>(T);
  GAPBENCH_CUSOLVER_CHECK(cusolverDnDgesvdaStridedBatched_bufferSize(
      solver.get(), CUSOLVER_EIG_MODE_VECTOR, k, n, n, a, n, T * T, s, k, u, n, T * k, v, n, T * k,
      &lwork, batch));
  return lwork;
}

void gesvda(const CusolverHandle& solver, const float* a, std::int64_t T, int k, float* s, float* u,
            float* v, float* work, int lwork, int* info, double* residual, int batch) {
  const int n = static_cast<int>(T);
  GAPBENCH_CUSOLVER_CHECK(cusolverDnSgesvdaStridedBatched(
      solver.get(), CUSOLVER_EIG_MODE_VECTOR, k, n, n, a, n, T * T, s, k, u, n, T * k, v, n, T * k,
      work, lwork, info, residual, batch));
}
void gesvda(const CusolverHandle& solver, const double* a, std::int64_t T, int k, double* s,
            double* u, double* v, double* work, int lwork, int* info, double* residual, int batch) {
  const int n = static_cast<int>(T);
  GAPBENCH_CUSOLVER_CHECK(cusolverDnDgesvdaStridedBatched(
      solver.get(), CUSOLVER_EIG_MODE_VECTOR, k, n, n, a, n, T * T, s, k, u, n, T * k, v, n, T * k,
      work, lwork, info, residual, batch));
}

void check_gesvda_size(std::int64_t T) {
  if (T > kGesvdaMaxT) {
    throw UsageError(fmt::format(
        "--solver gesvda: T = {} is above its cap {} (cuSOLVER's gesvdaStridedBatched takes "
        "32-bit sizes, T * T < 2^31); use --solver lanczos, rsvd or xgesvdr",
        T, kGesvdaMaxT));
  }
}

}  // namespace

template <typename Real>
std::int64_t exact_workspace_bytes(const CusolverHandle& solver, std::int64_t T) {
  return static_cast<std::int64_t>(xgesvd_workspace<Real>(solver, T).device) +
         T * static_cast<std::int64_t>(sizeof(Real)) + 64;
}

template <typename Real>
std::int64_t exact_eigen_workspace_bytes(const CusolverHandle& solver, std::int64_t T) {
  // The device workspace and W (2T: the real parts, then the imaginary ones); the host
  // workspace is host memory, outside the device's plan.
  return static_cast<std::int64_t>(xgeev_workspace<Real>(solver, T).device) +
         2 * T * static_cast<std::int64_t>(sizeof(Real)) + 64;
}

template <typename Real>
std::int64_t xgesvdr_workspace_bytes(const CusolverHandle& solver, std::int64_t T, int k, int p,
                                     int iters) {
  // Workspace, S (T entries: more than k + p, whatever cuSOLVER fills) and U, V (T x k each).
  return static_cast<std::int64_t>(xgesvdr_workspace<Real>(solver, T, k, p, iters).device) +
         (T + 2 * T * k) * static_cast<std::int64_t>(sizeof(Real)) + 64;
}

template <typename Real>
std::int64_t gesvda_workspace_bytes(const CusolverHandle& solver, std::int64_t T, int k,
                                    int batch) {
  check_gesvda_size(T);
  const int lwork = gesvda_lwork(solver, static_cast<const Real*>(nullptr), T, k, nullptr, nullptr,
                                 nullptr, batch);
  if (lwork <= 0) {  // the int workspace size overflowed
    throw BackendError(fmt::format(
        "gesvdaStridedBatched: no int workspace size for {} matrices at T = {}", batch, T));
  }
  return (static_cast<std::int64_t>(lwork) + batch * (k + 2 * T * k)) *
             static_cast<std::int64_t>(sizeof(Real)) +
         batch * 4 + 64;
}

template <typename Real>
SolveResult exact_values(const CusolverHandle& solver, Real* a, std::int64_t T, int k,
                         bool all_values) {
  const cudaStream_t s = stream_of(solver);
  CallBuffers b(xgesvd_workspace<Real>(solver, T));
  DeviceBuffer<Real> values(static_cast<std::size_t>(T));
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgesvd(
      solver.get(), solver.params(), 'N', 'N', T, T, data_type<Real>(), a, T, data_type<Real>(),
      values.data(), data_type<Real>(), nullptr, T, data_type<Real>(), nullptr, T,
      data_type<Real>(), b.device.data(), b.size.device, b.host.data(), b.size.host,
      b.info.data()));
  check_info(b.info, 1, s, "cusolverDnXgesvd");
  SolveResult r;
  r.values = download(values.data(), all_values ? static_cast<std::size_t>(T) : k, s);
  return r;
}

template <typename Real>
SolveResult exact_eigenvalues(const CusolverHandle& solver, Real* a, std::int64_t T, int k,
                              bool all_values) {
  const cudaStream_t s = stream_of(solver);
  CallBuffers b(xgeev_workspace<Real>(solver, T));
  // Real W of 2T entries: the real parts, then the imaginary parts (LAPACK's wr, wi).
  DeviceBuffer<Real> values(static_cast<std::size_t>(2 * T));
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgeev(
      solver.get(), solver.params(), CUSOLVER_EIG_MODE_NOVECTOR, CUSOLVER_EIG_MODE_NOVECTOR, T,
      data_type<Real>(), a, T, data_type<Real>(), values.data(), data_type<Real>(), nullptr, T,
      data_type<Real>(), nullptr, T, data_type<Real>(), b.device.data(), b.size.device,
      b.host.data(), b.size.host, b.info.data()));
  check_info(b.info, 1, s, "cusolverDnXgeev");
  const std::vector<double> w_host = download(values.data(), static_cast<std::size_t>(2 * T), s);
  SolveResult r;
  keep_top_eigenvalues(std::vector<double>(w_host.begin(), w_host.begin() + T),
                       std::vector<double>(w_host.begin() + T, w_host.end()), k, all_values, r);
  return r;
}

template <typename Real>
SolveResult xgesvdr_values(const CusolverHandle& solver, Real* a, std::int64_t T, int k, int p,
                           int iters) {
  const cudaStream_t s = stream_of(solver);
  CallBuffers b(xgesvdr_workspace<Real>(solver, T, k, p, iters));
  DeviceBuffer<Real> values(static_cast<std::size_t>(T));
  DeviceBuffer<Real> u(static_cast<std::size_t>(T * k)), v(static_cast<std::size_t>(T * k));
  GAPBENCH_CUSOLVER_CHECK(cusolverDnXgesvdr(
      solver.get(), solver.params(), 'N', 'N', T, T, k, p, iters, data_type<Real>(), a, T,
      data_type<Real>(), values.data(), data_type<Real>(), u.data(), T, data_type<Real>(), v.data(),
      T, data_type<Real>(), b.device.data(), b.size.device, b.host.data(), b.size.host,
      b.info.data()));
  check_info(b.info, 1, s, "cusolverDnXgesvdr");
  SolveResult r;
  r.values = download(values.data(), static_cast<std::size_t>(k), s);
  r.iterations = iters;
  r.passes = 2 * (iters + 1);  // A and A^T once per power iteration, plus the range finder's
  return r;
}

template <typename Real>
std::vector<SolveResult> gesvda_values(const CusolverHandle& solver, const Real* a, std::int64_t T,
                                       int k, int batch) {
  check_gesvda_size(T);
  const cudaStream_t s = stream_of(solver);
  DeviceBuffer<Real> values(static_cast<std::size_t>(batch) * k);
  DeviceBuffer<Real> u(static_cast<std::size_t>(batch) * T * k);
  DeviceBuffer<Real> v(static_cast<std::size_t>(batch) * T * k);
  const int lwork = gesvda_lwork(solver, a, T, k, values.data(), u.data(), v.data(), batch);
  DeviceBuffer<Real> work(static_cast<std::size_t>(lwork));
  DeviceBuffer<int> info(static_cast<std::size_t>(batch));
  std::vector<double> residual(static_cast<std::size_t>(batch));
  gesvda(solver, a, T, k, values.data(), u.data(), v.data(), work.data(), lwork, info.data(),
         residual.data(), batch);
  check_info(info, batch, s, "cusolverDn?gesvdaStridedBatched");
  const std::vector<double> all = download(values.data(), values.size(), s);
  std::vector<SolveResult> out(static_cast<std::size_t>(batch));
  for (int b = 0; b < batch; ++b) {
    out[b].values.assign(all.begin() + b * k, all.begin() + (b + 1) * k);
    out[b].residual_estimate = residual[b];
    out[b].residual = out[b].values.front() > 0 ? residual[b] / out[b].values.front() : residual[b];
  }
  return out;
}

#define GAPBENCH_INSTANTIATE(Real)                                                                \
  template std::int64_t exact_workspace_bytes<Real>(const CusolverHandle&, std::int64_t);         \
  template std::int64_t xgesvdr_workspace_bytes<Real>(const CusolverHandle&, std::int64_t, int,   \
                                                      int, int);                                  \
  template std::int64_t gesvda_workspace_bytes<Real>(const CusolverHandle&, std::int64_t, int,    \
                                                     int);                                        \
  template SolveResult exact_values<Real>(const CusolverHandle&, Real*, std::int64_t, int, bool); \
  template std::int64_t exact_eigen_workspace_bytes<Real>(const CusolverHandle&, std::int64_t);   \
  template SolveResult exact_eigenvalues<Real>(const CusolverHandle&, Real*, std::int64_t, int,   \
                                               bool);                                             \
  template SolveResult xgesvdr_values<Real>(const CusolverHandle&, Real*, std::int64_t, int, int, \
                                            int);                                                 \
  template std::vector<SolveResult> gesvda_values<Real>(const CusolverHandle&, const Real*,       \
                                                        std::int64_t, int, int);
GAPBENCH_INSTANTIATE(float)
GAPBENCH_INSTANTIATE(double)
#undef GAPBENCH_INSTANTIATE

namespace {
cusolverStatus_t geqrf_size(cusolverDnHandle_t h, int m, int n, float* a, int* lwork) {
  return cusolverDnSgeqrf_bufferSize(h, m, n, a, m, lwork);
}
cusolverStatus_t geqrf_size(cusolverDnHandle_t h, int m, int n, double* a, int* lwork) {
  return cusolverDnDgeqrf_bufferSize(h, m, n, a, m, lwork);
}
cusolverStatus_t orgqr_size(cusolverDnHandle_t h, int m, int n, float* a, const float* tau,
                            int* lwork) {
  return cusolverDnSorgqr_bufferSize(h, m, n, n, a, m, tau, lwork);
}
cusolverStatus_t orgqr_size(cusolverDnHandle_t h, int m, int n, double* a, const double* tau,
                            int* lwork) {
  return cusolverDnDorgqr_bufferSize(h, m, n, n, a, m, tau, lwork);
}
cusolverStatus_t geqrf(cusolverDnHandle_t h, int m, int n, float* a, float* tau, float* work,
                       int lwork, int* info) {
  return cusolverDnSgeqrf(h, m, n, a, m, tau, work, lwork, info);
}
cusolverStatus_t geqrf(cusolverDnHandle_t h, int m, int n, double* a, double* tau, double* work,
                       int lwork, int* info) {
  return cusolverDnDgeqrf(h, m, n, a, m, tau, work, lwork, info);
}
cusolverStatus_t orgqr(cusolverDnHandle_t h, int m, int n, float* a, const float* tau, float* work,
                       int lwork, int* info) {
  return cusolverDnSorgqr(h, m, n, n, a, m, tau, work, lwork, info);
}
cusolverStatus_t orgqr(cusolverDnHandle_t h, int m, int n, double* a, const double* tau,
                       double* work, int lwork, int* info) {
  return cusolverDnDorgqr(h, m, n, n, a, m, tau, work, lwork, info);
}
}  // namespace

template <typename Real>
void orthonormalize_columns(const CusolverHandle& solver, Real* a, std::int64_t m,
                            std::int64_t n) {
  if (m * n > std::numeric_limits<int>::max()) {
    throw UsageError(fmt::format(
        "--T: the QR of a {} x {} input takes 32-bit sizes in cuSOLVER; lower --T or --d", n, m));
  }
  const int mi = static_cast<int>(m), ni = static_cast<int>(n);
  const cudaStream_t s = stream_of(solver);
  DeviceBuffer<Real> tau(static_cast<std::size_t>(n));
  int lwork_qr = 0, lwork_q = 0;
  GAPBENCH_CUSOLVER_CHECK(geqrf_size(solver.get(), mi, ni, a, &lwork_qr));
  GAPBENCH_CUSOLVER_CHECK(orgqr_size(solver.get(), mi, ni, a, tau.data(), &lwork_q));
  DeviceBuffer<Real> work(static_cast<std::size_t>(std::max({lwork_qr, lwork_q, 1})));
  DeviceBuffer<int> info(1);
  GAPBENCH_CUSOLVER_CHECK(geqrf(solver.get(), mi, ni, a, tau.data(), work.data(),
                                static_cast<int>(work.size()), info.data()));
  check_info(info, 1, s, "cusolverDn?geqrf");
  GAPBENCH_CUSOLVER_CHECK(orgqr(solver.get(), mi, ni, a, tau.data(), work.data(),
                                static_cast<int>(work.size()), info.data()));
  check_info(info, 1, s, "cusolverDn?orgqr");
}

template void orthonormalize_columns<float>(const CusolverHandle&, float*, std::int64_t,
                                            std::int64_t);
template void orthonormalize_columns<double>(const CusolverHandle&, double*, std::int64_t,
                                             std::int64_t);

}  // namespace gapbench::cuda
