// The audit log against a real mount (SPEC §6): what `secretfs audit --json` shows after each
// filesystem operation and CLI command, denials with their errno, tamper evidence (`audit verify`
// after editing, deleting and swapping events in the LMDB table), fail-closed reads on a full
// disk, durability across kill -9, buffered mode and listing events.
#include <lmdb.h>
#include <signal.h>
#include <sys/mount.h>
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

#include "tests/integration/mount_fixture.h"
#include "tests/integration/test_users.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

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

std::string Str(const nlohmann::json& j, const char* name) {
  return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : "";
}

int64_t Num(const nlohmann::json& j, const char* name, int64_t absent = -1) {
  return j.contains(name) && j[name].is_number() ? j[name].get<int64_t>() : absent;
}

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

// Whether `text` names event `seq` ("event 7", not "event 71").
bool NamesEvent(const std::string& text, uint64_t seq) {
  const std::regex number("event " + std::to_string(seq) + "([^0-9]|$)");
  return std::regex_search(text, number);
}

// RFC 3339 UTC with nanoseconds, as `secretfs audit --since/--until/prune --before` take it.
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

// Opens the store's LMDB environment directly (nothing else may have it open) and runs `edit` in
// one write transaction on the audit table, keyed by u64 big-endian sequence numbers (or on
// another table).
void EditAuditTable(const std::string& store, const std::function<void(MDB_txn*, MDB_dbi)>& edit,
                    const char* table = "audit") {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_open(env, store.c_str(), 0, 0600), 0) << "opening " << store;
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn, table, 0, &dbi);
  EXPECT_EQ(rc, 0) << mdb_strerror(rc);
  if (rc == 0) edit(txn, dbi);
  if (::testing::Test::HasFailure()) {
    mdb_txn_abort(txn);
  } else {
    EXPECT_EQ(mdb_txn_commit(txn), 0);
  }
  mdb_env_close(env);
}

std::string SeqKey(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[static_cast<size_t>(i)] = static_cast<char>(seq >> (8 * (7 - i)));
  return key;
}

std::string GetRecord(MDB_txn* txn, MDB_dbi dbi, uint64_t seq) {
  std::string k = SeqKey(seq);
  MDB_val key{k.size(), k.data()}, value{};
  const int rc = mdb_get(txn, dbi, &key, &value);
  EXPECT_EQ(rc, 0) << "event " << seq << ": " << mdb_strerror(rc);
  return rc == 0 ? std::string(static_cast<const char*>(value.mv_data), value.mv_size) : "";
}

void PutRecord(MDB_txn* txn, MDB_dbi dbi, uint64_t seq, std::string bytes) {
  std::string k = SeqKey(seq);
  MDB_val key{k.size(), k.data()}, value{bytes.size(), bytes.data()};
  EXPECT_EQ(mdb_put(txn, dbi, &key, &value, 0), 0);
}

class AuditTest : public MountedTest {
 protected:
  // secretfs audit --json FILTERS..., parsed; a failure of the command is a test failure.
  std::vector<AuditEvent> Events(const std::vector<std::string>& filters = {}) {
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

  // The events after `seq` that the filesystem recorded (origin fs).
  std::vector<AuditEvent> FsEventsAfter(uint64_t seq,
                                        const std::vector<std::string>& filters = {}) {
    std::vector<AuditEvent> out;
    for (AuditEvent& e : Events(filters))
      if (e.seq > seq && e.origin == "fs") out.push_back(std::move(e));
    return out;
  }

  uint64_t LastSeq() {
    const std::vector<AuditEvent> all = Events();
    return all.empty() ? 0 : all.back().seq;
  }

  std::string Dump(const std::vector<AuditEvent>& events) {
    std::string s;
    for (const AuditEvent& e : events) s += "\n  " + e.json;
    return s.empty() ? " (none)" : s;
  }

  // secretfs -s STORE -k file:KEY ARGS for another store than store_.
  ProcessResult CliOn(const std::string& store, const std::vector<std::string>& args,
                      const std::string& input = "") const {
    std::vector<std::string> argv = {SECRETFS_BINARY, "-s", store, "-k", "file:" + key_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return Spawn(argv, input,
                 {{"PATH", BinaryDir() + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") +
                               ":/usr/sbin:/sbin"}});
  }
};

// ---- One event per operation, with its caller. ----

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

class AuditVerifyTest : public AuditTest {
 protected:
  // Some history (CLI and filesystem events), then the store unmounted; the seqs of its events.
  std::vector<uint64_t> MakeHistoryAndUnmount() {
    Put("dev/K", "v1");
    Put("dev/K", "v2");
    EXPECT_EQ(ReadPath(M("dev/K")).bytes, "v2");
    EXPECT_TRUE(WritePath(M("dev/K"), "v3").ok());
    EXPECT_EQ(ReadPath(M("dev/.versions/K/1")).bytes, "v1");
    EXPECT_EQ(ErrnoOf(unlink(M("dev/K").c_str())), 0);
    Unmount(mnt_);
    std::vector<uint64_t> seqs;
    for (const AuditEvent& e : Events()) seqs.push_back(e.seq);
    EXPECT_GE(seqs.size(), 10u);
    return seqs;
  }

  ProcessResult Verify() { return Cli({"audit", "verify"}); }
};

TEST_F(AuditVerifyTest, ARealLogVerifies) {
  MakeHistoryAndUnmount();
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  // And still does while mounted, with the daemon appending.
  ASSERT_TRUE(Succeeded(MountAt(mnt_)));
  EXPECT_EQ(ReadPath(M("dev/.versions/K/2")).bytes, "v2");
  const ProcessResult mounted = Verify();
  EXPECT_EQ(mounted.exit_code, 0) << Describe(mounted);
}

TEST_F(AuditVerifyTest, AnEditedEventIsNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, target);
    ASSERT_GT(record.size(), 48u);
    record[16] ^= 0x01;  // a bit of the event's time: still an event, not the one that was MACed
    PutRecord(txn, dbi, target, record);
  });
  const ProcessResult r = Verify();
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(NamesEvent(r.out + r.err, target)) << "event " << target << ": " << Describe(r);
}

// An event that does not decode is named by `secretfs audit`, which still prints every other
// event (all of them, and those of one secret), and exits 1. Before, it printed nothing.
TEST_F(AuditVerifyTest, AnEventThatDoesNotDecodeIsNamedAndTheOthersStillPrint) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  std::vector<uint64_t> of_k;  // events about dev/K, which the query for that secret must reach
  // That query indexes the log first (damage found in an event already indexed).
  for (const AuditEvent& e : Events({"--workspace", "dev", "--key", "K"})) of_k.push_back(e.seq);
  ASSERT_GE(of_k.size(), 5u);
  const uint64_t target = of_k[of_k.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, target);
    ASSERT_GT(record.size(), 48u);
    record[0] ^= 0x7F;  // the layout byte: no longer an event at all
    PutRecord(txn, dbi, target, record);
  });
  for (const std::vector<std::string>& filters :
       {std::vector<std::string>{}, std::vector<std::string>{"--workspace", "dev", "--key", "K"}}) {
    std::vector<std::string> args = {"audit", "--json"};
    args.insert(args.end(), filters.begin(), filters.end());
    const ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    std::set<uint64_t> printed;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) printed.insert(ParseEvent(line).seq);
    EXPECT_FALSE(printed.count(target));
    // Every other event (about K, for the query about K) is printed.
    for (uint64_t seq : filters.empty() ? seqs : of_k)
      EXPECT_TRUE(seq == target || printed.count(seq)) << "event " << seq << " missing";
    EXPECT_TRUE(NamesEvent(r.err, target)) << Describe(r);
  }
}

TEST_F(AuditVerifyTest, ADeletedEventIsNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string k = SeqKey(target);
    MDB_val key{k.size(), k.data()};
    ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
  });
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  // The gap: the missing event, or the first one after it that no longer chains.
  EXPECT_TRUE(NamesEvent(r.out + r.err, target) || NamesEvent(r.out + r.err, target + 1))
      << "event " << target << ": " << Describe(r);
}

TEST_F(AuditVerifyTest, TwoSwappedEventsAreNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  ASSERT_EQ(seqs[seqs.size() / 2 + 1], target + 1);
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    const std::string first = GetRecord(txn, dbi, target);
    const std::string second = GetRecord(txn, dbi, target + 1);
    PutRecord(txn, dbi, target, second);
    PutRecord(txn, dbi, target + 1, first);
  });
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(NamesEvent(r.out + r.err, target)) << "event " << target << ": " << Describe(r);
}

TEST_F(AuditVerifyTest, TheNewestEventsCutOffAreRevealedByTheIndexAndReindexAcceptsTheCut) {
  MakeHistoryAndUnmount();
  // A query for one secret brings the index up to date, its own event included.
  ASSERT_FALSE(Events({"--workspace", "dev", "--key", "K"}).empty());
  uint64_t last = 0;
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    for (int cut = 0; cut < 2; ++cut) {  // the newest two
      MDB_cursor* cursor = nullptr;
      ASSERT_EQ(mdb_cursor_open(txn, dbi, &cursor), 0);
      MDB_val key{}, value{};
      ASSERT_EQ(mdb_cursor_get(cursor, &key, &value, MDB_LAST), 0);
      ASSERT_EQ(key.mv_size, 8u);
      if (cut == 0)
        for (size_t i = 0; i < 8; ++i)
          last = last << 8 | static_cast<const uint8_t*>(key.mv_data)[i];
      mdb_cursor_close(cursor);
      ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
    }
  });
  // The chain that is left verifies; the index still names the events cut off. (Each verify
  // appends its own event, reusing a number that was cut: the other stays named.)
  for (int round = 0; round < 2; ++round) {
    const ProcessResult r = Verify();
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_TRUE(r.err.find("the audit index names event " + std::to_string(last - 1) +
                           ", which the log lacks") != std::string::npos ||
                r.err.find("the audit index names event " + std::to_string(last) +
                           ", which the log lacks") != std::string::npos)
        << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("secretfs audit verify --reindex"));
  }

  // Once the operator knows why, the index is rebuilt from the log as it is.
  const ProcessResult reindexed = Cli({"audit", "verify", "--reindex"});
  EXPECT_EQ(reindexed.exit_code, 0) << Describe(reindexed);
  EXPECT_THAT(reindexed.err, HasSubstr("audit index rebuilt"));
  EXPECT_EQ(Verify().exit_code, 0);
}

TEST_F(AuditVerifyTest, AnEntryRemovedFromTheIndexIsNamedAndQueriesStillFindTheRest) {
  MakeHistoryAndUnmount();
  const std::vector<AuditEvent> k_events = Events({"--workspace", "dev", "--key", "K"});
  ASSERT_GE(k_events.size(), 2u);
  const uint64_t hidden = k_events.front().seq;
  EditAuditTable(
      store_,
      [&](MDB_txn* txn, MDB_dbi dbi) {
        std::string k = std::string("dev") + '\0' + "K" + '\0' + SeqKey(hidden);
        MDB_val key{k.size(), k.data()};
        ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
      },
      "audit_index");
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err,
              HasSubstr("event " + std::to_string(hidden) + " is missing from the audit index"));
  ASSERT_EQ(Cli({"audit", "verify", "--reindex"}).exit_code, 0);
  EXPECT_EQ(Events({"--workspace", "dev", "--key", "K"}).front().seq, hidden);
}

TEST_F(AuditVerifyTest, PruningKeepsTheRestVerifiable) {
  MakeHistoryAndUnmount();
  std::this_thread::sleep_for(20ms);
  const int64_t cut = NowNs();
  std::this_thread::sleep_for(20ms);
  Put("dev/AFTER", "after");
  const std::vector<AuditEvent> before = Events();
  const ProcessResult prune = Cli({"audit", "prune", "--before", Rfc3339(cut)});
  ASSERT_EQ(prune.exit_code, 0) << Describe(prune);
  const std::vector<AuditEvent> left = Events();
  ASSERT_FALSE(left.empty());
  EXPECT_LT(left.size(), before.size());
  EXPECT_GE(left.front().time_ns, cut) << left.front().json;
  bool kept_after = false;
  for (const AuditEvent& e : left) kept_after |= e.op == "put" && e.key == "AFTER";
  EXPECT_TRUE(kept_after);
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("prune"));
}

TEST_F(AuditVerifyTest, APruneStopsAtAnEditedEventAndItsOwnEventCountsWhatItRemovedBefore) {
  // The CLI prunes in transactions of 10,000 events (audit::kPruneEventsPerTransaction), each
  // verified: an edited event in the second stops the prune there, the first stays done.
  constexpr size_t kStep = 10'000;
  Remount("audit=buffered");  // 10,000 reads in about a second
  Put("dev/K", "v");
  for (size_t i = 0; i < kStep + 100; ++i) ASSERT_EQ(ReadPath(M("dev/K")).error, 0) << i;
  Unmount(mnt_);
  const std::vector<AuditEvent> events = Events();
  ASSERT_GT(events.size(), kStep + 100);
  const uint64_t edited = events[kStep + 50].seq;
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, edited);
    ASSERT_GT(record.size(), 48u);
    record[16] ^= 0x01;
    PutRecord(txn, dbi, edited, record);
  });

  const ProcessResult prune = Cli({"audit", "prune", "--before", "now"});
  EXPECT_TRUE(FailedCleanly(prune)) << Describe(prune);
  EXPECT_TRUE(NamesEvent(prune.err, edited)) << "event " << edited << ": " << Describe(prune);

  const std::vector<AuditEvent> left = Events();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.front().seq, events[kStep].seq) << "the first step stays committed";
  const std::vector<AuditEvent> prunes = Events({"--op", "audit prune"});
  ASSERT_EQ(prunes.size(), 1u);
  const AuditEvent& self = prunes.front();
  EXPECT_NE(self.result_name, "ok") << self.json;
  EXPECT_THAT(self.detail, HasSubstr("removed=" + std::to_string(kStep))) << self.json;
}

// audit_keep=AGE: the daemon prunes what is older, records that it did, and the rest verifies.
TEST_F(AuditVerifyTest, AuditKeepPrunesEventsOlderThanItsAgeAndTheRestVerifies) {
  Put("dev/OLD", "v");
  ASSERT_NO_FATAL_FAILURE(Remount("audit_keep=2s"));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadPath(M("dev/OLD")).bytes, "v");
  const uint64_t last_old = LastSeq();

  // Each event goes once it is 2 s old, within one period (a quarter of the age, at least 1 s).
  std::vector<AuditEvent> left = Events();
  for (int waited = 0; waited < 20 && !left.empty() && left.front().seq <= last_old; ++waited) {
    std::this_thread::sleep_for(500ms);
    left = Events();
  }
  ASSERT_FALSE(left.empty());
  EXPECT_GT(left.front().seq, last_old) << "events older than 2 s are still there:" << Dump(left);

  const std::vector<AuditEvent> prunes = Events({"--op", "audit prune"});
  ASSERT_FALSE(prunes.empty()) << "the daemon's prunes are events too";
  EXPECT_EQ(prunes.front().origin, "fs");
  EXPECT_THAT(prunes.front().detail, HasSubstr("removed="));
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("chained from the prune anchor"));
}

// ---- Fail-closed: no event, no value. ----

class AuditFullDiskTest : public AuditTest {
 protected:
  void TearDown() override {
    if (!small_mnt_.empty() && !MountedType(small_mnt_).empty()) Unmount(small_mnt_);
    UnmountStoreTmpfs(tmpfs_);
    AuditTest::TearDown();
  }

  // A store on a 4 MiB tmpfs, holding dev/K = "the-value" and `more` secrets (W/K) of the given
  // sizes, mounted at small_mnt_.
  void MountSmallStore(const std::map<std::string, size_t>& more = {}) {
    ASSERT_NO_FATAL_FAILURE(MakeSmallStore(more));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"mount", small_mnt_})));
    TrackMount(small_mnt_);
    secret_ = small_mnt_ + "/dev/K";
    ASSERT_EQ(ReadPath(secret_).bytes, "the-value");
  }

  // MountSmallStore without the mount.
  void MakeSmallStore(const std::map<std::string, size_t>& more = {}) {
    tmpfs_ = Local("small");
    small_mnt_ = Local("small-mnt");
    ASSERT_EQ(mkdir(tmpfs_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(small_mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mount("tmpfs", tmpfs_.c_str(), "tmpfs", 0, "size=4m,mode=0700"), 0)
        << strerror(errno);
    small_store_ = tmpfs_ + "/store";
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"init"})));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"workspace", "create", "dev"})));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"put", "dev/K"}, "the-value")));
    std::set<std::string> workspaces = {"dev"};
    for (const auto& [path, size] : more) {
      const std::string workspace = path.substr(0, path.find('/'));
      if (workspaces.insert(workspace).second) {
        ASSERT_TRUE(Succeeded(CliOn(small_store_, {"workspace", "create", workspace})));
      }
      ASSERT_TRUE(Succeeded(CliOn(small_store_, {"put", path}, RandomBytes(size))));
    }
  }

  // Reads dev/K until the disk refuses `in_a_row` events in a row: the log itself has filled
  // it (every read is an event). Each refusal is EIO with no bytes.
  void ReadUntilTheLogFillsTheDisk(int in_a_row = 10) {
    int refused = 0;
    for (int reads = 0; refused < in_a_row; ++reads) {
      ASSERT_LT(reads, 100000) << "reads never filled a 4 MiB disk";
      const ReadResult r = ReadPath(secret_);
      if (r.error == 0) {
        ASSERT_EQ(r.bytes, "the-value");
        refused = 0;
        continue;
      }
      ASSERT_EQ(r.error, EIO) << strerrorname_np(r.error) << " after " << reads << " reads";
      ASSERT_EQ(r.bytes, "");
      ++refused;
    }
  }

  std::string tmpfs_;
  std::string small_mnt_;
  std::string small_store_;
  std::string secret_;
};

TEST_F(AuditFullDiskTest, AReadWhoseEventCannotBeCommittedFailsWithEioAndNoBytes) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore());
  const std::string& store = small_store_;
  const std::string& secret = secret_;

  // Fill the file system to the last byte.
  const std::string filler = tmpfs_ + "/filler";
  {
    Fd fd(open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.ok());
    for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
      const std::string bytes(chunk, 'f');
      while (write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
      }
    }
  }

  // Events keep fitting into LMDB's free pages for a while; once one needs a new page it cannot
  // be committed, and then the read must fail with EIO and return nothing. A refusal can be
  // followed by a success: a page freed by an older commit becomes reusable once the reader
  // that still saw it (the daemon serving a concurrent release, say) has ended. So read until
  // the disk refuses every event, which it must: 20000 events need several MiB, far more than
  // any slack the store's file can have. Once reads are refused in a row, a shell's cat must
  // fail the same way; if a freed page let its event through, it printed the value whole, and
  // reading goes on.
  constexpr int kMaxReads = 20000, kRefusalsInARow = 10;
  int reads = 0, refused_in_a_row = 0;
  bool cat_refused = false;
  for (; reads < kMaxReads && !cat_refused; ++reads) {
    if (refused_in_a_row == kRefusalsInARow) {
      const ProcessResult cat = Shell("cat " + secret);
      if (cat.exit_code == 0) {
        ASSERT_EQ(cat.out, "the-value") << "cat succeeded with part of the value";
        refused_in_a_row = 0;
        continue;
      }
      EXPECT_TRUE(FailedCleanly(cat));
      EXPECT_EQ(cat.out, "");
      EXPECT_THAT(cat.err, HasSubstr("Input/output error"));
      cat_refused = true;
      continue;
    }
    const ReadResult r = ReadPath(secret);
    if (r.error == 0) {
      ASSERT_EQ(r.bytes, "the-value");
      refused_in_a_row = 0;
      continue;
    }
    ++refused_in_a_row;
    ASSERT_EQ(r.error, EIO) << strerrorname_np(r.error) << " after " << reads << " reads";
    ASSERT_EQ(r.bytes, "") << "a refused read returned bytes";
  }
  ASSERT_TRUE(cat_refused) << kMaxReads << " reads on a full disk never refused a cat";

  // Room again: reads work again, and the log is whole.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  const ReadResult again = ReadPath(secret);
  EXPECT_EQ(again.error, 0);
  EXPECT_EQ(again.bytes, "the-value");
  const ProcessResult verify = CliOn(store, {"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

// A reader can fill the disk with its events alone. The operator's way out must still work then,
// though LMDB needs free pages even to delete: prune gives back the store's space reserve.
TEST_F(AuditFullDiskTest, PruningFreesADiskThatTheLogFilledAndReadsWorkAgain) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore());
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult prune = CliOn(small_store_, {"audit", "prune", "--before", "now"});
  ASSERT_EQ(prune.exit_code, 0) << Describe(prune);
  EXPECT_THAT(prune.out, HasSubstr("audit events older than"));
  EXPECT_THAT(prune.err, HasSubstr("is full: giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  const ProcessResult verify = CliOn(small_store_, {"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  const ProcessResult prunes = CliOn(small_store_, {"audit", "--op", "audit prune", "--json"});
  ASSERT_EQ(prunes.exit_code, 0) << Describe(prunes);
  ASSERT_EQ(std::count(prunes.out.begin(), prunes.out.end(), '\n'), 1) << prunes.out;
  EXPECT_EQ(ParseEvent(prunes.out.substr(0, prunes.out.find('\n'))).result_name, "ok")
      << "the prune is itself an event: " << prunes.out;
  // The reserve is taken again, as far as the disk has room for it.
  EXPECT_TRUE(std::filesystem::exists(small_store_ + "/space.reserve"));
}

// As auditd's space_left: the daemon warns in its log before the disk is full. (In the
// foreground the log also goes to stderr; the daemon is stopped after two seconds.)
TEST_F(AuditFullDiskTest, TheDaemonWarnsInItsLogWhenTheStoresDiskRunsLow) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallStore());
  const auto foreground_log = [&] {
    const ProcessResult r = Spawn(
        {SECRETFS_BINARY, "-s", small_store_, "-k", "file:" + key_file_, "mount", small_mnt_, "-f"},
        "", {}, std::chrono::seconds(2));
    EXPECT_TRUE(ForceUnmount(small_mnt_, 0));
    return r.err;
  };
  EXPECT_THAT(foreground_log(), Not(HasSubstr("running out of space")));

  // Leave 64 KiB free of the 4 MiB (the warning starts below 256 KiB).
  {
    Fd fd(open((tmpfs_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.ok());
    const std::string chunk(4096, 'f');
    while (write(fd.get(), chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(ftruncate(fd.get(), lseek(fd.get(), 0, SEEK_END) - 64 * 1024), 0);
  }
  const std::string log = foreground_log();
  EXPECT_THAT(log, HasSubstr("the disk holding " + small_store_ + " is running out of space"))
      << log;
  EXPECT_THAT(log, HasSubstr("secretfs audit prune")) << log;
}

TEST_F(AuditFullDiskTest, DestroyingASecretFreesADiskThatTheLogFilled) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore({{"dev/BIG", 256 * 1024}}));
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult destroy = CliOn(small_store_, {"destroy", "dev/BIG"});
  ASSERT_EQ(destroy.exit_code, 0) << Describe(destroy);
  EXPECT_THAT(destroy.err, HasSubstr("giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  EXPECT_EQ(ReadPath(small_mnt_ + "/dev/BIG").error, ENOENT);
}

TEST_F(AuditFullDiskTest, PurgingAWorkspaceFreesADiskThatTheLogFilled) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore({{"old/BIG", 256 * 1024}}));
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult purge =
      CliOn(small_store_, {"workspace", "delete", "old", "--purge", "--yes"});
  ASSERT_EQ(purge.exit_code, 0) << Describe(purge);
  EXPECT_THAT(purge.err, HasSubstr("giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  EXPECT_EQ(ReadPath(small_mnt_ + "/old").error, ENOENT);
}

// ---- kill -9 in the middle of reads and writes. ----

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
