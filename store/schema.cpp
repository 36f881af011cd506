#include "store/schema.h"

#include "common/byte_codec.h"

namespace secretfs::store {
namespace {

constexpr uint8_t kRecordFormat = 1;
// Workspace records of format 2 end with keep_versions; format 1 ones (stores of formats 1 and
// 2) keep every version.
constexpr uint8_t kWorkspaceRecordFormat1 = 1;
constexpr uint8_t kWorkspaceRecordFormat = 2;
// Versions are the bulk of a store, so their records shed the fixed-width fields that are
// nearly always small: format 2 writes the author's length and the data-key generation as
// varints (6 bytes less per version: one byte each instead of four). Format 1 version records,
// which stores of format 1 hold, still decode.
constexpr uint8_t kVersionRecordFormat1 = 1;
constexpr uint8_t kVersionRecordFormat = 2;

void PutBigEndian(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t GetBigEndian(std::span<const uint8_t> in) {
  uint64_t v = 0;
  for (uint8_t b : in) v = (v << 8) | b;
  return v;
}

void Append(std::vector<uint8_t>& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

Status Damaged(std::string_view what) {
  return Status(EIO, std::string(what) + " record in the store is damaged");
}

// workspace NUL key, with room reserved for `extra` bytes more: every open builds two of these,
// and growing them piece by piece cost an allocation per piece.
std::vector<uint8_t> SecretKeyWithRoom(std::string_view workspace, std::string_view key,
                                       size_t extra) {
  std::vector<uint8_t> k;
  k.reserve(workspace.size() + 1 + key.size() + extra);
  Append(k, workspace);
  k.push_back(0);
  Append(k, key);
  return k;
}

}  // namespace

std::vector<uint8_t> WorkspaceRecord::Encode() const {
  ByteWriter w;
  w.U8(kWorkspaceRecordFormat);
  w.U8(static_cast<uint8_t>(naming));
  w.I64(created_ns);
  w.U32(key_generation);
  w.Bytes(wrapped_key);
  w.U32(keep_versions);
  return std::move(w).bytes();
}

Result<WorkspaceRecord> WorkspaceRecord::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  WorkspaceRecord rec;
  uint8_t format = 0, naming = 0;
  std::span<const uint8_t> wrapped;
  r.U8(format);
  r.U8(naming);
  r.I64(rec.created_ns);
  r.U32(rec.key_generation);
  r.Bytes(wrapped);
  if (format == kWorkspaceRecordFormat) r.U32(rec.keep_versions);
  if (!r.AtEnd() || (format != kWorkspaceRecordFormat && format != kWorkspaceRecordFormat1) ||
      naming > 1)
    return Damaged("workspace");
  rec.naming = static_cast<Naming>(naming);
  rec.wrapped_key.assign(wrapped.begin(), wrapped.end());
  return rec;
}

std::vector<uint8_t> SecretRecord::Encode() const {
  ByteWriter w;
  w.U8(kRecordFormat);
  w.U64(version);
  w.U8(deleted ? 1 : 0);
  w.I64(created_ns);
  w.I64(updated_ns);
  w.I64(deleted_ns);
  w.Str(updated_by);
  w.Str(description);
  w.Str(type);
  w.U32(static_cast<uint32_t>(tags.size()));
  for (const auto& [k, v] : tags) {
    w.Str(k);
    w.Str(v);
  }
  w.U64(size);
  return std::move(w).bytes();
}

Result<SecretRecord> SecretRecord::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  SecretRecord rec;
  uint8_t format = 0, deleted = 0;
  uint32_t tag_count = 0;
  r.U8(format);
  r.U64(rec.version);
  r.U8(deleted);
  r.I64(rec.created_ns);
  r.I64(rec.updated_ns);
  r.I64(rec.deleted_ns);
  r.Str(rec.updated_by);
  r.Str(rec.description);
  r.Str(rec.type);
  r.U32(tag_count);
  for (uint32_t i = 0; i < tag_count && r.ok(); ++i) {
    std::string k, v;
    r.Str(k);
    r.Str(v);
    rec.tags.emplace(std::move(k), std::move(v));
  }
  r.U64(rec.size);
  if (!r.AtEnd() || format != kRecordFormat || deleted > 1) return Damaged("secret metadata");
  rec.deleted = deleted != 0;
  return rec;
}

std::vector<uint8_t> VersionRecord::Encode() const {
  ByteWriter w;
  w.U8(kVersionRecordFormat);
  w.I64(created_ns);
  w.VarStr(author);
  w.Varint(key_generation);
  w.Raw(sealed);  // the rest of the record
  return std::move(w).bytes();
}

Result<VersionRecord> VersionRecord::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  VersionRecord rec;
  uint8_t format = 0;
  r.U8(format);
  r.I64(rec.created_ns);
  if (format == kVersionRecordFormat) {
    uint64_t generation = 0;
    r.VarStr(rec.author);
    r.Varint(generation);
    if (generation > UINT32_MAX) return Damaged("version");
    rec.key_generation = static_cast<uint32_t>(generation);
  } else if (format == kVersionRecordFormat1) {
    r.Str(rec.author);
    r.U32(rec.key_generation);
  } else {
    return Damaged("version");
  }
  if (!r.ok()) return Damaged("version");
  rec.sealed = r.Rest();
  return rec;
}

std::vector<uint8_t> SecretPrefix(std::string_view workspace) {
  std::vector<uint8_t> k;
  Append(k, workspace);
  k.push_back(0);
  return k;
}

std::vector<uint8_t> SecretKey(std::string_view workspace, std::string_view key) {
  return SecretKeyWithRoom(workspace, key, 0);
}

std::vector<uint8_t> VersionPrefix(std::string_view workspace, std::string_view key) {
  std::vector<uint8_t> k = SecretKeyWithRoom(workspace, key, 1);
  k.push_back(0);
  return k;
}

std::vector<uint8_t> VersionKey(std::string_view workspace, std::string_view key,
                                uint64_t version) {
  std::vector<uint8_t> k = SecretKeyWithRoom(workspace, key, 1 + 8);
  k.push_back(0);
  PutBigEndian(k, version, 8);
  return k;
}

std::vector<uint8_t> SlotKey(uint32_t id) {
  std::vector<uint8_t> k;
  PutBigEndian(k, id, 4);
  return k;
}

uint32_t SlotIdOf(std::span<const uint8_t> slot_key) {
  return static_cast<uint32_t>(GetBigEndian(slot_key.first(std::min<size_t>(4, slot_key.size()))));
}

bool SplitSecretKey(std::span<const uint8_t> k, std::string& workspace, std::string& key) {
  const std::string_view s(reinterpret_cast<const char*>(k.data()), k.size());
  const size_t nul = s.find('\0');
  if (nul == std::string_view::npos || s.find('\0', nul + 1) != std::string_view::npos)
    return false;
  workspace = s.substr(0, nul);
  key = s.substr(nul + 1);
  return true;
}

bool SplitVersionKey(std::span<const uint8_t> k, std::string& workspace, std::string& key,
                     uint64_t& version) {
  if (k.size() < 9 || k[k.size() - 9] != 0) return false;
  version = GetBigEndian(k.last(8));
  return SplitSecretKey(k.first(k.size() - 9), workspace, key);
}

}  // namespace secretfs::store
