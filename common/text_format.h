// Formatting shared by the CLI and the filesystem's extended attributes.
#pragma once

#include <pwd.h>
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace secretfs {

// RFC 3339 UTC: "2026-11-22T10:04:05Z", or with nanoseconds "2026-11-22T10:04:05.123456789Z".
inline std::string FormatTime(int64_t ns, bool with_nanos = false) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = buf;
  if (with_nanos) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(ns % 1'000'000'000));
    out += frac;
  }
  return out + "Z";
}

// "user:NAME" for a uid with a name, "uid:N" otherwise: how a writer is recorded.
inline std::string UserLabel(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    return std::string("user:") + found->pw_name;
  return "uid:" + std::to_string(uid);
}

}  // namespace secretfs
