// Kernels templated on the width of a block of vectors (1 to 8: their per-thread sums live in
// registers) are chosen at run time through one switch: with_block_width(n, f) calls
// f(std::integral_constant<int, n>{}).
#pragma once

#include <type_traits>

namespace gapbench::cuda {

constexpr int kMaxTemplatedWidth = 8;

// `n` outside 1..kMaxTemplatedWidth is the caller's to refuse; here it takes the widest.
template <typename F>
void with_block_width(int n, F&& f) {
  switch (n) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    default:
      return f(std::integral_constant<int, kMaxTemplatedWidth>{});
  }
}

}  // namespace gapbench::cuda
