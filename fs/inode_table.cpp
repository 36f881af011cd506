#include "fs/inode_table.h"

#include <functional>

namespace secretfs::fs {

InodeTable::InodeTable(Node root) {
  by_ino_[kRootIno] = Entry{std::move(root), 1};
  named_.insert(kRootIno);
}

size_t InodeTable::NamedHash::operator()(const Node& node) const {
  size_t h = std::hash<std::string>{}(node.workspace);
  h = h * 31 + std::hash<std::string>{}(node.key);
  h = h * 31 + std::hash<uint64_t>{}(node.version);
  return h * 31 + static_cast<size_t>(node.kind);
}

bool InodeTable::Same(const Node& a, const Node& b) {
  return a.kind == b.kind && a.version == b.version && a.key == b.key && a.workspace == b.workspace;
}

uint64_t InodeTable::Acquire(const Node& node) {
  std::lock_guard lock(mutex_);
  if (auto it = named_.find(node); it != named_.end()) {
    ++by_ino_.at(*it).lookups;
    return *it;
  }
  const uint64_t ino = next_ino_++;
  by_ino_[ino] = Entry{node, 1};
  named_.insert(ino);
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
  // Only when found by its name: a rename may have given the name to another inode since.
  if (auto named = named_.find(it->second.node); named != named_.end() && *named == ino)
    named_.erase(named);
  by_ino_.erase(it);
}

void InodeTable::Rename(const Node& from, const Node& to) {
  std::lock_guard lock(mutex_);
  auto it = named_.find(from);
  if (it == named_.end()) return;
  const uint64_t ino = *it;
  named_.erase(it);  // before its node changes: the set hashes the node
  // An inode the kernel still holds for the old `to` keeps its node but is no longer found by
  // name: the name belongs to the moved inode now.
  if (auto old = named_.find(to); old != named_.end()) named_.erase(old);
  by_ino_.at(ino).node = to;
  named_.insert(ino);
}

}  // namespace secretfs::fs
