#include "audit/event.h"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

#include "common/byte_codec.h"

namespace secretfs::audit {
namespace {

// The first byte of every encoded event. A new layout gets a new number; Decode keeps reading
// the old ones, so a log written before an upgrade still verifies after it.
constexpr uint8_t kEventFormat1 = 1;

// No field of an event is longer than a path (exe) or a free-text detail needs to be. A longer
// length in a record means damage, not data.
constexpr size_t kMaxFieldBytes = 4096;

std::string_view Bounded(std::string_view s) { return s.substr(0, kMaxFieldBytes); }

// Callers check the key's size first: a wrong size here is a bug, not a state of the store.
void RequireKeySize(std::span<const uint8_t> key) {
  if (key.size() < crypto_generichash_KEYBYTES_MIN || key.size() > crypto_generichash_KEYBYTES_MAX)
    throw std::invalid_argument("audit key of the wrong size");
}

bool ReadField(ByteReader& in, std::string& out) {
  std::span<const uint8_t> b;
  if (!in.Bytes(b) || b.size() > kMaxFieldBytes) return false;
  out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  return true;
}

}  // namespace

std::string_view OriginName(Origin origin) {
  switch (origin) {
    case Origin::kFs:
      return "fs";
    case Origin::kCli:
      return "cli";
  }
  return "unknown";
}

std::vector<uint8_t> Encode(const Event& event) {
  ByteWriter out;
  out.U8(kEventFormat1);
  out.U64(event.seq);
  out.I64(event.time_ns);
  out.Str(Bounded(event.op));
  out.U32(static_cast<uint32_t>(event.result));
  out.Str(Bounded(event.workspace));
  out.Str(Bounded(event.key));
  out.U64(event.version);
  out.U32(event.uid);
  out.U32(event.gid);
  out.U32(static_cast<uint32_t>(event.pid));
  out.Str(Bounded(event.comm));
  out.Str(Bounded(event.exe));
  out.Str(Bounded(event.unit));
  out.U8(static_cast<uint8_t>(event.origin));
  out.Str(Bounded(event.detail));
  return std::move(out).bytes();
}

Result<Event> Decode(std::span<const uint8_t> bytes) {
  ByteReader in(bytes);
  uint8_t format = 0;
  if (!in.U8(format)) return Status(EIO, "an empty audit record");
  if (format != kEventFormat1)
    return Status(EIO, "unknown audit event format " + std::to_string(format));
  Event e;
  uint32_t result = 0, pid = 0;
  uint8_t origin = 0;
  const bool read = in.U64(e.seq) && in.I64(e.time_ns) && ReadField(in, e.op) && in.U32(result) &&
                    ReadField(in, e.workspace) && ReadField(in, e.key) && in.U64(e.version) &&
                    in.U32(e.uid) && in.U32(e.gid) && in.U32(pid) && ReadField(in, e.comm) &&
                    ReadField(in, e.exe) && ReadField(in, e.unit) && in.U8(origin) &&
                    ReadField(in, e.detail);
  if (!read) return Status(EIO, "a truncated or damaged audit record");
  if (!in.AtEnd()) return Status(EIO, "an audit record with trailing bytes");
  if (origin > static_cast<uint8_t>(Origin::kCli))
    return Status(EIO, "an audit record with an unknown origin " + std::to_string(origin));
  e.result = static_cast<int32_t>(result);
  e.pid = static_cast<int32_t>(pid);
  e.origin = static_cast<Origin>(origin);
  return e;
}

Mac ChainMac(std::span<const uint8_t> key, const Mac& prev_mac,
             std::span<const uint8_t> encoded_event) {
  RequireKeySize(key);
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.data(), key.size(), kMacBytes);
  crypto_generichash_update(&state, prev_mac.data(), prev_mac.size());
  crypto_generichash_update(&state, encoded_event.data(), encoded_event.size());
  Mac mac{};
  crypto_generichash_final(&state, mac.data(), mac.size());
  sodium_memzero(&state, sizeof state);  // it holds the keyed inner state
  return mac;
}

Mac KeyCheck(std::span<const uint8_t> key) {
  static constexpr std::string_view kLabel = "secretfs audit key check";
  RequireKeySize(key);
  Mac check{};
  crypto_generichash(check.data(), check.size(), reinterpret_cast<const uint8_t*>(kLabel.data()),
                     kLabel.size(), key.data(), key.size());
  return check;
}

bool SameMac(const Mac& mac, std::span<const uint8_t> bytes) {
  return bytes.size() == mac.size() && sodium_memcmp(mac.data(), bytes.data(), mac.size()) == 0;
}

namespace {

constexpr std::string_view kAnchorDomain = "secretfs audit anchor";
constexpr size_t kAnchorBytes = 8 + 2 * kMacBytes;

Mac AnchorMac(std::span<const uint8_t> key, const Anchor& anchor) {
  const std::vector<uint8_t> seq = SeqKey(anchor.seq);
  std::vector<uint8_t> message(kAnchorDomain.begin(), kAnchorDomain.end());
  message.insert(message.end(), seq.begin(), seq.end());
  message.insert(message.end(), anchor.mac.begin(), anchor.mac.end());
  // The same keyed BLAKE2b as the chain, over the anchor's own message; the domain string keeps
  // an anchor from ever passing for an event and back.
  RequireKeySize(key);
  Mac mac{};
  crypto_generichash(mac.data(), mac.size(), message.data(), message.size(), key.data(),
                     key.size());
  return mac;
}

}  // namespace

std::vector<uint8_t> EncodeAnchor(std::span<const uint8_t> key, const Anchor& anchor) {
  std::vector<uint8_t> out = SeqKey(anchor.seq);
  out.insert(out.end(), anchor.mac.begin(), anchor.mac.end());
  const Mac mac = AnchorMac(key, anchor);
  out.insert(out.end(), mac.begin(), mac.end());
  return out;
}

Result<Anchor> DecodeAnchor(std::span<const uint8_t> key, std::span<const uint8_t> bytes) {
  if (bytes.size() != kAnchorBytes) return Status(EIO, "the prune anchor is damaged (wrong size)");
  Anchor anchor;
  anchor.seq = SeqOf(bytes.first(8));
  std::copy_n(bytes.begin() + 8, kMacBytes, anchor.mac.begin());
  const Mac expected = AnchorMac(key, anchor);
  if (!SameMac(expected, bytes.subspan(8 + kMacBytes)))
    return Status(EIO, "the prune anchor (after event " + std::to_string(anchor.seq) +
                           ") does not verify: it was edited or moved");
  return anchor;
}

std::vector<uint8_t> SeqKey(uint64_t seq) {
  std::vector<uint8_t> key(8);
  for (int i = 0; i < 8; ++i) key[i] = static_cast<uint8_t>(seq >> (8 * (7 - i)));
  return key;
}

Result<Event> DecodeStored(uint64_t seq, std::span<const uint8_t> value) {
  if (value.size() <= kMacBytes)
    return Status(
        EIO, "audit event " + std::to_string(seq) + " does not decode (its record is too short)");
  auto event = Decode(value.first(value.size() - kMacBytes));
  if (!event)
    return Status(EIO, "audit event " + std::to_string(seq) + " does not decode (" +
                           event.status().message() + ")");
  return event;
}

uint64_t SeqOf(std::span<const uint8_t> key) {
  uint64_t seq = 0;
  for (size_t i = 0; i < std::min<size_t>(key.size(), 8); ++i) seq = (seq << 8) | key[i];
  return seq;
}

}  // namespace secretfs::audit
