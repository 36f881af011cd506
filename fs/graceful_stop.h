// What SIGTERM and SIGINT (`systemctl stop`, Ctrl-C) do to a serving daemon.
//
// libfuse's own handlers end the session at once: a value being written then is not stored, and
// its writer's close fails with ENOTCONN. Here the first signal lets the files being written (a
// value not yet stored) be closed first, for up to `grace` (the mount option stop_grace=, 5 s by
// default), while the mount goes on serving everything; then, or at once when there are none or
// the grace is 0, the session ends as before. A second signal ends it at once. Unmounting
// (`secretfs umount`, `fusermount -u`) is not affected: the kernel refuses it while files are
// open.
#pragma once

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace secretfs::fs {

// Blocks SIGTERM and SIGINT in the calling thread, and so in every thread it starts afterwards.
// Call before the daemon starts any thread. GracefulStop unblocks them in the loop's thread
// alone (libfuse blocks them in its workers), so the kernel delivers a stop to that thread only:
// a signal taken by a helper (the audit flusher, the space watch) would not interrupt the loop's
// sem_wait, and a second signal would not end the stop at once.
void BlockStopSignals();

class GracefulStop {
 public:
  // Takes over SIGTERM and SIGINT from libfuse's handlers, one instance at a time, and unblocks
  // them in the calling thread. Construct it in the thread that then runs the session's loop:
  // that thread is woken when the session ends.
  // `unsaved_writes` counts the files being written; it is called from another thread.
  GracefulStop(fuse_session* session, std::function<size_t()> unsaved_writes,
               std::chrono::milliseconds grace);
  // Call once the session's loop has returned; puts the previous handlers back.
  ~GracefulStop();
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

 private:
  static void OnSignal(int sig);
  void Loop();
  // Waits until no file is being written, the grace runs out or the loop returned.
  void Drain(int sig);
  // Ends the session and wakes its loop (waiting in sem_wait) until it has returned.
  void EndSession();

  fuse_session* const session_;
  const std::function<size_t()> unsaved_writes_;
  const std::chrono::milliseconds grace_;
  const pthread_t loop_thread_;
  std::atomic<int> signal_{0};
  std::atomic<int> signals_{0};
  int wake_[2] = {-1, -1};  // a pipe: the handler's only safe way to wake the thread
  struct sigaction previous_term_ {};
  struct sigaction previous_int_ {};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool loop_returned_ = false;
  std::thread thread_;
};

}  // namespace secretfs::fs
