// A small, explicit binary encoding for records kept in the store: little-endian integers and
// length-prefixed byte strings. Every reader checks bounds, so a truncated or corrupted record
// decodes to an error, never to out-of-bounds reads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace secretfs {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  // A length-prefixed (u32) byte string.
  void Bytes(std::span<const uint8_t> b) {
    U32(static_cast<uint32_t>(b.size()));
    Raw(b);
  }
  void Str(std::string_view s) { Bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }
  // LEB128, low 7 bits first: one byte below 128, where U32 always takes four. For fields of
  // records stored by the hundred thousand.
  void Varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_.push_back(static_cast<uint8_t>(v | 0x80));
    out_.push_back(static_cast<uint8_t>(v));
  }
  // A byte string prefixed with its length as a Varint.
  void VarStr(std::string_view s) {
    Varint(s.size());
    Raw({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  // Bytes with no length prefix (for fixed-size fields and trailing payloads).
  void Raw(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

  const std::vector<uint8_t>& bytes() const& { return out_; }
  std::vector<uint8_t> bytes() && { return std::move(out_); }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

// Reads what ByteWriter wrote. After the first failed read every later read fails too, so a
// decoder can read all its fields and check ok() once at the end.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}

  bool U8(uint8_t& v) {
    uint64_t x = 0;
    if (!Le(x, 1)) return false;
    v = static_cast<uint8_t>(x);
    return true;
  }
  bool U32(uint32_t& v) {
    uint64_t x = 0;
    if (!Le(x, 4)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  bool U64(uint64_t& v) { return Le(v, 8); }
  bool I64(int64_t& v) {
    uint64_t x = 0;
    if (!Le(x, 8)) return false;
    v = static_cast<int64_t>(x);
    return true;
  }
  // A length-prefixed byte string; the span points into the input.
  bool Bytes(std::span<const uint8_t>& b) {
    uint32_t n = 0;
    return U32(n) && Raw(n, b);
  }
  bool Str(std::string& s) {
    std::span<const uint8_t> b;
    if (!Bytes(b)) return false;
    s.assign(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }
  // Only the shortest encoding of each value is accepted (no trailing 0x80 0x00 padding, nothing
  // beyond 64 bits), so every encoding decodes one way and re-encodes to the same bytes.
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!U8(b)) return false;
      if (shift == 63 && b > 1) return ok_ = false;  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) return ok_ = false;  // padded: 0x80 0x00 for 0
        return true;
      }
    }
    return ok_ = false;
  }
  bool VarStr(std::string& s) {
    uint64_t n = 0;
    std::span<const uint8_t> b;
    if (!Varint(n) || !Raw(n, b)) return false;
    s.assign(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }
  bool Raw(size_t n, std::span<const uint8_t>& b) {
    if (!ok_ || in_.size() - pos_ < n) return ok_ = false;
    b = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> Rest() {
    auto r = ok_ ? in_.subspan(pos_) : std::span<const uint8_t>();
    pos_ = in_.size();
    return r;
  }

  bool ok() const { return ok_; }
  bool AtEnd() const { return ok_ && pos_ == in_.size(); }

 private:
  bool Le(uint64_t& v, int n) {
    std::span<const uint8_t> b;
    if (!Raw(static_cast<size_t>(n), b)) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return true;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace secretfs
