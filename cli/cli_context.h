// What every subcommand shares: the global options, opening and unlocking the store, reading
// values, and printing results and errors the way SPEC §9 asks (errors as
// "secretfs: <what>: <why>" on stderr, exit 0 / 1 / 2).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/text_format.h"
#include "keyring/key_source.h"
#include "keyring/secure_buffer.h"
#include "store/secret_store.h"

namespace CLI {
class App;
}

namespace secretfs::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// A usage error found after parsing (a missing key source, a bad argument value).
struct UsageError {
  std::string message;
};

struct GlobalOptions {
  std::string store_dir = "/var/lib/secretfs";
  std::string key_source;  // -k/--key or $SECRETFS_KEY; empty: ask for a passphrase on a terminal
};

class CliContext {
 public:
  explicit CliContext(GlobalOptions& options) : options_(options) {}

  const GlobalOptions& options() const { return options_; }

  // The key source the operator chose; a passphrase prompt when none was given and a terminal
  // exists. Throws UsageError when there is none, or it is not a key source.
  Result<keyring::KeySource> KeySource() const;
  Result<keyring::KeyMaterial> LoadKey(keyring::Prompt prompt) const;

  // Opens the store and unlocks it with the operator's key.
  Result<std::unique_ptr<store::SecretStore>> OpenUnlocked() const;

  // Prints "secretfs: <what>: <why>" and returns kExitError.
  static int Fail(const std::string& what, const Status& status);
  static int Fail(const std::string& what, const std::string& why);

  // "user:NAME" (or "uid:N") of the person running the command, recorded as a value's author.
  static std::string Author();

 private:
  GlobalOptions& options_;
};

// `text` with control characters shown as \xNN: names from the command line or the store cannot
// break an error into several lines or send escape sequences to the terminal.
std::string OneLine(std::string_view text);

// Writes all of `bytes` to `fd`, retrying short writes.
Status WriteAll(int fd, std::span<const uint8_t> bytes);

// "12 B", "3.4 KiB", ...
std::string FormatSize(uint64_t bytes);
// Parses a version number (>= 1); UsageError-worthy EINVAL otherwise.
Result<uint64_t> ParseVersion(std::string_view text);

// Asks the operator to type `expected` on the terminal; false when they did not, or no terminal.
bool ConfirmOnTerminal(const std::string& question, const std::string& expected);

}  // namespace secretfs::cli
