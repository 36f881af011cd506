// Name rules of SPEC §3. Every check returns EINVAL with a message that names the rule broken.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace secretfs::store {

// How a workspace names its keys: `default` is the Kubernetes Secret key rule without a leading
// dot; `env` accepts only environment variable names.
enum class Naming : uint8_t { kDefault = 0, kEnv = 1 };
std::string_view NamingName(Naming naming);
Result<Naming> ParseNaming(std::string_view name);  // "default" | "env"

inline constexpr size_t kMaxWorkspaceName = 63;
inline constexpr size_t kMaxKeyName = 255;

// ^[a-z0-9][a-z0-9_-]{0,62}$
Status ValidateWorkspaceName(std::string_view name);
// default: ^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$    env: ^[A-Z][A-Z0-9_]{0,254}$
Status ValidateKeyName(std::string_view name, Naming naming = Naming::kDefault);

struct SecretPath {
  std::string workspace;
  std::string key;
  std::string text() const { return workspace + "/" + key; }
};

// Splits "W/K" at its first '/' and checks both names under the default rule.
Result<SecretPath> ParseSecretPath(std::string_view text);

// A name as it may appear in a message: quoted, control bytes escaped, long names shortened.
std::string QuoteName(std::string_view name);

}  // namespace secretfs::store
