// KernelHandles: what each fi->fh names, and the handles a stopped session never released.
#include "fs/kernel_handles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace secretfs::fs {
namespace {

template <class T>
std::vector<T> Sorted(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  return values;
}

TEST(KernelHandlesTest, AnFhNamesItsValueUntilItIsTaken) {
  KernelHandles<std::string> handles;
  const uint64_t a = handles.Add("a");
  const uint64_t b = handles.Add("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(KernelHandles<std::string>::At(a), "a");
  KernelHandles<std::string>::At(b) += "!";
  EXPECT_EQ(handles.Take(b), "b!");
  EXPECT_EQ(handles.TakeAll(), std::vector<std::string>{"a"});
}

TEST(KernelHandlesTest, TakeAllHandsBackExactlyTheHandlesNeverTaken) {
  KernelHandles<int> handles;
  uint64_t fh[6];
  for (int i = 0; i < 6; ++i) fh[i] = handles.Add(i);
  EXPECT_EQ(handles.Take(fh[0]), 0);  // the newest, the oldest and one between
  EXPECT_EQ(handles.Take(fh[5]), 5);
  EXPECT_EQ(handles.Take(fh[2]), 2);
  EXPECT_EQ(Sorted(handles.TakeAll()), (std::vector<int>{1, 3, 4}));
  EXPECT_TRUE(handles.TakeAll().empty());
  const uint64_t again = handles.Add(7);  // the list works after being emptied
  EXPECT_EQ(handles.Take(again), 7);
  EXPECT_TRUE(handles.TakeAll().empty());
}

TEST(KernelHandlesTest, HandlesLeftAtDestructionAreFreed) {
  auto value = std::make_shared<int>(1);
  {
    KernelHandles<std::shared_ptr<int>> handles;
    handles.Add(value);
    handles.Add(value);
    EXPECT_EQ(value.use_count(), 3);
  }
  EXPECT_EQ(value.use_count(), 1);
}

}  // namespace
}  // namespace secretfs::fs
