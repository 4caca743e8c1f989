// gapbench._gapbench: the C++ core under the Python package (python/gapbench/__init__.py), built
// by scikit-build-core with nanobind. Every call goes through the CLI's own pieces: `run`'s flags
// (cli::parse_run_point) describe the matrix and the solver, Backend::run_factors and
// Backend::run_matrix solve, Backend::generate_to_host generates, and cli::run_cli runs `sweep`;
// arrays in GPU memory go to their run_resident_* and generate_resident, read in place.
// The Python layer checks the arrays (dtype, shape, finiteness, contiguity) before they reach
// here; these functions take C-contiguous float32 or float64 host arrays as they are (no
// conversion: nanobind's implicit copies are off) and check again.
//
// While C++ works the GIL is released and, on the main thread, SIGINT is turned into a cancel
// request (runtime.hpp): the iterative solvers stop at their next iteration and the call raises
// KeyboardInterrupt; a dense LAPACK solve (exact) finishes first.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <Python.h>
#include <signal.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/build_info.hpp"
#include "gapbench/cli/commands.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/error.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/sweep/shard.hpp"

namespace nb = nanobind;
using namespace gapbench;

namespace {

// ---- interrupts ------------------------------------------------------------------------------

unsigned long g_main_thread = 0;  // threading.main_thread().ident, read at import

extern "C" void on_sigint(int) { request_cancel(); }

// For its lifetime, on the main thread only (where Python delivers SIGINT): SIGINT requests a
// cancel of this thread's solve (CancelScope) instead of reaching Python's handler; the previous
// handler comes back after. On other threads it does nothing: their solves are neither stopped
// by a Ctrl-C meant for the main thread nor able to clear its pending request.
class SigintScope {
 public:
  SigintScope() : m_active(PyThread_get_thread_ident() == g_main_thread) {
    if (!m_active) return;
    m_cancel.emplace();  // clears any earlier request
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &m_previous);
  }
  ~SigintScope() {
    if (m_active) sigaction(SIGINT, &m_previous, nullptr);
  }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

  // Whether a SIGINT came during the scope (one the work did not stop on is not lost).
  bool interrupted() const { return m_active && cancel_requested(); }

 private:
  bool m_active;
  std::optional<CancelScope> m_cancel;
  struct sigaction m_previous {};
};

[[noreturn]] void raise_python(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw nb::python_error();
}

nb::object g_gapbench_error;

// Runs `work` with the GIL released and SIGINT as a cancel request (raised as KeyboardInterrupt
// after the work when it did not stop it); maps gapbench's errors to
// Python's: UsageError -> ValueError (the CLI's one line), Cancelled -> KeyboardInterrupt,
// MemoryPlanError (the CLI's one line) and bad_alloc -> MemoryError, a failed computation ->
// gapbench.GapbenchError.
template <typename F>
auto guarded(F&& work) {
  try {
    SigintScope scope;
    auto result = [&] {
      nb::gil_scoped_release release;
      return work();
    }();
    // A SIGINT during work that does not check for it (a LAPACK call, generation) is not lost.
    if (scope.interrupted()) throw Cancelled("interrupted");
    return result;
  } catch (const Cancelled&) {
    raise_python(PyExc_KeyboardInterrupt, "gapbench: interrupted");
  } catch (const MemoryPlanError& e) {  // before UsageError, its base
    raise_python(PyExc_MemoryError, e.what());
  } catch (const UsageError& e) {
    raise_python(PyExc_ValueError, e.what());
  } catch (const std::bad_alloc&) {
    raise_python(PyExc_MemoryError, "gapbench: out of memory");
  } catch (const Error& e) {
    raise_python(g_gapbench_error.ptr(), e.what());
  }
}

// ---- backends, cached per (choice, threads) ----------------------------------------------------

int g_threads_set = -2;  // what backend_for last set (-2: unknown, e.g. after run_cli)

// The thread count is process-wide (OpenMP, OpenBLAS): it is set again on every call, so a
// call with threads=1 after one with threads=0 runs on one thread, as `gapbench run --threads 1`
// does (the CPU's values are bitwise the same only on the same count).
std::mutex g_backends_mutex;
std::map<std::pair<int, int>, std::unique_ptr<Backend>> g_backends;

Backend& backend_for(BackendChoice choice, int threads) {
  const std::lock_guard<std::mutex> lock(g_backends_mutex);
  auto& slot = g_backends[{static_cast<int>(choice), threads}];
  if (!slot) slot = std::move(make_backend(choice, threads).backend);
  if (threads != g_threads_set) g_threads_set = cpu::set_threads(threads) >= 0 ? threads : -2;
  return *slot;
}

// `run`'s flags parsed once per distinct list (building CLI11's parser costs ~200 us a call).
cli::RunPoint run_point(const std::vector<std::string>& flags) {
  static std::mutex mutex;
  static std::map<std::vector<std::string>, cli::RunPoint> cache;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = cache.find(flags);
    if (it != cache.end()) return it->second;
  }
  cli::RunPoint rp = guarded([&] { return cli::parse_run_point(flags); });
  const std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() > 4096) cache.clear();
  return cache.emplace(flags, std::move(rp)).first->second;
}

// ---- results -----------------------------------------------------------------------------------

nb::dict outcome_dict(const PointSpec& point, const MatrixOutcome& o, const std::string& backend) {
  const SolveResult& v = o.solve;
  nb::dict d;
  d["values"] = v.values;
  d["values_im"] = v.values_im;
  d["converged"] = v.converged;
  d["iterations"] = v.iterations;
  d["passes"] = v.passes;
  d["residual"] = v.residual;
  d["generate_seconds"] = o.generate_seconds;
  d["solve_seconds"] = o.solve_seconds;
  d["operator"] = to_string(o.op);
  d["solver"] = to_string(point.solver.kind);
  d["spectrum"] = to_string(point.solver.spectrum);
  d["backend"] = backend;
  d["frob_sq"] = o.sums.frob_sq;
  if (point.solver.spectrum == Spectrum::kEigen) {
    const Metrics m = compute_eigen_metrics(point.model, v.values, v.values_im, o.sums);
    d["abs_lambda2"] = m.abs_lambda2;
    d["eigen_gap"] = m.eigen_gap;
    d["lambda1_dist"] = m.lambda1_dist;
  } else {
    const Metrics m = compute_metrics(point.model, v.values, o.sums);
    d["gap"] = m.gap;
    d["ratio"] = m.ratio;
    d["stable_rank"] = m.stable_rank;
  }
  return d;
}

// ---- arrays ------------------------------------------------------------------------------------

using HostArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
// A GPU array through DLPack, as the producer gave it (its layout is checked here).
using DeviceArray = nb::ndarray<nb::ro>;

template <typename Array>
bool is_float32(const Array& a) {
  return a.dtype() == nb::dtype<float>();
}
template <typename Array>
bool is_float64(const Array& a) {
  return a.dtype() == nb::dtype<double>();
}

template <typename Array>
constexpr bool kOnDevice = std::is_same_v<Array, DeviceArray>;

// ValueError naming `name` unless `a` is float32 or float64; the fix differs by where it lives.
template <typename Array>
void check_floating(const Array& a, const char* name) {
  if (is_float32(a) || is_float64(a)) return;
  if constexpr (kOnDevice<Array>) {
    raise_python(PyExc_ValueError, std::string(name) +
                                       ": dtype on the GPU is not float32 or float64; upcast it "
                                       "there first (e.g. " +
                                       name + ".float())");
  } else {
    raise_python(PyExc_ValueError,
                 std::string(name) +
                     ": dtype must be float32 or float64 (the Python layer upcasts "
                     "float16 and bfloat16)");
  }
}

// UsageError (ValueError) naming `name` when an entry is NaN or Inf: one pass in C++, with the
// GIL released (cheaper than NumPy's isfinite, which allocates a mask); `gapbench run --qk`
// makes the same pass over its files (user_attention.cpp).
// An entry is NaN or Inf when its exponent bits are all ones; an integer OR-reduction over
// them vectorises.
template <typename Real, typename Bits>
bool all_finite(const Real* x, std::size_t n, Bits exponent) {
  Bits bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, x + i, sizeof b);
    bad |= static_cast<Bits>((b & exponent) == exponent);
  }
  return bad == 0;
}
void check_finite(const HostArray& a, const char* name) {
  const bool ok =
      is_float64(a)
          ? all_finite(static_cast<const double*>(a.data()), a.size(), 0x7ff0000000000000ULL)
          : all_finite(static_cast<const float*>(a.data()), a.size(), 0x7f800000U);
  if (!ok)
    throw UsageError(std::string(name) + ": holds NaN or Inf entries; the spectrum is undefined");
}

// The shapes the Python layer guarantees, checked again (these functions are callable directly):
// Q and K alike, with at least 2 (at most `max_ndim`) dimensions; A square in its last two.
template <typename Array>
void check_pair(const Array& q, const Array& k, std::size_t max_ndim) {
  bool same = q.ndim() == k.ndim() && q.dtype() == k.dtype();
  for (std::size_t i = 0; same && i < q.ndim(); ++i) same = q.shape(i) == k.shape(i);
  if (!same || q.ndim() < 2 || q.ndim() > max_ndim || q.shape(q.ndim() - 2) < 2) {
    raise_python(PyExc_ValueError,
                 "K: Q and K must have the same dtype and shape (T, dk), "
                 "(heads, T, dk) or (batch, heads, T, dk), T >= 2");
  }
}
template <typename Array>
void check_square(const Array& a) {
  if (a.ndim() < 2 || a.shape(a.ndim() - 1) != a.shape(a.ndim() - 2) || a.shape(a.ndim() - 1) < 2) {
    raise_python(PyExc_ValueError, "A: the array must have shape (..., T, T) with T >= 2");
  }
}

// Leading dimensions of an array of matrices (rows x cols in the last two).
template <typename Array>
std::int64_t leading(const Array& a) {
  std::int64_t n = 1;
  for (std::size_t i = 0; i + 2 < a.ndim(); ++i) n *= static_cast<std::int64_t>(a.shape(i));
  return n;
}

// The attention point of Q's last two dimensions (T x dk) under `run`'s flags.
template <typename Array>
void set_factor_shape(const Array& q, cli::RunPoint& rp) {
  ModelSpec& m = rp.point.model;
  m.kind = ModelKind::kAttention;
  m.T = static_cast<std::int64_t>(q.shape(q.ndim() - 2));
  m.d = m.dk = static_cast<std::int64_t>(q.shape(q.ndim() - 1));
}

template <typename Real>
nb::object generate_as(const cli::RunPoint& rp) {
  auto* host = new std::vector<Real>();
  nb::capsule owner(host, [](void* p) noexcept { delete static_cast<std::vector<Real>*>(p); });
  guarded([&] {
    *host = backend_for(rp.backend, rp.threads)
                .generate_to_host<Real>(rp.point.model, rp.seed, rp.index);
    return 0;
  });
  const std::size_t T = static_cast<std::size_t>(rp.point.model.T);
  return nb::cast(nb::ndarray<nb::numpy, Real, nb::ndim<2>>(host->data(), {T, T}, owner));
}

// ---- arrays on a GPU (DLPack) -------------------------------------------------------------------
// The Python layer asks resident_device for the CUDA ordinal and stream, passes that stream to
// the producer's __dlpack__ (which orders its pending work before ours) and hands the capsules
// here. They are read in place: no copy unless --logits rounds the factors or the solver
// overwrites its matrix (Backend::run_resident_*).

// The backend for arrays in device memory under `rp`: its CUDA device, or UsageError.
Backend& resident_backend(const cli::RunPoint& rp) {
  if (rp.backend == BackendChoice::kCpu) {
    throw UsageError(
        "backend: 'cpu' cannot read arrays on a GPU; pass backend='cuda' (or "
        "'auto'), or move the arrays to the host (e.g. .cpu())");
  }
  Backend& backend = backend_for(rp.backend, rp.threads);
  if (backend.device().cuda_ordinal() < 0) {
    throw UsageError(
        "the arrays are on a GPU, but this gapbench has no CUDA backend or sees no "
        "CUDA device (gapbench.build_info()); move them to the host (e.g. .cpu())");
  }
  return backend;
}

// UsageError naming `name` unless `a` is a C-contiguous array on the backend's GPU.
void check_resident(const DeviceArray& a, const char* name, int ordinal) {
  if (a.device_type() != nb::device::cuda::value) {
    throw UsageError(
        fmt::format("{}: the array is not on a CUDA GPU (DLPack device type {}); "
                    "pass a CUDA array or a host array",
                    name, a.device_type()));
  }
  if (a.device_id() != ordinal) {
    throw UsageError(
        fmt::format("{}: the array is on GPU {} but gapbench's CUDA backend works on "
                    "GPU {}; move it there (e.g. .to('cuda:{}'))",
                    name, a.device_id(), ordinal, ordinal));
  }
  std::int64_t expected = 1;  // C order: each stride the product of the extents after it
  for (std::size_t i = a.ndim(); i-- > 0;) {
    const auto extent = static_cast<std::int64_t>(a.shape(i));
    if (extent != 1 && a.stride(i) != expected) {
      throw UsageError(
          fmt::format("{}: the GPU array is not C-contiguous; gapbench reads GPU "
                      "arrays in place and never copies them: pass {}.contiguous()",
                      name, name));
    }
    expected *= extent;
  }
}

// UsageError naming `name` when an entry is NaN or Inf: its Frobenius norm, one device pass.
template <typename Real>
void check_resident_finite(Backend& backend, const DeviceArray& a, const char* name) {
  const double norm = backend.device().stages<Real>().frobenius_norm(Matrix<Real>::borrow(
      static_cast<const Real*>(a.data()), static_cast<std::int64_t>(a.size()), 1));
  if (!std::isfinite(norm)) {
    throw UsageError(std::string(name) + ": holds NaN or Inf entries; the spectrum is undefined");
  }
}

// The precision of the arrays' dtype; ValueError when `asked` (empty: not given) differs.
void set_precision(cli::RunPoint& rp, bool f64, const std::string& asked, const char* name) {
  const std::string have = f64 ? "float64" : "float32";
  if (!asked.empty() && asked != have) {
    raise_python(PyExc_ValueError, "precision: '" + asked + "' differs from " + name + "'s dtype " +
                                       have + "; convert " + name +
                                       " explicitly (gapbench does not convert behind your back)");
  }
  rp.point.precision = f64 ? Precision::kFloat64 : Precision::kFloat32;
}

nb::tuple leading_shape(const DeviceArray& a) {
  nb::list shape;
  for (std::size_t i = 0; i + 2 < a.ndim(); ++i) shape.append(a.shape(i));
  return nb::tuple(shape);
}

// ---- solving, host or GPU arrays ----------------------------------------------------------------

// The backend for arrays of type `Array` under `rp`, with the GIL released. Arrays in GPU memory
// are checked against it here (its GPU, C order, finite entries); host arrays for finite entries
// (their dtype and shape were checked before the GIL was released).
template <typename Real, typename Array>
Backend& backend_for_arrays(const cli::RunPoint& rp,
                            std::initializer_list<std::pair<const Array*, const char*>> arrays) {
  if constexpr (kOnDevice<Array>) {
    Backend& backend = resident_backend(rp);
    for (const auto& [a, name] : arrays) check_resident(*a, name, backend.device().cuda_ordinal());
    for (const auto& [a, name] : arrays) check_resident_finite<Real>(backend, *a, name);
    return backend;
  } else {
    for (const auto& [a, name] : arrays) check_finite(*a, name);
    return backend_for(rp.backend, rp.threads);
  }
}

nb::list outcome_list(const PointSpec& point, const std::vector<MatrixOutcome>& outcomes,
                      const std::string& backend) {
  nb::list out;
  for (const MatrixOutcome& o : outcomes) out.append(outcome_dict(point, o, backend));
  return out;
}

// One result per leading index of Q, K (host arrays: Backend::run_factors; GPU arrays, read in
// place: Backend::run_resident_factors).
template <typename Real, typename Array>
nb::list solve_factors_as(const Array& q, const Array& k, cli::RunPoint rp) {
  const std::int64_t heads = leading(q);
  set_factor_shape(q, rp);
  PointSpec& point = rp.point;
  const std::int64_t T = point.model.T, dk = point.model.dk;
  const auto* qd = static_cast<const Real*>(q.data());
  const auto* kd = static_cast<const Real*>(k.data());
  std::vector<MatrixOutcome> outcomes;
  std::string name;
  guarded([&] {
    check_logits(point.model, point.precision);
    Backend& backend = backend_for_arrays<Real, Array>(rp, {{&q, "Q"}, {&k, "K"}});
    backend.check(point);
    name = backend.name();
    for (std::int64_t h = 0; h < heads; ++h) {
      const Real* qh = qd + h * T * dk;
      const Real* kh = kd + h * T * dk;
      const auto index = static_cast<std::uint32_t>(h);
      outcomes.push_back(kOnDevice<Array>
                             ? backend.run_resident_factors<Real>(point, qh, kh, index, rp.seed)
                             : backend.run_factors<Real>(point, qh, kh, index, rp.seed));
    }
    return 0;
  });
  return outcome_list(point, outcomes, name);
}

// One result per leading index of A (Backend::run_matrix, or run_resident_matrix in place).
template <typename Real, typename Array>
nb::list solve_matrices_as(const Array& a, cli::RunPoint rp) {
  const std::int64_t count = leading(a);
  const std::int64_t T = static_cast<std::int64_t>(a.shape(a.ndim() - 1));
  PointSpec& point = rp.point;
  point.model.kind = ModelKind::kAttention;  // no theory for a given matrix
  point.model.T = T;
  point.model.d = point.model.dk = 1;
  const auto* ad = static_cast<const Real*>(a.data());
  std::vector<MatrixOutcome> outcomes;
  std::string name;
  guarded([&] {
    Backend& backend = backend_for_arrays<Real, Array>(rp, {{&a, "A"}});
    backend.check(point);
    name = backend.name();
    for (std::int64_t i = 0; i < count; ++i) {
      const Real* ai = ad + i * T * T;
      const auto index = static_cast<std::uint32_t>(i);
      outcomes.push_back(kOnDevice<Array>
                             ? backend.run_resident_matrix<Real>(point, ai, index, rp.seed)
                             : backend.run_matrix<Real>(point, ai, index, rp.seed));
    }
    return 0;
  });
  return outcome_list(point, outcomes, name);
}

// The matrix of `rp` generated on the GPU and left there: an array with __dlpack__ (nanobind's
// nb_ndarray) that owns it; the device's work is finished when it is returned.
template <typename Real>
nb::object generate_resident_as(const cli::RunPoint& rp) {
  auto* held = new Matrix<Real>();
  nb::capsule owner(held, [](void* p) noexcept { delete static_cast<Matrix<Real>*>(p); });
  int ordinal = 0;
  guarded([&] {
    Backend& backend = resident_backend(rp);
    *held = backend.generate_resident<Real>(rp.point.model, rp.seed, rp.index);
    backend.device().synchronize();
    ordinal = backend.device().cuda_ordinal();
    return 0;
  });
  const auto T = static_cast<std::size_t>(rp.point.model.T);
  return nb::cast(nb::ndarray<Real, nb::ndim<2>>(held->data(), {T, T}, owner, {}, nb::dtype<Real>(),
                                                 nb::device::cuda::value, ordinal));
}

}  // namespace

NB_MODULE(_gapbench, m) {
  m.doc() = "gapbench's C++ core (use the gapbench package, not this module)";
  g_main_thread = nb::cast<unsigned long>(
      nb::module_::import_("threading").attr("main_thread")().attr("ident"));
  g_gapbench_error = nb::borrow(PyErr_NewExceptionWithDoc(
      "gapbench.GapbenchError",
      "A computation failed (a library call, or entries that overflow: NaN or Inf input is a "
      "ValueError).",
      PyExc_RuntimeError, nullptr));
  m.attr("GapbenchError") = g_gapbench_error;

  // The backends go at interpreter exit (atexit), while the CUDA runtime is still loaded: as
  // static objects they would outlive it and fail to free their streams and events.
  m.def(
      "_release_backends",
      [] {
        const std::lock_guard<std::mutex> lock(g_backends_mutex);
        g_backends.clear();
        g_threads_set = -2;
      },
      "Frees the cached backends (registered with atexit).");
  nb::module_::import_("atexit").attr("register")(m.attr("_release_backends"));

  m.def(
      "build_info", [] { return build_info().dump(); },
      "The build's facts as JSON text: version, commit, build type, compiler, CUDA.");
  m.def(
      "cuda_compiled_in", [] { return cuda_compiled_in(); },
      "Whether this build has the CUDA backend.");

  m.def(
      "solve_factors",
      [](HostArray q, HostArray k, const std::vector<std::string>& flags) {
        check_floating(q, "Q");
        check_pair(q, k, 4);
        const cli::RunPoint rp = run_point(flags);
        if (is_float64(q)) return solve_factors_as<double>(q, k, rp);
        return solve_factors_as<float>(q, k, rp);
      },
      nb::arg("q").noconvert(), nb::arg("k").noconvert(), nb::arg("flags"),
      "The top values of softmax(beta Q K^T / sqrt(dk)) for each leading index of Q, K "
      "(C-contiguous, float32 or float64, the same shape); `flags` are gapbench run's.");
  m.def(
      "solve_matrices",
      [](HostArray a, const std::vector<std::string>& flags) {
        check_floating(a, "A");
        check_square(a);
        const cli::RunPoint rp = run_point(flags);
        if (is_float64(a)) return solve_matrices_as<double>(a, rp);
        return solve_matrices_as<float>(a, rp);
      },
      nb::arg("a").noconvert(), nb::arg("flags"),
      "The top values of each T x T matrix of A (C-contiguous, float32 or float64).");
  m.def(
      "generate",
      [](const std::vector<std::string>& flags) {
        const cli::RunPoint rp = run_point(flags);
        return rp.point.precision == Precision::kFloat64 ? generate_as<double>(rp)
                                                         : generate_as<float>(rp);
      },
      nb::arg("flags"), "The matrix gapbench dump writes for `flags`, as a NumPy array.");
  m.def(
      "resident_device",
      [](const std::vector<std::string>& flags) {
        const cli::RunPoint rp = run_point(flags);
        return guarded([&] {
          Device& device = resident_backend(rp).device();
          return std::make_pair(device.cuda_ordinal(), device.stream_handle());
        });
      },
      nb::arg("flags"),
      "(CUDA ordinal, stream) that `flags`' backend reads GPU arrays on: the stream to pass to "
      "a producer's __dlpack__(stream=...). ValueError without a CUDA backend.");
  m.def(
      "solve_factors_resident",
      [](DeviceArray q, DeviceArray k, const std::vector<std::string>& flags,
         const std::string& precision) {
        check_floating(q, "Q");
        check_pair(q, k, 4);
        cli::RunPoint rp = run_point(flags);
        set_precision(rp, is_float64(q), precision, "Q");
        return nb::make_tuple(
            is_float64(q) ? solve_factors_as<double>(q, k, rp) : solve_factors_as<float>(q, k, rp),
            leading_shape(q));
      },
      nb::arg("q"), nb::arg("k"), nb::arg("flags"), nb::arg("precision"),
      "solve_factors on Q, K in GPU memory (DLPack capsules or producers; C-contiguous, float32 "
      "or float64), read in place: (results, leading shape). `precision`: '' or the one asked.");
  m.def(
      "solve_matrices_resident",
      [](DeviceArray a, const std::vector<std::string>& flags, const std::string& precision) {
        check_floating(a, "A");
        check_square(a);
        cli::RunPoint rp = run_point(flags);
        set_precision(rp, is_float64(a), precision, "A");
        return nb::make_tuple(
            is_float64(a) ? solve_matrices_as<double>(a, rp) : solve_matrices_as<float>(a, rp),
            leading_shape(a));
      },
      nb::arg("a"), nb::arg("flags"), nb::arg("precision"),
      "solve_matrices on A in GPU memory, read in place (copied only for fix center or a solver "
      "that overwrites it: exact, xgesvdr): (results, leading shape).");
  m.def(
      "generate_resident",
      [](const std::vector<std::string>& flags) {
        const cli::RunPoint rp = run_point(flags);
        return rp.point.precision == Precision::kFloat64 ? generate_resident_as<double>(rp)
                                                         : generate_resident_as<float>(rp);
      },
      nb::arg("flags"),
      "The matrix of `flags` generated on the GPU, left there: an array with __dlpack__.");
  m.def(
      "run_cli",
      [](const std::vector<std::string>& args) {
        std::string error;
        bool past_memory_plan = false;
        const int code = guarded([&] { return cli::run_cli(args, &error, &past_memory_plan); });
        g_threads_set = -2;  // the CLI set its own
        return std::make_tuple(code, error, past_memory_plan);
      },
      nb::arg("args"),
      "The gapbench CLI in-process (args[0] the program name): (exit code, error line, whether "
      "the error is a size past the memory plan).");
  m.def(
      "shard_dir",
      [](const std::string& spec) {
        return guarded([&] { return shard_dir_name(parse_shard(spec)); });
      },
      nb::arg("spec"),
      "The directory name under --out that `gapbench sweep --shard SPEC` writes (I/N or slurm).");
  m.def(
      "time_factors",
      [](HostArray q, HostArray k, const std::vector<std::string>& flags, int reps) {
        // The C++ call alone, for the overhead benchmark (scripts/python-overhead.py):
        // Backend::check and Backend::run_factors (what `gapbench run --qk` runs per call) on
        // the same arrays and flags, timed in C++, seconds per call.
        check_floating(q, "Q");
        check_pair(q, k, 2);
        cli::RunPoint rp = run_point(flags);
        set_factor_shape(q, rp);
        std::vector<double> seconds;
        guarded([&] {
          Backend& backend = backend_for(rp.backend, rp.threads);
          for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            check_finite(q, "Q");  // `gapbench run --qk` scans its inputs too (user_attention.cpp)
            check_finite(k, "K");
            backend.check(rp.point);  // what `gapbench run --qk` does for each call too
            if (is_float64(q)) {
              backend.run_factors<double>(rp.point, static_cast<const double*>(q.data()),
                                          static_cast<const double*>(k.data()), 0, rp.seed);
            } else {
              backend.run_factors<float>(rp.point, static_cast<const float*>(q.data()),
                                         static_cast<const float*>(k.data()), 0, rp.seed);
            }
            seconds.push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          }
          return 0;
        });
        return seconds;
      },
      nb::arg("q").noconvert(), nb::arg("k").noconvert(), nb::arg("flags"), nb::arg("reps"),
      "Seconds per call of Backend::run_factors alone on Q, K (2-D), for the overhead benchmark.");
  m.def(
      "data_address", [](HostArray a) { return reinterpret_cast<std::uintptr_t>(a.data()); },
      nb::arg("a").noconvert(), "The address of the data this module receives (tests: no copy).");
}
