// secretfs policy check --uid U [--gid G] [--groups G,...] [--exe P] [--unit U] [--role R] [--ro]
//                       [--json] W[/K] OP
//
// Explains one decision of a policy file (the global --policy or $SECRETFS_POLICY; without one,
// the default policy with the invoking user as owner). It never opens the store. Exit 0 when the
// operation is allowed and 1 when it is denied, so scripts can test a policy before deploying it.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <iostream>

#include "cli/commands.h"
#include "cli/json_output.h"
#include "policy/policy.h"
#include "policy/role.h"

namespace secretfs::cli {
namespace {

struct CheckArgs {
  std::string target;  // W/K, or W for workspace-wide operations
  std::string op;
  std::string uid;
  std::string gid;
  std::string groups;
  std::string exe;
  std::string unit;
  std::string role;
  bool gid_given = false;
  bool groups_given = false;
  bool exe_given = false;
  bool unit_given = false;
  bool read_only = false;
  bool json = false;
};

std::optional<uint32_t> Number(const std::string& text) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// A user's passwd entry by uid or name, or nullopt.
struct UserEntry {
  uid_t uid;
  gid_t gid;
  std::string name;
};
std::optional<UserEntry> FindUser(const std::optional<uid_t>& uid, const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  const int rc = uid ? getpwuid_r(*uid, &pw, buf.data(), buf.size(), &found)
                     : getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return std::nullopt;
  return UserEntry{pw.pw_uid, pw.pw_gid, pw.pw_name};
}

gid_t ParseGroup(const std::string& option, const std::string& text) {
  if (auto n = Number(text)) return *n;
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(65536);
  if (getgrnam_r(text.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr)
    return gr.gr_gid;
  throw UsageError{option + " '" + text + "': not a gid and no group has that name"};
}

std::vector<gid_t> GroupListOf(const UserEntry& user) {
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (getgrouplist(user.name.c_str(), user.gid, groups.data(), &n) < 0)
    groups.resize(static_cast<size_t>(n));
  groups.resize(static_cast<size_t>(n));
  return groups;
}

std::string ActionList(policy::Permissions p) {
  std::string out;
  for (unsigned i = 0; i <= static_cast<unsigned>(policy::Action::kOwn); ++i) {
    const auto a = static_cast<policy::Action>(i);
    if (p & policy::Bit(a)) out += (out.empty() ? "" : ", ") + std::string(policy::ActionName(a));
  }
  return out;
}

// "role=reader removed write, own; ro removed write" from the caps that removed something.
std::string CapsText(const policy::Decision& d, const policy::Caps& caps) {
  if (d.caps.empty()) return "none";
  policy::Permissions p = policy::PermissionsOf(d.role);
  std::string out;
  for (const std::string& cap : d.caps) {
    const policy::Permissions after =
        cap == "ro" ? (p & ~policy::kChanges) : (p & policy::PermissionsOf(*caps.role));
    out += (out.empty() ? "" : "; ") + cap + " removed " + ActionList(p & ~after);
    p = after;
  }
  return out;
}

struct Question {
  policy::Action action;
  std::string workspace;
  std::string key;  // empty: the workspace itself
};

Question ParseQuestion(const CheckArgs& a) {
  const std::optional<policy::Action> action = policy::ParseAction(a.op);
  if (!action)
    throw UsageError{"unknown operation '" + OneLine(a.op) +
                     "' (list, read, write, read-versions, manage-workspaces, own)"};
  Question q{*action, a.target, ""};
  if (a.target.find('/') != std::string::npos) {
    auto path = store::ParseSecretPath(a.target);
    if (!path) throw UsageError{path.status().message()};
    q.workspace = path->workspace;
    q.key = path->key;
  } else if (Status s = store::ValidateWorkspaceName(a.target); !s.ok()) {
    throw UsageError{s.message()};
  }
  const bool per_key = q.action == policy::Action::kRead || q.action == policy::Action::kWrite ||
                       q.action == policy::Action::kReadVersions;
  if (per_key && q.key.empty())
    throw UsageError{a.op + " is decided per secret: give " + q.workspace + "/KEY"};
  if (q.action == policy::Action::kManageWorkspaces && !q.key.empty())
    throw UsageError{"manage-workspaces is decided per workspace: give " + q.workspace +
                     ", not a key"};
  return q;
}

policy::Caps ParseCaps(const CheckArgs& a) {
  policy::Caps caps;
  caps.read_only = a.read_only;
  if (!a.role.empty()) {
    caps.role = policy::ParseRole(a.role);
    if (!caps.role)
      throw UsageError{"--role '" + OneLine(a.role) +
                       "': not a role (none, viewer, reader, member, admin, owner)"};
  }
  return caps;
}

// The caller as the kernel and /proc would describe it, from the options and the user database.
policy::CallerFacts BuildCaller(const CheckArgs& a, std::optional<UserEntry>& user) {
  const std::optional<uint32_t> uid_number = Number(a.uid);
  user = FindUser(uid_number, a.uid);
  if (!uid_number && !user)
    throw UsageError{"--uid '" + OneLine(a.uid) + "': not a uid and no user has that name"};
  policy::CallerFacts caller;
  caller.uid = uid_number ? *uid_number : user->uid;
  if (a.gid_given) {
    caller.gid = ParseGroup("--gid", a.gid);
  } else if (user) {
    caller.gid = user->gid;
  } else {
    throw UsageError{"uid " + OneLine(a.uid) +
                     " has no user entry to take a primary group from: add --gid"};
  }
  if (a.groups_given) {
    caller.groups.emplace();
    size_t start = 0;
    while (start <= a.groups.size()) {
      const size_t comma = std::min(a.groups.find(',', start), a.groups.size());
      const std::string item = a.groups.substr(start, comma - start);
      if (!item.empty()) caller.groups->push_back(ParseGroup("--groups", item));
      start = comma + 1;
    }
  } else {
    caller.groups = user ? GroupListOf(*user) : std::vector<gid_t>{};
  }
  if (a.exe_given) {
    if (a.exe.empty() || a.exe[0] != '/')
      throw UsageError{"--exe '" + OneLine(a.exe) + "': give the absolute path of the program"};
    caller.exe = a.exe;
  }
  if (a.unit_given) caller.unit = a.unit;
  return caller;
}

void PrintHuman(const Question& q, const policy::CallerFacts& caller,
                const std::optional<UserEntry>& user, const policy::Policy& rules,
                const policy::Decision& d, const policy::Caps& caps) {
  const bool allowed = d.Allows(q.action);
  const std::string what = q.key.empty() ? q.workspace : q.workspace + "/" + q.key;
  std::cout << (allowed ? "allowed: uid " : "denied: uid ") << caller.uid
            << (allowed ? " may " : " may not ") << policy::ActionName(q.action) << " " << what
            << "\n";
  std::cout << "role: " << policy::RoleName(d.role)
            << (d.rule.empty() ? " (no rule matches)" : ", from " + OneLine(d.rule)) << "\n";
  std::cout << "caps: " << CapsText(d, caps) << "\n";
  std::string groups;
  for (gid_t g : caller.groups.value_or(std::vector<gid_t>{}))
    groups += (groups.empty() ? "" : ",") + std::to_string(g);
  std::cout << "caller: uid " << caller.uid << (user ? " (" + OneLine(user->name) + ")" : "")
            << ", gid " << caller.gid << ", groups " << (groups.empty() ? "-" : groups) << ", exe "
            << (caller.exe ? OneLine(*caller.exe) : "-") << ", unit "
            << (caller.unit ? OneLine(*caller.unit) : "-") << "\n";
  if (rules.needs_exe() && !caller.exe)
    std::cout << "note: the policy has exe: rules; without --exe they do not match\n";
  if (rules.needs_unit() && !caller.unit)
    std::cout << "note: the policy has unit: rules; without --unit they do not match\n";
  std::cout << "policy: " << OneLine(rules.source()) << "\n";
}

int Check(const CliContext& ctx, const CheckArgs& a) {
  const Question q = ParseQuestion(a);
  const policy::Caps caps = ParseCaps(a);
  std::optional<UserEntry> user;
  const policy::CallerFacts caller = BuildCaller(a, user);

  std::shared_ptr<const policy::Policy> rules;
  const std::string& file = ctx.options().policy_file;
  if (file.empty()) {
    rules = policy::Policy::Default(getuid());
  } else {
    auto loaded = policy::Policy::LoadFile(file);
    if (!loaded) {
      std::cerr << "secretfs: policy " << OneLine(loaded.status().message()) << std::endl;
      return kExitError;
    }
    rules = *loaded;
  }
  for (const std::string& warning : rules->warnings())
    std::cerr << "secretfs: warning: " << OneLine(warning) << "\n";

  // The questions the filesystem asks: a workspace is listed when anything in it is visible.
  const policy::Decision d = q.key.empty() && q.action == policy::Action::kSee
                                 ? rules->DecideAny(caller, q.workspace, caps)
                                 : rules->Decide(caller, q.workspace, q.key, caps);
  const bool allowed = d.Allows(q.action);
  if (a.json) {
    const nlohmann::json out = {{"allowed", allowed},
                                {"role", policy::RoleName(d.role)},
                                {"rule", d.rule},
                                {"caps", d.caps},
                                {"workspace", q.workspace},
                                {"key", q.key},
                                {"op", policy::ActionName(q.action)},
                                {"uid", caller.uid},
                                {"gid", caller.gid},
                                {"policy", rules->source()}};
    std::cout << JsonText(out) << "\n";
  } else {
    PrintHuman(q, caller, user, *rules, d, caps);
  }
  return allowed ? kExitOk : kExitError;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto* policy_cmd = app.add_subcommand("policy", "Explain the decisions of a policy file");
  policy_cmd->require_subcommand(1);

  auto a = std::make_shared<CheckArgs>();
  auto* check = policy_cmd->add_subcommand("check", "Explain whether a caller may do OP on W/K");
  check->footer(
      "The policy is read from --policy FILE (or $SECRETFS_POLICY); without one it is the "
      "default policy, in which root and you are owners. The store is not opened.\n"
      "Exit status: 0 allowed, 1 denied (or the policy file is invalid), 2 usage error.");
  check->add_option("TARGET", a->target, "W/K, or W for list, manage-workspaces and own")
      ->required();
  check->add_option("OP", a->op, "list, read, write, read-versions, manage-workspaces or own")
      ->required();
  check->add_option("--uid", a->uid, "The caller's uid or user name")->required();
  auto* gid = check->add_option(
      "--gid", a->gid,
      "The caller's primary gid or group name (default: the user's primary group)");
  auto* groups = check->add_option(
      "--groups", a->groups,
      "Supplementary groups, comma-separated gids or names; '' for none (default: the user's "
      "groups from the group database, as getgrouplist(3) gives them; the daemon reads a "
      "caller's real groups from /proc)");
  auto* exe =
      check->add_option("--exe", a->exe,
                        "The caller's executable, an absolute path (default: unknown, so exe: "
                        "rules do not match)");
  auto* unit = check->add_option(
      "--unit", a->unit,
      "The caller's systemd unit, e.g. nginx.service (default: unknown, so unit: rules do not "
      "match)");
  check->add_option("--role", a->role, "Cap roles as the mount option role= does");
  check->add_flag("--ro", a->read_only, "Cap as the mount option ro does");
  check->add_flag("--json", a->json,
                  "JSON output: allowed, role, rule, caps, workspace, key, op, uid, gid, policy");
  check->callback([&ctx, &action, a, gid, groups, exe, unit] {
    a->gid_given = gid->count() > 0;
    a->groups_given = groups->count() > 0;
    a->exe_given = exe->count() > 0;
    a->unit_given = unit->count() > 0;
    action = [&ctx, a] { return Check(ctx, *a); };
  });
}

}  // namespace secretfs::cli
