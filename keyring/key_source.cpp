#include "keyring/key_source.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <iterator>

namespace secretfs::keyring {
namespace {

constexpr std::string_view kForms = "use file:PATH, passphrase, fd:N or credential:NAME";

// Reads everything from `fd` into locked memory, at most kMaxKeyMaterialBytes.
Result<SecretBuffer> ReadAll(int fd, const std::string& what) {
  auto bytes = ReadSecret(fd, kMaxKeyMaterialBytes, what);
  if (!bytes && bytes.status().code() == EFBIG)
    return Status(EFBIG, what + ": larger than " + std::to_string(kMaxKeyMaterialBytes) +
                             " bytes; is this really a key?");
  if (bytes && bytes->empty()) return Status(EINVAL, what + ": empty");
  return bytes;
}

Result<SecretBuffer> ReadFile(const std::string& path, const std::string& what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, what);
  auto r = ReadAll(fd, what);
  close(fd);
  return r;
}

// The terminal to restore when a signal ends the process at the prompt (Ctrl-C): without this
// the operator's shell would be left with echo off.
std::atomic<int> prompt_tty{-1};
termios prompt_saved{};

void RestoreTerminalAndDie(int sig) {
  const int fd = prompt_tty.load();
  if (fd >= 0) tcsetattr(fd, TCSANOW, &prompt_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

// Turns terminal echo off for its lifetime. TCSANOW, not TCSAFLUSH: type-ahead is kept.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    prompt_saved = saved_;
    prompt_tty = fd_;
    struct sigaction restore {};
    restore.sa_handler = RestoreTerminalAndDie;
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &restore, &old_[i]);
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    active_ = tcsetattr(fd_, TCSANOW, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
    if (prompt_tty.exchange(-1) < 0) return;
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP};
  int fd_;
  termios saved_{};
  struct sigaction old_[std::size(kSignals)]{};
  bool active_ = false;
};

// One line from the terminal, without its newline, read byte by byte into locked memory.
Result<SecretBuffer> AskLine(int tty, std::string_view prompt) {
  if (write(tty, prompt.data(), prompt.size()) < 0) return Status::FromErrno(errno, "terminal");
  EchoOff quiet(tty);
  SecretBuffer line(kMaxPassphraseBytes);
  size_t used = 0;
  char c = 0;
  for (;;) {
    const ssize_t n = read(tty, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "reading the passphrase");
    if (n == 0 || c == '\n') break;
    if (used == line.size())
      return Status(EINVAL,
                    "passphrase longer than " + std::to_string(kMaxPassphraseBytes) + " bytes");
    line.data()[used++] = static_cast<uint8_t>(c);
  }
  sodium_memzero(&c, sizeof c);
  if (used > 0 && line.data()[used - 1] == '\r') --used;
  line.Shrink(used);
  return line;
}

Result<SecretBuffer> AskPassphrase(Prompt prompt, std::string_view purpose) {
  const int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0)
    return Status(ENXIO,
                  "passphrase: no terminal to ask on; use -k file:PATH, fd:N or "
                  "credential:NAME");
  const std::string ask = "Passphrase for " + std::string(purpose) + ": ";
  auto first = AskLine(tty, ask);
  if (first && first->empty()) first = Status(EINVAL, "passphrase: empty");
  if (first && prompt == Prompt::kConfirm) {
    auto again = AskLine(tty, "Repeat the passphrase: ");
    if (!again)
      first = again.status();
    else if (!first->Equals(again->bytes()))
      first = Status(EINVAL, "passphrase: the two entries differ");
  }
  close(tty);
  if (!first) return first.status();
  return std::move(*first);
}

}  // namespace

Result<KeySource> ParseKeySource(std::string_view spec) {
  KeySource s;
  s.text = std::string(spec);
  if (spec == "passphrase") {
    s.kind = KeySource::Kind::kPassphrase;
    return s;
  }
  const size_t colon = spec.find(':');
  const std::string_view scheme = spec.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  if (colon == std::string_view::npos || arg.empty())
    return Status(EINVAL, "key source '" + s.text + "' is not understood; " + std::string(kForms));
  s.arg = std::string(arg);
  if (scheme == "file") {
    s.kind = KeySource::Kind::kFile;
  } else if (scheme == "fd") {
    int fd = -1;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), fd);
    if (ec != std::errc() || end != arg.data() + arg.size() || fd < 0)
      return Status(EINVAL, "key source '" + s.text + "': N must be a file descriptor number");
    s.kind = KeySource::Kind::kFd;
  } else if (scheme == "credential") {
    if (arg.find('/') != std::string_view::npos || arg == "." || arg == "..")
      return Status(EINVAL, "key source '" + s.text + "': a credential name has no '/'");
    s.kind = KeySource::Kind::kCredential;
  } else if (scheme == "host") {
    return Status(ENOTSUP, "key source '" + s.text +
                               "': host keys and recipient slots are not supported yet");
  } else {
    return Status(EINVAL, "key source '" + s.text + "' is not understood; " + std::string(kForms));
  }
  return s;
}

Result<KeyMaterial> LoadKeyMaterial(const KeySource& source, Prompt prompt,
                                    std::string_view purpose) {
  KeyMaterial m;
  m.origin = source.text;
  Result<SecretBuffer> bytes = Status(EINVAL, "no key source");
  switch (source.kind) {
    case KeySource::Kind::kPassphrase:
      m.kind = KeyMaterial::Kind::kPassphrase;
      bytes = AskPassphrase(prompt, purpose);
      break;
    case KeySource::Kind::kFile:
      bytes = ReadFile(source.arg, "key file " + source.arg);
      break;
    case KeySource::Kind::kFd:
      bytes = ReadAll(std::stoi(source.arg), "key fd " + source.arg);
      break;
    case KeySource::Kind::kCredential: {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0')
        return Status(ENOENT, "key source " + source.text +
                                  ": $CREDENTIALS_DIRECTORY is not set (is this run by systemd "
                                  "with LoadCredential=?)");
      bytes = ReadFile(std::string(dir) + "/" + source.arg, "credential " + source.arg);
      break;
    }
  }
  if (!bytes) return bytes.status();
  m.bytes = std::move(*bytes);
  return m;
}

}  // namespace secretfs::keyring
