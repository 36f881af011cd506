// The audit log as `secretfs audit --json` shows it, for the tests against a real mount
// (audit_test.cpp, audit_verify_test.cpp, audit_full_disk_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {

// One line of `secretfs audit --json`.
struct AuditEvent {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string op;
  int result = -1;          // "errno": 0, or the errno the access got
  std::string result_name;  // "result": "ok", or the errno's name ("EACCES")
  std::string workspace;
  std::string key;
  uint64_t version = 0;
  int64_t uid = -1;
  int64_t gid = -1;
  int64_t pid = -1;
  std::string comm;
  std::string exe;
  std::string unit;
  std::string origin;
  std::string detail;
  std::string json;  // the line, for messages
};

AuditEvent ParseEvent(const std::string& line);

// RFC 3339 UTC with nanoseconds, as `secretfs audit --since/--until/prune --before` take it.
std::string Rfc3339(int64_t ns);
int64_t NowNs();

class AuditTest : public MountedTest {
 protected:
  // secretfs audit --json FILTERS..., parsed; a failure of the command is a test failure.
  std::vector<AuditEvent> Events(const std::vector<std::string>& filters = {});
  // The events after `seq` that the filesystem recorded (origin fs).
  std::vector<AuditEvent> FsEventsAfter(uint64_t seq, const std::vector<std::string>& filters = {});
  uint64_t LastSeq();
  static std::string Dump(const std::vector<AuditEvent>& events);
  // secretfs -s STORE -k file:KEY ARGS for another store than store_.
  ProcessResult CliOn(const std::string& store, const std::vector<std::string>& args,
                      const std::string& input = "") const;
};

}  // namespace secretfs::testing
