// Soft delete, undelete, rollback and destroy.
#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

class SecretHistoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
    for (const char* v : {"one", "two", "three"}) ASSERT_TRUE(Put("dev", "K", v).ok());
  }

  std::vector<uint64_t> Versions(const char* key) {
    std::vector<uint64_t> out;
    auto history = store_->History("dev", key);
    if (history.ok())
      for (const auto& v : *history) out.push_back(v.version);
    return out;
  }
};

TEST_F(SecretHistoryTest, SoftDeleteHidesTheSecretButKeepsItsVersions) {
  ASSERT_TRUE(store_->Remove("dev", "K", "alice").ok());
  EXPECT_EQ(ReadErrno("dev", "K"), ENOENT);
  EXPECT_EQ(Get("dev", "K", 1), "one");
  EXPECT_EQ(Get("dev", "K", 2), "two");
  EXPECT_EQ(Get("dev", "K", 3), "three");
  auto stat = store_->Stat("dev", "K");
  ASSERT_TRUE(stat.ok());
  EXPECT_TRUE(stat->record.deleted);
  EXPECT_GT(stat->record.deleted_ns, 0);
  EXPECT_EQ(stat->record.version, 3u);
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3}));
  // Deleting again: it is not live.
  EXPECT_EQ(store_->Remove("dev", "K", "alice").code(), ENOENT);
  EXPECT_EQ(store_->Remove("dev", "ABSENT", "alice").code(), ENOENT);
  // It stays deleted after a reopen.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadErrno("dev", "K"), ENOENT);
  EXPECT_EQ(Get("dev", "K", 2), "two");
}

TEST_F(SecretHistoryTest, PutAfterDeleteContinuesTheNumbering) {
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  auto written = Put("dev", "K", "four");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->version, 4u);
  EXPECT_TRUE(written->created);
  EXPECT_EQ(Get("dev", "K"), "four");
  EXPECT_EQ(Get("dev", "K", 3), "three");
  auto stat = store_->Stat("dev", "K");
  ASSERT_TRUE(stat.ok());
  EXPECT_FALSE(stat->record.deleted);
  EXPECT_GT(stat->record.deleted_ns, 0) << "when it was last deleted stays, to tell it apart";
}

TEST_F(SecretHistoryTest, PutOfTheSameValueAfterDeleteMakesItLiveAgain) {
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  auto written = Put("dev", "K", "three");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_FALSE(written->unchanged);
  EXPECT_EQ(written->version, 4u);
  EXPECT_EQ(Get("dev", "K"), "three");
}

TEST_F(SecretHistoryTest, UndeleteRestoresTheLatestVersion) {
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  ASSERT_TRUE(store_->Undelete("dev", "K", "x").ok());
  auto read = store_->Read("dev", "K");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->version, 3u);
  EXPECT_EQ(Text(read->value), "three");
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_FALSE(store_->Stat("dev", "K")->record.deleted);
  // Undeleting a live or missing secret.
  EXPECT_EQ(store_->Undelete("dev", "K", "x").code(), EINVAL);
  EXPECT_EQ(store_->Undelete("dev", "ABSENT", "x").code(), ENOENT);
}

TEST_F(SecretHistoryTest, RollbackMakesANewVersionWithTheOldValue) {
  auto rolled = store_->Rollback("dev", "K", 1, "bob");
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_EQ(rolled->version, 4u);
  EXPECT_FALSE(rolled->unchanged);
  EXPECT_EQ(Get("dev", "K"), "one");
  EXPECT_EQ(Get("dev", "K", 4), "one");
  EXPECT_EQ(Get("dev", "K", 1), "one");
  EXPECT_EQ(Get("dev", "K", 3), "three") << "history is not rewritten";
  auto stat = store_->Stat("dev", "K");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->record.version, 4u);
  EXPECT_EQ(stat->record.updated_by, "bob");
  EXPECT_EQ(stat->record.size, 3u);
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3, 4}));
}

TEST_F(SecretHistoryTest, RollbackToTheCurrentValueChangesNothing) {
  auto rolled = store_->Rollback("dev", "K", 3, "bob");
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_TRUE(rolled->unchanged);
  EXPECT_EQ(rolled->version, 3u);
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(SecretHistoryTest, RollbackOfADeletedSecretMakesItLive) {
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  auto rolled = store_->Rollback("dev", "K", 2, "x");
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_EQ(rolled->version, 4u);
  EXPECT_EQ(Get("dev", "K"), "two");
}

TEST_F(SecretHistoryTest, RollbackToAMissingVersionIsEnoent) {
  EXPECT_EQ(store_->Rollback("dev", "K", 9, "x").status().code(), ENOENT);
  EXPECT_EQ(store_->Rollback("dev", "ABSENT", 1, "x").status().code(), ENOENT);
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(SecretHistoryTest, DestroyOneVersion) {
  ASSERT_TRUE(store_->Destroy("dev", "K", 1).ok());
  EXPECT_EQ(ReadErrno("dev", "K", 1), ENOENT);
  EXPECT_EQ(Get("dev", "K", 2), "two");
  EXPECT_EQ(Get("dev", "K"), "three");
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(store_->Destroy("dev", "K", 1).code(), ENOENT);
  EXPECT_EQ(store_->Rollback("dev", "K", 1, "x").status().code(), ENOENT);
  // The numbering goes on past destroyed versions.
  auto written = Put("dev", "K", "four");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->version, 4u);
}

TEST_F(SecretHistoryTest, DestroyOfTheCurrentVersionIsEbusy) {
  EXPECT_EQ(store_->Destroy("dev", "K", 3).code(), EBUSY);
  EXPECT_EQ(Get("dev", "K"), "three");
  EXPECT_EQ(Versions("K"), (std::vector<uint64_t>{1, 2, 3}));
  // Also while the secret is deleted: version 3 is what undelete would restore.
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  EXPECT_EQ(store_->Destroy("dev", "K", 3).code(), EBUSY);
  ASSERT_TRUE(store_->Undelete("dev", "K", "x").ok());
  EXPECT_EQ(Get("dev", "K"), "three");
}

TEST_F(SecretHistoryTest, DestroyAllRemovesTheSecret) {
  ASSERT_TRUE(Put("dev", "OTHER", "stays").ok());
  ASSERT_TRUE(store_->Destroy("dev", "K", std::nullopt).ok());
  EXPECT_EQ(store_->Stat("dev", "K").status().code(), ENOENT);
  EXPECT_EQ(ReadErrno("dev", "K"), ENOENT);
  for (uint64_t v = 1; v <= 3; ++v) EXPECT_EQ(ReadErrno("dev", "K", v), ENOENT) << v;
  EXPECT_EQ(store_->History("dev", "K").status().code(), ENOENT);
  EXPECT_EQ(store_->Undelete("dev", "K", "x").code(), ENOENT);
  EXPECT_EQ(store_->Destroy("dev", "K", std::nullopt).code(), ENOENT);
  auto list = store_->List("dev");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, "OTHER");
  EXPECT_EQ(Get("dev", "OTHER"), "stays");

  // The key can be used again, as a new secret.
  auto written = Put("dev", "K", "reborn");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->version, 1u);
  EXPECT_TRUE(written->created);

  store_.reset();
  RawLmdb raw(dir_);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_EQ(raw.Count("versions", secretfs::store::VersionPrefix("dev", "K")), 1u);
}

TEST_F(SecretHistoryTest, DestroyAllOfADeletedSecret) {
  ASSERT_TRUE(store_->Remove("dev", "K", "x").ok());
  ASSERT_TRUE(store_->Destroy("dev", "K", std::nullopt).ok());
  EXPECT_EQ(store_->Stat("dev", "K").status().code(), ENOENT);
  EXPECT_EQ(ReadErrno("dev", "K", 1), ENOENT);
  EXPECT_TRUE(store_->DeleteWorkspace("dev", false).ok());
}
