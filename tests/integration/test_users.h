// Real users for the policy and audit tests: made once with useradd/groupadd (and left in place:
// they own nothing and cannot log in), and ways to act as one of them against a real mount, either
// from a forked child that drops to the user's credentials (precise: the child reports the errno
// of one system call) or by running a program under setpriv(1).
//
// Thread-safety: call from the test's main thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace secretfs::testing {

struct TestUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;              // primary group
  std::vector<gid_t> groups;  // every group of the user (primary and supplementary)
};

// Makes group `name` unless it exists; its gid. A failure is a gtest failure (and gid 0).
gid_t EnsureGroup(const std::string& name);

// Makes user `name` (no home, no login shell, primary group `users`: useradd -M -N) unless it
// exists, and adds it to `supplementary` groups, which must exist. Safe against other test
// processes doing the same at the same time.
TestUser EnsureUser(const std::string& name, const std::vector<std::string>& supplementary = {});

// Runs `body` in a forked child whose real, effective and saved uid and gid, and groups, are the
// user's, and returns the string `body` returned. `body` must not use gtest assertions (the
// child's failures are not the parent's); it runs with a 30 s limit. A child that cannot drop
// privileges, crashes or times out is a gtest failure, and the result is "<child failed>".
std::string RunAs(const TestUser& user, const std::function<std::string()>& body);

// The errno-style number `body` returns (0 for success), as `user`; -1 when the child failed.
int ErrnoAs(const TestUser& user, const std::function<int()>& body);

// `setpriv --reuid=NAME --regid=GID --init-groups --`: put it before a command line to run the
// command as `user` (with its supplementary groups).
std::vector<std::string> SetprivPrefix(const TestUser& user);

// Writes `text` to `path` through a temporary file and rename(2), mode 0644: a daemon reloading
// at that moment reads the old file or the new one, never half of one.
void WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace secretfs::testing
