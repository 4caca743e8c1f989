#include "gapbench/solvers/eigen_values.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "gapbench/error.hpp"

namespace gapbench {

int eigen_count(const std::vector<double>& im, int k) {
  const bool opens_pair = k >= 1 && k <= static_cast<int>(im.size()) &&
                          im[static_cast<std::size_t>(k - 1)] > 0;
  return opens_pair ? k + 1 : k;
}

void keep_top_eigenvalues(std::vector<double> re, std::vector<double> im, int k, bool all_values,
                          SolveResult& result) {
  if (re.size() != im.size() || re.empty()) {
    throw Error("keep_top_eigenvalues: real and imaginary parts of different or zero length");
  }
  std::vector<std::size_t> order(re.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // A conjugate pair has the same modulus to the last bit (the same |re| and |im|), so the ties
  // put it together; then the positive imaginary part first. Ties between distinct eigenvalues
  // of one modulus fall to the larger real part.
  const auto modulus = [&](std::size_t i) { return std::hypot(re[i], im[i]); };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double ma = modulus(a), mb = modulus(b);
    if (ma != mb) return ma > mb;
    if (re[a] != re[b]) return re[a] > re[b];
    return im[a] > im[b];
  });
  std::vector<double> sorted_re, sorted_im;
  sorted_re.reserve(order.size());
  sorted_im.reserve(order.size());
  for (const std::size_t i : order) {
    sorted_re.push_back(re[i]);
    sorted_im.push_back(im[i]);
  }
  const std::size_t keep = all_values ? sorted_re.size()
                                      : std::min(sorted_re.size(), static_cast<std::size_t>(
                                                                       eigen_count(sorted_im, k)));
  result.values.assign(sorted_re.begin(), sorted_re.begin() + static_cast<std::ptrdiff_t>(keep));
  result.values_im.assign(sorted_im.begin(),
                          sorted_im.begin() + static_cast<std::ptrdiff_t>(keep));
}

SolveResult causal_eigenvalues(std::vector<double> diagonal_of_a, Fix fix, int k,
                               bool all_values) {
  if (diagonal_of_a.empty()) throw Error("causal_eigenvalues: an empty diagonal");
  if (fix == Fix::kCenter) diagonal_of_a[0] = 0.0;
  SolveResult result;
  std::vector<double> im(diagonal_of_a.size(), 0.0);
  keep_top_eigenvalues(std::move(diagonal_of_a), std::move(im), k, all_values, result);
  return result;
}

bool eigenvalues_are_diagonal(const ModelSpec& model) {
  return model.kind == ModelKind::kAttention && model.causal && model.fix != Fix::kDeflate;
}

void check_solver_applies(const SolverOptions& o, const ModelSpec& m) {
  if (!solves_spectrum(o.kind, o.spectrum)) {
    throw UsageError(fmt::format(
        "--solver {}: it computes {} values, not those of --spectrum {} (singular: lanczos, "
        "rsvd, exact, xgesvdr, gesvda; eigen: arnoldi, exact, diagonal)",
        to_string(o.kind), o.spectrum == Spectrum::kEigen ? "singular" : "eigen",
        to_string(o.spectrum)));
  }
  const bool triangular = eigenvalues_are_diagonal(m);
  if (o.kind == SolverKind::kDiagonal && !triangular) {
    throw UsageError(
        "--solver diagonal: only causal attention is triangular (its eigenvalues are its "
        "diagonal; not with --fix deflate); use arnoldi or exact");
  }
  if (o.kind == SolverKind::kArnoldi && triangular) {
    throw UsageError(
        "--solver arnoldi: causal attention is triangular, its eigenvalues are its diagonal "
        "entries; use --solver diagonal (exact in O(T)) or exact");
  }
}

}  // namespace gapbench
