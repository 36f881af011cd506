// Facts of real processes: this one, one of its threads, a child seen through a thread id, another
// program, processes that have exited, and what a caller that is not root can read.
#include "policy/process_facts.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace secretfs::policy {
namespace {

using ::testing::Optional;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::vector<gid_t> Sorted(std::vector<gid_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<gid_t> MyGroups() {
  std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
  groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
  return Sorted(groups);
}

// A pipe whose ends are closed when it goes away.
struct Pipe {
  Pipe() { EXPECT_EQ(pipe2(fd, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  void CloseRead() { close(std::exchange(fd[0], -1)); }
  void CloseWrite() { close(std::exchange(fd[1], -1)); }
  int fd[2] = {-1, -1};
};

pid_t ReadPid(int fd) {
  pid_t pid = 0;
  EXPECT_EQ(read(fd, &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
  return pid;
}

TEST(ProcessFactsTest, ThisProcess) {
  const ProcessFacts f = ReadProcessFacts(getpid());
  EXPECT_EQ(f.pid, getpid());
  EXPECT_THAT(f.exe, Optional(Readlink("/proc/self/exe")));
  // This process's executable is the file at its path (no kNotTheFileThere), and that file.
  EXPECT_EQ(f.exe_file, ExecutableFileOf("/proc/self/exe"));
  EXPECT_TRUE(f.exe_file.has_value());
  std::string comm = ReadAll("/proc/self/comm");
  comm.pop_back();  // '\n'
  EXPECT_THAT(f.comm, Optional(comm));
  ASSERT_TRUE(f.groups.has_value());
  EXPECT_EQ(Sorted(*f.groups), MyGroups());
  EXPECT_EQ(f.unit, UnitFromCgroup(ReadAll("/proc/self/cgroup")));
}

// The executable's path is resolved from the dentry cache alone, in an RCU walk that the kernel
// abandons (EAGAIN) when any mount or unmount happens meanwhile, anywhere on the machine. A
// busy host (containers, FUSE mounts coming and going) must not make a process's own executable
// "not the file at this path": no exe: rule would match it, and its audit events would say so.
TEST(ProcessFactsTest, TheExecutableStaysTheFileAtItsPathWhileOthersMount) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  char dir[] = "/tmp/process_facts_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::atomic<bool> stop{false};
  std::thread mounter([&] {
    while (!stop)
      if (mount("none", dir, "tmpfs", 0, "size=64k") == 0) umount2(dir, MNT_DETACH);
  });
  int mismatched = 0;
  for (int i = 0; i < 20000; ++i) {
    const ProcessFacts f = ReadProcessFacts(getpid(), {false, false, true, false});
    mismatched += !f.exe || f.exe->ends_with(kNotTheFileThere);
  }
  stop = true;
  mounter.join();
  rmdir(dir);
  EXPECT_EQ(mismatched, 0) << "of 20000 reads";
}

TEST(ProcessFactsTest, OnlyWhatIsWantedIsRead) {
  ProcessFacts f = ReadProcessFacts(getpid(), {false, false, false, false});
  EXPECT_EQ(f.pid, getpid());
  EXPECT_FALSE(f.groups || f.comm || f.exe || f.unit);
  f = ReadProcessFacts(getpid(), {false, false, true, false});
  EXPECT_THAT(f.exe, Optional(Readlink("/proc/self/exe")));
  EXPECT_FALSE(f.groups || f.comm || f.unit);
}

TEST(ProcessFactsTest, AThreadIdGivesItsProcess) {
  Pipe tid_pipe, release;
  std::thread t([&] {
    const pid_t tid = gettid();
    EXPECT_EQ(write(tid_pipe.fd[1], &tid, sizeof tid), static_cast<ssize_t>(sizeof tid));
    char c;
    EXPECT_EQ(read(release.fd[0], &c, 1), 0);  // until the test is done reading
  });
  const pid_t tid = ReadPid(tid_pipe.fd[0]);
  ASSERT_NE(tid, getpid());
  const ProcessFacts f = ReadProcessFacts(tid);
  EXPECT_EQ(ProcessOfThread(tid), getpid());
  EXPECT_EQ(ProcessOfThread(getpid()), getpid());
  release.CloseWrite();
  t.join();
  EXPECT_EQ(f.pid, getpid());
  EXPECT_THAT(f.exe, Optional(Readlink("/proc/self/exe")));
  ASSERT_TRUE(f.groups.has_value());
  EXPECT_EQ(Sorted(*f.groups), MyGroups());
  // Without groups wanted, the thread's membership is checked another way.
  EXPECT_EQ(ReadProcessFacts(getpid(), {false, true, false, false}).pid, getpid());
}

TEST(ProcessFactsTest, TheCallingThreadsOwnGroupsAreRead) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change supplementary groups";
  // setgroups(2) as a raw system call changes one thread's credentials only (glibc's wrapper
  // changes every thread's); the kernel checked that thread's, so they are the ones that count.
  Pipe tid_pipe, release;
  std::thread t([&] {
    const gid_t mine[] = {4242, 4343};
    EXPECT_EQ(syscall(SYS_setgroups, 2, mine), 0);
    const pid_t tid = gettid();
    EXPECT_EQ(write(tid_pipe.fd[1], &tid, sizeof tid), static_cast<ssize_t>(sizeof tid));
    char c;
    EXPECT_EQ(read(release.fd[0], &c, 1), 0);
  });
  const pid_t tid = ReadPid(tid_pipe.fd[0]);
  const ProcessFacts f = ReadProcessFacts(tid);
  EXPECT_EQ(ProcessOfThread(tid), getpid());
  EXPECT_EQ(ProcessOfThread(getpid()), getpid());
  release.CloseWrite();
  t.join();
  EXPECT_EQ(f.pid, getpid());
  EXPECT_EQ(f.groups, (std::vector<gid_t>{4242, 4343}));
}

TEST(ProcessFactsTest, AChildSeenThroughOneOfItsThreads) {
  Pipe tid_pipe, release;
  const bool root = geteuid() == 0;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    release.CloseWrite();  // else the thread below never sees the end of the pipe
    prctl(PR_SET_NAME, "facts-child");
    const gid_t groups[] = {777, 778};
    if (root && setgroups(2, groups) != 0) _exit(3);
    std::thread t([&] {
      const pid_t tid = gettid();
      if (write(tid_pipe.fd[1], &tid, sizeof tid) != sizeof tid) _exit(4);
      char c;
      if (read(release.fd[0], &c, 1) != 0) _exit(5);
    });
    t.join();
    _exit(0);
  }
  release.CloseRead();
  const pid_t tid = ReadPid(tid_pipe.fd[0]);
  ASSERT_NE(tid, child);
  const ProcessFacts f = ReadProcessFacts(tid);
  EXPECT_EQ(ProcessOfThread(tid), child);
  EXPECT_EQ(ProcessOfThread(child), child);
  release.CloseWrite();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  EXPECT_EQ(f.pid, child);
  EXPECT_THAT(f.comm, Optional(std::string("facts-child")));
  EXPECT_THAT(f.exe, Optional(Readlink("/proc/self/exe")));
  if (root) {
    EXPECT_EQ(f.groups, (std::vector<gid_t>{777, 778}));
  }
}

TEST(ProcessFactsTest, AnotherProgram) {
  const std::string sleep_path = "/bin/sleep";
  char resolved[PATH_MAX];
  ASSERT_NE(realpath(sleep_path.c_str(), resolved), nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(sleep_path.c_str(), "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  // exec has happened once the exe link no longer names this test binary.
  const std::string self = Readlink("/proc/self/exe");
  const std::string link = "/proc/" + std::to_string(child) + "/exe";
  for (int i = 0; i < 1000 && Readlink(link) == self; ++i) usleep(1000);
  const ProcessFacts f = ReadProcessFacts(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(f.pid, child);
  EXPECT_THAT(f.exe, Optional(std::string(resolved)));
  EXPECT_THAT(f.comm, Optional(std::string("sleep")));
}

TEST(ProcessFactsTest, ExitedProcessesGiveNoFacts) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // A zombie: its pid is still taken, but it has exited and nothing about it is believed.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  ProcessFacts f = ReadProcessFacts(child);
  EXPECT_EQ(f.pid, child);
  EXPECT_FALSE(f.groups || f.comm || f.exe || f.unit);
  // Reaped: the pid is free (and could be anyone's next).
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  f = ReadProcessFacts(child);
  EXPECT_EQ(f.pid, child);
  EXPECT_FALSE(f.groups || f.comm || f.exe || f.unit);
}

TEST(ProcessFactsTest, ImpossiblePidsGiveNoFacts) {
  for (pid_t pid : {0, -1, 0x7ffffff0}) {
    const ProcessFacts f = ReadProcessFacts(pid);
    EXPECT_FALSE(f.groups || f.comm || f.exe || f.unit) << pid;
  }
}

TEST(ProcessFactsTest, WithoutRootOtherUsersExeIsUnknownButGroupsAreRead) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  // A caller stays root; an unprivileged "daemon" (nobody) reads its facts and reports by exit
  // code: 0 when exe is unknown while groups and comm were read.
  Pipe release;
  const pid_t target = fork();
  ASSERT_GE(target, 0);
  if (target == 0) {
    release.CloseWrite();
    char c;
    _exit(read(release.fd[0], &c, 1) == 0 ? 0 : 1);
  }
  const pid_t reader = fork();
  ASSERT_GE(reader, 0);
  if (reader == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0)
      _exit(10);
    const ProcessFacts f = ReadProcessFacts(target);
    if (f.pid != target) _exit(11);
    if (f.exe) _exit(12);
    if (!f.groups || !f.comm) _exit(13);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(reader, &status, 0), reader);
  release.CloseWrite();
  waitpid(target, nullptr, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no setuid, 11: pid, 12: exe read, 13: no groups/comm";
}

// The outermost unit: below it, a unit that delegates (a user's manager, a container) names its
// cgroups as it likes.
TEST(UnitFromCgroupTest, TheOutermostServiceOrScope) {
  struct Case {
    std::string text;
    std::optional<std::string> unit;
  };
  const std::vector<Case> cases = {
      {"0::/system.slice/nginx.service\n", "nginx.service"},
      {"0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope"},
      {"0::/system.slice/docker-abc.scope/init\n", "docker-abc.scope"},
      {"0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-x.scope\n",
       "user@1000.service"},
      {"0::/user.slice/user-1000.slice/user@1000.service/app.slice/backup.service\n",
       "user@1000.service"},
      {"0::/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service\n",
       "systemd-nspawn@web.service"},
      {"0::/system.slice/docker-abc.scope/system.slice/nginx.service\n", "docker-abc.scope"},
      {"0::/system.slice/secretfs@prod.service", "secretfs@prod.service"},  // no final newline
      {"0::/\n", std::nullopt},
      {"0::/system.slice\n", std::nullopt},
      {"0::/.service/x\n", std::nullopt},  // a bare suffix names no unit
      {"0::/.scope/cron.service\n", "cron.service"},
      {"", std::nullopt},
      // cgroup v1 (or hybrid) listings: the v2 line wins, else systemd's named hierarchy.
      {"12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/cron.service\n0::/\n",
       std::nullopt},
      {"12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/cron.service\n",
       "cron.service"},
      {"4:memory:/process_api/80220db6\n0::/init.scope\n", "init.scope"},
  };
  for (const Case& c : cases) EXPECT_EQ(UnitFromCgroup(c.text), c.unit) << c.text;
}

// A process's start time names it for good: a child started after this process, its time does not
// change when it renames itself to a comm with spaces and parentheses (which must not confuse the
// parse), and a reaped pid has none.
TEST(ProcessStartTimeTest, NamesAProcessWhateverItCallsItself) {
  const auto mine = ProcessStartTime(getpid());
  ASSERT_TRUE(mine.has_value());
  EXPECT_GT(*mine, 0u);

  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte = 0;
    if (read(to_child[0], &byte, 1) != 1) _exit(1);
    prctl(PR_SET_NAME, "a) b (c) 7 8", 0, 0, 0);  // what a hostile program may call itself
    if (write(to_parent[1], "r", 1) != 1) _exit(1);
    _exit(read(to_child[0], &byte, 1) == 1 ? 0 : 1);  // alive until the parent looked
  }
  const auto before = ProcessStartTime(child);
  ASSERT_TRUE(before.has_value());
  EXPECT_GE(*before, *mine) << "ticks are coarse: at or after ours";
  char byte = 0;
  ASSERT_EQ(write(to_child[1], "n", 1), 1);
  ASSERT_EQ(read(to_parent[0], &byte, 1), 1);
  EXPECT_EQ(ProcessStartTime(child), before) << "renamed";
  ASSERT_EQ(write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(ProcessStartTime(child), std::nullopt) << "a reaped process has none";
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) close(fd);
}

// The fields a dying process shows: a zombie has done everything a dying process does while it
// closes its files (PF_EXITING, the exit code set), so it answers as such a close would.
TEST(DyingSignalTest, TellsADeathBySignalFromAnExit) {
  EXPECT_EQ(DyingSignal(getpid()), 0) << "alive";
  const auto zombie = [](bool by_signal) {
    const pid_t child = fork();
    if (child == 0) {
      prctl(PR_SET_NAME, "a) b (c) 7 8", 0, 0, 0);
      if (by_signal) raise(SIGKILL);
      _exit(3);
    }
    siginfo_t info{};
    waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT);  // a zombie, not reaped
    return child;
  };
  for (const bool by_signal : {true, false}) {
    const pid_t child = zombie(by_signal);
    ASSERT_GT(child, 0);
    EXPECT_EQ(DyingSignal(child), by_signal ? SIGKILL : 0) << (by_signal ? "killed" : "exit(3)");
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_EQ(DyingSignal(child), std::nullopt) << "a reaped process has none";
  }
}

}  // namespace
}  // namespace secretfs::policy
