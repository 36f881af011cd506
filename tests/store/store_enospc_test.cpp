// A full disk: the write fails with ENOSPC, nothing is lost, and writes work again once there is
// room; the space reserve that lets commands free space on it. Needs root to mount a small tmpfs;
// skipped otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "store/space_reserve.h"
#include "tests/store/store_fixture.h"

using secretfs::store::WriteRequest;

class StoreEnospcTest : public StoreTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    StoreTest::SetUp();
    mount_point_ = root_ + "/small";
    std::filesystem::create_directories(mount_point_);
    const std::string cmd = "mount -t tmpfs -o size=2m,mode=0700 tmpfs '" + mount_point_ + "'";
    if (std::system(cmd.c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here (no CAP_SYS_ADMIN?)";
    }
    mounted_ = true;
    dir_ = mount_point_ + "/store";
    filler_ = mount_point_ + "/filler";
  }

  void TearDown() override {
    store_.reset();  // close the environment before its filesystem goes away
    if (mounted_) {
      const std::string cmd = "umount '" + mount_point_ + "' || umount -l '" + mount_point_ + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << "could not unmount " << mount_point_;
      mounted_ = false;
    }
    StoreTest::TearDown();
  }

  // Writes a file until the filesystem is full. Returns the errno that stopped it.
  int FillDisk() {
    const int fd = open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    const std::vector<char> chunk(4096, 'f');
    int err = 0;
    for (;;) {
      const ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
    }
    close(fd);
    return err;
  }

  uint64_t FreeBytes() const {
    struct statvfs fs {};
    EXPECT_EQ(statvfs(mount_point_.c_str(), &fs), 0);
    return uint64_t{fs.f_bavail} * fs.f_frsize;
  }

  // The bytes of the store's space reserve that have blocks behind them (0 when it is missing).
  uint64_t ReserveBytes() const {
    struct stat st {};
    if (stat((dir_ + "/" + secretfs::store::kSpaceReserveFile).c_str(), &st) != 0) return 0;
    return std::min<uint64_t>(st.st_size, uint64_t(st.st_blocks) * 512);
  }

  secretfs::Result<secretfs::store::WriteResult> PutBytes(const char* key,
                                                          const std::vector<uint8_t>& value) {
    WriteRequest request;
    request.workspace = "prod";
    request.key = key;
    request.value = value;
    return store_->Write(request);
  }

  std::string mount_point_;
  std::string filler_;
  bool mounted_ = false;
};

TEST_F(StoreEnospcTest, FullDiskIsEnospcAndLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  const std::vector<uint8_t> v1 = PatternBytes(20 * 1024, 1);
  auto first = PutBytes("TOKEN", v1);
  ASSERT_TRUE(first.ok()) << first.status().message();

  ASSERT_EQ(FillDisk(), ENOSPC);

  // 512 KiB of new pages cannot fit anywhere.
  const std::vector<uint8_t> v2 = PatternBytes(512 * 1024, 2);
  auto full = PutBytes("TOKEN", v2);
  ASSERT_FALSE(full.ok()) << "a write succeeded on a full disk";
  EXPECT_EQ(full.status().code(), ENOSPC) << full.status().message();
  auto created = PutBytes("NEW_SECRET", v2);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), ENOSPC) << created.status().message();

  // The previous version is intact and still current; nothing half-written shows.
  auto read = store_->Read("prod", "TOKEN");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->version, 1u);
  EXPECT_TRUE(read->value.Equals(v1));
  EXPECT_EQ(store_->Stat("prod", "NEW_SECRET").status().code(), ENOENT);
  auto history = store_->History("prod", "TOKEN");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 1u);

  // With room again, the same writes succeed.
  ASSERT_EQ(unlink(filler_.c_str()), 0);
  auto retried = PutBytes("TOKEN", v2);
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(retried->version, 2u);
  ASSERT_TRUE(PutBytes("NEW_SECRET", v1).ok());

  // And everything survives a reopen.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  read = store_->Read("prod", "TOKEN");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->version, 2u);
  EXPECT_TRUE(read->value.Equals(v2));
  read = store_->Read("prod", "TOKEN", 1);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->value.Equals(v1));
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
}

// The usual case: not quite full. The write runs out of room part way through its pages.
TEST_F(StoreEnospcTest, NearlyFullDiskIsEnospcAndLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  const std::vector<uint8_t> v1 = PatternBytes(20 * 1024, 1);
  ASSERT_TRUE(PutBytes("TOKEN", v1).ok());

  ASSERT_EQ(FillDisk(), ENOSPC);
  // Leave 128 KiB free: less than the next value needs.
  const auto filler_size = std::filesystem::file_size(filler_);
  ASSERT_GT(filler_size, 128u * 1024);
  std::filesystem::resize_file(filler_, filler_size - 128 * 1024);

  const std::vector<uint8_t> v2 = PatternBytes(512 * 1024, 2);
  auto full = PutBytes("TOKEN", v2);
  ASSERT_FALSE(full.ok()) << "a 512 KiB write succeeded with 128 KiB free";
  EXPECT_EQ(full.status().code(), ENOSPC) << full.status().message();

  auto read = store_->Read("prod", "TOKEN");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->version, 1u);
  EXPECT_TRUE(read->value.Equals(v1));
  // Small writes still fit.
  auto small = PutBytes("SMALL", PatternBytes(100, 3));
  EXPECT_TRUE(small.ok()) << small.status().message();

  ASSERT_EQ(unlink(filler_.c_str()), 0);
  auto retried = PutBytes("TOKEN", v2);
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  ASSERT_NO_FATAL_FAILURE(Reopen());
  read = store_->Read("prod", "TOKEN");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE(read->value.Equals(v2));
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
}

TEST_F(StoreEnospcTest, StoreCannotBeCreatedOnAFullDisk) {
  ASSERT_EQ(FillDisk(), ENOSPC);
  // In a child process, so that a crash (LMDB touching a lock file it could not allocate) is
  // reported as such instead of ending the whole test binary.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    const secretfs::Status created = secretfs::store::SecretStore::Create(
        dir_, Key(), secretfs::keyring::PwhashLimits::Interactive(), "test");
    _exit(created.ok() ? 100 : created.code());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_FALSE(WIFSIGNALED(status))
      << "Create on a full disk was killed by signal " << WTERMSIG(status) << " ("
      << strsignal(WTERMSIG(status)) << ")";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), ENOSPC)
      << "Create on a full disk returned errno " << WEXITSTATUS(status);
  // Nothing that looks like a store is left behind.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data.mdb"));
}

// ---- The space reserve (store/space_reserve.h) ----

TEST(SpaceReserveTargetTest, IsAThirtySecondOfTheFilesystemInWholePagesAtMost16MiB) {
  using secretfs::store::SpaceReserveTarget;
  EXPECT_EQ(SpaceReserveTarget(uint64_t{2} << 20), 64u * 1024);
  EXPECT_EQ(SpaceReserveTarget((uint64_t{4} << 20) + 100), 128u * 1024);
  EXPECT_EQ(SpaceReserveTarget(132 * 1024 + 100), 4096u);  // 4,227 bytes: down to a page
  EXPECT_EQ(SpaceReserveTarget(100 * 1024), 0u);
  EXPECT_EQ(SpaceReserveTarget(uint64_t{1} << 40), uint64_t{16} << 20);
}

TEST_F(StoreEnospcTest, AStoreHoldsASpaceReserveThatCanBeGivenBackAndTakenAgain) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  constexpr uint64_t kReserve = 64 * 1024;  // a 32nd of the 2 MiB tmpfs
  EXPECT_EQ(ReserveBytes(), kReserve);
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/space.reserve").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const uint64_t free_held = FreeBytes();

  auto released = secretfs::store::ReleaseSpaceReserve(dir_);
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, kReserve);
  EXPECT_EQ(FreeBytes(), free_held + kReserve);
  released = secretfs::store::ReleaseSpaceReserve(dir_);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 0u) << "nothing is left to give back";

  auto kept = secretfs::store::KeepSpaceReserve(dir_);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(*kept, kReserve);
  EXPECT_EQ(FreeBytes(), free_held);
  // Opening the store again keeps the reserve as it is, and takes no more.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(FreeBytes(), free_held);
  EXPECT_EQ(store_->open_notice(), "");
}

TEST_F(StoreEnospcTest, OnANearlyFullDiskTheReserveHoldsWhatFitsAndOpeningSaysSo) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  store_.reset();
  ASSERT_TRUE(secretfs::store::ReleaseSpaceReserve(dir_).ok());
  ASSERT_EQ(FillDisk(), ENOSPC);
  const auto filler_size = std::filesystem::file_size(filler_);
  std::filesystem::resize_file(filler_, filler_size - 12 * 1024);  // 12 KiB free
  ASSERT_EQ(FreeBytes(), 12u * 1024);

  // The store opens and works; the operator hears that its reserve is short.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  const std::string& notice = store_->open_notice();
  EXPECT_NE(notice.find("has room for 12.0 KiB of the 64.0 KiB"), std::string::npos) << notice;
  EXPECT_EQ(ReserveBytes(), 12u * 1024);
  auto read = store_->Read("prod", "TOKEN");
  EXPECT_EQ(read.status().code(), ENOENT);  // the store answers

  // With room again, the next open makes the reserve whole.
  ASSERT_EQ(unlink(filler_.c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(store_->open_notice(), "");
  EXPECT_EQ(ReserveBytes(), 64u * 1024);
}
