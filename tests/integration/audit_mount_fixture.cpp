// The audit log as `secretfs audit --json` shows it (audit_mount_fixture.h).
#include "tests/integration/audit_mount_fixture.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

namespace secretfs::testing {
namespace {

std::string Str(const nlohmann::json& j, const char* name) {
  return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : "";
}

int64_t Num(const nlohmann::json& j, const char* name, int64_t absent = -1) {
  return j.contains(name) && j[name].is_number() ? j[name].get<int64_t>() : absent;
}

}  // namespace

AuditEvent ParseEvent(const std::string& line) {
  const nlohmann::json j = nlohmann::json::parse(line);
  AuditEvent e;
  e.json = line;
  e.seq = static_cast<uint64_t>(Num(j, "seq", 0));
  e.time_ns = Num(j, "time_ns", 0);
  e.op = Str(j, "op");
  e.result = static_cast<int>(Num(j, "errno"));
  e.result_name = Str(j, "result");
  e.workspace = Str(j, "workspace");
  e.key = Str(j, "key");
  e.version = static_cast<uint64_t>(Num(j, "version", 0));
  e.uid = Num(j, "uid");
  e.gid = Num(j, "gid");
  e.pid = Num(j, "pid");
  e.comm = Str(j, "comm");
  e.exe = Str(j, "exe");
  e.unit = Str(j, "unit");
  e.origin = Str(j, "origin");
  e.detail = Str(j, "detail");
  return e;
}

std::string Rfc3339(int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", t.tm_year + 1900, t.tm_mon + 1,
           t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<long long>(ns % 1'000'000'000));
  return buf;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<AuditEvent> AuditTest::Events(const std::vector<std::string>& filters) {
  std::vector<std::string> args = {"audit", "--json"};
  args.insert(args.end(), filters.begin(), filters.end());
  const ProcessResult r = Cli(args);
  EXPECT_TRUE(Succeeded(r)) << "audit --json";
  std::vector<AuditEvent> events;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    try {
      events.push_back(ParseEvent(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a JSON event: " << line << ": " << e.what();
    }
  }
  return events;
}

std::vector<AuditEvent> AuditTest::FsEventsAfter(uint64_t seq,
                                                 const std::vector<std::string>& filters) {
  std::vector<AuditEvent> out;
  for (AuditEvent& e : Events(filters))
    if (e.seq > seq && e.origin == "fs") out.push_back(std::move(e));
  return out;
}

uint64_t AuditTest::LastSeq() {
  const std::vector<AuditEvent> all = Events();
  return all.empty() ? 0 : all.back().seq;
}

std::string AuditTest::Dump(const std::vector<AuditEvent>& events) {
  std::string s;
  for (const AuditEvent& e : events) s += "\n  " + e.json;
  return s.empty() ? " (none)" : s;
}

ProcessResult AuditTest::CliOn(const std::string& store, const std::vector<std::string>& args,
                               const std::string& input) const {
  std::vector<std::string> argv = {SECRETFS_BINARY, "-s", store, "-k", "file:" + key_file_};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv, input,
               {{"PATH", BinaryDir() + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") +
                             ":/usr/sbin:/sbin"}});
}

}  // namespace secretfs::testing
