// Internal to keyring: the one AEAD construction every sealed thing uses (records, wrapped data
// keys, key slots): XChaCha20-Poly1305-IETF, stored as nonce(24) || ciphertext || tag(16).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "keyring/secure_buffer.h"

namespace secretfs::keyring {

inline constexpr size_t kAeadOverhead = 24 + 16;

// Seals `plain` under the 32-byte `key` with a fresh random nonce.
std::vector<uint8_t> AeadSeal(std::span<const uint8_t> key, std::span<const uint8_t> ad,
                              std::span<const uint8_t> plain);

// Opens `sealed` into `plain` (locked memory). EIO, and `plain` left empty, when the tag does
// not verify for this key and additional data.
Status AeadOpen(std::span<const uint8_t> key, std::span<const uint8_t> ad,
                std::span<const uint8_t> sealed, SecretBuffer& plain);

}  // namespace secretfs::keyring
