// Key slots: the master key wrapped under something an operator holds, like LUKS keyslots.
//
// A passphrase slot derives its key-encryption key with Argon2id (crypto_pwhash), with salt and
// limits stored in the slot so they can differ per slot and grow over time. A key-file slot derives
// it with keyed BLAKE2b over the file's bytes (a key file is already high-entropy, so a slow hash
// would only slow unlocking). Either way the master key is sealed with XChaCha20-Poly1305 and
// additional data binding the store id, slot id and kind, so a slot copied into another store or
// relabelled as another kind does not open.
//
// A recipient slot holds an X25519 public key and the master key sealed to it with
// crypto_box_seal (anonymous sender, no secret needed to make or rewrap the slot). crypto_box_seal
// takes no additional data, so the sealed plaintext is store id || slot id (u32 LE) || master key
// and opening checks both ids: a recipient slot copied into another store or slot does not open.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"

namespace secretfs::keyring {

enum class SlotKind : uint8_t { kPassphrase = 1, kKeyFile = 2, kRecipient = 3 };
std::string_view SlotKindName(SlotKind kind);

// Argon2id cost. The named levels are libsodium's INTERACTIVE / MODERATE / SENSITIVE.
struct PwhashLimits {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;
  static PwhashLimits Interactive();
  static PwhashLimits Moderate();
  static PwhashLimits Sensitive();
  // "interactive", "moderate" or "sensitive"; EINVAL otherwise.
  static Result<PwhashLimits> Named(std::string_view name);
};

// What the operator presented: a typed passphrase, the bytes of a key file (file:, fd:,
// credential:), an X25519 private key (host:, kX25519KeyBytes) or, only to make a slot, a
// recipient's X25519 public key (recipient:; not secret, kept in a SecretBuffer all the same).
// `origin` names the source for messages ("file:/etc/k"), never its content.
struct KeyMaterial {
  enum class Kind { kPassphrase, kKeyFile, kHostKey, kRecipient };
  Kind kind = Kind::kKeyFile;
  SecretBuffer bytes;
  std::string origin;
};

inline constexpr size_t kMinKeyFileBytes = 16;
inline constexpr size_t kStoreIdBytes = 16;
inline constexpr size_t kX25519KeyBytes = 32;

struct KeySlot {
  uint32_t id = 0;
  SlotKind kind = SlotKind::kKeyFile;
  std::string label;
  int64_t created_unix = 0;
  std::vector<uint8_t> salt;
  uint64_t opslimit = 0;  // passphrase slots only
  uint64_t memlimit = 0;  // passphrase slots only
  std::vector<uint8_t> wrapped_master;
  std::vector<uint8_t> recipient;  // recipient slots only: the X25519 public key (not secret)

  // Passphrase and key-file slots keep format 1 (what every earlier version wrote); recipient
  // slots are format 2, which is format 1 followed by the public key.
  std::vector<uint8_t> Encode() const;
  // EIO for bytes that are not a slot of a known format.
  static Result<KeySlot> Decode(std::span<const uint8_t> bytes);
};

// Makes a slot of the kind `material` calls for, opening with exactly that material: a passphrase
// slot, a key-file slot, or a recipient slot for kRecipient (the public key given) and for
// kHostKey (the public half of the private key given).
// EINVAL for an empty passphrase, a key file shorter than kMinKeyFileBytes or an X25519 key that
// is not kX25519KeyBytes long. `limits` applies to passphrase slots.
Result<KeySlot> MakeSlot(const MasterKey& master, std::span<const uint8_t> store_id, uint32_t id,
                         std::string label, const KeyMaterial& material, PwhashLimits limits);

// Seals `new_master` into a recipient slot again, for the same public key, id, label and time
// (`keyring rotate`: recipient slots need no secret to be rewrapped). EINVAL for other kinds.
Result<KeySlot> ResealRecipientSlot(const KeySlot& slot, const MasterKey& new_master,
                                    std::span<const uint8_t> store_id);

// Opens one slot. EACCES when the material does not open it; EIO for a damaged slot; ENOMEM when
// Argon2id cannot get the memory the slot asks for.
Result<MasterKey> OpenSlot(const KeySlot& slot, std::span<const uint8_t> store_id,
                           const KeyMaterial& material);

struct Unlocked {
  MasterKey master;
  uint32_t slot_id = 0;
};

// Tries the slots that fit the material: key-file material tries key-file slots first (cheap) and
// then passphrase slots (so a passphrase can also come from a file or fd); a typed passphrase tries
// passphrase slots; a host key tries recipient slots only, and nothing else tries them. EACCES with
// a one-line message when none opens (also for kRecipient material: a public key opens nothing).
Result<Unlocked> Unlock(std::span<const KeySlot> slots, std::span<const uint8_t> store_id,
                        const KeyMaterial& material);

}  // namespace secretfs::keyring
