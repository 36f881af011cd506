#include "keyring/keys.h"

#include <sodium.h>

#include <stdexcept>

#include "common/byte_codec.h"
#include "keyring/aead.h"

namespace secretfs::keyring {
namespace {

static_assert(kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kKeyBytes == crypto_kdf_KEYBYTES);

// Subkey ids and contexts for crypto_kdf. Never change them: stores depend on them.
constexpr uint64_t kWrapKeyId = 1;
constexpr uint64_t kAuditKeyId = 2;
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "secretfs";

SecretBuffer Derive(std::span<const uint8_t> master, uint64_t id) {
  SecretBuffer sub(kKeyBytes);
  crypto_kdf_derive_from_key(sub.data(), sub.size(), id, kKdfContext, master.data());
  return sub;
}

std::vector<uint8_t> DataKeyAd(std::string_view workspace, uint32_t generation) {
  ByteWriter w;
  w.Str("secretfs data key v1");
  w.Str(workspace);
  w.U32(generation);
  return std::move(w).bytes();
}

std::vector<uint8_t> RecordAd(const RecordAddress& a, uint32_t generation) {
  ByteWriter w;
  w.Str("secretfs record v1");
  w.Str(a.workspace);
  w.Str(a.key);
  w.U64(a.version);
  w.U32(generation);
  return std::move(w).bytes();
}

}  // namespace

std::vector<uint8_t> RandomBytes(size_t n) {
  if (!InitCrypto().ok()) throw std::runtime_error("libsodium unavailable");
  std::vector<uint8_t> out(n);
  if (n > 0) randombytes_buf(out.data(), out.size());
  return out;
}

MasterKey MasterKey::Generate() {
  SecretBuffer key(kKeyBytes);
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return MasterKey(std::move(key));
}

Result<MasterKey> MasterKey::FromBytes(SecretBuffer bytes) {
  if (bytes.size() != kKeyBytes) return Status(EINVAL, "a master key has 32 bytes");
  return MasterKey(std::move(bytes));
}

SecretBuffer MasterKey::DeriveWrapKey() const { return Derive(key_.bytes(), kWrapKeyId); }
SecretBuffer MasterKey::DeriveAuditKey() const { return Derive(key_.bytes(), kAuditKeyId); }

bool MasterKey::SameAs(const MasterKey& other) const {
  return key_.size() == other.key_.size() &&
         sodium_memcmp(key_.data(), other.key_.data(), key_.size()) == 0;
}

DataKey DataKey::Generate(uint32_t generation) {
  SecretBuffer key(kKeyBytes);
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  return DataKey(std::move(key), generation);
}

std::vector<uint8_t> DataKey::Wrap(const MasterKey& master, std::string_view workspace) const {
  const SecretBuffer wrap_key = master.DeriveWrapKey();
  return AeadSeal(wrap_key.bytes(), DataKeyAd(workspace, generation_), key_.bytes());
}

Result<DataKey> DataKey::Unwrap(const MasterKey& master, std::string_view workspace,
                                uint32_t generation, std::span<const uint8_t> wrapped) {
  const SecretBuffer wrap_key = master.DeriveWrapKey();
  SecretBuffer key;
  if (Status s = AeadOpen(wrap_key.bytes(), DataKeyAd(workspace, generation), wrapped, key);
      !s.ok())
    return s.Wrap("data key of workspace " + std::string(workspace));
  if (key.size() != kKeyBytes) return Status(EIO, "data key has the wrong size");
  return DataKey(std::move(key), generation);
}

std::vector<uint8_t> SealRecord(const DataKey& key, const RecordAddress& address,
                                std::span<const uint8_t> plaintext) {
  return AeadSeal(key.bytes(), RecordAd(address, key.generation()), plaintext);
}

Result<SecretBuffer> OpenRecord(const DataKey& key, const RecordAddress& address,
                                std::span<const uint8_t> sealed) {
  SecretBuffer plain;
  SECRETFS_RETURN_IF_ERROR(
      AeadOpen(key.bytes(), RecordAd(address, key.generation()), sealed, plain));
  return plain;
}

size_t SealedSize(size_t plain_size) { return kAeadOverhead + plain_size; }
size_t PlainSize(size_t sealed_size) {
  return sealed_size < kAeadOverhead ? 0 : sealed_size - kAeadOverhead;
}

}  // namespace secretfs::keyring
