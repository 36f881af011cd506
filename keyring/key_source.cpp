#include "keyring/key_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <set>

#include "common/text_format.h"

namespace secretfs::keyring {
namespace {

constexpr std::string_view kForms = "use file:PATH, passphrase, fd:N, credential:NAME or host:PATH";
constexpr std::string_view kAskProgram = "systemd-ask-password";

// Reads everything from `fd` into locked memory, at most kMaxKeyMaterialBytes.
Result<SecretBuffer> ReadAll(int fd, const std::string& what) {
  auto bytes = ReadSecret(fd, kMaxKeyMaterialBytes, what);
  if (!bytes && bytes.status().code() == EFBIG)
    return Status(EFBIG, what + ": larger than " + std::to_string(kMaxKeyMaterialBytes) +
                             " bytes; is this really a key?");
  if (bytes && bytes->empty()) return Status(EINVAL, what + ": empty");
  return bytes;
}

// The descriptors the process inherited and has not read a key from yet; empty (no std::set at
// all) when RecordInheritedDescriptors was never called.
std::optional<std::set<int>>& InheritedDescriptors() {
  static std::optional<std::set<int>> inherited;
  return inherited;
}

// Closes an inherited key descriptor once its key is read, so that a long-running daemon keeps
// no reference to it (a memfd's or a pipe buffer's pages holding the key live as long as
// someone holds the descriptor). Standard descriptors become /dev/null instead of free slots, so
// that no file opened later lands on stdin, stdout or stderr.
void Consume(int fd) {
  if (auto& inherited = InheritedDescriptors()) inherited->erase(fd);
  if (fd > STDERR_FILENO) {
    close(fd);
    return;
  }
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  dup2(null, fd);
  close(null);
}

Result<SecretBuffer> ReadFile(const std::string& path, const std::string& what,
                              std::string* warning = nullptr) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, what);
  struct stat st {};
  if (warning != nullptr && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    // Whoever reads the key and a copy of the store reads every secret; whoever may change it may
    // hand `init` or `keyring add` a key they know. Said, not refused: ssh refuses such private
    // keys, but key files made with a plain `head -c 32 /dev/urandom > FILE` work today. Its
    // owner may do both whatever the mode says.
    const std::string and_every_secret = ", and with it every secret of a store it opens; ";
    if (st.st_uid != 0 && st.st_uid != geteuid())
      *warning = what + ": belongs to " + UserLabel(st.st_uid) + ", who can read or change it" +
                 and_every_secret + "chown it to root or to the user the command runs as";
    else if (st.st_mode & 077)
      *warning = what + ": mode " + OctalMode(st.st_mode) + " lets other users read or change it" +
                 and_every_secret + "chmod 600 " + path;
  }
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

// The first executable `name` in $PATH (or the default path), or "" when there is none.
std::string FindInPath(std::string_view name) {
  const char* env = std::getenv("PATH");
  const std::string_view path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view dir = path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = std::string(dir) + "/" + std::string(name);
      struct stat st {};
      if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          access(candidate.c_str(), X_OK) == 0)
        return candidate;
    }
    start = end + 1;
  }
  return "";
}

// Closes every descriptor from `first` up, in a child between fork and exec: close_range, or
// where the kernel has none (before 5.9), each number below RLIMIT_NOFILE. Async-signal-safe.
void CloseDescriptorsFrom(int first) {
  if (close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
  rlimit limit{};
  rlim_t end = 1024;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    end = limit.rlim_cur;
  for (rlim_t fd = static_cast<rlim_t>(first); fd < end; ++fd) close(static_cast<int>(fd));
}

// Asks through systemd-ask-password (a console, Plymouth or wall agent), reading its answer from a
// pipe into locked memory. Its stdin is /dev/null so it never eats the command's own input.
Result<SecretBuffer> AskAgent(const std::string& program, const std::string& message) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "passphrase: pipe");
  const char* argv[] = {program.c_str(), message.c_str(), nullptr};
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    return Status::FromErrno(err, "passphrase: starting " + program);
  }
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    const int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
    // Nothing but its stdio: the store is open by now, and LMDB's descriptors (data.mdb, read
    // and write) are not close-on-exec; nor are ones the command inherited.
    CloseDescriptorsFrom(STDERR_FILENO + 1);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(fds[1]);
  auto answer = ReadSecret(fds[0], kMaxPassphraseBytes + 1, "passphrase from " + program);
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status(ECANCELED,
                  "passphrase: " + program + " gave no passphrase (" +
                      (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                         : "signal " + std::to_string(WTERMSIG(status))) +
                      ")");
  if (!answer && answer.status().code() == EFBIG)
    return Status(EINVAL,
                  "passphrase longer than " + std::to_string(kMaxPassphraseBytes) + " bytes");
  if (!answer) return answer.status();
  // It ends the passphrase with a newline (unless -n).
  if (!answer->empty() && answer->data()[answer->size() - 1] == '\n')
    answer->Shrink(answer->size() - 1);
  return answer;
}

Result<SecretBuffer> AskPassphrase(Prompt prompt, std::string_view purpose) {
  const std::string ask = "Passphrase for " + std::string(purpose) + ": ";
  const std::string repeat = "Repeat the passphrase: ";
  const int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  std::string agent;
  if (tty < 0) {
    agent = FindInPath(kAskProgram);
    if (agent.empty())
      return Status(ENXIO,
                    "passphrase: no terminal to ask on and no systemd-ask-password; use -k "
                    "file:PATH, fd:N, credential:NAME or host:PATH");
  }
  auto ask_one = [&](const std::string& text) {
    return tty >= 0 ? AskLine(tty, text) : AskAgent(agent, text);
  };
  auto first = ask_one(ask);
  if (first && first->empty()) first = Status(EINVAL, "passphrase: empty");
  if (first && prompt == Prompt::kConfirm) {
    auto again = ask_one(repeat);
    if (!again)
      first = again.status();
    else if (!first->Equals(again->bytes()))
      first = Status(EINVAL, "passphrase: the two entries differ");
  }
  if (tty >= 0) close(tty);
  if (!first) return first.status();
  return std::move(*first);
}

// A host's private key: a regular file nobody but its owner can read or write, exactly 32 bytes.
Result<SecretBuffer> ReadHostKey(const std::string& path) {
  const std::string what = "host key " + path;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, what);
  struct stat st {};
  Result<SecretBuffer> bytes = Status(EINVAL, what);
  if (fstat(fd, &st) != 0) {
    bytes = Status::FromErrno(errno, what);
  } else if (!S_ISREG(st.st_mode)) {
    bytes = Status(EINVAL, what + ": not a regular file");
  } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
    bytes = Status(EACCES, what + ": belongs to " + UserLabel(st.st_uid) +
                               ", who can read or change it; a private key must be root's or the "
                               "user's the command runs as (chown root " +
                               path + ")");
  } else if ((st.st_mode & 077) != 0) {
    bytes = Status(EACCES, what + ": mode " + OctalMode(st.st_mode) +
                               " lets others read or change it; a private key must be 0600 "
                               "(chmod 600 " +
                               path + ")");
  } else {
    bytes = ReadAll(fd, what);
    if (bytes && bytes->size() != kX25519KeyBytes)
      bytes =
          Status(EINVAL, what + ": holds " + std::to_string(bytes->size()) +
                             " bytes; a host key is exactly " + std::to_string(kX25519KeyBytes) +
                             " (make one with: secretfs keyring host-key PATH)");
  }
  close(fd);
  return bytes;
}

}  // namespace

void RecordInheritedDescriptors() {
  std::set<int> open_fds;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int own = dirfd(dir);
    while (const dirent* entry = readdir(dir)) {
      const std::string_view name = entry->d_name;
      int fd = -1;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
      if (ec == std::errc() && end == name.data() + name.size() && fd != own) open_fds.insert(fd);
    }
    closedir(dir);
  } else {
    rlimit limit{};
    int highest = 1024;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
      highest = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 65536));
    for (int fd = 0; fd < highest; ++fd)
      if (fcntl(fd, F_GETFD) >= 0) open_fds.insert(fd);
  }
  InheritedDescriptors() = std::move(open_fds);
}

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
    s.kind = KeySource::Kind::kHost;
  } else if (scheme == "recipient") {
    return Status(EINVAL, "key source '" + s.text +
                              "': a recipient public key unlocks nothing (it is for keyring add "
                              "--new-key); unlock with host:PATH, its private key");
  } else {
    return Status(EINVAL, "key source '" + s.text + "' is not understood; " + std::string(kForms));
  }
  return s;
}

Result<KeyMaterial> LoadKeyMaterial(const KeySource& source, Prompt prompt,
                                    std::string_view purpose, std::string* warning) {
  KeyMaterial m;
  m.origin = source.text;
  Result<SecretBuffer> bytes = Status(EINVAL, "no key source");
  switch (source.kind) {
    case KeySource::Kind::kPassphrase:
      m.kind = KeyMaterial::Kind::kPassphrase;
      bytes = AskPassphrase(prompt, purpose);
      break;
    case KeySource::Kind::kFile:
      bytes = ReadFile(source.arg, "key file " + source.arg, warning);
      break;
    case KeySource::Kind::kFd: {
      const int fd = std::stoi(source.arg);
      if (const auto& inherited = InheritedDescriptors(); inherited && !inherited->contains(fd))
        return Status(EBADF, "key fd " + source.arg + ": " + std::strerror(EBADF) +
                                 " (secretfs was not started with descriptor " + source.arg +
                                 " open, or already read a key from it)");
      bytes = ReadAll(fd, "key fd " + source.arg);
      if (bytes) Consume(fd);
      break;
    }
    case KeySource::Kind::kCredential: {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0')
        return Status(ENOENT, "key source " + source.text +
                                  ": $CREDENTIALS_DIRECTORY is not set (is this run by systemd "
                                  "with LoadCredential=?)");
      bytes = ReadFile(std::string(dir) + "/" + source.arg, "credential " + source.arg);
      break;
    }
    case KeySource::Kind::kHost:
      m.kind = KeyMaterial::Kind::kHostKey;
      bytes = ReadHostKey(source.arg);
      break;
  }
  if (!bytes) return bytes.status();
  m.bytes = std::move(*bytes);
  return m;
}

std::string FormatRecipient(std::span<const uint8_t> public_key) {
  const size_t max =
      sodium_base64_ENCODED_LEN(public_key.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string text(max, '\0');
  sodium_bin2base64(text.data(), max, public_key.data(), public_key.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.find('\0'));
  return std::string(kRecipientPrefix) + text;
}

Result<std::vector<uint8_t>> ParseRecipient(std::string_view text) {
  if (text.starts_with(kRecipientPrefix)) text.remove_prefix(kRecipientPrefix.size());
  const std::string hint = " (use the secretfs-recipient:... line that keyring host-key printed)";
  if (text.empty()) return Status(EINVAL, "the recipient public key is missing" + hint);
  std::vector<uint8_t> key(kX25519KeyBytes);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size())
    return Status(EINVAL, "the recipient public key is not unpadded URL-safe base64 of " +
                              std::to_string(kX25519KeyBytes) + " bytes" + hint);
  if (len != kX25519KeyBytes)
    return Status(EINVAL, "the recipient public key is " + std::to_string(len) + " bytes, not " +
                              std::to_string(kX25519KeyBytes) + hint);
  return key;
}

bool IsRecipientSpec(std::string_view spec) { return spec.starts_with("recipient:"); }

Result<KeyMaterial> RecipientKeyMaterial(std::string_view spec) {
  if (!IsRecipientSpec(spec)) return Status(EINVAL, "not a recipient:PUBKEY key");
  auto key = ParseRecipient(spec.substr(std::string_view("recipient:").size()));
  if (!key) return key.status();
  KeyMaterial m;
  m.kind = KeyMaterial::Kind::kRecipient;
  m.bytes = SecretBuffer::CopyOf(*key);
  m.origin = "recipient:" + FormatRecipient(*key);
  return m;
}

Result<std::vector<uint8_t>> CreateHostKey(const std::string& path) {
  SECRETFS_RETURN_IF_ERROR(InitCrypto());
  std::vector<uint8_t> public_key(crypto_box_PUBLICKEYBYTES);
  SecretBuffer secret_key(crypto_box_SECRETKEYBYTES);
  static_assert(crypto_box_SECRETKEYBYTES == kX25519KeyBytes);
  crypto_box_keypair(public_key.data(), secret_key.data());
  const std::string what = "host key " + path;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST)
    return Status(EEXIST, what +
                              ": already exists; a host key is never overwritten (remove it "
                              "first if it is really no longer needed)");
  if (fd < 0) return Status::FromErrno(errno, what);
  Status written = Status::Ok();
  if (fchmod(fd, 0600) != 0) written = Status::FromErrno(errno, what);
  std::span<const uint8_t> rest = secret_key.bytes();
  while (written.ok() && !rest.empty()) {
    const ssize_t n = write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      written = Status::FromErrno(errno, what);
    else
      rest = rest.subspan(static_cast<size_t>(n));
  }
  if (written.ok() && fsync(fd) != 0) written = Status::FromErrno(errno, what);
  if (close(fd) != 0 && written.ok()) written = Status::FromErrno(errno, what);
  if (!written.ok()) {
    unlink(path.c_str());
    return written;
  }
  return public_key;
}

Result<SecretBuffer> ReadTypedValue(int tty, size_t max_bytes) {
  EchoOff quiet(tty);
  auto value = ReadSecret(tty, max_bytes, "the value typed");
  if (value && value->size() > 0 && value->data()[value->size() - 1] == '\n')
    value->Shrink(value->size() - 1);
  return value;
}

}  // namespace secretfs::keyring
