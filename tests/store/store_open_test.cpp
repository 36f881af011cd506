// Creating, opening and unlocking a store; key slots; persistence across reopen.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::keyring::PwhashLimits;
using secretfs::keyring::RandomBytes;
using secretfs::keyring::SlotKind;
using secretfs::store::Naming;
using secretfs::store::SecretStore;

class StoreOpenTest : public StoreTest {};

TEST_F(StoreOpenTest, CreateThenOpenAndUnlock) {
  ASSERT_TRUE(SecretStore::Create(dir_, Key(), PwhashLimits::Interactive(), "first").ok());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/data.mdb"));
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the store directory is only for its owner";
  ASSERT_EQ(stat((dir_ + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "data.mdb must not be readable by others";

  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  store_ = std::move(*opened);
  EXPECT_FALSE(store_->unlocked());
  EXPECT_EQ(store_->unlocked_slot(), 0u);
  EXPECT_EQ(store_->dir(), dir_);

  const secretfs::Status unlocked = store_->Unlock(Key());
  ASSERT_TRUE(unlocked.ok()) << unlocked.message();
  EXPECT_TRUE(store_->unlocked());
  EXPECT_EQ(store_->unlocked_slot(), 1u);

  auto slots = store_->ListSlots();
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].id, 1u);
  EXPECT_EQ((*slots)[0].kind, SlotKind::kKeyFile);
  EXPECT_EQ((*slots)[0].label, "first");
}

TEST_F(StoreOpenTest, CreateWithAPassphraseUnlocksWithIt) {
  ASSERT_TRUE(SecretStore::Create(dir_, PassphraseMaterial("tr0ub4dor&3"),
                                  PwhashLimits::Interactive(), "pw")
                  .ok());
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  EXPECT_EQ(store_->Unlock(PassphraseMaterial("tr0ub4dor&4")).code(), EACCES);
  EXPECT_FALSE(store_->unlocked());
  ASSERT_TRUE(store_->Unlock(PassphraseMaterial("tr0ub4dor&3")).ok());
  EXPECT_TRUE(store_->unlocked());
}

TEST_F(StoreOpenTest, CreateRefusesBadFirstKeyAndLeavesNoStore) {
  EXPECT_EQ(
      SecretStore::Create(dir_, PassphraseMaterial(""), PwhashLimits::Interactive(), "").code(),
      EINVAL);
  EXPECT_EQ(
      SecretStore::Create(dir_, KeyFileMaterial(RandomBytes(15)), PwhashLimits::Interactive(), "")
          .code(),
      EINVAL);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data.mdb"));
  EXPECT_EQ(SecretStore::Open(dir_).status().code(), ENOENT);
}

TEST_F(StoreOpenTest, CreateRefusesAnExistingStore) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "KEY", "kept").ok());
  store_.reset();

  const std::vector<uint8_t> other_key = RandomBytes(32);
  const secretfs::Status again =
      SecretStore::Create(dir_, KeyFileMaterial(other_key), PwhashLimits::Interactive(), "x");
  EXPECT_EQ(again.code(), EEXIST) << again.message();

  // The existing store is untouched: the old key opens it, the new one does not.
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  EXPECT_EQ(store_->Unlock(KeyFileMaterial(other_key)).code(), EACCES);
  ASSERT_TRUE(store_->Unlock(Key()).ok());
  EXPECT_EQ(Get("dev", "KEY"), "kept");
}

// Create's first use (init records its event) gets the new store unlocked; when it fails, no
// store is left, so the same init can run again.
TEST_F(StoreOpenTest, AStoreWhoseFirstUseFailsIsNotLeftBehind) {
  bool was_unlocked = false;
  const secretfs::Status failed = SecretStore::Create(
      dir_, Key(), PwhashLimits::Interactive(), "test", {}, [&](SecretStore& store) {
        was_unlocked = store.unlocked() && store.AuditKey().ok();
        return secretfs::Status(ENOSPC, "the disk is full");
      });
  EXPECT_EQ(failed.code(), ENOSPC) << failed.message();
  EXPECT_TRUE(was_unlocked);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data.mdb"));
  EXPECT_EQ(SecretStore::Open(dir_).status().code(), ENOENT);

  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "KEY", "kept").ok());
  EXPECT_EQ(Get("dev", "KEY"), "kept");
}

TEST_F(StoreOpenTest, OpenWithoutAStoreIsEnoent) {
  EXPECT_EQ(SecretStore::Open(dir_).status().code(), ENOENT);
  std::filesystem::create_directories(dir_);
  EXPECT_EQ(SecretStore::Open(dir_).status().code(), ENOENT);
}

TEST_F(StoreOpenTest, OpenOfAFileThatIsNotAStoreIsEio) {
  std::filesystem::create_directories(dir_);
  WriteFileBytes(dir_ + "/data.mdb", PatternBytes(64 * 1024, 3));
  std::filesystem::permissions(
      dir_ + "/data.mdb", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto opened = SecretStore::Open(dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EIO) << opened.status().message();
}

TEST_F(StoreOpenTest, WrongKeyIsEaccesAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "TOKEN", "abc").ok());
  store_.reset();
  const std::vector<uint8_t> before = ReadFileBytes(dir_ + "/data.mdb");
  ASSERT_FALSE(before.empty());

  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  const secretfs::Status wrong =
      store_->Unlock(KeyFileMaterial(RandomBytes(32), "file:/wrong.key"));
  EXPECT_EQ(wrong.code(), EACCES);
  EXPECT_NE(wrong.message().find("file:/wrong.key"), std::string::npos) << wrong.message();
  EXPECT_FALSE(store_->unlocked());
  EXPECT_EQ(store_->Unlock(PassphraseMaterial("guess")).code(), EACCES);
  EXPECT_FALSE(store_->unlocked());
  // Locked: values and changes are refused, metadata can still be read.
  EXPECT_EQ(ReadErrno("prod", "TOKEN"), EACCES);
  EXPECT_EQ(Put("prod", "TOKEN", "overwrite").status().code(), EACCES);
  EXPECT_EQ(store_->CreateWorkspace("other", Naming::kDefault).code(), EACCES);
  EXPECT_TRUE(store_->Stat("prod", "TOKEN").ok());
  store_.reset();

  EXPECT_EQ(ReadFileBytes(dir_ + "/data.mdb"), before) << "data.mdb changed";
}

TEST_F(StoreOpenTest, EverythingPersistsAcrossReopen) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("app", Naming::kEnv));
  ASSERT_TRUE(Put("prod", "A", "one").ok());
  ASSERT_TRUE(Put("prod", "A", "two").ok());
  ASSERT_TRUE(Put("prod", "B", std::string("\0bin\0", 5)).ok());
  ASSERT_TRUE(Put("app", "DB_URL", "postgres://x").ok());
  secretfs::store::MetadataUpdate meta;
  meta.description = "the A secret";
  meta.tags["team"] = "core";
  ASSERT_TRUE(store_->SetMetadata("prod", "A", meta, "tester").ok());
  ASSERT_TRUE(store_->Remove("prod", "B", "tester").ok());

  for (int round = 0; round < 2; ++round) {
    ASSERT_NO_FATAL_FAILURE(Reopen());
    EXPECT_EQ(Get("prod", "A"), "two");
    EXPECT_EQ(Get("prod", "A", 1), "one");
    EXPECT_EQ(ReadErrno("prod", "B"), ENOENT);
    EXPECT_EQ(Get("prod", "B", 1), std::string("\0bin\0", 5));
    EXPECT_EQ(Get("app", "DB_URL"), "postgres://x");
    auto stat = store_->Stat("prod", "A");
    ASSERT_TRUE(stat.ok());
    EXPECT_EQ(stat->record.version, 2u);
    EXPECT_EQ(stat->record.description, "the A secret");
    EXPECT_EQ(stat->record.tags.at("team"), "core");
    auto app = store_->GetWorkspace("app");
    ASSERT_TRUE(app.ok());
    EXPECT_EQ(app->naming, Naming::kEnv);
    auto list = store_->ListWorkspaces();
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->size(), 2u);
  }
}

TEST_F(StoreOpenTest, ExtraKeySlotsUnlockAndCanBeRemoved) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "K", "v").ok());
  auto added =
      store_->AddSlot(PassphraseMaterial("second way in"), "laptop", PwhashLimits::Interactive());
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(*added, 2u);
  const std::vector<uint8_t> third = RandomBytes(32);
  auto added3 = store_->AddSlot(KeyFileMaterial(third), "boot", {});
  ASSERT_TRUE(added3.ok()) << added3.status().message();
  EXPECT_EQ(*added3, 3u);
  EXPECT_EQ(store_->AddSlot(KeyFileMaterial(RandomBytes(8)), "short", {}).status().code(), EINVAL);

  store_.reset();
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  ASSERT_TRUE(store_->Unlock(PassphraseMaterial("second way in")).ok());
  EXPECT_EQ(store_->unlocked_slot(), 2u);
  EXPECT_EQ(Get("dev", "K"), "v");

  ASSERT_TRUE(store_->RemoveSlot(1).ok());
  EXPECT_EQ(store_->RemoveSlot(1).code(), ENOENT);
  ASSERT_TRUE(store_->RemoveSlot(2).ok());
  EXPECT_EQ(store_->RemoveSlot(3).code(), EBUSY) << "the last slot must stay";
  auto slots = store_->ListSlots();
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].id, 3u);

  store_.reset();
  opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  EXPECT_EQ(store_->Unlock(Key()).code(), EACCES) << "removed slot 1 still opens";
  ASSERT_TRUE(store_->Unlock(KeyFileMaterial(third)).ok());
  EXPECT_EQ(store_->unlocked_slot(), 3u);
  EXPECT_EQ(Get("dev", "K"), "v");
}

TEST_F(StoreOpenTest, SlotsNeedTheStoreUnlocked) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  store_.reset();
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  EXPECT_EQ(store_->AddSlot(KeyFileMaterial(RandomBytes(32)), "", {}).status().code(), EACCES);
  EXPECT_EQ(store_->RemoveSlot(1).code(), EACCES);
  EXPECT_TRUE(store_->ListSlots().ok());
}
