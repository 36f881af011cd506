// Values that prove themselves: each names the key it was written to, its writer and its
// sequence number, followed by a body derived from those. A torn, truncated, mixed or invented
// value does not parse, so a reader or a check after a crash can tell "some value a writer wrote
// whole" from anything else without a shared record of every write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace secretfs::testing {

struct ValueId {
  std::string key;
  int writer = 0;
  uint64_t n = 0;
  bool operator==(const ValueId&) const = default;
};

// "KEY:WRITER:N:" and 16 to 4111 bytes derived from (WRITER, N).
std::string MakeValue(const ValueId& id);
// The id of a value MakeValue made, or nothing when `value` is not exactly one.
std::optional<ValueId> ParseValue(const std::string& value);

// An integer from the environment (the long form of a test sets it), else `fallback`.
long EnvOr(const char* name, long fallback);

}  // namespace secretfs::testing
