#include "policy/role.h"

#include <array>

namespace secretfs::policy {
namespace {

constexpr std::array<std::string_view, 6> kRoleNames = {"none",   "viewer", "reader",
                                                        "member", "admin",  "owner"};
constexpr std::array<std::string_view, 6> kActionNames = {
    "list", "read", "write", "read-versions", "manage-workspaces", "own"};

}  // namespace

Permissions PermissionsOf(Role role) {
  // SPEC §5, column by column. member is write-only on purpose: a deploy job can set values it
  // can never read back.
  const Permissions see = Bit(Action::kSee);
  switch (role) {
    case Role::kNone:
      return 0;
    case Role::kViewer:
      return see;
    case Role::kReader:
      return see | Bit(Action::kRead);
    case Role::kMember:
      return see | Bit(Action::kWrite);
    case Role::kAdmin:
      return see | Bit(Action::kRead) | Bit(Action::kWrite) | Bit(Action::kReadVersions) |
             Bit(Action::kManageWorkspaces);
    case Role::kOwner:
      return PermissionsOf(Role::kAdmin) | Bit(Action::kOwn);
  }
  return 0;  // an out-of-range value grants nothing
}

std::string_view RoleName(Role role) {
  const auto i = static_cast<size_t>(role);
  return i < kRoleNames.size() ? kRoleNames[i] : "?";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (size_t i = 0; i < kRoleNames.size(); ++i)
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  return std::nullopt;
}

std::string_view ActionName(Action action) {
  const auto i = static_cast<size_t>(action);
  return i < kActionNames.size() ? kActionNames[i] : "?";
}

std::optional<Action> ParseAction(std::string_view name) {
  if (name == "see") return Action::kSee;  // the matrix's word for "list"
  for (size_t i = 0; i < kActionNames.size(); ++i)
    if (kActionNames[i] == name) return static_cast<Action>(i);
  return std::nullopt;
}

}  // namespace secretfs::policy
