#include "keyring/secure_buffer.h"

#include <sodium.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <utility>

namespace secretfs::keyring {

Status InitCrypto() {
  static const int rc = sodium_init();  // thread-safe static: sodium_init runs once
  if (rc < 0) return Status(EIO, "libsodium could not be initialised");
  return Status::Ok();
}

SecretBuffer::SecretBuffer(size_t size) : size_(size) {
  if (!InitCrypto().ok()) throw std::bad_alloc();
  // sodium_malloc(0) is valid in libsodium, but a real page keeps data() non-null for callers.
  data_ = static_cast<uint8_t*>(sodium_malloc(std::max<size_t>(size, 1)));
  if (data_ == nullptr) throw std::bad_alloc();
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBuffer::~SecretBuffer() {
  if (data_ != nullptr) sodium_free(data_);  // wipes, unlocks and unmaps
}

SecretBuffer SecretBuffer::CopyOf(std::span<const uint8_t> bytes) {
  SecretBuffer b(bytes.size());
  if (!bytes.empty()) std::copy(bytes.begin(), bytes.end(), b.data_);
  return b;
}

void SecretBuffer::Shrink(size_t new_size) noexcept {
  if (new_size >= size_) return;
  sodium_memzero(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool SecretBuffer::Equals(std::span<const uint8_t> other) const noexcept {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data(), size_) == 0;
}

}  // namespace secretfs::keyring
