// When the daemon cannot see the writer's descriptors. To find a shell's last close of `cmd > f`
// the daemon looks into /proc/PID/fd of the writer, which needs CAP_SYS_PTRACE for another user's
// process or one that is not dumpable (PR_SET_DUMPABLE 0; every process that dropped root's
// privileges). A daemon without it (a container's default capabilities, a unit that drops it, a
// daemon that is not root) cannot tell the shell's first close, before cmd writes, from the last:
// a handle nothing was written to then waits for its release, so no empty version appears before
// the value (docs/filesystem.md).
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "tests/integration/mount_fixture.h"
#include "tests/integration/test_users.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;

// Whether process `pid` has `cap` in its effective set (/proc/PID/status, CapEff).
bool HasCapability(pid_t pid, int cap) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return true;
}

// The mount is root's, served by a daemon without CAP_SYS_PTRACE; the writer is another user,
// the owner of the mount (uid=), so the policy lets it write.
class HiddenDescriptorsTest : public MountedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    writer_ = EnsureUser("sfs_writer");
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0) << strerror(errno);  // the writer reaches mnt_
    ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
    const ProcessResult r =
        Program({"setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--",
                 SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "mount", mnt_, "-o",
                 "allow_other,uid=" + std::to_string(writer_.uid)});
    ASSERT_TRUE(Succeeded(r)) << Describe(r);
    TrackMount(mnt_);
    const pid_t daemon = DaemonPid(mnt_);
    ASSERT_NE(daemon, 0);
    ASSERT_FALSE(HasCapability(daemon, CAP_SYS_PTRACE)) << "the daemon kept CAP_SYS_PTRACE";
  }

  // What a shell does for `printf VALUE > PATH` (or `: > PATH` with no value), as the writer, in
  // a process that is not dumpable: open, dup2 to stdout, close the original, write, close. "ok"
  // or the step that failed.
  std::string ShellRedirect(const std::string& path, const std::string& value) const {
    return RunAs(writer_, [&]() -> std::string {
      if (prctl(PR_SET_DUMPABLE, 0) != 0) return "prctl";
      const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0) return std::string("open: ") + strerror(errno);
      const int out = dup(fd);
      if (out < 0 || close(fd) != 0) return std::string("dup/close: ") + strerror(errno);
      if (WriteFd(out, value) != 0) return "write";
      return close(out) == 0 ? "ok" : std::string("close: ") + strerror(errno);
    });
  }

  TestUser writer_;
};

TEST_F(HiddenDescriptorsTest, AShellRedirectStoresOneVersionWithNoEmptyOneBefore) {
  ASSERT_EQ(ShellRedirect(M("dev/TOKEN"), "first"), "ok");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1)) << "an empty version 1 came first";
  ASSERT_EQ(ShellRedirect(M("dev/TOKEN"), "second"), "ok");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2)) << "an empty version came between";
  EXPECT_EQ(Get("dev/TOKEN"), "second");
  EXPECT_EQ(Get("dev/TOKEN", "1"), "first");
}

TEST_F(HiddenDescriptorsTest, TruncatingWithoutWritingStillStoresAnEmptyValue) {
  ASSERT_EQ(ShellRedirect(M("dev/TOKEN"), "value"), "ok");
  ASSERT_EQ(ShellRedirect(M("dev/TOKEN"), ""), "ok");
  // Stored at the handle's release, which the kernel may send after close(2) returned.
  std::vector<uint64_t> versions;
  for (int i = 0; i < 50 && (versions = Versions("dev/TOKEN")).size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(versions, ElementsAre(1, 2));
  EXPECT_EQ(Get("dev/TOKEN"), "");
}

}  // namespace
}  // namespace secretfs::testing
