// Keeps the audit log to an age: with the mount option audit_keep=AGE the daemon, which holds the
// audit key, prunes events older than AGE, as journald's MaxRetentionSec keeps a journal from
// growing for ever. Every read is an event, so a busy mount's log otherwise grows without end
// (docs/operations.md). Off unless asked for: the events are evidence, and how long to keep them
// is the operator's decision.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "audit/audit_query.h"
#include "fs/periodic_thread.h"
#include "keyring/secure_buffer.h"
#include "store/lmdb_env.h"

namespace secretfs::fs {

class AuditRetention {
 public:
  // Called after each prune that removed events, with how many and the cut-off (UTC ns): the
  // daemon records the prune as an event of its own.
  using Pruned = std::function<void(uint64_t removed, int64_t before_ns)>;

  // Prunes at once, then every PeriodFor(keep), `events_per_transaction` events per write
  // transaction: durable accesses wait for the store's writer, and a first prune of a big old
  // log may remove millions.
  AuditRetention(store::Env& env, keyring::SecretBuffer audit_key, std::chrono::seconds keep,
                 Pruned pruned, uint64_t events_per_transaction = audit::kPruneEventsPerTransaction)
      : env_(env),
        key_(std::move(audit_key)),
        keep_(keep),
        pruned_(std::move(pruned)),
        events_per_transaction_(events_per_transaction),
        thread_(PeriodFor(keep), [this] { PruneOnce(); }) {}

  // A quarter of `keep`, from 1 second to 1 hour: an event outlives its age by at most that, and
  // each prune removes one period's events (a short write transaction), not a day's.
  static std::chrono::milliseconds PeriodFor(std::chrono::seconds keep);

 private:
  void PruneOnce();

  store::Env& env_;
  const keyring::SecretBuffer key_;
  const std::chrono::seconds keep_;
  const Pruned pruned_;
  const uint64_t events_per_transaction_;
  // A damaged log is not pruned (audit_query.h) and a full disk may refuse the commit; both
  // last, so a failure is logged when it begins and then once an hour, not every period.
  RecurringCondition failing_{std::chrono::hours(1)};
  PeriodicThread thread_;  // last: stopped before the rest goes
};

}  // namespace secretfs::fs
