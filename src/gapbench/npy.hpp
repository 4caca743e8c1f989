// NumPy .npy files: a matrix in C order as <f4 or <f8, so that NumPy/SciPy can load exactly the
// matrix gapbench generated, and queries/keys dumped from a trained model (`run --qk`).
//
// The reader is strict and bounded: versions 1.0, 2.0 and 3.0; a header of at most
// kMaxNpyHeaderBytes parsed as the Python dict literal NumPy writes (exactly the keys descr,
// fortran_order and shape, nothing else); descr '<f4' or '<f8' ('=' too on a little-endian host);
// C order only; dimensions as decimal integers whose product, in bytes, is computed with overflow
// checks and must equal the data that follows the header to the byte. Nothing is allocated for
// the data before that check. Every refusal is a UsageError "NAME: what is wrong".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
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

// NumPy refuses longer headers by default (numpy.lib.format's max_header_size); so does gapbench.
inline constexpr std::size_t kMaxNpyHeaderBytes = 10000;

struct NpyHeader {
  std::string descr;  // "<f4" or "<f8" ('=' is read as '<')
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::int64_t data_offset = 0;  // bytes before the data
  std::uint64_t count = 0;       // elements: the product of shape (1 for a 0-d array)
  std::uint64_t item_bytes = 0;  // 4 or 8
};

// Parses the header at the start of `bytes`, the first bytes of a .npy file of `total_bytes`
// bytes in all (bytes.size() <= total_bytes: a prefix is enough). Checks everything above,
// including that the data is exactly total_bytes - data_offset bytes. `name` opens every message.
NpyHeader parse_npy_header(std::string_view bytes, std::uint64_t total_bytes,
                           const std::string& name);

// Reads and checks the header of the .npy file at `path` (see parse_npy_header).
NpyHeader read_npy_header(const std::filesystem::path& path);

// A whole .npy file held in memory (the fuzzers' entry point): a C-order float32 or float64
// array of 2 or 3 dimensions, converted to Real; its shape goes to `shape`.
template <typename Real>
std::vector<Real> parse_npy_array(std::string_view bytes, const std::string& name,
                                  std::vector<std::int64_t>& shape);

// Reads a 2-D C-order .npy matrix of `Real` (descr must match: <f8 for double, <f4 for float).
// Throws UsageError naming the file otherwise.
template <typename Real>
std::vector<Real> read_npy_matrix(const std::filesystem::path& path, std::int64_t& rows,
                                  std::int64_t& cols);

// Reads a C-order .npy array of float32 or float64 (<f4 or <f8, converted to Real) with 2 or 3
// dimensions; its shape goes to `shape`. Refuses, before allocating, an array larger than the
// memory available. Throws UsageError naming the file otherwise.
template <typename Real>
std::vector<Real> read_npy_array(const std::filesystem::path& path,
                                 std::vector<std::int64_t>& shape);

}  // namespace gapbench
