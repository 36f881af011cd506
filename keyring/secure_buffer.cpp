#include "keyring/secure_buffer.h"

#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <utility>

#include "keyring/locked_pool.h"

namespace secretfs::keyring {

Status InitCrypto() {
  static const int rc = sodium_init();  // thread-safe static: sodium_init runs once
  if (rc < 0) return Status(EIO, "libsodium could not be initialised");
  return Status::Ok();
}

SecretBuffer::SecretBuffer(size_t size) : size_(size) {
  if (!InitCrypto().ok()) throw std::bad_alloc();
  data_ = PoolAllocate(size, pooled_capacity_);
  if (data_ != nullptr) return;
  pooled_capacity_ = 0;
  // sodium_malloc(0) is valid in libsodium, but a real page keeps data() non-null for callers.
  data_ = static_cast<uint8_t*>(sodium_malloc(std::max<size_t>(size, 1)));
  if (data_ == nullptr) throw std::bad_alloc();
  // sodium_malloc ignores a failing mlock: when RLIMIT_MEMLOCK is exhausted, refuse (the caller
  // reports "could not allocate locked memory") rather than hold a secret in swappable memory.
  if (mlock(data_, std::max<size_t>(size, 1)) != 0) {
    sodium_free(std::exchange(data_, nullptr));
    throw std::bad_alloc();
  }
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      pooled_capacity_(std::exchange(other.pooled_capacity_, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    pooled_capacity_ = std::exchange(other.pooled_capacity_, 0);
  }
  return *this;
}

SecretBuffer::~SecretBuffer() { Free(); }

void SecretBuffer::Free() noexcept {
  if (data_ == nullptr) return;
  if (pooled_capacity_ != 0)
    PoolFree(data_, pooled_capacity_);  // wipes the chunk
  else
    sodium_free(data_);  // wipes, unlocks and unmaps
  data_ = nullptr;
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

Result<SecretBuffer> ReadSecret(int fd, size_t max_bytes, const std::string& what) {
  SecretBuffer buf(std::min<size_t>(max_bytes + 1, 64 * 1024));
  size_t used = 0;
  for (;;) {
    if (used == buf.size()) {
      if (used > max_bytes) break;
      SecretBuffer bigger(std::min(buf.size() * 2, max_bytes + 1));
      std::copy_n(buf.data(), used, bigger.data());
      buf = std::move(bigger);
    }
    const ssize_t n = read(fd, buf.data() + used, buf.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, what);
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > max_bytes)
    return Status(EFBIG, what + ": over the limit of " + std::to_string(max_bytes) + " bytes");
  buf.Shrink(used);
  return buf;
}

SecretBuilder::SecretBuilder(size_t limit, std::span<const uint8_t> initial) : limit_(limit) {
  if (!initial.empty() && Reserve(initial.size())) {
    std::copy(initial.begin(), initial.end(), buf_.data());
    size_ = initial.size();
  }
}

size_t SecretBuilder::CapacityFor(size_t size) const noexcept {
  if (size <= buf_.size()) return buf_.size();
  size_t capacity = std::max<size_t>(buf_.size(), 4096);
  while (capacity < size) capacity *= 2;
  return std::min(capacity, std::max(limit_, size));
}

bool SecretBuilder::Reserve(size_t size) {
  if (size > limit_) return false;
  if (size <= buf_.size()) return true;
  SecretBuffer bigger(CapacityFor(size));
  if (size_ > 0) std::copy_n(buf_.data(), size_, bigger.data());
  buf_ = std::move(bigger);
  return true;
}

bool SecretBuilder::WriteAt(size_t offset, std::span<const uint8_t> bytes) {
  if (offset > limit_ || bytes.size() > limit_ - offset) return false;
  const size_t end = offset + bytes.size();
  if (!Reserve(end)) return false;
  if (offset > size_) sodium_memzero(buf_.data() + size_, offset - size_);
  std::copy(bytes.begin(), bytes.end(), buf_.data() + offset);
  size_ = std::max(size_, end);
  return true;
}

bool SecretBuilder::Resize(size_t size) {
  if (!Reserve(size)) return false;
  if (size > size_)
    sodium_memzero(buf_.data() + size_, size - size_);
  else if (size < size_)
    sodium_memzero(buf_.data() + size, size_ - size);
  size_ = size;
  return true;
}

}  // namespace secretfs::keyring
