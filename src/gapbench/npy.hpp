// NumPy .npy files (format 1.0): a matrix in C order as <f4 or <f8, so that NumPy/SciPy can load
// exactly the matrix gapbench generated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gapbench {

// Writes rows x cols values (row-major) to `path` atomically (temporary file, then rename).
template <typename Real>
void write_npy(const std::filesystem::path& path, const Real* data, std::int64_t rows,
               std::int64_t cols);

// Writes an array of any shape (C order) the same way.
template <typename Real>
void write_npy_array(const std::filesystem::path& path, const Real* data,
                     const std::vector<std::int64_t>& shape);

struct NpyHeader {
  std::string descr;  // "<f4" or "<f8"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::int64_t data_offset = 0;  // bytes before the data
};

// Reads the header of a .npy file written by write_npy (or NumPy). Throws UsageError naming the
// file when it is not a .npy file of version 1 or 2.
NpyHeader read_npy_header(const std::filesystem::path& path);

}  // namespace gapbench

namespace gapbench {

// Reads a 2-D C-order .npy matrix of `Real` (descr must match: <f8 for double, <f4 for float).
// Throws UsageError naming the file otherwise.
template <typename Real>
std::vector<Real> read_npy_matrix(const std::filesystem::path& path, std::int64_t& rows,
                                  std::int64_t& cols);

// Reads a C-order .npy array of float32 or float64 (<f4 or <f8, converted to Real) with 2 or 3
// dimensions; its shape goes to `shape`. Throws UsageError naming the file otherwise.
template <typename Real>
std::vector<Real> read_npy_array(const std::filesystem::path& path,
                                 std::vector<std::int64_t>& shape);

}  // namespace gapbench
