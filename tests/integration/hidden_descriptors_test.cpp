// When the daemon does not look at the writer's descriptors. To find a shell's last close of
// `cmd > f` the daemon looks into /proc/PID/fdinfo of the writer, which needs CAP_SYS_PTRACE for
// another user's process or one that is not dumpable (PR_SET_DUMPABLE 0; every process that
// dropped root's privileges), and which it reads only for a writer holding at most 256
// descriptors. A daemon without it (a container's default capabilities, a unit that drops it, a
// daemon that is not root), or facing a writer with more, cannot tell the shell's first close,
// before cmd writes, from the last: a handle nothing was written to then waits for its release,
// so no empty version appears before the value, and a close after a write commits
// (docs/filesystem.md).
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

// The mount is root's, owned (uid=) by another user, the writer, so the policy lets it write.
class WriterTest : public MountedTest {
 protected:
  // Mounts again with the daemon run under `prefix` (a setpriv that drops capabilities, or none).
  void RemountForTheWriter(const std::vector<std::string>& prefix) {
    writer_ = EnsureUser("sfs_writer");
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0) << strerror(errno);  // the writer reaches mnt_
    ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
    std::vector<std::string> command = prefix;
    command.insert(command.end(),
                   {SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "mount", mnt_, "-o",
                    "allow_other,uid=" + std::to_string(writer_.uid)});
    const ProcessResult r = Program(command);
    ASSERT_TRUE(Succeeded(r)) << Describe(r);
    TrackMount(mnt_);
  }

  // What a shell does for `printf VALUE > PATH` (or `: > PATH` with no value), as the writer, in
  // a process that is not dumpable and holds `held` more descriptors (of /dev/null): open, dup2
  // to stdout, close the original, write, close. "ok" or the step that failed.
  std::string ShellRedirect(const std::string& path, const std::string& value, int held = 0) const {
    return RunAs(writer_, [&]() -> std::string {
      if (prctl(PR_SET_DUMPABLE, 0) != 0) return "prctl";
      if (!Hold(held)) return std::string("open /dev/null: ") + strerror(errno);
      const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0) return std::string("open: ") + strerror(errno);
      const int out = dup(fd);
      if (out < 0 || close(fd) != 0) return std::string("dup/close: ") + strerror(errno);
      if (WriteFd(out, value) != 0) return "write";
      return close(out) == 0 ? "ok" : std::string("close: ") + strerror(errno);
    });
  }

  // As the writer, holding `held` more descriptors: writes `value` to PATH through one of two
  // descriptors of one open, closes the other, and reads PATH before closing the first. What that
  // read gave, or the step that failed.
  std::string ReadBetweenTwoCloses(const std::string& path, const std::string& value,
                                   int held) const {
    return RunAs(writer_, [&]() -> std::string {
      if (!Hold(held)) return std::string("open /dev/null: ") + strerror(errno);
      const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
      if (fd < 0) return std::string("open: ") + strerror(errno);
      const int copy = dup(fd);
      if (copy < 0 || WriteFd(fd, value) != 0 || close(copy) != 0)
        return std::string("dup/write/close: ") + strerror(errno);
      const ReadResult seen = ReadPath(path);
      if (close(fd) != 0) return std::string("close: ") + strerror(errno);
      return seen.error == 0 ? seen.bytes : std::string("read: ") + strerror(seen.error);
    });
  }

  // Opens `count` descriptors of /dev/null, left open until the process exits.
  static bool Hold(int count) {
    for (int i = 0; i < count; ++i)
      if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) return false;
    return true;
  }

  TestUser writer_;
};

// Served by a daemon without CAP_SYS_PTRACE.
class HiddenDescriptorsTest : public WriterTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(RemountForTheWriter(
        {"setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--"}));
    const pid_t daemon = DaemonPid(mnt_);
    ASSERT_NE(daemon, 0);
    ASSERT_FALSE(HasCapability(daemon, CAP_SYS_PTRACE)) << "the daemon kept CAP_SYS_PTRACE";
  }
};

// Served by a daemon with CAP_SYS_PTRACE, as shipped.
class ManyDescriptorsTest : public WriterTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(RemountForTheWriter({}));
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

// The daemon reads a writer's descriptors only up to 256 of them (proc_info.cpp): past that, a
// close after a write commits, and a shell's redirect still stores one version, no empty one.
TEST_F(ManyDescriptorsTest, AWriterHoldingManyDescriptorsStoresAtEachCloseAfterAWrite) {
  ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", "old"));
  // With a few descriptors, the close of a copy waits for the last descriptor of the open.
  EXPECT_EQ(ReadBetweenTwoCloses(M("dev/TOKEN"), "one", /*held=*/0), "old");
  EXPECT_EQ(Get("dev/TOKEN"), "one");
  // With more than the daemon reads, that close commits.
  EXPECT_EQ(ReadBetweenTwoCloses(M("dev/TOKEN"), "two", /*held=*/600), "two");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2, 3));
  ASSERT_EQ(ShellRedirect(M("dev/TOKEN"), "three", /*held=*/600), "ok");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2, 3, 4)) << "an empty version came between";
  EXPECT_EQ(Get("dev/TOKEN"), "three");
}

}  // namespace
}  // namespace secretfs::testing
