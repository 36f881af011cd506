#include "cli/cli_context.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "store/space_reserve.h"

namespace secretfs::cli {

Result<keyring::KeySource> CliContext::KeySource() const {
  std::string spec = options_.key_source;
  if (spec.empty()) {
    const int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0)
      throw UsageError{
          "no key given: use -k SOURCE or $SECRETFS_KEY (file:PATH, passphrase, "
          "fd:N, credential:NAME or host:PATH)"};
    close(tty);
    spec = "passphrase";
  }
  auto source = keyring::ParseKeySource(spec);
  if (!source && source.status().code() == EINVAL) throw UsageError{source.status().message()};
  return source;
}

Result<keyring::KeyMaterial> CliContext::LoadKey(keyring::Prompt prompt) const {
  auto source = KeySource();
  if (!source) return source.status();
  std::string warning;
  auto key =
      keyring::LoadKeyMaterial(*source, prompt, "the store at " + options_.store_dir, &warning);
  Warn(warning);
  return key;
}

void CliContext::Warn(const std::string& warning) {
  if (!warning.empty()) std::cerr << "secretfs: warning: " << OneLine(warning) << std::endl;
}

Result<std::unique_ptr<store::SecretStore>> CliContext::OpenUnlocked(
    keyring::KeyMaterial* key_used) const {
  auto store = store::SecretStore::Open(options_.store_dir);
  if (!store) return store.status();
  Warn((*store)->open_notice());
  auto key = LoadKey(keyring::Prompt::kOnce);
  if (!key) return key.status();
  SECRETFS_RETURN_IF_ERROR((*store)->Unlock(*key));
  if (key_used != nullptr) *key_used = std::move(*key);
  return store;
}

bool CliContext::GiveBackSpaceReserve(store::SecretStore& store) {
  auto released = store::ReleaseSpaceReserve(store.dir());
  if (!released) {
    Warn(released.status().message());
    return false;
  }
  if (*released == 0) return false;
  Warn("the disk holding " + store.dir() + " is full: giving back its space reserve (" +
       FormatSize(*released) + ") to free space");
  return true;
}

void CliContext::TakeSpaceReserve(store::SecretStore& store) {
  auto held = store::KeepSpaceReserve(store.dir());
  if (!held) Warn(held.status().message());
}

int CliContext::Fail(const std::string& what, const Status& status) {
  return Fail(what, status.message());
}

std::string OneLine(std::string_view text) { return EscapeControl(text); }

int CliContext::Fail(const std::string& what, const std::string& why) {
  std::cerr << "secretfs: " << OneLine(what) << ": " << OneLine(why) << std::endl;
  return kExitError;
}

std::string CliContext::Author() { return UserLabel(getuid()); }

Status WriteAll(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "writing the output");
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<uint64_t> ParseVersion(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v == 0)
    return Status(EINVAL, "'" + std::string(text) + "' is not a version number (1, 2, ...)");
  return v;
}

bool ConfirmOnTerminal(const std::string& question, const std::string& expected) {
  FILE* tty = fopen("/dev/tty", "r+e");
  if (tty == nullptr) return false;
  fprintf(tty, "%s\nType '%s' to confirm: ", question.c_str(), expected.c_str());
  fflush(tty);
  char line[256] = {};
  const bool ok = fgets(line, sizeof line, tty) != nullptr &&
                  std::string_view(line).substr(0, std::string_view(line).find('\n')) == expected;
  fclose(tty);
  return ok;
}

}  // namespace secretfs::cli
