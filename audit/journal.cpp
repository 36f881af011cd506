#include "audit/journal.h"

#include <string.h>
#include <sys/uio.h>
#include <syslog.h>

#include <string>
#include <vector>

#include "common/libsystemd.h"

namespace secretfs::audit {
namespace {

std::string ResultText(int32_t result) {
  if (result == 0) return "ok";
  const char* name = strerrorname_np(result);
  return name != nullptr ? name : std::to_string(result);
}

}  // namespace

void SendToJournal(const Event& e) {
  const std::string result = ResultText(e.result);
  std::string target = e.workspace;
  if (!e.key.empty()) target += "/" + e.key;
  if (e.version != 0) target += " v" + std::to_string(e.version);
  // Journal fields are binary-safe (sent with their length), so names with newlines stay whole;
  // the summary line shows them with their control characters as they are stored.
  const std::vector<std::string> fields = {
      "MESSAGE=secretfs audit #" + std::to_string(e.seq) + ": " + e.op + " " +
          (target.empty() ? "-" : target) + " by uid " + std::to_string(e.uid) + " (" + e.comm +
          "): " + result,
      "PRIORITY=" + std::to_string(e.result == 0 ? LOG_INFO : LOG_NOTICE),
      "SYSLOG_IDENTIFIER=secretfs",
      "SECRETFS_SEQ=" + std::to_string(e.seq),
      "SECRETFS_OP=" + e.op,
      "SECRETFS_RESULT=" + result,
      "SECRETFS_WORKSPACE=" + e.workspace,
      "SECRETFS_KEY=" + e.key,
      "SECRETFS_VERSION=" + std::to_string(e.version),
      "SECRETFS_UID=" + std::to_string(e.uid),
      "SECRETFS_GID=" + std::to_string(e.gid),
      "SECRETFS_PID=" + std::to_string(e.pid),
      "SECRETFS_COMM=" + e.comm,
      "SECRETFS_EXE=" + e.exe,
      "SECRETFS_UNIT=" + e.unit,
      "SECRETFS_ORIGIN=" + std::string(OriginName(e.origin)),
      "SECRETFS_DETAIL=" + e.detail,
  };
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (const std::string& f : fields) iov.push_back({const_cast<char*>(f.data()), f.size()});
  sd::JournalSendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace secretfs::audit
