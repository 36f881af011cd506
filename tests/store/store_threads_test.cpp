// One SecretStore used from many threads at once, as the daemon's FUSE workers use it, while the
// map grows underneath them.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::store::StoreOptions;
using secretfs::store::WriteRequest;

class StoreThreadsTest : public StoreTest {};

TEST_F(StoreThreadsTest, ConcurrentWritersAndReadersWhileTheMapGrows) {
  StoreOptions options;
  options.initial_map_bytes = 256 * 1024;
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock(options));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "STABLE", "read me while others write").ok());

  constexpr int kWriters = 4;
  constexpr int kVersions = 12;
  constexpr int kReaders = 4;
  std::atomic<int> write_failures{0};
  std::atomic<int> read_failures{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      const std::string key = "KEY_" + std::to_string(w);
      for (int v = 1; v <= kVersions; ++v) {
        const std::vector<uint8_t> value =
            PatternBytes(64 * 1024 * (1 + v % 4), static_cast<uint32_t>(w * 100 + v));
        WriteRequest request;
        request.workspace = w % 2 == 0 ? "dev" : "prod";
        request.key = key;
        request.value = value;
        auto written = store_->Write(request);
        if (!written.ok() || written->version != static_cast<uint64_t>(v)) ++write_failures;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      int rounds = 0;
      while (writing.load() || rounds < 10) {
        auto read = store_->Read("prod", "STABLE");
        if (!read.ok() || !read->value.Equals(secretfs::AsBytes("read me while others write")))
          ++read_failures;
        ++rounds;
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  writing = false;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(write_failures.load(), 0);
  EXPECT_EQ(read_failures.load(), 0);
  ASSERT_NO_FATAL_FAILURE(Reopen(options));
  for (int w = 0; w < kWriters; ++w) {
    const std::string key = "KEY_" + std::to_string(w);
    for (int v = 1; v <= kVersions; ++v) {
      auto read = store_->Read(w % 2 == 0 ? "dev" : "prod", key, v);
      ASSERT_TRUE(read.ok()) << key << " v" << v << ": " << read.status().message();
      EXPECT_TRUE(read->value.Equals(
          PatternBytes(64 * 1024 * (1 + v % 4), static_cast<uint32_t>(w * 100 + v))))
          << key << " v" << v;
    }
  }
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  EXPECT_EQ(report->versions_ok, static_cast<size_t>(kWriters * kVersions + 1));
}
