// SecretBuilder: a value built up by writes at offsets (a file open for writing), in locked memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/secure_buffer.h"

using secretfs::AsBytes;
using secretfs::keyring::SecretBuilder;

static std::string Text(const SecretBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.bytes().data()), b.bytes().size());
}

TEST(SecretBuilderTest, StartsEmpty) {
  const SecretBuilder b(100);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.bytes().empty());
}

TEST(SecretBuilderTest, SequentialWritesAppend) {
  SecretBuilder b(100);
  ASSERT_TRUE(b.WriteAt(0, AsBytes("hello")));
  ASSERT_TRUE(b.WriteAt(5, AsBytes(", world")));
  EXPECT_EQ(Text(b), "hello, world");
}

TEST(SecretBuilderTest, OverwriteInTheMiddleKeepsTheRest) {
  SecretBuilder b(100, AsBytes("abcdefgh"));
  EXPECT_EQ(Text(b), "abcdefgh");
  ASSERT_TRUE(b.WriteAt(2, AsBytes("XY")));
  EXPECT_EQ(Text(b), "abXYefgh");
}

TEST(SecretBuilderTest, WriteBeyondTheEndZeroFillsTheGap) {
  SecretBuilder b(100, AsBytes("ab"));
  ASSERT_TRUE(b.WriteAt(5, AsBytes("z")));
  EXPECT_EQ(Text(b), std::string("ab\0\0\0z", 6));
}

TEST(SecretBuilderTest, ResizeCutsAndZeroExtends) {
  SecretBuilder b(100, AsBytes("abcdef"));
  ASSERT_TRUE(b.Resize(3));
  EXPECT_EQ(Text(b), "abc");
  // Growing again shows zeros, not the bytes that were cut.
  ASSERT_TRUE(b.Resize(6));
  EXPECT_EQ(Text(b), std::string("abc\0\0\0", 6));
  ASSERT_TRUE(b.Resize(0));
  EXPECT_EQ(b.size(), 0u);
}

TEST(SecretBuilderTest, GrowsPastItsFirstCapacity) {
  SecretBuilder b(1 << 20);
  std::vector<uint8_t> expected;
  for (int i = 0; i < 300; ++i) {
    const std::string chunk = "chunk " + std::to_string(i) + std::string(1000, 'x');
    ASSERT_TRUE(b.WriteAt(expected.size(), AsBytes(chunk)));
    expected.insert(expected.end(), chunk.begin(), chunk.end());
  }
  ASSERT_EQ(b.size(), expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), b.bytes().begin()));
}

// What a locked-memory budget must count: the buffer, which grows by doubling up to the limit.
TEST(SecretBuilderTest, CapacityForSaysWhatTheBufferWillHold) {
  SecretBuilder b(700 * 1024);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.CapacityFor(64), 4096u);
  ASSERT_TRUE(b.WriteAt(0, std::vector<uint8_t>(5000, 'x')));
  EXPECT_EQ(b.capacity(), 8192u);
  EXPECT_EQ(b.CapacityFor(6000), 8192u) << "room enough already";
  EXPECT_EQ(b.CapacityFor(129 * 1024), 256u * 1024);
  EXPECT_EQ(b.CapacityFor(600 * 1024), 700u * 1024) << "no more than the limit";
  ASSERT_TRUE(b.Resize(129 * 1024));
  EXPECT_EQ(b.capacity(), b.CapacityFor(129 * 1024));
  ASSERT_TRUE(b.Resize(10));
  EXPECT_EQ(b.capacity(), 256u * 1024) << "a shrinking value keeps its buffer";
}

TEST(SecretBuilderTest, LimitIsExactAndRefusalChangesNothing) {
  SecretBuilder b(10);
  ASSERT_TRUE(b.WriteAt(0, AsBytes("0123456789")));
  EXPECT_FALSE(b.WriteAt(10, AsBytes("A")));
  EXPECT_FALSE(b.WriteAt(5, AsBytes("ABCDEF")));
  EXPECT_FALSE(b.WriteAt(SIZE_MAX, AsBytes("A")));
  EXPECT_FALSE(b.WriteAt(SIZE_MAX - 1, AsBytes("AB")));
  EXPECT_FALSE(b.Resize(11));
  EXPECT_EQ(Text(b), "0123456789");
  ASSERT_TRUE(b.WriteAt(9, AsBytes("Z")));
  EXPECT_EQ(Text(b), "012345678Z");
}
