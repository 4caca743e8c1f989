#include "gapbench/npy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>

#include "gapbench/error.hpp"
#include "gapbench/runtime.hpp"

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

namespace {

// The strict parser of a .npy header dict: the Python literal NumPy writes, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : m_text(text), m_name(name) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw UsageError(fmt::format("{}: .npy header {}", m_name, what));
  }

  void parse(NpyHeader& h) {
    skip_space();
    expect('{', "does not start with '{'");
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_space();
    while (!at('}')) {
      const std::string key = string_literal("a key");
      skip_space();
      expect(':', fmt::format("has no ':' after the key '{}'", key));
      skip_space();
      bool* seen = nullptr;
      if (key == "descr") {
        seen = &seen_descr;
        h.descr = string_literal("the descr");
      } else if (key == "fortran_order") {
        seen = &seen_order;
        h.fortran_order = boolean_literal();
      } else if (key == "shape") {
        seen = &seen_shape;
        h.shape = shape_tuple();
      } else {
        fail(fmt::format("has the unknown key '{}' (only descr, fortran_order and shape)", key));
      }
      if (*seen) fail(fmt::format("has the key '{}' twice", key));
      *seen = true;
      skip_space();
      if (at('}')) break;
      expect(',', "has no ',' between its entries");
      skip_space();
    }
    expect('}', "does not end with '}'");
    if (!seen_descr || !seen_order || !seen_shape) {
      fail("lacks one of the keys descr, fortran_order and shape");
    }
    skip_space();
    if (m_pos + 1 != m_text.size() || m_text[m_pos] != '\n') {
      fail("has something after its dict (only spaces and one newline may follow)");
    }
  }

 private:
  bool at(char c) const { return m_pos < m_text.size() && m_text[m_pos] == c; }
  void expect(char c, const std::string& what) {
    if (!at(c)) fail(what);
    ++m_pos;
  }
  void skip_space() {
    while (at(' ') || at('\t')) ++m_pos;
  }

  std::string string_literal(const char* what) {
    if (!at('\'') && !at('"')) fail(fmt::format("has {} that is not a quoted string", what));
    const char quote = m_text[m_pos++];
    const std::size_t end = m_text.find(quote, m_pos);
    if (end == std::string_view::npos) fail(fmt::format("has {} with no closing quote", what));
    const std::string_view value = m_text.substr(m_pos, end - m_pos);
    for (const char c : value) {
      if (c == '\\' || c == '\n' || static_cast<unsigned char>(c) < 0x20 ||
          static_cast<unsigned char>(c) > 0x7e) {
        fail(fmt::format("has {} with an escape or a character that is not printable ASCII", what));
      }
    }
    m_pos = end + 1;
    return std::string(value);
  }

  bool boolean_literal() {
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"False", false},
                                      std::pair<std::string_view, bool>{"True", true}}) {
      if (m_text.substr(m_pos, word.size()) == word) {
        m_pos += word.size();
        return value;
      }
    }
    fail("has a fortran_order that is neither True nor False");
  }

  // A decimal dimension, at most INT64_MAX, without leading zeros (Python's int literal).
  std::int64_t dimension() {
    const std::size_t first = m_pos;
    std::uint64_t value = 0;
    while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
      const auto digit = static_cast<std::uint64_t>(m_text[m_pos] - '0');
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, digit, &value) ||
          value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(fmt::format("has a shape dimension above 2^63 - 1 ('{}...')",
                         m_text.substr(first, m_pos + 1 - first)));
      }
      ++m_pos;
    }
    if (m_pos == first) fail("has a shape dimension that is not a non-negative decimal integer");
    if (m_text[first] == '0' && m_pos - first > 1) {
      fail("has a shape dimension with a leading zero");
    }
    return static_cast<std::int64_t>(value);
  }

  // A Python tuple of dimensions: (), (3,), (3, 4), (3, 4,).
  std::vector<std::int64_t> shape_tuple() {
    expect('(', "has a shape that is not a tuple");
    std::vector<std::int64_t> shape;
    skip_space();
    bool comma = false;
    while (!at(')')) {
      if (shape.size() >= kMaxDims) fail(fmt::format("has more than {} dimensions", kMaxDims));
      shape.push_back(dimension());
      skip_space();
      comma = at(',');
      if (!comma) break;
      ++m_pos;
      skip_space();
    }
    expect(')', "has a shape tuple that is not closed by ')'");
    if (shape.size() == 1 && !comma) fail("has a shape '(N)' that is not a tuple; write '(N,)'");
    return shape;
  }

  static constexpr std::size_t kMaxDims = 32;  // NumPy's NPY_MAXDIMS
  std::string_view m_text;
  const std::string& m_name;
  std::size_t m_pos = 0;
};

// The magic, the version and the header length; then the header and its dict.
constexpr std::size_t kMagicBytes = 6;

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += fmt::format("{}{}", i ? ", " : "", shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

NpyHeader parse_npy_header(std::string_view bytes, std::uint64_t total_bytes,
                           const std::string& name) {
  if (bytes.size() < kMagicBytes + 2 || bytes.substr(0, kMagicBytes) != "\x93NUMPY") {
    throw UsageError(fmt::format("{}: not a .npy file (no \\x93NUMPY magic)", name));
  }
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw UsageError(
        fmt::format("{}: .npy version {}.{} is not 1.0, 2.0 or 3.0", name, major, minor));
  }
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicBytes + 2 + len_bytes;
  if (bytes.size() < prefix) throw UsageError(fmt::format("{}: truncated .npy header", name));
  std::uint64_t len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i) {
    len |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
  }
  if (len > kMaxNpyHeaderBytes) {
    throw UsageError(fmt::format("{}: .npy header of {} bytes is longer than the {} allowed", name,
                                 len, kMaxNpyHeaderBytes));
  }
  if (bytes.size() < prefix + len) {
    throw UsageError(fmt::format("{}: truncated .npy header ({} of {} bytes)", name,
                                 bytes.size() - prefix, len));
  }
  NpyHeader h;
  HeaderParser(bytes.substr(prefix, len), name).parse(h);
  h.data_offset = static_cast<std::int64_t>(prefix + len);
  if (h.descr == "=f4" || h.descr == "=f8") {
    if constexpr (std::endian::native != std::endian::little) {
      throw UsageError(fmt::format("{}: descr '{}' is big-endian on this host; save as '<{}'", name,
                                   h.descr, h.descr.substr(1)));
    }
    h.descr[0] = '<';
  }
  if (h.descr != "<f4" && h.descr != "<f8") {
    throw UsageError(fmt::format(
        "{}: descr '{}' is not little-endian float32 or float64 ('<f4' or '<f8'; numpy: "
        "np.save(f, a.astype('<f4'))",
        name, h.descr));
  }
  if (h.fortran_order) {
    throw UsageError(fmt::format(
        "{}: the array is in Fortran order; save it in C order (np.ascontiguousarray)", name));
  }
  h.item_bytes = h.descr == "<f8" ? 8 : 4;
  std::uint64_t data_bytes = h.item_bytes;
  h.count = 1;
  for (const std::int64_t n : h.shape) {
    const auto dim = static_cast<std::uint64_t>(n);
    if (__builtin_mul_overflow(h.count, dim, &h.count) ||
        __builtin_mul_overflow(data_bytes, dim, &data_bytes) ||
        data_bytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw UsageError(fmt::format("{}: shape {} of {} holds more than 2^63 bytes", name,
                                   shape_text(h.shape), h.descr));
    }
  }
  if (h.count == 0) data_bytes = 0;
  const std::uint64_t offset = prefix + len;
  if (total_bytes < offset || total_bytes - offset != data_bytes) {
    throw UsageError(fmt::format(
        "{}: shape {} of {} needs {} bytes of data but the file has {} after its header", name,
        shape_text(h.shape), h.descr, data_bytes, total_bytes < offset ? 0 : total_bytes - offset));
  }
  return h;
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw UsageError(fmt::format("{}: cannot be read", path.string()));
  std::string prefix(
      static_cast<std::size_t>(std::min<std::uintmax_t>(size, 12 + kMaxNpyHeaderBytes)), '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  if (!in) throw UsageError(fmt::format("{}: cannot be read", path.string()));
  return parse_npy_header(prefix, size, path.string());
}

}  // namespace gapbench

namespace gapbench {
namespace {

// The array's values as Real, from `data` (h.count items of h.descr, little-endian).
template <typename Real>
void convert_into(const NpyHeader& h, const char* data, Real* out) {
  for (std::uint64_t i = 0; i < h.count; ++i) {
    if (h.item_bytes == 8) {
      double v = 0;
      std::memcpy(&v, data + 8 * i, 8);
      out[i] = static_cast<Real>(v);
    } else {
      float v = 0;
      std::memcpy(&v, data + 4 * i, 4);
      out[i] = static_cast<Real>(v);
    }
  }
}

void check_array_rank(const NpyHeader& h, const std::string& name) {
  if (h.shape.size() != 2 && h.shape.size() != 3) {
    throw UsageError(fmt::format(
        "{}: expected a C-order float32 or float64 array of 2 or 3 dimensions, found {} "
        "dimensions (numpy: np.save(f, np.ascontiguousarray(a, dtype=np.float32)))",
        name, h.shape.size()));
  }
}

}  // namespace

template <typename Real>
std::vector<Real> parse_npy_array(std::string_view bytes, const std::string& name,
                                  std::vector<std::int64_t>& shape) {
  const NpyHeader h = parse_npy_header(bytes, bytes.size(), name);
  check_array_rank(h, name);
  std::vector<Real> out(static_cast<std::size_t>(h.count));
  convert_into(h, bytes.data() + h.data_offset, out.data());
  shape = h.shape;
  return out;
}

template <typename Real>
std::vector<Real> read_npy_matrix(const std::filesystem::path& path, std::int64_t& rows,
                                  std::int64_t& cols) {
  const NpyHeader h = read_npy_header(path);
  const std::string want = sizeof(Real) == 8 ? "<f8" : "<f4";
  if (h.descr != want || h.shape.size() != 2) {
    throw UsageError(fmt::format("{}: expected a 2-D C-order {} matrix, found descr {} shape {}",
                                 path.string(), want, h.descr, shape_text(h.shape)));
  }
  std::vector<std::int64_t> shape;
  std::vector<Real> data = read_npy_array<Real>(path, shape);
  rows = shape[0];
  cols = shape[1];
  return data;
}

template <typename Real>
std::vector<Real> read_npy_array(const std::filesystem::path& path,
                                 std::vector<std::int64_t>& shape) {
  const NpyHeader h = read_npy_header(path);
  check_array_rank(h, path.string());
  const std::uint64_t data_bytes = h.count * h.item_bytes;
  const bool same = h.item_bytes == sizeof(Real);
  check_factor_memory(saturating_add(saturating_mul(h.count, sizeof(Real)), same ? 0 : data_bytes),
                      path.string(),
                      fmt::format("the array {} of {}", shape_text(h.shape), h.descr),
                      "use a smaller array (fewer heads or tokens)");
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  std::vector<Real> out(static_cast<std::size_t>(h.count));
  const auto read = [&](char* data) {
    in.read(data, static_cast<std::streamsize>(data_bytes));
    if (!in) throw UsageError(fmt::format("{}: truncated .npy data", path.string()));
  };
  if (same) {
    read(reinterpret_cast<char*>(out.data()));
  } else {
    std::vector<char> raw(static_cast<std::size_t>(data_bytes));
    read(raw.data());
    convert_into(h, raw.data(), out.data());
  }
  shape = h.shape;
  return out;
}

template std::vector<float> parse_npy_array<float>(std::string_view, const std::string&,
                                                   std::vector<std::int64_t>&);
template std::vector<double> parse_npy_array<double>(std::string_view, const std::string&,
                                                     std::vector<std::int64_t>&);
template std::vector<float> read_npy_array<float>(const std::filesystem::path&,
                                                  std::vector<std::int64_t>&);
template std::vector<double> read_npy_array<double>(const std::filesystem::path&,
                                                    std::vector<std::int64_t>&);

template std::vector<float> read_npy_matrix<float>(const std::filesystem::path&, std::int64_t&,
                                                   std::int64_t&);
template std::vector<double> read_npy_matrix<double>(const std::filesystem::path&, std::int64_t&,
                                                     std::int64_t&);

}  // namespace gapbench
