// The daemon as secretfs@.service runs it: `secretfs mount -f -k credential:secretfs.key -o
// config=FILE` with $NOTIFY_SOCKET and $CREDENTIALS_DIRECTORY set. READY=1 comes only once the
// mount point answers, RELOADING=1/READY=1 frame a SIGHUP reload, STOPPING=1 comes on SIGTERM (with
// EXTEND_TIMEOUT_USEC= when the stop waits for a writer) and the mount is gone when the process
// exits.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class NotifyTest : public MountedTest {
 protected:
  void SetUp() override {
    MountedTest::SetUp();
    socket_path_ = Local("notify.sock");
    listener_.emplace(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener_->ok());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(socket_path_.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, socket_path_.c_str());
    ASSERT_EQ(bind(listener_->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << strerror(errno);
    const timeval timeout{20, 0};
    setsockopt(listener_->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    // What LoadCredentialEncrypted= gives the service: the key, decrypted, in a private directory.
    credentials_ = Local("credentials");
    ASSERT_EQ(mkdir(credentials_.c_str(), 0700), 0);
    std::filesystem::copy_file(key_file_, credentials_ + "/secretfs.key");
    point_ = Local("service-mnt");
    ASSERT_EQ(mkdir(point_.c_str(), 0755), 0);
    config_ = Local("instance.ini");
    WriteLocalFile(
        config_, "[mount]\nstore = " + store_ + "\nmountpoint = " + point_ + "\naudit = durable\n");
  }

  void TearDown() override {
    if (daemon_ > 0) {
      KillChild(daemon_);
      ForceUnmount(point_, 0);
    }
    MountedTest::TearDown();
  }

  // Starts the daemon with the unit's ExecStart (the binary from the build).
  void StartService() {
    daemon_ = fork();
    ASSERT_GE(daemon_, 0);
    if (daemon_ == 0) {
      setenv("NOTIFY_SOCKET", socket_path_.c_str(), 1);
      setenv("CREDENTIALS_DIRECTORY", credentials_.c_str(), 1);
      unsetenv("SECRETFS_STORE");
      unsetenv("SECRETFS_KEY");
      execl(SECRETFS_BINARY, "secretfs", "mount", "-f", "-k", "credential:secretfs.key", "-o",
            ("config=" + config_).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }

  // An environment in which libsystemd cannot be loaded, as on a host or in an image without
  // libsystemd0: the dynamic loader finds an empty libsystemd.so.0 first and refuses it.
  std::map<std::string, std::string> WithoutLibsystemd() {
    const std::string dir = Local("no-libsystemd");
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ADD_FAILURE() << strerror(errno);
    WriteLocalFile(dir + "/libsystemd.so.0", "");
    return {{"LD_LIBRARY_PATH", dir}};
  }

  // The next notification, or "" after 20 s.
  std::string Next() {
    char buf[4096];
    const ssize_t n = recv(listener_->get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  std::string socket_path_, credentials_, point_, config_;
  std::optional<Fd> listener_;
  pid_t daemon_ = 0;
};

TEST_F(NotifyTest, ReadyOnlyOnceTheMountAnswersReloadFramedStoppingOnSigterm) {
  Put("dev/TOKEN", "via-the-unit");
  ASSERT_NO_FATAL_FAILURE(StartService());

  const std::string ready = Next();
  ASSERT_THAT(ready, HasSubstr("READY=1")) << "no READY=1 within 20 s";
  // By the time READY=1 arrives the mount serves: a unit ordered after this one can read at once.
  EXPECT_EQ(MountedType(point_), "fuse.secretfs");
  EXPECT_EQ(ReadPath(point_ + "/dev/TOKEN").bytes, "via-the-unit");
  EXPECT_THAT(ready, HasSubstr("MAINPID=" + std::to_string(daemon_)));
  EXPECT_THAT(ready, HasSubstr("STATUS=serving " + store_ + " on " + point_));

  ASSERT_EQ(kill(daemon_, SIGHUP), 0);  // ExecReload=
  EXPECT_THAT(Next(), HasSubstr("RELOADING=1"));
  EXPECT_THAT(Next(), HasSubstr("READY=1"));
  EXPECT_EQ(ReadPath(point_ + "/dev/TOKEN").bytes, "via-the-unit");

  // At once: the kernel sends the read's RELEASE after close(2) has returned, and a stop may
  // overtake it. The daemon lets go of such handles itself (LeakSanitizer checks it).
  ASSERT_EQ(kill(daemon_, SIGTERM), 0);  // systemctl stop
  EXPECT_THAT(Next(), HasSubstr("STOPPING=1"));
  EXPECT_EQ(WaitExit(daemon_), 0);
  EXPECT_EQ(MountedType(point_), "") << "a clean stop leaves no mount behind";

  const ProcessResult audit = Cli({"audit", "--op", "unmount", "--json"});
  ASSERT_TRUE(Succeeded(audit));
  EXPECT_THAT(audit.out, HasSubstr(point_));
}

// A stop that waits for a file being written asks systemd for its grace and time to unmount, so
// a stop_grace= beyond the unit's TimeoutStopSec= does not get the daemon killed mid-wait.
TEST_F(NotifyTest, AStopWaitingForAWriterExtendsTheStopTimeoutByTheGrace) {
  Put("dev/TOKEN", "orig");
  WriteLocalFile(config_,
                 "[mount]\nstore = " + store_ + "\nmountpoint = " + point_ + "\nstop_grace = 40\n");
  ASSERT_NO_FATAL_FAILURE(StartService());
  ASSERT_THAT(Next(), HasSubstr("READY=1"));
  Fd writer(open((point_ + "/dev/TOKEN").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "new"), 0);

  ASSERT_EQ(kill(daemon_, SIGTERM), 0);
  const std::string stopping = Next();
  EXPECT_THAT(stopping, HasSubstr("STOPPING=1"));
  EXPECT_THAT(stopping, HasSubstr("STATUS=waiting for 1 file being written to be closed"));
  EXPECT_THAT(stopping, HasSubstr("EXTEND_TIMEOUT_USEC=50000000")) << "40 s and 10 s to unmount";
  EXPECT_EQ(writer.Close(), 0);
  EXPECT_EQ(WaitExit(daemon_), 0);
  EXPECT_EQ(Get("dev/TOKEN"), "new");
}

TEST_F(NotifyTest, AWrongCredentialExitsWithAnErrorAndNeverSaysReady) {
  WriteLocalFile(credentials_ + "/secretfs.key", RandomBytes(32));
  ASSERT_NO_FATAL_FAILURE(StartService());
  EXPECT_EQ(WaitExit(daemon_), 1);
  const timeval short_wait{0, 200'000};
  setsockopt(listener_->get(), SOL_SOCKET, SO_RCVTIMEO, &short_wait, sizeof short_wait);
  EXPECT_THAT(Next(), ::testing::Not(HasSubstr("READY=1")));
  EXPECT_EQ(MountedType(point_), "");
}

TEST_F(NotifyTest, WithoutLibsystemdAServiceFailsAtOnceSayingWhyInsteadOfNeverBeingReady) {
  std::map<std::string, std::string> env = WithoutLibsystemd();
  env["NOTIFY_SOCKET"] = socket_path_;
  const ProcessResult r = Cli({"mount", "-f", point_}, "", env);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_FALSE(r.timed_out) << "it served (or hung) instead of failing";
  EXPECT_THAT(r.err, HasSubstr("NOTIFY_SOCKET"));
  EXPECT_THAT(r.err, HasSubstr("libsystemd"));
  EXPECT_EQ(MountedType(point_), "");
  const timeval short_wait{0, 200'000};
  setsockopt(listener_->get(), SOL_SOCKET, SO_RCVTIMEO, &short_wait, sizeof short_wait);
  EXPECT_THAT(Next(), ::testing::Not(HasSubstr("READY=1")));
}

TEST_F(NotifyTest, WithoutLibsystemdAuditJournalFailsTheMountSayingWhy) {
  const ProcessResult r = Cli({"mount", point_, "-o", "audit_journal=1"}, "", WithoutLibsystemd());
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("audit_journal=1 needs libsystemd"));
  EXPECT_EQ(MountedType(point_), "");
}

TEST_F(NotifyTest, WithoutLibsystemdAMountOutsideSystemdServesAndTheCliWorks) {
  Put("dev/TOKEN", "no-systemd-here");
  const ProcessResult mounted = Cli({"mount", point_}, "", WithoutLibsystemd());
  ASSERT_TRUE(Succeeded(mounted)) << Describe(mounted);
  TrackMount(point_);
  EXPECT_EQ(ReadPath(point_ + "/dev/TOKEN").bytes, "no-systemd-here");
  const ProcessResult got = Cli({"get", "dev/TOKEN"}, "", WithoutLibsystemd());
  ASSERT_TRUE(Succeeded(got)) << Describe(got);
  EXPECT_EQ(got.out, "no-systemd-here");
  Unmount(point_);
}

}  // namespace
}  // namespace secretfs::testing
