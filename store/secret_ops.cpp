// SecretStore: reading and changing secrets and their versions.
#include <algorithm>

#include "common/byte_codec.h"
#include "common/text_format.h"
#include "store/secret_store.h"

namespace secretfs::store {
namespace {

constexpr size_t kMaxDescription = 1024;
constexpr size_t kMaxTags = 64;
constexpr size_t kMaxTagName = 63;
constexpr size_t kMaxTagValue = 255;

std::string PathText(std::string_view workspace, std::string_view key) {
  return std::string(workspace) + "/" + std::string(key);
}

Status CheckNames(std::string_view workspace, std::string_view key) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  return ValidateKeyName(key);
}

// The secret's record; ENOENT naming the secret when there is none.
Result<SecretRecord> LoadSecret(const Txn& txn, std::string_view workspace, std::string_view key) {
  Bytes v;
  Status s = txn.Get(Db::kSecrets, SecretKey(workspace, key), v);
  if (s.code() == ENOENT) return Status(ENOENT, "no secret " + PathText(workspace, key));
  SECRETFS_RETURN_IF_ERROR(s);
  auto rec = SecretRecord::Decode(v);
  if (!rec) return rec.status().Wrap(PathText(workspace, key));
  return rec;
}

Result<SecretRecord> LoadLiveSecret(const Txn& txn, std::string_view workspace,
                                    std::string_view key) {
  auto rec = LoadSecret(txn, workspace, key);
  if (rec && rec->deleted)
    return Status(ENOENT, PathText(workspace, key) +
                              " is deleted (restore it with: secretfs undelete " +
                              PathText(workspace, key) + ")");
  return rec;
}

bool IsTagNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

void ApplyMetadata(SecretRecord& meta, const MetadataUpdate& update) {
  if (update.description) meta.description = *update.description;
  if (update.type) meta.type = *update.type;
  for (const auto& [name, value] : update.tags) {
    if (value)
      meta.tags[name] = *value;
    else
      meta.tags.erase(name);
  }
}

Status ValidateMetadata(const MetadataUpdate& update) {
  if (update.description && update.description->size() > kMaxDescription)
    return Status(EINVAL,
                  "a description has at most " + std::to_string(kMaxDescription) + " bytes");
  // Listings print descriptions: no line breaks or escape sequences to forge rows with.
  if (update.description && !IsPrintableUtf8(*update.description))
    return Status(EINVAL,
                  "a description is UTF-8 text without control characters (newlines, escapes)");
  if (update.type && !update.type->empty() && !IsKnownType(*update.type))
    return Status(EINVAL, "unknown type '" + *update.type +
                              "' (use api-token, database, service or generic)");
  if (update.tags.size() > kMaxTags)
    return Status(EINVAL, "at most " + std::to_string(kMaxTags) + " tags");
  for (const auto& [name, value] : update.tags) {
    if (name.empty() || name.size() > kMaxTagName ||
        !std::all_of(name.begin(), name.end(), IsTagNameChar))
      return Status(EINVAL, "invalid tag name " + QuoteName(name) +
                                ": 1 to 63 letters, digits, '_', '.' or '-'");
    if (value && (value->size() > kMaxTagValue || value->find(',') != std::string::npos ||
                  !IsPrintableUtf8(*value)))
      return Status(EINVAL, "invalid value for tag " + name +
                                ": at most 255 bytes of UTF-8, no ',' and no control characters");
  }
  return Status::Ok();
}

Result<keyring::SecretBuffer> SecretStore::OpenVersion(const Txn& txn, std::string_view workspace,
                                                       std::string_view key, uint64_t version) {
  // Named only on failure: every open of a secret comes here.
  auto what = [&] { return PathText(workspace, key) + " version " + std::to_string(version); };
  Bytes v;
  Status s = txn.Get(Db::kVersions, VersionKey(workspace, key, version), v);
  if (s.code() == ENOENT) return Status(ENOENT, "no " + what());
  if (!s.ok()) return s.Wrap(what());
  auto rec = VersionRecord::Decode(v);
  if (!rec) return rec.status().Wrap(what());
  auto data_key = DataKeyFor(txn, workspace, rec->key_generation);
  if (!data_key) return data_key.status().Wrap(what());
  auto plain = keyring::OpenRecord(**data_key, {workspace, key, version}, rec->sealed);
  if (!plain) return Status(EIO, what() + " does not open: " + plain.status().message());
  return plain;
}

Result<WriteResult> SecretStore::PutValue(Txn& txn, std::string_view workspace,
                                          std::string_view key, const WorkspaceRecord& ws,
                                          std::optional<SecretRecord> meta,
                                          std::span<const uint8_t> value, const std::string& author,
                                          const MetadataUpdate& metadata, bool even_if_unchanged) {
  const bool live = meta && !meta->deleted;
  if (live && !even_if_unchanged) {
    // A current value that no longer opens is replaced, not compared.
    auto current = OpenVersion(txn, workspace, key, meta->version);
    if (current && current->Equals(value)) {
      if (!metadata.empty()) {
        ApplyMetadata(*meta, metadata);
        SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kSecrets, SecretKey(workspace, key), meta->Encode()));
      }
      return WriteResult{meta->version, false, true, meta->incarnation()};
    }
  }
  const int64_t now = NowNs();
  if (!meta) {
    meta.emplace();
    meta->created_ns = now;
  }
  auto data_key = DataKeyFor(txn, workspace, ws.key_generation);
  if (!data_key) return data_key.status();
  const uint64_t version = meta->version + 1;
  VersionRecord rec;
  rec.created_ns = now;
  rec.author = author;
  rec.key_generation = ws.key_generation;
  const std::vector<uint8_t> sealed =
      keyring::SealRecord(**data_key, {workspace, key, version}, value);
  rec.sealed = sealed;
  // A version numbered above the record's current one cannot have been written by secretfs: the
  // record was set back (a rollback of data.mdb by someone who could write it). Overwriting it
  // would erase the evidence, so the write fails and verify names it.
  if (Status s = txn.Insert(Db::kVersions, VersionKey(workspace, key, version), rec.Encode());
      !s.ok())
    return s.code() == EEXIST
               ? Status(EIO, "the store is damaged: version " + std::to_string(version) + " of " +
                                 PathText(workspace, key) +
                                 " exists beyond its record's current version (" +
                                 std::to_string(meta->version) + "); see secretfs verify")
               : s;
  size_t erased = 0;
  SECRETFS_RETURN_IF_ERROR(PruneVersions(txn, workspace, key, version, ws.keep_versions, erased));

  ApplyMetadata(*meta, metadata);
  meta->version = version;
  meta->deleted = false;  // deleted_ns stays: when it was last deleted
  meta->updated_ns = now;
  meta->updated_by = author;
  meta->size = value.size();
  SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kSecrets, SecretKey(workspace, key), meta->Encode()));
  return WriteResult{version, !live, false, meta->incarnation()};
}

Result<SecretInfo> SecretStore::Stat(std::string_view workspace, std::string_view key) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  Result<SecretRecord> rec = Status(EIO, "not read");
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) {
    rec = LoadSecret(txn, workspace, key);
    return rec.status();
  }));
  return SecretInfo{std::string(workspace), std::string(key), std::move(*rec)};
}

Result<std::vector<SecretInfo>> SecretStore::List(std::string_view workspace) {
  SECRETFS_RETURN_IF_ERROR(ValidateWorkspaceName(workspace));
  std::vector<SecretInfo> out;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    auto ws = LoadWorkspace(txn, workspace);
    if (!ws) return ws.status();
    return txn.Scan(Db::kSecrets, SecretPrefix(workspace), [&](Bytes k, Bytes v) {
      SecretInfo info;
      if (!SplitSecretKey(k, info.workspace, info.key)) return true;  // no name to show
      auto rec = SecretRecord::Decode(v);
      if (rec)
        info.record = std::move(*rec);
      else
        info.damaged = true;
      out.push_back(std::move(info));
      return true;
    });
  }));
  return out;
}

Result<OpenedValue> SecretStore::Read(std::string_view workspace, std::string_view key,
                                      std::optional<uint64_t> version) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  OpenedValue out;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    auto meta = version ? LoadSecret(txn, workspace, key) : LoadLiveSecret(txn, workspace, key);
    if (!meta) return meta.status();
    out.version = version.value_or(meta->version);
    out.updated_ns = meta->updated_ns;
    out.incarnation = meta->incarnation();
    auto plain = OpenVersion(txn, workspace, key, out.version);
    if (!plain) return plain.status();
    out.value = std::move(*plain);
    return Status::Ok();
  }));
  return out;
}

Result<WriteResult> SecretStore::Write(const WriteRequest& request) {
  const std::string_view workspace = request.workspace, key = request.key;
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  SECRETFS_RETURN_IF_ERROR(ValidateMetadata(request.metadata));
  if (request.value.size() > options_.max_value_bytes)
    return Status(EFBIG, "the value of " + PathText(workspace, key) + " has " +
                             std::to_string(request.value.size()) + " bytes; the limit is " +
                             std::to_string(options_.max_value_bytes));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  Result<WriteResult> result = Status(EIO, "not written");
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto ws = LoadWorkspace(txn, workspace);
    if (!ws) return ws.status();
    SECRETFS_RETURN_IF_ERROR(ValidateKeyName(key, ws->naming));
    std::optional<SecretRecord> meta;
    if (auto rec = LoadSecret(txn, workspace, key))
      meta = std::move(*rec);
    else if (rec.status().code() != ENOENT)
      return rec.status();
    const bool live = meta && !meta->deleted;
    if (request.create_only && live)
      return Status(EEXIST, PathText(workspace, key) + " already exists");
    if (request.only_if_live && (!live || meta->incarnation() != request.opened))
      return Status(ENOENT, PathText(workspace, key) + " was deleted or renamed while open");
    if (request.expect_version && *request.expect_version != (live ? meta->version : 0))
      return Status(EBUSY, PathText(workspace, key) + " is at version " +
                               std::to_string(live ? meta->version : 0) + ", not the expected " +
                               std::to_string(*request.expect_version));
    result = PutValue(txn, workspace, key, *ws, std::move(meta), request.value, request.author,
                      request.metadata, request.even_if_unchanged);
    return result.status();
  }));
  return result;
}

Status SecretStore::SetMetadata(std::string_view workspace, std::string_view key,
                                const MetadataUpdate& update, const std::string& author) {
  (void)author;  // recorded by the audit layer; updated_by describes the value's writer
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  SECRETFS_RETURN_IF_ERROR(ValidateMetadata(update));
  return env_->Write([&](Txn& txn) -> Status {
    auto meta = LoadLiveSecret(txn, workspace, key);
    if (!meta) return meta.status();
    ApplyMetadata(*meta, update);
    return txn.Put(Db::kSecrets, SecretKey(workspace, key), meta->Encode());
  });
}

Result<std::vector<VersionInfo>> SecretStore::History(std::string_view workspace,
                                                      std::string_view key) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  std::vector<VersionInfo> out;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    auto meta = LoadSecret(txn, workspace, key);
    if (!meta) return meta.status();
    Status damaged;
    SECRETFS_RETURN_IF_ERROR(
        txn.Scan(Db::kVersions, VersionPrefix(workspace, key), [&](Bytes k, Bytes v) {
          VersionInfo info;
          std::string ws_name, key_name;
          auto rec = VersionRecord::Decode(v);
          if (!rec || !SplitVersionKey(k, ws_name, key_name, info.version)) {
            damaged = Status(EIO, PathText(workspace, key) + ": a version record is damaged");
            return false;
          }
          info.created_ns = rec->created_ns;
          info.author = rec->author;
          info.size = keyring::PlainSize(rec->sealed.size());
          info.key_generation = rec->key_generation;
          out.push_back(std::move(info));
          return true;
        }));
    return damaged;
  }));
  return out;
}

Status SecretStore::Remove(std::string_view workspace, std::string_view key,
                           const std::string& author) {
  (void)author;  // recorded by the audit layer
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  return env_->Write([&](Txn& txn) -> Status {
    auto meta = LoadLiveSecret(txn, workspace, key);
    if (!meta) return meta.status();
    meta->deleted = true;
    meta->deleted_ns = NowNs();
    return txn.Put(Db::kSecrets, SecretKey(workspace, key), meta->Encode());
  });
}

Status SecretStore::Undelete(std::string_view workspace, std::string_view key,
                             const std::string& author) {
  (void)author;  // recorded by the audit layer
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  return env_->Write([&](Txn& txn) -> Status {
    auto meta = LoadSecret(txn, workspace, key);
    if (!meta) return meta.status();
    if (!meta->deleted) return Status(EINVAL, PathText(workspace, key) + " is not deleted");
    Bytes v;
    SECRETFS_RETURN_IF_ERROR(
        txn.Get(Db::kVersions, VersionKey(workspace, key, meta->version), v)
            .Wrap(PathText(workspace, key) + " version " + std::to_string(meta->version)));
    meta->deleted = false;  // deleted_ns stays: a writer of the secret before its rm stays out
    return txn.Put(Db::kSecrets, SecretKey(workspace, key), meta->Encode());
  });
}

Result<WriteResult> SecretStore::Rollback(std::string_view workspace, std::string_view key,
                                          uint64_t version, const std::string& author) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  Result<WriteResult> result = Status(EIO, "not written");
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto ws = LoadWorkspace(txn, workspace);
    if (!ws) return ws.status();
    auto meta = LoadSecret(txn, workspace, key);
    if (!meta) return meta.status();
    auto old = OpenVersion(txn, workspace, key, version);
    if (!old) return old.status();
    result = PutValue(txn, workspace, key, *ws, std::move(*meta), old->bytes(), author, {});
    return result.status();
  }));
  return result;
}

Result<WriteResult> SecretStore::Rename(std::string_view workspace, std::string_view from,
                                        std::string_view to, bool no_replace,
                                        const std::string& author, bool even_if_unchanged,
                                        bool only_own_value) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, from));
  SECRETFS_RETURN_IF_ERROR(ValidateKeyName(to));
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  Result<WriteResult> result = Status(EIO, "not written");
  SECRETFS_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    auto ws = LoadWorkspace(txn, workspace);
    if (!ws) return ws.status();
    SECRETFS_RETURN_IF_ERROR(ValidateKeyName(to, ws->naming));
    auto source = LoadLiveSecret(txn, workspace, from);
    if (!source) return source.status();
    if (only_own_value && source->updated_by != author)
      return Status(EACCES, PathText(workspace, from) + " holds a value written by another");
    if (from == to) {
      result = WriteResult{source->version, false, true, source->incarnation()};
      return Status::Ok();
    }
    std::optional<SecretRecord> target;
    if (auto rec = LoadSecret(txn, workspace, to))
      target = std::move(*rec);
    else if (rec.status().code() != ENOENT)
      return rec.status();
    if (no_replace && target && !target->deleted)
      return Status(EEXIST, PathText(workspace, to) + " already exists");
    auto value = OpenVersion(txn, workspace, from, source->version);
    if (!value) return value.status();
    // A name that was not live takes the source's description, type and tags, as a file keeps
    // its attributes through mv. A live target keeps its own: an editor that saves through a
    // temporary file renames that file over the secret, and must not wipe what describes it.
    MetadataUpdate carried;
    if (!target || target->deleted) {
      carried.description = source->description;
      carried.type = source->type;
      if (target)
        for (const auto& [name, tag_value] : target->tags) carried.tags[name] = std::nullopt;
      for (const auto& [name, tag_value] : source->tags) carried.tags[name] = tag_value;
    }
    // A live target is replaced, as rename(2) unlinks it: like an rm, that keeps a writer who
    // opened it from storing over the moved value at its close (WriteRequest::opened).
    std::optional<SecretRecord> replaced;
    if (target && !target->deleted) {
      target->deleted_ns = NowNs();
      replaced = *target;
    }
    result = PutValue(txn, workspace, to, *ws, std::move(target), value->bytes(), author, carried,
                      even_if_unchanged);
    if (!result) return result.status();
    if (replaced && result->unchanged) {  // no version written, so no record either
      SECRETFS_RETURN_IF_ERROR(txn.Put(Db::kSecrets, SecretKey(workspace, to), replaced->Encode()));
      result->incarnation = replaced->incarnation();
    }
    source->deleted = true;
    source->deleted_ns = NowNs();
    return txn.Put(Db::kSecrets, SecretKey(workspace, from), source->Encode());
  }));
  return result;
}

Status SecretStore::PruneVersions(Txn& txn, std::string_view workspace, std::string_view key,
                                  uint64_t current, uint32_t keep, size_t& erased) {
  if (keep == 0 || current <= keep) return Status::Ok();
  const uint64_t oldest_kept = current - keep + 1;
  // Version keys sort by number: the scan stops at the first one kept, so a write to a secret
  // already within its limit visits one key.
  std::vector<std::vector<uint8_t>> doomed;
  SECRETFS_RETURN_IF_ERROR(
      txn.Scan(Db::kVersions, VersionPrefix(workspace, key), [&](Bytes k, Bytes) {
        std::string ws, name;
        uint64_t version = 0;
        if (!SplitVersionKey(k, ws, name, version)) return true;  // damaged: verify names it
        if (version >= oldest_kept) return false;
        doomed.emplace_back(k.begin(), k.end());
        return true;
      }));
  for (const auto& k : doomed) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kVersions, k));
  erased += doomed.size();
  return Status::Ok();
}

Status SecretStore::Destroy(std::string_view workspace, std::string_view key,
                            std::optional<uint64_t> version) {
  SECRETFS_RETURN_IF_ERROR(CheckNames(workspace, key));
  return env_->Write([&](Txn& txn) -> Status {
    auto meta = LoadSecret(txn, workspace, key);
    if (!meta) return meta.status();
    if (version) {
      if (*version == meta->version)
        return Status(EBUSY, "version " + std::to_string(*version) + " is the current value of " +
                                 PathText(workspace, key) +
                                 "; write a new value first, or destroy the whole secret");
      Status s = txn.Del(Db::kVersions, VersionKey(workspace, key, *version));
      if (s.code() == ENOENT)
        return Status(ENOENT,
                      "no " + PathText(workspace, key) + " version " + std::to_string(*version));
      return s;
    }
    std::vector<std::vector<uint8_t>> versions;
    SECRETFS_RETURN_IF_ERROR(
        txn.Scan(Db::kVersions, VersionPrefix(workspace, key), [&](Bytes k, Bytes) {
          versions.emplace_back(k.begin(), k.end());
          return true;
        }));
    for (const auto& k : versions) SECRETFS_RETURN_IF_ERROR(txn.Del(Db::kVersions, k));
    return txn.Del(Db::kSecrets, SecretKey(workspace, key));
  });
}

}  // namespace secretfs::store
