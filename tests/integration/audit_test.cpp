// The audit log against a real mount (SPEC §6): what `secretfs audit --json` shows after each
// filesystem operation and CLI command, denials with their errno, durability across kill -9,
// buffered mode and listing events. Tamper evidence is in audit_verify_test.cpp, fail-closed
// reads on a full disk in audit_full_disk_test.cpp.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/audit_mount_fixture.h"
#include "tests/integration/test_users.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string Canonical(const std::string& path) { return std::filesystem::canonical(path); }

// The first line of a Shell() that began with `echo $$`: the pid of the process that then did
// the operation (itself, or what it exec'd).
int64_t LeadingPid(const ProcessResult& r) {
  const size_t nl = r.out.find('\n');
  try {
    return std::stoll(r.out.substr(0, nl));
  } catch (const std::exception&) {
    return -2;
  }
}

struct FsOperation {
  const char* name;
  std::function<void()> prepare;  // CLI set-up, before the count
  std::string script;             // after `echo $$; `, with MNT for the mount point
  std::string op, workspace, key;
  uint64_t version;  // 0: not checked
  std::string comm, exe;
};

TEST_F(AuditTest, EachFilesystemOperationIsExactlyOneEventNamingItsCaller) {
  const std::string sh = Canonical("/bin/sh");
  const std::vector<FsOperation> operations = {
      {"cat", [this] { Put("dev/RD", "r1"); }, "exec cat MNT/dev/RD", "read", "dev", "RD", 1, "cat",
       Canonical("/bin/cat")},
      {"echo > (update)", [this] { Put("dev/WR", "w1"); }, "echo -n w2 > MNT/dev/WR", "write",
       "dev", "WR", 2, "sh", sh},
      {"touch (create)", [] {}, "exec touch MNT/dev/CR", "create", "dev", "CR", 1, "touch",
       Canonical("/usr/bin/touch")},
      {"rm", [this] { Put("dev/DL", "d1"); }, "exec rm MNT/dev/DL", "delete", "dev", "DL", 0, "rm",
       Canonical("/bin/rm")},
      {"mv", [this] { Put("dev/SRC", "s1"); }, "exec mv MNT/dev/SRC MNT/dev/DST", "rename", "dev",
       "DST", 1, "mv", Canonical("/bin/mv")},
      {"setfattr", [this] { Put("dev/MT", "m1"); },
       "exec setfattr -n user.secretfs.description -v hello MNT/dev/MT", "setmeta", "dev", "MT", 0,
       "setfattr", Canonical("/usr/bin/setfattr")},
      {"cat .versions",
       [this] {
         Put("dev/VR", "v1");
         Put("dev/VR", "v2");
       },
       "exec cat MNT/dev/.versions/VR/1", "version_read", "dev", "VR", 1, "cat",
       Canonical("/bin/cat")},
      {"mkdir", [] {}, "exec mkdir MNT/made", "mkdir", "made", "", 0, "mkdir",
       Canonical("/bin/mkdir")},
      {"rmdir",
       [this] {
         ASSERT_TRUE(Succeeded(Cli({"workspace", "create", "spare"})));
       },
       "exec rmdir MNT/spare", "rmdir", "spare", "", 0, "rmdir", Canonical("/bin/rmdir")},
  };
  for (const FsOperation& o : operations) {
    SCOPED_TRACE(o.name);
    ASSERT_NO_FATAL_FAILURE(o.prepare());
    const uint64_t before = LastSeq();
    const std::string script = "echo $$; " + std::regex_replace(o.script, std::regex("MNT"), mnt_);
    const ProcessResult r = Shell(script);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    const int64_t pid = LeadingPid(r);
    const std::vector<AuditEvent> events = FsEventsAfter(before);
    ASSERT_EQ(events.size(), 1u) << "events after `" << script << "`:" << Dump(events);
    const AuditEvent& e = events[0];
    EXPECT_EQ(e.op, o.op) << e.json;
    EXPECT_EQ(e.result, 0) << e.json;
    EXPECT_EQ(e.result_name, "ok") << e.json;
    EXPECT_EQ(e.workspace, o.workspace) << e.json;
    EXPECT_EQ(e.key, o.key) << e.json;
    if (o.version != 0) {
      EXPECT_EQ(e.version, o.version) << e.json;
    }
    EXPECT_EQ(e.uid, 0) << e.json;
    EXPECT_EQ(e.gid, 0) << e.json;
    EXPECT_EQ(e.pid, pid) << e.json;
    EXPECT_EQ(e.comm, o.comm) << e.json;
    EXPECT_EQ(e.exe, o.exe) << e.json;
    EXPECT_EQ(e.origin, "fs") << e.json;
    EXPECT_GT(e.time_ns, 0) << e.json;
    if (o.op == "rename") {
      EXPECT_THAT(e.detail, HasSubstr("SRC")) << e.json;
    }
  }
}

TEST_F(AuditTest, AReadIsCommittedBeforeItReturns) {
  Put("dev/NOW", "now");
  const uint64_t before = LastSeq();
  ASSERT_EQ(ReadPath(M("dev/NOW")).bytes, "now");
  // No waiting: durable mode (the default) answers only after the event is committed.
  const std::vector<AuditEvent> events = FsEventsAfter(before, {"--key", "NOW"});
  ASSERT_EQ(events.size(), 1u) << Dump(events);
  EXPECT_EQ(events[0].op, "read");
  EXPECT_EQ(events[0].pid, getpid());
  EXPECT_EQ(events[0].exe, Canonical("/proc/self/exe"));
}

TEST_F(AuditTest, DenialsAreRecordedWithTheirErrno) {
  const TestUser reader = EnsureUser("sfs_reader");
  const TestUser member = EnsureUser("sfs_member");
  ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
  Put("dev/DB", "db-value");
  const std::string policy = Local("policy.ini");
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy, R"ini(
[*]
user:root = owner
[dev]
user:sfs_reader = reader
user:sfs_member = member
)ini"));
  ASSERT_NO_FATAL_FAILURE(Remount("allow_other,entry_timeout=0,attr_timeout=0,policy=" + policy));

  struct Denied {
    const TestUser& user;
    std::function<int()> run;
    std::string op, key;
  };
  const std::string db = M("dev/DB"), fresh = M("dev/FRESH");
  const std::vector<Denied> denials = {
      {reader, [db] { return WritePath(db, "overwrite", O_WRONLY | O_TRUNC).open_error; }, "write",
       "DB"},
      {reader, [fresh] { return WritePath(fresh, "new").open_error; }, "create", "FRESH"},
      {member, [db] { return ReadPath(db).error; }, "read", "DB"},
  };
  for (const Denied& d : denials) {
    SCOPED_TRACE(d.user.name + " " + d.op);
    const uint64_t before = LastSeq();
    const std::string out =
        RunAs(d.user, [&] { return std::to_string(d.run()) + " " + std::to_string(getpid()); });
    int error = -1;
    int64_t pid = -1;
    std::istringstream(out) >> error >> pid;
    ASSERT_EQ(error, EACCES);
    const std::vector<AuditEvent> events = FsEventsAfter(before);
    ASSERT_EQ(events.size(), 1u) << Dump(events);
    const AuditEvent& e = events[0];
    EXPECT_EQ(e.op, d.op) << e.json;
    EXPECT_EQ(e.result, EACCES) << e.json;
    EXPECT_EQ(e.result_name, "EACCES") << e.json;
    EXPECT_EQ(e.workspace, "dev") << e.json;
    EXPECT_EQ(e.key, d.key) << e.json;
    EXPECT_EQ(e.uid, d.user.uid) << e.json;
    EXPECT_EQ(e.gid, d.user.gid) << e.json;
    EXPECT_EQ(e.pid, pid) << e.json;
  }
  EXPECT_EQ(Get("dev/DB"), "db-value");
}

// The fields of a `secretfs audit` text line after its time, #seq, operation, result, W/K and
// version: NAME=VALUE words split at spaces outside double quotes, quoted values unescaped (\"
// \\ \xNN). A name given twice is kept twice.
std::vector<std::pair<std::string, std::string>> TextLineFields(const std::string& line) {
  std::vector<std::string> words(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '\\' && i + 1 < line.size()) {
      if (line[i + 1] == 'x' && i + 3 < line.size()) {
        words.back() += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        words.back() += line[++i];
      }
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ' ' && !quoted) {
      words.emplace_back();
    } else {
      words.back() += c;
    }
  }
  std::vector<std::pair<std::string, std::string>> fields;
  for (const std::string& w : words)
    if (const size_t eq = w.find('='); eq != std::string::npos && w[0] != '#')
      fields.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  return fields;
}

TEST_F(AuditTest, NamesACallerChoseCannotForgeAFieldOfTheTextLine) {
  Put("dev/K", "the-value");
  // A program whose directory and file names read as further fields when printed bare; its comm
  // (the first 15 bytes of the file name) has a space and a quote in it too.
  const std::string dir = Local("bin unit=backup.service origin=cli");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::string exe = dir + "/c\"t exe=\\usr\\bin\\app\tx";
  std::filesystem::copy_file(Canonical("/bin/cat"), exe);
  ASSERT_EQ(chmod(exe.c_str(), 0755), 0);
  const ProcessResult read = Program({exe, M("dev/K")});
  ASSERT_TRUE(Succeeded(read)) << read.err;
  ASSERT_EQ(read.out, "the-value");

  const std::vector<AuditEvent> events = Events({"--op", "read", "dev/K"});
  ASSERT_EQ(events.size(), 1u) << Dump(events);
  const AuditEvent& e = events[0];
  ASSERT_EQ(e.exe, exe) << e.json;
  const std::string text = Cli({"audit", "--op", "read", "dev/K"}).out;
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"uid", "0(root)"}, {"pid", std::to_string(e.pid)},          {"comm", e.comm},
      {"exe", exe},       {"unit", e.unit.empty() ? "-" : e.unit}, {"origin", "fs"}};
  EXPECT_EQ(TextLineFields(text.substr(0, text.size() - 1)), expected) << text;
}

TEST_F(AuditTest, CliCommandsAreEventsWithOriginCli) {
  const uint64_t before = LastSeq();
  Put("dev/CLI_KEY", "from-cli");
  EXPECT_EQ(Get("dev/CLI_KEY"), "from-cli");
  EXPECT_TRUE(FailedCleanly(Cli({"get", "dev/MISSING"})));

  std::vector<AuditEvent> cli;
  for (const AuditEvent& e : Events())
    if (e.seq > before && e.origin == "cli" && e.workspace == "dev") cli.push_back(e);
  ASSERT_EQ(cli.size(), 3u) << Dump(cli);
  EXPECT_EQ(cli[0].op, "put");
  EXPECT_EQ(cli[0].key, "CLI_KEY");
  EXPECT_EQ(cli[0].result, 0);
  EXPECT_EQ(cli[0].version, 1u) << cli[0].json;
  EXPECT_EQ(cli[1].op, "get");
  EXPECT_EQ(cli[1].key, "CLI_KEY");
  EXPECT_EQ(cli[1].result, 0);
  EXPECT_EQ(cli[2].op, "get");
  EXPECT_EQ(cli[2].key, "MISSING");
  EXPECT_EQ(cli[2].result, ENOENT) << cli[2].json;
  for (const AuditEvent& e : cli) {
    EXPECT_EQ(e.uid, 0) << e.json;
    EXPECT_EQ(e.comm, "secretfs") << e.json;
    EXPECT_EQ(e.exe, Canonical(SECRETFS_BINARY)) << e.json;
    EXPECT_GT(e.pid, 0) << e.json;
  }
  // Each command is its own process.
  EXPECT_NE(cli[0].pid, cli[1].pid);
  // Never a value.
  EXPECT_THAT(Cli({"audit", "--json"}).out, ::testing::Not(HasSubstr("from-cli")));
}

TEST_F(AuditTest, FiltersSelectTheMatchingEvents) {
  const TestUser other = EnsureUser("sfs_reader");
  Put("dev/A", "a");
  Put("prod/B", "b");
  std::this_thread::sleep_for(20ms);
  const int64_t between = NowNs();
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ReadPath(M("dev/A")).bytes, "a");
  ASSERT_EQ(ReadPath(M("prod/B")).bytes, "b");

  const std::vector<AuditEvent> prod = Events({"--workspace", "prod"});
  ASSERT_FALSE(prod.empty());
  for (const AuditEvent& e : prod) EXPECT_EQ(e.workspace, "prod") << e.json;
  const std::vector<AuditEvent> a = Events({"--key", "A"});
  ASSERT_FALSE(a.empty());
  for (const AuditEvent& e : a) EXPECT_EQ(e.key, "A") << e.json;
  const std::vector<AuditEvent> reads = Events({"--op", "read"});
  ASSERT_EQ(reads.size(), 2u) << Dump(reads);
  for (const AuditEvent& e : reads) EXPECT_EQ(e.op, "read") << e.json;
  EXPECT_EQ(Events({"--op", "read", "--workspace", "dev", "--key", "A"}).size(), 1u);
  EXPECT_THAT(Events({"--uid", std::to_string(other.uid)}), IsEmpty());
  const size_t roots = Events({"--uid", "0"}).size();
  const size_t all = Events().size();  // one more: the query above is an event too
  EXPECT_EQ(roots, all - 1) << "every event is root's";

  // --since T: at or after T; --until T: before T.
  const std::vector<AuditEvent> since = Events({"--since", Rfc3339(between)});
  ASSERT_FALSE(since.empty());
  for (const AuditEvent& e : since) EXPECT_GE(e.time_ns, between) << e.json;
  EXPECT_EQ(Events({"--since", Rfc3339(between), "--op", "read"}).size(), 2u);
  const std::vector<AuditEvent> until = Events({"--until", Rfc3339(between)});
  ASSERT_FALSE(until.empty());
  for (const AuditEvent& e : until) EXPECT_LT(e.time_ns, between) << e.json;
  EXPECT_THAT(Events({"--until", Rfc3339(between), "--op", "read"}), IsEmpty());
  size_t puts = 0;
  for (const AuditEvent& e : until) puts += e.op == "put" ? 1 : 0;
  EXPECT_EQ(puts, 2u);
}

TEST_F(AuditTest, MountAndUnmountAreEventsOfTheDaemon) {
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  Unmount(mnt_);
  std::vector<AuditEvent> mounts, unmounts;
  for (const AuditEvent& e : Events()) {
    if (e.op == "mount") mounts.push_back(e);
    if (e.op == "unmount") unmounts.push_back(e);
  }
  ASSERT_EQ(mounts.size(), 1u) << Dump(mounts);
  ASSERT_EQ(unmounts.size(), 1u) << Dump(unmounts);
  for (const AuditEvent* e : {&mounts[0], &unmounts[0]}) {
    EXPECT_EQ(e->result, 0) << e->json;
    EXPECT_EQ(e->pid, daemon) << e->json;
    EXPECT_EQ(e->exe, Canonical(SECRETFS_BINARY)) << e->json;
    EXPECT_THAT(e->detail, HasSubstr(mnt_)) << e->json;
  }
  EXPECT_LT(mounts[0].seq, unmounts[0].seq);
}

TEST_F(AuditTest, ReadersNamesWhoHasNotReadTheCurrentVersion) {
  Put("dev/ROTATED", "old");
  ASSERT_TRUE(Succeeded(Shell("cat " + M("dev/ROTATED") + " > /dev/null")));
  Put("dev/ROTATED", "new");
  const auto readers = [&] {
    const ProcessResult r = Cli({"audit", "readers", "dev/ROTATED", "--json"});
    EXPECT_TRUE(Succeeded(r));
    return nlohmann::json::parse(r.out, nullptr, false);
  };
  nlohmann::json report = readers();
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["current_version"], 2);
  ASSERT_EQ(report["readers"].size(), 1u) << report.dump();
  EXPECT_EQ(report["readers"][0]["exe"], Canonical("/bin/cat"));
  EXPECT_EQ(report["readers"][0]["uid"], 0);
  EXPECT_EQ(report["readers"][0]["version"], 1);
  EXPECT_EQ(report["readers"][0]["current"], false);

  ASSERT_TRUE(Succeeded(Shell("cat " + M("dev/ROTATED") + " > /dev/null")));
  report = readers();
  ASSERT_EQ(report["readers"].size(), 1u) << report.dump();
  EXPECT_EQ(report["readers"][0]["version"], 2);
  EXPECT_EQ(report["readers"][0]["reads"], 2);
  EXPECT_EQ(report["readers"][0]["current"], true);
}

// ---- Tamper evidence. ----

TEST_F(AuditTest, EveryAcknowledgedWriteSurvivesKill9WithItsEvent) {
  constexpr int kWriters = 4;
  for (int i = 0; i < kWriters; ++i) Put("dev/K" + std::to_string(i), "initial");
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> acknowledged;  // key -> values
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i)
    threads.emplace_back([&, i] {
      const std::string key = "K" + std::to_string(i);
      for (int n = 0; !stop; ++n) {
        const std::string value = key + "-value-" + std::to_string(n);
        if (!WritePath(M("dev/" + key), value).ok()) return;  // the daemon is gone
        std::lock_guard lock(mutex);
        acknowledged[key].push_back(value);
      }
    });
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      while (!stop)
        for (int k = 0; k < kWriters && !stop; ++k)
          if (ReadPath(M("dev/K" + std::to_string(k))).error != 0) return;
    });
  std::this_thread::sleep_for(2s);
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  stop = true;
  for (std::thread& t : threads) t.join();
  ASSERT_NO_FATAL_FAILURE(Remount(""));

  size_t total = 0;
  for (int i = 0; i < kWriters; ++i) {
    const std::string key = "K" + std::to_string(i);
    SCOPED_TRACE(key);
    const std::vector<std::string>& acked = acknowledged[key];
    total += acked.size();
    const std::vector<uint64_t> versions = Versions("dev/" + key);
    // The events, before reading old versions (which are events too).
    size_t writes = 0;
    std::set<uint64_t> evented;
    for (const AuditEvent& e : Events({"--workspace", "dev", "--key", key}))
      if (e.result == 0 && (e.op == "write" || e.op == "create" || e.op == "put")) {
        if (e.origin == "fs") ++writes;
        evented.insert(e.version);
      }
    EXPECT_GE(writes, acked.size());
    for (uint64_t v : versions) EXPECT_TRUE(evented.count(v)) << "version " << v << " has no event";
    std::set<std::string> stored;
    for (uint64_t v : versions) {
      const ReadResult r = ReadPath(M("dev/.versions/" + key + "/" + std::to_string(v)));
      EXPECT_EQ(r.error, 0) << "version " << v;
      stored.insert(r.bytes);
    }
    for (const std::string& value : acked)
      EXPECT_TRUE(stored.count(value)) << value << " was acknowledged and is lost";
  }
  EXPECT_GT(total, 0u) << "no write was acknowledged in 2 s";
  RecordProperty("acknowledged_writes", static_cast<int>(total));
  const ProcessResult verify = Cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

// ---- Modes and options. ----

TEST_F(AuditTest, BufferedModeCommitsWithinTheFlushInterval) {
  Put("dev/BUF", "buffered");
  ASSERT_NO_FATAL_FAILURE(Remount("audit=buffered,audit_flush_ms=50"));
  const uint64_t before = LastSeq();
  ASSERT_EQ(ReadPath(M("dev/BUF")).bytes, "buffered");
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  std::vector<AuditEvent> events;
  do {
    events = FsEventsAfter(before, {"--key", "BUF"});
    if (!events.empty()) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(events.size(), 1u) << "no read event within 2 s" << Dump(events);
  EXPECT_EQ(events[0].op, "read");
  EXPECT_EQ(events[0].result, 0);
  EXPECT_EQ(events[0].version, 1u);
}

TEST_F(AuditTest, ListingsAreEventsOnlyWithAuditList) {
  Put("dev/L", "l");
  const auto list_events = [&] {
    size_t n = 0;
    for (const AuditEvent& e : Events({"--op", "list"}))
      if (e.origin == "fs" && e.workspace == "dev") ++n;
    return n;
  };
  ASSERT_TRUE(Succeeded(Shell("ls " + M("dev") + " > /dev/null")));
  EXPECT_EQ(list_events(), 0u) << "a listing was audited without audit_list=1";

  ASSERT_NO_FATAL_FAILURE(Remount("audit_list=1"));
  ASSERT_TRUE(Succeeded(Shell("ls " + M("dev") + " > /dev/null")));
  EXPECT_GE(list_events(), 1u);
}

}  // namespace
}  // namespace secretfs::testing
