#include "keyring/key_slot.h"

#include <sodium.h>

#include <ctime>

#include "common/byte_codec.h"
#include "keyring/aead.h"

namespace secretfs::keyring {
namespace {

constexpr uint8_t kSlotFormat = 1;
constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;
static_assert(kSaltBytes >= crypto_generichash_KEYBYTES_MIN);
// Refuse absurd costs from a damaged or hostile store instead of trying to honour them.
constexpr uint64_t kMaxOpslimit = 64;
constexpr uint64_t kMaxMemlimit = 4ull << 30;

std::vector<uint8_t> SlotAd(std::span<const uint8_t> store_id, uint32_t id, SlotKind kind) {
  ByteWriter w;
  w.Str("secretfs key slot v1");
  w.Bytes(store_id);
  w.U32(id);
  w.U8(static_cast<uint8_t>(kind));
  return std::move(w).bytes();
}

// The key-encryption key of a slot, from the operator's material.
Result<SecretBuffer> DeriveKek(const KeySlot& slot, const KeyMaterial& material) {
  SecretBuffer kek(kKeyBytes);
  if (slot.kind == SlotKind::kKeyFile) {
    crypto_generichash(kek.data(), kek.size(), material.bytes.data(), material.bytes.size(),
                       slot.salt.data(), slot.salt.size());
    return kek;
  }
  if (crypto_pwhash(kek.data(), kek.size(), reinterpret_cast<const char*>(material.bytes.data()),
                    material.bytes.size(), slot.salt.data(), slot.opslimit,
                    static_cast<size_t>(slot.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status(ENOMEM, "Argon2id could not get " + std::to_string(slot.memlimit >> 20) +
                              " MiB of memory for key slot " + std::to_string(slot.id));
  }
  return kek;
}

}  // namespace

std::string_view SlotKindName(SlotKind kind) {
  switch (kind) {
    case SlotKind::kPassphrase:
      return "passphrase";
    case SlotKind::kKeyFile:
      return "key-file";
  }
  return "unknown";
}

PwhashLimits PwhashLimits::Interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
PwhashLimits PwhashLimits::Moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}
PwhashLimits PwhashLimits::Sensitive() {
  return {crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
}
Result<PwhashLimits> PwhashLimits::Named(std::string_view name) {
  if (name == "interactive") return Interactive();
  if (name == "moderate") return Moderate();
  if (name == "sensitive") return Sensitive();
  return Status(EINVAL, "unknown Argon2id level '" + std::string(name) +
                            "' (use interactive, moderate or sensitive)");
}

std::vector<uint8_t> KeySlot::Encode() const {
  ByteWriter w;
  w.U8(kSlotFormat);
  w.U32(id);
  w.U8(static_cast<uint8_t>(kind));
  w.Str(label);
  w.I64(created_unix);
  w.Bytes(salt);
  w.U64(opslimit);
  w.U64(memlimit);
  w.Bytes(wrapped_master);
  return std::move(w).bytes();
}

Result<KeySlot> KeySlot::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  KeySlot s;
  uint8_t format = 0, kind = 0;
  std::span<const uint8_t> salt, wrapped;
  r.U8(format);
  r.U32(s.id);
  r.U8(kind);
  r.Str(s.label);
  r.I64(s.created_unix);
  r.Bytes(salt);
  r.U64(s.opslimit);
  r.U64(s.memlimit);
  r.Bytes(wrapped);
  if (!r.AtEnd() || format != kSlotFormat) return Status(EIO, "key slot record is damaged");
  if (kind != static_cast<uint8_t>(SlotKind::kPassphrase) &&
      kind != static_cast<uint8_t>(SlotKind::kKeyFile))
    return Status(EIO, "key slot has an unknown kind " + std::to_string(kind));
  s.kind = static_cast<SlotKind>(kind);
  if (salt.size() != kSaltBytes) return Status(EIO, "key slot salt is damaged");
  if (s.kind == SlotKind::kPassphrase &&
      (s.opslimit < crypto_pwhash_OPSLIMIT_MIN || s.opslimit > kMaxOpslimit ||
       s.memlimit < crypto_pwhash_MEMLIMIT_MIN || s.memlimit > kMaxMemlimit))
    return Status(EIO, "key slot has implausible Argon2id limits");
  s.salt.assign(salt.begin(), salt.end());
  s.wrapped_master.assign(wrapped.begin(), wrapped.end());
  return s;
}

Result<KeySlot> MakeSlot(const MasterKey& master, std::span<const uint8_t> store_id, uint32_t id,
                         std::string label, const KeyMaterial& material, PwhashLimits limits) {
  SECRETFS_RETURN_IF_ERROR(InitCrypto());
  KeySlot slot;
  slot.id = id;
  slot.label = std::move(label);
  slot.created_unix = static_cast<int64_t>(time(nullptr));
  slot.salt.resize(kSaltBytes);
  randombytes_buf(slot.salt.data(), slot.salt.size());
  if (material.kind == KeyMaterial::Kind::kPassphrase) {
    if (material.bytes.empty()) return Status(EINVAL, "the passphrase is empty");
    slot.kind = SlotKind::kPassphrase;
    slot.opslimit = limits.opslimit;
    slot.memlimit = limits.memlimit;
  } else {
    if (material.bytes.size() < kMinKeyFileBytes)
      return Status(EINVAL, material.origin + " holds " + std::to_string(material.bytes.size()) +
                                " bytes; a key file needs at least " +
                                std::to_string(kMinKeyFileBytes) +
                                " random bytes (make one with: head -c 32 /dev/urandom > FILE)");
    slot.kind = SlotKind::kKeyFile;
  }
  auto kek = DeriveKek(slot, material);
  if (!kek) return kek.status();
  slot.wrapped_master = AeadSeal(kek->bytes(), SlotAd(store_id, id, slot.kind), master.bytes());
  return slot;
}

Result<MasterKey> OpenSlot(const KeySlot& slot, std::span<const uint8_t> store_id,
                           const KeyMaterial& material) {
  auto kek = DeriveKek(slot, material);
  if (!kek) return kek.status();
  SecretBuffer master;
  if (!AeadOpen(kek->bytes(), SlotAd(store_id, slot.id, slot.kind), slot.wrapped_master, master)
           .ok())
    return Status(EACCES,
                  "key slot " + std::to_string(slot.id) + " does not open with " + material.origin);
  return MasterKey::FromBytes(std::move(master));
}

Result<Unlocked> Unlock(std::span<const KeySlot> slots, std::span<const uint8_t> store_id,
                        const KeyMaterial& material) {
  SECRETFS_RETURN_IF_ERROR(InitCrypto());
  const bool typed = material.kind == KeyMaterial::Kind::kPassphrase;
  const SlotKind order[] = {SlotKind::kKeyFile, SlotKind::kPassphrase};
  for (SlotKind kind : order) {
    if (typed && kind == SlotKind::kKeyFile) continue;
    for (const KeySlot& slot : slots) {
      if (slot.kind != kind) continue;
      auto master = OpenSlot(slot, store_id, material);
      if (master) return Unlocked{std::move(*master), slot.id};
      if (master.status().code() == ENOMEM) return master.status();
    }
  }
  return Status(EACCES, "wrong key: no key slot of this store opens with " + material.origin);
}

}  // namespace secretfs::keyring
