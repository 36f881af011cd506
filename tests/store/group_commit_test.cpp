// GroupCommit: every request is committed once, by one leader at a time, before its Submit
// returns; concurrent callers share commits. (Its gathering: batch_gatherer_test.cpp.)
#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace secretfs::store {
namespace {

struct Request {
  int id = 0;
  int commits = 0;  // how many batches held this request
  bool stored = false;
};

// Commits batches the way a store would, slowly enough that callers arrive during a commit, and
// checks that no two leaders commit at once.
struct Committer {
  std::atomic<bool> inside{false};
  std::atomic<bool> overlapped{false};
  std::atomic<size_t> largest_batch{0};

  size_t operator()(const std::vector<Request*>& batch) {
    if (inside.exchange(true)) overlapped = true;
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    for (Request* r : batch) {
      ++r->commits;
      r->stored = r->id % 5 != 0;  // every fifth request is refused, as a failing body is
    }
    size_t largest = largest_batch;
    while (batch.size() > largest && !largest_batch.compare_exchange_weak(largest, batch.size())) {
    }
    inside = false;
    size_t stored = 0;
    for (const Request* r : batch) stored += r->stored;
    return stored;
  }
};

TEST(GroupCommitTest, EveryRequestIsCommittedOnceBeforeItsCallerGoesOn) {
  constexpr int kThreads = 8;
  constexpr int kEach = 40;
  GroupCommit<Request> group;
  Committer committer;
  std::atomic<int> unfinished_on_return{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Request request{t * kEach + i};
        group.Submit(request, [&](const std::vector<Request*>& batch) { return committer(batch); });
        if (request.commits != 1) ++unfinished_on_return;
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(unfinished_on_return, 0) << "Submit returned before its request was committed once";
  EXPECT_FALSE(committer.overlapped) << "two leaders committed at the same time";
  const GroupCommitStats stats = group.stats();
  EXPECT_EQ(stats.stored, static_cast<uint64_t>(kThreads * kEach * 4 / 5));
  EXPECT_GT(committer.largest_batch, 1u) << "eight callers never shared a commit";
  EXPECT_LT(stats.commits, stats.stored);
}

TEST(GroupCommitTest, ALoneCallerCommitsItsOwnRequestAndABatchStoringNothingIsNoCommit) {
  GroupCommit<Request> group;
  std::vector<size_t> batches;
  const auto commit = [&](const std::vector<Request*>& batch) -> size_t {
    batches.push_back(batch.size());
    return batch.front()->stored ? 1 : 0;
  };
  Request refused{0, 0, false};
  group.Submit(refused, commit);
  Request kept{1, 0, true};
  group.Submit(kept, commit);
  EXPECT_EQ(batches, (std::vector<size_t>{1, 1}));
  EXPECT_EQ(group.stats().commits, 1u);
  EXPECT_EQ(group.stats().stored, 1u);
}

}  // namespace
}  // namespace secretfs::store
