// The daemon's low-space warning (fs/space_watch.h), on a real small tmpfs filled by a file.
// Needs root to mount the tmpfs; skipped otherwise.
#include "fs/space_watch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fs/log.h"

namespace secretfs::fs {
namespace {

using namespace std::chrono_literals;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(LowSpaceThresholdTest, IsATwentiethOfTheDiskAtMost4GiBAndAtLeastTwiceTheSpaceReserve) {
  EXPECT_EQ(LowSpaceThreshold(uint64_t{40} << 30), uint64_t{2} << 30);
  EXPECT_EQ(LowSpaceThreshold(uint64_t{10} << 40), uint64_t{4} << 30) << "at most 4 GiB";
  // 4 MiB: a 20th is 205 KiB, the reserve 128 KiB.
  EXPECT_EQ(LowSpaceThreshold(uint64_t{4} << 20), 256u * 1024);
}

class SpaceWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    char tmpl[] = "/tmp/secretfs-space-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs: " << strerror(errno);
    mounted_ = true;
    OpenLog(/*foreground=*/true);  // the log's lines also go to stderr, where the test reads them
  }
  void TearDown() override {
    if (mounted_) {
      EXPECT_EQ(umount2(dir_.c_str(), MNT_DETACH), 0) << strerror(errno);
    }
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  // Fills the tmpfs with a file, then leaves `left` bytes free.
  void FillLeaving(off_t left) {
    const int fd = open(Filler().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const std::vector<char> chunk(4096, 'f');
    while (write(fd, chunk.data(), chunk.size()) > 0) {
    }
    const off_t size = lseek(fd, 0, SEEK_END);
    ASSERT_EQ(ftruncate(fd, size - left), 0);
    close(fd);
  }
  std::string Filler() const { return dir_ + "/filler"; }

  std::string dir_;
  bool mounted_ = false;
};

TEST_F(SpaceWatchTest, WarnsWhenTheDiskRunsLowAgainWhileItStaysLowAndSaysWhenItHasRoom) {
  ASSERT_NO_FATAL_FAILURE(FillLeaving(100 * 1024));  // below the 256 KiB of a 4 MiB disk
  ::testing::internal::CaptureStderr();
  {
    SpaceWatch watch(dir_, {.period = 10ms, .repeat = 60ms});
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(unlink(Filler().c_str()), 0);
    std::this_thread::sleep_for(300ms);  // many periods: a loaded machine still looks
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  const std::string warning = "store: the disk holding " + dir_ + " is running out of space: ";
  EXPECT_GE(Count(log, warning), 2u) << log;  // once at once, and again while it stays low
  EXPECT_LE(Count(log, warning), 6u) << "warned more often than every 60 ms: " << log;
  EXPECT_NE(log.find(warning + "100.0 KiB free of 4.0 MiB (2%)"), std::string::npos) << log;
  EXPECT_NE(log.find("secretfs audit prune"), std::string::npos) << log;
  EXPECT_EQ(Count(log, "has room again"), 1u) << log;
  EXPECT_GT(log.find("has room again"), log.rfind(warning)) << log;
}

TEST_F(SpaceWatchTest, SaysNothingWhileTheDiskHasRoom) {
  ASSERT_NO_FATAL_FAILURE(FillLeaving(1 << 20));  // 1 MiB free: above the threshold
  ::testing::internal::CaptureStderr();
  {
    SpaceWatch watch(dir_, {.period = 10ms, .repeat = 10ms});
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace secretfs::fs
