// SecretStore: workspaces, versioned secrets and key slots in one LMDB environment.
//
// Values are sealed by keyring before they reach LMDB and opened into locked memory on the way out;
// the store never holds plaintext on disk. Every change is one LMDB write transaction: it is
// either wholly committed or not at all (also on ENOSPC and crashes).
//
// Thread-safety: one SecretStore may be used from many threads at once (the filesystem daemon's
// workers). Reads run in parallel and never block a writer; writes are serialised by LMDB. Other
// processes (the CLI, another mount) may use the same store at the same time; their commits are
// visible to the next call here.
//
// Errors (Status::code()): EINVAL invalid name or argument, ENOENT no such workspace/secret/version
// (or the secret is deleted), EEXIST already exists, EFBIG value over max_value_bytes, EBUSY a
// check-and-set lost, ENOTEMPTY workspace not empty, EACCES wrong key, EIO a record that does not
// open or decode (that secret only), ENOSPC disk full (nothing half-written).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"
#include "store/lmdb_env.h"
#include "store/names.h"
#include "store/schema.h"

namespace secretfs::store {

inline constexpr size_t kDefaultMaxValueBytes = size_t{1} << 20;

// The secret types SPEC §4 names.
bool IsKnownType(std::string_view type);

struct StoreOptions {
  size_t initial_map_bytes = size_t{64} << 20;  // LMDB map at creation; grows by itself
  size_t max_value_bytes = kDefaultMaxValueBytes;
};

struct WorkspaceInfo {
  std::string name;
  Naming naming = Naming::kDefault;
  int64_t created_ns = 0;
  uint32_t key_generation = 0;
  size_t live_secrets = 0;
  size_t deleted_secrets = 0;
  size_t damaged_secrets = 0;  // records that do not decode (secretfs verify names them)
  uint32_t keep_versions = 0;  // versions kept of each secret; 0: every one
};

struct SecretInfo {
  std::string workspace;
  std::string key;
  SecretRecord record;
  // The record does not decode: only the name is known, and Stat and Read of it fail with EIO.
  // A listing still names it, so that one damaged secret does not hide the others (SPEC §11).
  bool damaged = false;
};

struct VersionInfo {
  uint64_t version = 0;
  int64_t created_ns = 0;
  std::string author;
  uint64_t size = 0;
  uint32_t key_generation = 0;
};

// Changes to a secret's metadata; unset fields stay as they are. A tag mapped to nullopt is
// removed.
struct MetadataUpdate {
  std::optional<std::string> description;
  std::optional<std::string> type;
  std::map<std::string, std::optional<std::string>> tags;
  bool empty() const { return !description && !type && tags.empty(); }
};

// Applies `update` to `meta`, as a write or a metadata change that carries it stores it.
void ApplyMetadata(SecretRecord& meta, const MetadataUpdate& update);

// Checks an update against the metadata rules (known type, tag names [A-Za-z0-9_.-]{1,63}, values
// without ',' or control characters, bounded sizes). EINVAL naming the rule.
Status ValidateMetadata(const MetadataUpdate& update);

struct WriteRequest {
  std::string_view workspace;
  std::string_view key;
  std::span<const uint8_t> value;
  std::string author;  // recorded as updated_by and in the version
  std::optional<uint64_t>
      expect_version;        // check-and-set: EBUSY unless this is current (0: absent)
  bool create_only = false;  // EEXIST when the secret is live
  // ENOENT unless the secret is live and is the one opened: its incarnation is still `opened`
  // (read at open). A secret removed or destroyed and made again meanwhile is another secret.
  bool only_if_live = false;
  Incarnation opened;
  MetadataUpdate metadata;
  // A new version even when the value equals the current one. For a writer that may not read
  // the value: "unchanged, no new version" would tell it that its guess was right.
  bool even_if_unchanged = false;
};

struct WriteResult {
  uint64_t version = 0;     // the current version after the write
  bool created = false;     // the secret was not live before
  bool unchanged = false;   // same value as the current version: no new version was made
  Incarnation incarnation;  // the secret's after the write
};

struct OpenedValue {
  uint64_t version = 0;
  int64_t updated_ns = 0;   // when the secret's current version was written
  Incarnation incarnation;  // for WriteRequest::opened
  keyring::SecretBuffer value;
};

struct KeySlotInfo {
  uint32_t id = 0;
  keyring::SlotKind kind = keyring::SlotKind::kKeyFile;
  std::string label;
  int64_t created_unix = 0;
  std::vector<uint8_t> recipient;  // recipient slots: the X25519 public key (not secret)

  static KeySlotInfo Of(const keyring::KeySlot& slot) {
    return {slot.id, slot.kind, slot.label, slot.created_unix, slot.recipient};
  }
};

struct VerifyProblem {
  std::string workspace;
  std::string key;  // empty for a workspace-level problem
  uint64_t version = 0;
  std::string message;
};

struct VerifyReport {
  size_t workspaces = 0;
  size_t secrets = 0;
  size_t versions_ok = 0;
  std::vector<VerifyProblem> problems;
};

struct RekeyResult {
  uint32_t generation = 0;  // the workspace's new data-key generation
  size_t versions = 0;      // versions re-encrypted
};

struct RotateResult {
  uint32_t kept_slot = 0;             // the slot that unlocked the store, remade for the new key
  std::vector<KeySlotInfo> resealed;  // recipient slots, sealed to the new key
  std::vector<KeySlotInfo> dropped;   // slots that need a secret the rotation did not have
  size_t workspaces = 0;              // workspaces given a new data key
  size_t versions = 0;                // versions re-encrypted under them
};

// Runs inside the rotation's write transaction with the old and the new audit key (both derived
// from a master key), for a layer above that keeps data keyed with it: the audit chain.
using AuditKeyChange = std::function<Status(Txn& txn, const keyring::SecretBuffer& old_audit_key,
                                            const keyring::SecretBuffer& new_audit_key)>;

struct StoreUsage {
  size_t map_bytes = 0;   // what the store may hold before its map is enlarged
  size_t used_bytes = 0;  // what it holds now
};

class SecretStore {
 public:
  // What Create runs on the new store, unlocked, before it returns (init records its event).
  using FirstUse = std::function<Status(SecretStore& store)>;

  // Creates a store in `dir` (created 0700 if missing; EEXIST if it holds a store) with a new
  // master key and one key slot opening with `first_key`, then runs `first` on it, if given.
  // When any of it fails, nothing of the store is left: the same command can be run again.
  static Status Create(const std::string& dir, const keyring::KeyMaterial& first_key,
                       keyring::PwhashLimits limits, const std::string& label,
                       const StoreOptions& options = {}, const FirstUse& first = {});

  // Opens an existing store, locked: metadata can be read, values cannot until Unlock.
  static Result<std::unique_ptr<SecretStore>> Open(const std::string& dir,
                                                   const StoreOptions& options = {});

  // EACCES when no slot opens with `material`; nothing in the store changes either way.
  Status Unlock(const keyring::KeyMaterial& material);
  bool unlocked() const { return master_ != nullptr; }
  // The slot that opened the store (0 before Unlock).
  uint32_t unlocked_slot() const { return unlocked_slot_; }
  const std::string& dir() const { return dir_; }
  const StoreOptions& options() const { return options_; }
  // What opening the store changed or found that its operator should hear of, or "": Open
  // upgrades a store of an older format, after which older versions of secretfs refuse it, and
  // says when the disk has no room for the store's space reserve (space_reserve.h).
  const std::string& open_notice() const { return open_notice_; }

  // Key slots. AddSlot and RemoveSlot need the store unlocked; RemoveSlot refuses (EBUSY) to
  // remove the last slot.
  Result<std::vector<KeySlotInfo>> ListSlots();
  Result<uint32_t> AddSlot(const keyring::KeyMaterial& material, const std::string& label,
                           keyring::PwhashLimits limits);
  Status RemoveSlot(uint32_t id);

  // Workspaces. CreateWorkspace needs the store unlocked (it wraps a new data key).
  // DeleteWorkspace refuses with ENOTEMPTY while any secret (live or deleted) remains, unless
  // `purge`, which erases every secret and version and destroys the data key.
  // `keep_versions`: as SetKeepVersions (0 keeps every version).
  Status CreateWorkspace(std::string_view name, Naming naming, uint32_t keep_versions = 0);
  // With `only`, just the workspaces it accepts, and only theirs are counted: counting takes
  // time in proportion, which told who may not see the others how many secrets they hold.
  Result<std::vector<WorkspaceInfo>> ListWorkspaces(
      const std::function<bool(std::string_view name)>& only = {});
  Result<WorkspaceInfo> GetWorkspace(std::string_view name);
  Status DeleteWorkspace(std::string_view name, bool purge);
  // From now on each new version of a secret of `workspace` (a write, rollback or rename through
  // any process) erases, in its transaction, the versions numbered below the newest `keep`:
  // versions N-keep+1 to N stay. 0 keeps every version (a new workspace's setting). In the same
  // transaction, the versions already beyond `keep` are erased from every secret of the
  // workspace, live or deleted. Returns how many versions were erased.
  Result<size_t> SetKeepVersions(std::string_view workspace, uint32_t keep);

  // Secrets. Stat and List include soft-deleted secrets (record.deleted); List includes damaged
  // ones (SecretInfo::damaged), and skips only a name too damaged to split.
  Result<SecretInfo> Stat(std::string_view workspace, std::string_view key);
  Result<std::vector<SecretInfo>> List(std::string_view workspace);
  // The current value (ENOENT when deleted), or version `version` (deleted or not).
  Result<OpenedValue> Read(std::string_view workspace, std::string_view key,
                           std::optional<uint64_t> version = std::nullopt);
  Result<WriteResult> Write(const WriteRequest& request);
  Status SetMetadata(std::string_view workspace, std::string_view key, const MetadataUpdate& update,
                     const std::string& author);
  Result<std::vector<VersionInfo>> History(std::string_view workspace, std::string_view key);
  // Soft delete: hidden from listings, versions kept. ENOENT when not live.
  Status Remove(std::string_view workspace, std::string_view key, const std::string& author);
  // EINVAL when the secret is live.
  Status Undelete(std::string_view workspace, std::string_view key, const std::string& author);
  // A new version holding version `version`'s value (the secret becomes live if it was deleted).
  Result<WriteResult> Rollback(std::string_view workspace, std::string_view key, uint64_t version,
                               const std::string& author);
  // Gives `to` a new version with `from`'s current value and soft-deletes `from`, in one
  // transaction (what mv and editors that save by rename need). EEXIST when `no_replace` and `to`
  // is live; ENOENT when `from` is not live. `even_if_unchanged` as in WriteRequest: a caller
  // that may not read `to` gets a new version even when the values are equal. `only_own_value`:
  // EACCES unless `from`'s current version was written by `author` (a caller that may not read
  // `from` moves only a value it wrote itself), decided in the move's own transaction.
  Result<WriteResult> Rename(std::string_view workspace, std::string_view from, std::string_view to,
                             bool no_replace, const std::string& author,
                             bool even_if_unchanged = false, bool only_own_value = false);
  // Erases one version for good (EBUSY for the current one), or with no version the secret and
  // all its versions.
  Status Destroy(std::string_view workspace, std::string_view key, std::optional<uint64_t> version);

  // The environment, for the layers above that keep their own tables in it (the audit log).
  Env& env() { return *env_; }
  // The key of the audit chain (SPEC §6), derived from the master key. EACCES while locked.
  Result<keyring::SecretBuffer> AuditKey() const;

  StoreUsage Usage() const { return {env_->map_bytes(), env_->used_bytes()}; }

  // A compacted, consistent copy into directory `dest` (created if missing; EEXIST if it holds a
  // store). The copy opens with the same key slots. `before_copy`, when given, runs once `dest`
  // has been checked and its data file made, so what it commits (the backup's audit event) is in
  // the copy; when it fails, nothing is copied and its error is returned.
  Status Backup(const std::string& dest, const std::function<Status()>& before_copy = {});
  // Gives `workspace` a new data key (the next generation) and re-encrypts every version of every
  // secret under it, in one transaction: afterwards no record of the store opens with the old
  // key, whose wrapped copy is replaced. Readers keep working throughout (they see the old or the
  // new state whole). EIO naming the first record that does not open (nothing changes then).
  // `progress`, when set, is called as (versions done, versions total).
  Result<RekeyResult> RekeyWorkspace(std::string_view workspace,
                                     const std::function<void(size_t, size_t)>& progress = {});

  // `keyring rotate`: gives the store a new master key, in one transaction. Every workspace gets
  // a new data key, wrapped under the new master key, and every version is re-encrypted under it
  // (as RekeyWorkspace does), so that no key that existed before the rotation (an old master key
  // or data key, carved with an old slot or workspace record out of a later copy's free pages)
  // opens anything written after it. The slot that unlocked the store is remade for `material`
  // (which must open it: the operator keeps their key, passphrase limits included), recipient
  // slots are sealed again (they need no secret), and every other slot is dropped. Afterwards
  // nothing in the store opens with the old master key. `audit_key_change` runs in the same
  // transaction. EACCES when `material` does not open the unlocking slot, EAGAIN when the slots
  // changed meanwhile, EIO when a data key or a version does not open (nothing changes then).
  // `progress`, when set, is called as (versions done, versions total).
  Result<RotateResult> RotateMasterKey(const keyring::KeyMaterial& material,
                                       const AuditKeyChange& audit_key_change,
                                       const std::function<void(size_t, size_t)>& progress = {});

  // Opens every record (needs the store unlocked); reports each one that fails. `progress`, when
  // set, is called as (versions done, versions total).
  Result<VerifyReport> Verify(const std::function<void(size_t, size_t)>& progress = {});

 private:
  SecretStore(std::string dir, std::unique_ptr<Env> env, std::vector<uint8_t> store_id,
              StoreOptions options);

  // The data key of `workspace` at `generation`, unwrapped once and cached.
  Result<std::shared_ptr<const keyring::DataKey>> DataKeyFor(const Txn& txn,
                                                             std::string_view workspace,
                                                             uint32_t generation);
  Result<WorkspaceRecord> LoadWorkspace(const Txn& txn, std::string_view name);
  // Opens version `version` of W/K inside `txn`.
  Result<keyring::SecretBuffer> OpenVersion(const Txn& txn, std::string_view workspace,
                                            std::string_view key, uint64_t version);
  // Makes `value` the current value of W/K inside `txn`: no new version when it equals the
  // current live value; else a new version sealed under the workspace's data key. `meta` is the
  // secret's record (nullopt for a new secret) and is updated with `metadata` in either case.
  Result<WriteResult> PutValue(Txn& txn, std::string_view workspace, std::string_view key,
                               const WorkspaceRecord& ws, std::optional<SecretRecord> meta,
                               std::span<const uint8_t> value, const std::string& author,
                               const MetadataUpdate& metadata, bool even_if_unchanged = false);
  // Erases the versions of W/K numbered below current - keep + 1 (none when keep is 0); adds
  // how many to `erased`.
  static Status PruneVersions(Txn& txn, std::string_view workspace, std::string_view key,
                              uint64_t current, uint32_t keep, size_t& erased);
  // Inside `txn`: gives `workspace` a new data key (the next generation), wrapped under
  // `wrap_under`, and re-encrypts every version of it under that key. The old records are opened
  // with the data key as unwrapped under master_ from the workspace record `txn` holds. What
  // RekeyWorkspace does, and RotateMasterKey for every workspace.
  Result<RekeyResult> RekeyInTxn(Txn& txn, std::string_view workspace,
                                 const keyring::MasterKey& wrap_under,
                                 const std::function<void(size_t, size_t)>& progress);
  Status RequireUnlocked() const;

  std::string dir_;
  std::string open_notice_;
  std::unique_ptr<Env> env_;
  std::vector<uint8_t> store_id_;
  StoreOptions options_;
  std::unique_ptr<keyring::MasterKey> master_;
  uint32_t unlocked_slot_ = 0;

  // Unwrapped data keys by workspace, with the workspace record they came from: a workspace
  // deleted and created again (by any process) has the same name and generation but another key.
  // Guarded by keys_mutex_ (taken inside a transaction, never held while starting one).
  struct CachedKey {
    std::vector<uint8_t> record;
    std::shared_ptr<const keyring::DataKey> key;
  };
  std::mutex keys_mutex_;
  std::map<std::string, CachedKey, std::less<>> data_keys_;
};

// Nanoseconds since the Unix epoch, now.
int64_t NowNs();

}  // namespace secretfs::store
