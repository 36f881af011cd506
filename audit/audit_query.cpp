#include "audit/audit_query.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <tuple>

#include "audit/audit_index.h"
#include "audit/audit_log.h"
#include "common/byte_codec.h"
#include "common/text_format.h"

namespace secretfs::audit {
namespace {

using store::Bytes;
using store::Db;

// Query reads this many entries per read transaction, and calls `visit` outside it: a slow
// consumer (a pipe, --follow) never holds a snapshot of the store open for long.
constexpr size_t kQueryChunk = 4096;
// Verify reports progress every this many events.
constexpr uint64_t kProgressEvery = 4096;

Status RequireAuditKey(const keyring::SecretBuffer& key) {
  if (key.size() != kMacBytes)
    return Status(EINVAL, "the audit key must be " + std::to_string(kMacBytes) + " bytes");
  return Status::Ok();
}

std::string SeqText(uint64_t seq) { return std::to_string(seq); }

// Where the chain starts: the prune anchor's seq and MAC, or 0 and zeros.
struct ChainStart {
  bool anchored = false;
  Anchor anchor;
};
Result<ChainStart> LoadChainStart(const store::Txn& txn, const keyring::SecretBuffer& key) {
  ChainStart start;
  Bytes stored;
  const Status s = txn.Get(Db::kMeta, AsBytes(kAnchorKey), stored);
  if (s.code() == ENOENT) return start;
  if (!s.ok()) return s;
  start.anchored = true;
  auto anchor = DecodeAnchor(key.bytes(), stored);
  if (!anchor) return anchor.status();
  start.anchor = *anchor;
  return start;
}

// Checks one stored entry against the chain so far: that it is the event expected next, that
// its MAC continues `chain`, and that it decodes as itself. Returns the problem (empty when it
// verifies); `mac` and `event` are set when it verifies.
std::string CheckEntry(const keyring::SecretBuffer& key, const Mac& chain, uint64_t expected,
                       Bytes k, Bytes v, Mac& mac, Event& event) {
  if (k.size() != 8) return "a damaged key in the audit table";
  const uint64_t seq = SeqOf(k);
  if (seq > expected) {
    if (seq - expected == 1)
      return "event " + SeqText(expected) + " before it is missing (deleted)";
    return "events " + SeqText(expected) + ".." + SeqText(seq - 1) +
           " before it are missing (deleted)";
  }
  if (seq < expected)
    return "it is numbered before event " + SeqText(expected) +
           ", where the chain starts or continues: inserted or restored";
  if (v.size() <= kMacBytes) return "its record is damaged (too short to hold a MAC)";
  const Bytes encoded = v.first(v.size() - kMacBytes);
  mac = ChainMac(key.bytes(), chain, encoded);
  if (!SameMac(mac, v.subspan(encoded.size())))
    return "its MAC does not match: the event was edited, reordered or inserted";
  auto decoded = Decode(encoded);
  if (!decoded) return "it does not decode (" + decoded.status().message() + ")";
  if (decoded->seq != seq)
    return "its record holds event " + SeqText(decoded->seq) + " (moved or reordered)";
  event = std::move(*decoded);
  return {};
}

}  // namespace

bool Filter::Matches(const Event& event) const {
  if (event.seq <= after_seq) return false;
  if (since_ns && event.time_ns < *since_ns) return false;
  if (until_ns && event.time_ns >= *until_ns) return false;
  if (workspace && event.workspace != *workspace) return false;
  if (key && event.key != *key) return false;
  if (uid && event.uid != *uid) return false;
  if (op && event.op != *op) return false;
  return true;
}

namespace {

// An event a chunk found: one that matches the filter, or one that does not decode.
struct Found {
  uint64_t seq = 0;
  Result<Event> event;
};

// One chunk of a query for one secret's events, from the index, which holds every event up to
// `through`: the events numbered `next` or later, at most kQueryChunk of them. Once its entries
// up to `through` are read, `next` moves past `through`, to the tail of the log.
Status QueryChunkByIndex(const store::Txn& txn, const Filter& filter, uint64_t through,
                         uint64_t& next, std::vector<Found>& found, bool& more) {
  const std::vector<uint8_t> prefix = IndexPrefix(*filter.workspace, *filter.key);
  size_t scanned = 0;
  bool exhausted = true;
  SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(
      Db::kAuditIndex, IndexKey(*filter.workspace, *filter.key, next), false, [&](Bytes k, Bytes) {
        if (k.size() != prefix.size() + 8 || !std::equal(prefix.begin(), prefix.end(), k.begin()))
          return false;
        const uint64_t seq = SeqOf(k.last(8));
        if (seq > through) return false;
        if (scanned == kQueryChunk) {
          exhausted = false;
          return false;
        }
        ++scanned;
        Bytes v;
        // An entry whose event is gone is the index's damage, which verify reports; the log is
        // the record.
        if (txn.Get(Db::kAudit, SeqKey(seq), v).ok()) {
          auto event = DecodeStored(seq, v);
          if (!event || filter.Matches(*event)) found.push_back({seq, std::move(event)});
        }
        next = seq + 1;
        return true;
      }));
  if (exhausted) next = through + 1;
  more = true;
  return Status::Ok();
}

// One chunk of a query from the log itself.
Status QueryChunkByLog(const store::Txn& txn, const Filter& filter, uint64_t& next,
                       std::vector<Found>& found, bool& more) {
  size_t scanned = 0;
  Status bad;
  SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, SeqKey(next), false, [&](Bytes k, Bytes v) {
    if (scanned == kQueryChunk) {
      more = true;
      return false;
    }
    ++scanned;
    if (k.size() != 8) {
      bad = Status(EIO, "a damaged key in the audit table after event " + SeqText(next - 1));
      return false;
    }
    const uint64_t seq = SeqOf(k);
    auto event = DecodeStored(seq, v);
    if (!event || filter.Matches(*event)) found.push_back({seq, std::move(event)});
    if (seq == UINT64_MAX) return false;
    next = seq + 1;
    return true;
  }));
  return bad;
}

}  // namespace

Status Query(store::Env& env, const Filter& filter, const std::function<bool(const Event&)>& visit,
             const std::function<void(uint64_t, const Status&)>& damaged) {
  if (filter.after_seq == UINT64_MAX) return Status::Ok();
  uint64_t next = filter.after_seq + 1;
  const bool one_secret = filter.workspace && filter.key;
  for (;;) {
    std::vector<Found> found;
    bool more = false;
    SECRETFS_RETURN_IF_ERROR(env.Read([&](store::Txn& txn) -> Status {
      if (one_secret) {
        // Found in each chunk's snapshot: the log grows meanwhile.
        auto through = IndexedThrough(txn, kQueryChunk);
        if (!through) return through.status();
        if (next <= *through && *through != UINT64_MAX)
          return QueryChunkByIndex(txn, filter, *through, next, found, more);
      }
      return QueryChunkByLog(txn, filter, next, found, more);
    }));
    // Visited outside the read transaction: a slow consumer (a pipe, --follow) never holds a
    // snapshot of the store open for long.
    for (const Found& f : found) {
      if (!f.event) {
        if (!damaged) return f.event.status();
        damaged(f.seq, f.event.status());
      } else if (!visit(*f.event)) {
        return Status::Ok();
      }
    }
    if (!more) return Status::Ok();
  }
}

Result<VerifyResult> Verify(store::Env& env, const keyring::SecretBuffer& key,
                            const std::function<void(uint64_t, uint64_t)>& progress) {
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(key));
  VerifyResult result;
  Mac chain{};
  // One read transaction: the whole chain as of one moment.
  SECRETFS_RETURN_IF_ERROR(env.Read([&](store::Txn& txn) -> Status {
    const uint64_t total = txn.Entries(Db::kAudit);
    uint64_t expected = 1;
    auto start = LoadChainStart(txn, key);
    if (!start) {
      if (start.status().code() != EIO) return start.status();
      // The anchor does not verify: the chain after it cannot be trusted from its first event.
      result.anchored = true;
      result.problem = start.status().message();
      result.broken_seq = 0;
      Status s = txn.ScanFrom(Db::kAudit, {}, false, [&](Bytes k, Bytes) {
        if (k.size() == 8) result.broken_seq = SeqOf(k);
        return false;
      });
      return s;
    }
    if (start->anchored) {
      result.anchored = true;
      chain = start->anchor.mac;
      expected = start->anchor.seq + 1;
    }
    // The unindexed tail of the log (appended by durable commits, or an older secretfs) is not
    // damage: the next append that indexes catches up. Every event up to the newest indexed one
    // must have its entry, and no entry may name an event the log lacks.
    auto through = IndexedThrough(txn);
    uint64_t events_indexed = 0;  // events up to *through
    SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, false, [&](Bytes k, Bytes v) {
      Mac mac{};
      Event event;
      std::string problem = CheckEntry(key, chain, expected, k, v, mac, event);
      if (!problem.empty()) {
        result.broken_seq = k.size() == 8 ? SeqOf(k) : expected;
        result.problem = std::move(problem);
        return false;
      }
      if (result.events == 0) result.first_seq = event.seq;
      result.last_seq = event.seq;
      ++result.events;
      chain = mac;
      expected = event.seq + 1;
      Bytes unused;
      if (through.ok() && event.seq <= *through) {
        ++events_indexed;
        if (result.index_problem.empty() &&
            !txn.Get(Db::kAuditIndex, IndexKey(event.workspace, event.key, event.seq), unused).ok())
          result.index_problem = "event " + SeqText(event.seq) + " is missing from the audit index";
      }
      if (progress && result.events % kProgressEvery == 0)
        progress(result.events, std::max(total, result.events));
      return event.seq != UINT64_MAX;
    }));
    if (!through.ok()) {
      result.index_problem = through.status().message();
    } else if (!result.broken_seq && result.index_problem.empty() &&
               txn.Entries(Db::kAuditIndex) != events_indexed) {
      // More entries than events: one names an event the log no longer has. The chain cannot
      // show the newest events cut off; the index still names them. An event with their number
      // may be in the log again (appends number on from the newest event left), so an entry
      // names its event only if the log's event of that number is of the entry's secret.
      const uint64_t entries = txn.Entries(Db::kAuditIndex);
      SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAuditIndex, {}, false, [&](Bytes k, Bytes) {
        const uint64_t seq = k.size() >= 8 ? SeqOf(k.last(8)) : 0;
        Bytes v;
        if (k.size() >= 10 && txn.Get(Db::kAudit, SeqKey(seq), v).ok()) {
          // The chain verified, so the event decodes.
          auto event = DecodeStored(seq, v);
          if (event && std::ranges::equal(k, IndexKey(event->workspace, event->key, seq)))
            return true;
        }
        result.index_problem = "the audit index names event " + SeqText(seq) +
                               ", which the log lacks: events were removed from the log, or the "
                               "index was edited";
        return false;
      }));
      if (result.index_problem.empty())
        result.index_problem = "the audit index has " + std::to_string(entries) + " entries for " +
                               std::to_string(events_indexed) +
                               " indexed events: the index was edited";
    }
    return Status::Ok();
  }));
  if (progress && !result.broken_seq) progress(result.events, result.events);
  result.head_mac.assign(chain.begin(), chain.end());
  return result;
}

Result<uint64_t> Prune(store::Env& env, const keyring::SecretBuffer& key, int64_t before_ns,
                       uint64_t max_events, const Event* record) {
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(key));
  uint64_t removed = 0;
  SECRETFS_RETURN_IF_ERROR(env.Write([&](store::Txn& txn) -> Status {
    removed = 0;  // the body may run again (map growth)
    auto start = LoadChainStart(txn, key);
    if (!start) return start.status().Wrap("not pruning");
    Mac chain = start->anchored ? start->anchor.mac : Mac{};
    uint64_t expected = start->anchored ? start->anchor.seq + 1 : 1;

    uint64_t newest = 0;
    SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, true, [&](Bytes k, Bytes) {
      newest = SeqOf(k);
      return false;
    }));

    // Only events whose chain verifies are removed: pruning must not launder an edit or a
    // deletion into an anchor that verifies.
    std::vector<uint64_t> doomed;
    std::vector<std::vector<uint8_t>> doomed_entries;  // their index entries
    Anchor last;
    Status bad;
    SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, false, [&](Bytes k, Bytes v) {
      if (k.size() == 8 && SeqOf(k) >= newest) return false;  // the newest always stays
      if (doomed.size() >= max_events) return false;
      Mac mac{};
      Event event;
      const std::string problem = CheckEntry(key, chain, expected, k, v, mac, event);
      if (!problem.empty()) {
        bad = Status(EIO, "not pruning: event " + SeqText(k.size() == 8 ? SeqOf(k) : expected) +
                              " does not verify (" + problem + "); see secretfs audit verify");
        return false;
      }
      if (event.time_ns >= before_ns) return false;
      doomed.push_back(event.seq);
      doomed_entries.push_back(IndexKey(event.workspace, event.key, event.seq));
      last.seq = event.seq;
      last.mac = mac;
      chain = mac;
      expected = event.seq + 1;
      return true;
    }));
    SECRETFS_RETURN_IF_ERROR(bad);
    if (doomed.empty()) return Status::Ok();
    for (uint64_t seq : doomed) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kAudit, SeqKey(seq)));
    for (const auto& entry : doomed_entries) {
      const Status s = txn.Del(Db::kAuditIndex, entry);
      if (!s.ok() && s.code() != ENOENT) return s;  // not indexed yet: nothing to remove
    }
    SECRETFS_RETURN_IF_ERROR(
        txn.Put(Db::kMeta, AsBytes(kAnchorKey), EncodeAnchor(key.bytes(), last)));
    if (record != nullptr) {
      // In this transaction: a prune killed before the next step still left who removed these.
      Event self = *record;
      self.time_ns = 0;  // now: later than before_ns, so a later step stops at it
      self.detail = PruneDetail(before_ns, doomed.size());
      SECRETFS_RETURN_IF_ERROR(Append(txn, key, self));
    }
    removed = doomed.size();
    return Status::Ok();
  }));
  return removed;
}

Status PruneInSteps(store::Env& env, const keyring::SecretBuffer& key, int64_t before_ns,
                    uint64_t events_per_transaction, uint64_t& removed, const Event* record) {
  const uint64_t step = std::max<uint64_t>(events_per_transaction, 1);
  for (;;) {
    const Result<uint64_t> pruned = Prune(env, key, before_ns, step, record);
    if (!pruned) return pruned.status();
    removed += *pruned;
    if (*pruned < step) return Status::Ok();
    // LMDB's writer lock hands over to no one: released and taken again at once, it would stay
    // here, and another process's writer (a mount's durable accesses) would wait for every step.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string PruneDetail(int64_t before_ns, std::optional<uint64_t> removed) {
  return "before=" + FormatTime(before_ns, true) +
         (removed ? " removed=" + std::to_string(*removed) : "");
}

Result<LoggedVersions> HighestLoggedVersions(store::Env& env) {
  LoggedVersions highest;
  SECRETFS_RETURN_IF_ERROR(Query(env, {}, [&](const Event& e) {
    if (e.result != 0 || e.workspace.empty()) return true;
    if (e.origin == Origin::kCli && e.op == "workspace delete" && e.key.empty() &&
        e.detail == "purge") {
      // Every secret of the workspace is gone, with its numbering.
      for (auto it = highest.lower_bound({e.workspace, ""});
           it != highest.end() && it->first.first == e.workspace;)
        it = highest.erase(it);
      return true;
    }
    if (e.key.empty()) return true;
    // destroy W/K with every version leaves no record to fill the event's version from.
    if (e.origin == Origin::kCli && e.op == "destroy" && e.version == 0) {
      highest.erase({e.workspace, e.key});
      return true;
    }
    if (e.version == 0) return true;
    uint64_t& v = highest[{e.workspace, e.key}];
    v = std::max(v, e.version);
    return true;
  }));
  return highest;
}

Result<uint64_t> Rechain(store::Txn& txn, const keyring::SecretBuffer& old_key,
                         const keyring::SecretBuffer& new_key) {
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(old_key));
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(new_key));
  auto start = LoadChainStart(txn, old_key);
  if (!start) return start.status().Wrap("the audit log does not verify, so it was not re-keyed");
  Mac old_chain = start->anchored ? start->anchor.mac : Mac{};
  // The chain continues from the same value; only the MACs after it change.
  Mac new_chain = old_chain;
  uint64_t expected = start->anchored ? start->anchor.seq + 1 : 1;

  // Checked and re-MACed in memory first: the table must not change under its own cursor.
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> rewritten;
  Status bad;
  SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, false, [&](Bytes k, Bytes v) {
    Mac mac{};
    Event event;
    const std::string problem = CheckEntry(old_key, old_chain, expected, k, v, mac, event);
    if (!problem.empty()) {
      bad = Status(EIO, "audit event " + SeqText(k.size() == 8 ? SeqOf(k) : expected) +
                            " does not verify (" + problem +
                            "), so the audit log was not re-keyed; see secretfs audit verify");
      return false;
    }
    const Bytes encoded = v.first(v.size() - kMacBytes);
    new_chain = ChainMac(new_key.bytes(), new_chain, encoded);
    std::vector<uint8_t> value(encoded.begin(), encoded.end());
    value.insert(value.end(), new_chain.begin(), new_chain.end());
    rewritten.emplace_back(event.seq, std::move(value));
    old_chain = mac;
    expected = event.seq + 1;
    return event.seq != UINT64_MAX;
  }));
  SECRETFS_RETURN_IF_ERROR(bad);
  for (const auto& [seq, value] : rewritten)
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kAudit, SeqKey(seq), value));
  if (start->anchored)
    SECRETFS_RETURN_IF_ERROR(
        txn.Put(Db::kMeta, AsBytes(kAnchorKey), EncodeAnchor(new_key.bytes(), start->anchor)));
  SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kKeyCheckKey), KeyCheck(new_key.bytes())));
  return static_cast<uint64_t>(rewritten.size());
}

Result<ReadersReport> Readers(store::SecretStore& store, const std::string& workspace,
                              const std::string& key) {
  auto info = store.Stat(workspace, key);
  if (!info) return info.status();
  ReadersReport report;
  report.current_version = info->record.version;
  report.current_written_ns = info->record.updated_ns;

  // Query reads this secret's events through the audit index, once it is up to date. If it
  // cannot be brought up to date (a full disk), Query reads the log after its newest entry.
  (void)UpdateIndex(store.env());
  std::map<std::tuple<uint32_t, std::string, std::string>, ReaderRow> rows;
  Filter filter;
  filter.workspace = workspace;
  filter.key = key;
  SECRETFS_RETURN_IF_ERROR(Query(store.env(), filter, [&](const Event& e) {
    const bool read = e.op == op::kRead || e.op == op::kVersionRead ||
                      (e.origin == Origin::kCli && e.op == "get");
    if (!read || e.result != 0) return true;
    ReaderRow& row = rows[{e.uid, e.exe, e.unit}];
    if (row.reads == 0) {
      row.uid = e.uid;
      row.exe = e.exe;
      row.unit = e.unit;
    }
    ++row.reads;
    row.version = std::max(row.version, e.version);
    row.last_read_ns = std::max(row.last_read_ns, e.time_ns);
    if (e.version == report.current_version && e.time_ns >= report.current_written_ns)
      row.current = true;
    return true;
  }));
  for (auto& [who, row] : rows) report.readers.push_back(std::move(row));
  return report;
}

}  // namespace secretfs::audit
