// An outside program on gapbench::core: the top two singular values of one random Markov matrix
// (T = 64, exact SVD) on the CPU backend. Its rows sum to 1, so s1 >= 1 (A 1 = 1): exits 1 unless
// s1 is finite and above 0.9 and s2 is below it.
#include <cmath>
#include <cstdio>
#include <exception>

#include "gapbench/backend.hpp"

int main() {
  try {
    gapbench::PointSpec point;
    point.model.kind = gapbench::ModelKind::kMarkov;
    point.model.T = 64;
    point.solver.kind = gapbench::SolverKind::kExact;
    point.solver.k = 2;
    const gapbench::BackendSelection selection =
        gapbench::make_backend(gapbench::BackendChoice::kCpu, /*threads=*/1);
    const std::vector<gapbench::MatrixOutcome> outcomes =
        selection.backend->run_batch(point, /*seed=*/1, /*indices=*/{0});
    const std::vector<double>& s = outcomes.at(0).solve.values;
    std::printf("backend %s: %s: s1 %.12g s2 %.12g\n", selection.backend->name().c_str(),
                gapbench::describe(point.model).c_str(), s.at(0), s.at(1));
    const bool ok = std::isfinite(s[0]) && s[0] > 0.9 && s[1] < s[0];
    std::printf("%s\n", ok ? "consumer: ok" : "consumer: unexpected values");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: failed: %s\n", e.what());
    return 1;
  }
}
