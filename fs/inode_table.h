// The tree of SPEC §3 as inode numbers. A node is named by what it is (workspace, key, version),
// so the same secret always has the same inode while the kernel remembers it. Inode numbers are
// handed out on lookup and dropped when the kernel forgets them (FUSE lookup counts).
//
// Thread-safe: all methods may be called from any FUSE worker thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace secretfs::fs {

enum class NodeKind : uint8_t {
  kRoot,           // the mount root listing workspaces (without workspace=)
  kWorkspace,      // <ws>/
  kSecret,         // <ws>/<KEY>
  kVersionsDir,    // <ws>/.versions/
  kVersionKeyDir,  // <ws>/.versions/<KEY>/
  kVersionFile,    // <ws>/.versions/<KEY>/<N>
};

struct Node {
  NodeKind kind = NodeKind::kRoot;
  std::string workspace;
  std::string key;
  uint64_t version = 0;

  bool is_dir() const { return kind != NodeKind::kSecret && kind != NodeKind::kVersionFile; }
};

inline constexpr uint64_t kRootIno = 1;

class InodeTable {
 public:
  // `root` is what inode 1 is: kRoot, or a kWorkspace with workspace= mounts.
  explicit InodeTable(Node root);

  // The inode of `node`, counting one more kernel lookup.
  uint64_t Acquire(const Node& node);
  // The node of `ino`; nullopt when the kernel has forgotten it (or never had it).
  std::optional<Node> Get(uint64_t ino) const;
  // Drops `count` lookups of `ino` (FUSE forget).
  void Forget(uint64_t ino, uint64_t count);
  // After a rename the kernel moves `from`'s inode to the new name: that inode now names `to`.
  void Rename(const Node& from, const Node& to);

 private:
  struct Entry {
    Node node;
    uint64_t lookups = 0;
  };
  // The set of inodes found by name keeps only their numbers (and cached hashes) and equates
  // them by the node each one names in by_ino_. A string key per inode cost about 55 bytes more:
  // 6 MiB, a fifth of the daemon's own memory, once 110,000 secrets were looked up. Looked up
  // with a Node too (heterogeneous lookup), so finding a node builds no key.
  struct NamedHash {
    using is_transparent = void;
    const InodeTable* table;
    size_t operator()(const Node& node) const;
    size_t operator()(uint64_t ino) const { return (*this)(table->by_ino_.at(ino).node); }
  };
  struct NamedEqual {
    using is_transparent = void;
    const InodeTable* table;
    const Node& NodeOf(const Node& node) const { return node; }
    const Node& NodeOf(uint64_t ino) const { return table->by_ino_.at(ino).node; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return Same(NodeOf(a), NodeOf(b));
    }
  };
  static bool Same(const Node& a, const Node& b);

  mutable std::mutex mutex_;
  uint64_t next_ino_ = kRootIno + 1;
  std::unordered_map<uint64_t, Entry> by_ino_;
  // Inodes found by their node: every one in by_ino_ except those a rename took the name from.
  std::unordered_set<uint64_t, NamedHash, NamedEqual> named_{0, NamedHash{this}, NamedEqual{this}};
};

}  // namespace secretfs::fs
