// Version records (store/schema.h): format 2 writes the author's length and the data-key
// generation as varints; format 1 records, which older stores hold, still decode; a record whose
// varints are padded, too long or out of range is damaged (EIO), never misread.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/byte_codec.h"
#include "store/schema.h"

namespace {

using secretfs::ByteReader;
using secretfs::ByteWriter;
using secretfs::store::VersionRecord;

const std::vector<uint8_t> kSealed(104, 0xab);  // nonce, 64 bytes, tag: what a record holds

VersionRecord Sample(std::string author, uint32_t generation) {
  VersionRecord rec;
  rec.created_ns = 1'700'000'000'123'456'789;
  rec.author = std::move(author);
  rec.key_generation = generation;
  rec.sealed = kSealed;
  return rec;
}

// A version record as format 1 wrote it: u32 lengths and generation.
std::vector<uint8_t> Format1(const VersionRecord& rec) {
  ByteWriter w;
  w.U8(1);
  w.I64(rec.created_ns);
  w.Str(rec.author);
  w.U32(rec.key_generation);
  w.Raw(rec.sealed);
  return std::move(w).bytes();
}

// A format 2 record with the given bytes in place of the author and the generation.
std::vector<uint8_t> Format2With(const std::vector<uint8_t>& middle) {
  ByteWriter w;
  w.U8(2);
  w.I64(1);
  w.Raw(middle);
  w.Raw(kSealed);
  return std::move(w).bytes();
}

void ExpectSame(const VersionRecord& a, const VersionRecord& b) {
  EXPECT_EQ(a.created_ns, b.created_ns);
  EXPECT_EQ(a.author, b.author);
  EXPECT_EQ(a.key_generation, b.key_generation);
  EXPECT_EQ(std::vector<uint8_t>(a.sealed.begin(), a.sealed.end()),
            std::vector<uint8_t>(b.sealed.begin(), b.sealed.end()));
}

TEST(RecordFormatTest, Format2RoundTripsAndIsSixBytesShorterThanFormat1) {
  const VersionRecord rec = Sample("user:alice", 3);
  const std::vector<uint8_t> bytes = rec.Encode();
  EXPECT_EQ(bytes.at(0), 2);
  EXPECT_EQ(bytes.size(), Format1(rec).size() - 6);
  auto back = VersionRecord::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSame(*back, rec);
}

TEST(RecordFormatTest, LongAuthorsAndLargeGenerationsRoundTrip) {
  for (const VersionRecord& rec :
       {Sample(std::string(300, 'a'), 128), Sample("", UINT32_MAX), Sample("uid:0", 0)}) {
    const std::vector<uint8_t> bytes = rec.Encode();  // the decoded record points into it
    auto back = VersionRecord::Decode(bytes);
    ASSERT_TRUE(back.ok()) << back.status().message();
    ExpectSame(*back, rec);
  }
}

TEST(RecordFormatTest, Format1RecordsStillDecode) {
  const VersionRecord rec = Sample("user:root", 70'000);
  const std::vector<uint8_t> bytes = Format1(rec);
  auto back = VersionRecord::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSame(*back, rec);
}

TEST(RecordFormatTest, DamagedFormat2FieldsAreEio) {
  const std::vector<std::vector<uint8_t>> damaged = {
      Format2With({0x80, 0x00, 0x01}),                    // author length 0, padded to two bytes
      Format2With({0x00, 0x80, 0x00}),                    // generation 0, padded
      Format2With({0x00, 0x80, 0x80, 0x80, 0x80, 0x10}),  // generation 2^32
      Format2With({0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}),  // > 64 bits
      Format2With(
          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),  // author of 2^64-1
      {2, 1, 0, 0, 0, 0, 0, 0, 0, 0x05, 'a'},   // the author runs past the end
      {3, 1, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01},  // an unknown record format
  };
  for (const auto& bytes : damaged) {
    auto rec = VersionRecord::Decode(bytes);
    ASSERT_FALSE(rec.ok()) << "decoded " << bytes.size() << " bytes";
    EXPECT_EQ(rec.status().code(), EIO);
  }
}

TEST(RecordFormatTest, VarintsTakeSevenBitsAByteAndDecodeTheirShortestForm) {
  const std::vector<std::pair<uint64_t, size_t>> sizes = {
      {0, 1}, {127, 1}, {128, 2}, {16'383, 2}, {16'384, 3}, {UINT32_MAX, 5}, {UINT64_MAX, 10},
  };
  for (const auto& [v, size] : sizes) {
    ByteWriter w;
    w.Varint(v);
    const std::vector<uint8_t> bytes = w.bytes();
    EXPECT_EQ(bytes.size(), size) << v;
    ByteReader r(bytes);
    uint64_t back = 0;
    ASSERT_TRUE(r.Varint(back)) << v;
    EXPECT_TRUE(r.AtEnd());
    EXPECT_EQ(back, v);
  }
}

}  // namespace
