// Formatting shared by the CLI, the filesystem's extended attributes and the daemon's log.
#pragma once

#include <pwd.h>
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace secretfs {

// The length of the printable character at the start of `s`: a printable ASCII byte, or a
// well-formed UTF-8 sequence (no overlong forms, surrogates or code points past U+10FFFF) that
// is not a C1 control (U+0080..U+009F); 0 for anything else (a control character, a byte that is
// not part of well-formed UTF-8, an empty `s`).
inline size_t PrintableCharLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto byte = [&](size_t at) { return static_cast<unsigned char>(s[at]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return lead < 0x20 || lead == 0x7f ? 0 : 1;
  const size_t length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
  if (length == 0 || lead > 0xf4 || length > s.size()) return 0;
  uint32_t code = lead & (0x7f >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(k) & 0x3f);
  }
  constexpr uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kLeast[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ||
      (code >= 0x80 && code <= 0x9f))
    return 0;
  return length;
}

// Whether `text` is well-formed UTF-8 without control characters (C0, DEL, C1): text that a
// terminal shows as it is, and JSON can carry.
inline bool IsPrintableUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = PrintableCharLength(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// "12 B", "3.4 KiB", "1.0 GiB".
inline std::string FormatSize(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// A file mode's permission bits as chmod takes them: "0644", "1777".
inline std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// RFC 3339 UTC: "2026-11-22T10:04:05Z", or with nanoseconds "2026-11-22T10:04:05.123456789Z".
inline std::string FormatTime(int64_t ns, bool with_nanos = false) {
  // Rounded down, also before 1970: -0.5 s is 23:59:59.5 on 1969-12-31, not 00:00:00.-5.
  int64_t sub = ns % 1'000'000'000;
  if (sub < 0) sub += 1'000'000'000;
  const time_t secs = static_cast<time_t>((ns - sub) / 1'000'000'000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = buf;
  if (with_nanos) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(sub));
    out += frac;
  }
  return out + "Z";
}

// The name of user `uid` in the user database, or nullopt.
inline std::optional<std::string> UserNameOf(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    return std::string(found->pw_name);
  return std::nullopt;
}

// "user:NAME" for a uid with a name, "uid:N" otherwise: how a writer is recorded.
inline std::string UserLabel(uid_t uid) {
  const std::optional<std::string> name = UserNameOf(uid);
  return name ? "user:" + *name : "uid:" + std::to_string(uid);
}

// `text` with control characters shown as \xNN, so a name from a file or a caller cannot break a
// message into several lines or send escape sequences to a terminal or a log: C0 controls and
// DEL, the C1 controls U+0080 to U+009F as UTF-8 writes them (U+009B is CSI to a terminal that
// honours them), and every byte that is not part of well-formed UTF-8 (a lone 0x9b is CSI to a
// terminal that reads Latin-1). Other UTF-8 passes as it is.
inline std::string EscapeControl(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (const size_t n = PrintableCharLength(text.substr(i)); n != 0) {
      out.append(text, i, n);
      i += n;
      continue;
    }
    // One byte at a time: a C1 control's second byte is then a byte that is not UTF-8 either.
    const auto c = static_cast<unsigned char>(text[i++]);
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// `text` in single quotes for a message, control bytes escaped, cut after `shown` bytes with
// "...".
inline std::string QuoteText(std::string_view text, size_t shown) {
  return "'" + EscapeControl(text.substr(0, shown)) + (text.size() > shown ? "...'" : "'");
}

}  // namespace secretfs
