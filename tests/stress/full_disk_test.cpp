// The store on a small disk (a tmpfs of a few MiB), on a disk with room while LMDB's map has
// to grow under two processes at once, and on a disk made read-only.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class FullDiskTest : public MountedTest {
 protected:
  void TearDown() override {
    if (!disk_mnt_.empty() && !MountedType(disk_mnt_).empty()) Unmount(disk_mnt_);
    UnmountStoreTmpfs(disk_);
    MountedTest::TearDown();
  }

  // A tmpfs of `size` with a store (workspace dev) on it, mounted at disk_mnt_.
  void MountStoreOnTmpfs(const std::string& size) {
    disk_ = Local("disk");
    disk_mnt_ = Local("disk-mnt");
    disk_store_ = disk_ + "/store";
    ASSERT_EQ(mkdir(disk_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(disk_mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mount("tmpfs", disk_.c_str(), "tmpfs", 0, ("mode=0700,size=" + size).c_str()), 0)
        << strerror(errno);
    ASSERT_TRUE(Succeeded(CliOn({"init"})));
    ASSERT_TRUE(Succeeded(CliOn({"workspace", "create", "dev"})));
    ASSERT_TRUE(Succeeded(CliOn({"mount", disk_mnt_})));
    TrackMount(disk_mnt_);
  }

  ProcessResult CliOn(const std::vector<std::string>& args, const std::string& input = "") const {
    std::vector<std::string> argv = {SECRETFS_BINARY, "-s", disk_store_, "-k", "file:" + key_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return Spawn(argv, input);
  }

  std::string D(const std::string& rel) const { return disk_mnt_ + "/" + rel; }

  std::string disk_, disk_mnt_, disk_store_;
};

// Fills `path` until `room` bytes are left on its file system.
void FillLeaving(const std::string& path, uint64_t room) {
  Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  const std::string chunk(64 << 10, 'f');
  struct statvfs fs {};
  while (fstatvfs(fd.get(), &fs) == 0 && uint64_t{fs.f_bavail} * fs.f_frsize > room + chunk.size())
    ASSERT_EQ(write(fd.get(), chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
}

TEST_F(FullDiskTest, WritesFailWithEnospcAtCloseLoseNothingAndWorkAgainOnceThereIsRoom) {
  ASSERT_NO_FATAL_FAILURE(MountStoreOnTmpfs("8m"));
  constexpr int kKeys = 12;
  std::vector<std::string> current(kKeys);
  for (int k = 0; k < kKeys; ++k) {
    current[k] = "first-" + std::to_string(k);
    ASSERT_TRUE(WritePath(D("dev/B" + std::to_string(k)), current[k]).ok());
  }
  const std::string filler = disk_ + "/filler";
  ASSERT_NO_FATAL_FAILURE(FillLeaving(filler, 1 << 20));

  // 256 KiB values over the same keys until the disk refuses one: about four fit in 1 MiB.
  int refused = -1;
  WriteResult failed;
  for (int i = 0; i < 4 * kKeys && refused < 0; ++i) {
    const int k = i % kKeys;
    const std::string value = RandomBytes(256 << 10);
    const WriteResult r = WritePath(D("dev/B" + std::to_string(k)), value);
    if (r.ok()) {
      current[k] = value;
    } else {
      refused = k;
      failed = r;
    }
  }
  ASSERT_GE(refused, 0) << "the disk never filled";
  EXPECT_EQ(failed.open_error, 0);
  EXPECT_EQ(failed.write_error, 0) << "the value is buffered; only its commit can fail";
  EXPECT_EQ(failed.close_error, ENOSPC) << strerrorname_np(failed.close_error);

  // Reads keep working (their events fit in the pages the store already has), and every key,
  // the refused one included, holds its last acknowledged value.
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < kKeys; ++k) {
      const ReadResult r = ReadPath(D("dev/B" + std::to_string(k)));
      ASSERT_EQ(r.error, 0) << "B" << k << ": " << strerrorname_np(r.error);
      ASSERT_EQ(r.bytes, current[k]) << "B" << k;
    }

  // Room again: the refused write goes through.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  const std::string value = RandomBytes(256 << 10);
  const WriteResult again = WritePath(D("dev/B" + std::to_string(refused)), value);
  ASSERT_TRUE(again.ok()) << strerrorname_np(again.close_error);
  EXPECT_EQ(ReadPath(D("dev/B" + std::to_string(refused))).bytes, value);
  const ProcessResult verify = CliOn({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  const ProcessResult audit = CliOn({"audit", "verify"});
  EXPECT_EQ(audit.exit_code, 0) << Describe(audit);
}

TEST_F(FullDiskTest, TheMapGrowsWhileTheDaemonServesAndTheCliWrites) {
  ASSERT_NO_FATAL_FAILURE(MountStoreOnTmpfs("1g"));
  // A new store's map is 64 MiB (store/secret_store.h); this writes about twice that.
  constexpr uint64_t kInitialMap = uint64_t{64} << 20;
  constexpr int kCliPuts = 64, kValueBytes = 768 << 10;
  for (int k = 0; k < 8; ++k)
    ASSERT_TRUE(WritePath(D("dev/R" + std::to_string(k)), "read-me-" + std::to_string(k)).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0}, write_errors{0}, reads{0};
  std::vector<std::string> mount_values;  // written by the mount writer, in order
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; !stop; ++i) {
        const int k = i % 8;
        const ReadResult r = ReadPath(D("dev/R" + std::to_string(k)));
        ++reads;
        if (r.error != 0 || r.bytes != "read-me-" + std::to_string(k)) ++read_errors;
      }
    });
  threads.emplace_back([&] {
    // As many as the CLI puts at most: each is checked with a `secretfs get` below, and under
    // AddressSanitizer the CLI is so much slower that an unbounded writer wrote hundreds.
    for (int i = 0; !stop && i < kCliPuts; ++i) {
      std::string value = RandomBytes(kValueBytes);
      if (!WritePath(D("dev/M" + std::to_string(i)), value).ok()) {
        ++write_errors;
        return;
      }
      mount_values.push_back(std::move(value));
    }
  });
  std::vector<std::string> cli_values;
  for (int i = 0; i < kCliPuts; ++i) {
    cli_values.push_back(RandomBytes(kValueBytes));
    const ProcessResult r = CliOn({"put", "dev/CLI" + std::to_string(i)}, cli_values.back());
    EXPECT_TRUE(Succeeded(r)) << "put " << i << ": " << Describe(r);
  }
  stop = true;
  for (std::thread& t : threads) t.join();

  struct stat data {};
  ASSERT_EQ(stat((disk_store_ + "/data.mdb").c_str(), &data), 0);
  std::printf("store file %lld MiB after %d CLI puts, %zu mount writes, %d reads\n",
              static_cast<long long>(data.st_size >> 20), kCliPuts, mount_values.size(),
              reads.load());
  EXPECT_GT(static_cast<uint64_t>(data.st_size), kInitialMap) << "the map never had to grow";
  EXPECT_EQ(read_errors, 0);
  EXPECT_EQ(write_errors, 0);
  EXPECT_GT(reads, 0);
  // What the CLI wrote reads back through the mount, and the mount's writes through the CLI.
  for (int i = 0; i < kCliPuts; ++i)
    ASSERT_EQ(ReadPath(D("dev/CLI" + std::to_string(i))).bytes, cli_values[i]) << "CLI" << i;
  for (size_t i = 0; i < mount_values.size(); ++i) {
    const ProcessResult r = CliOn({"get", "dev/M" + std::to_string(i)});
    ASSERT_TRUE(r.exit_code == 0 && r.out == mount_values[i]) << "M" << i << ": " << Describe(r);
  }
}

// Every command records its access in the store, so a store on read-only media (a backup disk,
// a snapshot) cannot be opened; the error says why and what to do, and nothing is changed.
TEST_F(FullDiskTest, AStoreOnAReadOnlyDiskIsRefusedSayingWhy) {
  ASSERT_NO_FATAL_FAILURE(MountStoreOnTmpfs("4m"));
  ASSERT_TRUE(WritePath(D("dev/KEPT"), "kept-value").ok());
  ASSERT_NO_FATAL_FAILURE(Unmount(disk_mnt_));
  ASSERT_EQ(mount(nullptr, disk_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << strerror(errno);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"get", "dev/KEPT"}, {"verify"}, {"mount", disk_mnt_}}) {
    SCOPED_TRACE(command.front());
    const ProcessResult r = CliOn(command);
    EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("the store at " + disk_store_ + " is on a read-only filesystem"));
    EXPECT_THAT(r.err, HasSubstr("copy it elsewhere"));
  }
  EXPECT_EQ(MountedType(disk_mnt_), "");
  ASSERT_EQ(mount(nullptr, disk_.c_str(), nullptr, MS_REMOUNT, nullptr), 0) << strerror(errno);
  const ProcessResult r = CliOn({"get", "dev/KEPT"});
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "kept-value");
}

}  // namespace
}  // namespace secretfs::testing
