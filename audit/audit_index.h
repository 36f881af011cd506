// The audit log's index by secret, so a query for one secret's events (`secretfs audit
// --workspace W --key K`, `audit readers W/K`) reads those events instead of the whole log.
//
// The store's audit_index table holds one empty entry per event: workspace \0 key \0 u64
// big-endian seq (an event without a workspace or key has them empty). It is derived from the
// log and carries no MAC; `audit verify` checks it against the log.
//
// Every append indexes its event, after first indexing any events the log holds that the index
// lacks: those of a store made before the index existed, or appended meanwhile by an older
// secretfs that does not know the index. So "the newest event is indexed" means "every event is
// indexed", and a query that finds the newest event unindexed falls back to reading the log.
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

// Indexes every event after the newest indexed one. `newest_seq` and `newest` are the log's last
// entry (seq 0 for an empty log). Returns the number of events indexed; EIO if one does not decode.
Result<uint64_t> CatchUpIndex(store::Txn& txn, uint64_t newest_seq, store::Bytes newest);

// Indexes one event, appended in `txn`.
Status IndexEvent(store::Txn& txn, const Event& event);

// Whether the index covers the whole log as `txn` sees it.
Result<bool> IndexComplete(const store::Txn& txn);

}  // namespace secretfs::audit
