#include "keyring/locked_pool.h"

#include <sodium.h>

#include <array>
#include <mutex>
#include <vector>

namespace secretfs::keyring {
namespace {

constexpr std::array<size_t, 4> kClasses = {64, 256, 1024, kMaxPooledBytes};
constexpr size_t kSlabBytes = 64 * 1024;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooling = false;
#else
constexpr bool kPooling = true;
#endif

class Pool {
 public:
  uint8_t* Allocate(size_t size, size_t& capacity) {
    size_t c = 0;
    while (kClasses[c] < size) ++c;
    capacity = kClasses[c];
    std::lock_guard lock(mutex_);
    auto& free = free_[c];
    if (free.empty()) {
      auto* slab = static_cast<uint8_t*>(sodium_malloc(kSlabBytes));
      if (slab == nullptr) return nullptr;
      sodium_memzero(slab, kSlabBytes);  // sodium_malloc fills with garbage bytes
      for (size_t off = 0; off + capacity <= kSlabBytes; off += capacity)
        free.push_back(slab + off);
    }
    uint8_t* chunk = free.back();
    free.pop_back();
    return chunk;
  }

  void Free(uint8_t* chunk, size_t capacity) noexcept {
    sodium_memzero(chunk, capacity);
    size_t c = 0;
    while (kClasses[c] < capacity) ++c;
    std::lock_guard lock(mutex_);
    try {
      free_[c].push_back(chunk);
    } catch (...) {
      // Out of memory for the free list: the (wiped) chunk is simply not reused.
    }
  }

 private:
  std::mutex mutex_;
  std::array<std::vector<uint8_t*>, kClasses.size()> free_;
};

Pool& ThePool() {
  static Pool* pool = new Pool();  // never destroyed: buffers may be freed during exit
  return *pool;
}

}  // namespace

uint8_t* PoolAllocate(size_t size, size_t& capacity) {
  if (!kPooling || size > kMaxPooledBytes) return nullptr;
  return ThePool().Allocate(size, capacity);
}

void PoolFree(uint8_t* chunk, size_t capacity) noexcept { ThePool().Free(chunk, capacity); }

}  // namespace secretfs::keyring
