// The facts cache answers repeated callers from memory, and never past an execve, an exit or its
// age limit.
#include "policy/facts_cache.h"

#include <gtest/gtest.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace secretfs::policy {
namespace {

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// A child that waits for a byte on a pipe, then execs `sleep 5`; killed and reaped on scope exit.
class ExecingChild {
 public:
  ExecingChild() {
    if (pipe(go_) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      char c;
      close(go_[1]);
      if (read(go_[0], &c, 1) == 1) execl("/bin/sleep", "sleep", "5", nullptr);
      _exit(0);
    }
    close(go_[0]);
  }
  ~ExecingChild() {
    close(go_[1]);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Lets it exec and waits until /proc shows the new program.
  bool Exec() {
    if (write(go_[1], "x", 1) != 1) return false;
    for (int i = 0; i < 500; ++i) {
      if (Readlink("/proc/" + std::to_string(pid_) + "/exe") == "/usr/bin/sleep") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  int go_[2] = {-1, -1};
  pid_t pid_ = -1;
};

TEST(FactsCacheTest, RepeatedCallersGetTheSameFacts) {
  ProcessFactsCache cache;
  const ProcessFacts first = *cache.Get(getpid(), getuid(), getgid(), {});
  const ProcessFacts again = *cache.Get(getpid(), getuid(), getgid(), {});
  ASSERT_TRUE(first.exe.has_value());
  EXPECT_EQ(first.exe, Readlink("/proc/self/exe"));
  EXPECT_EQ(again.exe, first.exe);
  EXPECT_EQ(again.comm, first.comm);
  EXPECT_EQ(again.groups, first.groups);
  EXPECT_EQ(again.pid, getpid());
}

TEST(FactsCacheTest, AnExecveIsANewProgram) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 16});
  ExecingChild child;
  ASSERT_GT(child.pid(), 0);
  const ProcessFacts before = *cache.Get(child.pid(), getuid(), getgid(), {});
  ASSERT_EQ(before.exe, Readlink("/proc/self/exe"));  // forked, not yet exec'd
  ASSERT_TRUE(child.Exec());
  const ProcessFacts after = *cache.Get(child.pid(), getuid(), getgid(), {});
  EXPECT_EQ(after.exe, "/usr/bin/sleep");
  EXPECT_EQ(after.comm, "sleep");
}

// In a mount namespace of its own, a process can exec another file at the path it was started
// from (a program bound over that path there): the link reads the same path, the file is not the
// one the cache judged. The next answer must be about the file it runs now.
TEST(FactsCacheTest, AnExecveOfAnotherFileAtTheSamePathIsANewProgram) {
  const std::string self = Readlink("/proc/self/exe");
  const std::optional<FileId> sleep_file = ExecutableFileOf("/usr/bin/sleep");
  ASSERT_TRUE(sleep_file.has_value());
  int go[2], ready[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    char c = 0;
    // 'n': no namespace here (not root): the test is skipped.
    const bool own = unshare(CLONE_NEWNS) == 0 &&
                     mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                     mount("/usr/bin/sleep", self.c_str(), nullptr, MS_BIND, nullptr) == 0;
    c = own ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1 || !own) _exit(1);
    if (read(go[0], &c, 1) == 1) execl(self.c_str(), "sleep", "5", nullptr);
    _exit(1);
  }
  ASSERT_GT(child, 0);
  const auto reap = [&] {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  };
  char own = 0;
  ASSERT_EQ(read(ready[0], &own, 1), 1);
  if (own != 'y') {
    reap();
    GTEST_SKIP() << "cannot make a mount namespace here (not root?)";
  }

  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 16});
  const ProcessFacts before = *cache.Get(child, getuid(), getgid(), {});
  EXPECT_EQ(before.exe, self);  // the file at its path: no mark
  ASSERT_EQ(write(go[1], "x", 1), 1);
  const std::string exe_link = "/proc/" + std::to_string(child) + "/exe";
  bool execed = false;
  for (int i = 0; i < 500 && !execed; ++i) {
    execed = ExecutableFileOf(exe_link.c_str()) == sleep_file;
    if (!execed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(execed);
  const ProcessFacts after = *cache.Get(child, getuid(), getgid(), {});
  EXPECT_EQ(after.exe, self + std::string(kNotTheFileThere));
  EXPECT_EQ(after.exe_file, sleep_file);
  reap();
  for (int fd : {go[0], go[1], ready[0], ready[1]}) close(fd);
}

TEST(FactsCacheTest, AnExitedProcessHasNoFacts) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 16});
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  EXPECT_TRUE(cache.Get(child, getuid(), getgid(), {})->exe.has_value());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const ProcessFacts gone = *cache.Get(child, getuid(), getgid(), {});
  EXPECT_FALSE(gone.exe.has_value());
  EXPECT_FALSE(gone.comm.has_value());
}

TEST(FactsCacheTest, OldEntriesAreReadAgain) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::milliseconds(0), 16});
  ExecingChild child;
  ASSERT_GT(child.pid(), 0);
  const ProcessFacts before =
      *cache.Get(child.pid(), getuid(), getgid(), {false, true, false, false});
  ASSERT_TRUE(before.comm.has_value());
  // Without exe in the entry, only the age limit catches the exec.
  ASSERT_TRUE(child.Exec());
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(cache.Get(child.pid(), getuid(), getgid(), {false, true, false, false})->comm, "sleep");
}

// FUSE names the calling thread; a thread's facts are its process's, also when served again.
TEST(FactsCacheTest, AThreadGetsItsProcesssFacts) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 16});
  pid_t tid = 0;
  ProcessFacts first, again;
  std::thread([&] {
    tid = gettid();
    first = *cache.Get(tid, getuid(), getgid(), {});
    again = *cache.Get(tid, getuid(), getgid(), {});
  }).join();
  ASSERT_NE(tid, getpid());
  EXPECT_EQ(first.pid, getpid());
  EXPECT_EQ(first.exe, Readlink("/proc/self/exe"));
  EXPECT_EQ(again.pid, getpid());
  EXPECT_EQ(again.exe, first.exe);
}

// The thread's number is not its process's: once the thread is gone, an entry kept under it
// must not be served (the number may be another process's next).
TEST(FactsCacheTest, AnExitedThreadHasNoFacts) {
  for (const FactsWanted wanted : {FactsWanted{}, FactsWanted{false, true, false, false}}) {
    ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 16});
    pid_t tid = 0;
    std::thread([&] {
      tid = gettid();
      ASSERT_TRUE(cache.Get(tid, getuid(), getgid(), wanted)->comm.has_value());
    }).join();
    // join() returns when the thread lets go of its memory, a little before the kernel drops it.
    const std::string task = "/proc/self/task/" + std::to_string(tid);
    for (int i = 0; i < 1000 && access(task.c_str(), F_OK) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const ProcessFacts gone = *cache.Get(tid, getuid(), getgid(), wanted);
    EXPECT_FALSE(gone.comm.has_value()) << "exe wanted: " << wanted.exe;
    EXPECT_FALSE(gone.exe.has_value());
  }
}

// Descriptors this process holds.
size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

// `count` children that wait to be killed; killed and reaped on scope exit.
class Sleepers {
 public:
  explicit Sleepers(int count) {
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        pause();
        _exit(0);
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~Sleepers() { KillAll(); }
  void KillAll() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
    pids_.clear();
  }
  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  std::vector<pid_t> pids_;
};

// Every `cat` is a new process: entries past their age must not keep a pidfd each.
TEST(FactsCacheTest, EntriesPastTheirAgeAreDroppedWithTheirPidfds) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::milliseconds(50), 4096});
  const size_t before = OpenDescriptors();
  Sleepers sleepers(20);
  ASSERT_EQ(sleepers.pids().size(), 20u);
  for (pid_t pid : sleepers.pids())
    ASSERT_TRUE(cache.Get(pid, getuid(), getgid(), {})->exe.has_value());
  EXPECT_GE(OpenDescriptors(), before + 20) << "each entry holds its process's pidfd";
  sleepers.KillAll();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  cache.Get(getpid(), getuid(), getgid(), {});  // a new entry: the old ones go
  EXPECT_LE(OpenDescriptors(), before + 1);
}

TEST(FactsCacheTest, TheCacheHoldsAtMostItsCapacityInPidfds) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 8});
  const size_t before = OpenDescriptors();
  Sleepers sleepers(20);
  for (pid_t pid : sleepers.pids()) {
    ASSERT_TRUE(cache.Get(pid, getuid(), getgid(), {})->exe.has_value());
    EXPECT_LE(OpenDescriptors(), before + 8);
  }
}

// A write handle keeps its opener's facts as long as the file is open: what it keeps must not
// keep the pidfd of an entry the cache let go.
TEST(FactsCacheTest, FactsKeptByTheCallerHoldNoPidfd) {
  ProcessFactsCache cache(ProcessFactsCache::Options{std::chrono::hours(1), 8});
  const size_t before = OpenDescriptors();
  Sleepers sleepers(20);
  std::vector<std::shared_ptr<const ProcessFacts>> kept;
  for (pid_t pid : sleepers.pids()) {
    kept.push_back(cache.Get(pid, getuid(), getgid(), {}));
    ASSERT_TRUE(kept.back()->exe.has_value());
    EXPECT_LE(OpenDescriptors(), before + 8);
  }
  EXPECT_EQ(kept.front()->pid, sleepers.pids().front()) << "the facts outlive their entry";
}

TEST(FactsCacheTest, ItsCapacityIsAQuarterOfTheOpenFileLimitByDefault) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 200;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const size_t capacity = ProcessFactsCache().capacity();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(capacity, 50u);
  EXPECT_EQ(ProcessFactsCache(ProcessFactsCache::Options{std::chrono::seconds(1), 7}).capacity(),
            7u);
}

}  // namespace
}  // namespace secretfs::policy
