// Times as RFC 3339 text, as `secretfs audit --since/--until` and `audit prune --before` take
// them. Written here because GCC 12's library lacks C++20's std::chrono::parse, and strptime(3)
// reads no fractions of a second.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace secretfs {
namespace rfc3339_detail {

// Reads exactly `digits` decimal digits at `pos`.
inline bool Digits(std::string_view s, size_t& pos, size_t digits, int& out) {
  if (pos + digits > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += digits;
  return true;
}

inline bool Expect(std::string_view s, size_t& pos, std::string_view chars) {
  if (pos >= s.size() || chars.find(s[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

inline int DaysIn(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace rfc3339_detail

// Nanoseconds since the epoch of 2026-11-22T10:00:00Z, 2026-11-22T10:00:00.5+01:00 (`t`, `z` and
// a space in place of `T` too), or a bare date (midnight UTC); nullopt for anything else,
// February 30th included, and for a time that 64-bit nanoseconds cannot hold (before 1677-09-21
// or after 2262-04-11). A leap second (:60) is the second after :59.
inline std::optional<int64_t> ParseRfc3339(std::string_view s) {
  using rfc3339_detail::Digits;
  using rfc3339_detail::Expect;
  constexpr int64_t kNsPerSec = 1'000'000'000;
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, pos, 4, year) || !Expect(s, pos, "-") || !Digits(s, pos, 2, month) ||
      !Expect(s, pos, "-") || !Digits(s, pos, 2, day))
    return std::nullopt;
  int64_t frac_ns = 0, offset_s = 0;
  if (pos < s.size()) {
    if (!Expect(s, pos, "Tt ") || !Digits(s, pos, 2, hour) || !Expect(s, pos, ":") ||
        !Digits(s, pos, 2, minute) || !Expect(s, pos, ":") || !Digits(s, pos, 2, second))
      return std::nullopt;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int64_t scale = kNsPerSec / 10;
      const size_t start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        frac_ns += (s[pos] - '0') * scale;  // digits past nanoseconds add nothing
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      const int sign = s[pos] == '-' ? -1 : 1;
      ++pos;
      int oh = 0, om = 0;
      if (!Digits(s, pos, 2, oh) || !Expect(s, pos, ":") || !Digits(s, pos, 2, om) || oh > 23 ||
          om > 59)
        return std::nullopt;
      offset_s = sign * (oh * 3600 + om * 60);
    } else {
      return std::nullopt;  // a time needs its zone
    }
  }
  if (pos != s.size() || month < 1 || month > 12 || day < 1 ||
      day > rfc3339_detail::DaysIn(year, month) || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  const time_t secs = timegm(&t);  // normalises :60 to the next minute
  // Nanoseconds since 1970 in 64 bits reach from 1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z;
  // past them the product wrapped around, and `--since 9999-12-31` read as a time in 1816.
  int64_t ns = 0;
  if (__builtin_mul_overflow(int64_t{secs} - offset_s, kNsPerSec, &ns) ||
      __builtin_add_overflow(ns, frac_ns, &ns))
    return std::nullopt;
  return ns;
}

}  // namespace secretfs
