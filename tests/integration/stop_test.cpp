// A daemon stopped (SIGTERM: `systemctl stop`) while files of its mount are open for writing
// first waits a few seconds for them to be closed, serving as before, and stores what they
// wrote; a second SIGTERM stops it at once. Then it gets no RELEASE for the files still open,
// and lets go of those handles itself: a value whose close never came is not stored, the daemon
// says so in its log and in the audit log, and the writer's own close fails. Under
// AddressSanitizer the stop also shows that no handle's memory is left behind: LeakSanitizer
// fails the daemon's exit when one is.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

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

  // `secretfs mount -f -o OPTIONS` (as the unit runs it), its log on stderr going to daemon.log.
  void StartDaemon(const std::string& options = "") {
    const std::string log = Local("daemon.log");
    const std::string key = "file:" + key_file_;
    // Built before the fork: the child of a threaded process only execs.
    std::vector<const char*> argv = {"secretfs",  "-s",    store_.c_str(), "-k",
                                     key.c_str(), "mount", point_.c_str(), "-f"};
    if (!options.empty()) argv.insert(argv.end(), {"-o", options.c_str()});
    argv.push_back(nullptr);
    daemon_ = fork();
    ASSERT_GE(daemon_, 0);
    if (daemon_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
      execv(SECRETFS_BINARY, const_cast<char* const*>(argv.data()));
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

  // Waits up to 10 s for the daemon's log to say `text`.
  bool LogSays(const std::string& text) {
    for (int i = 0; i < 1000; ++i) {
      if (DaemonLog().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Waits up to `limit` for the mount to be gone.
  bool UnmountedWithin(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!MountedType(point_).empty()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  std::string point_;
  pid_t daemon_ = 0;
};

// The signals a thread has blocked, from the SigBlk: line of /proc/PID/task/TID/status.
uint64_t BlockedSignals(const std::filesystem::path& task) {
  std::ifstream status(task / "status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  ADD_FAILURE() << "no SigBlk: in " << task;
  return 0;
}

// SIGINT (Ctrl-C on `secretfs mount -f`) waits as SIGTERM does.
TEST_F(StopTest, AStopWaitsForAFileBeingWrittenAndStoresWhatItWrote) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "half-"), 0);

  kill(daemon_, SIGINT);
  ASSERT_TRUE(LogSays("SIGINT: waiting up to 5 s for 1 file being written to be closed"))
      << DaemonLog();
  EXPECT_EQ(ReadPath(point_ + "/dev/OTHER").bytes, "other") << "the mount still serves meanwhile";
  EXPECT_EQ(WriteFd(writer.get(), "whole"), 0);
  EXPECT_EQ(writer.Close(), 0) << "the value is stored, not cut off by the stop";

  EXPECT_EQ(WaitExit(daemon_), 0) << DaemonLog();
  EXPECT_EQ(MountedType(point_), "");
  EXPECT_EQ(Get("dev/TOKEN"), "half-whole");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2));
  EXPECT_THAT(DaemonLog(), HasSubstr("no file is being written any more; stopping"));
  EXPECT_THAT(DaemonLog(), ::testing::Not(HasSubstr("nothing stored")));
}

// Only the loop's thread takes a stop signal. Taken by a helper thread (the audit flusher and
// pruner, the policy reloader, the space watch), it would not interrupt the loop's wait for the
// next request, and a second one would not stop at once.
TEST_F(StopTest, OnlyTheSessionLoopsThreadTakesAStopSignal) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon("audit=buffered,audit_keep=90d"));
  ASSERT_EQ(ReadPath(point_ + "/dev/OTHER").bytes, "other");  // libfuse's workers are running
  const uint64_t stops = (uint64_t{1} << (SIGTERM - 1)) | (uint64_t{1} << (SIGINT - 1));
  std::vector<std::string> taking, all;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(daemon_) + "/task")) {
    all.push_back(task.path().filename());
    if ((BlockedSignals(task.path()) & stops) != stops) taking.push_back(all.back());
  }
  EXPECT_GE(all.size(), 6u) << "the daemon's helper threads were not all found";
  EXPECT_THAT(taking, ElementsAre(std::to_string(daemon_))) << "of " << all.size() << " threads";
  EXPECT_EQ(Stop(), 0) << DaemonLog();
}

TEST_F(StopTest, ASecondSigtermStopsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon("stop_grace=60"));
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "half-"), 0);

  kill(daemon_, SIGTERM);
  ASSERT_TRUE(LogSays("(a second SIGTERM stops at once)")) << DaemonLog();
  kill(daemon_, SIGTERM);
  EXPECT_TRUE(UnmountedWithin(std::chrono::seconds(10))) << DaemonLog();
  EXPECT_EQ(WaitExit(daemon_), 0) << DaemonLog();
  EXPECT_EQ(writer.Close(), ENOTCONN);
  EXPECT_EQ(Get("dev/TOKEN"), "orig");
  EXPECT_THAT(DaemonLog(),
              HasSubstr("write dev/TOKEN: still open when the daemon stopped: nothing stored"));
}

// With no value waiting to be stored, a stop does not wait: neither a reader nor a file open for
// writing with nothing written (or all of it stored by an fsync) holds it up.
TEST_F(StopTest, AStopWithNoValueBeingWrittenDoesNotWait) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Fd reader(open((point_ + "/dev/OTHER").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader.ok()) << strerror(errno);
  Fd idle(open((point_ + "/dev/OTHER").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(idle.ok()) << strerror(errno);
  Fd synced(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(synced.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(synced.get(), "whole"), 0);
  ASSERT_EQ(fsync(synced.get()), 0);

  kill(daemon_, SIGTERM);
  EXPECT_TRUE(UnmountedWithin(std::chrono::seconds(3))) << DaemonLog();
  EXPECT_EQ(WaitExit(daemon_), 0) << DaemonLog();
  EXPECT_THAT(DaemonLog(), ::testing::Not(HasSubstr("waiting up to")));
  EXPECT_THAT(DaemonLog(), HasSubstr("closing 3 handles of files still open"));
  EXPECT_THAT(DaemonLog(), ::testing::Not(HasSubstr("nothing stored")));
  EXPECT_EQ(Get("dev/TOKEN"), "whole");
  EXPECT_EQ(Get("dev/OTHER"), "other");
}

// stop_grace=0: a stop does not wait, as a daemon without the grace did.
TEST_F(StopTest, WithNoGraceAStopDoesNotWaitForAWriter) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon("stop_grace=0"));
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "half-"), 0);

  EXPECT_EQ(Stop(), 0) << DaemonLog();
  EXPECT_EQ(writer.Close(), ENOTCONN);
  EXPECT_EQ(Get("dev/TOKEN"), "orig");
  EXPECT_THAT(DaemonLog(), ::testing::Not(HasSubstr("waiting up to")));
}

// A writer that keeps its file open past the grace, a value not stored: the daemon stops, and
// that value is not stored.
TEST_F(StopTest, FilesStillOpenAfterTheGraceAreLetGoAndAValueWithoutItsCloseIsNotStored) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon("stop_grace=0.5"));
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
  EXPECT_THAT(DaemonLog(), HasSubstr("stopping after 0.5 s with 1 file still being written"));
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

}  // namespace
}  // namespace secretfs::testing
