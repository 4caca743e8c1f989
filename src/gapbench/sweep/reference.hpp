// Accuracy against a reference (`gapbench sweep --reference auto`): every matrix of the sweep is
// solved a second time, in float64 with full-precision logits, by `exact` up to
// kReferenceExactMaxT and by lanczos (eigenvalues: arnoldi; causal attention's: the diagonal,
// exact at any T) at tol kReferenceTol above, always on the dense matrix, and
// its row records that reference and the relative errors of the values the sweep's own solver
// computed. The errors therefore count everything between the solver's answer and the float64
// spectrum of the same draw: the solver's tolerance, float32 and --logits rounding. A row that is
// its own reference (exact, float64, full logits) is not solved again.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/point.hpp"

namespace gapbench {

class Backend;

enum class ReferenceChoice { kNone, kAuto };
ReferenceChoice parse_reference(const std::string& s, const std::string& flag);
std::string to_string(ReferenceChoice v);

// Past this T the reference is lanczos: a full SVD costs O(T^3) (on 2 CPU cores, minutes at
// 8192).
inline constexpr std::int64_t kReferenceExactMaxT = 4096;
inline constexpr double kReferenceTol = 1e-10;

// The point whose values are the reference of `point`'s (same model, draw and k). Dense: a
// float64 fused solve past memory would take hours, so the backend's check refuses it instead.
PointSpec reference_point(const PointSpec& point);

// Whether `point` is its own reference (its values need no second solve): float64 exact with
// full logits, up to kReferenceExactMaxT.
bool is_own_reference(const PointSpec& point);

// The reference's name ("exact/float64", "lanczos/float64/tol:1e-10", with "/not-converged"
// when it stopped short) and the errors of `values` against `reference`: the largest
// |v_i - r_i| / r_i over the top k, and that of s2; NaN (an empty field) where a value is missing
// (k = 1 for s2, fewer than k values) or the reference did not converge.
struct ReferenceErrors {
  std::string reference;
  double max_rel_err = 0;
  double rel_err_s2 = 0;
};
struct ReferenceValues {
  std::vector<double> values;
  std::vector<double> values_im;  // eigenvalues' imaginary parts (empty for singular values)
  bool converged = true;
};
// For eigenvalues (reference.solver.spectrum eigen) the error of value i is |lambda_i - r_i| /
// |r_i| in the complex plane, and rel_err_s2 that of the modulus: ||lambda2| - |r2|| / |r2|.
ReferenceErrors reference_errors(const PointSpec& reference, const SolveResult& solve,
                                 const ReferenceValues& ref);

// Reference values, computed once per (reference point, seed, matrix index): several solvers or
// precisions of one model share them. `seconds()`: the time spent computing them.
class ReferenceCache {
 public:
  const ReferenceValues& values(Backend& backend, const PointSpec& reference, std::uint64_t seed,
                                std::uint32_t index);
  double seconds() const { return m_seconds; }

 private:
  std::map<std::tuple<std::string, std::uint64_t, std::uint32_t>, ReferenceValues> m_values;
  double m_seconds = 0;
};

}  // namespace gapbench
