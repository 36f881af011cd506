// The key hierarchy below the key slots:
//
//   master key (32 random bytes, only ever stored wrapped in key slots)
//     └─ wrap key   = crypto_kdf(master, id 1, "secretfs")  wraps every workspace data key
//     └─ audit key  = crypto_kdf(master, id 2, "secretfs")  keys the audit hash chain
//   data key of workspace W, generation G (32 random bytes) seals W's records
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "keyring/secure_buffer.h"

namespace secretfs::keyring {

inline constexpr size_t kKeyBytes = 32;

// `n` bytes from the system's CSPRNG, for things that must be unique but are not secret (ids).
std::vector<uint8_t> RandomBytes(size_t n);

// The store's master key. Lives only in locked memory; movable, not copyable.
class MasterKey {
 public:
  static MasterKey Generate();
  // Adopts 32 bytes (unwrapped from a key slot). Returns EINVAL for another size.
  static Result<MasterKey> FromBytes(SecretBuffer bytes);

  std::span<const uint8_t> bytes() const noexcept { return key_.bytes(); }

  // The key that keys the audit chain (BLAKE2b MAC), derived so the master key itself never
  // touches audit data.
  SecretBuffer DeriveAuditKey() const;

  // Whether `other` is the same key, compared in constant time.
  bool SameAs(const MasterKey& other) const;

 private:
  explicit MasterKey(SecretBuffer key) : key_(std::move(key)) {}
  friend class DataKey;
  SecretBuffer DeriveWrapKey() const;
  SecretBuffer key_;
};

// A workspace data key and its generation number (bumped on every rekey; part of every record's
// additional data, so records sealed under an older key cannot be confused with newer ones).
class DataKey {
 public:
  static DataKey Generate(uint32_t generation);

  // Wraps this key under `master` for workspace `workspace`: nonce || XChaCha20-Poly1305
  // ciphertext, with the workspace name and generation as additional data.
  std::vector<uint8_t> Wrap(const MasterKey& master, std::string_view workspace) const;
  // Opens what Wrap produced. EIO when the bytes were altered or belong to another workspace,
  // generation or store.
  static Result<DataKey> Unwrap(const MasterKey& master, std::string_view workspace,
                                uint32_t generation, std::span<const uint8_t> wrapped);

  uint32_t generation() const noexcept { return generation_; }
  std::span<const uint8_t> bytes() const noexcept { return key_.bytes(); }

 private:
  DataKey(SecretBuffer key, uint32_t generation) : key_(std::move(key)), generation_(generation) {}
  SecretBuffer key_;
  uint32_t generation_ = 0;
};

// Where a record belongs. All of it is bound into the record as additional data.
struct RecordAddress {
  std::string_view workspace;
  std::string_view key;
  uint64_t version = 0;
};

// Seals `plaintext` for `address` with XChaCha20-Poly1305 and a fresh random 192-bit nonce.
// The result is nonce || ciphertext || tag: SealedSize(plaintext.size()) bytes, safe to store.
std::vector<uint8_t> SealRecord(const DataKey& key, const RecordAddress& address,
                                std::span<const uint8_t> plaintext);

// Opens a sealed record into locked memory. EIO when the record was altered, was sealed for
// another address or data-key generation, or is too short to be a record.
Result<SecretBuffer> OpenRecord(const DataKey& key, const RecordAddress& address,
                                std::span<const uint8_t> sealed);

// The size of a sealed record for a plaintext of `plain_size` bytes, and the reverse.
size_t SealedSize(size_t plain_size);
// Returns 0 for a record too short to hold anything (which will also fail to open).
size_t PlainSize(size_t sealed_size);

}  // namespace secretfs::keyring
