// SecretBuffer: the locked memory that holds keys and plaintext.
#include "keyring/secure_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/byte_codec.h"

using secretfs::AsBytes;
using secretfs::keyring::InitCrypto;
using secretfs::keyring::SecretBuffer;

static_assert(!std::is_copy_constructible_v<SecretBuffer>, "a copy of a secret is a leak");
static_assert(!std::is_copy_assignable_v<SecretBuffer>, "a copy of a secret is a leak");
static_assert(std::is_nothrow_move_constructible_v<SecretBuffer>);
static_assert(std::is_nothrow_move_assignable_v<SecretBuffer>);

TEST(SecretBufferTest, InitCryptoSucceedsRepeatedly) {
  EXPECT_TRUE(InitCrypto().ok());
  EXPECT_TRUE(InitCrypto().ok());
}

TEST(SecretBufferTest, DefaultIsEmptyAndOwnsNothing) {
  const SecretBuffer b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_TRUE(b.bytes().empty());
}

TEST(SecretBufferTest, SizedBufferIsWritableOverItsWholeLength) {
  SecretBuffer b(100);
  ASSERT_EQ(b.size(), 100u);
  EXPECT_FALSE(b.empty());
  ASSERT_NE(b.data(), nullptr);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b.bytes()[i], static_cast<uint8_t>(i));
}

TEST(SecretBufferTest, SizeZeroIsEmptyButUsable) {
  SecretBuffer b(0);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.bytes().empty());
  EXPECT_TRUE(b.Equals({}));
  EXPECT_FALSE(b.Equals(AsBytes("x")));
  const SecretBuffer copy = b.Clone();
  EXPECT_TRUE(copy.empty());
  b.Shrink(0);
  EXPECT_EQ(b.size(), 0u);
}

TEST(SecretBufferTest, CopyOfHoldsExactlyTheBytesIncludingNul) {
  const std::string text("a\0b\xff\0", 5);
  const SecretBuffer b = SecretBuffer::CopyOf(AsBytes(text));
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), b.size()), text);
  EXPECT_TRUE(b.Equals(AsBytes(text)));
}

TEST(SecretBufferTest, CopyOfIsIndependentOfItsSource) {
  std::vector<uint8_t> source = {1, 2, 3, 4};
  const SecretBuffer b = SecretBuffer::CopyOf(source);
  source[0] = 9;
  EXPECT_EQ(b.data()[0], 1);
  EXPECT_FALSE(b.Equals(source));
}

TEST(SecretBufferTest, CopyOfEmptySpanIsEmpty) {
  const SecretBuffer b = SecretBuffer::CopyOf({});
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.Equals({}));
}

TEST(SecretBufferTest, CloneIsADistinctEqualBuffer) {
  SecretBuffer a = SecretBuffer::CopyOf(AsBytes("secret"));
  SecretBuffer b = a.Clone();
  EXPECT_NE(a.data(), b.data());
  EXPECT_TRUE(b.Equals(a.bytes()));
  b.data()[0] = 'S';
  EXPECT_TRUE(a.Equals(AsBytes("secret")));
  EXPECT_TRUE(b.Equals(AsBytes("Secret")));
}

TEST(SecretBufferTest, MoveConstructionLeavesSourceEmpty) {
  SecretBuffer a = SecretBuffer::CopyOf(AsBytes("key material"));
  const uint8_t* const data = a.data();
  SecretBuffer b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_TRUE(b.Equals(AsBytes("key material")));
  // NOLINTBEGIN(bugprone-use-after-move): the moved-from state is the contract under test.
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.data(), nullptr);
  // NOLINTEND(bugprone-use-after-move)
}

TEST(SecretBufferTest, MoveAssignmentLeavesSourceEmptyAndReplacesTarget) {
  SecretBuffer a = SecretBuffer::CopyOf(AsBytes("first"));
  SecretBuffer b = SecretBuffer::CopyOf(AsBytes("second value"));
  b = std::move(a);
  EXPECT_TRUE(b.Equals(AsBytes("first")));
  // NOLINTNEXTLINE(bugprone-use-after-move)
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBufferTest, SelfMoveAssignmentKeepsContents) {
  SecretBuffer a = SecretBuffer::CopyOf(AsBytes("stay"));
  SecretBuffer& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(a.Equals(AsBytes("stay")));
}

TEST(SecretBufferTest, MovedFromBufferCanBeReused) {
  SecretBuffer a = SecretBuffer::CopyOf(AsBytes("one"));
  SecretBuffer b(std::move(a));
  a = SecretBuffer::CopyOf(AsBytes("two"));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.Equals(AsBytes("two")));
  EXPECT_TRUE(b.Equals(AsBytes("one")));
}

TEST(SecretBufferTest, EqualsComparesSizeAndContent) {
  const SecretBuffer b = SecretBuffer::CopyOf(AsBytes("abcdef"));
  EXPECT_TRUE(b.Equals(AsBytes("abcdef")));
  EXPECT_FALSE(b.Equals(AsBytes("abcdeF")));
  EXPECT_FALSE(b.Equals(AsBytes("Abcdef")));
  EXPECT_FALSE(b.Equals(AsBytes("abcde")));
  EXPECT_FALSE(b.Equals(AsBytes("abcdefg")));
  EXPECT_FALSE(b.Equals({}));
}

TEST(SecretBufferTest, ShrinkForgetsTheTailAndKeepsThePrefix) {
  SecretBuffer b = SecretBuffer::CopyOf(AsBytes("passphrase\r\n"));
  uint8_t* const data = b.data();
  b.Shrink(10);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.data(), data);  // the allocation is kept
  EXPECT_TRUE(b.Equals(AsBytes("passphrase")));
  // The forgotten tail is wiped, not merely hidden.
  EXPECT_EQ(data[10], 0);
  EXPECT_EQ(data[11], 0);
}

TEST(SecretBufferTest, ShrinkToZeroMakesItEmpty) {
  SecretBuffer b = SecretBuffer::CopyOf(AsBytes("abc"));
  uint8_t* const data = b.data();
  b.Shrink(0);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.Equals({}));
  EXPECT_EQ(data[0], 0);
  EXPECT_EQ(data[2], 0);
}

TEST(SecretBufferTest, ShrinkToALargerSizeChangesNothing) {
  SecretBuffer b = SecretBuffer::CopyOf(AsBytes("abc"));
  b.Shrink(3);
  EXPECT_TRUE(b.Equals(AsBytes("abc")));
  b.Shrink(100);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_TRUE(b.Equals(AsBytes("abc")));
}

TEST(SecretBufferTest, LargeBufferRoundTrips) {
  std::vector<uint8_t> big(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 31 + 7);
  const SecretBuffer b = SecretBuffer::CopyOf(big);
  EXPECT_EQ(b.size(), big.size());
  EXPECT_TRUE(b.Equals(big));
}
