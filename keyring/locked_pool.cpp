#include "keyring/locked_pool.h"

#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>

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
      // sodium_malloc ignores a failing mlock (RLIMIT_MEMLOCK): ask again and refuse the slab
      // rather than keep secrets in memory that may be swapped out.
      if (mlock(slab, kSlabBytes) != 0) {
        sodium_free(slab);
        return nullptr;
      }
      slabs_.push_back(slab);
      sodium_memzero(slab, kSlabBytes);  // sodium_malloc fills with garbage bytes
      for (size_t off = 0; off + capacity <= kSlabBytes; off += capacity)
        free.push_back(slab + off);
    }
    uint8_t* chunk = free.back();
    free.pop_back();
    return chunk;
  }

  // Memory locks are not inherited across fork(2): the child (the daemon that serves a mount)
  // locks the slabs it inherited again, since it keeps using them. Best effort: a child over its
  // RLIMIT_MEMLOCK keeps running, its later slabs are refused. Around fork the pool's mutex is
  // held, so the child sees a consistent pool.
  void BeforeFork() noexcept { mutex_.lock(); }
  void AfterForkInParent() noexcept { mutex_.unlock(); }
  void AfterForkInChild() noexcept {
    for (uint8_t* slab : slabs_) (void)mlock(slab, kSlabBytes);
    mutex_.unlock();
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
  std::vector<uint8_t*> slabs_;  // every slab, for AfterForkInChild
};

Pool& ThePool() {
  static Pool* pool = [] {
    auto* p = new Pool();  // never destroyed: buffers may be freed during exit
    pthread_atfork([] { ThePool().BeforeFork(); }, [] { ThePool().AfterForkInParent(); },
                   [] { ThePool().AfterForkInChild(); });
    return p;
  }();
  return *pool;
}

}  // namespace

uint8_t* PoolAllocate(size_t size, size_t& capacity) {
  if (!kPooling || size > kMaxPooledBytes) return nullptr;
  return ThePool().Allocate(size, capacity);
}

void PoolFree(uint8_t* chunk, size_t capacity) noexcept { ThePool().Free(chunk, capacity); }

}  // namespace secretfs::keyring
