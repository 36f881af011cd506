// Version retention (SecretStore::SetKeepVersions): a workspace that keeps the last N versions of
// each secret erases older ones at each new version, and at once when N is lowered.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::store::Naming;
using secretfs::store::WorkspaceRecord;

class RetentionTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("other"));
  }

  std::vector<uint64_t> Versions(const char* workspace, const char* key) {
    std::vector<uint64_t> out;
    auto history = store_->History(workspace, key);
    if (history.ok())
      for (const auto& v : *history) out.push_back(v.version);
    return out;
  }

  void PutValues(const char* workspace, const char* key, int from, int to) {
    for (int i = from; i <= to; ++i) {
      auto written = Put(workspace, key, "value-" + std::to_string(i));
      ASSERT_TRUE(written.ok()) << written.status().message();
    }
  }

  size_t SetKeep(const char* workspace, uint32_t keep) {
    auto erased = store_->SetKeepVersions(workspace, keep);
    EXPECT_TRUE(erased.ok()) << erased.status().message();
    return erased.ok() ? *erased : 0;
  }
};

using V = std::vector<uint64_t>;

TEST_F(RetentionTest, ANewWorkspaceKeepsEveryVersion) {
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "K", 1, 12));
  EXPECT_EQ(Versions("dev", "K").size(), 12u);
  auto info = store_->GetWorkspace("dev");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->keep_versions, 0u);
}

TEST_F(RetentionTest, EachNewVersionErasesThoseBeyondTheLastN) {
  EXPECT_EQ(SetKeep("dev", 3), 0u);
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "K", 1, 5));
  EXPECT_EQ(Versions("dev", "K"), (V{3, 4, 5}));
  EXPECT_EQ(ReadErrno("dev", "K", 2), ENOENT);
  EXPECT_EQ(Get("dev", "K", 3), "value-3");
  EXPECT_EQ(Get("dev", "K"), "value-5");

  // The numbering goes on; an unchanged value makes no version and erases nothing.
  ASSERT_TRUE(Put("dev", "K", "value-5").ok());
  EXPECT_EQ(Versions("dev", "K"), (V{3, 4, 5}));
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "K", 6, 6));
  EXPECT_EQ(Versions("dev", "K"), (V{4, 5, 6}));

  // A rollback and a rename make new versions too.
  auto rolled = store_->Rollback("dev", "K", 4, "tester");
  ASSERT_TRUE(rolled.ok()) << rolled.status().message();
  EXPECT_EQ(Versions("dev", "K"), (V{5, 6, 7}));
  EXPECT_EQ(store_->Rollback("dev", "K", 4, "tester").status().code(), ENOENT)
      << "version 4 is gone";
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "T", 1, 3));
  ASSERT_TRUE(store_->Rename("dev", "K", "T", false, "tester").ok());
  EXPECT_EQ(Versions("dev", "T"), (V{2, 3, 4}));
  EXPECT_EQ(Get("dev", "T"), "value-4") << "K's value at version 7 was version 4's";

  // Other workspaces keep everything.
  ASSERT_NO_FATAL_FAILURE(PutValues("other", "K", 1, 5));
  EXPECT_EQ(Versions("other", "K").size(), 5u);
}

TEST_F(RetentionTest, LoweringTheLimitErasesAtOnceInEverySecretLiveOrDeleted) {
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "A", 1, 6));
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "B", 1, 2));
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "GONE", 1, 4));
  ASSERT_TRUE(store_->Remove("dev", "GONE", "tester").ok());
  ASSERT_NO_FATAL_FAILURE(PutValues("other", "A", 1, 6));

  EXPECT_EQ(SetKeep("dev", 2), 4u + 0u + 2u);
  EXPECT_EQ(Versions("dev", "A"), (V{5, 6}));
  EXPECT_EQ(Versions("dev", "B"), (V{1, 2}));
  EXPECT_EQ(Versions("dev", "GONE"), (V{3, 4}));
  EXPECT_EQ(ReadErrno("dev", "GONE"), ENOENT) << "still deleted";
  EXPECT_TRUE(store_->Undelete("dev", "GONE", "tester").ok());
  EXPECT_EQ(Get("dev", "GONE"), "value-4");
  EXPECT_EQ(Versions("other", "A").size(), 6u);

  // Raising it or going back to 0 erases nothing and brings nothing back.
  EXPECT_EQ(SetKeep("dev", 5), 0u);
  EXPECT_EQ(SetKeep("dev", 0), 0u);
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "A", 7, 10));
  EXPECT_EQ(Versions("dev", "A"), (V{5, 6, 7, 8, 9, 10}));
  auto verified = store_->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->problems.empty());
}

TEST_F(RetentionTest, TheCurrentVersionStaysWithAManualDestroyInTheWay) {
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "K", 1, 4));
  ASSERT_TRUE(store_->Destroy("dev", "K", 3).ok());
  EXPECT_EQ(SetKeep("dev", 1), 2u);  // 1 and 2; 3 was destroyed already
  EXPECT_EQ(Versions("dev", "K"), (V{4}));
  EXPECT_EQ(Get("dev", "K"), "value-4");
}

TEST_F(RetentionTest, TheSettingLastsAndSurvivesARekeyAndAKeyRotation) {
  SetKeep("dev", 2);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_TRUE(store_->RekeyWorkspace("dev", {}).ok());
  ASSERT_TRUE(store_->RotateMasterKey(Key(), {}).ok());
  auto list = store_->ListWorkspaces();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "dev");
  EXPECT_EQ((*list)[0].keep_versions, 2u);
  EXPECT_EQ((*list)[1].keep_versions, 0u);
  ASSERT_NO_FATAL_FAILURE(PutValues("dev", "K", 1, 3));
  EXPECT_EQ(Versions("dev", "K"), (V{2, 3}));
}

TEST_F(RetentionTest, AnAbsentWorkspaceIsNamed) {
  auto r = store_->SetKeepVersions("nope", 3);
  EXPECT_EQ(r.status().code(), ENOENT);
  EXPECT_NE(r.status().message().find("workspace nope does not exist"), std::string::npos);
}

TEST(WorkspaceRecordTest, KeepVersionsRoundTripsAndAFormat1RecordKeepsEveryVersion) {
  WorkspaceRecord rec;
  rec.naming = Naming::kEnv;
  rec.created_ns = 1234;
  rec.key_generation = 7;
  rec.wrapped_key = {1, 2, 3};
  rec.keep_versions = 10;
  auto decoded = WorkspaceRecord::Decode(rec.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->keep_versions, 10u);
  EXPECT_EQ(decoded->key_generation, 7u);
  EXPECT_EQ(decoded->wrapped_key, rec.wrapped_key);

  // Format 1, as stores of formats 1 and 2 hold: the same fields without keep_versions.
  std::vector<uint8_t> old = rec.Encode();
  old[0] = 1;
  old.resize(old.size() - 4);
  auto from_old = WorkspaceRecord::Decode(old);
  ASSERT_TRUE(from_old.ok()) << from_old.status().message();
  EXPECT_EQ(from_old->keep_versions, 0u);
  EXPECT_EQ(from_old->naming, Naming::kEnv);
  // A format 1 record with the new field, or a format 2 one without it, is damaged.
  std::vector<uint8_t> mixed = rec.Encode();
  mixed[0] = 1;
  EXPECT_EQ(WorkspaceRecord::Decode(mixed).status().code(), EIO);
  std::vector<uint8_t> short_of_it = rec.Encode();
  short_of_it.resize(short_of_it.size() - 4);
  EXPECT_EQ(WorkspaceRecord::Decode(short_of_it).status().code(), EIO);
}
