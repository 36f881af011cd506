// Roles and the actions they allow (SPEC §5).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace secretfs::policy {

// In rank order: "the highest matching role wins" compares these.
enum class Role : uint8_t { kNone, kViewer, kReader, kMember, kAdmin, kOwner };

// The rows of SPEC §5's matrix.
enum class Action : uint8_t {
  kSee,               // see the workspace, list keys, stat, read metadata
  kRead,              // read the latest value
  kWrite,             // create, update, delete, rename, edit metadata
  kReadVersions,      // read old versions
  kManageWorkspaces,  // create and remove workspaces
  kOwn,               // destroy history, manage keys, read the audit log
};

// A set of actions, one bit per Action.
using Permissions = uint32_t;
constexpr Permissions Bit(Action a) { return Permissions{1} << static_cast<unsigned>(a); }

// What `role` allows, exactly SPEC §5's matrix (member is write-only: it cannot read).
Permissions PermissionsOf(Role role);
// The actions that change something (removed by the `ro` mount option).
constexpr Permissions kChanges =
    Bit(Action::kWrite) | Bit(Action::kManageWorkspaces) | Bit(Action::kOwn);

std::string_view RoleName(Role role);  // "none", "viewer", ...
std::optional<Role> ParseRole(std::string_view name);

// Names used on the command line (`secretfs policy check ... OP`) and in messages:
// "list", "read", "write", "read-versions", "manage-workspaces", "own".
std::string_view ActionName(Action action);
std::optional<Action> ParseAction(std::string_view name);

}  // namespace secretfs::policy
