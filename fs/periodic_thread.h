// A thread that runs a task at once and then every `period`, until it is destroyed (the
// destructor wakes it and waits for a running task to end). For the daemon's housekeeping: the
// low-space watch and the audit log's retention.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace secretfs::fs {

// A condition that lasts (a low disk, a failing prune), told in the log when it begins and then at
// most every `repeat` while it lasts, so a housekeeping task neither floods the log nor goes quiet.
// Used from one thread.
class RecurringCondition {
 public:
  explicit RecurringCondition(std::chrono::milliseconds repeat) : repeat_(repeat) {}
  // Records whether the condition `holds` now; true when it should be told now.
  bool Due(bool holds) {
    const auto now = std::chrono::steady_clock::now();
    const bool due = holds && (!holding_ || now - told_ >= repeat_);
    if (due) told_ = now;
    holding_ = holds;
    return due;
  }
  bool holding() const { return holding_; }

 private:
  const std::chrono::milliseconds repeat_;
  bool holding_ = false;
  std::chrono::steady_clock::time_point told_;
};

class PeriodicThread {
 public:
  PeriodicThread(std::chrono::milliseconds period, std::function<void()> task)
      : period_(period), task_(std::move(task)), thread_([this] { Loop(); }) {}
  ~PeriodicThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      task_();
      lock.lock();
      wake_.wait_for(lock, period_, [this] { return stopping_; });
    }
  }

  const std::chrono::milliseconds period_;
  const std::function<void()> task_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // under mutex_
  std::thread thread_;     // last: it starts once everything above is ready
};

}  // namespace secretfs::fs
