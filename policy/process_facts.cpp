#include "policy/process_facts.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

namespace secretfs::policy {
namespace {

// Called while a filesystem request waits: a handful of open/read/close on /proc into a stack
// buffer, no iostreams, no allocation unless a file is unusually long.
class ProcFile {
 public:
  // False when `path` cannot be opened or read (the process is gone, hidepid, EACCES).
  bool Read(const char* path) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_ = 0;
    on_heap_ = false;
    ssize_t n = 0;
    for (;;) {
      if (!on_heap_ && size_ == sizeof stack_) {
        // Longer than the stack buffer (thousands of supplementary groups): go on on the heap.
        heap_.assign(stack_, size_);
        on_heap_ = true;
      }
      if (on_heap_) heap_.resize(size_ + sizeof stack_);
      char* dest = on_heap_ ? heap_.data() + size_ : stack_ + size_;
      const size_t room = on_heap_ ? sizeof stack_ : sizeof stack_ - size_;
      n = read(fd, dest, room);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      size_ += static_cast<size_t>(n);
    }
    close(fd);
    return n == 0;
  }

  std::string_view text() const { return {on_heap_ ? heap_.data() : stack_, size_}; }

 private:
  char stack_[4096];
  std::string heap_;
  size_t size_ = 0;
  bool on_heap_ = false;
};

// The value of field `name` ("Tgid", "Groups") of a /proc/PID/status text, without the tab.
std::optional<std::string_view> StatusField(std::string_view status, std::string_view name) {
  size_t at = 0;
  while (at < status.size()) {
    size_t end = status.find('\n', at);
    if (end == std::string_view::npos) end = status.size();
    const std::string_view line = status.substr(at, end - at);
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':')
      return line.substr(name.size() + 1);
    at = end + 1;
  }
  return std::nullopt;
}

// Whitespace-separated decimal numbers; nullopt when anything else is there.
template <class T>
std::optional<std::vector<T>> ParseNumbers(std::string_view text) {
  std::vector<T> out;
  size_t i = 0;
  for (;;) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i == text.size()) return out;
    T value{};
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
    if (ec != std::errc()) return std::nullopt;
    out.push_back(value);
    i = static_cast<size_t>(end - text.data());
  }
}

// The supplementary groups of a /proc/PID/status text.
std::optional<std::vector<gid_t>> GroupsOf(std::string_view status) {
  const auto field = StatusField(status, "Groups");
  return field ? ParseNumbers<gid_t>(*field) : std::nullopt;
}

// Numeric field `n` of a /proc/PID/stat text, counted as proc(5) does ("PID (COMM) S PPID ...",
// the state is field 3); nullopt when it is missing or not a number. comm may hold spaces and
// parentheses, so fields are counted from the last ')'.
std::optional<uint64_t> StatNumber(std::string_view stat, int n) {
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || n < 4) return std::nullopt;
  stat.remove_prefix(close + 1);
  for (int field = 3;; ++field) {
    while (!stat.empty() && (stat.front() == ' ' || stat.front() == '\n')) stat.remove_prefix(1);
    if (stat.empty()) return std::nullopt;
    const size_t end = std::min(stat.find_first_of(" \n"), stat.size());
    if (field == n) {
      uint64_t value = 0;
      auto [at, ec] = std::from_chars(stat.data(), stat.data() + end, value);
      if (ec != std::errc() || at != stat.data() + end) return std::nullopt;
      return value;
    }
    stat.remove_prefix(end);
  }
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

FileId FileIdOf(const struct statx& st) {
  return FileId{st.stx_dev_major, st.stx_dev_minor, st.stx_ino};
}

// Whether `path`, resolved in this process's mount namespace, names `running`, the executable of
// a process: the same device and inode.
//
// The path is the caller's to choose: mounted over, in a namespace of its own, it may lead here
// through any filesystem, this daemon's own mount or a FUSE filesystem whose server is stopped.
// A lookup there would make this thread wait for that server (or, with every worker waiting so,
// for itself), so the path is resolved from the kernel's dentry cache alone (RESOLVE_CACHED,
// Linux 5.12): no filesystem is asked. The directories above a running executable are always
// cached (its file holds them); a path that is not, is not this process's view of that file.
// Attributes are not synced (AT_STATX_DONT_SYNC): device and inode need no server either.
//
// EAGAIN also comes from a cached path: the kernel abandons its lockless walk when a mount or
// unmount happens meanwhile anywhere on the machine (and a cached-only lookup may not take the
// slow walk instead). Under a loop of mounts 7% of lookups failed so; a few more tries make a
// spurious "not the file at this path" vanishingly rare, and cost a path that is truly not
// cached only those few syscalls.
bool IsFileAt(const FileId& running, const std::string& path) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_CACHED;
  constexpr int kTries = 8;
  int fd = -1;
  for (int i = 0; i < kTries && fd < 0; ++i) {
    fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
    if (fd < 0 && errno != EAGAIN) break;
  }
  if (fd < 0) return false;  // not cached (EAGAIN), absent, or a kernel before 5.12
  struct statx named {};
  const bool same = statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &named) == 0 &&
                    FileIdOf(named) == running;
  close(fd);
  return same;
}

}  // namespace

std::optional<FileId> ExecutableFileOf(const char* exe_link) {
  struct statx running {};
  if (statx(AT_FDCWD, exe_link, AT_STATX_DONT_SYNC, STATX_INO, &running) != 0) return std::nullopt;
  return FileIdOf(running);
}

pid_t ProcessOfThread(pid_t tid) {
  // pidfd_open accepts only a thread group leader: two cheap system calls answer the common case
  // (a single-threaded process, or the main thread) without generating /proc/TID/status.
  if (const int pidfd = PidfdOpen(tid); pidfd >= 0) {
    close(pidfd);
    return tid;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  ProcFile file;
  if (!file.Read(path)) return tid;
  const auto field = StatusField(file.text(), "Tgid");
  const auto numbers = field ? ParseNumbers<pid_t>(*field) : std::nullopt;
  return numbers && numbers->size() == 1 && (*numbers)[0] > 0 ? (*numbers)[0] : tid;
}

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  ProcFile file;
  if (pid <= 0 || !file.Read(path)) return std::nullopt;
  return StatNumber(file.text(), 22);
}

std::optional<int> DyingSignal(pid_t tid) {
  if (tid <= 0) return std::nullopt;
  char path[64];
  ProcFile file;
  // Reading /proc/TID/stat waits for a lock that an execve() holds while it closes the
  // O_CLOEXEC descriptors, and such a close waits for the daemon's answer: asking stat then
  // deadlocked both (ConcurrencyTest.StartingAProcessWhileWritingStoresNoPartialValue). statm
  // answers at once, and shows a size of 0 only once the thread has dropped its memory map,
  // which an exit does before it closes the files and an exec never does.
  snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(tid));
  if (!file.Read(path)) return std::nullopt;
  if (!file.text().starts_with("0 ")) return 0;
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(tid));
  if (!file.Read(path)) return std::nullopt;
  constexpr uint64_t kExiting = 0x4;  // PF_EXITING, set before do_exit() closes the files
  const auto flags = StatNumber(file.text(), 9);
  if (!flags) return std::nullopt;
  if (!(*flags & kExiting)) return 0;
  // exit_code in the form waitpid(2) reports: the signal in the low 7 bits, 0 for an exit(2).
  const auto exit_code = StatNumber(file.text(), 52);
  if (!exit_code) return std::nullopt;
  return static_cast<int>(*exit_code & 0x7f);
}

// A pidfd polls readable once its process has exited. An error counts as exited: nothing read is
// trusted without this answer.
bool Exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  return rc != 0;
}

ProcessFacts ReadProcessFacts(pid_t tid, const FactsWanted& wanted) {
  int pidfd = -1;
  ProcessFacts facts = ReadProcessFactsWithPidfd(tid, wanted, pidfd);
  if (pidfd >= 0) close(pidfd);
  return facts;
}

ProcessFacts ReadProcessFactsWithPidfd(pid_t tid, const FactsWanted& wanted, int& pidfd_out) {
  pidfd_out = -1;
  ProcessFacts untrusted;
  untrusted.pid = tid;
  if (tid <= 0) return untrusted;
  ProcFile file;
  char path[64];

  // pidfd_open accepts only a thread group leader, so a success also says tid is the process.
  // Otherwise (EINVAL before Linux 6.9, ENOENT after) tid may be another thread, and
  // /proc/TID/status names its process. That status is the calling thread's own, with the
  // credentials the kernel checked (threads may differ), so its Groups are kept: once we hold a
  // pidfd of TGID and TID is still one of its threads, the status we read was that thread's
  // unless both numbers were recycled, as a pair, within microseconds.
  ProcessFacts facts;
  pid_t tgid = tid;
  int pidfd = PidfdOpen(tid);
  const bool leader = pidfd >= 0;
  if (!leader) {
    snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
    if (!file.Read(path)) return untrusted;
    const auto field = StatusField(file.text(), "Tgid");
    const auto numbers = field ? ParseNumbers<pid_t>(*field) : std::nullopt;
    if (!numbers || numbers->size() != 1 || (*numbers)[0] <= 0) return untrusted;
    tgid = (*numbers)[0];
    untrusted.pid = tgid;
    if (wanted.groups) facts.groups = GroupsOf(file.text());
    pidfd = PidfdOpen(tgid);
  }
  if (pidfd < 0) return untrusted;  // gone already (or a kernel without pidfds: Linux < 5.3)
  facts.pid = tgid;

  bool belongs = true;
  if (leader && wanted.groups) {
    snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tgid));
    if (file.Read(path)) facts.groups = GroupsOf(file.text());
  } else if (!leader) {
    snprintf(path, sizeof path, "/proc/%d/task/%d", static_cast<int>(tgid), static_cast<int>(tid));
    belongs = access(path, F_OK) == 0;
  }
  if (belongs && wanted.comm) {
    snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(tgid));
    if (file.Read(path)) {
      std::string_view comm = file.text();
      if (!comm.empty() && comm.back() == '\n') comm.remove_suffix(1);
      facts.comm = std::string(comm);
    }
  }
  if (belongs && wanted.exe) {
    // Needs ptrace-read access: a daemon that is not root cannot read other users' exe.
    snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(tgid));
    char target[PATH_MAX];
    const ssize_t n = readlink(path, target, sizeof target);
    if (n > 0 && static_cast<size_t>(n) < sizeof target) {
      facts.exe = std::string(target, static_cast<size_t>(n));
      facts.exe_file = ExecutableFileOf(path);
      if (!facts.exe_file || !IsFileAt(*facts.exe_file, *facts.exe)) *facts.exe += kNotTheFileThere;
    }
  }
  if (belongs && wanted.unit) {
    snprintf(path, sizeof path, "/proc/%d/cgroup", static_cast<int>(tgid));
    if (file.Read(path)) facts.unit = UnitFromCgroup(file.text());
  }

  // Still the same process after reading? Then its pid was not recycled, and what we read is its.
  if (!belongs || Exited(pidfd)) {
    close(pidfd);
    return untrusted;
  }
  pidfd_out = pidfd;
  return facts;
}

std::optional<std::string> UnitFromCgroup(std::string_view cgroup_text) {
  // cgroup v2 has one line, "0::/PATH". On a v1-only host systemd's hierarchy is the one that
  // names units: "N:name=systemd:/PATH".
  std::optional<std::string_view> path;
  std::optional<std::string_view> v1_path;
  size_t at = 0;
  while (at < cgroup_text.size() && !path) {
    size_t end = cgroup_text.find('\n', at);
    if (end == std::string_view::npos) end = cgroup_text.size();
    const std::string_view line = cgroup_text.substr(at, end - at);
    if (line.substr(0, 3) == "0::") {
      path = line.substr(3);
    } else if (const size_t named = line.find(":name=systemd:"); named != std::string_view::npos) {
      v1_path = line.substr(named + 14);
    }
    at = end + 1;
  }
  if (!path) path = v1_path;
  if (!path) return std::nullopt;

  // The outermost unit, the one the system's manager made: only root can move a process into a
  // cgroup beside the manager's units. Below a unit's own cgroup, whoever runs in it may make
  // cgroups of any name if the unit delegates: a user's manager (user@1000.service, whose
  // `systemd-run --user --unit=backup.service` makes .../user@1000.service/app.slice/
  // backup.service), a container's systemd or its root (.../docker-abc.scope/nginx.service).
  // Taking the deepest name would let them pass for the host's backup.service or nginx.service.
  std::string_view rest = *path;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view name = rest.substr(0, slash);
    for (std::string_view suffix : {std::string_view(".service"), std::string_view(".scope")})
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return std::string(name);
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return std::nullopt;
}

}  // namespace secretfs::policy
