// The inode table: one inode per node while the kernel remembers it, forgotten by lookup count,
// and moved to the new name by a rename.
#include "fs/inode_table.h"

#include <gtest/gtest.h>

namespace secretfs::fs {
namespace {

Node Secret(const std::string& workspace, const std::string& key) {
  return Node{NodeKind::kSecret, workspace, key, 0};
}

TEST(InodeTableTest, TheSameNodeKeepsItsInodeAndOthersGetTheirOwn) {
  InodeTable table(Node{});
  const uint64_t a = table.Acquire(Secret("dev", "A"));
  EXPECT_NE(a, kRootIno);
  EXPECT_EQ(table.Acquire(Secret("dev", "A")), a);
  const uint64_t other_ws = table.Acquire(Secret("prod", "A"));
  const uint64_t version = table.Acquire(Node{NodeKind::kVersionFile, "dev", "A", 1});
  const uint64_t version2 = table.Acquire(Node{NodeKind::kVersionFile, "dev", "A", 2});
  EXPECT_NE(other_ws, a);
  EXPECT_NE(version, a);
  EXPECT_NE(version2, version);
  // Names are split where they are, not concatenated: "d"+"evA" is not "dev"+"A".
  EXPECT_NE(table.Acquire(Secret("d", "evA")), a);
  ASSERT_TRUE(table.Get(version2).has_value());
  EXPECT_EQ(table.Get(version2)->version, 2u);
  EXPECT_EQ(table.Get(kRootIno)->kind, NodeKind::kRoot);
}

TEST(InodeTableTest, AnInodeIsForgottenAfterAsManyForgetsAsLookups) {
  InodeTable table(Node{});
  const uint64_t a = table.Acquire(Secret("dev", "A"));
  table.Acquire(Secret("dev", "A"));
  table.Forget(a, 1);
  EXPECT_TRUE(table.Get(a).has_value()) << "one lookup is still held";
  table.Forget(a, 1);
  EXPECT_FALSE(table.Get(a).has_value());
  const uint64_t again = table.Acquire(Secret("dev", "A"));
  EXPECT_NE(again, a) << "a forgotten inode number is not reused";
  table.Forget(kRootIno, 100);
  EXPECT_TRUE(table.Get(kRootIno).has_value()) << "the root is never forgotten";
}

TEST(InodeTableTest, RenameMovesTheInodeAndTheReplacedOneIsNoLongerFoundByName) {
  InodeTable table(Node{});
  const uint64_t from = table.Acquire(Secret("dev", "OLD"));
  const uint64_t replaced = table.Acquire(Secret("dev", "NEW"));
  table.Rename(Secret("dev", "OLD"), Secret("dev", "NEW"));
  EXPECT_EQ(table.Get(from)->key, "NEW");
  EXPECT_EQ(table.Acquire(Secret("dev", "NEW")), from);
  // The kernel may still hold the replaced inode: it keeps answering, under its old node...
  ASSERT_TRUE(table.Get(replaced).has_value());
  EXPECT_EQ(table.Get(replaced)->key, "NEW");
  // ...and forgetting it does not take the name from the moved inode.
  table.Forget(replaced, 1);
  EXPECT_FALSE(table.Get(replaced).has_value());
  EXPECT_EQ(table.Acquire(Secret("dev", "NEW")), from);
  // The old name is free: a new secret there gets a new inode.
  const uint64_t reborn = table.Acquire(Secret("dev", "OLD"));
  EXPECT_NE(reborn, from);
  EXPECT_NE(reborn, replaced);
}

}  // namespace
}  // namespace secretfs::fs
