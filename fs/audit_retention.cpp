#include "fs/audit_retention.h"

#include <algorithm>

#include "audit/audit_query.h"
#include "fs/log.h"

namespace secretfs::fs {

std::chrono::milliseconds AuditRetention::PeriodFor(std::chrono::seconds keep) {
  const std::chrono::milliseconds quarter = std::chrono::milliseconds(keep) / 4;
  return std::clamp<std::chrono::milliseconds>(quarter, std::chrono::seconds(1),
                                               std::chrono::hours(1));
}

void AuditRetention::PruneOnce() {
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t before_ns =
      now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(keep_).count();
  // Transaction by transaction, each leaving a log that verifies; what was removed before a
  // failure stays removed and is reported.
  uint64_t total = 0;
  Result<uint64_t> removed = uint64_t{0};
  do {
    removed = audit::Prune(env_, key_, before_ns, events_per_transaction_);
    if (removed.ok()) total += *removed;
  } while (removed.ok() && *removed == events_per_transaction_);
  if (failing_.Due(!removed.ok())) LogError("audit_keep: pruning the audit log", removed.status());
  if (total > 0) pruned_(total, before_ns);
}

}  // namespace secretfs::fs
