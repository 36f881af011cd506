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

Result<uint64_t> IndexedThrough(const store::Txn& txn, uint64_t max_walk) {
  uint64_t through = 0;
  uint64_t walked = 0;
  Status bad;
  SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, {}, /*backward=*/true, [&](Bytes k, Bytes v) {
    if (k.size() != 8) {
      bad = Status(EIO, "a damaged key in the audit table");
      return false;
    }
    auto event = NamesOf(SeqOf(k), v);
    if (!event) {
      bad = event.status();
      return false;
    }
    if (!Indexed(txn, *event)) return ++walked < max_walk;
    through = event->seq;
    return false;
  }));
  SECRETFS_RETURN_IF_ERROR(bad);
  return through;
}

Result<uint64_t> UpdateIndex(store::Env& env) {
  // Indexed in chunks: the entries of one chunk are collected with the log's cursor open and
  // put once it is closed, so memory stays bounded for a log that was never indexed.
  constexpr size_t kChunk = 4096;
  uint64_t indexed = 0;
  SECRETFS_RETURN_IF_ERROR(env.Write([&](store::Txn& txn) -> Status {
    indexed = 0;  // the body may run again (map growth)
    auto through = IndexedThrough(txn);
    if (!through) return through.status();
    if (*through == UINT64_MAX) return Status::Ok();
    uint64_t next = *through + 1;
    for (bool more = true; more;) {
      more = false;
      std::vector<std::vector<uint8_t>> entries;
      Status bad;
      SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, SeqKey(next), false, [&](Bytes k, Bytes v) {
        if (entries.size() == kChunk) {
          more = true;
          return false;
        }
        if (k.size() != 8) {
          bad = Status(EIO, "a damaged key in the audit table; run secretfs audit verify");
          return false;
        }
        auto event = NamesOf(SeqOf(k), v);
        if (!event) {
          bad = event.status();
          return false;
        }
        entries.push_back(IndexKey(event->workspace, event->key, event->seq));
        next = event->seq + 1;
        return event->seq != UINT64_MAX;
      }));
      SECRETFS_RETURN_IF_ERROR(bad);
      for (const auto& entry : entries)
        SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kAuditIndex, entry, {}));
      indexed += entries.size();
    }
    return Status::Ok();
  }));
  return indexed;
}

}  // namespace secretfs::audit
