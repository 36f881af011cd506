// ScopedCommitHook (what the audit layer joins changes with) and ScanFrom (how it finds the last
// event), on a real store.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::AsBytes;
using secretfs::Status;
using secretfs::store::Bytes;
using secretfs::store::Db;
using secretfs::store::Env;
using secretfs::store::ScopedCommitHook;
using secretfs::store::Txn;

namespace {

std::vector<uint8_t> SeqKey(int n) { return {static_cast<uint8_t>(n)}; }

// The keys of the audit table, in the order ScanFrom visits them.
std::vector<uint8_t> Walk(secretfs::store::Env& env, std::vector<uint8_t> start, bool backward) {
  std::vector<uint8_t> seen;
  EXPECT_TRUE(env.Read([&](Txn& txn) {
                   return txn.ScanFrom(Db::kAudit, start, backward, [&](Bytes k, Bytes) {
                     seen.push_back(k[0]);
                     return true;
                   });
                 })
                  .ok());
  return seen;
}

}  // namespace

class CommitHookTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  }
  size_t AuditEntries() {
    size_t n = 0;
    EXPECT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      n = txn.Entries(Db::kAudit);
                      return Status::Ok();
                    })
                    .ok());
    return n;
  }
};

TEST_F(CommitHookTest, HookCommitsWithTheChangeOnce) {
  int runs = 0;
  {
    ScopedCommitHook hook(store_->env(), [&](Txn& txn) {
      ++runs;
      return txn.Put(Db::kAudit, SeqKey(runs), AsBytes("event"));
    });
    ASSERT_TRUE(Put("dev", "A", "one").ok());
    EXPECT_TRUE(hook.ran());
    ASSERT_TRUE(Put("dev", "B", "two").ok());  // a second change in scope: not joined again
  }
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(AuditEntries(), 1u);
}

TEST_F(CommitHookTest, FailedChangeStoresNeitherTheChangeNorTheHookWrite) {
  ScopedCommitHook hook(store_->env(),
                        [&](Txn& txn) { return txn.Put(Db::kAudit, SeqKey(1), AsBytes("event")); });
  secretfs::store::WriteRequest request;
  request.workspace = "nope";  // no such workspace: the change fails
  request.key = "A";
  request.value = AsBytes("x");
  EXPECT_EQ(store_->Write(request).status().code(), ENOENT);
  EXPECT_FALSE(hook.ran());
  EXPECT_EQ(AuditEntries(), 0u);
}

TEST_F(CommitHookTest, HookErrorAbortsTheChange) {
  {
    ScopedCommitHook hook(store_->env(), [](Txn&) { return Status(EIO, "log is full"); });
    EXPECT_EQ(Put("dev", "A", "one").status().code(), EIO);
  }
  EXPECT_EQ(ReadErrno("dev", "A"), ENOENT);
  EXPECT_TRUE(Put("dev", "A", "one").ok());  // out of scope: changes work again
}

TEST_F(CommitHookTest, ScanFromWalksForwardAndBackward) {
  ASSERT_TRUE(store_->env()
                  .Write([](Txn& txn) {
                    for (uint8_t k : {2, 4, 6})
                      if (Status s = txn.Put(Db::kAudit, SeqKey(k), AsBytes("e")); !s.ok())
                        return s;
                    return Status::Ok();
                  })
                  .ok());
  auto& env = store_->env();
  EXPECT_EQ(Walk(env, {}, false), (std::vector<uint8_t>{2, 4, 6}));
  EXPECT_EQ(Walk(env, {}, true), (std::vector<uint8_t>{6, 4, 2}));
  EXPECT_EQ(Walk(env, SeqKey(3), false), (std::vector<uint8_t>{4, 6}));
  EXPECT_EQ(Walk(env, SeqKey(4), true), (std::vector<uint8_t>{4, 2}));
  EXPECT_EQ(Walk(env, SeqKey(5), true), (std::vector<uint8_t>{4, 2}));
  EXPECT_EQ(Walk(env, SeqKey(9), true), (std::vector<uint8_t>{6, 4, 2}));
  EXPECT_EQ(Walk(env, SeqKey(1), true), (std::vector<uint8_t>{}));
}

// Writers that queue while a commit runs share the next one (store/write_batch.cpp); each body
// runs in a nested transaction, so one that fails is rolled back alone, its hook with it.
TEST_F(CommitHookTest, AFailedChangeInASharedCommitLeavesNothingAndTheOthersCommit) {
  std::mutex m;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread holder([&] {
    EXPECT_TRUE(store_->env()
                    .Write([&](Txn&) {
                      std::unique_lock lock(m);
                      holding = true;
                      cv.notify_all();
                      cv.wait(lock, [&] { return release; });
                      return Status::Ok();
                    })
                    .ok());
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return holding; });
  }
  const Env::WriteStats before = store_->env().write_stats();
  constexpr int kWriters = 8, kFailing = 3;
  std::vector<Status> results(kWriters);
  std::vector<char> hook_ran(kWriters);  // not vector<bool>: its bits share words across threads
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.emplace_back([&, i] {
      ScopedCommitHook hook(store_->env(), [&, i](Txn& txn) {
        return txn.Put(Db::kAudit, SeqKey(100 + i), AsBytes("hook"));
      });
      results[i] = store_->env().Write([&, i](Txn& txn) -> Status {
        SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kAudit, SeqKey(i), AsBytes("change")));
        return i == kFailing ? Status(EBUSY, "lost the check-and-set") : Status::Ok();
      });
      hook_ran[i] = hook.ran();
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all of them queue meanwhile
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  holder.join();
  for (std::thread& t : writers) t.join();

  for (int i = 0; i < kWriters; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(results[i].code(), i == kFailing ? EBUSY : 0) << results[i].message();
    EXPECT_EQ(hook_ran[i] != 0, i != kFailing);
  }
  const std::vector<uint8_t> stored = Walk(store_->env(), {}, false);
  std::vector<uint8_t> expected;
  for (int i = 0; i < kWriters; ++i)
    if (i != kFailing) expected.push_back(static_cast<uint8_t>(i));
  for (int i = 0; i < kWriters; ++i)
    if (i != kFailing) expected.push_back(static_cast<uint8_t>(100 + i));
  EXPECT_EQ(stored, expected);
  // The holder's commit, then one for the seven writers that stored their change.
  const Env::WriteStats after = store_->env().write_stats();
  EXPECT_EQ(after.commits - before.commits, 2u);
  EXPECT_EQ(after.changes - before.changes, 1u + kWriters - 1);
}
