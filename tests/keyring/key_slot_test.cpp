// Key slots: the master key wrapped under a passphrase (real Argon2id) or a key file.
#include "keyring/key_slot.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"

using secretfs::AsBytes;
using secretfs::keyring::KeyMaterial;
using secretfs::keyring::KeySlot;
using secretfs::keyring::kMinKeyFileBytes;
using secretfs::keyring::kStoreIdBytes;
using secretfs::keyring::MakeSlot;
using secretfs::keyring::MasterKey;
using secretfs::keyring::OpenSlot;
using secretfs::keyring::PwhashLimits;
using secretfs::keyring::RandomBytes;
using secretfs::keyring::SecretBuffer;
using secretfs::keyring::SlotKind;
using secretfs::keyring::SlotKindName;
using secretfs::keyring::Unlock;

static KeyMaterial Passphrase(std::string_view text) {
  KeyMaterial m;
  m.kind = KeyMaterial::Kind::kPassphrase;
  m.bytes = SecretBuffer::CopyOf(AsBytes(text));
  m.origin = "passphrase";
  return m;
}

static KeyMaterial KeyFile(const std::vector<uint8_t>& bytes, std::string origin = "file:/k") {
  KeyMaterial m;
  m.kind = KeyMaterial::Kind::kKeyFile;
  m.bytes = SecretBuffer::CopyOf(bytes);
  m.origin = std::move(origin);
  return m;
}

static std::vector<uint8_t> ToVector(std::span<const uint8_t> b) { return {b.begin(), b.end()}; }

class KeySlotTest : public ::testing::Test {
 protected:
  const MasterKey master_ = MasterKey::Generate();
  const std::vector<uint8_t> store_id_ = RandomBytes(kStoreIdBytes);
  const std::vector<uint8_t> key_file_ = RandomBytes(32);
};

TEST(PwhashLimitsTest, NamedLevelsMatchLibsodium) {
  const PwhashLimits interactive = PwhashLimits::Interactive();
  const PwhashLimits moderate = PwhashLimits::Moderate();
  const PwhashLimits sensitive = PwhashLimits::Sensitive();
  EXPECT_LT(interactive.memlimit, moderate.memlimit);
  EXPECT_LT(moderate.memlimit, sensitive.memlimit);
  EXPECT_LE(interactive.opslimit, moderate.opslimit);
  EXPECT_LE(moderate.opslimit, sensitive.opslimit);
  for (const char* name : {"interactive", "moderate", "sensitive"}) {
    auto named = PwhashLimits::Named(name);
    ASSERT_TRUE(named.ok()) << name;
  }
  EXPECT_EQ(PwhashLimits::Named("interactive")->memlimit, interactive.memlimit);
  EXPECT_EQ(PwhashLimits::Named("sensitive")->opslimit, sensitive.opslimit);
  for (const char* name : {"", "Interactive", "fast", "moderate "}) {
    auto named = PwhashLimits::Named(name);
    ASSERT_FALSE(named.ok()) << name;
    EXPECT_EQ(named.status().code(), EINVAL) << name;
  }
}

TEST(SlotKindTest, HasReadableNames) {
  EXPECT_EQ(SlotKindName(SlotKind::kPassphrase), "passphrase");
  EXPECT_EQ(SlotKindName(SlotKind::kKeyFile), "key-file");
}

TEST_F(KeySlotTest, PassphraseSlotOpensWithThePassphraseOnly) {
  auto slot = MakeSlot(master_, store_id_, 1, "admin", Passphrase("correct horse"),
                       PwhashLimits::Interactive());
  ASSERT_TRUE(slot.ok()) << slot.status().message();
  EXPECT_EQ(slot->kind, SlotKind::kPassphrase);
  EXPECT_EQ(slot->id, 1u);
  EXPECT_EQ(slot->label, "admin");
  EXPECT_EQ(slot->opslimit, PwhashLimits::Interactive().opslimit);
  EXPECT_EQ(slot->memlimit, PwhashLimits::Interactive().memlimit);
  EXPECT_GT(slot->created_unix, 0);

  auto opened = OpenSlot(*slot, store_id_, Passphrase("correct horse"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(ToVector(opened->bytes()), ToVector(master_.bytes()));

  auto wrong = OpenSlot(*slot, store_id_, Passphrase("correct horsE"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), EACCES);
}

TEST_F(KeySlotTest, KeyFileSlotOpensWithTheFileOnly) {
  auto slot = MakeSlot(master_, store_id_, 2, "boot", KeyFile(key_file_), {});
  ASSERT_TRUE(slot.ok()) << slot.status().message();
  EXPECT_EQ(slot->kind, SlotKind::kKeyFile);

  auto opened = OpenSlot(*slot, store_id_, KeyFile(key_file_));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(ToVector(opened->bytes()), ToVector(master_.bytes()));

  std::vector<uint8_t> other = key_file_;
  other.back() ^= 1;
  auto wrong = OpenSlot(*slot, store_id_, KeyFile(other));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), EACCES);

  std::vector<uint8_t> longer = key_file_;
  longer.push_back('\n');
  auto longer_opened = OpenSlot(*slot, store_id_, KeyFile(longer));
  ASSERT_FALSE(longer_opened.ok());
  EXPECT_EQ(longer_opened.status().code(), EACCES);
}

TEST_F(KeySlotTest, WrappedMasterDoesNotRevealTheMasterKey) {
  auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile(key_file_), {});
  ASSERT_TRUE(slot.ok());
  const std::vector<uint8_t> encoded = slot->Encode();
  const std::vector<uint8_t> raw = ToVector(master_.bytes());
  EXPECT_EQ(std::search(encoded.begin(), encoded.end(), raw.begin(), raw.end()), encoded.end());
  EXPECT_EQ(std::search(encoded.begin(), encoded.end(), key_file_.begin(), key_file_.end()),
            encoded.end());
}

TEST_F(KeySlotTest, SlotUsedWithAnotherStoreIdFails) {
  auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile(key_file_), {});
  ASSERT_TRUE(slot.ok());
  const std::vector<uint8_t> other_store = RandomBytes(kStoreIdBytes);
  auto opened = OpenSlot(*slot, other_store, KeyFile(key_file_));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
  const KeySlot slots[] = {*slot};
  auto unlocked = Unlock(slots, other_store, KeyFile(key_file_));
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), EACCES);
}

TEST_F(KeySlotTest, PassphraseSlotUsedWithAnotherStoreIdFails) {
  auto slot =
      MakeSlot(master_, store_id_, 1, "", Passphrase("hunter2"), PwhashLimits::Interactive());
  ASSERT_TRUE(slot.ok());
  auto opened = OpenSlot(*slot, RandomBytes(kStoreIdBytes), Passphrase("hunter2"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
}

TEST_F(KeySlotTest, RelabelledSlotFails) {
  // A slot's id and kind are bound to its sealed master key.
  auto slot = MakeSlot(master_, store_id_, 4, "", KeyFile(key_file_), {});
  ASSERT_TRUE(slot.ok());
  KeySlot moved = *slot;
  moved.id = 5;
  auto opened = OpenSlot(moved, store_id_, KeyFile(key_file_));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
}

TEST_F(KeySlotTest, MakeSlotRefusesAnEmptyPassphrase) {
  auto slot = MakeSlot(master_, store_id_, 1, "", Passphrase(""), PwhashLimits::Interactive());
  ASSERT_FALSE(slot.ok());
  EXPECT_EQ(slot.status().code(), EINVAL);
}

TEST_F(KeySlotTest, MakeSlotRefusesAShortKeyFile) {
  for (size_t n : {size_t{0}, size_t{1}, kMinKeyFileBytes - 1}) {
    auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile(std::vector<uint8_t>(n, 0x42)), {});
    ASSERT_FALSE(slot.ok()) << n << " bytes";
    EXPECT_EQ(slot.status().code(), EINVAL) << n << " bytes";
  }
  auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile(RandomBytes(kMinKeyFileBytes)), {});
  EXPECT_TRUE(slot.ok()) << slot.status().message();
}

TEST_F(KeySlotTest, EncodeDecodeRoundTrips) {
  auto made =
      MakeSlot(master_, store_id_, 7, "ops laptop", Passphrase("pw"), PwhashLimits::Interactive());
  ASSERT_TRUE(made.ok());
  auto decoded = KeySlot::Decode(made->Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->id, 7u);
  EXPECT_EQ(decoded->kind, SlotKind::kPassphrase);
  EXPECT_EQ(decoded->label, "ops laptop");
  EXPECT_EQ(decoded->created_unix, made->created_unix);
  EXPECT_EQ(decoded->salt, made->salt);
  EXPECT_EQ(decoded->opslimit, made->opslimit);
  EXPECT_EQ(decoded->memlimit, made->memlimit);
  EXPECT_EQ(decoded->wrapped_master, made->wrapped_master);
  EXPECT_EQ(decoded->Encode(), made->Encode());
  // The decoded slot still opens.
  auto opened = OpenSlot(*decoded, store_id_, Passphrase("pw"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(ToVector(opened->bytes()), ToVector(master_.bytes()));
}

TEST_F(KeySlotTest, KeyFileSlotEncodeDecodeRoundTrips) {
  auto made = MakeSlot(master_, store_id_, 3, "", KeyFile(key_file_), {});
  ASSERT_TRUE(made.ok());
  auto decoded = KeySlot::Decode(made->Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->kind, SlotKind::kKeyFile);
  EXPECT_EQ(decoded->Encode(), made->Encode());
  EXPECT_TRUE(OpenSlot(*decoded, store_id_, KeyFile(key_file_)).ok());
}

TEST_F(KeySlotTest, DecodeOfTruncatedBytesFails) {
  auto made = MakeSlot(master_, store_id_, 3, "label", KeyFile(key_file_), {});
  ASSERT_TRUE(made.ok());
  const std::vector<uint8_t> encoded = made->Encode();
  for (size_t n = 0; n < encoded.size(); ++n) {
    auto decoded = KeySlot::Decode(std::span(encoded).first(n));
    ASSERT_FALSE(decoded.ok()) << "length " << n;
    EXPECT_EQ(decoded.status().code(), EIO) << "length " << n;
  }
  std::vector<uint8_t> longer = encoded;
  longer.push_back(0);
  auto decoded = KeySlot::Decode(longer);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), EIO);
}

TEST_F(KeySlotTest, DecodeOfDamagedFieldsFails) {
  auto made = MakeSlot(master_, store_id_, 3, "", KeyFile(key_file_), {});
  ASSERT_TRUE(made.ok());
  const std::vector<uint8_t> encoded = made->Encode();

  std::vector<uint8_t> bad_format = encoded;
  bad_format[0] = 2;  // the format byte
  EXPECT_EQ(KeySlot::Decode(bad_format).status().code(), EIO);

  std::vector<uint8_t> bad_kind = encoded;
  for (uint8_t kind : {uint8_t{0}, uint8_t{3}, uint8_t{0xff}}) {
    bad_kind[5] = kind;  // after format (1) and id (4)
    EXPECT_EQ(KeySlot::Decode(bad_kind).status().code(), EIO) << int{kind};
  }

  KeySlot short_salt = *made;
  short_salt.salt.pop_back();
  EXPECT_EQ(KeySlot::Decode(short_salt.Encode()).status().code(), EIO);

  std::vector<uint8_t> huge_length = encoded;
  // The label's length prefix (after format, id, kind): claims 4 GiB.
  for (size_t i = 6; i < 10; ++i) huge_length[i] = 0xff;
  EXPECT_EQ(KeySlot::Decode(huge_length).status().code(), EIO);

  EXPECT_EQ(KeySlot::Decode({}).status().code(), EIO);
}

TEST_F(KeySlotTest, DecodeRefusesImplausibleArgon2Limits) {
  auto made = MakeSlot(master_, store_id_, 1, "", Passphrase("pw"), PwhashLimits::Interactive());
  ASSERT_TRUE(made.ok());
  struct Case {
    uint64_t opslimit;
    uint64_t memlimit;
  };
  const uint64_t ok_ops = made->opslimit;
  const uint64_t ok_mem = made->memlimit;
  for (const Case& c :
       {Case{0, ok_mem}, Case{1000, ok_mem}, Case{~uint64_t{0}, ok_mem}, Case{ok_ops, 0},
        Case{ok_ops, 1024}, Case{ok_ops, uint64_t{1} << 40}, Case{ok_ops, ~uint64_t{0}}}) {
    KeySlot slot = *made;
    slot.opslimit = c.opslimit;
    slot.memlimit = c.memlimit;
    auto decoded = KeySlot::Decode(slot.Encode());
    ASSERT_FALSE(decoded.ok()) << c.opslimit << "/" << c.memlimit;
    EXPECT_EQ(decoded.status().code(), EIO) << c.opslimit << "/" << c.memlimit;
  }
  // Moderate and sensitive limits are plausible.
  for (const PwhashLimits& limits : {PwhashLimits::Moderate(), PwhashLimits::Sensitive()}) {
    KeySlot slot = *made;
    slot.opslimit = limits.opslimit;
    slot.memlimit = limits.memlimit;
    EXPECT_TRUE(KeySlot::Decode(slot.Encode()).ok());
  }
}

TEST_F(KeySlotTest, OpenSlotOfDamagedWrappedMasterFails) {
  auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile(key_file_), {});
  ASSERT_TRUE(slot.ok());
  KeySlot damaged = *slot;
  damaged.wrapped_master[damaged.wrapped_master.size() / 2] ^= 0x10;
  auto opened = OpenSlot(damaged, store_id_, KeyFile(key_file_));
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().code(), 0);
  damaged.wrapped_master.resize(10);
  EXPECT_FALSE(OpenSlot(damaged, store_id_, KeyFile(key_file_)).ok());
}

TEST_F(KeySlotTest, UnlockFindsTheRightSlotAmongSeveral) {
  const std::vector<uint8_t> file_a = RandomBytes(32);
  const std::vector<uint8_t> file_b = RandomBytes(64);
  std::vector<KeySlot> slots;
  for (auto made : {MakeSlot(master_, store_id_, 1, "pw", Passphrase("s3cret pass"),
                             PwhashLimits::Interactive()),
                    MakeSlot(master_, store_id_, 2, "a", KeyFile(file_a), {}),
                    MakeSlot(master_, store_id_, 5, "b", KeyFile(file_b), {})}) {
    ASSERT_TRUE(made.ok()) << made.status().message();
    slots.push_back(std::move(*made));
  }

  auto by_b = Unlock(slots, store_id_, KeyFile(file_b));
  ASSERT_TRUE(by_b.ok()) << by_b.status().message();
  EXPECT_EQ(by_b->slot_id, 5u);
  EXPECT_EQ(ToVector(by_b->master.bytes()), ToVector(master_.bytes()));

  auto by_a = Unlock(slots, store_id_, KeyFile(file_a));
  ASSERT_TRUE(by_a.ok()) << by_a.status().message();
  EXPECT_EQ(by_a->slot_id, 2u);

  auto by_pass = Unlock(slots, store_id_, Passphrase("s3cret pass"));
  ASSERT_TRUE(by_pass.ok()) << by_pass.status().message();
  EXPECT_EQ(by_pass->slot_id, 1u);
  EXPECT_EQ(ToVector(by_pass->master.bytes()), ToVector(master_.bytes()));

  // A passphrase read from a file (key-file material) opens the passphrase slot too.
  const std::string_view pass = "s3cret pass";
  auto by_pass_file = Unlock(slots, store_id_, KeyFile({pass.begin(), pass.end()}));
  ASSERT_TRUE(by_pass_file.ok()) << by_pass_file.status().message();
  EXPECT_EQ(by_pass_file->slot_id, 1u);
}

TEST_F(KeySlotTest, UnlockWithWrongMaterialIsEacces) {
  std::vector<KeySlot> slots;
  for (auto made :
       {MakeSlot(master_, store_id_, 1, "", Passphrase("right"), PwhashLimits::Interactive()),
        MakeSlot(master_, store_id_, 2, "", KeyFile(key_file_), {})}) {
    ASSERT_TRUE(made.ok());
    slots.push_back(std::move(*made));
  }
  auto by_file = Unlock(slots, store_id_, KeyFile(RandomBytes(32), "file:/wrong"));
  ASSERT_FALSE(by_file.ok());
  EXPECT_EQ(by_file.status().code(), EACCES);
  EXPECT_NE(by_file.status().message().find("file:/wrong"), std::string::npos)
      << by_file.status().message();

  auto by_pass = Unlock(slots, store_id_, Passphrase("wrong"));
  ASSERT_FALSE(by_pass.ok());
  EXPECT_EQ(by_pass.status().code(), EACCES);
}

TEST_F(KeySlotTest, TypedPassphraseDoesNotOpenAKeyFileSlot) {
  // A key file that happens to be printable, typed at the prompt: only passphrase slots are tried.
  const std::string text = "0123456789abcdef0123";
  auto slot = MakeSlot(master_, store_id_, 1, "", KeyFile({text.begin(), text.end()}), {});
  ASSERT_TRUE(slot.ok());
  const KeySlot slots[] = {*slot};
  auto unlocked = Unlock(slots, store_id_, Passphrase(text));
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), EACCES);
}

TEST_F(KeySlotTest, UnlockWithNoSlotsIsEacces) {
  auto unlocked = Unlock({}, store_id_, KeyFile(key_file_));
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), EACCES);
}
