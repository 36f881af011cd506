// Open files hold their values in locked memory, which a root daemon is not limited in: the
// mount option max_locked bounds it, each user a quarter (fs/locked_budget.h), so a user who opens
// a large secret again and again gets ENOMEM instead of locking the host's memory, and other
// users go on reading.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/integration/mount_fixture.h"
#include "tests/integration/test_users.h"

namespace secretfs::testing {
namespace {

constexpr size_t kMaxLocked = 1 << 20;      // the smallest allowed: 256 KiB per user
constexpr size_t kValueBytes = 100 * 1024;  // two fit in a user's share, three do not

class LockedMemoryTest : public MountedTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(MountedTest::SetUp());
    other_ = EnsureUser("sfs_budget");
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0) << strerror(errno);  // let other_ reach mnt_
    WriteFileAtomically(Local("policy.ini"), "[*]\nuser:root = owner\nuser:sfs_budget = reader\n");
    value_ = RandomBytes(kValueBytes);
    ASSERT_TRUE(WritePath(M("dev/BIG"), value_).ok());
    ASSERT_NO_FATAL_FAILURE(Remount("allow_other,policy=" + Local("policy.ini") +
                                    ",max_locked=" + std::to_string(kMaxLocked)));
  }

  // The read events of dev/BIG whose result is `result`.
  int ReadEventsWith(const std::string& result) {
    const ProcessResult audit = Cli({"audit", "--op", "read", "dev/BIG", "--json"});
    EXPECT_TRUE(Succeeded(audit)) << Describe(audit);
    std::istringstream lines(audit.out);
    int n = 0;
    for (std::string line; std::getline(lines, line);)
      n += nlohmann::json::parse(line)["result"] == result;
    return n;
  }

  TestUser other_;
  std::string value_;
};

TEST_F(LockedMemoryTest, AUserHoldsAtMostItsShareOfOpenValuesAndOthersGoOnReading) {
  Fd first(open(M("dev/BIG").c_str(), O_RDONLY));
  Fd second(open(M("dev/BIG").c_str(), O_RDONLY));
  ASSERT_TRUE(first.ok() && second.ok()) << strerror(errno);
  Fd third(open(M("dev/BIG").c_str(), O_RDONLY));
  EXPECT_FALSE(third.ok());
  EXPECT_EQ(errno, ENOMEM) << "the open past root's share";

  // The share counts bytes, not files: a small secret still fits beside the two.
  ASSERT_TRUE(WritePath(M("dev/SMALL"), "small").ok());
  EXPECT_EQ(ReadPath(M("dev/SMALL")).bytes, "small");

  // Another user's share is untouched.
  const std::string read = RunAs(other_, [this] {
    const ReadResult r = ReadPath(M("dev/BIG"));
    return r.error == 0 && r.bytes == value_ ? std::string("same") : std::to_string(r.error);
  });
  EXPECT_EQ(read, "same");

  EXPECT_EQ(ReadEventsWith("ENOMEM"), 1) << "the refused open is on record";

  // A release gives back what its file held. The kernel sends it after close(2) has returned,
  // so an open right after the close may still be refused: a busy machine (CI) took that long.
  ASSERT_EQ(first.Close(), 0);
  ReadResult again = ReadPath(M("dev/BIG"));
  for (int i = 0; i < 250 && again.error == ENOMEM; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    again = ReadPath(M("dev/BIG"));
  }
  EXPECT_EQ(again.error, 0);
  EXPECT_TRUE(again.bytes == value_);
}

TEST_F(LockedMemoryTest, AWriteThatWouldPassTheShareFailsAndStoresNothing) {
  const std::vector<uint64_t> before = Versions("dev/BIG");
  Fd held(open(M("dev/BIG").c_str(), O_RDONLY));  // 100 KiB of the share taken
  ASSERT_TRUE(held.ok()) << strerror(errno);

  Fd writer(open(M("dev/BIG").c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  EXPECT_EQ(WriteFd(writer.get(), RandomBytes(200 * 1024), 16 * 1024), ENOMEM);
  EXPECT_EQ(writer.Close(), ENOMEM) << "the close reports the failed write";

  EXPECT_EQ(Versions("dev/BIG"), before) << "nothing of the failed write was stored";
  EXPECT_TRUE(Get("dev/BIG") == value_);
  EXPECT_TRUE(WritePath(M("dev/BIG"), "smaller").ok()) << "a value that fits is written";
  EXPECT_EQ(Get("dev/BIG"), "smaller");
}

TEST_F(LockedMemoryTest, AnFtruncatePastTheShareFailsAndTheValueStays) {
  const std::vector<uint64_t> before = Versions("dev/BIG");
  Fd held(open(M("dev/BIG").c_str(), O_RDONLY));  // 100 KiB of the share taken
  ASSERT_TRUE(held.ok()) << strerror(errno);
  Fd writer(open(M("dev/BIG").c_str(), O_WRONLY));  // builds on the value: 100 KiB more
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  EXPECT_EQ(ErrnoOf(ftruncate(writer.get(), 200 * 1024)), ENOMEM);
  EXPECT_EQ(writer.Close(), ENOMEM) << "the close reports the failed ftruncate";
  EXPECT_EQ(Versions("dev/BIG"), before);
  EXPECT_TRUE(Get("dev/BIG") == value_);
}

// kB of locked memory the process `pid` holds (VmLck), -1 when unknown.
long LockedKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmLck:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// A write handle builds its value in a buffer that grows by doubling: what counts against the
// share is that buffer, so the memory one user's writers lock stays within the share.
TEST_F(LockedMemoryTest, WhatAUsersWriteHandlesLockStaysWithinItsShare) {
  constexpr size_t kShare = 1 << 20;  // max_locked=4 MiB
  ASSERT_NO_FATAL_FAILURE(Remount("allow_other,policy=" + Local("policy.ini") +
                                  ",max_locked=" + std::to_string(4 * kShare)));
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  const long before = LockedKiB(daemon);
  ASSERT_GE(before, 0);

  // 129 KiB each: a 256 KiB buffer behind each value.
  const std::string value = RandomBytes(129 * 1024);
  std::vector<std::unique_ptr<Fd>> writers;
  int written = 0, refused = 0;
  for (int i = 0; i < 8; ++i) {
    writers.push_back(std::make_unique<Fd>(
        open(M("dev/W" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)));
    ASSERT_TRUE(writers.back()->ok()) << strerror(errno);
    const int rc = WriteFd(writers.back()->get(), value, 16 * 1024);
    if (rc == 0) ++written;
    if (rc == ENOMEM) ++refused;
  }
  const long held = LockedKiB(daemon) - before;
  EXPECT_EQ(written, 3) << "three 256 KiB buffers fit in 1 MiB, a fourth does not";
  EXPECT_EQ(refused, 5);
  EXPECT_LE(held, static_cast<long>(kShare / 1024 * 11 / 10))
      << "the writers of one user lock " << held << " kB, past their share of " << kShare / 1024
      << " kB";
  for (auto& writer : writers) (void)writer->Close();
}

// A share smaller than one max_size value mounts, but the daemon says at mount why large opens
// will fail. (In the foreground the log also goes to stderr; the daemon is stopped after two
// seconds.)
TEST_F(LockedMemoryTest, AShareBelowOneMaxSizeValueIsWarnedOfAtMount) {
  const std::string point = Local("warned");
  ASSERT_EQ(mkdir(point.c_str(), 0755), 0);
  const auto mount_log = [&](const std::string& options) {
    const ProcessResult r = Spawn({SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_,
                                   "mount", point, "-f", "-o", options},
                                  "", {}, std::chrono::seconds(2));
    EXPECT_TRUE(ForceUnmount(point, 0));
    return r.err;
  };
  const std::string warned = mount_log("max_locked=1048576,max_size=1048576");
  EXPECT_THAT(warned, ::testing::HasSubstr("a user may hold 262144 bytes of open values (a "
                                           "quarter of max_locked), less than one value of "
                                           "max_size"))
      << warned;
  EXPECT_THAT(mount_log("max_locked=1048576,max_size=65536"),
              ::testing::Not(::testing::HasSubstr("max_locked")));
}

TEST_F(LockedMemoryTest, TooSmallABudgetIsRefusedAtMount) {
  Unmount(mnt_);
  const ProcessResult refused = MountAt(mnt_, "max_locked=4096");
  EXPECT_FALSE(Succeeded(refused));
  EXPECT_THAT(refused.err, ::testing::HasSubstr("max_locked: at least 1048576 bytes"));
}

}  // namespace
}  // namespace secretfs::testing
