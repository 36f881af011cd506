// Where key material comes from (SPEC §7): -k/--key SOURCE, $SECRETFS_KEY, mount option key=.
//
//   file:PATH        the bytes of a key file
//   passphrase       typed on the controlling terminal (asked twice when creating a slot)
//   fd:N             everything readable from inherited file descriptor N
//   credential:NAME  $CREDENTIALS_DIRECTORY/NAME, as systemd's LoadCredential(Encrypted)= delivers
//   it host:PATH        an X25519 private key opening a recipient slot (not in this version)
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "keyring/key_slot.h"

namespace secretfs::keyring {

struct KeySource {
  enum class Kind { kFile, kPassphrase, kFd, kCredential };
  Kind kind = Kind::kFile;
  std::string arg;   // path, fd number or credential name; empty for passphrase
  std::string text;  // as the operator wrote it, for messages
};

// EINVAL with a message listing the accepted forms when `spec` is none of them.
Result<KeySource> ParseKeySource(std::string_view spec);

enum class Prompt { kOnce, kConfirm };

// Key material is capped so a wrong path (a log file, a disk) fails fast instead of filling
// locked memory.
inline constexpr size_t kMaxKeyMaterialBytes = 64 * 1024;
inline constexpr size_t kMaxPassphraseBytes = 1024;

// Reads the material into locked memory. For `passphrase`, asks on /dev/tty with echo off
// (kConfirm asks twice and fails with EINVAL when the two differ); ENXIO when there is no terminal.
// ENOENT/EACCES/... with the path for unreadable files; EINVAL for empty material.
Result<KeyMaterial> LoadKeyMaterial(const KeySource& source, Prompt prompt,
                                    std::string_view purpose = "the store");

}  // namespace secretfs::keyring
