#include "keyring/aead.h"

#include <sodium.h>

#include <stdexcept>

namespace secretfs::keyring {
namespace {
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kAeadOverhead == kNonceBytes + kTagBytes);
}  // namespace

std::vector<uint8_t> AeadSeal(std::span<const uint8_t> key, std::span<const uint8_t> ad,
                              std::span<const uint8_t> plain) {
  if (!InitCrypto().ok()) throw std::runtime_error("libsodium unavailable");
  std::vector<uint8_t> out(kNonceBytes + plain.size() + kTagBytes);
  randombytes_buf(out.data(), kNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonceBytes, &written, plain.data(),
                                             plain.size(), ad.data(), ad.size(), nullptr,
                                             out.data(), key.data());
  return out;
}

Status AeadOpen(std::span<const uint8_t> key, std::span<const uint8_t> ad,
                std::span<const uint8_t> sealed, SecretBuffer& plain) {
  if (sealed.size() < kNonceBytes + kTagBytes) return Status(EIO, "sealed data is truncated");
  SecretBuffer out(sealed.size() - kNonceBytes - kTagBytes);
  unsigned long long written = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      out.data(), &written, nullptr, sealed.data() + kNonceBytes, sealed.size() - kNonceBytes,
      ad.data(), ad.size(), sealed.data(), key.data());
  if (rc != 0) return Status(EIO, "authentication failed (altered, misplaced or wrong key)");
  plain = std::move(out);
  return Status::Ok();
}

}  // namespace secretfs::keyring
