// The daemon's log: syslog (the journal under systemd), and stderr while in the foreground.
// Messages name operations and secrets, never values or key material.
#pragma once

#include <string>

#include "common/status.h"

namespace secretfs::fs {

// Called once by the daemon: `foreground` also copies every line to stderr.
void OpenLog(bool foreground);
void LogInfo(const std::string& message);
// Logged, and on stderr in the background too: for what the one starting the mount waits on (a
// background mount's serving process writes to the terminal until it detaches).
void LogToOperator(const std::string& message);
void LogWarning(const std::string& what, const Status& status);
void LogError(const std::string& what, const Status& status);

}  // namespace secretfs::fs
