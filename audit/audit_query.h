// Reading the audit log: queries, chain verification, pruning, and who read what (SPEC §6).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/event.h"
#include "common/status.h"
#include "keyring/secure_buffer.h"
#include "store/secret_store.h"

namespace secretfs::audit {

struct Filter {
  std::optional<int64_t> since_ns;  // time_ns >= since
  std::optional<int64_t> until_ns;  // time_ns < until
  std::optional<std::string> workspace;
  std::optional<std::string> key;
  std::optional<uint32_t> uid;
  std::optional<std::string> op;
  uint64_t after_seq = 0;  // only events with seq > after_seq (for --follow)

  bool Matches(const Event& event) const;
};

// Calls `visit` for each event matching `filter`, oldest first, until it returns false. An event
// that does not decode (verify names it) goes to `damaged`, in its place among the others, and
// the query goes on: one damaged event must not hide the rest of the log. Without `damaged`, it
// ends the query with EIO. Which secret a damaged event was about is unknown: a query for one
// secret reads its events through the index, and reports those damaged after they were indexed;
// one damaged before is left out of the index, and only a query of the whole log reports it.
Status Query(store::Env& env, const Filter& filter, const std::function<bool(const Event&)>& visit,
             const std::function<void(uint64_t, const Status&)>& damaged = {});

struct VerifyResult {
  uint64_t events = 0;     // events checked
  uint64_t first_seq = 0;  // 0 when the log is empty
  uint64_t last_seq = 0;
  bool anchored = false;          // the chain starts at a prune anchor
  std::vector<uint8_t> head_mac;  // the last event's MAC: note it elsewhere to detect truncation
  // The first event that does not verify (edited, reordered, a gap where one was deleted, or a
  // record that does not decode), and why. Empty when the whole chain verifies.
  std::optional<uint64_t> broken_seq;
  std::string problem;
  // What is wrong with the index by secret (audit_index.h), which queries for one secret read;
  // empty when it matches the log. The log itself may still verify.
  std::string index_problem;
};

// Checks the whole chain with the audit key. `progress`, when set, is called as (done, total).
Result<VerifyResult> Verify(store::Env& env, const keyring::SecretBuffer& key,
                            const std::function<void(uint64_t, uint64_t)>& progress = {});

// Removes every event older than `before_ns` and records an anchor (the last removed event's seq
// and MAC, itself MACed with the audit key) so the remaining chain still verifies. Returns the
// number of events removed. The newest event is never removed.
// At most the `max_events` oldest go, in one write transaction: a prune of a million events
// holds the store's writer for seconds, and every durable access waits for that writer. The
// log is whole after each call; call again while it returns `max_events`.
// `record`, when given, is the prune's own event (op `audit prune`, who ran it): when this call
// removes events, a copy of it with detail PruneDetail(before_ns, removed) is appended to the
// chain in the same transaction, so no event leaves the log without a record of who removed it,
// also when the process is killed right after (the appended event is newer than `before_ns` and
// is itself never removed by the same prune).
Result<uint64_t> Prune(store::Env& env, const keyring::SecretBuffer& key, int64_t before_ns,
                       uint64_t max_events = UINT64_MAX, const Event* record = nullptr);
// What one prune step removes at most (about 10 ms of the store's writer here). It also keeps a
// prune of a log of millions of events below LMDB's limit of pages one transaction may change.
inline constexpr uint64_t kPruneEventsPerTransaction = 10'000;
// Prune, one transaction of at most `events_per_transaction` after another, until no event older
// than `before_ns` is left or a step fails. `removed` adds up what the steps removed, also when
// a later step failed (those stay removed, and the log verifies). `record` as in Prune: each step
// that removes events records its own `audit prune` event, with that step's count.
Status PruneInSteps(store::Env& env, const keyring::SecretBuffer& key, int64_t before_ns,
                    uint64_t events_per_transaction, uint64_t& removed,
                    const Event* record = nullptr);
// The detail of a prune's own event, by the CLI or the daemon: "before=T removed=N" (no removed=
// when a prune failed before removing anything).
std::string PruneDetail(int64_t before_ns, std::optional<uint64_t> removed);

// The highest version of each secret (workspace, key) that a successful event of the log names:
// a write, a read, a rollback ... of that version. A secret's current version below it was set
// back (its record restored from an older copy of data.mdb) after the log recorded the newer one;
// `secretfs verify` compares. A secret destroyed whole (`destroy W/K`) and the secrets of a purged
// workspace start again from version 1, so the log's versions before that are forgotten. The
// events are read as stored, not verified (`audit verify` does that); a pruned log gives lower
// bounds.
using LoggedVersions = std::map<std::pair<std::string, std::string>, uint64_t>;
Result<LoggedVersions> HighestLoggedVersions(store::Env& env);

// Re-keys the chain inside write transaction `txn` (`keyring rotate`, whose new master key
// derives a new audit key): checks every event and the prune anchor with `old_key`, then MACs
// them again with `new_key` and records new_key's KeyCheck. Refuses (EIO, nothing changed) when
// the chain does not verify: re-MACing would launder an edit into a chain that verifies. Returns
// the number of events re-MACed.
Result<uint64_t> Rechain(store::Txn& txn, const keyring::SecretBuffer& old_key,
                         const keyring::SecretBuffer& new_key);

// `audit readers W/K`: which processes read which version, and who has not read the current
// version since it was written.
struct ReaderRow {
  uint32_t uid = 0;
  std::string exe;
  std::string unit;
  uint64_t version = 0;  // the newest version this reader read
  int64_t last_read_ns = 0;
  uint64_t reads = 0;
  bool current = false;  // read the current version after it was written
};
struct ReadersReport {
  uint64_t current_version = 0;
  int64_t current_written_ns = 0;
  std::vector<ReaderRow> readers;  // one row per (uid, exe, unit)
};
Result<ReadersReport> Readers(store::SecretStore& store, const std::string& workspace,
                              const std::string& key);

}  // namespace secretfs::audit
