// SecretStore::RekeyWorkspace: a workspace's new data key, every version re-encrypted under it.
#include "common/byte_codec.h"
#include "store/secret_store.h"

namespace secretfs::store {

Result<RekeyResult> SecretStore::RekeyWorkspace(
    std::string_view workspace, const std::function<void(size_t, size_t)>& progress) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  RekeyResult result;
  // One transaction: a crash or a full disk leaves the old key and records whole; readers see
  // either state complete. The body may run again when the map grows: it starts from what the
  // transaction reads.
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto rekeyed = RekeyInTxn(txn, workspace, *master_, progress);
    if (!rekeyed) return rekeyed.status();
    result = *rekeyed;
    return Status::Ok();
  }));
  return result;
}

Result<RekeyResult> SecretStore::RekeyInTxn(Txn& txn, std::string_view workspace,
                                            const keyring::MasterKey& wrap_under,
                                            const std::function<void(size_t, size_t)>& progress) {
  auto ws = LoadWorkspace(txn, workspace);
  if (!ws) return ws.status();
  const uint32_t generation = ws->key_generation + 1;
  const keyring::DataKey fresh = keyring::DataKey::Generate(generation);

  // The keys first: the table is rewritten below, and a cursor must not walk what it changes.
  std::vector<std::vector<uint8_t>> keys;
  SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kVersions, SecretPrefix(workspace), [&](Bytes k, Bytes) {
    keys.emplace_back(k.begin(), k.end());
    return true;
  }));
  size_t done = 0;
  for (const std::vector<uint8_t>& k : keys) {
    std::string ws_name, key;
    uint64_t version = 0;
    if (!SplitVersionKey(k, ws_name, key, version))
      return Status(EIO, "a version key of workspace " + std::string(workspace) + " is damaged");
    const std::string what = ws_name + "/" + key + " version " + std::to_string(version);
    Bytes stored;
    SECRETFS_RETURN_IF_ERROR(txn.Get(Db::kVersions, k, stored).Wrap(what));
    auto rec = VersionRecord::Decode(stored);
    if (!rec) return rec.status().Wrap(what);
    // Unwrapped under the store's master key: the workspace record is rewritten only below.
    auto old_key = DataKeyFor(txn, workspace, rec->key_generation);
    if (!old_key) return old_key.status().Wrap(what);
    auto plain = keyring::OpenRecord(**old_key, {workspace, key, version}, rec->sealed);
    if (!plain)
      return Status(EIO, what +
                             " does not open, so the workspace was not rekeyed (see "
                             "secretfs verify): " +
                             plain.status().message());
    const std::vector<uint8_t> sealed =
        keyring::SealRecord(fresh, {workspace, key, version}, plain->bytes());
    rec->key_generation = generation;
    rec->sealed = sealed;
    SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kVersions, k, rec->Encode()));
    if (progress) progress(++done, keys.size());
  }
  // The old wrapped key is overwritten: nothing in the live store opens with it any more.
  ws->key_generation = generation;
  ws->wrapped_key = fresh.Wrap(wrap_under, workspace);
  SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kWorkspaces, AsBytes(workspace), ws->Encode()));
  return RekeyResult{generation, keys.size()};
}

}  // namespace secretfs::store
