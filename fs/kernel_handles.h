// The handles the kernel holds: what each fi->fh names, from an open's reply to its release.
//
// A session that ends while files are still open (SIGTERM with a descriptor held, a RELEASE the
// kernel had not sent yet) never gets their RELEASE requests. The registry lets the daemon let go
// of those handles itself (TakeAll): a write handle's unsaved bytes are then reported instead of
// being dropped in silence, and their locked memory goes back before the process exits.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace secretfs::fs {

template <class T>
class KernelHandles {
 public:
  KernelHandles() = default;
  KernelHandles(const KernelHandles&) = delete;
  KernelHandles& operator=(const KernelHandles&) = delete;
  ~KernelHandles() { (void)TakeAll(); }

  // Keeps `value` and returns the fh that names it until Take.
  uint64_t Add(T value) {
    auto* node = new Node;
    node->value = std::move(value);
    std::lock_guard lock(mutex_);
    node->prev = &head_;
    node->next = head_.next;
    head_.next->prev = node;
    head_.next = node;
    return reinterpret_cast<uintptr_t>(node);
  }

  // What `fh` (from Add, not yet taken) names. Needs no lock: a node changes only its links.
  static T& At(uint64_t fh) { return reinterpret_cast<Node*>(static_cast<uintptr_t>(fh))->value; }

  // Forgets `fh` and hands its value back.
  T Take(uint64_t fh) {
    std::unique_ptr<Node> node(reinterpret_cast<Node*>(static_cast<uintptr_t>(fh)));
    {
      std::lock_guard lock(mutex_);
      node->prev->next = node->next;
      node->next->prev = node->prev;
    }
    return std::move(node->value);
  }

  // Forgets every handle still held and hands their values back.
  std::vector<T> TakeAll() {
    std::vector<T> values;
    std::lock_guard lock(mutex_);
    while (head_.next != &head_) {
      std::unique_ptr<Node> node(static_cast<Node*>(head_.next));
      head_.next = node->next;
      values.push_back(std::move(node->value));
    }
    head_.prev = &head_;
    return values;
  }

 private:
  // An intrusive list: a handle costs one allocation, and adding or taking it no search.
  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };
  struct Node : Link {
    T value;
  };

  std::mutex mutex_;
  Link head_{&head_, &head_};
};

}  // namespace secretfs::fs
