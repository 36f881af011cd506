// A store written by format 1 of secretfs (tests/fixtures/store-format-1.mdb) must keep opening
// and reading exactly as it did: a change of the on-disk format fails here, loudly. Opening it
// upgrades it to the current format (store/schema.h) without rewriting a record; a store of a
// format this secretfs does not know is refused and left as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "common/byte_codec.h"
#include "store_fixture.h"

namespace {

namespace fs = std::filesystem;
using secretfs::store::kFormatVersion;
using secretfs::store::SecretStore;
using secretfs::store::VersionKey;

const std::vector<uint8_t> kFormatKey = {'f', 'o', 'r', 'm', 'a', 't'};

// A u32 as the store's metadata holds it.
std::vector<uint8_t> U32Le(uint32_t v) {
  secretfs::ByteWriter w;
  w.U32(v);
  return std::move(w).bytes();
}

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
    fs::permissions(dir_ / "data.mdb", fs::perms::owner_read | fs::perms::owner_write);  // not 0644
    key_ = ReadAll(fixtures / "store-format-1.keyfile");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Value(SecretStore& store, const char* ws, const char* key,
                    std::optional<uint64_t> version = std::nullopt) {
    auto v = store.Read(ws, key, version);
    if (!v) return "<" + v.status().message() + ">";
    return std::string(v->value.bytes().begin(), v->value.bytes().end());
  }

  // The bytes stored under `key` in the named database, read straight from LMDB.
  std::optional<std::vector<uint8_t>> Raw(const char* db, const std::vector<uint8_t>& key) {
    RawLmdb raw(dir_);
    if (!raw.ok()) return std::nullopt;
    return raw.Get(db, key);
  }

  fs::path dir_;
  std::vector<uint8_t> key_;
};

TEST_F(FormatFixtureTest, TheFixtureIsFormat1UntilOpened) {
  EXPECT_EQ(Raw("meta", kFormatKey), U32Le(1));
  auto old = Raw("versions", VersionKey("prod", "API_KEY", 1));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->at(0), 1) << "format 1 stores hold format 1 version records";
}

TEST_F(FormatFixtureTest, OpeningUpgradesTheFormatNumberAndRewritesNoRecord) {
  const auto before = Raw("versions", VersionKey("prod", "API_KEY", 1));
  ASSERT_TRUE(before);
  {
    auto store = SecretStore::Open(dir_);
    ASSERT_TRUE(store) << store.status().message();
    EXPECT_EQ((*store)->open_notice(), "the store at " + dir_.string() +
                                           " was upgraded from format 1 to 3; older versions of "
                                           "secretfs no longer open it");
  }
  EXPECT_EQ(Raw("meta", kFormatKey), U32Le(kFormatVersion));
  EXPECT_EQ(Raw("versions", VersionKey("prod", "API_KEY", 1)), before);
  auto again = SecretStore::Open(dir_);
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ((*again)->open_notice(), "");
  ASSERT_TRUE((*again)->Unlock(KeyFileMaterial(key_)).ok());
  EXPECT_EQ(Value(**again, "prod", "API_KEY", 1), "first-value");
}

TEST_F(FormatFixtureTest, AStoreOfANewerFormatIsRefusedWithBothNumbersAndLeftAsItWas) {
  {
    RawLmdb raw(dir_, /*writable=*/true);
    ASSERT_TRUE(raw.ok()) << raw.error();
    ASSERT_TRUE(raw.Put("meta", kFormatKey, U32Le(kFormatVersion + 1)));
    ASSERT_TRUE(raw.Commit());
  }
  auto store = SecretStore::Open(dir_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.status().code(), EIO);
  EXPECT_NE(store.status().message().find("has format " + std::to_string(kFormatVersion + 1) +
                                          "; this secretfs reads formats 1 to " +
                                          std::to_string(kFormatVersion)),
            std::string::npos)
      << store.status().message();
  EXPECT_EQ(Raw("meta", kFormatKey), U32Le(kFormatVersion + 1));
}

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
  EXPECT_EQ(Value(**store, "prod", "API_KEY", 2), "second-value");
  store->reset();

  auto fresh = Raw("versions", VersionKey("prod", "API_KEY", 3));
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->at(0), 2) << "new versions are written in version record format 2";
  auto old = Raw("versions", VersionKey("prod", "API_KEY", 2));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->at(0), 1);
}

// Workspace records of format 1 keep every version, and take a keep_versions setting, written
// in workspace record format 2.
TEST_F(FormatFixtureTest, AnOldWorkspaceRecordKeepsEveryVersionUntilToldOtherwise) {
  const std::vector<uint8_t> prod_key = {'p', 'r', 'o', 'd'};
  auto old = Raw("workspaces", prod_key);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->at(0), 1) << "format 1 stores hold format 1 workspace records";
  auto store = SecretStore::Open(dir_);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Unlock(KeyFileMaterial(key_)).ok());
  auto prod = (*store)->GetWorkspace("prod");
  ASSERT_TRUE(prod);
  EXPECT_EQ(prod->keep_versions, 0u);

  auto erased = (*store)->SetKeepVersions("prod", 1);
  ASSERT_TRUE(erased) << erased.status().message();
  EXPECT_EQ(*erased, 1u) << "API_KEY's version 1";
  EXPECT_EQ((*store)->Read("prod", "API_KEY", 1).status().code(), ENOENT);
  EXPECT_EQ(Value(**store, "prod", "API_KEY"), "second-value");
  EXPECT_EQ(Value(**store, "prod", "OLD", 1), "gone");
  store->reset();
  auto now = Raw("workspaces", prod_key);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->at(0), 2);
}

}  // namespace
