// RotateMasterKey: a new master key and new data keys; the used slot and recipient slots kept.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "keyring/key_source.h"
#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::Status;
using secretfs::keyring::KeyMaterial;
using secretfs::keyring::KeySlot;
using secretfs::keyring::MasterKey;
using secretfs::keyring::SecretBuffer;
using secretfs::keyring::SlotKind;
using secretfs::store::Bytes;
using secretfs::store::Db;
using secretfs::store::Txn;

namespace {

using Table = std::map<std::vector<uint8_t>, std::vector<uint8_t>>;

}  // namespace

class RotateTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    auto added = store_->AddSlot(KeyFileMaterial(second_key_, "file:second.key"), "second",
                                 secretfs::keyring::PwhashLimits::Interactive());
    ASSERT_TRUE(added.ok()) << added.status().message();
    auto public_key = secretfs::keyring::CreateHostKey(root_ + "/host.key");
    ASSERT_TRUE(public_key.ok()) << public_key.status().message();
    KeyMaterial recipient;
    recipient.kind = KeyMaterial::Kind::kRecipient;
    recipient.bytes = SecretBuffer::CopyOf(*public_key);
    recipient.origin = "recipient:host";
    added = store_->AddSlot(recipient, "host", secretfs::keyring::PwhashLimits::Interactive());
    ASSERT_TRUE(added.ok()) << added.status().message();
    for (const char* ws : {"dev", "prod"}) {
      ASSERT_NO_FATAL_FAILURE(MakeWorkspace(ws));
      for (int v = 1; v <= 2; ++v)
        ASSERT_TRUE(Put(ws, "TOKEN", std::string(ws) + "-v" + std::to_string(v)).ok());
    }
  }

  KeyMaterial HostKey() const {
    KeyMaterial m;
    m.kind = KeyMaterial::Kind::kHostKey;
    m.bytes = SecretBuffer::CopyOf(ReadFileBytes(root_ + "/host.key"));
    m.origin = "host:" + root_ + "/host.key";
    return m;
  }

  Table Dump(Db db) {
    Table out;
    EXPECT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      return txn.Scan(db, {}, [&](Bytes k, Bytes v) {
                        out[{k.begin(), k.end()}] = {v.begin(), v.end()};
                        return true;
                      });
                    })
                    .ok());
    return out;
  }

  std::vector<uint8_t> StoreId() {
    std::vector<uint8_t> id;
    EXPECT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      Bytes v;
                      Status s = txn.Get(Db::kMeta, secretfs::AsBytes("store_id"), v);
                      id.assign(v.begin(), v.end());
                      return s;
                    })
                    .ok());
    return id;
  }

  // The master key as slot 1 (the test key file) opens it now.
  MasterKey MasterNow() {
    const Table slots = Dump(Db::kSlots);
    for (const auto& [k, v] : slots) {
      auto slot = KeySlot::Decode(v);
      if (slot.ok() && slot->id == 1) {
        auto master = secretfs::keyring::OpenSlot(*slot, StoreId(), Key());
        EXPECT_TRUE(master.ok()) << master.status().message();
        if (master.ok()) return std::move(*master);
      }
    }
    ADD_FAILURE() << "no slot 1";
    return MasterKey::Generate();
  }

  // Whether `master` unwraps any workspace's data key as stored now.
  bool OpensAnyDataKey(const MasterKey& master) {
    bool any = false;
    for (const auto& [k, v] : Dump(Db::kWorkspaces)) {
      auto ws = secretfs::store::WorkspaceRecord::Decode(v);
      EXPECT_TRUE(ws.ok());
      const std::string name(k.begin(), k.end());
      any = any ||
            secretfs::keyring::DataKey::Unwrap(master, name, ws->key_generation, ws->wrapped_key)
                .ok();
    }
    return any;
  }

  // Opens the store afresh in store_ (one LMDB environment per process and store) and unlocks
  // it with `material`; store_ stays locked when that fails.
  Status Reunlock(const KeyMaterial& material) {
    store_.reset();
    auto opened = secretfs::store::SecretStore::Open(dir_);
    if (!opened.ok()) return opened.status();
    store_ = std::move(*opened);
    return store_->Unlock(material);
  }

  const std::vector<uint8_t> second_key_ = secretfs::keyring::RandomBytes(32);
};

TEST_F(RotateTest, TheOldMasterKeyOpensNothingAndEveryValueReadsBack) {
  const MasterKey old_master = MasterNow();
  ASSERT_TRUE(OpensAnyDataKey(old_master));
  const Table versions_before = Dump(Db::kVersions);
  std::vector<uint8_t> old_audit, new_audit;

  auto rotated = store_->RotateMasterKey(
      Key(), [&](Txn&, const SecretBuffer& old_key, const SecretBuffer& new_key) {
        old_audit.assign(old_key.bytes().begin(), old_key.bytes().end());
        new_audit.assign(new_key.bytes().begin(), new_key.bytes().end());
        return Status::Ok();
      });
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  EXPECT_EQ(rotated->kept_slot, 1u);
  EXPECT_EQ(rotated->workspaces, 2u);
  ASSERT_EQ(rotated->resealed.size(), 1u);
  EXPECT_EQ(rotated->resealed[0].label, "host");
  ASSERT_EQ(rotated->dropped.size(), 1u);
  EXPECT_EQ(rotated->dropped[0].label, "second");

  // The chain's key changes with the master key, and the hook got both.
  EXPECT_TRUE(old_master.DeriveAuditKey().Equals(old_audit));
  EXPECT_FALSE(old_master.DeriveAuditKey().Equals(new_audit));
  EXPECT_EQ(new_audit.size(), 32u);

  const MasterKey new_master = MasterNow();
  EXPECT_FALSE(SecretBuffer::CopyOf(new_master.bytes()).Equals(old_master.bytes()));
  EXPECT_FALSE(OpensAnyDataKey(old_master));
  EXPECT_TRUE(OpensAnyDataKey(new_master));
  // The data keys changed too (as rekey W does): every record was sealed again.
  const Table versions_after = Dump(Db::kVersions);
  ASSERT_EQ(versions_after.size(), versions_before.size());
  for (const auto& [k, v] : versions_after) EXPECT_NE(v, versions_before.at(k));
  EXPECT_EQ(rotated->versions, 4u);

  for (const char* ws : {"dev", "prod"}) {
    EXPECT_EQ(Get(ws, "TOKEN"), std::string(ws) + "-v2");
    EXPECT_EQ(Get(ws, "TOKEN", 1), std::string(ws) + "-v1");
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("dev", "TOKEN"), "dev-v2");
  ASSERT_TRUE(Put("prod", "NEW", "after").ok());
  EXPECT_EQ(Get("prod", "NEW"), "after");

  EXPECT_TRUE(Reunlock(HostKey()).ok());
  EXPECT_EQ(Reunlock(KeyFileMaterial(second_key_)).code(), EACCES);
  auto slots = store_->ListSlots();
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 2u);
  EXPECT_EQ((*slots)[0].id, 1u);
  EXPECT_EQ((*slots)[0].label, "test");
  EXPECT_EQ((*slots)[1].kind, SlotKind::kRecipient);
}

TEST_F(RotateTest, APassphraseSlotStaysAPassphraseWithItsCost) {
  const KeyMaterial passphrase = PassphraseMaterial("correct horse battery staple");
  auto id = store_->AddSlot(passphrase, "typed", secretfs::keyring::PwhashLimits::Interactive());
  ASSERT_TRUE(id.ok());
  // The passphrase comes from a file this time (what -k file:PATH does for a passphrase slot).
  const std::string_view text = "correct horse battery staple";
  const KeyMaterial from_file = KeyFileMaterial({text.begin(), text.end()});
  ASSERT_TRUE(Reunlock(from_file).ok());
  ASSERT_EQ(store_->unlocked_slot(), *id);
  const Table before = Dump(Db::kSlots);

  auto rotated = store_->RotateMasterKey(from_file, {});
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  EXPECT_EQ(rotated->kept_slot, *id);
  for (const auto& [k, v] : Dump(Db::kSlots)) {
    auto slot = KeySlot::Decode(v);
    ASSERT_TRUE(slot.ok());
    if (slot->id != *id) continue;
    auto old_slot = KeySlot::Decode(before.at(k));
    EXPECT_EQ(slot->kind, SlotKind::kPassphrase);
    EXPECT_EQ(slot->label, "typed");
    EXPECT_EQ(slot->opslimit, old_slot->opslimit);
    EXPECT_EQ(slot->memlimit, old_slot->memlimit);
    EXPECT_EQ(slot->created_unix, old_slot->created_unix);
    EXPECT_NE(slot->salt, old_slot->salt);
  }
  EXPECT_TRUE(Reunlock(passphrase).ok());
  EXPECT_EQ(Reunlock(Key()).code(), EACCES);  // slot 1 was dropped
}

TEST_F(RotateTest, AKeyThatDoesNotOpenTheUsedSlotChangesNothing) {
  const Table slots = Dump(Db::kSlots), workspaces = Dump(Db::kWorkspaces);
  auto rotated = store_->RotateMasterKey(KeyFileMaterial(second_key_, "file:second.key"), {});
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), EACCES);
  EXPECT_NE(rotated.status().message().find("file:second.key does not open slot 1"),
            std::string::npos)
      << rotated.status().message();
  EXPECT_EQ(Dump(Db::kSlots), slots);
  EXPECT_EQ(Dump(Db::kWorkspaces), workspaces);
}

TEST_F(RotateTest, AFailureInTheSameTransactionChangesNothing) {
  const Table slots = Dump(Db::kSlots), workspaces = Dump(Db::kWorkspaces);
  auto rotated = store_->RotateMasterKey(Key(), [](Txn&, const SecretBuffer&, const SecretBuffer&) {
    return Status(EIO, "the audit log does not verify");
  });
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), EIO);
  EXPECT_EQ(Dump(Db::kSlots), slots);
  EXPECT_EQ(Dump(Db::kWorkspaces), workspaces);
  EXPECT_EQ(Get("dev", "TOKEN"), "dev-v2");  // this process keeps its master key
  EXPECT_TRUE(Reunlock(KeyFileMaterial(second_key_)).ok());
}

TEST_F(RotateTest, NoKeyThatExistedBeforeTheRotationOpensWhatIsWrittenAfterIt) {
  // What a leaked key file and a later copy of data.mdb give: the old master key (an old slot
  // carved from free pages) and the old workspace records (the data keys wrapped under it).
  const MasterKey old_master = MasterNow();
  const Table old_workspaces = Dump(Db::kWorkspaces);
  std::map<std::string, secretfs::keyring::DataKey> old_keys;
  for (const auto& [k, v] : old_workspaces) {
    auto ws = secretfs::store::WorkspaceRecord::Decode(v);
    ASSERT_TRUE(ws.ok());
    const std::string name(k.begin(), k.end());
    auto key =
        secretfs::keyring::DataKey::Unwrap(old_master, name, ws->key_generation, ws->wrapped_key);
    ASSERT_TRUE(key.ok()) << key.status().message();
    old_keys.emplace(name, std::move(*key));
  }

  auto rotated = store_->RotateMasterKey(Key(), {});
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  EXPECT_EQ(rotated->workspaces, 2u);
  for (const char* ws : {"dev", "prod"}) {
    auto info = store_->GetWorkspace(ws);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->key_generation, 2u) << ws;
  }
  ASSERT_TRUE(Put("prod", "TOKEN", "written-after").ok());
  ASSERT_TRUE(Put("dev", "NEW", "also-after").ok());

  // Neither the old data key nor the old record unwrapped with the old master key opens them.
  for (const auto& [ws, key, version] :
       {std::tuple<std::string, std::string, uint64_t>{"prod", "TOKEN", 3},
        {"dev", "NEW", 1},
        {"dev", "TOKEN", 2}}) {
    Bytes stored;
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(store_->env()
                    .Read([&](Txn& txn) {
                      Status s = txn.Get(Db::kVersions,
                                         secretfs::store::VersionKey(ws, key, version), stored);
                      bytes.assign(stored.begin(), stored.end());
                      return s;
                    })
                    .ok());
    auto rec = secretfs::store::VersionRecord::Decode(bytes);
    ASSERT_TRUE(rec.ok());
    EXPECT_FALSE(
        secretfs::keyring::OpenRecord(old_keys.at(ws), {ws, key, version}, rec->sealed).ok())
        << ws << "/" << key << " v" << version;
  }

  EXPECT_EQ(Get("prod", "TOKEN"), "written-after");
  EXPECT_EQ(Get("prod", "TOKEN", 1), "prod-v1");
  EXPECT_EQ(Get("dev", "TOKEN"), "dev-v2");
  EXPECT_EQ(Get("dev", "NEW"), "also-after");
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->problems.empty()) << report->problems.front().message;
  EXPECT_EQ(report->versions_ok, 6u);
}
