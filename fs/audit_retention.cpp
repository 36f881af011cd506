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
  const Result<uint64_t> removed = audit::Prune(env_, key_, before_ns);
  if (!removed.ok()) {
    // A damaged log is not pruned (audit_query.h) and a full disk may refuse the commit; both
    // persist, so say it when it starts and then once an hour, not every period.
    const auto now = std::chrono::steady_clock::now();
    if (!failed_before_ || now - error_logged_ >= std::chrono::hours(1)) {
      LogError("audit_keep: pruning the audit log", removed.status());
      error_logged_ = now;
    }
    failed_before_ = true;
    return;
  }
  failed_before_ = false;
  if (*removed > 0) pruned_(*removed, before_ns);
}

}  // namespace secretfs::fs
