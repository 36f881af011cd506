#include "common/libsystemd.h"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include <cerrno>

namespace secretfs::sd {
namespace {

struct Api {
  decltype(&sd_notify) notify = nullptr;
  decltype(&sd_journal_sendv) journal_sendv = nullptr;
  std::string error;
};

// Loaded once and kept for the life of the process (never dlclose'd: a journal send may be in
// flight on another thread). The soname is the ABI libsystemd-dev's headers describe.
const Api& Loaded() {
  static const Api api = [] {
    Api a;
    void* handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      a.error = dlerror();
      return a;
    }
    a.notify = reinterpret_cast<decltype(&sd_notify)>(dlsym(handle, "sd_notify"));
    a.journal_sendv =
        reinterpret_cast<decltype(&sd_journal_sendv)>(dlsym(handle, "sd_journal_sendv"));
    if (a.notify == nullptr || a.journal_sendv == nullptr) a.error = dlerror();
    return a;
  }();
  return api;
}

}  // namespace

std::string LoadError() { return Loaded().error; }

int Notify(const char* state) {
  const Api& api = Loaded();
  return api.notify != nullptr ? api.notify(0, state) : -ENOSYS;
}

int JournalSendv(const struct iovec* iov, int n) {
  const Api& api = Loaded();
  return api.journal_sendv != nullptr ? api.journal_sendv(iov, n) : -ENOSYS;
}

}  // namespace secretfs::sd
