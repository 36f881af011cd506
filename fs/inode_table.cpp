#include "fs/inode_table.h"

namespace secretfs::fs {

InodeTable::InodeTable(Node root) {
  by_ino_[kRootIno] = Entry{root, 1};
  by_identity_[Identity(root)] = kRootIno;
}

std::string InodeTable::Identity(const Node& node) {
  std::string id(1, static_cast<char>(node.kind));
  id += node.workspace;
  id += '\0';
  id += node.key;
  id += '\0';
  id += std::to_string(node.version);
  return id;
}

uint64_t InodeTable::Acquire(const Node& node) {
  const std::string id = Identity(node);
  std::lock_guard lock(mutex_);
  auto it = by_identity_.find(id);
  if (it != by_identity_.end()) {
    ++by_ino_[it->second].lookups;
    return it->second;
  }
  const uint64_t ino = next_ino_++;
  by_ino_[ino] = Entry{node, 1};
  by_identity_[id] = ino;
  return ino;
}

std::optional<Node> InodeTable::Get(uint64_t ino) const {
  std::lock_guard lock(mutex_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return std::nullopt;
  return it->second.node;
}

void InodeTable::Forget(uint64_t ino, uint64_t count) {
  if (ino == kRootIno) return;
  std::lock_guard lock(mutex_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  if (it->second.lookups > count) {
    it->second.lookups -= count;
    return;
  }
  auto id = by_identity_.find(Identity(it->second.node));
  if (id != by_identity_.end() && id->second == ino) by_identity_.erase(id);
  by_ino_.erase(it);
}

void InodeTable::Rename(const Node& from, const Node& to) {
  std::lock_guard lock(mutex_);
  auto it = by_identity_.find(Identity(from));
  if (it == by_identity_.end()) return;
  const uint64_t ino = it->second;
  by_identity_.erase(it);
  // An inode the kernel still holds for the old `to` keeps its node but is no longer found by
  // name: the name belongs to the moved inode now.
  by_identity_[Identity(to)] = ino;
  by_ino_[ino].node = to;
}

}  // namespace secretfs::fs
