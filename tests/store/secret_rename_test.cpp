// Rename: what mv and editors that save by rename need (SPEC §4).
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::store::Naming;

class SecretRenameTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  }
};

TEST_F(SecretRenameTest, TargetGetsTheValueAndSourceIsSoftDeleted) {
  ASSERT_TRUE(Put("dev", "OLD", "v1").ok());
  ASSERT_TRUE(Put("dev", "OLD", "v2").ok());
  auto renamed = store_->Rename("dev", "OLD", "NEW", false, "alice");
  ASSERT_TRUE(renamed.ok()) << renamed.status().message();
  EXPECT_EQ(renamed->version, 1u);
  EXPECT_TRUE(renamed->created);
  EXPECT_EQ(Get("dev", "NEW"), "v2");
  EXPECT_EQ(ReadErrno("dev", "OLD"), ENOENT);
  EXPECT_EQ(Get("dev", "OLD", 2), "v2") << "the source's history stays";
  auto stat = store_->Stat("dev", "NEW");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->record.updated_by, "alice");
  EXPECT_EQ(stat->record.size, 2u);
}

TEST_F(SecretRenameTest, OverTheTopOfALiveTargetMakesANewVersion) {
  // sed -i: write a temporary file, rename it over the original.
  ASSERT_TRUE(Put("dev", "CONFIG", "old text").ok());
  ASSERT_TRUE(Put("dev", "sedAbc123", "new text").ok());
  auto renamed = store_->Rename("dev", "sedAbc123", "CONFIG", false, "x");
  ASSERT_TRUE(renamed.ok()) << renamed.status().message();
  EXPECT_EQ(renamed->version, 2u);
  EXPECT_EQ(Get("dev", "CONFIG"), "new text");
  EXPECT_EQ(Get("dev", "CONFIG", 1), "old text");
  EXPECT_EQ(ReadErrno("dev", "sedAbc123"), ENOENT);
}

// An equal value makes no version, as a write of it would; with even_if_unchanged (the caller
// may not read the target) it does, so the outcome tells nothing of the value.
TEST_F(SecretRenameTest, AnEqualValueMakesNoVersionUnlessAskedTo) {
  ASSERT_TRUE(Put("dev", "TARGET", "same").ok());
  ASSERT_TRUE(Put("dev", "COPY", "same").ok());
  auto quiet = store_->Rename("dev", "COPY", "TARGET", false, "x");
  ASSERT_TRUE(quiet.ok()) << quiet.status().message();
  EXPECT_EQ(quiet->version, 1u);
  EXPECT_TRUE(quiet->unchanged);
  ASSERT_TRUE(Put("dev", "COPY", "same").ok());
  auto versioned = store_->Rename("dev", "COPY", "TARGET", false, "x", /*even_if_unchanged=*/true);
  ASSERT_TRUE(versioned.ok()) << versioned.status().message();
  EXPECT_EQ(versioned->version, 2u);
  EXPECT_FALSE(versioned->unchanged);
  EXPECT_EQ(Get("dev", "TARGET"), "same");
}

TEST_F(SecretRenameTest, NoReplaceRefusesALiveTargetAndChangesNothing) {
  ASSERT_TRUE(Put("dev", "A", "a").ok());
  ASSERT_TRUE(Put("dev", "B", "b").ok());
  auto renamed = store_->Rename("dev", "A", "B", true, "x");
  ASSERT_FALSE(renamed.ok());
  EXPECT_EQ(renamed.status().code(), EEXIST);
  EXPECT_EQ(Get("dev", "A"), "a");
  EXPECT_EQ(Get("dev", "B"), "b");
  // A deleted target is not live: no-replace allows it, and its numbering continues.
  ASSERT_TRUE(store_->Remove("dev", "B", "x").ok());
  auto again = store_->Rename("dev", "A", "B", true, "x");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->version, 2u);
  EXPECT_EQ(Get("dev", "B"), "a");
}

TEST_F(SecretRenameTest, MissingOrDeletedSourceIsEnoent) {
  EXPECT_EQ(store_->Rename("dev", "ABSENT", "X", false, "x").status().code(), ENOENT);
  ASSERT_TRUE(Put("dev", "GONE", "v").ok());
  ASSERT_TRUE(store_->Remove("dev", "GONE", "x").ok());
  EXPECT_EQ(store_->Rename("dev", "GONE", "X", false, "x").status().code(), ENOENT);
  EXPECT_EQ(store_->Stat("dev", "X").status().code(), ENOENT);
}

TEST_F(SecretRenameTest, TargetNameRulesApply) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("app", Naming::kEnv));
  ASSERT_TRUE(Put("dev", "A", "a").ok());
  ASSERT_TRUE(Put("app", "DB_URL", "u").ok());
  EXPECT_EQ(store_->Rename("dev", "A", ".hidden", false, "x").status().code(), EINVAL);
  EXPECT_EQ(store_->Rename("dev", "A", "a/b", false, "x").status().code(), EINVAL);
  EXPECT_EQ(store_->Rename("app", "DB_URL", "db_url", false, "x").status().code(), EINVAL);
  EXPECT_EQ(Get("dev", "A"), "a");
  EXPECT_EQ(Get("app", "DB_URL"), "u");
}

TEST_F(SecretRenameTest, RenameToItselfChangesNothing) {
  ASSERT_TRUE(Put("dev", "A", "a").ok());
  auto renamed = store_->Rename("dev", "A", "A", false, "x");
  ASSERT_TRUE(renamed.ok()) << renamed.status().message();
  EXPECT_TRUE(renamed->unchanged);
  EXPECT_EQ(Get("dev", "A"), "a");
  auto history = store_->History("dev", "A");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 1u);
}
