// Audit events (SPEC §6) and their stored form.
//
// An event records who did what to which secret and how it ended; never a value, never key
// material. Stored in the store's audit table under its sequence number (u64 big-endian), as
// Encode(event) followed by the 32-byte chain MAC:
//   mac_i = BLAKE2b-256(key = audit key, mac_{i-1} || Encode(event_i))
// with mac_0 of the first event chained from 32 zero bytes, or from the prune anchor.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace secretfs::audit {

// The operations of SPEC §6. CLI actions use their command name ("put", "keyring add", ...).
namespace op {
inline constexpr std::string_view kRead = "read";
inline constexpr std::string_view kWrite = "write";
inline constexpr std::string_view kCreate = "create";
inline constexpr std::string_view kDelete = "delete";
inline constexpr std::string_view kRename = "rename";
inline constexpr std::string_view kSetMeta = "setmeta";
inline constexpr std::string_view kVersionRead = "version_read";
inline constexpr std::string_view kMkdir = "mkdir";
inline constexpr std::string_view kRmdir = "rmdir";
inline constexpr std::string_view kList = "list";
inline constexpr std::string_view kMount = "mount";
inline constexpr std::string_view kUnmount = "unmount";
inline constexpr std::string_view kPolicyReload = "policy_reload";
inline constexpr std::string_view kAuditPrune = "audit prune";  // by the CLI, or audit_keep=
}  // namespace op

enum class Origin : uint8_t { kFs = 0, kCli = 1 };
std::string_view OriginName(Origin origin);  // "fs", "cli"

struct Event {
  uint64_t seq = 0;     // given when appended
  int64_t time_ns = 0;  // UTC ns; 0 is replaced by the time of AuditLog::Record, or of appending
  std::string op;
  int32_t result = 0;  // 0, or the errno the access got (a denial is EACCES/ENOENT/EROFS)
  std::string workspace;
  std::string key;  // for rename: the new name; `detail` holds the old one
  uint64_t version = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  std::string comm;
  std::string exe;
  std::string unit;
  Origin origin = Origin::kFs;
  std::string detail;  // free text without secrets: "from OLD", "slot 3", "policy.ini" ...
};

inline constexpr size_t kMacBytes = 32;

// A format byte (1) first, then the fields. Each string is cut to its first 4096 bytes.
std::vector<uint8_t> Encode(const Event& event);
// EIO for bytes that are not an event: an unknown format, truncation, trailing bytes, a string
// over 4096 bytes, an unknown origin.
Result<Event> Decode(std::span<const uint8_t> bytes);

// The event stored under `seq` in the audit table (Encode(event) || mac), without checking its
// MAC (Verify does). EIO naming the event when it does not decode.
Result<Event> DecodeStored(uint64_t seq, std::span<const uint8_t> value);

// The key of event `seq` in the audit table, and back.
std::vector<uint8_t> SeqKey(uint64_t seq);
uint64_t SeqOf(std::span<const uint8_t> key);

// The chain (shared by Append, Verify and Prune).
using Mac = std::array<uint8_t, kMacBytes>;
// BLAKE2b-256 keyed with `key` (the 32-byte audit key) over prev_mac || encoded_event.
Mac ChainMac(std::span<const uint8_t> key, const Mac& prev_mac,
             std::span<const uint8_t> encoded_event);

// Where pruning left the chain: the last removed event's seq and MAC. Stored in the meta table
// under kAnchorKey as u64 seq (big-endian) || mac || anchor_mac, where anchor_mac = BLAKE2b-256
// keyed with the audit key over "secretfs audit anchor" || u64 seq || mac: without the key it
// cannot be forged or moved.
inline constexpr std::string_view kAnchorKey = "audit_anchor";
struct Anchor {
  uint64_t seq = 0;
  Mac mac{};
};
std::vector<uint8_t> EncodeAnchor(std::span<const uint8_t> key, const Anchor& anchor);
// EIO when `bytes` are not an anchor, or its MAC does not verify with `key`.
Result<Anchor> DecodeAnchor(std::span<const uint8_t> key, std::span<const uint8_t> bytes);

// Which audit key appends to the chain: BLAKE2b-256 keyed with the audit key over a fixed label,
// stored in the meta table under kKeyCheckKey (it names the key without revealing it). A process
// that unlocked the store before `keyring rotate` holds the old key; its appends are refused
// instead of breaking the chain.
inline constexpr std::string_view kKeyCheckKey = "audit_key_check";
Mac KeyCheck(std::span<const uint8_t> key);

// Constant-time comparison of a MAC with `bytes` (false when the sizes differ).
bool SameMac(const Mac& mac, std::span<const uint8_t> bytes);

}  // namespace secretfs::audit
