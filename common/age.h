// An age ("30d", "12h") as the CLI's --before/--since and the mount option audit_keep= take it.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace secretfs {

// N followed by s, m, h, d or w, in seconds; nullopt for anything else, or for more seconds
// than `max_seconds`.
inline std::optional<int64_t> ParseAgeSeconds(std::string_view text, int64_t max_seconds) {
  if (text.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return std::nullopt;
  }
  int64_t n = 0;
  const char* end = text.data() + text.size() - 1;
  auto [p, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || p != end || n < 0 || n > max_seconds / unit) return std::nullopt;
  return n * unit;
}

}  // namespace secretfs
