#include "audit/audit_index.h"

namespace secretfs::audit {
namespace {

using store::Bytes;
using store::Db;

// The event stored as `value` (Encode(event) || mac), for its names.
Result<Event> NamesOf(uint64_t seq, Bytes value) {
  if (value.size() <= kMacBytes)
    return Status(EIO,
                  "audit event " + std::to_string(seq) + " is damaged; run secretfs audit verify");
  auto event = Decode(value.first(value.size() - kMacBytes));
  if (!event)
    return Status(
        EIO, "audit event " + std::to_string(seq) + " does not decode; run secretfs audit verify");
  return event;
}

bool Indexed(const store::Txn& txn, const Event& event) {
  Bytes unused;
  return txn.Get(Db::kAuditIndex, IndexKey(event.workspace, event.key, event.seq), unused).ok();
}

}  // namespace

std::vector<uint8_t> IndexPrefix(std::string_view workspace, std::string_view key) {
  std::vector<uint8_t> out;
  out.reserve(workspace.size() + key.size() + 2 + 8);
  out.insert(out.end(), workspace.begin(), workspace.end());
  out.push_back(0);
  out.insert(out.end(), key.begin(), key.end());
  out.push_back(0);
  return out;
}

std::vector<uint8_t> IndexKey(std::string_view workspace, std::string_view key, uint64_t seq) {
  std::vector<uint8_t> out = IndexPrefix(workspace, key);
  const std::vector<uint8_t> seq_key = SeqKey(seq);
  out.insert(out.end(), seq_key.begin(), seq_key.end());
  return out;
}

Status IndexEvent(store::Txn& txn, const Event& event) {
  return txn.Put(Db::kAuditIndex, IndexKey(event.workspace, event.key, event.seq), {});
}

Result<uint64_t> CatchUpIndex(store::Txn& txn, uint64_t newest_seq, Bytes newest) {
  if (newest_seq == 0) return uint64_t{0};
  auto last = NamesOf(newest_seq, newest);
  if (!last) return last.status();
  if (Indexed(txn, *last)) return uint64_t{0};  // the common case: one lookup
  // Walk back to the newest indexed event, collecting the ones after it; index them once the
  // walk's cursor is closed, so the transaction does not change under it.
  std::vector<Event> missing;
  Status bad;
  SECRETFS_RETURN_IF_ERROR(
      txn.ScanFrom(Db::kAudit, SeqKey(newest_seq), /*backward=*/true, [&](Bytes k, Bytes v) {
        if (k.size() != 8) {
          bad = Status(EIO, "a damaged key in the audit table");
          return false;
        }
        auto event = NamesOf(SeqOf(k), v);
        if (!event) {
          bad = event.status();
          return false;
        }
        if (Indexed(txn, *event)) return false;
        missing.push_back(std::move(*event));
        return true;
      }));
  SECRETFS_RETURN_IF_ERROR(bad);
  for (const Event& event : missing) SECRETFS_RETURN_IF_ERROR(IndexEvent(txn, event));
  return static_cast<uint64_t>(missing.size());
}

Result<bool> IndexComplete(const store::Txn& txn) {
  Result<bool> complete = true;  // an empty log is indexed
  SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, /*backward=*/true, [&](Bytes k, Bytes v) {
    if (k.size() != 8) {
      complete = Status(EIO, "a damaged key in the audit table");
      return false;
    }
    auto event = NamesOf(SeqOf(k), v);
    complete = event ? Result<bool>(Indexed(txn, *event)) : Result<bool>(event.status());
    return false;
  }));
  return complete;
}

}  // namespace secretfs::audit
