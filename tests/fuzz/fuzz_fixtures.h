// Fixed keys and addresses shared by the fuzz targets and the seed generator (seedgen.cpp), so a
// crash reproduces byte for byte and the seed corpus holds records that really open.
//
// The master key is 0x40..0x5f. kWrappedDataKey is a data key (generation 1) of workspace "prod"
// wrapped under it once with DataKey::Wrap; DataKey's constructor is private, so Unwrap is the
// only way to get the same data key in every run. Nothing here protects anything.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "keyring/keys.h"
#include "keyring/secure_buffer.h"

namespace secretfs::fuzz {

inline constexpr std::string_view kWorkspace = "prod";
inline constexpr std::string_view kKey = "API_KEY";
inline constexpr uint64_t kVersion = 1;
inline constexpr uint32_t kGeneration = 1;

inline constexpr std::array<uint8_t, 72> kWrappedDataKey = {
    0x88, 0x6c, 0x90, 0xf9, 0x82, 0x6a, 0xb8, 0xf6, 0x86, 0x63, 0xf9, 0x52, 0x73, 0x6a, 0x8a,
    0x29, 0xd5, 0x0f, 0xb8, 0x00, 0x68, 0xa1, 0x01, 0x25, 0x6d, 0x3c, 0x34, 0x17, 0xbc, 0xf9,
    0x37, 0x05, 0x71, 0xf0, 0x28, 0x70, 0x61, 0x81, 0xb7, 0x25, 0xe9, 0x76, 0x4d, 0x1f, 0x25,
    0xe1, 0x7c, 0xf7, 0xa6, 0x61, 0x13, 0xd3, 0x04, 0xcd, 0x76, 0xae, 0x59, 0xfa, 0xca, 0xdb,
    0x0a, 0xb5, 0xd3, 0x2c, 0xe3, 0x95, 0x84, 0x8e, 0xb2, 0x75, 0x80, 0xe1};

inline keyring::MasterKey FixedMasterKey() {
  std::array<uint8_t, keyring::kKeyBytes> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(0x40 + i);
  auto master = keyring::MasterKey::FromBytes(keyring::SecretBuffer::CopyOf(bytes));
  if (!master.ok()) abort();
  return std::move(master).value();
}

// The data key every record seed is sealed with. Aborts if the constant above no longer unwraps
// (the key hierarchy changed: regenerate it and the seeds, see README.md).
inline keyring::DataKey FixedDataKey() {
  auto key = keyring::DataKey::Unwrap(FixedMasterKey(), kWorkspace, kGeneration, kWrappedDataKey);
  if (!key.ok()) abort();
  return std::move(key).value();
}

inline keyring::RecordAddress FixedAddress() { return {kWorkspace, kKey, kVersion}; }

// The 32-byte audit key DecodeAnchor is given.
inline std::array<uint8_t, 32> FixedAuditKey() {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0xa0 + i);
  return key;
}

inline std::span<const uint8_t> Bytes(const uint8_t* data, size_t size) { return {data, size}; }

// A property that does not hold: a finding, reported as a crash with a stack.
// The failed condition is printed first, then __builtin_trap (SIGILL) makes libFuzzer print the
// stack and save the input.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      __builtin_trap();                                                                    \
    }                                                                                      \
  } while (0)

}  // namespace secretfs::fuzz
