// A daemon stopped (SIGTERM: `systemctl stop`) while files of its mount are still open gets no
// RELEASE for them. It lets go of those handles itself: a value whose close never came is not
// stored, the daemon says so in its log and in the audit log, and the writer's own close fails.
// Under AddressSanitizer the stop also shows that no handle's memory is left behind: LeakSanitizer
// fails the daemon's exit when one is.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class StopTest : public MountedTest {
 protected:
  void SetUp() override {
    MountedTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", "orig"));
    ASSERT_NO_FATAL_FAILURE(Put("dev/OTHER", "other"));
    point_ = Local("stopped");
    ASSERT_EQ(mkdir(point_.c_str(), 0755), 0);
  }

  void TearDown() override {
    KillChild(daemon_);
    ForceUnmount(point_, 0);
    MountedTest::TearDown();
  }

  // `secretfs mount -f` (as the unit runs it), its log on stderr going to daemon.log.
  void StartDaemon() {
    const std::string log = Local("daemon.log");
    const std::string key = "file:" + key_file_;
    daemon_ = fork();
    ASSERT_GE(daemon_, 0);
    if (daemon_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
      execl(SECRETFS_BINARY, "secretfs", "-s", store_.c_str(), "-k", key.c_str(), "mount",
            point_.c_str(), "-f", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && MountedType(point_) != "fuse.secretfs"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(MountedType(point_), "fuse.secretfs");
  }

  // systemctl stop: SIGTERM, then the daemon's exit code (-1 when a signal ended it).
  int Stop() {
    kill(daemon_, SIGTERM);
    return WaitExit(daemon_);
  }

  std::string DaemonLog() {
    std::ifstream in(Local("daemon.log"));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string point_;
  pid_t daemon_ = 0;
};

TEST_F(StopTest, FilesStillOpenAtAStopAreLetGoAndAValueWithoutItsCloseIsNotStored) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Fd reader(open((point_ + "/dev/OTHER").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader.ok()) << strerror(errno);
  char first[5];
  ASSERT_EQ(read(reader.get(), first, sizeof first), 5);
  DIR* listing = opendir((point_ + "/dev").c_str());
  ASSERT_NE(listing, nullptr) << strerror(errno);
  ASSERT_NE(readdir(listing), nullptr);
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "half-"), 0);

  EXPECT_EQ(Stop(), 0) << DaemonLog();  // under ASan: and nothing leaked
  EXPECT_EQ(MountedType(point_), "") << "a stop leaves no mount behind, even a busy one";
  EXPECT_EQ(writer.Close(), ENOTCONN) << "the writer is told that its value was not stored";
  (void)reader.Close();
  closedir(listing);

  EXPECT_EQ(Get("dev/TOKEN"), "orig");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1));
  const std::string log = DaemonLog();
  EXPECT_THAT(log, HasSubstr("closing 2 handles of files still open")) << log;
  EXPECT_THAT(log, HasSubstr("write dev/TOKEN: still open when the daemon stopped: nothing stored"))
      << log;
  const ProcessResult audit = Cli({"audit", "dev/TOKEN"});
  EXPECT_THAT(audit.out, HasSubstr("write ENOTCONN dev/TOKEN")) << Describe(audit);
  EXPECT_THAT(audit.out, HasSubstr("still open when the daemon stopped: nothing stored"));
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

// A handle whose close came (and committed) but whose RELEASE had not yet when the stop came is
// let go without a word: the value is stored, and the log names no unsaved write.
TEST_F(StopTest, AValueWhoseCloseCameIsStoredEvenIfItsReleaseNeverDoes) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "whole"), 0);
  ASSERT_EQ(fsync(writer.get()), 0);  // stored now; the handle stays open

  EXPECT_EQ(Stop(), 0) << DaemonLog();
  (void)writer.Close();
  EXPECT_EQ(Get("dev/TOKEN"), "whole");
  EXPECT_THAT(DaemonLog(), ::testing::Not(HasSubstr("nothing stored")));
}

}  // namespace
}  // namespace secretfs::testing
