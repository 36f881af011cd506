// How much plaintext the open files of one mount may hold in locked memory, in all and per user.
//
// Every open file holds its value in locked memory (a read-only handle its snapshot, a handle
// open for writing the value it builds) from open to release. Locked memory cannot be swapped
// out or reclaimed, and a root daemon (CAP_IPC_LOCK) is not bounded by RLIMIT_MEMLOCK: without a
// budget, one user who may read a 1 MiB secret could open it a few thousand times and lock
// gigabytes of the host's memory. So each open file claims its value's size plus kHandleBytes;
// a claim past the user's share (a quarter of the total) or past the total is refused, and the
// open or write fails with ENOMEM while everyone else goes on.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace secretfs::fs {

class LockedBudget {
 public:
  // What an open file costs besides its value: its handle and the locked chunk's rounding.
  static constexpr size_t kHandleBytes = 1024;

  // `total` bytes (0: DefaultTotal()); each uid may claim a quarter of it.
  explicit LockedBudget(size_t total);
  LockedBudget(const LockedBudget&) = delete;
  LockedBudget& operator=(const LockedBudget&) = delete;

  // An eighth of the machine's memory, from 64 MiB to 1 GiB.
  static size_t DefaultTotal();

  size_t total() const { return total_; }
  size_t per_uid() const { return total_ / 4; }

  // A claim on the budget for one open file, given back when it goes. Move-only.
  class Claim {
   public:
    Claim() = default;
    Claim(Claim&& other) noexcept { *this = std::move(other); }
    Claim& operator=(Claim&& other) noexcept;
    ~Claim() { Reset(); }

    // Makes the claim cover a value of `value_bytes`; false (the claim unchanged) when that
    // passes the budget. Shrinking always succeeds.
    bool Cover(size_t value_bytes);
    void Reset() noexcept;
    // The value size covered now.
    size_t covered() const { return bytes_ == 0 ? 0 : bytes_ - kHandleBytes; }

   private:
    friend class LockedBudget;
    LockedBudget* budget_ = nullptr;
    uid_t uid_ = 0;
    size_t bytes_ = 0;
  };

  // A claim of `uid` covering a value of `value_bytes`; false when it does not fit.
  bool Take(uid_t uid, size_t value_bytes, Claim& out);

  // Bytes claimed now, by everyone and by `uid`.
  size_t claimed() const;
  size_t claimed_by(uid_t uid) const;

 private:
  bool Change(uid_t uid, size_t from, size_t to);

  const size_t total_;
  mutable std::mutex mutex_;
  size_t claimed_ = 0;
  std::unordered_map<uid_t, size_t> by_uid_;  // only uids with a claim
};

}  // namespace secretfs::fs
