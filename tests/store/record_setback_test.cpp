// A secret's record set back to an older version by someone who could write data.mdb (its newer
// version records left in place or deleted): the next write does not overwrite what is beyond
// the record, and Verify names it.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::Status;
using secretfs::store::Bytes;
using secretfs::store::Db;
using secretfs::store::SecretKey;
using secretfs::store::Txn;
using secretfs::store::VerifyProblem;
using secretfs::store::VersionKey;

class RecordSetbackTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  }

  // The stored bytes of `key` in `db`, or empty when absent.
  std::vector<uint8_t> Raw(Db db, const std::vector<uint8_t>& key) {
    std::vector<uint8_t> out;
    EXPECT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      Bytes v;
                      if (txn.Get(db, key, v).ok()) out.assign(v.begin(), v.end());
                      return Status::Ok();
                    })
                    .ok());
    return out;
  }

  // What an attacker with write access to data.mdb does: stores `value` under `key` raw, or
  // deletes `key` when `value` is empty.
  void Tamper(Db db, const std::vector<uint8_t>& key, const std::vector<uint8_t>& value) {
    const Status s = store_->env().Write(
        [&](Txn& txn) { return value.empty() ? txn.Del(db, key) : txn.Put(db, key, value); });
    ASSERT_TRUE(s.ok()) << s.message();
  }

  std::vector<VerifyProblem> Problems() {
    auto report = store_->Verify();
    EXPECT_TRUE(report.ok()) << report.status().message();
    return report.ok() ? report->problems : std::vector<VerifyProblem>{};
  }
};

TEST_F(RecordSetbackTest, AWriteDoesNotOverwriteAVersionBeyondTheRecordAndVerifyNamesIt) {
  ASSERT_TRUE(Put("prod", "TOKEN", "revoked-value").ok());
  const std::vector<uint8_t> record_at_v1 = Raw(Db::kSecrets, SecretKey("prod", "TOKEN"));
  ASSERT_TRUE(Put("prod", "TOKEN", "rotated-value").ok());
  const std::vector<uint8_t> v2 = Raw(Db::kVersions, VersionKey("prod", "TOKEN", 2));
  ASSERT_FALSE(v2.empty());

  // The record set back to version 1; version 2 left in place.
  ASSERT_NO_FATAL_FAILURE(Tamper(Db::kSecrets, SecretKey("prod", "TOKEN"), record_at_v1));
  EXPECT_EQ(Get("prod", "TOKEN"), "revoked-value");  // the store alone cannot tell, Verify can

  auto written = Put("prod", "TOKEN", "next-value");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().code(), EIO);
  EXPECT_NE(written.status().message().find(
                "the store is damaged: version 2 of prod/TOKEN exists beyond its record's "
                "current version"),
            std::string::npos)
      << written.status().message();
  EXPECT_EQ(Raw(Db::kVersions, VersionKey("prod", "TOKEN", 2)), v2) << "the evidence stays";
  EXPECT_EQ(Get("prod", "TOKEN", 2), "rotated-value");

  const std::vector<VerifyProblem> problems = Problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].workspace, "prod");
  EXPECT_EQ(problems[0].key, "TOKEN");
  EXPECT_EQ(problems[0].version, 2u);
  EXPECT_NE(problems[0].message.find("beyond the secret's current version 1"), std::string::npos)
      << problems[0].message;
}

TEST_F(RecordSetbackTest, VerifyNamesTheVersionsOfASecretWhoseRecordIsGone) {
  ASSERT_TRUE(Put("prod", "NEW", "made-later").ok());
  ASSERT_TRUE(Put("prod", "OLD", "kept").ok());
  ASSERT_NO_FATAL_FAILURE(Tamper(Db::kSecrets, SecretKey("prod", "NEW"), {}));

  const std::vector<VerifyProblem> problems = Problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].key, "NEW");
  EXPECT_EQ(problems[0].version, 1u);
  EXPECT_NE(problems[0].message.find("no record of"), std::string::npos) << problems[0].message;
}

// Nothing secretfs does itself leaves a version beyond its record: no false alarms.
TEST_F(RecordSetbackTest, VerifyFindsNothingAfterDeletesDestroysRollbacksRenamesAndPruning) {
  for (int v = 1; v <= 4; ++v) ASSERT_TRUE(Put("prod", "A", "a-" + std::to_string(v)).ok());
  ASSERT_TRUE(store_->Destroy("prod", "A", 2).ok());
  ASSERT_TRUE(store_->Rollback("prod", "A", 1, "tester").ok());
  ASSERT_TRUE(store_->Remove("prod", "A", "tester").ok());
  ASSERT_TRUE(Put("prod", "A", "a-again").ok());
  ASSERT_TRUE(Put("prod", "B", "b-1").ok());
  ASSERT_TRUE(store_->Rename("prod", "B", "C", false, "tester").ok());
  ASSERT_TRUE(Put("prod", "B", "b-new").ok());
  ASSERT_TRUE(Put("prod", "D", "d-1").ok());
  ASSERT_TRUE(store_->Destroy("prod", "D", std::nullopt).ok());
  ASSERT_TRUE(Put("prod", "D", "d-again").ok());
  ASSERT_TRUE(store_->SetKeepVersions("prod", 2).ok());
  ASSERT_TRUE(Put("prod", "A", "a-last").ok());

  const std::vector<VerifyProblem> problems = Problems();
  EXPECT_TRUE(problems.empty()) << problems.front().workspace << "/" << problems.front().key << " v"
                                << problems.front().version << ": " << problems.front().message;
  EXPECT_EQ(Get("prod", "A"), "a-last");
  EXPECT_EQ(Get("prod", "D"), "d-again");
}
