// The key hierarchy: master key, wrapped workspace data keys, the derived audit key.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <set>
#include <span>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"

using secretfs::AsBytes;
using secretfs::keyring::DataKey;
using secretfs::keyring::kKeyBytes;
using secretfs::keyring::MasterKey;
using secretfs::keyring::OpenRecord;
using secretfs::keyring::RandomBytes;
using secretfs::keyring::SealRecord;
using secretfs::keyring::SecretBuffer;

static std::vector<uint8_t> ToVector(std::span<const uint8_t> b) { return {b.begin(), b.end()}; }

TEST(MasterKeyTest, GeneratedKeysHave32BytesAndDiffer) {
  const MasterKey a = MasterKey::Generate();
  const MasterKey b = MasterKey::Generate();
  EXPECT_EQ(a.bytes().size(), kKeyBytes);
  EXPECT_EQ(b.bytes().size(), kKeyBytes);
  EXPECT_NE(ToVector(a.bytes()), ToVector(b.bytes()));
}

TEST(MasterKeyTest, FromBytesAdoptsExactly32Bytes) {
  const std::vector<uint8_t> raw = RandomBytes(kKeyBytes);
  auto key = MasterKey::FromBytes(SecretBuffer::CopyOf(raw));
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(ToVector(key->bytes()), raw);
}

TEST(MasterKeyTest, FromBytesRefusesOtherSizes) {
  for (size_t n : {size_t{0}, size_t{16}, size_t{31}, size_t{33}, size_t{64}}) {
    auto key = MasterKey::FromBytes(SecretBuffer::CopyOf(std::vector<uint8_t>(n, 0x5a)));
    ASSERT_FALSE(key.ok()) << n << " bytes";
    EXPECT_EQ(key.status().code(), EINVAL) << n << " bytes";
  }
}

TEST(MasterKeyTest, AuditKeyIsStableAndIsNotTheMasterKey) {
  const std::vector<uint8_t> raw = RandomBytes(kKeyBytes);
  auto a = MasterKey::FromBytes(SecretBuffer::CopyOf(raw));
  auto b = MasterKey::FromBytes(SecretBuffer::CopyOf(raw));
  ASSERT_TRUE(a.ok() && b.ok());
  const SecretBuffer audit_a = a->DeriveAuditKey();
  const SecretBuffer audit_b = b->DeriveAuditKey();
  EXPECT_EQ(audit_a.size(), kKeyBytes);
  EXPECT_TRUE(audit_a.Equals(audit_b.bytes()));
  EXPECT_FALSE(audit_a.Equals(raw));
  EXPECT_FALSE(audit_a.Equals(MasterKey::Generate().DeriveAuditKey().bytes()));
}

TEST(RandomBytesTest, HasTheAskedSizeAndDiffers) {
  const std::vector<uint8_t> a = RandomBytes(16);
  const std::vector<uint8_t> b = RandomBytes(16);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, b);
}

// keys.cpp passes the empty vector's data() (null) to randombytes_buf, which libsodium declares
// nonnull: undefined behaviour that the sanitizer build reports and aborts on.
TEST(RandomBytesTest, ZeroBytesIsEmpty) { EXPECT_TRUE(RandomBytes(0).empty()); }

class DataKeyTest : public ::testing::Test {
 protected:
  const MasterKey master_ = MasterKey::Generate();
};

TEST_F(DataKeyTest, GenerateKeepsTheGeneration) {
  const DataKey key = DataKey::Generate(5);
  EXPECT_EQ(key.generation(), 5u);
  EXPECT_EQ(key.bytes().size(), kKeyBytes);
  EXPECT_NE(ToVector(key.bytes()), ToVector(DataKey::Generate(5).bytes()));
}

TEST_F(DataKeyTest, WrapUnwrapRoundTrips) {
  const DataKey key = DataKey::Generate(3);
  const std::vector<uint8_t> wrapped = key.Wrap(master_, "prod");
  auto unwrapped = DataKey::Unwrap(master_, "prod", 3, wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().message();
  EXPECT_EQ(unwrapped->generation(), 3u);
  EXPECT_EQ(ToVector(unwrapped->bytes()), ToVector(key.bytes()));
  // And the unwrapped key opens what the original sealed.
  const auto sealed = SealRecord(key, {"prod", "K", 1}, AsBytes("value"));
  auto opened = OpenRecord(*unwrapped, {"prod", "K", 1}, sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->Equals(AsBytes("value")));
}

TEST_F(DataKeyTest, WrappedKeyDoesNotContainTheKey) {
  const DataKey key = DataKey::Generate(1);
  const std::vector<uint8_t> wrapped = key.Wrap(master_, "prod");
  const std::vector<uint8_t> raw = ToVector(key.bytes());
  EXPECT_EQ(std::search(wrapped.begin(), wrapped.end(), raw.begin(), raw.end()), wrapped.end());
}

TEST_F(DataKeyTest, UnwrapForAnotherWorkspaceFails) {
  const std::vector<uint8_t> wrapped = DataKey::Generate(1).Wrap(master_, "prod");
  for (const char* ws : {"staging", "pro", "prod2", ""}) {
    auto unwrapped = DataKey::Unwrap(master_, ws, 1, wrapped);
    ASSERT_FALSE(unwrapped.ok()) << ws;
    EXPECT_EQ(unwrapped.status().code(), EIO) << ws;
  }
}

TEST_F(DataKeyTest, UnwrapAsAnotherGenerationFails) {
  const std::vector<uint8_t> wrapped = DataKey::Generate(2).Wrap(master_, "prod");
  for (uint32_t generation : {0u, 1u, 3u, 0xffffffffu}) {
    auto unwrapped = DataKey::Unwrap(master_, "prod", generation, wrapped);
    ASSERT_FALSE(unwrapped.ok()) << generation;
    EXPECT_EQ(unwrapped.status().code(), EIO) << generation;
  }
}

TEST_F(DataKeyTest, UnwrapUnderAnotherMasterKeyFails) {
  const std::vector<uint8_t> wrapped = DataKey::Generate(1).Wrap(master_, "prod");
  const MasterKey other = MasterKey::Generate();
  auto unwrapped = DataKey::Unwrap(other, "prod", 1, wrapped);
  ASSERT_FALSE(unwrapped.ok());
  EXPECT_EQ(unwrapped.status().code(), EIO);
}

TEST_F(DataKeyTest, UnwrapOfAlteredBytesFails) {
  const std::vector<uint8_t> wrapped = DataKey::Generate(1).Wrap(master_, "prod");
  for (size_t i = 0; i < wrapped.size(); ++i) {
    std::vector<uint8_t> damaged = wrapped;
    damaged[i] ^= 0x04;
    auto unwrapped = DataKey::Unwrap(master_, "prod", 1, damaged);
    ASSERT_FALSE(unwrapped.ok()) << "byte " << i;
    EXPECT_EQ(unwrapped.status().code(), EIO) << "byte " << i;
  }
  for (size_t n : {size_t{0}, size_t{10}, wrapped.size() - 1}) {
    auto unwrapped = DataKey::Unwrap(master_, "prod", 1, std::span(wrapped).first(n));
    ASSERT_FALSE(unwrapped.ok()) << n;
    EXPECT_EQ(unwrapped.status().code(), EIO) << n;
  }
}

TEST_F(DataKeyTest, EachWrapIsDifferent) {
  const DataKey key = DataKey::Generate(1);
  std::set<std::vector<uint8_t>> seen;
  for (int i = 0; i < 5; ++i) seen.insert(key.Wrap(master_, "prod"));
  EXPECT_EQ(seen.size(), 5u);
}
