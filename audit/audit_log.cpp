#include "audit/audit_log.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>

#include "audit/journal.h"
#include "common/byte_codec.h"
#include "store/schema.h"

namespace secretfs::audit {
namespace {

// Buffered mode holds at most this many events waiting for their commit; past it, Record fails
// (closed) instead of letting memory grow while the store is stuck.
constexpr size_t kMaxBufferedEvents = 100'000;
// ... and wakes the flusher before flush_ms has passed once this many are waiting.
constexpr size_t kEarlyFlushEvents = 4096;

int64_t RealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Status RequireAuditKey(const keyring::SecretBuffer& key) {
  if (key.size() != kMacBytes)
    return Status(EINVAL, "the audit key must be " + std::to_string(kMacBytes) + " bytes");
  return Status::Ok();
}

// Refuses to append with a key other than the one the chain is keyed with now (this process
// unlocked the store before `keyring rotate`); the first append of a store records the check.
// `check` is KeyCheck(key), computed once by whoever holds the key.
Status RequireCurrentKey(store::Txn& txn, const Mac& check) {
  store::Bytes stored;
  const Status s = txn.Get(store::Db::kMeta, AsBytes(kKeyCheckKey), stored);
  if (s.code() == ENOENT) return txn.Put(store::Db::kMeta, AsBytes(kKeyCheckKey), check);
  SECRETFS_RETURN_IF_ERROR(s);
  if (!SameMac(check, stored))
    return Status(EIO,
                  "the store's master key was rotated after this process unlocked it (secretfs "
                  "keyring rotate): remount, or run the command again");
  return Status::Ok();
}

}  // namespace

struct AuditLog::Pending {
  Event event;
  Status result;
};

namespace {

// Append without its checks: for callers that made them once for a whole transaction.
Status AppendToChain(store::Txn& txn, const keyring::SecretBuffer& key, Event& event) {
  uint64_t last_seq = 0;
  Mac prev{};
  bool found = false;
  Status damaged;
  SECRETFS_RETURN_IF_ERROR(
      txn.ScanFrom(store::Db::kAudit, {}, /*backward=*/true, [&](store::Bytes k, store::Bytes v) {
        found = true;
        if (k.size() != 8 || v.size() <= kMacBytes) {
          damaged = Status(EIO, "the newest audit event is damaged; run secretfs audit verify");
        } else {
          last_seq = SeqOf(k);
          std::copy(v.end() - kMacBytes, v.end(), prev.begin());
        }
        return false;  // the last one is all we need
      }));
  SECRETFS_RETURN_IF_ERROR(damaged);
  if (!found) {
    // An empty table continues from the prune anchor, if there is one.
    store::Bytes stored;
    const Status s = txn.Get(store::Db::kMeta, AsBytes(kAnchorKey), stored);
    if (s.ok()) {
      auto anchor = DecodeAnchor(key.bytes(), stored);
      if (!anchor) return anchor.status();
      last_seq = anchor->seq;
      prev = anchor->mac;
    } else if (s.code() != ENOENT) {
      return s;
    }
  }
  if (last_seq == UINT64_MAX) return Status(EOVERFLOW, "the audit log has run out of numbers");
  event.seq = last_seq + 1;
  if (event.time_ns == 0) event.time_ns = RealtimeNs();
  std::vector<uint8_t> value = Encode(event);
  const Mac mac = ChainMac(key.bytes(), prev, value);
  value.insert(value.end(), mac.begin(), mac.end());
  return txn.Put(store::Db::kAudit, SeqKey(event.seq), value);
}

}  // namespace

Status Append(store::Txn& txn, const keyring::SecretBuffer& key, Event& event) {
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(key));
  SECRETFS_RETURN_IF_ERROR(RequireCurrentKey(txn, KeyCheck(key.bytes())));
  return AppendToChain(txn, key, event);
}

AuditLog::AuditLog(store::Env& env, keyring::SecretBuffer key, LogOptions options)
    : env_(env),
      key_(std::move(key)),
      key_check_(key_.size() == kMacBytes ? KeyCheck(key_.bytes()) : Mac{}),
      options_(options) {
  if (options_.mode == Mode::kBuffered) flusher_ = std::thread([this] { FlusherLoop(); });
}

AuditLog::~AuditLog() {
  if (flusher_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    flusher_.join();  // it commits what is left before it ends
  }
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) {
    // The last flush failed; there is no caller left to fail. Say so (names no secret).
    std::fprintf(stderr, "secretfs: audit: %zu buffered event(s) could not be committed: %s\n",
                 queue_.size(), failure_.c_str());
  }
  for (Pending* p : queue_) delete p;  // buffered mode owns its queued events
  queue_.clear();
}

Status AuditLog::CommitBatch(const std::vector<Pending*>& batch) {
  Status s;
  try {
    // A caller may have a Join scope open on this thread; the batch's transaction is not the
    // change that scope waits for. A scope of our own, innermost, keeps its hook out of here.
    store::ScopedCommitHook shield(env_, [](store::Txn&) { return Status::Ok(); });
    s = env_.Write([&](store::Txn& txn) -> Status {
      SECRETFS_RETURN_IF_ERROR(RequireKeyInUse(txn));  // once for the whole batch
      for (Pending* p : batch) {
        Event event = p->event;  // the body may run again (map growth): append copies
        SECRETFS_RETURN_IF_ERROR(AppendToChain(txn, key_, event));
        p->event.seq = event.seq;  // the last run is the one committed
      }
      return Status::Ok();
    });
  } catch (const std::bad_alloc&) {
    s = Status(ENOMEM, "out of memory");
  }
  if (!s.ok()) return Status(EIO, "recording the audit event: " + s.message());
  Journal(batch);
  return s;
}

Status AuditLog::RequireKeyInUse(store::Txn& txn) const {
  SECRETFS_RETURN_IF_ERROR(RequireAuditKey(key_));
  return RequireCurrentKey(txn, key_check_);
}

void AuditLog::Journal(const std::vector<Pending*>& batch) const {
  if (!options_.journal) return;
  for (const Pending* p : batch) SendToJournal(p->event);
}

Status AuditLog::Record(Event event) {
  // The time of the access, not of its commit (which may come flush_ms later).
  if (event.time_ns == 0) event.time_ns = RealtimeNs();

  if (options_.mode == Mode::kBuffered) {
    std::lock_guard lock(mutex_);
    if (failing_) return Status(EIO, failure_);
    if (queue_.size() >= kMaxBufferedEvents)
      return Status(EIO, "recording the audit event: " + std::to_string(queue_.size()) +
                             " events already wait for their commit");
    auto pending = std::make_unique<Pending>();
    pending->event = std::move(event);
    queue_.push_back(pending.release());  // owned by the queue until committed
    if (queue_.size() >= kEarlyFlushEvents) wake_.notify_all();
    return Status::Ok();
  }

  // Durable: the event shares a commit with those of concurrent callers (group_commit.h).
  Pending self{std::move(event), Status::Ok()};
  durable_.Submit(self, [this](const std::vector<Pending*>& batch) -> size_t {
    const Status s = CommitBatch(batch);
    for (Pending* p : batch) p->result = s;
    return s.ok() ? batch.size() : 0;
  });
  return self.result;
}

std::unique_ptr<store::ScopedCommitHook> AuditLog::Join(Event event) {
  auto appended = std::make_shared<Event>();
  std::function<void()> committed;
  if (options_.journal) committed = [appended] { SendToJournal(*appended); };
  return std::make_unique<store::ScopedCommitHook>(
      env_,
      [this, event = std::move(event), appended](store::Txn& txn) -> Status {
        Event e = event;  // the hook may run more than once (map growth): keep ours intact
        if (e.version == 0 && !e.key.empty()) {
          store::Bytes stored;
          if (txn.Get(store::Db::kSecrets, store::SecretKey(e.workspace, e.key), stored).ok()) {
            auto record = store::SecretRecord::Decode(stored);
            if (record) e.version = record->version;
          }
        }
        Status s = RequireKeyInUse(txn);
        if (s.ok()) s = AppendToChain(txn, key_, e);
        SECRETFS_RETURN_IF_ERROR(s.Wrap("recording the audit event"));
        *appended = std::move(e);  // what this commit attempt stores
        return Status::Ok();
      },
      std::move(committed));
}

Status AuditLog::Flush() {
  if (options_.mode != Mode::kBuffered) return Status::Ok();
  std::unique_lock lock(mutex_);
  // One committer at a time keeps the events in the order they were recorded.
  wake_.wait(lock, [&] { return !flushing_; });
  if (queue_.empty()) {
    failing_ = false;
    failure_.clear();
    return Status::Ok();
  }
  flushing_ = true;
  std::vector<Pending*> batch;
  batch.swap(queue_);
  lock.unlock();
  const Status s = CommitBatch(batch);
  lock.lock();
  flushing_ = false;
  if (s.ok()) {
    ++stats_.commits;
    stats_.events += batch.size();
    for (Pending* p : batch) delete p;
    failing_ = false;
    failure_.clear();
  } else {
    // Keep them, in front of what arrived meanwhile, for the next round; refuse new events until
    // a flush succeeds.
    queue_.insert(queue_.begin(), batch.begin(), batch.end());
    failing_ = true;
    failure_ = s.message();
  }
  wake_.notify_all();
  return s;
}

void AuditLog::FlusherLoop() {
  const auto period = std::chrono::milliseconds(std::max(options_.flush_ms, 1));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period,
                   [&] { return stopping_ || (!failing_ && queue_.size() >= kEarlyFlushEvents); });
    lock.unlock();
    (void)Flush();  // a failure is kept in failing_/failure_ for Record to report
    lock.lock();
  }
  lock.unlock();
  (void)Flush();
}

LogStats AuditLog::stats() const {
  if (options_.mode == Mode::kDurable) {
    const store::GroupCommitStats stats = durable_.stats();
    return {stats.commits, stats.stored};
  }
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace secretfs::audit
