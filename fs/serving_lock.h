// Which stores a daemon serves, without /proc/self/mountinfo: every daemon holds a shared lock on
// STORE/serving.lock for as long as it serves the store. `keyring rotate` must not run under a
// live mount (the mount keeps the old master key), and the mount table does not show every one:
// a mount in another mount namespace (a container's), or one whose source a custom `fsname=`
// renamed. The lock is an flock(2) on the open file, so it goes with the daemon however it ends.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

namespace secretfs::fs {

// The lock's file in the store's directory.
inline constexpr char kServingLockFile[] = "serving.lock";

class ServingLock {
 public:
  ServingLock() = default;
  ServingLock(ServingLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ServingLock& operator=(ServingLock&& other) noexcept;
  ServingLock(const ServingLock&) = delete;
  ServingLock& operator=(const ServingLock&) = delete;
  ~ServingLock();

  // Takes the shared lock of the store at `store_dir` (several daemons may serve one store);
  // waits while a `keyring rotate` holds it exclusively, calling `on_wait` first.
  static Result<ServingLock> Hold(const std::string& store_dir,
                                  const std::function<void()>& on_wait = {});
  // Takes it exclusively: EWOULDBLOCK while a daemon still serves the store after `patience`.
  // A daemon whose mount was just unmounted still closes the store for a moment; a patience of
  // a few seconds lets `fusermount3 -u M && secretfs keyring rotate` work. While the lock is
  // held, no daemon starts serving the store (Hold waits for it). EALREADY at once while another
  // Exclude holds it.
  static Result<ServingLock> Exclude(const std::string& store_dir,
                                     std::chrono::milliseconds patience = {});

 private:
  // Opens (creating) the lock file; does not lock it.
  static Result<ServingLock> OpenFile(const std::string& store_dir);
  // flock(2) with `operation`, retried on EINTR.
  Status Lock(int operation, const std::string& store_dir);
  int fd_ = -1;
};

}  // namespace secretfs::fs
