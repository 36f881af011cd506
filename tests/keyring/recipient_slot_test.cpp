// Recipient slots: the master key sealed to an X25519 public key (crypto_box_seal), opened with the
// private key of a host. Real libsodium, no mocks.
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"

using secretfs::AsBytes;
using secretfs::ByteWriter;
using secretfs::keyring::InitCrypto;
using secretfs::keyring::KeyMaterial;
using secretfs::keyring::KeySlot;
using secretfs::keyring::kStoreIdBytes;
using secretfs::keyring::kX25519KeyBytes;
using secretfs::keyring::MakeSlot;
using secretfs::keyring::MasterKey;
using secretfs::keyring::OpenSlot;
using secretfs::keyring::PwhashLimits;
using secretfs::keyring::RandomBytes;
using secretfs::keyring::ResealRecipientSlot;
using secretfs::keyring::SecretBuffer;
using secretfs::keyring::SlotKind;
using secretfs::keyring::SlotKindName;
using secretfs::keyring::Unlock;

namespace {

std::vector<uint8_t> ToVector(std::span<const uint8_t> b) { return {b.begin(), b.end()}; }

struct KeyPair {
  std::vector<uint8_t> public_key = std::vector<uint8_t>(crypto_box_PUBLICKEYBYTES);
  std::vector<uint8_t> secret_key = std::vector<uint8_t>(crypto_box_SECRETKEYBYTES);
  KeyPair() { crypto_box_keypair(public_key.data(), secret_key.data()); }

  KeyMaterial Host() const {
    KeyMaterial m;
    m.kind = KeyMaterial::Kind::kHostKey;
    m.bytes = SecretBuffer::CopyOf(secret_key);
    m.origin = "host:/etc/secretfs/host.key";
    return m;
  }
  KeyMaterial Recipient() const {
    KeyMaterial m;
    m.kind = KeyMaterial::Kind::kRecipient;
    m.bytes = SecretBuffer::CopyOf(public_key);
    m.origin = "recipient:pk";
    return m;
  }
};

KeyMaterial KeyFile(const std::vector<uint8_t>& bytes) {
  KeyMaterial m;
  m.kind = KeyMaterial::Kind::kKeyFile;
  m.bytes = SecretBuffer::CopyOf(bytes);
  m.origin = "file:/k";
  return m;
}

class RecipientSlotTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }

  KeySlot Make(uint32_t id, const KeyMaterial& material,
               const std::vector<uint8_t>& store_id) const {
    auto slot = MakeSlot(master_, store_id, id, "robot", material, {});
    EXPECT_TRUE(slot.ok()) << slot.status().message();
    return slot.ok() ? std::move(*slot) : KeySlot{};
  }

  const MasterKey master_ = MasterKey::Generate();
  const std::vector<uint8_t> store_id_ = RandomBytes(kStoreIdBytes);
  const KeyPair host_;
};

TEST(RecipientSlotKindTest, HasAReadableName) {
  EXPECT_EQ(SlotKindName(SlotKind::kRecipient), "recipient");
  EXPECT_EQ(static_cast<int>(SlotKind::kRecipient), 3);
}

TEST_F(RecipientSlotTest, RoundTripWithThePrivateKey) {
  const KeySlot slot = Make(4, host_.Recipient(), store_id_);
  EXPECT_EQ(slot.kind, SlotKind::kRecipient);
  EXPECT_EQ(slot.recipient, host_.public_key);
  EXPECT_EQ(slot.id, 4u);
  EXPECT_EQ(slot.label, "robot");
  EXPECT_TRUE(slot.salt.empty());
  EXPECT_EQ(slot.wrapped_master.size(), crypto_box_SEALBYTES + kStoreIdBytes + 4 + 32);

  auto opened = OpenSlot(slot, store_id_, host_.Host());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(ToVector(opened->bytes()), ToVector(master_.bytes()));

  const std::vector<KeySlot> slots = {slot};
  auto unlocked = Unlock(slots, store_id_, host_.Host());
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().message();
  EXPECT_EQ(unlocked->slot_id, 4u);
  EXPECT_EQ(ToVector(unlocked->master.bytes()), ToVector(master_.bytes()));
}

TEST_F(RecipientSlotTest, AHostKeyMakesASlotForItsOwnPublicHalf) {
  const KeySlot slot = Make(2, host_.Host(), store_id_);
  EXPECT_EQ(slot.kind, SlotKind::kRecipient);
  EXPECT_EQ(slot.recipient, host_.public_key);
  EXPECT_TRUE(OpenSlot(slot, store_id_, host_.Host()).ok());
}

TEST_F(RecipientSlotTest, WrappedMasterDoesNotRevealTheMasterKey) {
  const KeySlot slot = Make(1, host_.Recipient(), store_id_);
  const std::vector<uint8_t> master = ToVector(master_.bytes());
  const auto& w = slot.wrapped_master;
  EXPECT_EQ(std::search(w.begin(), w.end(), master.begin(), master.end()), w.end());
}

TEST_F(RecipientSlotTest, WrongPrivateKeyIsRefused) {
  const KeySlot slot = Make(1, host_.Recipient(), store_id_);
  const KeyPair other;
  auto opened = OpenSlot(slot, store_id_, other.Host());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);

  const std::vector<KeySlot> slots = {slot};
  auto unlocked = Unlock(slots, store_id_, other.Host());
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), EACCES);
  EXPECT_EQ(unlocked.status().message().find('\n'), std::string::npos);
}

TEST_F(RecipientSlotTest, SlotCopiedToAnotherStoreOrSlotIsRefused) {
  const KeySlot slot = Make(1, host_.Recipient(), store_id_);
  const std::vector<uint8_t> other_store = RandomBytes(kStoreIdBytes);
  auto opened = OpenSlot(slot, other_store, host_.Host());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
  EXPECT_NE(opened.status().message().find("belongs to another store"), std::string::npos)
      << opened.status().message();
  const std::vector<KeySlot> slots = {slot};
  auto unlocked = Unlock(slots, other_store, host_.Host());
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), EACCES);
  EXPECT_NE(unlocked.status().message().find("belongs to another store"), std::string::npos);

  KeySlot moved = slot;
  moved.id = 2;  // the same bytes under another slot id
  opened = OpenSlot(moved, store_id_, host_.Host());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
}

TEST_F(RecipientSlotTest, DamagedSlotIsEioForTheRightKey) {
  KeySlot slot = Make(1, host_.Recipient(), store_id_);
  slot.wrapped_master[slot.wrapped_master.size() / 2] ^= 0x01;
  auto opened = OpenSlot(slot, store_id_, host_.Host());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EIO);
  slot.wrapped_master.resize(20);
  EXPECT_EQ(OpenSlot(slot, store_id_, host_.Host()).status().code(), EIO);
}

TEST_F(RecipientSlotTest, OnlyHostKeysTryRecipientSlotsAndHostKeysTryNothingElse) {
  const std::vector<uint8_t> file = RandomBytes(32);
  const std::vector<KeySlot> slots = {Make(1, KeyFile(file), store_id_),
                                      Make(2, host_.Recipient(), store_id_)};
  auto by_file = Unlock(slots, store_id_, KeyFile(file));
  ASSERT_TRUE(by_file.ok());
  EXPECT_EQ(by_file->slot_id, 1u);
  auto by_host = Unlock(slots, store_id_, host_.Host());
  ASSERT_TRUE(by_host.ok());
  EXPECT_EQ(by_host->slot_id, 2u);

  // The private key's bytes as a key file open no recipient slot (and no key-file slot).
  auto as_file = Unlock(slots, store_id_, KeyFile(host_.secret_key));
  ASSERT_FALSE(as_file.ok());
  EXPECT_EQ(as_file.status().code(), EACCES);
  // A key file whose bytes happen to be a host key: a host key never tries a key-file slot.
  const std::vector<KeySlot> file_only = {Make(1, KeyFile(host_.secret_key), store_id_)};
  EXPECT_EQ(Unlock(file_only, store_id_, host_.Host()).status().code(), EACCES);
  // A public key opens nothing.
  auto by_public = Unlock(slots, store_id_, host_.Recipient());
  ASSERT_FALSE(by_public.ok());
  EXPECT_EQ(by_public.status().code(), EACCES);
  EXPECT_EQ(OpenSlot(slots[1], store_id_, host_.Recipient()).status().code(), EACCES);
}

TEST_F(RecipientSlotTest, MakeSlotRefusesKeysOfTheWrongSize) {
  for (size_t n : {size_t{0}, size_t{31}, size_t{33}, size_t{64}}) {
    KeyMaterial m = host_.Recipient();
    m.bytes = SecretBuffer::CopyOf(RandomBytes(n));
    EXPECT_EQ(MakeSlot(master_, store_id_, 1, "", m, {}).status().code(), EINVAL) << n;
    m.kind = KeyMaterial::Kind::kHostKey;
    EXPECT_EQ(MakeSlot(master_, store_id_, 1, "", m, {}).status().code(), EINVAL) << n;
  }
  KeyMaterial short_host = host_.Host();
  short_host.bytes = SecretBuffer::CopyOf(RandomBytes(31));
  const std::vector<KeySlot> slots = {Make(1, host_.Recipient(), store_id_)};
  EXPECT_EQ(Unlock(slots, store_id_, short_host).status().code(), EINVAL);
}

TEST_F(RecipientSlotTest, ResealOpensWithTheSamePrivateKeyAndTheNewMaster) {
  KeySlot slot = Make(5, host_.Recipient(), store_id_);
  slot.created_unix = 1'700'000'000;
  const MasterKey new_master = MasterKey::Generate();
  auto resealed = ResealRecipientSlot(slot, new_master, store_id_);
  ASSERT_TRUE(resealed.ok()) << resealed.status().message();
  EXPECT_EQ(resealed->id, 5u);
  EXPECT_EQ(resealed->kind, SlotKind::kRecipient);
  EXPECT_EQ(resealed->label, "robot");
  EXPECT_EQ(resealed->created_unix, 1'700'000'000);
  EXPECT_EQ(resealed->recipient, host_.public_key);
  EXPECT_NE(resealed->wrapped_master, slot.wrapped_master);
  auto opened = OpenSlot(*resealed, store_id_, host_.Host());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(ToVector(opened->bytes()), ToVector(new_master.bytes()));
  EXPECT_NE(ToVector(opened->bytes()), ToVector(master_.bytes()));
  // Still bound to its store.
  EXPECT_EQ(OpenSlot(*resealed, RandomBytes(kStoreIdBytes), host_.Host()).status().code(), EACCES);
}

TEST_F(RecipientSlotTest, ResealRefusesOtherKinds) {
  const KeySlot file_slot = Make(1, KeyFile(RandomBytes(32)), store_id_);
  auto resealed = ResealRecipientSlot(file_slot, MasterKey::Generate(), store_id_);
  ASSERT_FALSE(resealed.ok());
  EXPECT_EQ(resealed.status().code(), EINVAL);
}

TEST_F(RecipientSlotTest, EncodeDecodeRoundTrips) {
  const KeySlot slot = Make(9, host_.Recipient(), store_id_);
  const std::vector<uint8_t> encoded = slot.Encode();
  EXPECT_EQ(encoded[0], 2) << "recipient slots are format 2";
  auto decoded = KeySlot::Decode(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->kind, SlotKind::kRecipient);
  EXPECT_EQ(decoded->recipient, host_.public_key);
  EXPECT_EQ(decoded->wrapped_master, slot.wrapped_master);
  EXPECT_EQ(decoded->label, slot.label);
  EXPECT_EQ(decoded->created_unix, slot.created_unix);
  EXPECT_EQ(decoded->Encode(), encoded);
  EXPECT_TRUE(OpenSlot(*decoded, store_id_, host_.Host()).ok());

  for (size_t n = 0; n < encoded.size(); ++n)
    EXPECT_EQ(KeySlot::Decode(std::span(encoded).first(n)).status().code(), EIO) << n;
  std::vector<uint8_t> as_format_1 = encoded;
  as_format_1[0] = 1;
  EXPECT_EQ(KeySlot::Decode(as_format_1).status().code(), EIO);
  KeySlot short_key = slot;
  short_key.recipient.pop_back();
  EXPECT_EQ(KeySlot::Decode(short_key.Encode()).status().code(), EIO);
  KeySlot with_salt = slot;
  with_salt.salt = RandomBytes(16);
  EXPECT_EQ(KeySlot::Decode(with_salt.Encode()).status().code(), EIO);
}

// Format 1 as every earlier version wrote it, byte by byte: still read, and written unchanged.
TEST_F(RecipientSlotTest, FormatOneSlotsStillDecodeAndEncodeUnchanged) {
  const std::vector<uint8_t> salt = RandomBytes(16);
  const std::vector<uint8_t> wrapped = RandomBytes(72);
  ByteWriter w;
  w.U8(1);
  w.U32(3);
  w.U8(2);  // key-file
  w.Str("old slot");
  w.I64(1'600'000'000);
  w.Bytes(salt);
  w.U64(0);
  w.U64(0);
  w.Bytes(wrapped);
  const std::vector<uint8_t> old_bytes = std::move(w).bytes();
  auto decoded = KeySlot::Decode(old_bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->kind, SlotKind::kKeyFile);
  EXPECT_EQ(decoded->label, "old slot");
  EXPECT_TRUE(decoded->recipient.empty());
  EXPECT_EQ(decoded->Encode(), old_bytes);

  auto passphrase = MakeSlot(master_, store_id_, 1, "", KeyFile(RandomBytes(32)), {});
  ASSERT_TRUE(passphrase.ok());
  EXPECT_EQ(passphrase->Encode()[0], 1);
}

}  // namespace
