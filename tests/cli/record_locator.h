// Finds where a stored record lies inside a store's data.mdb, so corruption tests can damage
// exactly one record. Reads the store with liblmdb (read-only, without the lock file: no secretfs
// process may write the store meanwhile) and never decrypts anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace secretfs::testing {

struct RecordLocation {
  size_t offset = 0;  // of the value's first byte in data.mdb
  size_t size = 0;    // of the whole value: a small header, then nonce and ciphertext
};

// The value of `versions` record workspace \0 key \0 u64-big-endian(version), or nullopt (with a
// test failure) when the store cannot be read or holds no such record.
std::optional<RecordLocation> LocateVersionRecord(const std::string& store_dir,
                                                  const std::string& workspace,
                                                  const std::string& key, uint64_t version);

// The value of `secrets` record workspace \0 key: the secret's metadata (current version, size,
// description, tags).
std::optional<RecordLocation> LocateSecretRecord(const std::string& store_dir,
                                                 const std::string& workspace,
                                                 const std::string& key);

}  // namespace secretfs::testing
