#include "fs/locked_budget.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace secretfs::fs {

LockedBudget::LockedBudget(size_t total) : total_(total != 0 ? total : DefaultTotal()) {}

size_t LockedBudget::DefaultTotal() {
  constexpr size_t kMin = size_t{64} << 20;
  constexpr size_t kMax = size_t{1} << 30;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return kMin;
  const size_t memory = static_cast<size_t>(pages) * static_cast<size_t>(page_bytes);
  return std::clamp(memory / 8, kMin, kMax);
}

bool LockedBudget::Take(uid_t uid, size_t value_bytes, Claim& out) {
  out.Reset();
  Claim claim;
  claim.budget_ = this;
  claim.uid_ = uid;
  if (!claim.Cover(value_bytes)) return false;  // it holds nothing: nothing to give back
  out = std::move(claim);
  return true;
}

bool LockedBudget::Change(uid_t uid, size_t from, size_t to) {
  std::lock_guard lock(mutex_);
  size_t& mine = by_uid_[uid];
  if (to > from) {
    const size_t more = to - from;
    if (claimed_ + more > total_ || mine + more > per_uid()) {
      if (mine == 0) by_uid_.erase(uid);
      return false;
    }
    claimed_ += more;
    mine += more;
  } else {
    claimed_ -= from - to;
    mine -= from - to;
  }
  if (mine == 0) by_uid_.erase(uid);
  return true;
}

size_t LockedBudget::claimed() const {
  std::lock_guard lock(mutex_);
  return claimed_;
}

size_t LockedBudget::claimed_by(uid_t uid) const {
  std::lock_guard lock(mutex_);
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? 0 : it->second;
}

LockedBudget::Claim& LockedBudget::Claim::operator=(Claim&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = std::exchange(other.budget_, nullptr);
    uid_ = other.uid_;
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

bool LockedBudget::Claim::Cover(size_t value_bytes) {
  if (budget_ == nullptr) return false;
  const size_t bytes = value_bytes + kHandleBytes;
  if (!budget_->Change(uid_, bytes_, bytes)) return false;
  bytes_ = bytes;
  return true;
}

void LockedBudget::Claim::Reset() noexcept {
  if (budget_ != nullptr && bytes_ != 0) budget_->Change(uid_, bytes_, 0);
  budget_ = nullptr;
  bytes_ = 0;
}

}  // namespace secretfs::fs
