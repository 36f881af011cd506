// BatchGatherer: how long a group commit's leader waits for the callers it expects.
#include "store/batch_gatherer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

namespace secretfs::store {
namespace {

using Clock = std::chrono::steady_clock;

// Whether Gather waited, with `queued` callers queued throughout, and for how long.
struct Gathered {
  bool waited;
  Clock::duration took;
};
Gathered Gather(BatchGatherer& gatherer, std::mutex& m, size_t queued) {
  std::unique_lock lock(m);
  const auto started = Clock::now();
  const bool waited = gatherer.Gather(lock, [&] { return queued; });
  return {waited, Clock::now() - started};
}

TEST(BatchGathererTest, ALoneCallerNeverWaits) {
  std::mutex m;
  BatchGatherer gatherer;
  EXPECT_FALSE(Gather(gatherer, m, 1).waited) << "the first batch ever";
  {
    std::lock_guard lock(m);
    gatherer.Committing();
    gatherer.Committed(1, std::chrono::seconds(1));
  }
  EXPECT_FALSE(Gather(gatherer, m, 1).waited) << "the last batch was its own";
}

TEST(BatchGathererTest, TheLeaderWaitsAtMostTheLastCommitsTimeCappedAtTwoMilliseconds) {
  std::mutex m;
  BatchGatherer gatherer;
  {
    std::lock_guard lock(m);
    gatherer.Committing();
    gatherer.Committed(4, std::chrono::seconds(10));  // four callers, a very slow commit
  }
  // Nobody else comes: the leader gives up after kMaxWait, not after the commit's 10 s.
  const Gathered gathered = Gather(gatherer, m, 1);
  EXPECT_TRUE(gathered.waited);
  EXPECT_GE(gathered.took, BatchGatherer::kMaxWait);
  EXPECT_LT(gathered.took, std::chrono::seconds(5));
}

TEST(BatchGathererTest, NoWaitWhenTheExpectedCallersHaveQueued) {
  std::mutex m;
  BatchGatherer gatherer;
  {
    std::lock_guard lock(m);
    gatherer.Committing();
    gatherer.Queued();  // one caller queued while that batch of 2 committed: 3 expected
    gatherer.Committed(2, std::chrono::seconds(10));
  }
  EXPECT_FALSE(Gather(gatherer, m, 3).waited);
  EXPECT_TRUE(Gather(gatherer, m, 2).waited) << "one short of the three expected";
}

}  // namespace
}  // namespace secretfs::store
