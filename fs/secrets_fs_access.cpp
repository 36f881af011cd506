// SecretsFs: the access decision (SPEC §5) and the audit events of the filesystem (SPEC §6).
#include "fs/log.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs {
namespace {

policy::Action ActionOf(Access access) {
  switch (access) {
    case Access::kList:
      return policy::Action::kSee;
    case Access::kRead:
      return policy::Action::kRead;
    case Access::kWrite:
      return policy::Action::kWrite;
    case Access::kReadVersions:
      return policy::Action::kReadVersions;
    case Access::kManageWorkspaces:
      return policy::Action::kManageWorkspaces;
  }
  return policy::Action::kOwn;
}

// What an audit event names of the caller's process (SPEC §6).
constexpr policy::FactsWanted kEventFacts{false, true, true, true};

}  // namespace

const policy::ProcessFacts& SecretsFs::FactsOf(const Caller& who,
                                               const policy::FactsWanted& wanted) const {
  policy::FactsWanted& had = who.facts_read;
  const bool more = (wanted.groups && !had.groups) || (wanted.comm && !had.comm) ||
                    (wanted.exe && !had.exe) || (wanted.unit && !had.unit);
  if (!who.facts || more) {
    had = {had.groups || wanted.groups, had.comm || wanted.comm, had.exe || wanted.exe,
           had.unit || wanted.unit};
    who.facts = facts_cache_.Get(who.pid, who.uid, who.gid, had);
  }
  return *who.facts;
}

pid_t SecretsFs::ProcessOf(const Caller& who) const {
  const pid_t process = FactsOf(who, kEventFacts).pid;
  return process != 0 ? process : who.pid;
}

policy::CallerFacts SecretsFs::FactsFor(const Caller& who, const policy::Policy& rules) const {
  policy::CallerFacts facts{who.uid, who.gid, std::nullopt, std::nullopt, std::nullopt};
  if (!rules.needs_groups() && !rules.needs_exe() && !rules.needs_unit()) return facts;
  // comm, exe and unit too: an access that needs /proc for its decision is usually audited next,
  // and one more small read now is cheaper than a second pass over /proc then.
  const policy::ProcessFacts& p = FactsOf(who, {rules.needs_groups(), true, true, true});
  facts.groups = p.groups;
  facts.exe = p.exe;
  facts.unit = p.unit;
  return facts;
}

int SecretsFs::Check(const Caller& who, const Node& node, Access access) const {
  // The root is everyone's; its listing shows each caller only the workspaces it may see.
  if (node.kind == NodeKind::kRoot) return 0;
  const std::shared_ptr<const policy::Policy> rules = policy();
  const policy::CallerFacts facts = FactsFor(who, *rules);
  const policy::Action action = ActionOf(access);
  policy::Decision decision;
  if (!node.key.empty()) {
    decision = rules->Decide(facts, node.workspace, node.key, caps_);
  } else if (access == Access::kManageWorkspaces) {
    decision = rules->Decide(facts, node.workspace, "", caps_);
    // mkdir of a name one cannot see must not answer ENOENT (or EEXIST): EACCES says nothing.
    return decision.Allows(action) ? 0 : -EACCES;
  } else {
    decision = rules->DecideAny(facts, node.workspace, caps_);
  }
  if (decision.Allows(action)) return 0;
  // Names the caller may not see do not exist for it; what it sees but may not do is EACCES.
  return decision.Allows(policy::Action::kSee) ? -EACCES : -ENOENT;
}

bool SecretsFs::SeesEveryKey(const Caller& who, std::string_view workspace) const {
  const std::shared_ptr<const policy::Policy> rules = policy();
  // An empty key counts only the rules without globs, which match every key.
  return rules->Decide(FactsFor(who, *rules), workspace, "", caps_).Allows(policy::Action::kSee);
}

audit::Event SecretsFs::EventFor(const Caller& who, std::string_view op, const Node& node,
                                 std::string detail) const {
  const policy::ProcessFacts& p = FactsOf(who, kEventFacts);
  audit::Event event;
  event.op = op;
  event.workspace = node.workspace;
  event.key = node.key;
  event.version = node.kind == NodeKind::kVersionFile ? node.version : 0;
  event.uid = who.uid;
  event.gid = who.gid;
  event.pid = p.pid != 0 ? p.pid : who.pid;
  event.comm = p.comm.value_or("");
  event.exe = p.exe.value_or("");
  event.unit = p.unit.value_or("");
  event.origin = audit::Origin::kFs;
  event.detail = std::move(detail);
  return event;
}

int SecretsFs::Audit(const Caller& who, std::string_view op, const Node& node, int rc,
                     uint64_t version, std::string detail) {
  audit::Event event = EventFor(who, op, node, std::move(detail));
  event.result = -rc;
  if (version != 0) event.version = version;
  if (Status s = audit_.Record(std::move(event)); !s.ok()) {
    LogError(std::string(op) + " " + node.workspace + "/" + node.key, s);
    if (rc == 0) return -EIO;
  }
  return rc;
}

int SecretsFs::Listed(const Caller& who, const Node& node, int rc) {
  return options_.audit_list ? Audit(who, audit::op::kList, node, rc) : rc;
}

}  // namespace secretfs::fs
