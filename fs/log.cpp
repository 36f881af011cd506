#include "fs/log.h"

#include <syslog.h>

#include <atomic>
#include <cstdio>

#include "common/text_format.h"

namespace secretfs::fs {
namespace {

std::atomic<bool> to_stderr{true};

// Names in messages come from policy files, mount options and callers: their control bytes are
// escaped so a message stays one line in syslog and on a terminal.
void Emit(int priority, const std::string& message, bool also_stderr = false) {
  const std::string line = EscapeControl(message);
  syslog(priority, "%s", line.c_str());
  if (to_stderr || also_stderr) fprintf(stderr, "secretfs: %s\n", line.c_str());
}

}  // namespace

void OpenLog(bool foreground) {
  openlog("secretfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  to_stderr = foreground;
}

void LogInfo(const std::string& message) { Emit(LOG_INFO, message); }
void LogToOperator(const std::string& message) { Emit(LOG_NOTICE, message, true); }
void LogWarning(const std::string& what, const Status& status) {
  Emit(LOG_WARNING, what + ": " + status.message());
}
void LogError(const std::string& what, const Status& status) {
  Emit(LOG_ERR, what + ": " + status.message());
}

}  // namespace secretfs::fs
