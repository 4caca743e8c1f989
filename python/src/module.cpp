// gapbench._gapbench: the C++ core under the Python package (python/gapbench/__init__.py), built
// by scikit-build-core with nanobind. Every call goes through the CLI's own pieces: `run`'s flags
// (cli::parse_run_point) describe the matrix and the solver, Backend::run_factors and
// Backend::run_matrix solve, Backend::generate_to_host generates, and cli::run_cli runs `sweep`.
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
#include <nanobind/stl/vector.h>

#include <Python.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/build_info.hpp"
#include "gapbench/cli/commands.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/error.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/runtime.hpp"

namespace nb = nanobind;
using namespace gapbench;

namespace {

// ---- interrupts ------------------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};
unsigned long g_main_thread = 0;  // threading.main_thread().ident, read at import

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  request_cancel();
}

// For its lifetime (on the main thread): SIGINT requests a cancel instead of reaching Python's
// handler; the previous handler comes back after.
class SigintScope {
 public:
  SigintScope() : m_active(PyThread_get_thread_ident() == g_main_thread) {
    g_interrupted.store(false);
    clear_cancel();
    if (!m_active) return;
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &m_previous);
  }
  ~SigintScope() {
    if (m_active) sigaction(SIGINT, &m_previous, nullptr);
    clear_cancel();
  }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  bool m_active;
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
// bad_alloc -> MemoryError, a failed computation -> gapbench.GapbenchError.
template <typename F>
auto guarded(F&& work) {
  try {
    SigintScope scope;
    auto result = [&] {
      nb::gil_scoped_release release;
      return work();
    }();
    // A SIGINT during work that does not check for it (a LAPACK call, generation) is not lost.
    if (g_interrupted.load()) throw Cancelled("interrupted");
    return result;
  } catch (const Cancelled&) {
    raise_python(PyExc_KeyboardInterrupt, "gapbench: interrupted");
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
Backend& backend_for(BackendChoice choice, int threads) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, std::unique_ptr<Backend>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[{static_cast<int>(choice), threads}];
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

bool is_float32(const HostArray& a) { return a.dtype() == nb::dtype<float>(); }
bool is_float64(const HostArray& a) { return a.dtype() == nb::dtype<double>(); }

void check_floating(const HostArray& a, const char* name) {
  if (!(is_float32(a) || is_float64(a))) {
    raise_python(PyExc_ValueError,
                 std::string(name) + ": dtype must be float32 or float64 (the Python layer upcasts "
                                     "float16 and bfloat16)");
  }
}

// ValueError naming `name` when an entry is NaN or Inf (one pass, in C++: cheaper than NumPy's
// isfinite, which allocates a mask).
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
  if (!ok) {
    raise_python(PyExc_ValueError,
                 std::string(name) + ": holds NaN or Inf entries; the spectrum is undefined");
  }
}

// The shapes the Python layer guarantees, checked again (these functions are callable directly):
// Q and K alike, with at least 2 (at most `max_ndim`) dimensions; A square in its last two.
void check_pair(const HostArray& q, const HostArray& k, std::size_t max_ndim) {
  bool same = q.ndim() == k.ndim() && q.dtype() == k.dtype();
  for (std::size_t i = 0; same && i < q.ndim(); ++i) same = q.shape(i) == k.shape(i);
  if (!same || q.ndim() < 2 || q.ndim() > max_ndim || q.shape(q.ndim() - 2) < 2) {
    raise_python(PyExc_ValueError, "K: Q and K must have the same dtype and shape (T, dk), "
                                   "(heads, T, dk) or (batch, heads, T, dk), T >= 2");
  }
}
void check_square(const HostArray& a) {
  if (a.ndim() < 2 || a.shape(a.ndim() - 1) != a.shape(a.ndim() - 2) || a.shape(a.ndim() - 1) < 2) {
    raise_python(PyExc_ValueError, "A: the array must have shape (..., T, T) with T >= 2");
  }
}

// Leading dimensions of an array of matrices (rows x cols in the last two).
std::int64_t leading(const HostArray& a) {
  std::int64_t n = 1;
  for (std::size_t i = 0; i + 2 < a.ndim(); ++i) n *= static_cast<std::int64_t>(a.shape(i));
  return n;
}

// The attention point of Q's last two dimensions (T x dk) under `run`'s flags.
void set_factor_shape(const HostArray& q, cli::RunPoint& rp) {
  ModelSpec& m = rp.point.model;
  m.kind = ModelKind::kAttention;
  m.T = static_cast<std::int64_t>(q.shape(q.ndim() - 2));
  m.d = m.dk = static_cast<std::int64_t>(q.shape(q.ndim() - 1));
}

template <typename Real>
nb::list solve_factors_as(const HostArray& q, const HostArray& k, cli::RunPoint rp) {
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
    Backend& backend = backend_for(rp.backend, rp.threads);
    backend.check(point);
    name = backend.name();
    for (std::int64_t h = 0; h < heads; ++h) {
      outcomes.push_back(backend.run_factors<Real>(point, qd + h * T * dk, kd + h * T * dk,
                                                   static_cast<std::uint32_t>(h), rp.seed));
    }
    return 0;
  });
  nb::list out;
  for (const MatrixOutcome& o : outcomes) out.append(outcome_dict(point, o, name));
  return out;
}

template <typename Real>
nb::list solve_matrices_as(const HostArray& a, cli::RunPoint rp) {
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
    Backend& backend = backend_for(rp.backend, rp.threads);
    backend.check(point);
    name = backend.name();
    for (std::int64_t i = 0; i < count; ++i) {
      outcomes.push_back(
          backend.run_matrix<Real>(point, ad + i * T * T, static_cast<std::uint32_t>(i), rp.seed));
    }
    return 0;
  });
  nb::list out;
  for (const MatrixOutcome& o : outcomes) out.append(outcome_dict(point, o, name));
  return out;
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

}  // namespace

NB_MODULE(_gapbench, m) {
  m.doc() = "gapbench's C++ core (use the gapbench package, not this module)";
  g_main_thread = nb::cast<unsigned long>(
      nb::module_::import_("threading").attr("main_thread")().attr("ident"));
  g_gapbench_error = nb::borrow(
      PyErr_NewExceptionWithDoc("gapbench.GapbenchError",
                                "A computation failed (a library call, a matrix with NaN or Inf).",
                                PyExc_RuntimeError, nullptr));
  m.attr("GapbenchError") = g_gapbench_error;

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
        check_finite(q, "Q");
        check_finite(k, "K");
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
        check_finite(a, "A");
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
      "run_cli",
      [](const std::vector<std::string>& args) {
        std::string error;
        const int code = guarded([&] { return cli::run_cli(args, &error); });
        g_threads_set = -2;  // the CLI set its own
        return std::make_pair(code, error);
      },
      nb::arg("args"),
      "The gapbench CLI in-process (args[0] the program name): (exit code, error line).");
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
