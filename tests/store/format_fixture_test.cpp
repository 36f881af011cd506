// A store written by format 1 of secretfs (tests/fixtures/store-format-1.mdb) must keep opening
// and reading exactly as it did: a change of the on-disk format fails here, loudly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "store_fixture.h"

namespace {

namespace fs = std::filesystem;
using secretfs::store::SecretStore;

std::vector<uint8_t> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FormatFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/secretfs-format-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const fs::path fixtures = SECRETFS_FIXTURES_DIR;
    fs::copy_file(fixtures / "store-format-1.mdb", dir_ / "data.mdb");
    key_ = ReadAll(fixtures / "store-format-1.keyfile");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Value(SecretStore& store, const char* ws, const char* key,
                    std::optional<uint64_t> version = std::nullopt) {
    auto v = store.Read(ws, key, version);
    if (!v) return "<" + v.status().message() + ">";
    return std::string(v->value.bytes().begin(), v->value.bytes().end());
  }

  fs::path dir_;
  std::vector<uint8_t> key_;
};

TEST_F(FormatFixtureTest, Format1StoreOpensAndReadsEverySecret) {
  auto store = SecretStore::Open(dir_);
  ASSERT_TRUE(store) << store.status().message();
  ASSERT_TRUE((*store)->Unlock(KeyFileMaterial(key_)).ok());

  EXPECT_EQ(Value(**store, "prod", "API_KEY"), "second-value");
  EXPECT_EQ(Value(**store, "prod", "API_KEY", 1), "first-value");
  EXPECT_EQ(Value(**store, "prod", "blob.bin"), std::string("bin\0ary\n", 8));
  EXPECT_EQ(Value(**store, "ci", "DEPLOY_TOKEN"), "tok");
  EXPECT_EQ(Value(**store, "prod", "OLD", 1), "gone");
  EXPECT_EQ((*store)->Read("prod", "OLD").status().code(), ENOENT) << "OLD is soft-deleted";

  auto info = (*store)->Stat("prod", "API_KEY");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->record.version, 2u);
  EXPECT_EQ(info->record.description, "payments");
  EXPECT_EQ(info->record.type, "api-token");
  EXPECT_EQ(info->record.tags.at("team"), "pay");
  EXPECT_EQ(info->record.size, 12u);

  auto ci = (*store)->GetWorkspace("ci");
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->naming, secretfs::store::Naming::kEnv);
  auto slots = (*store)->ListSlots();
  ASSERT_TRUE(slots);
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].label, "fixture");

  auto report = (*store)->Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->problems.empty());
  EXPECT_EQ(report->versions_ok, 5u);
}

TEST_F(FormatFixtureTest, Format1StoreTakesNewVersions) {
  auto store = SecretStore::Open(dir_);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Unlock(KeyFileMaterial(key_)).ok());
  const std::string value = "third-value";
  secretfs::store::WriteRequest w;
  w.workspace = "prod";
  w.key = "API_KEY";
  w.value = secretfs::AsBytes(value);
  w.author = "user:test";
  auto r = (*store)->Write(w);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(Value(**store, "prod", "API_KEY"), value);
}

}  // namespace
