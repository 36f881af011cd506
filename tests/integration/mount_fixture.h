// What the integration tests share: a fixture that gives every test its own temporary directory
// (a 32-byte key file, an initialised store with workspaces `dev` and `prod`, a mount point) with
// the built secretfs mounted on it, and that always unmounts and removes everything afterwards,
// whatever the test did. Plus direct-syscall helpers that report the bytes and the errno a
// process sees.
//
// Processes are real: posix_spawn in a new session (no controlling terminal), stdin from a file,
// stdout and stderr to files, killed after a timeout. The fixture is not thread-safe: call its
// methods from the test's main thread; the file helpers below may be called from any thread.
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace secretfs::testing {

// ---- Direct syscalls, as a program sees them. ----

// An open descriptor closed when it goes out of scope (tests that fail early leak nothing that
// would keep the mount busy).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // close(2) now; returns 0 or the errno it failed with.
  int Close();
  void Reset();

 private:
  int fd_;
};

struct ReadResult {
  int error = 0;  // errno of the first failing call (open or read), else 0
  std::string bytes;
};

struct WriteResult {
  int open_error = 0;
  int write_error = 0;  // errno of the first failing write(2), else 0
  int close_error = 0;  // errno of close(2), else 0
  bool ok() const { return open_error == 0 && write_error == 0 && close_error == 0; }
};

// open(O_RDONLY), read to EOF, close.
ReadResult ReadPath(const std::string& path);
// Everything left to read on `fd`.
ReadResult ReadFd(int fd);
// open(path, flags, 0600), write `bytes` (in chunks of `chunk`), close.
WriteResult WritePath(const std::string& path, const std::string& bytes,
                      int flags = O_WRONLY | O_CREAT | O_TRUNC, size_t chunk = 1 << 16);
// Writes all of `bytes` to `fd`; 0 or the errno of the first failing write.
int WriteFd(int fd, const std::string& bytes, size_t chunk = 1 << 16);
// 0 when `rc` is 0, else errno (for calls that return -1 and set errno).
int ErrnoOf(int rc);
// The names readdir(3) lists in `dir`, without "." and "..", sorted; empty when it cannot be
// opened (and then `error`, if given, holds the errno).
std::vector<std::string> ListDir(const std::string& dir, int* error = nullptr);
// getxattr(2) of `name` on `path`: the value, or the errno in `error`.
std::string GetXattr(const std::string& path, const std::string& name, int* error = nullptr);

// Bytes.
std::string RandomBytes(size_t n);
void WriteLocalFile(const std::string& path, const std::string& bytes);

// ---- Processes and mounts. ----

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or not started
  int signal = 0;      // the signal that killed it, else 0
  bool timed_out = false;
  std::string out;  // stdout bytes
  std::string err;  // stderr bytes
};

// Runs argv[0] (a path) with argv, `input` on stdin, the environment of this process with `env`
// set over it and SECRETFS_STORE, SECRETFS_KEY and CREDENTIALS_DIRECTORY removed. Waits for it
// to exit (not for its stdout to close: a daemon it leaves behind does not hold us up), killing it
// after `timeout`.
ProcessResult Spawn(const std::vector<std::string>& argv, const std::string& input = "",
                    const std::map<std::string, std::string>& env = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));
// "exit 1; stdout: ...; stderr: ...", for assertion messages.
std::string Describe(const ProcessResult& r);

// Mount points in /proc/self/mountinfo: the filesystem type mounted at `path` ("" if none).
std::string MountedType(const std::string& path);
// Every mount point whose path starts with `prefix`.
std::vector<std::string> MountPointsUnder(const std::string& prefix);
// The pid of the secretfs daemon serving `mountpoint` (found in /proc), or 0.
pid_t DaemonPid(const std::string& mountpoint);
// Reaps the test's child `pid`: its exit code, or -1 when a signal ended it. `pid` becomes 0.
int WaitExit(pid_t& pid);
// Kills the test's child `pid` (SIGKILL) and reaps it, when it is still running (`pid` > 0).
void KillChild(pid_t& pid);
// Unmounts `mountpoint` (fusermount3 -u, else umount -l) and waits up to 10 s for `daemon` (if
// not 0) to exit, killing it after that. True when nothing is mounted there any more.
bool ForceUnmount(const std::string& mountpoint, pid_t daemon);
// Unmounts the tmpfs a test mounted at `dir` to hold a store (nothing when none is mounted
// there), retrying while a daemon still closes the store, detaching it after 5 s: a mount
// namespace made meanwhile by another test (bwrap, unshare) can keep the daemon alive until that
// namespace ends. Only a failure to detach is a test failure.
void UnmountStoreTmpfs(const std::string& dir);

// The directory that holds the secretfs binary (for PATH, as mount.fuse3 looks it up there).
std::string BinaryDir();

// exit 0, no signal, nothing on stderr.
::testing::AssertionResult Succeeded(const ProcessResult& r);
// Exited with a non-zero code (not killed, not timed out).
::testing::AssertionResult FailedCleanly(const ProcessResult& r);

class MountedTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Options of the mount made by SetUp (a comma-separated -o list; empty: none).
  virtual std::string InitialMountOptions() const { return ""; }

  // secretfs -s STORE -k file:KEY ARGS, with `input` on stdin and `env` set over the tools' one.
  ProcessResult Cli(const std::vector<std::string>& args, const std::string& input = "",
                    const std::map<std::string, std::string>& env = {}) const;
  // /bin/sh -c SCRIPT, with the build directory first in PATH.
  ProcessResult Shell(const std::string& script,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Any program (argv[0] is looked up in PATH, the build directory first).
  ProcessResult Program(const std::vector<std::string>& argv) const;

  // secretfs -s STORE -k file:KEY mount MOUNTPOINT [-o OPTIONS]; remembered for TearDown.
  ProcessResult MountAt(const std::string& mountpoint, const std::string& options = "");
  // Unmounts mnt_ and mounts it again with `options`; asserts that both work.
  void Remount(const std::string& options);
  // Unmounts a mount made by this test; asserts that it worked.
  void Unmount(const std::string& mountpoint);
  // Remembers a mount made another way (mount(8)) for TearDown.
  void TrackMount(const std::string& mountpoint);

  // Store access through the CLI; each asserts that the command succeeded.
  void Put(const std::string& path, const std::string& value);
  std::string Get(const std::string& path, const std::string& version = "");
  std::vector<uint64_t> Versions(const std::string& path);

  // mnt_/REL.
  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }
  std::string Local(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;   // the test's temporary directory
  std::string store_;  // root_/store
  std::string key_file_;
  std::string mnt_;  // root_/mnt, mounted by SetUp

 private:
  struct Tracked {
    std::string mountpoint;
    pid_t daemon;
  };
  std::vector<Tracked> mounts_;
};

}  // namespace secretfs::testing
