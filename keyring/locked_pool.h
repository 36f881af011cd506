// Internal to keyring: small secret buffers carved out of slabs of sodium_malloc memory.
//
// sodium_malloc gives every allocation its own guard pages, which costs about ten system calls
// per allocation and free (mmap, mprotect, mlock, madvise, and their undoing). A secret of a few
// dozen bytes read through the filesystem would spend more time there than in LMDB and the cipher
// together. Small buffers therefore share slabs: each slab is one sodium_malloc allocation (locked,
// excluded from core dumps, guard pages around the slab), chunks are wiped when they are returned,
// and slabs are kept for reuse. What is lost is a guard page between two small buffers of the same
// slab; sanitizer builds allocate every buffer separately so that overflows still get caught.
#pragma once

#include <cstddef>
#include <cstdint>

namespace secretfs::keyring {

inline constexpr size_t kMaxPooledBytes = 4096;

// A chunk with room for `size` (<= kMaxPooledBytes) bytes, and its capacity in `capacity`;
// nullptr when no slab memory could be had (or pooling is off in this build).
uint8_t* PoolAllocate(size_t size, size_t& capacity);

// Wipes the whole chunk and makes it available again.
void PoolFree(uint8_t* chunk, size_t capacity) noexcept;

}  // namespace secretfs::keyring
