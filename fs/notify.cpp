#include "fs/notify.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "common/libsystemd.h"
#include "fs/log.h"

namespace secretfs::fs {

bool NotifyWanted() { return getenv("NOTIFY_SOCKET") != nullptr; }

void Notify(const std::string& state) {
  if (!NotifyWanted()) return;
  const std::string message = state + "\nMAINPID=" + std::to_string(getpid());
  if (int rc = sd::Notify(message.c_str()); rc < 0)
    LogWarning("sd_notify", Status::FromErrno(-rc, "telling the service manager"));
}

void NotifyReadyOnceServing(const std::string& mountpoint, const std::string& status) {
  if (!NotifyWanted()) return;
  // The stat goes through the kernel to this process's own session loop, so it returns only once
  // the mount serves requests: that, not the mount(2) call, is what units ordered after this one
  // need. Any answer counts, a refusal too; only a dead or stuck mount gives none.
  std::thread([mountpoint, status] {
    struct stat st {};
    if (stat(mountpoint.c_str(), &st) != 0 && (errno == ENOTCONN || errno == ECONNABORTED)) {
      LogError("readiness", Status::FromErrno(errno, mountpoint + " does not answer"));
      return;
    }
    Notify("READY=1\nSTATUS=" + status);
  }).detach();
}

}  // namespace secretfs::fs
