#include "audit/audit_index.h"

namespace secretfs::audit {
namespace {

using store::Bytes;
using store::Db;

// Index work is done in chunks: keys are collected with a cursor open and the table changed
// once it is closed, so memory stays bounded however long the log is.
constexpr size_t kChunk = 4096;

// The event of one audit table entry; nullopt for an event that does not decode, which the
// index leaves out (it cannot say which secret it was about) and queries report in its place.
Result<std::optional<Event>> EntryEvent(Bytes k, Bytes v) {
  if (k.size() != 8)
    return Status(EIO, "a damaged key in the audit table; run secretfs audit verify");
  auto event = DecodeStored(SeqOf(k), v);
  if (!event) return std::optional<Event>();
  return std::optional<Event>(std::move(*event));
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
    auto event = EntryEvent(k, v);
    if (!event) {
      bad = event.status();
      return false;
    }
    if (!*event || !Indexed(txn, **event)) return ++walked < max_walk;
    through = (*event)->seq;
    return false;
  }));
  SECRETFS_RETURN_IF_ERROR(bad);
  return through;
}

namespace {

// Indexes the events numbered `next` or later; adds their number to `indexed`.
Status IndexFrom(store::Txn& txn, uint64_t next, uint64_t& indexed) {
  for (bool more = true; more;) {
    more = false;
    std::vector<std::vector<uint8_t>> entries;
    Status bad;
    SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAudit, SeqKey(next), false, [&](Bytes k, Bytes v) {
      if (entries.size() == kChunk) {
        more = true;
        return false;
      }
      auto event = EntryEvent(k, v);
      if (!event) {
        bad = event.status();
        return false;
      }
      const uint64_t seq = SeqOf(k);
      if (*event) entries.push_back(IndexKey((*event)->workspace, (*event)->key, seq));
      next = seq + 1;
      return seq != UINT64_MAX;
    }));
    SECRETFS_RETURN_IF_ERROR(bad);
    for (const auto& entry : entries) SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kAuditIndex, entry, {}));
    indexed += entries.size();
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> UpdateIndex(store::Env& env) {
  uint64_t indexed = 0;
  SECRETFS_RETURN_IF_ERROR(env.Write([&](store::Txn& txn) -> Status {
    indexed = 0;  // the body may run again (map growth)
    auto through = IndexedThrough(txn);
    if (!through) return through.status();
    if (*through == UINT64_MAX) return Status::Ok();
    return IndexFrom(txn, *through + 1, indexed);
  }));
  return indexed;
}

Result<uint64_t> Reindex(store::Env& env) {
  uint64_t indexed = 0;
  SECRETFS_RETURN_IF_ERROR(env.Write([&](store::Txn& txn) -> Status {
    indexed = 0;  // the body may run again (map growth)
    for (bool more = true; more;) {
      std::vector<std::vector<uint8_t>> stale;
      SECRETFS_RETURN_IF_ERROR(txn.ScanFrom(Db::kAuditIndex, {}, false, [&](Bytes k, Bytes) {
        stale.emplace_back(k.begin(), k.end());
        return stale.size() < kChunk;
      }));
      for (const auto& entry : stale) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kAuditIndex, entry));
      more = stale.size() == kChunk;
    }
    return IndexFrom(txn, 1, indexed);
  }));
  return indexed;
}

}  // namespace secretfs::audit
