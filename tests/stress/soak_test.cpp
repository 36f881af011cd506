// Soak: 64 reader threads and 4 writers over 100 keys through one mount, for a minute (five in
// the long form). Zero errors; every read is a whole value some writer wrote to that key; the
// daemon's anonymous resident memory grows by less than 10 MiB between the end of the warm-up and
// the end.
//   SECRETFS_SOAK_SECONDS   how long (default 60)
#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/mount_fixture.h"
#include "tests/stress/stress_values.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kReaders = 64, kWriters = 4, kKeys = 100;

std::string KeyName(int k) { return "S" + std::to_string(k); }

// A line "NAME:   N kB" of /proc/PID/status, in KiB, or -1.
long StatusKib(pid_t pid, const std::string& name) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  return -1;
}

// The daemon's own memory: anonymous resident pages (heap, stacks, locked buffers). Its RSS also
// counts the pages of the store file it has touched through LMDB's read-only map (RssFile),
// which grow with the store (the audit log grows with every read) and belong to the page cache.
long ResidentKib(pid_t pid) { return StatusKib(pid, "RssAnon"); }

class SoakTest : public MountedTest {};

TEST_F(SoakTest, SixtyFourReadersAndFourWritersForAMinuteWithoutAnError) {
  const auto duration = std::chrono::seconds(EnvOr("SECRETFS_SOAK_SECONDS", 60));
  for (int k = 0; k < kKeys; ++k)
    ASSERT_TRUE(WritePath(M("dev/" + KeyName(k)), MakeValue({KeyName(k), kWriters, 0})).ok());
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, writes{0}, read_errors{0}, write_errors{0}, foreign{0};
  std::atomic<int> first_errno{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      std::mt19937 random(w);
      for (uint64_t n = 1; !stop; ++n) {
        const std::string key = KeyName(static_cast<int>(random() % kKeys));
        const WriteResult r = WritePath(M("dev/" + key), MakeValue({key, w, n}));
        if (r.ok()) {
          ++writes;
          continue;
        }
        ++write_errors;
        int none = 0;
        first_errno.compare_exchange_strong(none, r.open_error    ? r.open_error
                                                  : r.write_error ? r.write_error
                                                                  : r.close_error);
      }
    });
  for (int t = 0; t < kReaders; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 random(1000 + t);
      while (!stop) {
        const std::string key = KeyName(static_cast<int>(random() % kKeys));
        const ReadResult r = ReadPath(M("dev/" + key));
        ++reads;
        if (r.error != 0) {
          ++read_errors;
          int none = 0;
          first_errno.compare_exchange_strong(none, r.error);
          continue;
        }
        const std::optional<ValueId> id = ParseValue(r.bytes);
        if (!id || id->key != key) ++foreign;
      }
    });

  // Memory is measured after a warm-up (pools, caches, LMDB's map touched), then at the end.
  const auto warm_up = duration / 10;
  std::this_thread::sleep_for(warm_up);
  const long rss_before = ResidentKib(daemon);
  std::this_thread::sleep_for(duration - warm_up);
  const long rss_after = ResidentKib(daemon);
  stop = true;
  for (std::thread& t : threads) t.join();

  std::printf(
      "soak %llds: %llu reads, %llu writes; daemon RssAnon %ld KiB -> %ld KiB (VmRSS %ld KiB, "
      "store pages included)\n",
      static_cast<long long>(duration.count()), static_cast<unsigned long long>(reads),
      static_cast<unsigned long long>(writes), rss_before, rss_after, StatusKib(daemon, "VmRSS"));
  EXPECT_EQ(read_errors, 0u) << "first errno " << strerrorname_np(first_errno);
  EXPECT_EQ(write_errors, 0u) << "first errno " << strerrorname_np(first_errno);
  EXPECT_EQ(foreign, 0u) << "reads returned bytes no writer wrote to that key";
  EXPECT_GT(reads, 0u);
  EXPECT_GT(writes, 0u);
  ASSERT_GT(rss_before, 0);
  ASSERT_GT(rss_after, 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::printf("(a sanitizer's quarantine and shadow memory grow: RSS growth not checked)\n");
#else
  EXPECT_LT(rss_after - rss_before, 10 * 1024) << "the daemon grew by more than 10 MiB";
#endif
  const ProcessResult verify = Cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

}  // namespace
}  // namespace secretfs::testing
