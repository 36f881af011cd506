// Where key material comes from (SPEC §7): -k/--key SOURCE, $SECRETFS_KEY, mount option key=.
//
//   file:PATH        the bytes of a key file
//   passphrase       typed on the controlling terminal (asked twice when creating a slot); with no
//                    terminal, asked through systemd-ask-password when it is on $PATH
//   fd:N             everything readable from inherited file descriptor N, which is then
//                    closed (0-2: pointed at /dev/null)
//   credential:NAME  $CREDENTIALS_DIRECTORY/NAME, as systemd's LoadCredential(Encrypted)= delivers
//   host:PATH        an X25519 private key (32 raw bytes, mode 0600 or stricter) that opens a
//                    recipient slot; `secretfs keyring host-key PATH` makes one
//
// Only `keyring add --new-key` also takes recipient:PUBKEY, a public key as host-key prints it
// (RecipientKeyMaterial): it makes a recipient slot and unlocks nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "keyring/key_slot.h"

namespace secretfs::keyring {

struct KeySource {
  enum class Kind { kFile, kPassphrase, kFd, kCredential, kHost };
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

// Notes which descriptors this process was started with, for fd:N. Call it first thing in
// main(), before anything opens a file (the standard descriptors included): from then on fd:N
// takes only a descriptor the process inherited and has not yet read a key from, and any other
// fails with EBADF, as a closed one does. Without it, fd:N would take whatever descriptor has
// that number when the key is read: the store's own lock.mdb or data.mdb, read as a key and then
// closed under LMDB. Without the call (library tests) fd:N takes any open descriptor. Lists
// /proc/self/fd, or without /proc asks each number below RLIMIT_NOFILE (at most 65536). Not
// thread-safe: call it before any thread starts, and load fd:N keys from one thread.
void RecordInheritedDescriptors();

// Reads the material into locked memory. For `passphrase`, asks on /dev/tty with echo off
// (kConfirm asks twice and fails with EINVAL when the two differ); with no terminal, runs the first
// `systemd-ask-password` found on $PATH (its stdin /dev/null, the answer read from a pipe into
// locked memory; ECANCELED when it fails or times out); ENXIO when there is neither.
// ENOENT/EACCES/... with the path for unreadable files; EINVAL for empty material; EBADF for
// fd:N when N is not open, or was not inherited (RecordInheritedDescriptors).
// host:PATH: EACCES when the file is readable or writable by group or others, EINVAL unless it
// holds exactly kX25519KeyBytes bytes. file:PATH readable or writable by group or others is
// loaded, and `warning` (when given) says so for the operator ("" otherwise).
Result<KeyMaterial> LoadKeyMaterial(const KeySource& source, Prompt prompt,
                                    std::string_view purpose = "the store",
                                    std::string* warning = nullptr);

// The text form of a recipient public key: "secretfs-recipient:" and the key in unpadded URL-safe
// base64 (43 characters).
inline constexpr std::string_view kRecipientPrefix = "secretfs-recipient:";
std::string FormatRecipient(std::span<const uint8_t> public_key);
// Reads what FormatRecipient wrote, with or without the prefix. EINVAL naming the problem.
Result<std::vector<uint8_t>> ParseRecipient(std::string_view text);

// True for "recipient:..." (the --new-key form that makes a recipient slot).
bool IsRecipientSpec(std::string_view spec);
// Material of kind kRecipient for "recipient:PUBKEY". EINVAL naming the problem.
Result<KeyMaterial> RecipientKeyMaterial(std::string_view spec);

// Makes an X25519 key pair for a host: writes the 32-byte private key to `path`, created new
// (O_EXCL; EEXIST when anything is there) with mode 0600, and returns the public key. The private
// key only ever lives in locked memory and the file.
Result<std::vector<uint8_t>> CreateHostKey(const std::string& path);

// A value typed on the terminal `tty` (`secretfs put` with the terminal as its input): read to
// Ctrl-D with echo off, so it stays out of the screen and its scrollback, into locked memory.
// The newline typed before the Ctrl-D is not part of it (what one means by typing a password;
// `pass insert` and `gh secret set` store it so too); lines before it are. EFBIG past
// `max_bytes`.
Result<SecretBuffer> ReadTypedValue(int tty, size_t max_bytes);

}  // namespace secretfs::keyring
