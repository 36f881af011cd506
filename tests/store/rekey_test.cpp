// RekeyWorkspace: a new data key, every version re-encrypted in one transaction, readers unharmed.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::Status;
using secretfs::store::Bytes;
using secretfs::store::Db;
using secretfs::store::Txn;
using secretfs::store::VersionRecord;

class RekeyTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("other"));
    for (const char* key : {"A", "B", "C"})
      for (int v = 1; v <= 3; ++v) {
        const std::string value = std::string(key) + "-value-" + std::to_string(v);
        ASSERT_TRUE(Put("dev", key, value).ok());
        values_[std::string(key) + "/" + std::to_string(v)] = value;
      }
    ASSERT_TRUE(Put("other", "X", "untouched").ok());
  }

  // Every stored version record: key bytes -> (generation, sealed bytes).
  std::map<std::vector<uint8_t>, std::pair<uint32_t, std::vector<uint8_t>>> Records() {
    std::map<std::vector<uint8_t>, std::pair<uint32_t, std::vector<uint8_t>>> out;
    EXPECT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      return txn.Scan(Db::kVersions, {}, [&](Bytes k, Bytes v) {
                        auto rec = VersionRecord::Decode(v);
                        EXPECT_TRUE(rec.ok());
                        if (rec.ok())
                          out[{k.begin(), k.end()}] = {rec->key_generation,
                                                       {rec->sealed.begin(), rec->sealed.end()}};
                        return true;
                      });
                    })
                    .ok());
    return out;
  }

  std::map<std::string, std::string> values_;  // "K/N" -> value
};

TEST_F(RekeyTest, EveryVersionReadsBackAndNoOldCiphertextRemains) {
  const auto before = Records();
  auto result = store_->RekeyWorkspace("dev");
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->generation, 2u);
  EXPECT_EQ(result->versions, 9u);
  EXPECT_EQ(store_->GetWorkspace("dev")->key_generation, 2u);
  EXPECT_EQ(store_->GetWorkspace("other")->key_generation, 1u);

  for (const auto& [path, value] : values_) {
    const std::string key = path.substr(0, path.find('/'));
    const uint64_t version = std::stoull(path.substr(path.find('/') + 1));
    EXPECT_EQ(Get("dev", key, version), value) << path;
  }
  EXPECT_EQ(Get("dev", "A"), "A-value-3");
  EXPECT_EQ(Get("other", "X"), "untouched");

  // Every dev record is sealed anew under generation 2; no sealed bytes of before survive.
  std::set<std::vector<uint8_t>> old_sealed;
  for (const auto& [k, rec] : before) old_sealed.insert(rec.second);
  size_t dev_records = 0;
  for (const auto& [k, rec] : Records()) {
    const bool dev = std::string(k.begin(), k.begin() + 4) == std::string("dev\0", 4);
    if (!dev) continue;
    ++dev_records;
    EXPECT_EQ(rec.first, 2u);
    EXPECT_EQ(old_sealed.count(rec.second), 0u);
  }
  EXPECT_EQ(dev_records, 9u);

  // Survives a reopen (the wrapped key was replaced, and the new one opens).
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("dev", "B", 1), "B-value-1");
  // Writes after a rekey use the new generation.
  ASSERT_TRUE(Put("dev", "A", "after").ok());
  EXPECT_EQ(Get("dev", "A"), "after");
  EXPECT_EQ(store_->RekeyWorkspace("dev")->generation, 3u);
  EXPECT_EQ(Get("dev", "A", 1), "A-value-1");
}

TEST_F(RekeyTest, ReadersNeverFailDuringRekeys) {
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      while (!stop) {
        auto v = store_->Read("dev", "B");
        if (!v.ok() || std::string(v->value.bytes().begin(), v->value.bytes().end()) != "B-value-3")
          ++failures;
        ++reads;
      }
    });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store_->RekeyWorkspace("dev").ok());
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->GetWorkspace("dev")->key_generation, 21u);
}

TEST_F(RekeyTest, ADamagedRecordStopsTheRekeyAndChangesNothing) {
  // Flip one byte of A version 2's ciphertext.
  ASSERT_TRUE(store_->env()
                  .Write([&](Txn& txn) {
                    const auto k = secretfs::store::VersionKey("dev", "A", 2);
                    Bytes v;
                    if (Status s = txn.Get(Db::kVersions, k, v); !s.ok()) return s;
                    std::vector<uint8_t> damaged(v.begin(), v.end());
                    damaged.back() ^= 0x40;
                    return txn.Put(Db::kVersions, k, damaged);
                  })
                  .ok());
  const auto before = Records();
  auto result = store_->RekeyWorkspace("dev");
  EXPECT_EQ(result.status().code(), EIO);
  EXPECT_NE(result.status().message().find("dev/A version 2"), std::string::npos)
      << result.status().message();
  EXPECT_EQ(Records(), before);
  EXPECT_EQ(store_->GetWorkspace("dev")->key_generation, 1u);
  EXPECT_EQ(Get("dev", "B", 1), "B-value-1");
}

TEST_F(RekeyTest, UnknownOrInvalidWorkspaceIsRefused) {
  EXPECT_EQ(store_->RekeyWorkspace("nope").status().code(), ENOENT);
  EXPECT_EQ(store_->RekeyWorkspace("Bad/Name").status().code(), EINVAL);
}
