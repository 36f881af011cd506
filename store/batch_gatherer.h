// The gathering step of a leader/follower group commit: callers queue their work, and one of
// them, the leader, commits everything queued at that moment in one transaction while the
// others wait. Used by Env::Write (writes through the mount) and by the durable audit log.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace secretfs::store {

// Without gathering, steady callers settle into groups that alternate: while one group's batch
// commits, the next group queues; when the commit ends, the queued group commits at once while
// the first is still on its way back, so each commit carries a fraction of them. The callers of
// the last batch, and those who queued during its commit, are likely to be back soon: the leader
// waits for as many, at most as long as the last commit took (and never more than kMaxWait). A
// batch that carries all of them is worth up to one more commit's time (docs/performance.md).
// A lone caller (the last batch was its own, nobody queued meanwhile) never waits.
//
// Every member is called with the queue's mutex held.
class BatchGatherer {
 public:
  static constexpr std::chrono::nanoseconds kMaxWait = std::chrono::milliseconds(2);

  // A caller queued its work.
  void Queued() {
    if (committing_) ++arrived_in_commit_;
    if (gathering_) gather_.notify_one();
  }

  // The leader, before it takes the queue: waits (releasing `lock`, the queue's mutex) until
  // `queued()` reaches the number of callers expected, or the wait is over. False when it had
  // no reason to wait.
  template <class Count>
  bool Gather(std::unique_lock<std::mutex>& lock, Count queued) {
    const size_t expected = std::max(last_batch_ + arrived_in_commit_, size_t{1});
    if (expected < 2 || queued() >= expected) return false;
    gathering_ = true;
    gather_.wait_for(lock, std::min(last_commit_, kMaxWait), [&] { return queued() >= expected; });
    gathering_ = false;
    return true;
  }

  // The leader took a batch and commits it (the queue's mutex released meanwhile).
  void Committing() {
    committing_ = true;
    arrived_in_commit_ = 0;
  }

  // That batch of `size` callers' work was committed, which took `took`.
  void Committed(size_t size, std::chrono::nanoseconds took) {
    committing_ = false;
    last_batch_ = size;
    last_commit_ = took;
  }

 private:
  bool committing_ = false;
  bool gathering_ = false;                   // a leader waits on gather_ for callers to queue
  size_t last_batch_ = 0;                    // callers of the batch committed last
  size_t arrived_in_commit_ = 0;             // callers that queued while it was committing
  std::chrono::nanoseconds last_commit_{0};  // how long its commit took
  std::condition_variable gather_;
};

}  // namespace secretfs::store
