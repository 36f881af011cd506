// Roles and the policy file against a real mount: the users of every role and the fixture that
// mounts with a policy and acts as them (policy_test.cpp, policy_process_rules_test.cpp).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/mount_fixture.h"
#include "tests/integration/test_users.h"

namespace secretfs::testing {

inline constexpr const char* kRoles[] = {"none", "viewer", "reader", "member", "admin", "owner"};

// The policy tests' users: one per role (sfs_none has no rule anywhere), and sfs_opsuser, whose
// primary group is `users` and who is in sfs_ops only as a supplementary group.
struct Users {
  std::map<std::string, TestUser> by_role;
  TestUser ops;
};

// Made once per test program (useradd, groupadd).
const Users& TheUsers();

inline const TestUser& User(const std::string& role) { return TheUsers().by_role.at(role); }

// The first failure of a WritePath, as one errno.
inline int FirstError(const WriteResult& w) {
  return w.open_error != 0 ? w.open_error : w.write_error != 0 ? w.write_error : w.close_error;
}

class PolicyTest : public MountedTest {
 protected:
  static void SetUpTestSuite() { TheUsers(); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    // mkdtemp made root_ 0700: other users could not even reach the mount point.
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0) << strerror(errno);
    policy_ = Local("policy.ini");
  }

  // Writes the policy file and mounts mnt_ again with it (plus `extra` options).
  void MountWithPolicy(const std::string& text, const std::string& extra = "") {
    ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, text));
    std::string options = "allow_other,entry_timeout=0,attr_timeout=0,policy=" + policy_;
    if (!extra.empty()) options += "," + extra;
    ASSERT_NO_FATAL_FAILURE(Remount(options));
  }

  // The files statfs(2) counts on the mount for `user` (df -i's used inodes), or "error ...".
  std::string FilesAs(const TestUser& user) {
    const std::string mnt = mnt_;
    return RunAs(user, [mnt]() -> std::string {
      struct statvfs st {};
      if (statvfs(mnt.c_str(), &st) != 0) return std::string("error ") + strerror(errno);
      return std::to_string(st.f_files - st.f_ffree);
    });
  }

  // ReadPath(path) as `user`: the errno, and the bytes after a newline.
  ReadResult ReadAs(const TestUser& user, const std::string& path) {
    const std::string out = RunAs(user, [path] {
      const ReadResult r = ReadPath(path);
      return std::to_string(r.error) + "\n" + r.bytes;
    });
    const size_t nl = out.find('\n');
    if (nl == std::string::npos) return {-1, out};
    return {std::stoi(out.substr(0, nl)), out.substr(nl + 1)};
  }

  std::vector<std::string> ListAs(const TestUser& user, const std::string& dir, int* error) {
    const std::string out = RunAs(user, [dir] {
      int e = 0;
      std::string text;
      for (const std::string& name : ListDir(dir, &e)) text += name + "\n";
      return std::to_string(e) + "\n" + text;
    });
    std::vector<std::string> names;
    size_t start = out.find('\n');
    *error = start == std::string::npos ? -1 : std::stoi(out.substr(0, start));
    while (start != std::string::npos && start + 1 < out.size()) {
      const size_t end = out.find('\n', start + 1);
      names.push_back(out.substr(start + 1, end - start - 1));
      start = end;
    }
    return names;
  }

  int WriteAs(const TestUser& user, const std::string& path, const std::string& value,
              int flags = O_WRONLY | O_CREAT | O_TRUNC) {
    return ErrnoAs(user, [=] { return FirstError(WritePath(path, value, flags)); });
  }

  // Runs `argv` as `user` through setpriv.
  ProcessResult ProgramAs(const TestUser& user, const std::vector<std::string>& argv) {
    std::vector<std::string> full = SetprivPrefix(user);
    full.insert(full.end(), argv.begin(), argv.end());
    return Program(full);
  }

  // Polls (up to 5 s) until `user`'s read of `path` fails with `error` (0: succeeds).
  int AwaitReadError(const TestUser& user, const std::string& path, int error) {
    int last = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
      last = ReadAs(user, path).error;
      if (last == error) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return last;
  }

  std::string policy_;
};

}  // namespace secretfs::testing
