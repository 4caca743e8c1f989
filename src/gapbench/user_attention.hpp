// Attention of a trained model: queries and keys dumped from it (`gapbench run --qk Q.npy,K.npy`)
// instead of drawn at random, so that its spectrum can be measured at full context length on any
// device, by the dense or the matrix-free (fused) operator (Backend::run_factors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>


namespace gapbench {

// Queries and keys, T x dk each (row-major), for each of `heads` heads.
template <typename Real>
struct QkHeads {
  std::int64_t heads = 1;
  std::int64_t T = 0;
  std::int64_t dk = 0;
  std::vector<Real> queries;  // heads blocks of T x dk
  std::vector<Real> keys;
};

// Reads "Q.npy,K.npy": two C-order float32 or float64 arrays of the same shape, T x dk or
// heads x T x dk. Throws UsageError naming --qk when the text, the files or the shapes are wrong.
template <typename Real>
QkHeads<Real> load_qk(const std::string& files);

}  // namespace gapbench
