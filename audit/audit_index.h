// The audit log's index by secret, so a query for one secret's events (`secretfs audit
// --workspace W --key K`, `audit readers W/K`) reads those events instead of the whole log.
//
// The store's audit_index table holds one empty entry per event: workspace \0 key \0 u64
// big-endian seq (an event without a workspace or key has them empty). It is derived from the
// log and carries no MAC; `audit verify` checks it against the log.
//
// Appends do not index: on the access path it doubled the pages a one-event durable commit
// writes (a fifth of durable read throughput), and batching it in the daemon grew the daemon's
// memory (LMDB keeps the dirty pages of its largest transaction). The index is brought up to
// date by the queries that read it (UpdateIndex), so every event up to the newest indexed one is
// indexed, and a query reads the index up to that event and the log after it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "audit/event.h"
#include "common/status.h"
#include "store/lmdb_env.h"

namespace secretfs::audit {

std::vector<uint8_t> IndexKey(std::string_view workspace, std::string_view key, uint64_t seq);
// The entries of one secret's events: workspace \0 key \0.
std::vector<uint8_t> IndexPrefix(std::string_view workspace, std::string_view key);

// Indexes every event after the newest indexed one, in one write transaction. Returns the number
// of events indexed; EIO if one does not decode.
Result<uint64_t> UpdateIndex(store::Env& env);

// Rebuilds the index from the log as it is (`audit verify --reindex`), in one write
// transaction. Returns the number of events indexed.
Result<uint64_t> Reindex(store::Env& env);

// The newest indexed event as `txn` sees the log (0 when none is), found by walking back from
// the newest event over the unindexed tail. A walk longer than `max_walk` events gives up and
// returns 0, which a query takes as "read the log" (`audit --follow` reads only the newest
// events, whose tail may have grown long since the index was last updated).
Result<uint64_t> IndexedThrough(const store::Txn& txn, uint64_t max_walk = UINT64_MAX);

}  // namespace secretfs::audit
