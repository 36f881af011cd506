// The record codec and record opening: what the store reads back from LMDB.
//
// Every input is handed to each decoder (version, secret and workspace records, key slots) and,
// as a sealed record, to keyring::OpenRecord with a fixed data key. Checked:
//   - nothing crashes, reads out of bounds or overflows (ASan, UBSan);
//   - garbage is an error, and that error is EIO ("damaged"), never another errno;
//   - what decodes re-encodes: byte for byte for the canonical encodings (workspace records and
//     version records of format 2, key slots), field for field for secret records (whose tag map
//     drops duplicates), and format 1 version and workspace records (written again as format 2);
//   - a record opens only at its own size (SealedSize/PlainSize agree with what opened).
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_fixtures.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"
#include "store/schema.h"

using namespace secretfs;
using secretfs::fuzz::Bytes;

namespace {

const keyring::DataKey& DataKey() {
  static const keyring::DataKey key = fuzz::FixedDataKey();
  return key;
}

bool SameBytes(const std::vector<uint8_t>& a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void OpenSealed(std::span<const uint8_t> sealed) {
  auto plain = keyring::OpenRecord(DataKey(), fuzz::FixedAddress(), sealed);
  if (!plain.ok()) {
    FUZZ_CHECK(plain.status().code() == EIO);
    return;
  }
  FUZZ_CHECK(plain->size() == keyring::PlainSize(sealed.size()));
  FUZZ_CHECK(keyring::SealedSize(plain->size()) == sealed.size());
}

void FuzzVersion(std::span<const uint8_t> in) {
  auto rec = store::VersionRecord::Decode(in);
  if (!rec.ok()) {
    FUZZ_CHECK(rec.status().code() == EIO);
    return;
  }
  FUZZ_CHECK(rec->sealed.data() >= in.data() &&
             rec->sealed.data() + rec->sealed.size() == in.data() + in.size());
  const std::vector<uint8_t> encoded = rec->Encode();
  if (in[0] == 1) {  // a format 1 record re-encodes as format 2, with the same fields
    auto again = store::VersionRecord::Decode(encoded);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(
        again->created_ns == rec->created_ns && again->author == rec->author &&
        again->key_generation == rec->key_generation &&
        SameBytes(std::vector<uint8_t>(again->sealed.begin(), again->sealed.end()), rec->sealed));
  } else {
    FUZZ_CHECK(SameBytes(encoded, in));
  }
  OpenSealed(rec->sealed);  // the read path: the version record's payload is the sealed value
}

void FuzzSecret(std::span<const uint8_t> in) {
  auto rec = store::SecretRecord::Decode(in);
  if (!rec.ok()) {
    FUZZ_CHECK(rec.status().code() == EIO);
    return;
  }
  const std::vector<uint8_t> encoded = rec->Encode();
  FUZZ_CHECK(encoded.size() <= in.size());  // only duplicate tags can be dropped
  auto again = store::SecretRecord::Decode(encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->version == rec->version && again->deleted == rec->deleted &&
             again->created_ns == rec->created_ns && again->updated_ns == rec->updated_ns &&
             again->deleted_ns == rec->deleted_ns && again->updated_by == rec->updated_by &&
             again->description == rec->description && again->type == rec->type &&
             again->tags == rec->tags && again->size == rec->size);
  FUZZ_CHECK(SameBytes(again->Encode(), encoded));
}

void FuzzWorkspace(std::span<const uint8_t> in) {
  auto rec = store::WorkspaceRecord::Decode(in);
  if (!rec.ok()) {
    FUZZ_CHECK(rec.status().code() == EIO);
    return;
  }
  FUZZ_CHECK(rec->naming == store::Naming::kDefault || rec->naming == store::Naming::kEnv);
  if (in[0] == 1) {  // format 1 re-encodes as format 2: the same bytes, then keep_versions 0
    FUZZ_CHECK(rec->keep_versions == 0);
    std::vector<uint8_t> expected(in.begin(), in.end());
    expected[0] = 2;
    expected.insert(expected.end(), 4, 0);
    FUZZ_CHECK(SameBytes(rec->Encode(), expected));
    return;
  }
  FUZZ_CHECK(SameBytes(rec->Encode(), in));
}

void FuzzSlot(std::span<const uint8_t> in) {
  auto slot = keyring::KeySlot::Decode(in);
  if (!slot.ok()) {
    FUZZ_CHECK(slot.status().code() == EIO);
    return;
  }
  FUZZ_CHECK(slot->kind == keyring::SlotKind::kPassphrase ||
             slot->kind == keyring::SlotKind::kKeyFile ||
             slot->kind == keyring::SlotKind::kRecipient);
  FUZZ_CHECK(SameBytes(slot->Encode(), in));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!keyring::InitCrypto().ok()) abort();
  (void)DataKey();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer hands over a heap copy of exactly `size` bytes: ASan sees any read past its end.
  const std::span<const uint8_t> in = Bytes(data, size);
  FuzzVersion(in);
  FuzzSecret(in);
  FuzzWorkspace(in);
  FuzzSlot(in);
  OpenSealed(in);
  return 0;
}
