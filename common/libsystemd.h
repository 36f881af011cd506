// The two libsystemd calls secretfs makes, with libsystemd loaded on first use.
//
// Linking libsystemd would load it and the six libraries it needs (libgcrypt, liblzma, libzstd,
// liblz4, libcap, libgpg-error) into every process at start, a millisecond of dynamic loading
// paid by every `secretfs get` that never speaks to systemd. Only a daemon started by systemd
// (NOTIFY_SOCKET) or mounted with audit_journal=1 loads it; systemd's own tools load their
// optional libraries the same way.
#pragma once

#include <sys/uio.h>

#include <string>

namespace secretfs::sd {

// Loads libsystemd if it is not loaded yet. Empty when it is usable, else why not (dlerror).
std::string LoadError();

// sd_notify(0, state): > 0 sent, 0 no NOTIFY_SOCKET, negative errno on failure (-ENOSYS when
// libsystemd cannot be loaded).
int Notify(const char* state);

// sd_journal_sendv(iov, n): 0 or negative errno (-ENOSYS when libsystemd cannot be loaded).
int JournalSendv(const struct iovec* iov, int n);

}  // namespace secretfs::sd
