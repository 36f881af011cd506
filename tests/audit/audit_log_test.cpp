// AuditLog: durable group commit, buffered mode, fail-closed on a full disk, and events joined
// to a change's own transaction.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "audit_fixture.h"

namespace audit_test {
namespace {

using secretfs::audit::AuditLog;
using secretfs::audit::LogOptions;
using secretfs::audit::Mode;
using namespace std::chrono_literals;

LogOptions Buffered(int flush_ms) {
  LogOptions o;
  o.mode = Mode::kBuffered;
  o.flush_ms = flush_ms;
  return o;
}

// Whether thread `tid` of this process is asleep (blocked in the kernel, e.g. on a futex).
bool Sleeping(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S';
}

void ExpectContiguous(const std::vector<Event>& events) {
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, i + 1);
}

class AuditLogTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateStore());
  }

  Result<secretfs::store::WriteResult> Write(std::string_view key, std::string_view value,
                                             bool create_only = false) {
    secretfs::store::WriteRequest request;
    request.workspace = "prod";
    request.key = key;
    request.value = secretfs::AsBytes(value);
    request.author = "tester";
    request.create_only = create_only;
    return store_->Write(request);
  }
};

TEST_F(AuditLogTest, DurableRecordIsCommittedWhenItReturns) {
  AuditLog log(env(), audit_key_.Clone());
  ASSERT_TRUE(log.Record(SampleEvent()).ok());
  auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].seq, 1u);
  EXPECT_NE(all[0].time_ns, 0) << "stamped when recorded";
  EXPECT_EQ(log.stats().commits, 1u);
  EXPECT_EQ(log.stats().events, 1u);
  EXPECT_TRUE(log.Flush().ok()) << "a no-op in durable mode";
}

TEST_F(AuditLogTest, ConcurrentRecordsAreAllCommittedInOrderAndVerify) {
  constexpr int kThreads = 8, kEach = 250;
  AuditLog log(env(), audit_key_.Clone());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Event e = SampleEvent("read", "prod", "K" + std::to_string(t), 1000 + t);
        e.version = static_cast<uint64_t>(i) + 1;
        if (!log.Record(e).ok()) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = All();
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});
  ExpectContiguous(all);
  // Each thread's own events keep their order.
  std::vector<uint64_t> last(kThreads, 0);
  for (const Event& e : all) {
    const int t = static_cast<int>(e.uid) - 1000;
    EXPECT_EQ(e.version, last[t] + 1);
    last[t] = e.version;
  }
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_EQ(r.events, all.size());
  const auto stats = log.stats();
  EXPECT_EQ(stats.events, all.size());
  EXPECT_LE(stats.commits, stats.events);
  std::printf("group commit: %llu events in %llu commits (%.1f per commit)\n",
              static_cast<unsigned long long>(stats.events),
              static_cast<unsigned long long>(stats.commits),
              static_cast<double>(stats.events) / static_cast<double>(stats.commits));
}

TEST_F(AuditLogTest, CallersWaitingForACommitShareTheNextOne) {
  AuditLog log(env(), audit_key_.Clone());
  // Hold the store's write lock so the first Record's commit cannot start.
  std::mutex m;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread holder([&] {
    const Status s = env().Write([&](Txn&) {
      std::unique_lock lock(m);
      holding = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return holding; });
  }

  constexpr int kThreads = 8;
  std::vector<std::atomic<pid_t>> tids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      tids[t] = gettid();
      EXPECT_TRUE(log.Record(SampleEvent("read", "prod", "K", 1000 + t)).ok());
    });
  // Wait until every caller is blocked: one in the commit (on LMDB's writer lock), the others
  // queued behind it. Asleep several times in a row, so a passing futex does not fool us.
  for (int stable = 0; stable < 5;) {
    std::this_thread::sleep_for(10ms);
    bool all = true;
    for (auto& tid : tids) all = all && tid.load() != 0 && Sleeping(tid.load());
    stable = all ? stable + 1 : 0;
  }
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  holder.join();
  for (auto& t : threads) t.join();

  const auto stats = log.stats();
  EXPECT_EQ(stats.events, size_t{kThreads});
  EXPECT_LE(stats.commits, 2u) << "the leader's own commit, then one for everyone who waited";
  EXPECT_EQ(All().size(), size_t{kThreads});
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(AuditLogTest, BufferedRecordReturnsBeforeTheCommitAndFlushCommits) {
  AuditLog log(env(), audit_key_.Clone(), Buffered(3'600'000));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Record(SampleEvent()).ok());
  EXPECT_TRUE(All().empty()) << "nothing committed yet";
  ASSERT_TRUE(log.Flush().ok());
  auto all = All();
  ASSERT_EQ(all.size(), 10u);
  ExpectContiguous(all);
  EXPECT_EQ(log.stats().commits, 1u);
  EXPECT_EQ(log.stats().events, 10u);
  EXPECT_TRUE(log.Flush().ok()) << "an empty flush is fine";
}

TEST_F(AuditLogTest, BufferedEventsKeepTheTimeTheyWereRecorded) {
  AuditLog log(env(), audit_key_.Clone(), Buffered(3'600'000));
  const int64_t before = secretfs::store::NowNs();
  ASSERT_TRUE(log.Record(SampleEvent()).ok());
  const int64_t after = secretfs::store::NowNs();
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(log.Flush().ok());
  auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_GE(all[0].time_ns, before);
  EXPECT_LE(all[0].time_ns, after);
}

TEST_F(AuditLogTest, TheFlusherCommitsWithinFlushMs) {
  AuditLog log(env(), audit_key_.Clone(), Buffered(20));
  ASSERT_TRUE(log.Record(SampleEvent()).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (All().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(All().size(), 1u);
}

TEST_F(AuditLogTest, BufferedConcurrentRecordsAllArriveAndTheDestructorFlushes) {
  {
    AuditLog log(env(), audit_key_.Clone(), Buffered(5));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) EXPECT_TRUE(log.Record(SampleEvent()).ok());
      });
    for (auto& t : threads) t.join();
  }
  auto all = All();
  ASSERT_EQ(all.size(), 8000u);
  ExpectContiguous(all);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(AuditLogTest, JoinCommitsTheEventWithTheChangeAndFillsTheVersion) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  AuditLog log(env(), audit_key_.Clone());
  {
    Event e = SampleEvent("create", "prod", "API_KEY");
    e.version = 0;
    auto scope = log.Join(e);
    auto written = Write("API_KEY", "v1");
    ASSERT_TRUE(written.ok()) << written.status().message();
    EXPECT_TRUE(scope->ran());
  }
  {
    Event e = SampleEvent("write", "prod", "API_KEY");
    e.version = 0;
    auto scope = log.Join(e);
    ASSERT_TRUE(Write("API_KEY", "v2").ok());
  }
  auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].op, "create");
  EXPECT_EQ(all[0].version, 1u);
  EXPECT_EQ(all[1].op, "write");
  EXPECT_EQ(all[1].version, 2u);
  EXPECT_EQ(log.stats().commits, 0u) << "joined events are not Record's commits";

  // Only the next change joins: a second one made while the scope lives records nothing more.
  {
    Event e = SampleEvent("write", "prod", "API_KEY");
    e.version = 0;
    auto scope = log.Join(e);
    ASSERT_TRUE(Write("API_KEY", "v3").ok());
    ASSERT_TRUE(Write("API_KEY", "v4").ok());
  }
  EXPECT_EQ(All().size(), 3u);
  // A version given by the caller is kept; an event without a key has none filled.
  {
    Event e = SampleEvent("write", "prod", "API_KEY");
    e.version = 77;
    auto scope = log.Join(e);
    ASSERT_TRUE(Write("API_KEY", "v5").ok());
  }
  {
    Event e = SampleEvent("mkdir", "stage", "");
    e.version = 0;
    auto scope = log.Join(e);
    ASSERT_TRUE(store_->CreateWorkspace("stage", secretfs::store::Naming::kDefault).ok());
  }
  all = All();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3].version, 77u);
  EXPECT_EQ(all[4].op, "mkdir");
  EXPECT_EQ(all[4].version, 0u);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(AuditLogTest, AFailedChangeLeavesNoEvent) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  ASSERT_TRUE(Write("API_KEY", "v1").ok());
  AuditLog log(env(), audit_key_.Clone());
  {
    auto scope = log.Join(SampleEvent("create", "prod", "API_KEY"));
    EXPECT_EQ(Write("API_KEY", "again", /*create_only=*/true).status().code(), EEXIST);
    EXPECT_FALSE(scope->ran());
  }
  EXPECT_TRUE(All().empty());
}

TEST_F(AuditLogTest, JoinSurvivesMapGrowthWithOneEvent) {
  // A tiny map: the write below does not fit, so the store grows the map and runs the
  // transaction (and the hook) again.
  TearDown();
  AuditTest::SetUp();
  secretfs::store::StoreOptions options;
  options.initial_map_bytes = size_t{256} << 10;
  ASSERT_NO_FATAL_FAILURE(CreateStore(options));
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  const size_t map_before = store_->Usage().map_bytes;
  AuditLog log(env(), audit_key_.Clone());
  const std::string big(900 * 1024, 'x');
  {
    Event e = SampleEvent("create", "prod", "BIG");
    e.version = 0;
    auto scope = log.Join(e);
    auto written = Write("BIG", big);
    ASSERT_TRUE(written.ok()) << written.status().message();
  }
  EXPECT_GT(store_->Usage().map_bytes, map_before) << "the map grew";
  auto all = All();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].version, 1u);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(AuditLogTest, RecordInsideAJoinScopeDoesNotTakeTheChangesHook) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  AuditLog log(env(), audit_key_.Clone());
  Event change = SampleEvent("write", "prod", "API_KEY");
  change.version = 0;
  auto scope = log.Join(change);
  ASSERT_TRUE(log.Record(SampleEvent("read", "prod", "OTHER")).ok());
  EXPECT_FALSE(scope->ran()) << "the access's commit is not the change";
  ASSERT_TRUE(Write("API_KEY", "v1").ok());
  EXPECT_TRUE(scope->ran());
  auto all = All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].key, "OTHER");
  EXPECT_EQ(all[1].key, "API_KEY");
  EXPECT_EQ(all[1].version, 1u);
}

TEST_F(AuditLogTest, AWrongKeyFailsClosed) {
  AuditLog log(env(), SecretBuffer::CopyOf(secretfs::keyring::RandomBytes(8)));
  const Status s = log.Record(SampleEvent());
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find("recording the audit event"), std::string::npos) << s.message();
  EXPECT_TRUE(All().empty());
}

// A full disk: a small tmpfs, filled. Needs root to mount; skipped otherwise.
class AuditFullDiskTest : public AuditTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    AuditTest::SetUp();
    mount_point_ = root_ + "/small";
    std::filesystem::create_directories(mount_point_);
    const std::string cmd = "mount -t tmpfs -o size=2m,mode=0700 tmpfs '" + mount_point_ + "'";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
    mounted_ = true;
    dir_ = mount_point_ + "/store";
    filler_ = mount_point_ + "/filler";
    ASSERT_NO_FATAL_FAILURE(CreateStore());
  }

  void TearDown() override {
    store_.reset();  // close the environment before its filesystem goes away
    if (mounted_) {
      const std::string cmd = "umount '" + mount_point_ + "' || umount -l '" + mount_point_ + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << "could not unmount " << mount_point_;
      mounted_ = false;
    }
    AuditTest::TearDown();
  }

  void FillDisk() {
    const int fd = open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::vector<char> chunk(4096, 'f');
    while (write(fd, chunk.data(), chunk.size()) > 0) {
    }
    close(fd);
  }

  void FreeDisk() { std::filesystem::remove(filler_); }

  // A large event: each needs a page of its own, so commits soon need new blocks.
  static Event BigEvent() {
    Event e = SampleEvent();
    e.detail = std::string(3000, 'd');
    return e;
  }

  std::string mount_point_;
  std::string filler_;
  bool mounted_ = false;
};

TEST_F(AuditFullDiskTest, DurableRecordFailsWithEioAndRecoversWithSpace) {
  AuditLog log(env(), audit_key_.Clone());
  ASSERT_TRUE(log.Record(BigEvent()).ok());
  ASSERT_NO_FATAL_FAILURE(FillDisk());
  Status failed;
  int recorded = 1;
  for (int i = 0; i < 5000 && failed.ok(); ++i) {
    failed = log.Record(BigEvent());
    if (failed.ok()) ++recorded;
  }
  ASSERT_FALSE(failed.ok()) << "the disk never filled";
  EXPECT_EQ(failed.code(), EIO);
  EXPECT_NE(failed.message().find("recording the audit event"), std::string::npos)
      << failed.message();
  EXPECT_NE(failed.message().find("full"), std::string::npos) << failed.message();
  EXPECT_EQ(All().size(), size_t(recorded)) << "the refused event is not there";

  FreeDisk();
  ASSERT_TRUE(log.Record(BigEvent()).ok());
  EXPECT_EQ(All().size(), size_t(recorded) + 1);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(AuditFullDiskTest, BufferedRecordFailsAfterAFailedFlushAndRecovers) {
  int accepted = 0;
  {
    AuditLog log(env(), audit_key_.Clone(), Buffered(3'600'000));
    ASSERT_NO_FATAL_FAILURE(FillDisk());
    Status flushed;
    for (int i = 0; i < 5000 && flushed.ok(); ++i) {
      ASSERT_TRUE(log.Record(BigEvent()).ok()) << "accepted while the last flush worked";
      ++accepted;
      flushed = log.Flush();
    }
    ASSERT_FALSE(flushed.ok()) << "the disk never filled";
    EXPECT_EQ(flushed.code(), EIO);
    EXPECT_NE(flushed.message().find("full"), std::string::npos) << flushed.message();

    // Fail-closed: refused until a flush succeeds; the queued event is kept for the retry.
    const Status refused = log.Record(BigEvent());
    EXPECT_EQ(refused.code(), EIO);
    EXPECT_NE(refused.message().find("recording the audit event"), std::string::npos)
        << refused.message();
    EXPECT_EQ(All().size(), size_t(accepted) - 1);

    FreeDisk();
    ASSERT_TRUE(log.Flush().ok());
    EXPECT_EQ(All().size(), size_t(accepted)) << "the event that waited is committed";
    ASSERT_TRUE(log.Record(BigEvent()).ok());
    ++accepted;
  }  // the destructor commits the last one
  auto all = All();
  EXPECT_EQ(all.size(), size_t(accepted));
  ExpectContiguous(all);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

}  // namespace
}  // namespace audit_test
