// SecretStore::RotateMasterKey: a new master key, the data keys rewrapped, the slots it can keep.
#include <algorithm>

#include "common/byte_codec.h"
#include "store/secret_store.h"

namespace secretfs::store {
namespace {

// Every slot's stored bytes, to notice a slot added or removed while the new slots were made.
Result<std::vector<std::vector<uint8_t>>> StoredSlots(const Txn& txn) {
  std::vector<std::vector<uint8_t>> stored;
  SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSlots, {}, [&](Bytes, Bytes value) {
    stored.emplace_back(value.begin(), value.end());
    return true;
  }));
  return stored;
}

}  // namespace

Result<RotateResult> SecretStore::RotateMasterKey(
    const keyring::KeyMaterial& material, const AuditKeyChange& audit_key_change,
    const std::function<void(size_t, size_t)>& progress) {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  Result<std::vector<std::vector<uint8_t>>> before = Status(EIO, "no key slots");
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) {
    before = StoredSlots(txn);
    return before.status();
  }));
  std::vector<keyring::KeySlot> slots;
  for (const std::vector<uint8_t>& bytes : *before) {
    auto slot = keyring::KeySlot::Decode(bytes);
    if (!slot)
      return slot.status().Wrap("a key slot is damaged, so the master key was not rotated");
    slots.push_back(std::move(*slot));
  }
  auto used = std::find_if(slots.begin(), slots.end(),
                           [&](const keyring::KeySlot& s) { return s.id == unlocked_slot_; });
  const std::string used_name = "slot " + std::to_string(unlocked_slot_);
  if (used == slots.end())
    return Status(EAGAIN, used_name + ", which unlocked the store, was removed meanwhile");
  // The remade slot opens with `material` and nothing else, so it must be what the operator holds.
  auto opened = keyring::OpenSlot(*used, store_id_, material);
  if (!opened)
    return Status(EACCES,
                  material.origin + " does not open " + used_name + ", which unlocked the store");
  // Another rotation may have committed since this process unlocked the store (two rotates at
  // once: the second waited for the first's lock). Its master key is then no longer the store's,
  // and the data keys would not open under it.
  if (!opened->SameAs(*master_))
    return Status(EAGAIN,
                  "the master key was rotated by another command after this one unlocked the "
                  "store (another keyring rotate at the same time?); nothing was changed: run it "
                  "again to rotate once more");

  // Argon2id is slow: the slots are made before the write transaction.
  keyring::MasterKey fresh = keyring::MasterKey::Generate();
  RotateResult result;
  std::vector<keyring::KeySlot> remade;
  const keyring::PwhashLimits limits{used->opslimit, used->memlimit};
  // A passphrase read from a file opens a passphrase slot; it stays one.
  keyring::KeyMaterial as_passphrase;
  const bool passphrase_from_file = used->kind == keyring::SlotKind::kPassphrase &&
                                    material.kind != keyring::KeyMaterial::Kind::kPassphrase;
  if (passphrase_from_file)
    as_passphrase = {keyring::KeyMaterial::Kind::kPassphrase, material.bytes.Clone(),
                     material.origin};
  auto kept = keyring::MakeSlot(fresh, store_id_, used->id, used->label,
                                passphrase_from_file ? as_passphrase : material, limits);
  if (!kept) return kept.status();
  kept->created_unix = used->created_unix;  // the same way in, made again
  remade.push_back(std::move(*kept));
  result.kept_slot = used->id;
  for (const keyring::KeySlot& slot : slots) {
    if (slot.id == used->id) continue;
    if (slot.kind != keyring::SlotKind::kRecipient) {
      result.dropped.push_back(KeySlotInfo::Of(slot));
      continue;
    }
    auto resealed = keyring::ResealRecipientSlot(slot, fresh, store_id_);
    if (!resealed) return resealed.status();
    result.resealed.push_back(KeySlotInfo::Of(slot));
    remade.push_back(std::move(*resealed));
  }

  const keyring::SecretBuffer old_audit_key = master_->DeriveAuditKey();
  const keyring::SecretBuffer new_audit_key = fresh.DeriveAuditKey();
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto now = StoredSlots(txn);
    if (!now) return now.status();
    if (*now != *before)
      return Status(EAGAIN, "the key slots changed while the rotation was prepared; run it again");

    // Names and records first: the table is rewritten below.
    std::vector<std::pair<std::string, std::vector<uint8_t>>> workspaces;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kWorkspaces, {}, [&](Bytes k, Bytes v) {
      workspaces.emplace_back(std::string(k.begin(), k.end()),
                              std::vector<uint8_t>(v.begin(), v.end()));
      return true;
    }));
    // Not only rewrapped: a data key kept across the rotation would open what is written after
    // it to anyone holding an old slot and a later copy of data.mdb, whose free pages keep the old
    // slot and the old workspace record (the data key wrapped under the old master key). So each
    // workspace gets a new data key and its versions are re-encrypted, as `rekey W` does. In this
    // transaction: the store is not served meanwhile (the caller holds the serving lock), and a
    // crash or a full disk leaves the old master key, data keys and records whole.
    const size_t total = txn.Entries(Db::kVersions);
    size_t done_before = 0;
    result.versions = 0;
    for (const auto& [name, bytes] : workspaces) {
      auto ws = WorkspaceRecord::Decode(bytes);
      if (!ws) return ws.status().Wrap("workspace " + name);
      auto key = keyring::DataKey::Unwrap(*master_, name, ws->key_generation, ws->wrapped_key);
      if (!key)
        return Status(EIO, "the data key of workspace " + name +
                               " does not open, so the master key was not rotated (see secretfs "
                               "verify): " +
                               key.status().message());
      auto rekeyed = RekeyInTxn(txn, name, fresh, [&](size_t done, size_t) {
        if (progress) progress(done_before + done, total);
      });
      if (!rekeyed)
        return Status(rekeyed.status().code(),
                      rekeyed.status().message() + ", so the master key was not rotated");
      done_before += rekeyed->versions;
      result.versions += rekeyed->versions;
    }
    result.workspaces = workspaces.size();

    for (const keyring::KeySlot& slot : slots)
      SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kSlots, SlotKey(slot.id)));
    for (const keyring::KeySlot& slot : remade)
      SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kSlots, SlotKey(slot.id), slot.Encode()));
    if (audit_key_change) return audit_key_change(txn, old_audit_key, new_audit_key);
    return Status::Ok();
  }));

  master_ = std::make_unique<keyring::MasterKey>(std::move(fresh));
  std::lock_guard lock(keys_mutex_);
  data_keys_.clear();  // the old data keys: every workspace has a new one
  return result;
}

}  // namespace secretfs::store
