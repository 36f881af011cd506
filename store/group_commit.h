// Leader/follower group commit, shared by Env::Write (changes through the mount) and the durable
// audit log: callers queue their requests; whoever finds no commit running leads. The leader
// gathers the callers it expects (batch_gatherer.h), takes every request queued at that moment,
// its own among them, and commits them all at once while the others wait; one of those still
// queued when it finishes leads the next batch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "store/batch_gatherer.h"

namespace secretfs::store {

struct GroupCommitStats {
  uint64_t commits = 0;  // batches that stored anything
  uint64_t stored = 0;   // requests stored by them
};

template <class Request>
class GroupCommit {
 public:
  // Queues `request` and returns once a batch holding it was committed, by this caller or by
  // another. The leader calls `commit(batch)` (a `const std::vector<Request*>&`) without the
  // lock; it fills in each request's result and returns how many it stored. It must not throw:
  // a leader that did would leave its followers waiting forever, so that ends the process.
  template <class Commit>
  void Submit(Request& request, Commit&& commit) {
    std::unique_lock lock(mutex_);
    queue_.push_back(&request);
    const uint64_t ticket = ++queued_;
    gatherer_.Queued();
    while (committed_ < ticket) {
      if (leading_) {
        committed_wake_.wait(lock);
        continue;
      }
      leading_ = true;
      gatherer_.Gather(lock, [&] { return queue_.size(); });
      std::vector<Request*> batch;
      batch.swap(queue_);
      const uint64_t taken = queued_;  // every ticket up to here is in the batch
      gatherer_.Committing();
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      const size_t stored = Run(commit, batch);
      const auto took = std::chrono::steady_clock::now() - started;
      lock.lock();
      committed_ = taken;
      stats_.commits += stored > 0;
      stats_.stored += stored;
      gatherer_.Committed(batch.size(), took);
      leading_ = false;
      committed_wake_.notify_all();
    }
  }

  GroupCommitStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  template <class Commit>
  static size_t Run(Commit& commit, const std::vector<Request*>& batch) noexcept {
    return commit(batch);
  }

  mutable std::mutex mutex_;
  std::condition_variable committed_wake_;
  std::vector<Request*> queue_;
  uint64_t queued_ = 0;     // tickets handed out, one per request, in queue order
  uint64_t committed_ = 0;  // every ticket up to this one was committed
  bool leading_ = false;    // a leader is gathering or committing a batch
  BatchGatherer gatherer_;  // the callers the next leader waits for
  GroupCommitStats stats_;
};

}  // namespace secretfs::store
