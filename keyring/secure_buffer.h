// Memory for keys and plaintext.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace secretfs::keyring {

// Initialises libsodium once per process. Safe to call from any thread, any number of times.
// Every keyring entry point calls it; callers only need it to learn early that it failed.
Status InitCrypto();

// A fixed-size buffer in sodium_malloc memory: locked out of swap, excluded from core dumps,
// wiped when freed, guard pages around it (buffers of up to 4 KiB share guarded slabs, see
// locked_pool.h). Move-only: a copy of a secret is a leak, so copies
// must be explicit (Clone). Not thread-safe; share it only read-only.
//
// Construction throws std::bad_alloc when the memory cannot be had, also when it cannot be
// locked (RLIMIT_MEMLOCK exhausted): a secret is never kept in memory that may be swapped out.
class SecretBuffer {
 public:
  SecretBuffer() noexcept = default;  // empty, owns nothing
  explicit SecretBuffer(size_t size);
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer();

  // A new buffer holding a copy of `bytes`.
  static SecretBuffer CopyOf(std::span<const uint8_t> bytes);
  SecretBuffer Clone() const { return CopyOf(bytes()); }

  uint8_t* data() noexcept { return data_; }
  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<uint8_t> bytes() noexcept { return {data_, size_}; }
  std::span<const uint8_t> bytes() const noexcept { return {data_, size_}; }

  // Forgets the last bytes: size() becomes `new_size` (<= size()); the tail is wiped, the
  // allocation is kept.
  void Shrink(size_t new_size) noexcept;

  // Constant-time comparison of contents (sizes are compared first, in variable time).
  bool Equals(std::span<const uint8_t> other) const noexcept;

 private:
  void Free() noexcept;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pooled_capacity_ = 0;  // non-zero: a chunk of the locked pool, else sodium_malloc'd
};

// Reads `fd` to its end into locked memory, growing as it goes (every outgrown buffer is wiped).
// EFBIG ("<what>: over the limit of N bytes") once more than `max_bytes` arrive; errno values of
// read(2) with `what` in front.
Result<SecretBuffer> ReadSecret(int fd, size_t max_bytes, const std::string& what);

// A value being built up by writes at arbitrary offsets (a file opened for writing), in locked
// memory. Capacity grows by doubling up to `limit`; every outgrown buffer is wiped when freed.
class SecretBuilder {
 public:
  explicit SecretBuilder(size_t limit) : limit_(limit) {}
  // Starts from a copy of `initial` (the current value, for appends and partial writes).
  SecretBuilder(size_t limit, std::span<const uint8_t> initial);

  // Writes `bytes` at `offset`, zero-filling any gap. False (nothing changed) when the value
  // would pass the limit.
  bool WriteAt(size_t offset, std::span<const uint8_t> bytes);
  // Cuts or zero-extends the value to `size`. False when `size` passes the limit.
  bool Resize(size_t size);

  size_t size() const noexcept { return size_; }
  std::span<const uint8_t> bytes() const noexcept { return buf_.bytes().first(size_); }
  // The locked bytes held now, and those the builder will hold once it has room for a value of
  // `size` (at most the limit): what a budget of locked memory must count, not the value's size.
  size_t capacity() const noexcept { return buf_.size(); }
  size_t CapacityFor(size_t size) const noexcept;

 private:
  bool Reserve(size_t size);
  size_t limit_;
  size_t size_ = 0;
  SecretBuffer buf_;
};

}  // namespace secretfs::keyring
