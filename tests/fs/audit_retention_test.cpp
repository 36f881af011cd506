// How often the daemon prunes under audit_keep= (the pruning itself is tested on a real mount:
// tests/integration/audit_test.cpp).
#include "fs/audit_retention.h"

#include <gtest/gtest.h>

namespace secretfs::fs {
namespace {

using namespace std::chrono_literals;

TEST(AuditRetentionTest, PrunesEveryQuarterOfTheAgeFromASecondToAnHour) {
  EXPECT_EQ(AuditRetention::PeriodFor(2s), 1s);
  EXPECT_EQ(AuditRetention::PeriodFor(10s), 2500ms);
  EXPECT_EQ(AuditRetention::PeriodFor(2h), 30min);
  EXPECT_EQ(AuditRetention::PeriodFor(std::chrono::hours(24 * 90)), 1h);
}

}  // namespace
}  // namespace secretfs::fs
