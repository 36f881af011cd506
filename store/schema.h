// The store's schema (SPEC §8): what each named database holds and how its records are encoded.
//
//   meta        "format" -> u32 kFormatVersion, "store_id" -> 16 random bytes,
//               "created" -> i64 ns, "next_slot" -> u32
//   slots       u32 big-endian slot id -> keyring::KeySlot::Encode()
//   workspaces  name -> WorkspaceRecord (naming, data-key generation, wrapped data key, how many
//               versions of each secret it keeps)
//   secrets     ws \0 key -> SecretRecord (current version, deleted flag, metadata, size)
//   versions    ws \0 key \0 u64 big-endian version -> VersionRecord (sealed value)
//   audit       (written by the audit layer: u64 big-endian seq -> event || MAC)
//   audit_index (written by the audit layer: ws \0 key \0 u64 big-endian seq -> empty), added
//               to older stores when they are opened, with no format change (audit_index.h)
//
// Names never contain NUL, so "\0" separates them unambiguously, and big-endian numbers make
// LMDB's byte order the numeric order: a prefix scan lists a workspace's secrets, or a secret's
// versions, in order. A change to any encoding bumps kFormatVersion.
//
// Format history: 1, the first; 2, version records in record format 2 (schema.cpp); 3, workspace
// records in record format 2 (with keep_versions). A store may hold records of every format up
// to its own, so opening an older store upgrades it by setting "format" and rewrites nothing;
// older secretfs then refuse it instead of reading newer records as damaged.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/names.h"

namespace secretfs::store {

inline constexpr uint32_t kFormatVersion = 3;
inline constexpr uint32_t kOldestFormatVersion = 1;  // opened, and upgraded to kFormatVersion

using Tags = std::map<std::string, std::string>;

struct WorkspaceRecord {
  Naming naming = Naming::kDefault;
  int64_t created_ns = 0;
  uint32_t key_generation = 1;
  std::vector<uint8_t> wrapped_key;
  // How many versions of each secret are kept: a new version erases those older than the newest
  // keep_versions (SecretStore::SetKeepVersions). 0 keeps every version.
  uint32_t keep_versions = 0;

  std::vector<uint8_t> Encode() const;
  static Result<WorkspaceRecord> Decode(std::span<const uint8_t> bytes);
};

// Which secret a name holds: a secret removed (or replaced by a rename) and made again under its
// name keeps its record with another `deleted_ns`; one destroyed and made again has a new record,
// made at another `created_ns`. A writer stores only into the secret it opened
// (WriteRequest::only_if_live).
struct Incarnation {
  int64_t created_ns = 0;
  int64_t deleted_ns = 0;
  bool operator==(const Incarnation&) const = default;
};

struct SecretRecord {
  uint64_t version = 0;  // the current version; also the highest number given out
  bool deleted = false;
  int64_t created_ns = 0;
  int64_t updated_ns = 0;  // when the current version was written
  // When it was last deleted (rm, mv away, or replaced by a mv onto it), kept when it is live
  // again (0: never): part of its Incarnation.
  int64_t deleted_ns = 0;
  std::string updated_by;
  std::string description;
  std::string type;
  Tags tags;
  uint64_t size = 0;  // plaintext bytes of the current version: stat never decrypts

  Incarnation incarnation() const { return {created_ns, deleted_ns}; }
  std::vector<uint8_t> Encode() const;
  static Result<SecretRecord> Decode(std::span<const uint8_t> bytes);
};

struct VersionRecord {
  int64_t created_ns = 0;
  std::string author;
  uint32_t key_generation = 0;
  std::span<const uint8_t> sealed;  // points into the decoded bytes

  std::vector<uint8_t> Encode() const;
  static Result<VersionRecord> Decode(std::span<const uint8_t> bytes);
};

std::vector<uint8_t> SecretKey(std::string_view workspace, std::string_view key);
std::vector<uint8_t> SecretPrefix(std::string_view workspace);  // "ws\0"
std::vector<uint8_t> VersionKey(std::string_view workspace, std::string_view key, uint64_t version);
std::vector<uint8_t> VersionPrefix(std::string_view workspace, std::string_view key);
std::vector<uint8_t> SlotKey(uint32_t id);
uint32_t SlotIdOf(std::span<const uint8_t> slot_key);

// Splits a secrets key back into names; false for a malformed key.
bool SplitSecretKey(std::span<const uint8_t> k, std::string& workspace, std::string& key);
// Splits a versions key; false for a malformed key.
bool SplitVersionKey(std::span<const uint8_t> k, std::string& workspace, std::string& key,
                     uint64_t& version);

}  // namespace secretfs::store
