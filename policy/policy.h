// The policy (SPEC §5): who has which role on which workspace and key.
//
// A policy is an inih file with a section per workspace and [*] for all of them; each line is
// `SUBJECT = ROLE [GLOB...]`. Subjects: user:NAME, uid:N, group:NAME, gid:N, exe:PATH, unit:NAME,
// several of those joined by '&' (all must hold), and *. The effective role of a caller on W/K is
// the highest role among the rules of [W] and
// [*] whose subject matches the caller and whose globs (if any) match K; then it is capped by the
// mount options role= and ro. A rule that cannot be evaluated (its fact about the caller is
// unknown) does not match. Names of users and groups are resolved when the file is loaded: a name
// that does not exist is a warning, and its rule never matches.
//
// Thread-safety: a Policy is immutable after loading; Decide may run on many threads at once.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/role.h"

namespace secretfs::policy {

// What is known about a caller. uid and gid come from the kernel with the request; the rest is
// read from /proc (see process_facts.h) and is nullopt when it could not be read or trusted.
struct CallerFacts {
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<std::vector<gid_t>> groups;  // supplementary groups
  std::optional<std::string> exe;            // absolute path of the executable
  std::optional<std::string> unit;           // systemd unit or scope, e.g. "nginx.service"
};

// The mount options that cap every role.
struct Caps {
  std::optional<Role> role;  // role=ROLE: nobody gets more than this role allows
  bool read_only = false;    // ro: no action that changes anything
};

// The reasoning behind one answer, for `secretfs policy check` and for logs.
struct Decision {
  Role role = Role::kNone;  // the highest matching role, before caps
  Permissions allowed = 0;  // what the caller may do after caps
  std::string rule;         // "FILE:LINE: SUBJECT = ROLE [GLOBS]" of the winning rule; empty: none
  std::vector<std::string> caps;  // the caps that removed something: "role=reader", "ro"

  bool Allows(Action action) const { return (allowed & Bit(action)) != 0; }
};

class Policy {
 public:
  // EINVAL "PATH:LINE: why" for the first error; ENOENT/EACCES when the file cannot be read.
  static Result<std::shared_ptr<const Policy>> LoadFile(const std::string& path);
  // Parses `text` as if read from file `name` (used by LoadFile and tests).
  static Result<std::shared_ptr<const Policy>> Parse(std::string_view text,
                                                     const std::string& name);
  // Without a policy file: root and `owner_uid` are owners, everyone else has no role.
  static std::shared_ptr<const Policy> Default(uid_t owner_uid);

  // The caller's decision on key `key` of `workspace`. An empty `key` asks about the workspace
  // itself (creating or removing it): only rules without globs count then.
  Decision Decide(const CallerFacts& caller, std::string_view workspace, std::string_view key,
                  const Caps& caps) const;
  // The highest role the caller has on anything in `workspace` (rules with globs count too): a
  // workspace is visible to a caller when this allows Action::kSee.
  Decision DecideAny(const CallerFacts& caller, std::string_view workspace, const Caps& caps) const;

  // Which /proc facts any rule needs, so callers read only those.
  bool needs_groups() const { return needs_groups_; }
  bool needs_exe() const { return needs_exe_; }
  bool needs_unit() const { return needs_unit_; }

  // The file it was read from, or "(default policy)".
  const std::string& source() const { return source_; }
  // Rules that can never match (a user or group that does not exist), as "FILE:LINE: why".
  const std::vector<std::string>& warnings() const { return warnings_; }

  struct Rule;  // defined in policy.cpp
  Policy();
  ~Policy();

 private:
  std::vector<Rule> rules_;
  std::string source_;
  std::vector<std::string> warnings_;
  bool needs_groups_ = false;
  bool needs_exe_ = false;
  bool needs_unit_ = false;
};

}  // namespace secretfs::policy
