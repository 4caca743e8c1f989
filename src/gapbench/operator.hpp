// What the iterative solvers see: a linear operator (products with A and A^T on blocks of
// vectors) and a small set of block operations, both implemented by each backend over its own
// memory (host memory for the CPU, device memory for CUDA). Solvers are written once against
// these interfaces; small projected matrices (a few hundred rows at most) live on the host.
//
// Blocks are column-major: column c of a block starts at data + c * ld.
#pragma once

#include <cstdint>
#include <memory>

namespace gapbench {

template <typename Real>
struct BlockView {
  Real* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t ld = 0;

  // Columns [first, first + count) of this block.
  BlockView columns(std::int64_t first, std::int64_t count) const {
    return {data + first * ld, rows, count, ld};
  }
};

// An owned block in the backend's memory: move-only, no implicit copies (a copy is a named call).
template <typename Real>
class Block {
 public:
  Block() = default;
  Block(std::shared_ptr<Real> storage, std::int64_t rows, std::int64_t cols)
      : m_storage(std::move(storage)), m_rows(rows), m_cols(cols) {}
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  Block(Block&&) noexcept = default;
  Block& operator=(Block&&) noexcept = default;

  BlockView<Real> view() const { return {m_storage.get(), m_rows, m_cols, m_rows}; }
  BlockView<Real> columns(std::int64_t first, std::int64_t count) const {
    return view().columns(first, count);
  }
  std::int64_t rows() const { return m_rows; }
  std::int64_t cols() const { return m_cols; }

 private:
  std::shared_ptr<Real> m_storage;
  std::int64_t m_rows = 0;
  std::int64_t m_cols = 0;
};

// y = A x and y = A^T x on blocks. Counts its passes over A (one product of a block, whatever
// its width, reads A once).
template <typename Real>
class LinearOperator {
 public:
  virtual ~LinearOperator() = default;
  virtual std::int64_t rows() const = 0;
  virtual std::int64_t cols() const = 0;
  // y (rows x b) = A x (cols x b).
  virtual void apply(BlockView<const Real> x, BlockView<Real> y) const = 0;
  // y (cols x b) = A^T x (rows x b).
  virtual void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const = 0;

  std::int64_t passes() const { return m_passes; }
  void reset_passes() { m_passes = 0; }

 protected:
  void count_pass() const { ++m_passes; }

 private:
  mutable std::int64_t m_passes = 0;
};

// Block operations over the backend's memory. Small matrices (`host_*`) are column-major on the
// host, in float64 whatever Real is, so the projected problems keep full accuracy.
template <typename Real>
class BlockOps {
 public:
  virtual ~BlockOps() = default;
  virtual Block<Real> allocate(std::int64_t rows, std::int64_t cols) = 0;
  // host_c (v.cols x w.cols, ld v.cols) = V^T W.
  virtual void project(BlockView<const Real> v, BlockView<const Real> w, double* host_c) = 0;
  // W = beta W + alpha V C, with C (v.cols x w.cols, ld v.cols) on the host. W must not alias V.
  virtual void update(BlockView<const Real> v, const double* host_c, double alpha, double beta,
                      BlockView<Real> w) = 0;
  // Standard normal entries from the Philox stream kSolverStart (counter column = `salt`).
  virtual void fill_random(BlockView<Real> w, std::uint64_t seed, std::uint32_t salt) = 0;
  virtual void copy(BlockView<const Real> src, BlockView<Real> dst) = 0;
  // Waits for queued work (a no-op on the CPU).
  virtual void synchronize() {}
};

template <typename Real>
BlockView<const Real> as_const(BlockView<Real> v) {
  return {v.data, v.rows, v.cols, v.ld};
}

}  // namespace gapbench
