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
  // What was removed before a failing step stays removed, and is reported.
  uint64_t removed = 0;
  const Status s = audit::PruneInSteps(env_, key_, before_ns, events_per_transaction_, removed);
  if (failing_.Due(!s.ok())) LogError("audit_keep: pruning the audit log", s);
  if (removed > 0) pruned_(removed, before_ns);
}

}  // namespace secretfs::fs
