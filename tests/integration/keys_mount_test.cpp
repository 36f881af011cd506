// Keys and a mounted store: a host key unlocks a mount without anyone typing, and
// `keyring rotate` refuses a mounted store unless forced, after which the old mount fails closed.
#include <sys/file.h>

#include <filesystem>
#include <future>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;

// The store's serving lock (fs/serving_lock.h) taken by the test itself, as a daemon still
// closing the store (shared) or a rotation in progress (exclusive) would hold it.
class HeldServingLock {
 public:
  HeldServingLock(const std::string& store, int operation)
      : fd_(open((store + "/serving.lock").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600)) {
    EXPECT_TRUE(fd_.ok());
    EXPECT_EQ(flock(fd_.get(), operation), 0);
  }
  void Release() { fd_.Reset(); }

 private:
  Fd fd_;
};

// Whether a process other than this one has `path` open (a CLI that has reached its serving
// lock has unlocked the store before it).
bool AnotherProcessHasOpen(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(getpid()))
      continue;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", ec))
      if (fs::read_symlink(fd.path(), ec) == path) return true;
  }
  return false;
}

class KeysMountTest : public MountedTest {
 protected:
  // Makes a host key pair at `path` and seals the master key to its public half.
  void AddHostKey(const std::string& path) {
    const ProcessResult made = Cli({"keyring", "host-key", path});
    ASSERT_TRUE(Succeeded(made)) << Describe(made);
    const std::string recipient = made.out.substr(0, made.out.find('\n'));
    const ProcessResult added = Cli({"keyring", "add", "--new-key", "recipient:" + recipient});
    ASSERT_TRUE(Succeeded(added)) << Describe(added);
  }

  // secretfs -s STORE mount POINT -o key=SOURCE: no -k, the key comes from the mount option.
  ProcessResult MountWithKeyOption(const std::string& point, const std::string& source) {
    ProcessResult r = Spawn({SECRETFS_BINARY, "-s", store_, "mount", point, "-o", "key=" + source});
    if (r.exit_code == 0) TrackMount(point);
    return r;
  }
};

TEST_F(KeysMountTest, AHostKeyMountsTheStoreWithoutAPassphrase) {
  Put("dev/TOKEN", "for-the-robot");
  const std::string host_key = Local("host.key");
  ASSERT_NO_FATAL_FAILURE(AddHostKey(host_key));
  const std::string robot = Local("robot");
  ASSERT_EQ(mkdir(robot.c_str(), 0755), 0);
  const ProcessResult r = MountWithKeyOption(robot, "host:" + host_key);
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(MountedType(robot), "fuse.secretfs");
  EXPECT_EQ(ReadPath(robot + "/dev/TOKEN").bytes, "for-the-robot");
  ASSERT_TRUE(WritePath(robot + "/dev/TOKEN", "written-by-the-robot").ok());
  EXPECT_EQ(Get("dev/TOKEN"), "written-by-the-robot");
}

TEST_F(KeysMountTest, AnotherHostKeyMountsNothing) {
  ASSERT_NO_FATAL_FAILURE(AddHostKey(Local("host.key")));
  const std::string stranger = Local("stranger.key");
  ASSERT_TRUE(Succeeded(Cli({"keyring", "host-key", stranger})));  // never added to the store
  const std::string point = Local("robot");
  ASSERT_EQ(mkdir(point.c_str(), 0755), 0);
  const ProcessResult r = MountWithKeyOption(point, "host:" + stranger);
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("wrong key"));
  EXPECT_EQ(MountedType(point), "");
}

TEST_F(KeysMountTest, RotateRefusesAMountedStoreAndAForcedRotationFailsTheOldMountClosed) {
  Put("dev/TOKEN", "before-rotation");
  ProcessResult r = Cli({"keyring", "rotate"});
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("mounted on " + mnt_));
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "before-rotation") << "a refusal changes nothing";

  r = Cli({"keyring", "rotate", "--force"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("remount " + mnt_));
  // The mount still holds the old master key: its events cannot join the re-keyed chain, so it
  // answers nothing rather than serve unaudited values.
  const ReadResult stale = ReadPath(M("dev/TOKEN"));
  EXPECT_EQ(stale.error, EIO);
  EXPECT_EQ(stale.bytes, "");
  EXPECT_FALSE(WritePath(M("dev/TOKEN"), "from-the-stale-mount").ok());

  ASSERT_NO_FATAL_FAILURE(Remount(""));
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "before-rotation");
  r = Cli({"audit", "verify"});
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
}

// A mount the mount table does not tie to the store (fsname= renames its source; a mount in
// another mount namespace is not in this table at all) is found by the lock every daemon holds.
TEST_F(KeysMountTest, RotateRefusesAStoreServedUnderAnotherName) {
  Put("dev/TOKEN", "before-rotation");
  ASSERT_NO_FATAL_FAILURE(Remount("fsname=renamed"));
  ProcessResult r = Cli({"keyring", "rotate"});
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("served by a secretfs daemon whose mount is not visible here"));
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "before-rotation") << "a refusal changes nothing";

  // Unmounted, the daemon is gone and so is its lock.
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  r = Cli({"keyring", "rotate"});
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(Get("dev/TOKEN"), "before-rotation");
}

// A script that unmounts and rotates at once: the daemon is still closing the store when rotate
// looks, and rotate waits for it rather than refuse a store nobody serves any more.
TEST_F(KeysMountTest, RotateRightAfterAnUnmountWaitsForTheDaemonToExit) {
  Put("dev/TOKEN", "before-rotation");
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  {
    // A daemon that takes a second to let go, made certain: the test holds its lock for it.
    HeldServingLock exiting_daemon(store_, LOCK_SH);
    std::thread exit_later([&] {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      exiting_daemon.Release();
    });
    const ProcessResult r = Cli({"keyring", "rotate"});
    exit_later.join();
    EXPECT_TRUE(Succeeded(r)) << Describe(r);
  }
  EXPECT_EQ(Get("dev/TOKEN"), "before-rotation");

  // The real thing: fusermount3 -u returns before the daemon has exited.
  ASSERT_NO_FATAL_FAILURE(Remount(""));
  ASSERT_GT(DaemonPid(mnt_), 0);
  const ProcessResult r = Shell("fusermount3 -u '" + mnt_ + "' && '" + SECRETFS_BINARY + "' -s '" +
                                store_ + "' -k 'file:" + key_file_ + "' keyring rotate");
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));  // waits for the daemon, if it still runs
  EXPECT_EQ(Get("dev/TOKEN"), "before-rotation");
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

// A mount started while a rotation holds the store does not unlock it with the key being
// replaced: it says what it waits for, and serves once the rotation is done.
TEST_F(KeysMountTest, AMountStartedDuringARotationWaitsForIt) {
  Put("dev/TOKEN", "served-after-rotation");
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  HeldServingLock rotation(store_, LOCK_EX);
  auto mounted = std::async(std::launch::async, [&] { return Cli({"mount", mnt_}); });
  EXPECT_EQ(mounted.wait_for(std::chrono::seconds(1)), std::future_status::timeout);
  EXPECT_EQ(MountedType(mnt_), "") << "nothing is served while the rotation runs";
  rotation.Release();
  const ProcessResult r = mounted.get();
  if (r.exit_code == 0) TrackMount(mnt_);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("waiting for a keyring rotate of " + store_ + " to finish"));
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "served-after-rotation");
}

// Two rotations at once: one changes the key, the other changes nothing and says why (not "a
// daemon serves the store", not "a data key does not open"), and the key both were given still
// opens the store.
TEST_F(KeysMountTest, TwoRotatesAtOnceRotateOnceAndTheOtherSaysWhy) {
  Put("dev/TOKEN", "kept");
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  {
    // A rotation in progress holds the lock exclusively: another is refused without waiting.
    HeldServingLock rotation(store_, LOCK_EX);
    const auto started = std::chrono::steady_clock::now();
    const ProcessResult r = Cli({"keyring", "rotate"});
    EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("another keyring rotate of this store is running"));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4))
        << "refused at once, not after the patience given to an exiting daemon";
  }
  {
    // The second unlocked the store, then waited (here for a daemon's lock) while the first
    // rotated and committed.
    HeldServingLock daemon(store_, LOCK_SH);
    auto second = std::async(std::launch::async, [&] { return Cli({"keyring", "rotate"}); });
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!AnotherProcessHasOpen(store_ + "/serving.lock") &&
           std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const ProcessResult first = Cli({"keyring", "rotate", "--force"});
    EXPECT_TRUE(Succeeded(first)) << Describe(first);
    daemon.Release();
    const ProcessResult r = second.get();
    EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("the master key was rotated by another command after this one "
                                 "unlocked the store"));
  }
  EXPECT_EQ(Get("dev/TOKEN"), "kept");
  EXPECT_TRUE(Succeeded(Cli({"verify"})));
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

}  // namespace
}  // namespace secretfs::testing
