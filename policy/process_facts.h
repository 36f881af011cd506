// Facts about the process behind a request, read from /proc while the caller waits in its system
// call. Used by the policy (groups, exe, unit) and by audit events (comm, exe, unit).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace secretfs::policy {

// Which file: a device (major, minor) and an inode number on it.
struct FileId {
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
};

struct ProcessFacts {
  pid_t pid = 0;                             // the process (thread group) of the calling thread
  std::optional<std::vector<gid_t>> groups;  // supplementary groups ("Groups:" in status)
  std::optional<std::string> comm;
  // readlink of /proc/PID/exe, as rules match it and audit events record it; followed by
  // kNotTheFileThere when the file at that path, as this process sees it, is another one, so
  // that no exe: rule matches. The link gives the path in the process's own mount namespace:
  // anyone who may make user namespaces (Debian's default) can `unshare -Urm`, bind-mount a
  // program of theirs over /usr/sbin/nginx there and run it, and its link reads
  // /usr/sbin/nginx. So do containers, with their own files.
  std::optional<std::string> exe;
  // The device and inode of that executable, from the same reading as the comparison above. An
  // execve keeps the pid: the facts cache compares these, not the path, to tell whether the
  // process still runs the file it was judged by (in a namespace of its own, another file can be
  // at the same path).
  std::optional<FileId> exe_file;
  std::optional<std::string> unit;  // from /proc/PID/cgroup, see UnitFromCgroup
};

// The device and inode of the executable behind /proc/PID/exe (or /proc/PID/task/TID/exe), read
// without asking its filesystem; nullopt when it cannot be read.
std::optional<FileId> ExecutableFileOf(const char* exe_link);

inline constexpr std::string_view kNotTheFileThere = " (not the file at this path)";

// What to read; reading less is faster.
struct FactsWanted {
  bool groups = true;
  bool comm = true;
  bool exe = true;
  bool unit = true;
};

// Reads the facts of the process of thread `tid`. A pidfd of that process is opened before
// reading and checked after: when the process has exited meanwhile (its pid could now belong to
// another process), nothing read is trusted and every fact is nullopt. Facts that cannot be read
// (another user's process when not root, a process that is gone) are nullopt too.
ProcessFacts ReadProcessFacts(pid_t tid, const FactsWanted& wanted = {});

// ReadProcessFacts, also handing over the pidfd the facts were checked with (-1 when they are not
// trusted); the caller closes it. While that pidfd shows the process alive, its pid is its own.
ProcessFacts ReadProcessFactsWithPidfd(pid_t tid, const FactsWanted& wanted, int& pidfd);

// The process (thread group id) of thread `tid`; `tid` itself when unknown.
pid_t ProcessOfThread(pid_t tid);

// When process `pid` started, in clock ticks after boot (field 22 of /proc/PID/stat); nullopt when
// it cannot be read. With its pid, this names one process for good: a recycled pid belongs to a
// process that started later. Costs no descriptor, unlike a pidfd.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// The signal that is ending the process of thread `tid`, asked while that thread closes its files
// on its way out: the signal's number when the process dies of one (SIGKILL, SIGTERM, SIGSEGV,
// ...), 0 when the thread is not exiting or its process ends by exit(2) (or by returning from
// main), nullopt when /proc cannot be read. To a daemon that is not root, another user's dying
// process reads as an exit (the kernel shows its exit code as 0). Safe to ask while the thread
// is inside execve(), closing its O_CLOEXEC descriptors: nothing read then waits for the exec.
std::optional<int> DyingSignal(pid_t tid);

// Whether the process behind `pidfd` has exited (an error counts as exited).
bool Exited(int pidfd);

// The systemd unit or container scope of a /proc/PID/cgroup text: the last path component of the
// cgroup v2 ("0::") line that ends in .service or .scope ("nginx.service",
// "docker-3f2a....scope"); nullopt when there is none (a login shell's session scope counts).
std::optional<std::string> UnitFromCgroup(std::string_view cgroup_text);

}  // namespace secretfs::policy
