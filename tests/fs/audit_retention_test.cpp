// How often the daemon prunes under audit_keep=, and that it prunes a long log in short
// transactions (the option on a real mount: tests/integration/audit_test.cpp).
#include "fs/audit_retention.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "tests/audit/audit_fixture.h"

namespace secretfs::fs {
namespace {

using namespace std::chrono_literals;

TEST(AuditRetentionTest, PrunesEveryQuarterOfTheAgeFromASecondToAnHour) {
  EXPECT_EQ(AuditRetention::PeriodFor(2s), 1s);
  EXPECT_EQ(AuditRetention::PeriodFor(10s), 2500ms);
  EXPECT_EQ(AuditRetention::PeriodFor(2h), 30min);
  EXPECT_EQ(AuditRetention::PeriodFor(std::chrono::hours(24 * 90)), 1h);
}

class AuditRetentionPruneTest : public audit_test::AuditTest {};

TEST_F(AuditRetentionPruneTest, ALogLongerThanOneTransactionsShareIsPrunedWholeInSeveral) {
  ASSERT_NO_FATAL_FAILURE(CreateStore());
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(25));
  const uint64_t commits_before = env().write_stats().commits;

  std::mutex mutex;
  std::condition_variable reported;
  uint64_t removed = 0;
  int reports = 0;
  {
    AuditRetention retention(
        env(), audit_key_.Clone(), 1h,
        [&](uint64_t n, int64_t) {
          std::lock_guard lock(mutex);
          removed += n;
          ++reports;
          reported.notify_all();
        },
        /*events_per_transaction=*/10);
    std::unique_lock lock(mutex);
    ASSERT_TRUE(reported.wait_for(lock, 10s, [&] { return reports > 0; }))
        << "the first prune, due at once, did not report";
  }
  // The newest event always stays: 24 go, in transactions of 10, 10 and 4, reported once.
  EXPECT_EQ(removed, 24u);
  EXPECT_EQ(reports, 1);
  EXPECT_EQ(env().write_stats().commits - commits_before, 3u);
  const auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_EQ(r.first_seq, 25u);
  EXPECT_EQ(r.last_seq, 25u);
}

}  // namespace
}  // namespace secretfs::fs
