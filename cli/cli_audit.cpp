// The CLI's side of SPEC §5 and §6: every command is an audit event (origin cli) and, under
// --policy, is decided like a filesystem request from the same caller.
#include <unistd.h>

#include "audit/audit_log.h"
#include "cli/cli_context.h"
#include "policy/process_facts.h"

namespace secretfs::cli {
namespace {

const policy::ProcessFacts& Self() {
  static const policy::ProcessFacts self = policy::ReadProcessFacts(getpid());
  return self;
}

}  // namespace

audit::Event CliContext::CliEvent(std::string_view op, std::string_view workspace,
                                  std::string_view key) {
  audit::Event event;
  event.op = op;
  event.workspace = workspace;
  event.key = key;
  event.uid = getuid();
  event.gid = getgid();
  event.pid = getpid();
  event.comm = Self().comm.value_or("");
  event.exe = Self().exe.value_or("");
  event.unit = Self().unit.value_or("");
  event.origin = audit::Origin::kCli;
  return event;
}

Status CliContext::Record(store::SecretStore& store, audit::Event event, const Status& result) {
  event.result = result.ok() ? 0 : result.code();
  auto key = store.AuditKey();
  if (!key.ok()) return key.status().Wrap("recording the audit event");
  Status s = store.env().Write([&](store::Txn& txn) {
    audit::Event attempt = event;  // the body may run again when the map grows
    return audit::Append(txn, *key, attempt);
  });
  // A full disk stays ENOSPC (SPEC §11; commands that free space act on it: FreeingSpace).
  if (!s.ok())
    return Status(s.code() == ENOSPC ? ENOSPC : EIO, "recording the audit event: " + s.message());
  return Status::Ok();
}

std::unique_ptr<store::ScopedCommitHook> CliContext::Join(store::SecretStore& store,
                                                          const audit::Event& event) {
  // One log per process, kept for the joined hooks that point into it: a command works on one
  // store (tests may run several in one process, so a new store gets a new log).
  static std::unique_ptr<audit::AuditLog> log;
  static store::Env* log_env = nullptr;
  if (log == nullptr || log_env != &store.env()) {
    auto key = store.AuditKey();
    if (!key.ok()) return nullptr;  // a locked store changes nothing either
    log = std::make_unique<audit::AuditLog>(store.env(), std::move(*key));
    log_env = &store.env();
  }
  return log->Join(event);
}

Result<std::unique_ptr<store::SecretStore>> CliContext::OpenFor(
    std::string_view op, policy::Action action, std::string_view workspace, std::string_view key,
    keyring::KeyMaterial* key_used) const {
  auto store = OpenUnlocked(key_used);
  if (!store) return store.status();
  SECRETFS_RETURN_IF_ERROR(Authorize(**store, op, action, workspace, key));
  return store;
}

Status CliContext::Authorize(store::SecretStore& store, std::string_view op, policy::Action action,
                             std::string_view workspace, std::string_view key) const {
  bool denied = false;
  Status decided = Decide(action, workspace, key, denied);
  if (!denied) return decided;  // allowed, or no decision (an unreadable policy file)
  if (Status s = Record(store, CliEvent(op, workspace, key), decided); !s.ok()) return s;
  return decided;
}

Status CliContext::Check(policy::Action action, std::string_view workspace,
                         std::string_view key) const {
  bool denied = false;
  return Decide(action, workspace, key, denied);
}

Status CliContext::Decide(policy::Action action, std::string_view workspace, std::string_view key,
                          bool& denied) const {
  denied = false;
  if (options_.policy_file.empty()) return Status::Ok();
  auto rules = policy::Policy::LoadFile(options_.policy_file);
  if (!rules.ok()) return rules.status().Wrap("policy");
  const policy::ProcessFacts& self = Self();
  const policy::CallerFacts caller{getuid(), getgid(), self.groups, self.exe, self.unit};
  policy::Decision decision;
  if (workspace.empty()) {
    decision = (*rules)->Decide(caller, "*", "", {});
  } else if (key.empty()) {
    decision = action == policy::Action::kSee || action == policy::Action::kRead
                   ? (*rules)->DecideAny(caller, workspace, {})
                   : (*rules)->Decide(caller, workspace, "", {});
  } else {
    decision = (*rules)->Decide(caller, workspace, key, {});
  }
  if (decision.Allows(action)) return Status::Ok();
  denied = true;
  return Status(EACCES, "the policy " + options_.policy_file + " gives " + UserLabel(getuid()) +
                            " the role " + std::string(policy::RoleName(decision.role)) +
                            ", which may not " + std::string(policy::ActionName(action)) + " here");
}

}  // namespace secretfs::cli
