// systemd's service notification protocol (sd_notify(3)) for `Type=notify` units.
#pragma once

#include <string>

namespace secretfs::fs {

// Whether a service manager listens ($NOTIFY_SOCKET is set).
bool NotifyWanted();

// Sends `state` ("READY=1\nSTATUS=...") with MAINPID= this process, which serves; nothing
// without $NOTIFY_SOCKET.
void Notify(const std::string& state);

// Waits (in a thread of its own) until `mountpoint` answers a stat through this process's own
// FUSE session, then sends READY=1 and `status`. Without $NOTIFY_SOCKET it does nothing. Call
// before the session loop starts; the loop is what answers.
void NotifyReadyOnceServing(const std::string& mountpoint, const std::string& status);

}  // namespace secretfs::fs
