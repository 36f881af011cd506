#include "fs/graceful_stop.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "fs/log.h"
#include "fs/notify.h"

namespace secretfs::fs {
namespace {

std::atomic<GracefulStop*> g_instance{nullptr};

constexpr char kWakeSignal = 's';
constexpr char kWakeQuit = 'q';

// Ample for what a stop does after the wait: record the unmount, let go of handles, unmount.
constexpr std::chrono::seconds kAfterWait{10};

std::string SignalName(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

std::string Files(size_t n) { return std::to_string(n) + (n == 1 ? " file" : " files"); }

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

GracefulStop::GracefulStop(fuse_session* session, std::function<size_t()> unsaved_writes,
                           std::chrono::milliseconds grace)
    : session_(session),
      unsaved_writes_(std::move(unsaved_writes)),
      grace_(grace),
      loop_thread_(pthread_self()) {
  // Only the loop's thread, waiting in sem_wait, may take a stop signal: another would leave the
  // loop waiting until the next request. A signal that came while they were blocked (during
  // the start) is delivered once the handlers are in place, and stops the mount then.
  const sigset_t stops = StopSignals();
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    // libfuse's handlers stay: a stop then ends the session at once, as it did before.
    LogWarning("graceful stop", Status(errno, "no pipe; a stop will not wait for writers"));
    pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);
    return;
  }
  BlockStopSignals();  // the thread inherits the block; this one lifts it below
  thread_ = std::thread([this] { Loop(); });

  g_instance = this;
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: the loop's sem_wait must return
  sigaction(SIGTERM, &action, &previous_term_);
  sigaction(SIGINT, &action, &previous_int_);
  pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);
}

GracefulStop::~GracefulStop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    loop_returned_ = true;
  }
  changed_.notify_all();
  const char quit = kWakeQuit;
  (void)!write(wake_[1], &quit, 1);
  thread_.join();
  // After the join: the thread's last nudge may still be on its way to the handler.
  sigaction(SIGTERM, &previous_term_, nullptr);
  sigaction(SIGINT, &previous_int_, nullptr);
  g_instance = nullptr;
  close(wake_[0]);
  close(wake_[1]);
}

void GracefulStop::OnSignal(int sig) {
  GracefulStop* self = g_instance.load();
  if (self == nullptr) return;
  const int saved_errno = errno;
  int none = 0;
  self->signal_.compare_exchange_strong(none, sig);
  if (self->signals_.fetch_add(1) == 0) {
    const char wake = kWakeSignal;
    (void)!write(self->wake_[1], &wake, 1);
  } else {
    // A second signal (or EndSession's nudge): end the session now. It only sets a flag; the
    // loop's sem_wait, interrupted by this signal, then sees it.
    fuse_session_exit(self->session_);
  }
  errno = saved_errno;
}

void GracefulStop::Loop() {
  char what = 0;
  while (read(wake_[0], &what, 1) < 0 && errno == EINTR) {
  }
  if (what != kWakeSignal) return;
  Drain(signal_);
  EndSession();
}

void GracefulStop::Drain(int sig) {
  if (grace_.count() <= 0) return;  // stop_grace=0
  size_t open = unsaved_writes_();
  if (open == 0) return;
  const auto seconds = std::chrono::duration<double>(grace_).count();
  char grace[32];
  snprintf(grace, sizeof grace, "%g s", seconds);
  LogInfo(SignalName(sig) + ": waiting up to " + grace + " for " + Files(open) +
          " being written to be closed before stopping (a second " + SignalName(sig) +
          " stops at once)");
  // A grace beyond the unit's TimeoutStopSec= would have systemd SIGKILL the daemon mid-wait and
  // leave a dead mount point: ask for the grace and time to unmount on top of the timeout.
  const auto extend = std::chrono::duration_cast<std::chrono::microseconds>(grace_ + kAfterWait);
  Notify("STOPPING=1\nSTATUS=waiting for " + Files(open) +
         " being written to be closed\nEXTEND_TIMEOUT_USEC=" + std::to_string(extend.count()));
  const auto deadline = std::chrono::steady_clock::now() + grace_;
  std::unique_lock lock(mutex_);
  // A second signal ends the session in its handler; the wait ends here too.
  while (open > 0 && !loop_returned_ && signals_ == 1 &&
         std::chrono::steady_clock::now() < deadline) {
    // Polled: a release does not know about the stop, and 20 ms is nothing next to a stop.
    changed_.wait_for(lock, std::chrono::milliseconds(20), [this] { return loop_returned_; });
    lock.unlock();
    open = unsaved_writes_();
    lock.lock();
  }
  if (loop_returned_ || signals_ > 1) return;
  if (open == 0)
    LogInfo("no file is being written any more; stopping");
  else
    LogInfo(std::string("stopping after ") + grace + " with " + Files(open) +
            " still being written");
}

void GracefulStop::EndSession() {
  fuse_session_exit(session_);
  std::unique_lock lock(mutex_);
  // The loop may have checked the flag just before it was set and be about to wait: nudge it
  // until it has returned.
  while (!loop_returned_) {
    pthread_kill(loop_thread_, SIGTERM);
    changed_.wait_for(lock, std::chrono::milliseconds(50), [this] { return loop_returned_; });
  }
}

}  // namespace secretfs::fs
