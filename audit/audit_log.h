// The audit log writer (SPEC §6): appends chained events, durably with group commit, or
// buffered.
//
// Durable (default): Record returns once the event is committed. Callers that arrive while a
// commit is running wait and share the next one: one leader takes every event queued at that
// moment and commits them in one LMDB transaction, so throughput grows with concurrency.
// Buffered: Record queues the event and returns; a flusher commits the queue every flush_ms.
// Fail-closed in both: Record returns EIO when the event cannot be committed (durable), or while
// the last flush failed and none has succeeded since (buffered); the caller then fails the access.
//
// Changes (writes) do not use Record: Join puts their event in the change's own transaction.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/event.h"
#include "common/status.h"
#include "keyring/secure_buffer.h"
#include "store/group_commit.h"
#include "store/lmdb_env.h"

namespace secretfs::audit {

enum class Mode { kDurable, kBuffered };

struct LogOptions {
  Mode mode = Mode::kDurable;
  int flush_ms = 50;     // buffered mode: the longest an event waits for its commit
  bool journal = false;  // also send each event to the systemd journal once it is committed
};

struct LogStats {
  uint64_t commits = 0;  // LMDB transactions that carried events (Record's, not Join's)
  uint64_t events = 0;   // events those commits carried
};

// Appends `event` to the chain inside write transaction `txn`: gives it the next sequence number
// (and the current time when time_ns is 0) and its MAC chained from the last event in the table.
// `event` is updated with its seq and time.
Status Append(store::Txn& txn, const keyring::SecretBuffer& key, Event& event);

class AuditLog {
 public:
  // `key` is SecretStore::AuditKey().
  AuditLog(store::Env& env, keyring::SecretBuffer key, LogOptions options = {});
  ~AuditLog();  // commits what is still buffered
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Records one access; see the class comment. EIO (naming the cause) when it cannot be recorded.
  Status Record(Event event);
  // For a change made through the store while the returned scope lives: appends `event` inside
  // that change's write transaction, so both are committed or neither. When event.version is 0
  // and event.key is set, it is filled from the secret's record as the change left it. Only the
  // next change this thread commits through the store joins (scope->ran() tells whether one did);
  // a change that fails records nothing, so the caller records its failure with Record. The
  // scope must end on the thread that made it, before this AuditLog is destroyed.
  std::unique_ptr<store::ScopedCommitHook> Join(Event event);
  // Commits what is buffered now (buffered mode); Ok at once in durable mode.
  Status Flush();

  LogStats stats() const;
  const LogOptions& options() const { return options_; }

 private:
  struct Pending;
  Status CommitBatch(const std::vector<Pending*>& batch);
  void Journal(const std::vector<Pending*>& batch) const;
  // Append's checks (key size, key still the chain's), made once per transaction.
  Status RequireKeyInUse(store::Txn& txn) const;
  void FlusherLoop();

  store::Env& env_;
  const keyring::SecretBuffer key_;
  const Mac key_check_;  // KeyCheck(key_), computed once rather than per event
  const LogOptions options_;

  store::GroupCommit<Pending> durable_;  // durable mode: Record's group commit

  // Buffered mode:
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Pending*> queue_;  // events waiting for their commit, owned
  bool flushing_ = false;        // a flush is committing a batch
  bool failing_ = false;         // the last flush failed
  std::string failure_;          // why
  bool stopping_ = false;
  LogStats stats_;
  std::thread flusher_;
};

}  // namespace secretfs::audit
