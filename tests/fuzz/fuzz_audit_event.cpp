// Audit events and the prune anchor (audit/event.h): what `audit verify` and every query read
// back from the audit table. Checked:
//   - nothing crashes (ASan, UBSan);
//   - garbage is EIO;
//   - a decoded event re-encodes to exactly the bytes it came from (the chain MAC is over those
//     bytes) and decodes again to the same event, field for field;
//   - an event built from the input, with strings longer than 4096 bytes, encodes to something
//     that decodes to the event with each string cut to its first 4096 bytes;
//   - DecodeAnchor with a fixed audit key refuses what it did not sign (EIO), and an anchor
//     built from the input (seq = first 8 bytes, mac = next 32) round-trips through
//     EncodeAnchor / DecodeAnchor, but not once a byte of it is flipped.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "audit/event.h"
#include "fuzz_fixtures.h"

using namespace secretfs;
using namespace secretfs::audit;

namespace {

bool SameEvent(const Event& a, const Event& b) {
  return a.seq == b.seq && a.time_ns == b.time_ns && a.op == b.op && a.result == b.result &&
         a.workspace == b.workspace && a.key == b.key && a.version == b.version && a.uid == b.uid &&
         a.gid == b.gid && a.pid == b.pid && a.comm == b.comm && a.exe == b.exe &&
         a.unit == b.unit && a.origin == b.origin && a.detail == b.detail;
}

void FuzzEvent(std::span<const uint8_t> in) {
  auto event = Decode(in);
  if (!event.ok()) {
    FUZZ_CHECK(event.status().code() == EIO);
    return;
  }
  FUZZ_CHECK(event->origin == Origin::kFs || event->origin == Origin::kCli);
  const std::vector<uint8_t> encoded = Encode(*event);
  FUZZ_CHECK(encoded.size() == in.size() && std::equal(encoded.begin(), encoded.end(), in.begin()));
  auto again = Decode(encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(SameEvent(*again, *event));
}

// An event whose strings come from the input, some past the 4096-byte bound (libFuzzer's inputs
// stay short, so the detail is stretched to a length the input picks, up to 8 KiB): Encode cuts
// each string to its first 4096 bytes, and what it writes decodes to the cut event.
void FuzzEncode(std::span<const uint8_t> in) {
  if (in.size() < 2) return;
  constexpr size_t kBound = 4096;
  const std::string text(reinterpret_cast<const char*>(in.data()), in.size());
  Event e;
  e.seq = in[0];
  e.time_ns = -static_cast<int64_t>(in[1]);
  e.result = -static_cast<int32_t>(in[0]);
  e.pid = -1;
  e.op = text;
  e.workspace = text.substr(0, in[0]);
  e.key = text.substr(in.size() / 2);
  e.origin = (in[1] & 1) ? Origin::kCli : Origin::kFs;
  const size_t detail_size = (in[0] | (size_t{in[1]} << 8)) % (2 * kBound);
  while (e.detail.size() < detail_size) e.detail += text;
  e.detail.resize(detail_size);

  auto back = Decode(Encode(e));
  FUZZ_CHECK(back.ok());
  Event cut = e;
  for (std::string* s :
       {&cut.op, &cut.workspace, &cut.key, &cut.comm, &cut.exe, &cut.unit, &cut.detail})
    if (s->size() > kBound) s->resize(kBound);
  FUZZ_CHECK(SameEvent(*back, cut));
}

void FuzzAnchor(std::span<const uint8_t> in) {
  static const auto key = fuzz::FixedAuditKey();
  auto anchor = DecodeAnchor(key, in);
  if (anchor.ok()) {
    const std::vector<uint8_t> encoded = EncodeAnchor(key, *anchor);
    FUZZ_CHECK(encoded.size() == in.size() &&
               std::equal(encoded.begin(), encoded.end(), in.begin()));
  } else {
    FUZZ_CHECK(anchor.status().code() == EIO);
  }

  if (in.size() < 8 + kMacBytes) return;
  Anchor made;
  made.seq = SeqOf(in.first(8));
  std::copy_n(in.begin() + 8, kMacBytes, made.mac.begin());
  std::vector<uint8_t> encoded = EncodeAnchor(key, made);
  auto back = DecodeAnchor(key, encoded);
  FUZZ_CHECK(back.ok() && back->seq == made.seq && back->mac == made.mac);
  // Flip one bit, chosen by the input; the anchor must no longer verify.
  const size_t at = in[8 + kMacBytes - 1] % encoded.size();
  encoded[at] ^= static_cast<uint8_t>(1u << (in[0] % 8));
  FUZZ_CHECK(!DecodeAnchor(key, encoded).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in = fuzz::Bytes(data, size);
  FuzzEvent(in);
  FuzzEncode(in);
  FuzzAnchor(in);
  // SeqKey / SeqOf: big-endian, and back.
  if (size >= 8) FUZZ_CHECK(SeqOf(SeqKey(SeqOf(in.first(8)))) == SeqOf(in.first(8)));
  return 0;
}
