#include "keyring/key_slot.h"

#include <sodium.h>

#include <algorithm>
#include <ctime>

#include "common/byte_codec.h"
#include "keyring/aead.h"

namespace secretfs::keyring {
namespace {

constexpr uint8_t kSlotFormat = 1;           // passphrase and key-file slots
constexpr uint8_t kRecipientSlotFormat = 2;  // format 1 followed by the recipient's public key
// What a recipient slot seals: store id || slot id (u32 LE) || master key.
constexpr size_t kRecipientPlainBytes = kStoreIdBytes + 4 + kKeyBytes;
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

void PutU32Le(uint8_t* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Seals store id || slot id || master key to `recipient` (crypto_box_seal has no additional data).
Result<std::vector<uint8_t>> SealToRecipient(std::span<const uint8_t> recipient,
                                             std::span<const uint8_t> store_id, uint32_t id,
                                             const MasterKey& master) {
  if (store_id.size() != kStoreIdBytes)
    return Status(EINVAL, "a store id is " + std::to_string(kStoreIdBytes) + " bytes");
  SecretBuffer plain(kRecipientPlainBytes);
  std::copy(store_id.begin(), store_id.end(), plain.data());
  PutU32Le(plain.data() + kStoreIdBytes, id);
  std::copy(master.bytes().begin(), master.bytes().end(), plain.data() + kStoreIdBytes + 4);
  std::vector<uint8_t> sealed(crypto_box_SEALBYTES + plain.size());
  if (crypto_box_seal(sealed.data(), plain.data(), plain.size(), recipient.data()) != 0)
    return Status(EINVAL, "the recipient's public key is not usable");
  return sealed;
}

// The X25519 public key of a private key.
std::vector<uint8_t> PublicKeyOf(std::span<const uint8_t> secret_key) {
  std::vector<uint8_t> pk(crypto_box_PUBLICKEYBYTES);
  crypto_scalarmult_base(pk.data(), secret_key.data());
  return pk;
}

Result<MasterKey> OpenRecipientSlot(const KeySlot& slot, std::span<const uint8_t> store_id,
                                    const KeyMaterial& material) {
  const Status wrong(
      EACCES, "key slot " + std::to_string(slot.id) + " does not open with " + material.origin);
  if (material.kind != KeyMaterial::Kind::kHostKey || material.bytes.size() != kX25519KeyBytes)
    return wrong;
  const std::vector<uint8_t> pk = PublicKeyOf(material.bytes.bytes());
  if (pk.size() != slot.recipient.size() ||
      sodium_memcmp(pk.data(), slot.recipient.data(), pk.size()) != 0)
    return wrong;
  const Status damaged(EIO, "key slot " + std::to_string(slot.id) + " is damaged");
  if (slot.wrapped_master.size() != crypto_box_SEALBYTES + kRecipientPlainBytes) return damaged;
  SecretBuffer plain(kRecipientPlainBytes);
  if (crypto_box_seal_open(plain.data(), slot.wrapped_master.data(), slot.wrapped_master.size(),
                           pk.data(), material.bytes.data()) != 0)
    return damaged;
  uint8_t id_bytes[4];
  PutU32Le(id_bytes, slot.id);
  if (store_id.size() != kStoreIdBytes ||
      sodium_memcmp(plain.data(), store_id.data(), kStoreIdBytes) != 0 ||
      sodium_memcmp(plain.data() + kStoreIdBytes, id_bytes, sizeof id_bytes) != 0)
    return Status(EACCES, "key slot " + std::to_string(slot.id) +
                              " belongs to another store or slot (was it copied here?)");
  return MasterKey::FromBytes(
      SecretBuffer::CopyOf(plain.bytes().subspan(kStoreIdBytes + 4, kKeyBytes)));
}

}  // namespace

std::string_view SlotKindName(SlotKind kind) {
  switch (kind) {
    case SlotKind::kPassphrase:
      return "passphrase";
    case SlotKind::kKeyFile:
      return "key-file";
    case SlotKind::kRecipient:
      return "recipient";
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
  const bool recipient_slot = kind == SlotKind::kRecipient;
  ByteWriter w;
  w.U8(recipient_slot ? kRecipientSlotFormat : kSlotFormat);
  w.U32(id);
  w.U8(static_cast<uint8_t>(kind));
  w.Str(label);
  w.I64(created_unix);
  w.Bytes(salt);
  w.U64(opslimit);
  w.U64(memlimit);
  w.Bytes(wrapped_master);
  if (recipient_slot) w.Bytes(recipient);
  return std::move(w).bytes();
}

Result<KeySlot> KeySlot::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  KeySlot s;
  uint8_t format = 0, kind = 0;
  std::span<const uint8_t> salt, wrapped, recipient;
  r.U8(format);
  r.U32(s.id);
  r.U8(kind);
  r.Str(s.label);
  r.I64(s.created_unix);
  r.Bytes(salt);
  r.U64(s.opslimit);
  r.U64(s.memlimit);
  r.Bytes(wrapped);
  if (format == kRecipientSlotFormat) r.Bytes(recipient);
  if (!r.AtEnd() || (format != kSlotFormat && format != kRecipientSlotFormat))
    return Status(EIO, "key slot record is damaged");
  if (kind != static_cast<uint8_t>(SlotKind::kPassphrase) &&
      kind != static_cast<uint8_t>(SlotKind::kKeyFile) &&
      kind != static_cast<uint8_t>(SlotKind::kRecipient))
    return Status(EIO, "key slot has an unknown kind " + std::to_string(kind));
  s.kind = static_cast<SlotKind>(kind);
  if ((s.kind == SlotKind::kRecipient) != (format == kRecipientSlotFormat))
    return Status(EIO, "key slot record is damaged");
  if (s.kind == SlotKind::kRecipient) {
    if (recipient.size() != kX25519KeyBytes || !salt.empty())
      return Status(EIO, "key slot recipient key is damaged");
  } else if (salt.size() != kSaltBytes) {
    return Status(EIO, "key slot salt is damaged");
  }
  if (s.kind == SlotKind::kPassphrase &&
      (s.opslimit < crypto_pwhash_OPSLIMIT_MIN || s.opslimit > kMaxOpslimit ||
       s.memlimit < crypto_pwhash_MEMLIMIT_MIN || s.memlimit > kMaxMemlimit))
    return Status(EIO, "key slot has implausible Argon2id limits");
  s.salt.assign(salt.begin(), salt.end());
  s.wrapped_master.assign(wrapped.begin(), wrapped.end());
  s.recipient.assign(recipient.begin(), recipient.end());
  return s;
}

Result<KeySlot> MakeSlot(const MasterKey& master, std::span<const uint8_t> store_id, uint32_t id,
                         std::string label, const KeyMaterial& material, PwhashLimits limits) {
  SECRETFS_RETURN_IF_ERROR(InitCrypto());
  KeySlot slot;
  slot.id = id;
  slot.label = std::move(label);
  slot.created_unix = static_cast<int64_t>(time(nullptr));
  if (material.kind == KeyMaterial::Kind::kRecipient ||
      material.kind == KeyMaterial::Kind::kHostKey) {
    if (material.bytes.size() != kX25519KeyBytes)
      return Status(EINVAL, material.origin + ": an X25519 key is " +
                                std::to_string(kX25519KeyBytes) + " bytes, not " +
                                std::to_string(material.bytes.size()));
    slot.kind = SlotKind::kRecipient;
    if (material.kind == KeyMaterial::Kind::kRecipient)
      slot.recipient.assign(material.bytes.bytes().begin(), material.bytes.bytes().end());
    else
      slot.recipient = PublicKeyOf(material.bytes.bytes());
    auto sealed = SealToRecipient(slot.recipient, store_id, id, master);
    if (!sealed) return sealed.status();
    slot.wrapped_master = std::move(*sealed);
    return slot;
  }
  slot.salt.resize(kSaltBytes);
  randombytes_buf(slot.salt.data(), slot.salt.size());
  if (material.kind == KeyMaterial::Kind::kPassphrase) {
    if (material.bytes.empty()) return Status(EINVAL, "the passphrase is empty");
    slot.kind = SlotKind::kPassphrase;
    slot.opslimit = limits.opslimit;
    slot.memlimit = limits.memlimit;
  } else {
    if (material.bytes.size() < kMinKeyFileBytes)
      return Status(
          EINVAL,
          material.origin + " holds " + std::to_string(material.bytes.size()) +
              " bytes; a key file needs at least " + std::to_string(kMinKeyFileBytes) +
              " random bytes (make one with: head -c 32 /dev/urandom > FILE; chmod 600 FILE)");
    slot.kind = SlotKind::kKeyFile;
  }
  auto kek = DeriveKek(slot, material);
  if (!kek) return kek.status();
  slot.wrapped_master = AeadSeal(kek->bytes(), SlotAd(store_id, id, slot.kind), master.bytes());
  return slot;
}

Result<KeySlot> ResealRecipientSlot(const KeySlot& slot, const MasterKey& new_master,
                                    std::span<const uint8_t> store_id) {
  SECRETFS_RETURN_IF_ERROR(InitCrypto());
  if (slot.kind != SlotKind::kRecipient)
    return Status(EINVAL, "key slot " + std::to_string(slot.id) + " is a " +
                              std::string(SlotKindName(slot.kind)) +
                              " slot; only recipient slots can be resealed without their secret");
  if (slot.recipient.size() != kX25519KeyBytes)
    return Status(EIO, "key slot " + std::to_string(slot.id) + " has a damaged recipient key");
  KeySlot out;
  out.id = slot.id;
  out.kind = slot.kind;
  out.label = slot.label;
  out.created_unix = slot.created_unix;
  out.recipient = slot.recipient;
  auto sealed = SealToRecipient(out.recipient, store_id, out.id, new_master);
  if (!sealed) return sealed.status();
  out.wrapped_master = std::move(*sealed);
  return out;
}

Result<MasterKey> OpenSlot(const KeySlot& slot, std::span<const uint8_t> store_id,
                           const KeyMaterial& material) {
  if (slot.kind == SlotKind::kRecipient) return OpenRecipientSlot(slot, store_id, material);
  if (material.kind == KeyMaterial::Kind::kHostKey ||
      material.kind == KeyMaterial::Kind::kRecipient)
    return Status(EACCES,
                  "key slot " + std::to_string(slot.id) + " does not open with " + material.origin);
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
  if (material.kind == KeyMaterial::Kind::kRecipient)
    return Status(EACCES, material.origin +
                              " is a public key and opens nothing; unlock with host:PATH, its "
                              "private key");
  const bool typed = material.kind == KeyMaterial::Kind::kPassphrase;
  const bool host = material.kind == KeyMaterial::Kind::kHostKey;
  if (host && material.bytes.size() != kX25519KeyBytes)
    return Status(EINVAL, material.origin + ": a host key is " + std::to_string(kX25519KeyBytes) +
                              " bytes, not " + std::to_string(material.bytes.size()));
  const std::vector<uint8_t> host_pk =
      host ? PublicKeyOf(material.bytes.bytes()) : std::vector<uint8_t>{};
  const SlotKind order[] = {SlotKind::kRecipient, SlotKind::kKeyFile, SlotKind::kPassphrase};
  for (SlotKind kind : order) {
    if (host != (kind == SlotKind::kRecipient)) continue;
    if (typed && kind == SlotKind::kKeyFile) continue;
    for (const KeySlot& slot : slots) {
      if (slot.kind != kind) continue;
      auto master = OpenSlot(slot, store_id, material);
      if (master) return Unlocked{std::move(*master), slot.id};
      if (master.status().code() == ENOMEM) return master.status();
      // The slot is for this very key but does not open (damaged, or copied from another store
      // or slot): say that rather than "wrong key".
      if (host && slot.recipient == host_pk) return master.status();
    }
  }
  return Status(EACCES, "wrong key: no key slot of this store opens with " + material.origin);
}

}  // namespace secretfs::keyring
