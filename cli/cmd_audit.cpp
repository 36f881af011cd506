// secretfs audit [--since T] [--until T] [--workspace W] [--key K] [W[/K]] [--uid U] [--op O]
//                [--json] [--follow]
//        | audit verify [--expect SEQ:MAC] | audit prune --before T | audit readers W/K [--json]
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>

#include "audit/audit_index.h"
#include "audit/audit_query.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "cli/progress_line.h"
#include "cli/table.h"
#include "common/age.h"
#include "common/byte_codec.h"
#include "common/rfc3339.h"

namespace secretfs::cli {
namespace {

// ---- times ----------------------------------------------------------------------------------

constexpr int64_t kNsPerSec = 1'000'000'000;

int64_t NowRealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * kNsPerSec + ts.tv_nsec;
}

// A time argument: RFC 3339, "now", or an age ("90s", "10m", "2h", "7d", "4w" ago).
int64_t ParseTimeArg(const std::string& option, const std::string& text, int64_t now_ns) {
  if (text == "now") return now_ns;
  if (auto t = ParseRfc3339(text)) return *t;
  if (auto age = ParseAgeSeconds(text, INT64_MAX / kNsPerSec)) return now_ns - *age * kNsPerSec;
  throw UsageError{option + " '" + text +
                   "': not a time; use RFC 3339 (2026-11-22T10:00:00Z, 2026-11-22; from 1677-09-22 "
                   "to 2262-04-11) or an age (30s, 10m, 2h, 7d, 4w)"};
}

// Human time: RFC 3339 UTC with milliseconds.
std::string ShortTime(int64_t ns) {
  std::string t = FormatTime(ns);  // ...:SSZ
  char ms[8];
  int64_t sub = ns % kNsPerSec;
  if (sub < 0) sub += kNsPerSec;
  snprintf(ms, sizeof ms, ".%03lld", static_cast<long long>(sub / 1'000'000));
  return t.insert(t.size() - 1, ms);
}

// ---- names ----------------------------------------------------------------------------------

std::string ResultName(int32_t result) {
  if (result == 0) return "ok";
  if (const char* name = strerrorname_np(result)) return name;
  return "errno " + std::to_string(result);
}

// The user name of `uid`, or empty; looked up once per uid.
const std::string& UserName(uint32_t uid) {
  static std::map<uint32_t, std::string> cache;
  auto it = cache.find(uid);
  if (it != cache.end()) return it->second;
  return cache.emplace(uid, UserNameOf(uid).value_or("")).first->second;
}

std::string UidText(uint32_t uid) {
  const std::string& name = UserName(uid);
  return std::to_string(uid) + (name.empty() ? "" : "(" + OneLine(name) + ")");
}

uint32_t ParseUidArg(const std::string& text) {
  uint32_t uid = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (ec == std::errc() && p == text.data() + text.size()) return uid;
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (getpwnam_r(text.c_str(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    return pw.pw_uid;
  throw UsageError{"--uid '" + text + "': not a uid and no user has that name"};
}

// A value in a text line or a table: bare when it is printable ASCII without spaces, quotes or
// backslashes; otherwise in double quotes, with \" \\ and \xNN inside. A comm, an exe path or a
// unit is the caller's to choose: bare, "a exe=/usr/bin/app" would read as two fields. Empty is
// "-" (and a value that is "-" is quoted).
std::string FieldText(std::string_view s) {
  if (s.empty()) return "-";
  const auto plain = [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; };
  if (s != "-" && std::all_of(s.begin(), s.end(), plain)) return std::string(s);
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return EscapeControl(out) + "\"";
}

std::string Hex(std::span<const uint8_t> bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// JSON cannot hold bytes that are not UTF-8 (an exe path may have them): replace, don't throw.
std::string Dump(const nlohmann::json& j) { return JsonText(j, -1); }

// ---- output ---------------------------------------------------------------------------------

// Collects output and writes it to stdout in large pieces, so a closed pipe is seen as EPIPE.
class Output {
 public:
  void Add(std::string line) {
    buf_ += line;
    buf_ += '\n';
    if (buf_.size() >= 64 * 1024) (void)Flush();
  }
  Status Flush() {
    if (!status_.ok() || buf_.empty()) return status_;
    status_ = WriteAll(STDOUT_FILENO, AsBytes(buf_));
    buf_.clear();
    return status_;
  }
  const Status& status() const { return status_; }

 private:
  std::string buf_;
  Status status_;
};

std::string EventLine(const audit::Event& e) {
  std::string where = e.workspace;
  if (!e.key.empty()) where += "/" + e.key;
  std::string line =
      ShortTime(e.time_ns) + " #" + std::to_string(e.seq) + " " + FieldText(e.op) + " " +
      ResultName(e.result) + " " + FieldText(where) + " " +
      (e.version ? "v" + std::to_string(e.version) : "-") + " uid=" + UidText(e.uid) +
      " pid=" + std::to_string(e.pid) + " comm=" + FieldText(e.comm) + " exe=" + FieldText(e.exe) +
      " unit=" + FieldText(e.unit) + " origin=" + std::string(audit::OriginName(e.origin));
  if (!e.detail.empty()) line += " detail=" + FieldText(e.detail);
  return line;
}

nlohmann::json EventJson(const audit::Event& e) {
  const std::string& user = UserName(e.uid);
  return {{"seq", e.seq},
          {"time", FormatTime(e.time_ns, true)},
          {"time_ns", e.time_ns},
          {"op", e.op},
          {"result", ResultName(e.result)},
          {"errno", e.result},
          {"workspace", e.workspace},
          {"key", e.key},
          {"version", e.version},
          {"uid", e.uid},
          {"user", user.empty() ? nlohmann::json(nullptr) : nlohmann::json(user)},
          {"gid", e.gid},
          {"pid", e.pid},
          {"comm", e.comm},
          {"exe", e.exe},
          {"unit", e.unit},
          {"origin", audit::OriginName(e.origin)},
          {"detail", e.detail}};
}

// Opens the store, or prints why not.
// Reading the audit log is an owner's action (SPEC §5), decided when the CLI runs with --policy.
std::unique_ptr<store::SecretStore> Open(CliContext& ctx, const std::string& what, int& exit_code) {
  auto store = ctx.OpenFor(what, policy::Action::kOwn);
  if (!store) {
    exit_code = CliContext::Fail(what, store.status());
    return nullptr;
  }
  return std::move(*store);
}

// ---- audit (query) --------------------------------------------------------------------------

struct QueryArgs {
  std::string since, until, workspace, key, path, uid, op;
  bool json = false;
  bool follow = false;
};

volatile sig_atomic_t g_stop = 0;

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the poll below wakes up
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

audit::Filter FilterFrom(const QueryArgs& a, std::string& description) {
  audit::Filter f;
  const int64_t now = NowRealtimeNs();
  auto note = [&](const std::string& text) {
    description += (description.empty() ? "" : " ") + text;
  };
  if (!a.since.empty()) {
    f.since_ns = ParseTimeArg("--since", a.since, now);
    note("since=" + FormatTime(*f.since_ns, true));
  }
  if (!a.until.empty()) {
    f.until_ns = ParseTimeArg("--until", a.until, now);
    note("until=" + FormatTime(*f.until_ns, true));
  }
  std::string workspace = a.workspace, key = a.key;
  if (!a.path.empty()) {
    // W or W/K
    std::string pw = a.path, pk;
    if (const size_t slash = a.path.find('/'); slash != std::string::npos) {
      auto path = store::ParseSecretPath(a.path);
      if (!path) throw UsageError{path.status().message()};
      pw = path->workspace;
      pk = path->key;
    }
    if ((!workspace.empty() && workspace != pw) || (!key.empty() && !pk.empty() && key != pk))
      throw UsageError{"'" + a.path + "' contradicts --workspace/--key"};
    workspace = pw;
    if (!pk.empty()) key = pk;
  }
  if (!workspace.empty()) {
    if (Status s = store::ValidateWorkspaceName(workspace); !s.ok()) throw UsageError{s.message()};
    f.workspace = workspace;
  }
  if (!key.empty()) {
    if (Status s = store::ValidateKeyName(key); !s.ok()) throw UsageError{s.message()};
    f.key = key;
  }
  if (!a.uid.empty()) {
    f.uid = ParseUidArg(a.uid);
    note("uid=" + std::to_string(*f.uid));
  }
  if (!a.op.empty()) {
    f.op = a.op;
    note("op=" + a.op);
  }
  if (a.follow) note("follow");
  return f;
}

int QueryCommand(CliContext& ctx, const QueryArgs& a) {
  std::string description;
  const audit::Filter filter = FilterFrom(a, description);
  int exit_code = kExitOk;
  auto store = Open(ctx, "audit", exit_code);
  if (!store) return exit_code;

  audit::Event self =
      CliContext::CliEvent("audit", filter.workspace.value_or(""), filter.key.value_or(""));
  self.detail = description;
  if (Status s = CliContext::Record(*store, self, Status::Ok()); !s.ok())
    return CliContext::Fail("audit", s);

  // A reader that goes away (| head) ends the output quietly: EPIPE, not SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  if (a.follow) InstallStopHandlers();

  Output out;
  uint64_t after = 0;  // the last event seen
  // Every event after `after`. A query for one secret reads that secret's events through the
  // index, so it gets the filter; any other query reads the whole log and is filtered here, with
  // `after` the last event seen, matching or not, so --follow never rescans those that did not.
  const bool one_secret = filter.workspace && filter.key;
  // The index is brought up to date by its readers (audit/audit_index.h). Should that fail (a
  // full disk), the query reads the log after the newest indexed event: slower, never wrong.
  if (one_secret) (void)audit::UpdateIndex(store->env());
  // An event that does not decode is named on stderr, once, and the others are still printed;
  // the exit is then 1 (as audit verify, which says more).
  bool saw_damage = false;
  const auto damaged = [&](uint64_t seq, const Status& why) {
    after = seq;
    saw_damage = true;
    CliContext::Fail("audit", why.message() + " (see secretfs audit verify)");
  };
  auto print_new = [&]() -> Status {
    audit::Filter next = one_secret ? filter : audit::Filter{};
    next.after_seq = after;
    Status s = audit::Query((*store).env(), next,
                            [&](const audit::Event& e) {
                              after = e.seq;
                              if (filter.Matches(e))
                                out.Add(a.json ? Dump(EventJson(e)) : EventLine(e));
                              return out.status().ok() && g_stop == 0;
                            },
                            damaged);
    const Status written = out.Flush();
    return s.ok() ? written : s;
  };

  Status s = print_new();
  while (s.ok() && a.follow && g_stop == 0) {
    pollfd fd{STDOUT_FILENO, 0, 0};
    if (poll(&fd, 1, 200) > 0 && (fd.revents & (POLLERR | POLLHUP | POLLNVAL))) break;  // closed
    if (g_stop != 0) break;
    s = print_new();
  }
  if (s.code() == EPIPE) return kExitOk;
  if (!s.ok()) return CliContext::Fail("audit", s);
  return saw_damage ? kExitError : kExitOk;
}

// ---- audit verify ---------------------------------------------------------------------------

// The MAC stored for event `seq` (or the prune anchor's, for the event it records), to compare
// with a head noted earlier.
Result<audit::Mac> StoredMac(store::SecretStore& store, const keyring::SecretBuffer& key,
                             uint64_t seq) {
  audit::Mac mac{};
  Status found = Status(ENOENT, "event " + std::to_string(seq) + " is not in the log");
  SECRETFS_RETURN_IF_ERROR(store.env().Read([&](store::Txn& txn) {
    store::Bytes v;
    if (txn.Get(store::Db::kAudit, audit::SeqKey(seq), v).ok() && v.size() > audit::kMacBytes) {
      std::copy(v.end() - audit::kMacBytes, v.end(), mac.begin());
      found = Status::Ok();
    } else if (txn.Get(store::Db::kMeta, AsBytes(audit::kAnchorKey), v).ok()) {
      auto anchor = audit::DecodeAnchor(key.bytes(), v);
      if (anchor && anchor->seq == seq) {
        mac = anchor->mac;
        found = Status::Ok();
      } else if (anchor && anchor->seq > seq) {
        found = Status(ENOENT, "event " + std::to_string(seq) +
                                   " was pruned; compare with a head noted after event " +
                                   std::to_string(anchor->seq));
      }
    }
    return Status::Ok();
  }));
  if (!found.ok()) return found;
  return mac;
}

int VerifyCommand(CliContext& ctx, const std::string& expect, bool reindex) {
  uint64_t expect_seq = 0;
  std::string expect_mac;
  if (!expect.empty()) {
    const size_t colon = expect.find(':');
    auto [p, ec] =
        std::from_chars(expect.data(), expect.data() + std::min(colon, expect.size()), expect_seq);
    if (colon == std::string::npos || ec != std::errc() || p != expect.data() + colon ||
        expect_seq == 0 || expect.size() - colon - 1 != 2 * audit::kMacBytes)
      throw UsageError{"--expect '" + expect + "': use SEQ:MAC as verify printed it"};
    expect_mac = expect.substr(colon + 1);
    for (char& c : expect_mac) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  int exit_code = kExitOk;
  auto store = Open(ctx, "audit verify", exit_code);
  if (!store) return exit_code;
  auto key = store->AuditKey();
  if (!key) return CliContext::Fail("audit verify", key.status());
  if (reindex) {
    auto indexed = audit::Reindex(store->env());
    if (!indexed) return CliContext::Fail("audit verify", indexed.status().Wrap("reindexing"));
    std::cerr << "audit index rebuilt: " << *indexed << " events\n";
  }

  ProgressLine progress("verifying the audit log", "events");
  auto result = audit::Verify(store->env(), *key, std::ref(progress));
  progress.Finish();

  Status outcome = result.status();
  std::string why;
  if (result && result->broken_seq) {
    why = (*result->broken_seq != 0 ? "event " + std::to_string(*result->broken_seq) + ": " : "") +
          result->problem;
    outcome = Status(EIO, why);
  } else if (result && !result->index_problem.empty()) {
    // The chain is whole; the index is derived from it and can be rebuilt, once the operator
    // knows why it disagrees (it is also what reveals the newest events cut off).
    why = result->index_problem +
          " (queries for one secret may be wrong; once you know why, rebuild the index with: "
          "secretfs audit verify --reindex)";
    outcome = Status(EIO, why);
  }
  if (outcome.ok() && expect_seq != 0) {
    if (expect_seq > result->last_seq) {
      why = "event " + std::to_string(expect_seq) +
            " noted earlier is gone: the log ends at event " + std::to_string(result->last_seq) +
            " (the newest events were removed, or an older "
            "copy of the store was restored)";
    } else if (auto mac = StoredMac(*store, *key, expect_seq); !mac) {
      why = mac.status().message();
    } else if (Hex(*mac) != expect_mac) {
      why = "event " + std::to_string(expect_seq) +
            " does not have the MAC noted earlier (the log was replaced or rewritten)";
    }
    if (!why.empty()) outcome = Status(EIO, why);
  }

  audit::Event self = CliContext::CliEvent("audit verify");
  if (Status s = CliContext::Record(*store, self, outcome); !s.ok())
    return CliContext::Fail("audit verify", s);
  if (!result) return CliContext::Fail("audit verify", result.status());
  if (!outcome.ok()) return CliContext::Fail("audit verify", why);

  const audit::VerifyResult& r = *result;
  std::string line =
      "audit log verified: " + std::to_string(r.events) + " event" + (r.events == 1 ? "" : "s");
  if (r.events > 0)
    line += " (seq " + std::to_string(r.first_seq) + ".." + std::to_string(r.last_seq) +
            "), head MAC " + Hex(r.head_mac);
  if (r.anchored)
    line += r.events > 0 ? "; pruned before event " + std::to_string(r.first_seq) +
                               ", chained from the prune anchor"
                         : "; pruned, chained from the prune anchor";
  if (expect_seq != 0) line += "; event " + std::to_string(expect_seq) + " has the expected MAC";
  std::cout << line << "\n";
  return kExitOk;
}

// ---- audit prune ----------------------------------------------------------------------------

int PruneCommand(CliContext& ctx, const std::string& before_text) {
  const int64_t before = ParseTimeArg("--before", before_text, NowRealtimeNs());
  // A typo in the year (2099 for 2009) would remove the whole log: a time to come is a mistake.
  if (before > NowRealtimeNs())
    throw UsageError{"audit prune: --before " + OneLine(before_text) +
                     " is in the future; to remove every event, say --before now"};
  int exit_code = kExitOk;
  auto store = Open(ctx, "audit prune", exit_code);
  if (!store) return exit_code;
  auto key = store->AuditKey();
  if (!key) return CliContext::Fail("audit prune", key.status());
  // Pruning is how an operator frees a disk that the log filled: FreeingSpace gives it room.
  // Counted over both attempts: the first may commit steps and fail on a later one. In steps, so
  // the mount's durable accesses are not held for the whole prune. Each step that removes events
  // records this prune's event in its own transaction: killed between two steps, the prune has
  // still left who removed them (an event recorded only after the last step left none).
  uint64_t removed = 0;
  const audit::Event self = CliContext::CliEvent(audit::op::kAuditPrune);
  const Status done = CliContext::FreeingSpace(*store, [&]() -> Status {
    const Status pruned = audit::PruneInSteps(store->env(), *key, before,
                                              audit::kPruneEventsPerTransaction, removed, &self);
    if (pruned.ok() && removed > 0) return pruned;  // each step is on record
    // Nothing was due, or a step failed: that is recorded too, with what the run removed.
    audit::Event outcome = self;
    outcome.detail = audit::PruneDetail(
        before, pruned.ok() || removed > 0 ? std::optional(removed) : std::nullopt);
    SECRETFS_RETURN_IF_ERROR(CliContext::Record(*store, outcome, pruned));
    return pruned;
  });
  if (!done.ok()) return CliContext::Fail("audit prune", done);
  std::cout << "removed " << removed << " audit event" << (removed == 1 ? "" : "s")
            << " older than " << FormatTime(before) << "\n";
  return kExitOk;
}

// ---- audit readers --------------------------------------------------------------------------

std::string ReaderName(const audit::ReaderRow& r) {
  std::string who = UserLabel(r.uid);
  if (!r.exe.empty()) who += " " + FieldText(r.exe);
  if (!r.unit.empty()) who += " (" + FieldText(r.unit) + ")";
  return OneLine(who);
}

int ReadersCommand(CliContext& ctx, const std::string& text, bool json) {
  auto path = store::ParseSecretPath(text);
  if (!path) throw UsageError{path.status().message()};
  const std::string what = "audit readers " + path->text();
  int exit_code = kExitOk;
  auto store = Open(ctx, "audit readers", exit_code);
  if (!store) return exit_code;
  auto report = audit::Readers(*store, path->workspace, path->key);
  if (Status s = CliContext::Record(
          *store, CliContext::CliEvent("audit readers", path->workspace, path->key),
          report.status());
      !s.ok())
    return CliContext::Fail(what, s);
  if (!report) return CliContext::Fail(what, report.status());
  const audit::ReadersReport& r = *report;

  if (json) {
    nlohmann::json readers = nlohmann::json::array();
    for (const auto& row : r.readers) {
      const std::string& user = UserName(row.uid);
      readers.push_back({{"uid", row.uid},
                         {"user", user.empty() ? nlohmann::json(nullptr) : nlohmann::json(user)},
                         {"exe", row.exe},
                         {"unit", row.unit},
                         {"version", row.version},
                         {"last_read", FormatTime(row.last_read_ns, true)},
                         {"last_read_ns", row.last_read_ns},
                         {"reads", row.reads},
                         {"current", row.current}});
    }
    nlohmann::json out = {{"workspace", path->workspace},
                          {"key", path->key},
                          {"current_version", r.current_version},
                          {"current_written", FormatTime(r.current_written_ns, true)},
                          {"current_written_ns", r.current_written_ns},
                          {"readers", std::move(readers)}};
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }

  std::cout << path->text() << ": current version " << r.current_version << ", written "
            << FormatTime(r.current_written_ns) << "\n";
  if (r.readers.empty()) {
    std::cout << "no reads of " << path->text() << " are recorded\n";
    return kExitOk;
  }
  Table table({"UID", "EXE", "UNIT", "VERSION", "LAST READ", "READS", "CURRENT"});
  std::vector<std::string> behind;
  for (const auto& row : r.readers) {
    table.Add({UidText(row.uid), FieldText(row.exe), FieldText(row.unit),
               std::to_string(row.version), FormatTime(row.last_read_ns), std::to_string(row.reads),
               row.current ? "yes" : "no"});
    if (!row.current) behind.push_back(ReaderName(row));
  }
  table.Print(std::cout);
  if (behind.empty()) {
    std::cout << "every reader has read version " << r.current_version << " since it was written\n";
  } else {
    std::cout << "not read version " << r.current_version << " since it was written: ";
    for (size_t i = 0; i < behind.size(); ++i) std::cout << (i ? ", " : "") << behind[i];
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddAuditCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto q = std::make_shared<QueryArgs>();
  auto* audit_cmd = app.add_subcommand(
      "audit",
      "Show the audit log (filters combine), or verify, prune it, or list who read a secret");
  audit_cmd->add_option("W/K", q->path, "Only events of workspace W, or of secret W/K");
  audit_cmd->add_option("--since", q->since,
                        "Events at or after T: RFC 3339 (2026-11-22T10:00:00Z) or an age "
                        "(30s, 10m, 2h, 7d, 4w)");
  audit_cmd->add_option("--until", q->until, "Events before T (same forms as --since)");
  audit_cmd->add_option("--workspace", q->workspace, "Only events of workspace W");
  audit_cmd->add_option("--key", q->key,
                        "Only events of key K (after 'audit', give the key source as -k)");
  audit_cmd->add_option("--uid", q->uid, "Only events of uid U (a number or a user name)");
  audit_cmd->add_option("--op", q->op, "Only events of operation O (read, write, get, ...)");
  audit_cmd->add_flag("--json", q->json, "One JSON object per line");
  audit_cmd->add_flag("--follow", q->follow, "Keep printing new events until interrupted (Ctrl-C)");

  auto expect = std::make_shared<std::string>();
  auto* verify = audit_cmd->add_subcommand(
      "verify", "Check the whole hash chain; names the first broken event");
  verify->add_option("--expect", *expect,
                     "Also check that event SEQ still has MAC (SEQ:MAC, from an earlier verify)");
  auto reindex = std::make_shared<bool>(false);
  verify->add_flag("--reindex", *reindex,
                   "First rebuild the index by secret from the log (when verify reports it)");
  verify->callback([&ctx, &action, expect, reindex] {
    action = [&ctx, expect, reindex] { return VerifyCommand(ctx, *expect, *reindex); };
  });

  auto before = std::make_shared<std::string>();
  auto* prune = audit_cmd->add_subcommand(
      "prune", "Remove events older than T, keeping an anchor so the rest still verifies");
  prune->add_option("--before", *before, "RFC 3339 time or an age (90d, 4w, ...)")->required();
  prune->callback(
      [&ctx, &action, before] { action = [&ctx, before] { return PruneCommand(ctx, *before); }; });

  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* readers = audit_cmd->add_subcommand(
      "readers", "Which processes read which version of W/K, and who is behind");
  readers->add_option("W/K", *path, "Workspace and key")->required();
  readers->add_flag("--json", *json, "JSON output");
  readers->callback([&ctx, &action, path, json] {
    action = [&ctx, path, json] { return ReadersCommand(ctx, *path, *json); };
  });

  audit_cmd->callback([&ctx, &action, q, audit_cmd] {
    // A chosen subcommand (run first by CLI11) has set the action already.
    if (!audit_cmd->get_subcommands().empty()) return;
    action = [&ctx, q] { return QueryCommand(ctx, *q); };
  });
}

}  // namespace secretfs::cli
