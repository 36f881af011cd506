// LockedBudget: how much plaintext open files may hold, in all and per user.
#include "fs/locked_budget.h"

#include <gtest/gtest.h>

#include <utility>

namespace secretfs::fs {
namespace {

constexpr size_t kHandle = LockedBudget::kHandleBytes;

TEST(LockedBudgetTest, AUserGetsAQuarterOfTheTotalAndOthersStillGetTheirs) {
  LockedBudget budget(4 * 10 * kHandle);  // 10 handles' worth per user
  std::vector<LockedBudget::Claim> alice(10);
  for (auto& claim : alice) ASSERT_TRUE(budget.Take(1000, 0, claim));
  LockedBudget::Claim one_more;
  EXPECT_FALSE(budget.Take(1000, 0, one_more)) << "past alice's share";
  EXPECT_EQ(budget.claimed_by(1000), 10 * kHandle);

  LockedBudget::Claim bob;
  EXPECT_TRUE(budget.Take(1001, 0, bob)) << "bob's share is his own";

  alice.pop_back();  // a release gives its claim back
  EXPECT_TRUE(budget.Take(1000, 0, one_more));
}

TEST(LockedBudgetTest, TheTotalBoundsEveryoneTogether) {
  LockedBudget budget(4 * 2 * kHandle);  // 8 handles in all, 2 per user
  std::vector<LockedBudget::Claim> claims(8);
  for (uid_t uid = 0; uid < 4; ++uid) {
    ASSERT_TRUE(budget.Take(uid, 0, claims[2 * uid]));
    ASSERT_TRUE(budget.Take(uid, 0, claims[2 * uid + 1]));
  }
  LockedBudget::Claim fifth_user;
  EXPECT_FALSE(budget.Take(4, 0, fifth_user)) << "nothing is left for anybody";
  EXPECT_EQ(budget.claimed(), budget.total());
}

TEST(LockedBudgetTest, AClaimGrowsWithItsValueAndAClaimThatDoesNotFitChangesNothing) {
  LockedBudget budget(4 * 100 * kHandle);
  LockedBudget::Claim claim;
  ASSERT_TRUE(budget.Take(7, 10 * kHandle, claim));
  EXPECT_EQ(claim.covered(), 10 * kHandle);
  EXPECT_TRUE(claim.Cover(50 * kHandle));
  EXPECT_EQ(budget.claimed_by(7), 51 * kHandle);
  EXPECT_FALSE(claim.Cover(100 * kHandle)) << "past the share";
  EXPECT_EQ(claim.covered(), 50 * kHandle);
  EXPECT_EQ(budget.claimed_by(7), 51 * kHandle);

  LockedBudget::Claim too_big;
  EXPECT_FALSE(budget.Take(7, 100 * kHandle, too_big));
  EXPECT_EQ(too_big.covered(), 0u);
  EXPECT_EQ(budget.claimed_by(7), 51 * kHandle);

  LockedBudget::Claim moved = std::move(claim);  // the claim goes with the handle
  EXPECT_EQ(budget.claimed_by(7), 51 * kHandle);
  moved.Reset();
  EXPECT_EQ(budget.claimed(), 0u);
}

TEST(LockedBudgetTest, TheDefaultIsAnEighthOfMemoryFrom64MiBTo1GiB) {
  const size_t total = LockedBudget::DefaultTotal();
  EXPECT_GE(total, size_t{64} << 20);
  EXPECT_LE(total, size_t{1} << 30);
  EXPECT_EQ(LockedBudget(0).total(), total);
}

}  // namespace
}  // namespace secretfs::fs
