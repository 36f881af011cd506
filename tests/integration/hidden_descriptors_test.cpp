// When the daemon cannot see the writer's descriptors. To find a shell's last close of `cmd > f`
// the daemon looks into /proc/PID/fd of the writer, which needs CAP_SYS_PTRACE for another user's
// process or one that is not dumpable (PR_SET_DUMPABLE 0; every process that dropped root's
// privileges). A daemon without it (a container's default capabilities, a unit that drops it, a
// daemon that is not root) cannot tell the shell's first close, before cmd writes, from the last:
// a handle nothing was written to then waits for its release, so no empty version appears before
// the value (docs/filesystem.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;

constexpr int kCapSysPtrace = 19;  // linux/capability.h

// Whether process `pid` has `cap` in its effective set (/proc/PID/status, CapEff).
bool HasCapability(pid_t pid, int cap) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return true;
}

class HiddenDescriptorsTest : public MountedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
    const ProcessResult r =
        Program({"setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--",
                 SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "mount", mnt_});
    ASSERT_TRUE(Succeeded(r)) << Describe(r);
    TrackMount(mnt_);
    const pid_t daemon = DaemonPid(mnt_);
    ASSERT_NE(daemon, 0);
    ASSERT_FALSE(HasCapability(daemon, kCapSysPtrace)) << "the daemon kept CAP_SYS_PTRACE";
  }

  // What a shell does for `printf VALUE > PATH` (or `: > PATH` with no value), in a child that is
  // not dumpable: open, dup2 to stdout, close the original, write, close. "ok" or what failed.
  static std::string ShellRedirect(const std::string& path, const std::string& value) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return "pipe";
    const pid_t child = fork();
    if (child == 0) {
      close(pipe_fds[0]);
      const char* result = "ok";
      const int fd = prctl(PR_SET_DUMPABLE, 0) == 0
                         ? open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)
                         : -2;
      if (fd == -2) {
        result = "prctl";
      } else if (fd < 0) {
        result = "open";
      } else {
        const int out = dup(fd);
        if (out < 0 || close(fd) != 0)
          result = "dup/close";
        else if (!value.empty() && write(out, value.data(), value.size()) != ssize_t(value.size()))
          result = "write";
        else if (close(out) != 0)
          result = "close";
      }
      (void)!write(pipe_fds[1], result, strlen(result));
      _exit(0);
    }
    close(pipe_fds[1]);
    char buf[32] = {};
    const ssize_t n = read(pipe_fds[0], buf, sizeof buf - 1);
    close(pipe_fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "<no answer>";
  }
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
