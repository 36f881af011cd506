// SecretStore: opening, unlocking, key slots and workspaces. Secrets are in secret_ops.cpp,
// backup and verify in maintenance.cpp.
#include "store/secret_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>

#include "common/byte_codec.h"
#include "store/space_reserve.h"
#include "store/store_directory.h"

namespace secretfs::store {
namespace {

constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kStoreIdKey = "store_id";
constexpr std::string_view kCreatedKey = "created";
constexpr std::string_view kNextSlotKey = "next_slot";

std::vector<uint8_t> U32Bytes(uint32_t v) {
  ByteWriter w;
  w.U32(v);
  return std::move(w).bytes();
}

Result<uint32_t> ReadU32(const Txn& txn, std::string_view key) {
  Bytes v;
  SECRETFS_RETURN_IF_ERROR(txn.Get(Db::kMeta, AsBytes(key), v).Wrap(std::string(key)));
  ByteReader r(v);
  uint32_t out = 0;
  if (!r.U32(out) || !r.AtEnd())
    return Status(EIO, "store metadata '" + std::string(key) + "' is damaged");
  return out;
}

Result<std::vector<keyring::KeySlot>> LoadSlots(const Txn& txn) {
  std::vector<keyring::KeySlot> slots;
  Status damaged;
  SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSlots, {}, [&](Bytes, Bytes value) {
    auto slot = keyring::KeySlot::Decode(value);
    if (slot)
      slots.push_back(std::move(*slot));
    else
      damaged = slot.status();
    return true;
  }));
  if (slots.empty() && !damaged.ok()) return damaged;
  return slots;
}

}  // namespace

bool IsKnownType(std::string_view type) {
  return type == "api-token" || type == "database" || type == "service" || type == "generic";
}

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

SecretStore::SecretStore(std::string dir, std::unique_ptr<Env> env, std::vector<uint8_t> store_id,
                         StoreOptions options)
    : dir_(std::move(dir)),
      env_(std::move(env)),
      store_id_(std::move(store_id)),
      options_(options) {}

Status SecretStore::RequireUnlocked() const {
  if (!master_) return Status(EACCES, "the store is locked (no key given)");
  return Status::Ok();
}

Result<keyring::SecretBuffer> SecretStore::AuditKey() const {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  return master_->DeriveAuditKey();
}

Status SecretStore::Create(const std::string& dir, const keyring::KeyMaterial& first_key,
                           keyring::PwhashLimits limits, const std::string& label,
                           const StoreOptions& options, const FirstUse& first) {
  SECRETFS_RETURN_IF_ERROR(keyring::InitCrypto());
  // Everything that can fail for a reason of the operator's is checked before a file is made.
  keyring::MasterKey master = keyring::MasterKey::Generate();
  const std::vector<uint8_t> store_id = keyring::RandomBytes(keyring::kStoreIdBytes);
  auto slot = keyring::MakeSlot(master, store_id, 1, label, first_key, limits);
  if (!slot) return slot.status();

  if (auto made = MakeDirectories(dir, 0700); !made) return made.status();

  Env::Options env_options;
  env_options.create = true;
  env_options.initial_map_bytes = options.initial_map_bytes;
  auto env = Env::Open(dir, env_options);
  if (!env) return env.status();
  const int64_t now = NowNs();
  Status s = (*env)->Write([&](Txn& txn) -> Status {
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kFormatKey), U32Bytes(kFormatVersion)));
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kStoreIdKey), store_id));
    ByteWriter created;
    created.I64(now);
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kCreatedKey), created.bytes()));
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kNextSlotKey), U32Bytes(2)));
    return txn.Put(Db::kSlots, SlotKey(1), slot->Encode());
  });
  if (s.ok() && first) {
    std::unique_ptr<SecretStore> store(new SecretStore(dir, std::move(*env), store_id, options));
    store->master_ = std::make_unique<keyring::MasterKey>(std::move(master));
    store->unlocked_slot_ = 1;
    s = first(*store);
  }
  if (!s.ok()) {
    // Leave no half-made store behind: the files were created by this call (a store that
    // exists makes Env::Open fail), and one that failed its first use would refuse the init
    // run again with "a store already exists" while holding nothing but a key slot.
    env->reset();
    std::error_code ec;
    std::filesystem::remove(dir + "/data.mdb", ec);
    std::filesystem::remove(dir + "/lock.mdb", ec);
  }
  return s;
}

Result<std::unique_ptr<SecretStore>> SecretStore::Open(const std::string& dir,
                                                       const StoreOptions& options) {
  SECRETFS_RETURN_IF_ERROR(keyring::InitCrypto());
  auto env = Env::Open(dir, Env::Options{});
  if (!env) return env.status();
  std::vector<uint8_t> store_id;
  uint32_t format = 0;
  Status s = (*env)->Read([&](Txn& txn) -> Status {
    auto stored = ReadU32(txn, kFormatKey);
    if (!stored) return Status(EIO, dir + " is not a secretfs store (no format version)");
    format = *stored;
    if (format < kOldestFormatVersion || format > kFormatVersion)
      return Status(EIO, "the store at " + dir + " has format " + std::to_string(format) +
                             "; this secretfs reads formats " +
                             std::to_string(kOldestFormatVersion) + " to " +
                             std::to_string(kFormatVersion));
    Bytes id;
    SECRETFS_RETURN_IF_ERROR(txn.Get(Db::kMeta, AsBytes(kStoreIdKey), id).Wrap("store id"));
    store_id.assign(id.begin(), id.end());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  std::string notice;
  if (format < kFormatVersion) {
    // Records of the new format may be written from now on: mark the store before any is, so
    // an older secretfs refuses it by its number rather than finding "damaged" records.
    const std::string upgrade =
        "from format " + std::to_string(format) + " to " + std::to_string(kFormatVersion);
    s = (*env)->Write([&](Txn& txn) -> Status {
      return txn.Put(Db::kMeta, AsBytes(kFormatKey), U32Bytes(kFormatVersion));
    });
    if (!s.ok()) return s.Wrap("upgrading the store at " + dir + " " + upgrade);
    notice = "the store at " + dir + " was upgraded " + upgrade +
             "; older versions of secretfs no longer open it";
  }
  // Best effort: a store on a nearly full disk still opens, and says so; one this process may
  // not write (another user's, a read-only disk) has no use for a reserve.
  if (auto reserve = KeepSpaceReserve(dir); !reserve && reserve.status().code() == ENOSPC)
    notice += (notice.empty() ? "" : "; ") + reserve.status().message();
  std::unique_ptr<SecretStore> store(
      new SecretStore(dir, std::move(*env), std::move(store_id), options));
  store->open_notice_ = std::move(notice);
  return store;
}

Status SecretStore::Unlock(const keyring::KeyMaterial& material) {
  Result<std::vector<keyring::KeySlot>> slots = Status(EIO, "no key slots");
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) {
    slots = LoadSlots(txn);
    return slots.status();
  }));
  auto unlocked = keyring::Unlock(*slots, store_id_, material);
  if (!unlocked) return unlocked.status();
  master_ = std::make_unique<keyring::MasterKey>(std::move(unlocked->master));
  unlocked_slot_ = unlocked->slot_id;
  return Status::Ok();
}

Result<std::vector<KeySlotInfo>> SecretStore::ListSlots() {
  Result<std::vector<keyring::KeySlot>> slots = Status(EIO, "no key slots");
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) {
    slots = LoadSlots(txn);
    return slots.status();
  }));
  std::vector<KeySlotInfo> out;
  for (const auto& s : *slots) out.push_back(KeySlotInfo::Of(s));
  return out;
}

Result<uint32_t> SecretStore::AddSlot(const keyring::KeyMaterial& material,
                                      const std::string& label, keyring::PwhashLimits limits) {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  // Argon2id is slow, so the slot is made outside the write transaction with the id it will
  // probably get, and made again in the rare case another process took that id meanwhile.
  for (int attempt = 0; attempt < 5; ++attempt) {
    Result<uint32_t> id = Status(EIO, "no slot id");
    SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) {
      id = ReadU32(txn, kNextSlotKey);
      return id.status();
    }));
    auto slot = keyring::MakeSlot(*master_, store_id_, *id, label, material, limits);
    if (!slot) return slot.status();
    bool raced = false;
    SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
      auto next = ReadU32(txn, kNextSlotKey);
      if (!next) return next.status();
      raced = *next != *id;
      if (raced) return Status::Ok();
      SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kMeta, AsBytes(kNextSlotKey), U32Bytes(*id + 1)));
      return txn.Put(Db::kSlots, SlotKey(*id), slot->Encode());
    }));
    if (!raced) return *id;
  }
  return Status(EAGAIN, "key slots are being changed concurrently; try again");
}

Status SecretStore::RemoveSlot(uint32_t id) {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  return env_->Write([&](Txn& txn) -> Status {
    size_t count = 0;
    bool found = false;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSlots, {}, [&](Bytes k, Bytes) {
      ++count;
      found = found || SlotIdOf(k) == id;
      return true;
    }));
    if (!found) return Status(ENOENT, "there is no key slot " + std::to_string(id));
    if (count == 1)
      return Status(EBUSY, "slot " + std::to_string(id) +
                               " is the last key slot; add another before removing it");
    return txn.Del(Db::kSlots, SlotKey(id));
  });
}

Result<WorkspaceRecord> SecretStore::LoadWorkspace(const Txn& txn, std::string_view name) {
  Bytes v;
  Status s = txn.Get(Db::kWorkspaces, AsBytes(name), v);
  if (s.code() == ENOENT)
    return Status(ENOENT, "workspace " + std::string(name) +
                              " does not exist (create it with: secretfs workspace create " +
                              std::string(name) + ")");
  SECRETFS_RETURN_IF_ERROR(s);
  return WorkspaceRecord::Decode(v);
}

Result<std::shared_ptr<const keyring::DataKey>> SecretStore::DataKeyFor(const Txn& txn,
                                                                        std::string_view workspace,
                                                                        uint32_t generation) {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  Bytes raw;
  if (Status s = txn.Get(Db::kWorkspaces, AsBytes(workspace), raw); !s.ok())
    return LoadWorkspace(txn, workspace).status();  // the message that names the workspace
  {
    // The read path: the workspace record is byte for byte the one the cached key came from.
    std::lock_guard lock(keys_mutex_);
    auto it = data_keys_.find(workspace);
    if (it != data_keys_.end() && it->second.key->generation() == generation &&
        std::equal(raw.begin(), raw.end(), it->second.record.begin(), it->second.record.end()))
      return it->second.key;
  }
  auto ws = WorkspaceRecord::Decode(raw);
  if (!ws) return ws.status();
  if (ws->key_generation != generation)
    return Status(EIO, "record sealed under data key generation " + std::to_string(generation) +
                           " of workspace " + std::string(workspace) + ", which has generation " +
                           std::to_string(ws->key_generation));
  auto key = keyring::DataKey::Unwrap(*master_, workspace, generation, ws->wrapped_key);
  if (!key) return key.status();
  auto shared = std::make_shared<const keyring::DataKey>(std::move(*key));
  std::lock_guard lock(keys_mutex_);
  data_keys_.insert_or_assign(std::string(workspace),
                              CachedKey{std::vector<uint8_t>(raw.begin(), raw.end()), shared});
  return shared;
}

Status SecretStore::CreateWorkspace(std::string_view name, Naming naming, uint32_t keep_versions) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(name));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  WorkspaceRecord rec;
  rec.naming = naming;
  rec.keep_versions = keep_versions;
  rec.created_ns = NowNs();
  rec.key_generation = 1;
  rec.wrapped_key = keyring::DataKey::Generate(rec.key_generation).Wrap(*master_, name);
  return env_->Write([&](Txn& txn) -> Status {
    Bytes existing;
    if (txn.Get(Db::kWorkspaces, AsBytes(name), existing).ok())
      return Status(EEXIST, "workspace " + std::string(name) + " already exists");
    return txn.Put(Db::kWorkspaces, AsBytes(name), rec.Encode());
  });
}

namespace {

// Fills the counts of `info` from the secrets table.
Status CountSecrets(const Txn& txn, WorkspaceInfo& info) {
  return txn.Scan(Db::kSecrets, SecretPrefix(info.name), [&](Bytes, Bytes v) {
    auto rec = SecretRecord::Decode(v);
    if (!rec)
      ++info.damaged_secrets;  // one damaged record must not take the workspace with it
    else if (rec->deleted)
      ++info.deleted_secrets;
    else
      ++info.live_secrets;
    return true;
  });
}

}  // namespace

Result<std::vector<WorkspaceInfo>> SecretStore::ListWorkspaces(
    const std::function<bool(std::string_view name)>& only) {
  std::vector<WorkspaceInfo> out;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    Status damaged;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kWorkspaces, {}, [&](Bytes k, Bytes v) {
      auto rec = WorkspaceRecord::Decode(v);
      if (!rec) {
        damaged = rec.status();
        return false;
      }
      std::string name(k.begin(), k.end());
      if (only && !only(name)) return true;
      out.push_back({std::move(name), rec->naming, rec->created_ns, rec->key_generation, 0, 0});
      out.back().keep_versions = rec->keep_versions;
      return true;
    }));
    SECRETFS_RETURN_IF_ERROR(damaged);
    for (auto& info : out) SECRETFS_RETURN_IF_ERROR(CountSecrets(txn, info));
    return Status::Ok();
  }));
  return out;
}

Result<WorkspaceInfo> SecretStore::GetWorkspace(std::string_view name) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(name));
  WorkspaceInfo info;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    auto rec = LoadWorkspace(txn, name);
    if (!rec) return rec.status();
    info = {std::string(name), rec->naming, rec->created_ns, rec->key_generation, 0, 0};
    info.keep_versions = rec->keep_versions;
    return CountSecrets(txn, info);
  }));
  return info;
}

Result<size_t> SecretStore::SetKeepVersions(std::string_view workspace, uint32_t keep) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  size_t erased = 0;
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    erased = 0;  // a retried transaction counts again
    auto rec = LoadWorkspace(txn, workspace);
    if (!rec) return rec.status();
    rec->keep_versions = keep;
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kWorkspaces, AsBytes(workspace), rec->Encode()));
    if (keep == 0) return Status::Ok();
    // Collect first: an LMDB cursor must not be used across deletes made outside it.
    std::vector<std::pair<std::string, uint64_t>> secrets;
    Status damaged;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSecrets, SecretPrefix(workspace), [&](Bytes k, Bytes v) {
      std::string ws, key;
      auto secret = SecretRecord::Decode(v);
      if (!SplitSecretKey(k, ws, key) || !secret) {
        damaged = Status(EIO, "a secret record of workspace " + std::string(workspace) +
                                  " is damaged (see secretfs verify); nothing was changed");
        return false;
      }
      secrets.emplace_back(std::move(key), secret->version);
      return true;
    }));
    SECRETFS_RETURN_IF_ERROR(damaged);
    for (const auto& [key, current] : secrets)
      SECRETFS_RETURN_IF_ERROR(PruneVersions(txn, workspace, key, current, keep, erased));
    return Status::Ok();
  }));
  return erased;
}

Status SecretStore::DeleteWorkspace(std::string_view name, bool purge) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(name));
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto rec = LoadWorkspace(txn, name);
    if (!rec) return rec.status();
    const std::vector<uint8_t> prefix = SecretPrefix(name);
    // Collect first: an LMDB cursor must not be used across deletes made outside it.
    std::vector<std::vector<uint8_t>> secrets, versions;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSecrets, prefix, [&](Bytes k, Bytes) {
      secrets.emplace_back(k.begin(), k.end());
      return true;
    }));
    if (!secrets.empty() && !purge)
      return Status(ENOTEMPTY, "workspace " + std::string(name) + " still holds " +
                                   std::to_string(secrets.size()) +
                                   " secret(s), live or deleted with history; destroy them, or "
                                   "delete the workspace with --purge");
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kVersions, prefix, [&](Bytes k, Bytes) {
      versions.emplace_back(k.begin(), k.end());
      return true;
    }));
    for (const auto& k : versions) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kVersions, k));
    for (const auto& k : secrets) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kSecrets, k));
    // Dropping the wrapped data key is what makes any copy of the versions unreadable.
    return txn.Del(Db::kWorkspaces, AsBytes(name));
  }));
  std::lock_guard lock(keys_mutex_);
  if (auto it = data_keys_.find(name); it != data_keys_.end()) data_keys_.erase(it);
  return Status::Ok();
}

}  // namespace secretfs::store
