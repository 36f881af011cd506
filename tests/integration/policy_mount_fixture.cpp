// The policy tests' users (policy_mount_fixture.h).
#include "tests/integration/policy_mount_fixture.h"

namespace secretfs::testing {

const Users& TheUsers() {
  static const Users users = [] {
    Users u;
    EnsureGroup("sfs_ops");
    for (const char* role : kRoles) u.by_role[role] = EnsureUser(std::string("sfs_") + role);
    u.ops = EnsureUser("sfs_opsuser", {"sfs_ops"});
    return u;
  }();
  return users;
}

}  // namespace secretfs::testing
