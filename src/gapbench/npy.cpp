#include "gapbench/npy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>

#include "gapbench/error.hpp"

namespace gapbench {

template <typename Real>
void write_npy(const std::filesystem::path& path, const Real* data, std::int64_t rows,
               std::int64_t cols) {
  write_npy_array(path, data, {rows, cols});
}

template <typename Real>
void write_npy_array(const std::filesystem::path& path, const Real* data,
                     const std::vector<std::int64_t>& shape) {
  static_assert(sizeof(Real) == 4 || sizeof(Real) == 8);
  std::string dims;
  std::int64_t count = 1;
  for (const std::int64_t n : shape) {
    dims += fmt::format("{}, ", n);
    count *= n;
  }
  std::string header = fmt::format("{{'descr': '<f{}', 'fortran_order': False, 'shape': ({}), }}",
                                   sizeof(Real), dims);
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64
  // and ended by a newline.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const std::filesystem::path tmp = path.string() + ".tmp";
  // A failed write leaves neither the temporary nor a partial file behind.
  struct RemoveUnlessRenamed {
    const std::filesystem::path& file;
    bool renamed = false;
    ~RemoveUnlessRenamed() {
      std::error_code ec;
      if (!renamed) std::filesystem::remove(file, ec);
    }
  } cleanup{tmp};
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw UsageError(fmt::format("--out: cannot write '{}'", path.string()));
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(data),
              static_cast<std::streamsize>(sizeof(Real) * count));
    if (!out) throw UsageError(fmt::format("--out: cannot write '{}'", path.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    throw UsageError(fmt::format("--out: cannot write '{}': {}", path.string(), ec.message()));
  cleanup.renamed = true;
}

template void write_npy_array<float>(const std::filesystem::path&, const float*,
                                     const std::vector<std::int64_t>&);
template void write_npy_array<double>(const std::filesystem::path&, const double*,
                                      const std::vector<std::int64_t>&);
template void write_npy<float>(const std::filesystem::path&, const float*, std::int64_t,
                               std::int64_t);
template void write_npy<double>(const std::filesystem::path&, const double*, std::int64_t,
                                std::int64_t);

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::string(magic, 6) != "\x93NUMPY" || (magic[6] != 1 && magic[6] != 2)) {
    throw UsageError(fmt::format("{}: not a .npy file (version 1 or 2)", path.string()));
  }
  std::uint32_t len = 0;
  const int len_bytes = magic[6] == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) {
    len |= static_cast<std::uint32_t>(static_cast<unsigned char>(in.get())) << (8 * i);
  }
  std::string header(len, '\0');
  in.read(header.data(), len);
  if (!in) throw UsageError(fmt::format("{}: truncated .npy header", path.string()));
  NpyHeader h;
  h.data_offset = 8 + len_bytes + len;
  std::smatch m;
  if (std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'"))) h.descr = m[1];
  h.fortran_order = header.find("'fortran_order': True") != std::string::npos;
  if (std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) {
    const std::string dims = m[1];
    const std::regex number("\\d+");
    for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number);
         it != std::sregex_iterator(); ++it) {
      h.shape.push_back(std::stoll(it->str()));
    }
  }
  if (h.descr.empty()) throw UsageError(fmt::format("{}: .npy header has no descr", path.string()));
  return h;
}

}  // namespace gapbench

namespace gapbench {

template <typename Real>
std::vector<Real> read_npy_matrix(const std::filesystem::path& path, std::int64_t& rows,
                                  std::int64_t& cols) {
  const NpyHeader h = read_npy_header(path);
  const std::string want = sizeof(Real) == 8 ? "<f8" : "<f4";
  if (h.descr != want || h.fortran_order || h.shape.size() != 2) {
    throw UsageError(fmt::format(
        "{}: expected a 2-D C-order {} matrix, found descr {} shape "
        "of {} dims{}",
        path.string(), want, h.descr, h.shape.size(), h.fortran_order ? " in Fortran order" : ""));
  }
  rows = h.shape[0];
  cols = h.shape[1];
  std::vector<Real> data(static_cast<std::size_t>(rows * cols));
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  in.read(reinterpret_cast<char*>(data.data()),
          static_cast<std::streamsize>(sizeof(Real) * data.size()));
  if (!in) throw UsageError(fmt::format("{}: truncated .npy data", path.string()));
  return data;
}

template <typename Real>
std::vector<Real> read_npy_array(const std::filesystem::path& path,
                                 std::vector<std::int64_t>& shape) {
  const NpyHeader h = read_npy_header(path);
  if ((h.descr != "<f4" && h.descr != "<f8") || h.fortran_order ||
      (h.shape.size() != 2 && h.shape.size() != 3)) {
    throw UsageError(fmt::format(
        "{}: expected a C-order float32 or float64 array of 2 or 3 dimensions, found descr {} "
        "with {} dims{} (numpy: np.save(f, np.ascontiguousarray(a, dtype=np.float32)))",
        path.string(), h.descr, h.shape.size(), h.fortran_order ? " in Fortran order" : ""));
  }
  shape = h.shape;
  std::int64_t count = 1;
  for (const std::int64_t n : shape) count *= n;
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  const auto read = [&](auto* data) {
    in.read(reinterpret_cast<char*>(data),
            static_cast<std::streamsize>(sizeof(*data) * static_cast<std::size_t>(count)));
    if (!in) throw UsageError(fmt::format("{}: truncated .npy data", path.string()));
  };
  std::vector<Real> out(static_cast<std::size_t>(count));
  if ((h.descr == "<f8") == (sizeof(Real) == 8)) {
    read(out.data());
  } else if (h.descr == "<f8") {
    std::vector<double> raw(out.size());
    read(raw.data());
    std::copy(raw.begin(), raw.end(), out.begin());
  } else {
    std::vector<float> raw(out.size());
    read(raw.data());
    std::copy(raw.begin(), raw.end(), out.begin());
  }
  return out;
}

template std::vector<float> read_npy_array<float>(const std::filesystem::path&,
                                                  std::vector<std::int64_t>&);
template std::vector<double> read_npy_array<double>(const std::filesystem::path&,
                                                    std::vector<std::int64_t>&);

template std::vector<float> read_npy_matrix<float>(const std::filesystem::path&, std::int64_t&,
                                                   std::int64_t&);
template std::vector<double> read_npy_matrix<double>(const std::filesystem::path&, std::int64_t&,
                                                     std::int64_t&);

}  // namespace gapbench
