// What every subcommand shares: the global options, opening and unlocking the store, reading
// values, and printing results and errors the way SPEC §9 asks (errors as
// "secretfs: <what>: <why>" on stderr, exit 0 / 1 / 2).
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "audit/event.h"
#include "common/status.h"
#include "common/text_format.h"
#include "keyring/key_source.h"
#include "keyring/secure_buffer.h"
#include "policy/policy.h"
#include "store/lmdb_env.h"
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
  std::string key_source;   // -k/--key or $SECRETFS_KEY; empty: ask for a passphrase on a terminal
  std::string policy_file;  // --policy or $SECRETFS_POLICY; empty: the caller owns (it has the key)
  bool stdin_was_closed = false;  // the command started with no descriptor 0 (main.cpp)
};

class CliContext {
 public:
  explicit CliContext(GlobalOptions& options) : options_(options) {}

  const GlobalOptions& options() const { return options_; }

  // The key source the operator chose; a passphrase prompt when none was given and a terminal
  // exists. Throws UsageError when there is none, or it is not a key source.
  Result<keyring::KeySource> KeySource() const;
  Result<keyring::KeyMaterial> LoadKey(keyring::Prompt prompt) const;

  // Opens the store and unlocks it with the operator's key, which is kept in `*key_used` when
  // given (keyring rotate remakes the slot it opened).
  Result<std::unique_ptr<store::SecretStore>> OpenUnlocked(
      keyring::KeyMaterial* key_used = nullptr) const;
  // OpenUnlocked, then Authorize(op, action, workspace, key).
  Result<std::unique_ptr<store::SecretStore>> OpenFor(
      std::string_view op, policy::Action action, std::string_view workspace = {},
      std::string_view key = {}, keyring::KeyMaterial* key_used = nullptr) const;

  // Prints "secretfs: <what>: <why>" and returns kExitError.
  static int Fail(const std::string& what, const Status& status);
  static int Fail(const std::string& what, const std::string& why);
  // "secretfs: warning: WARNING" on stderr; nothing for "".
  static void Warn(const std::string& warning);

  // "user:NAME" (or "uid:N") of the person running the command, recorded as a value's author.
  static std::string Author();

  // An audit event for this command's action `op` on W/K: origin cli, and this process's uid,
  // gid, pid, comm, exe and unit.
  static audit::Event CliEvent(std::string_view op, std::string_view workspace = {},
                               std::string_view key = {});
  // Records `event` with the outcome `result` in the store's audit log (durably). Fail-closed:
  // an error when the event cannot be committed; the command must then fail (and print nothing
  // of a value).
  static Status Record(store::SecretStore& store, audit::Event event, const Status& result);
  // Runs `change`, one store call, with `event` joined to the change's own write transaction
  // (both committed or neither); a failed change is recorded on its own.
  template <class Change>
  static auto Audited(store::SecretStore& store, audit::Event event, Change&& change)
      -> decltype(change()) {
    auto joined = Join(store, event);
    auto result = change();
    joined.reset();
    Status s = StatusOf(result);
    if (!s.ok()) (void)Record(store, std::move(event), s);
    return result;
  }

  // Runs `change`, which frees space in the store (audit prune, destroy, workspace delete
  // --purge). When it fails because the disk is full, which the store's own audit log can bring
  // about, gives the store's space reserve back to the filesystem and runs `change` again, then
  // reserves anew (store/space_reserve.h), saying on stderr what it did. `change` must be safe to
  // run twice: a failed attempt stored nothing.
  template <class Change>
  static auto FreeingSpace(store::SecretStore& store, Change&& change) -> decltype(change()) {
    auto result = change();
    if (StatusOf(result).code() != ENOSPC || !GiveBackSpaceReserve(store)) return result;
    result = change();
    TakeSpaceReserve(store);
    return result;
  }

  // Whether this command's caller may do `action` on W/K (an empty key: the workspace itself, an
  // empty workspace: the whole store), under --policy when given; without one the caller owns the
  // store, since it holds the key. A denial is recorded as event `op` and returned as EACCES.
  Status Authorize(store::SecretStore& store, std::string_view op, policy::Action action,
                   std::string_view workspace = {}, std::string_view key = {}) const;
  // The decision of Authorize without recording anything: Ok, EACCES, or why the policy file
  // could not be read. For commands that quietly leave out what the caller may not have (env
  // injects only the readable keys).
  Status Check(policy::Action action, std::string_view workspace = {},
               std::string_view key = {}) const;

 private:
  // Check, telling a denial (`denied`) from a policy that could not be read.
  Status Decide(policy::Action action, std::string_view workspace, std::string_view key,
                bool& denied) const;
  // FreeingSpace's steps: false when there was no reserve to give back.
  static bool GiveBackSpaceReserve(store::SecretStore& store);
  static void TakeSpaceReserve(store::SecretStore& store);
  static std::unique_ptr<store::ScopedCommitHook> Join(store::SecretStore& store,
                                                       const audit::Event& event);
  static Status StatusOf(const Status& s) { return s; }
  template <class T>
  static Status StatusOf(const Result<T>& r) {
    return r.status();
  }

  GlobalOptions& options_;
};

// `text` with control characters shown as \xNN: names from the command line or the store cannot
// break an error into several lines or send escape sequences to the terminal.
std::string OneLine(std::string_view text);

// Writes all of `bytes` to `fd`, retrying short writes.
Status WriteAll(int fd, std::span<const uint8_t> bytes);

// Parses a version number (>= 1); UsageError-worthy EINVAL otherwise.
Result<uint64_t> ParseVersion(std::string_view text);

// Asks the operator to type `expected` on the terminal; false when they did not, or no terminal.
bool ConfirmOnTerminal(const std::string& question, const std::string& expected);

}  // namespace secretfs::cli
