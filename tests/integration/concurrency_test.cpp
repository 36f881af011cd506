// Concurrent access (SPEC §4): check-and-set, snapshots for readers, changes made by the CLI
// seen at once, and many threads reading and writing the same keys without torn values.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;

class ConcurrencyTest : public MountedTest {
 protected:
  void ExpectAnExecWhileWritingIsAnswered(int dups);
};

constexpr char kExpect[] = "user.secretfs.expect_version";

int SetExpected(int fd, const std::string& version) {
  return ErrnoOf(fsetxattr(fd, kExpect, version.data(), version.size(), 0));
}

TEST_F(ConcurrencyTest, CheckAndSetCommitsWhenTheVersionStillMatches) {
  Put("dev/CAS", "v1");
  Fd fd(open(M("dev/CAS").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  ASSERT_EQ(SetExpected(fd.get(), "1"), 0);
  ASSERT_EQ(WriteFd(fd.get(), "v2"), 0);
  EXPECT_EQ(fd.Close(), 0);
  EXPECT_EQ(Get("dev/CAS"), "v2");
  EXPECT_THAT(Versions("dev/CAS"), ElementsAre(1, 2));
}

enum class SetExpect { kOnTheDescriptor, kOnThePathBeforeOpen };

struct ChildWrite {
  int open_error = -1;
  int setxattr_error = -1;
  int write_error = -1;
  int close_error = -1;
};

// A writer in a process of its own, so that the processes this test starts (the CLI) never
// inherit its descriptor: it sets expect_version=`expect`, opens `path` with O_TRUNC (holding a
// reader on it too when `hold_reader`), writes `value`, waits while this process runs
// `meanwhile`, then closes and reports what each call returned.
ChildWrite WriteInChild(const std::string& path, const std::string& expect, SetExpect how,
                        bool hold_reader, const std::string& value,
                        const std::function<void()>& meanwhile) {
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    ChildWrite w;
    const int reader = hold_reader ? open(path.c_str(), O_RDONLY) : -1;
    if (how == SetExpect::kOnThePathBeforeOpen)
      w.setxattr_error = ErrnoOf(setxattr(path.c_str(), kExpect, expect.data(), expect.size(), 0));
    const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
    w.open_error = fd < 0 ? errno : 0;
    if (fd >= 0 && how == SetExpect::kOnTheDescriptor) w.setxattr_error = SetExpected(fd, expect);
    if (fd >= 0) w.write_error = WriteFd(fd, value);
    char byte = 'R';
    if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1) _exit(1);
    if (fd >= 0) w.close_error = ErrnoOf(close(fd));
    if (reader >= 0) close(reader);
    _exit(write(ready[1], &w, sizeof w) == sizeof w ? 0 : 1);
  }
  close(ready[1]);
  close(go[0]);
  ChildWrite w;
  char byte = 0;
  if (pid > 0 && read(ready[0], &byte, 1) == 1) {
    meanwhile();
    if (write(go[1], &byte, 1) == 1 && read(ready[0], &w, sizeof w) != sizeof w) w = {};
  }
  close(ready[0]);
  close(go[1]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return w;
}

TEST_F(ConcurrencyTest, CheckAndSetFailsWithEbusyWhenAnotherWriterCommittedMeanwhile) {
  Put("dev/CAS", "v1");
  const ChildWrite w = WriteInChild(M("dev/CAS"), "1", SetExpect::kOnTheDescriptor, false, "mine",
                                    [&] { Put("dev/CAS", "theirs"); });
  EXPECT_EQ(w.open_error, 0);
  EXPECT_EQ(w.setxattr_error, 0);
  EXPECT_EQ(w.write_error, 0);
  EXPECT_EQ(w.close_error, EBUSY) << strerror(w.close_error);
  EXPECT_EQ(Get("dev/CAS"), "theirs");
  EXPECT_EQ(ReadPath(M("dev/CAS")).bytes, "theirs");
  EXPECT_THAT(Versions("dev/CAS"), ElementsAre(1, 2));
}

TEST_F(ConcurrencyTest, CheckAndSetSetOnThePathBeforeOpenAppliesToThatProcess) {
  Put("dev/CAS", "v1");
  const ChildWrite w = WriteInChild(M("dev/CAS"), "1", SetExpect::kOnThePathBeforeOpen, false,
                                    "mine", [&] { Put("dev/CAS", "theirs"); });
  EXPECT_EQ(w.setxattr_error, 0);
  EXPECT_EQ(w.close_error, EBUSY) << strerror(w.close_error);
  EXPECT_EQ(Get("dev/CAS"), "theirs");
  EXPECT_THAT(Versions("dev/CAS"), ElementsAre(1, 2));
}

// `setfattr -n user.secretfs.expect_version ...` run from a shell sets it for the setfattr
// process, which exits without opening the file. That must not arm a check-and-set for whichever
// process gets its pid next: here one does (the kernel hands out the pid after ns_last_pid), and
// its write must be stored.
TEST_F(ConcurrencyTest, AnExpectVersionLeftByAProcessThatExitedDoesNotBindTheNextWithItsPid) {
  Put("dev/CAS", "v1");
  Put("dev/CAS", "v2");
  const std::string path = M("dev/CAS");
  const pid_t setter = fork();
  ASSERT_GE(setter, 0);
  if (setter == 0) _exit(setxattr(path.c_str(), kExpect, "1", 1, 0) == 0 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(setter, &status, 0), setter);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "setxattr failed";

  // A process is named by its pid and start time, which counts clock ticks (10 ms): the kernel
  // hands pids out in turn up to pid_max, so outside of this test's ns_last_pid a pid comes back
  // long after that. Let a tick pass.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  constexpr int kNotThatPid = 200;
  int close_error = -1;
  for (int attempt = 0; attempt < 100 && close_error == -1; ++attempt) {
    // Another process may fork in between and take the pid: then try again.
    std::ofstream("/proc/sys/kernel/ns_last_pid") << setter - 1;
    const pid_t writer = fork();
    ASSERT_GE(writer, 0);
    if (writer == 0) {
      if (getpid() != setter) _exit(kNotThatPid);
      const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
      if (fd < 0 || write(fd, "v3", 2) != 2) _exit(100);
      _exit(close(fd) == 0 ? 0 : errno);
    }
    ASSERT_EQ(waitpid(writer, &status, 0), writer);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) != kNotThatPid) close_error = WEXITSTATUS(status);
  }
  if (close_error == -1) GTEST_SKIP() << "no process got the setter's pid again";
  EXPECT_EQ(close_error, 0) << strerror(close_error);
  EXPECT_EQ(Get("dev/CAS"), "v3");
}

// The same, by a writer that also holds the key open for reading (a program that read its
// configuration and now rewrites it). close() must still report the conflict.
TEST_F(ConcurrencyTest, CheckAndSetFailsWithEbusyWhileTheWriterAlsoHoldsAReader) {
  Put("dev/CAS", "v1");
  const ChildWrite w = WriteInChild(M("dev/CAS"), "1", SetExpect::kOnTheDescriptor, true, "mine",
                                    [&] { Put("dev/CAS", "theirs"); });
  EXPECT_EQ(w.write_error, 0);
  EXPECT_EQ(w.close_error, EBUSY) << "close() acknowledged a write that was not stored";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Get("dev/CAS"), "theirs");
  EXPECT_THAT(Versions("dev/CAS"), ElementsAre(1, 2));
}

// A process that starts another process while it writes (system(3), a shell running a command
// between two echos) must not get its half-written value stored: the child's copy of the
// descriptor is closed when it execs or exits, and that is not the writer's close.
TEST_F(ConcurrencyTest, StartingAProcessWhileWritingStoresNoPartialValue) {
  Put("dev/HALF", "before");
  Fd fd(open(M("dev/HALF").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(fd.get(), "first-half/"), 0);
  ASSERT_TRUE(Succeeded(Spawn({"/bin/true"})));
  EXPECT_THAT(Versions("dev/HALF"), ElementsAre(1)) << "a partial value was stored";
  EXPECT_EQ(Get("dev/HALF"), "before");
  ASSERT_EQ(WriteFd(fd.get(), "second-half"), 0);
  EXPECT_EQ(fd.Close(), 0);
  EXPECT_EQ(Get("dev/HALF"), "first-half/second-half");
  EXPECT_THAT(Versions("dev/HALF"), ElementsAre(1, 2));

  Put("dev/SHELL", "before");
  ASSERT_TRUE(Succeeded(Shell("{ echo one; /bin/true; echo two; } > " + M("dev/SHELL"))));
  EXPECT_EQ(Get("dev/SHELL"), "one\ntwo\n");
  EXPECT_THAT(Versions("dev/SHELL"), ElementsAre(1, 2)) << "the shell's redirection stored more "
                                                           "than one version";
}

// A writer may exec another program with its descriptor still open (O_CLOEXEC: as Go and Python
// open files): the exec closes it, and that close is the writer's. Inside the exec the kernel
// holds a lock that reading the process's /proc links, and kcmp(2), wait for, while the exec
// waits, unkillably, for the close's answer: the daemon must answer it without such a wait.
// The writer also holds `dups` copies of its descriptor (dup3 with O_CLOEXEC), which the exec
// closes after it.
void ConcurrencyTest::ExpectAnExecWhileWritingIsAnswered(int dups) {
  Put("dev/EXEC", "before");
  const std::string path = M("dev/EXEC");
  const pid_t child = fork();
  ASSERT_GE(child, 0) << strerror(errno);
  if (child == 0) {
    const int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || write(fd, "by-exec", 7) != 7) _exit(2);
    for (int i = 1; i <= dups; ++i)
      if (dup3(fd, fd + i, O_CLOEXEC) < 0) _exit(4);
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    _exit(3);
  }
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 2000 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (done == 0) {
    // Stuck in the exec: only the daemon's end frees it (TearDown clears the dead mount).
    kill(DaemonPid(mnt_), SIGKILL);
    waitpid(child, &status, 0);
    FAIL() << "the exec'ing writer's close was never answered";
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(Get("dev/EXEC"), "by-exec");
  EXPECT_THAT(Versions("dev/EXEC"), ElementsAre(1, 2));
  // The version's event is the writer's, named as it was before the exec made it /bin/true.
  const ProcessResult audit = Cli({"audit", "--op", "write", "--json"});
  ASSERT_TRUE(Succeeded(audit));
  std::istringstream lines(audit.out);
  int by_writer = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["key"] != "EXEC" || event["pid"] != child) continue;
    ++by_writer;
    EXPECT_THAT(event["exe"].get<std::string>(), EndsWith("/integration_test"));
    EXPECT_EQ(event["version"], 2);
  }
  EXPECT_EQ(by_writer, 1) << audit.out;
}

TEST_F(ConcurrencyTest, AWriterThatExecsWithItsDescriptorOpenIsAnsweredAndItsValueStored) {
  ExpectAnExecWhileWritingIsAnswered(0);
}

// With two more descriptors of the same description left, telling them apart takes kcmp(2).
TEST_F(ConcurrencyTest, AWriterThatExecsWithDupsOfItsDescriptorOpenIsAnswered) {
  ExpectAnExecWhileWritingIsAnswered(2);
}

// The close of a writer inside execve waits up to 100 ms for kcmp (above). Other writers must
// go on meanwhile: that wait once held the lock every open and release of a written secret
// takes, so a member exec'ing in a loop held up every writer of the mount.
TEST_F(ConcurrencyTest, OtherWritersGoOnWhileAnExecingWritersCloseWaits) {
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0) << strerror(errno);  // below the child's descriptors
  const std::string path = M("dev/EXEC");
  const pid_t child = fork();
  ASSERT_GE(child, 0) << strerror(errno);
  if (child == 0) {
    close(ready[0]);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "by-exec", 7) != 7) _exit(2);
    if (dup3(fd, fd + 1, O_CLOEXEC) < 0 || dup3(fd, fd + 2, O_CLOEXEC) < 0) _exit(4);
    // The exec closes `ready` first (the parent sees EOF), then the secret's descriptors.
    execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(3);
  }
  close(ready[1]);
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{child};
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 0) << "the child wrote to the pipe";
  close(ready[0]);
  const std::string comm = "/proc/" + std::to_string(child) + "/comm";
  auto inside_exec = [&] {
    std::ifstream in(comm);
    std::string name;
    return std::getline(in, name) && name != "sleep";  // the exec names it after its closes
  };
  // By now the exec's close of the secret waits for kcmp, for 100 ms from when it asked.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(inside_exec()) << "the exec's close did not wait for kcmp: nothing to test";
  ASSERT_TRUE(WritePath(M("dev/OTHER"), "other").ok());
  EXPECT_TRUE(inside_exec()) << "the write waited for the exec'ing writer's close";
  for (int i = 0; i < 1000 && inside_exec(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_FALSE(inside_exec()) << "the exec was never let go on";
  EXPECT_EQ(Get("dev/EXEC"), "by-exec");
}

// A close looks at the writer's other descriptors (is one of them still this file?). A writer
// that also holds a file of another FUSE filesystem whose server has stopped answering must
// still get its close answered: that descriptor is judged from its fdinfo, never by asking its
// server.
TEST_F(ConcurrencyTest, AWriterHoldingAFileOfAStoppedFuseServerIsStillAnswered) {
  Put("dev/OTHER", "other");
  const std::string other = Local("other-mnt");
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0) << strerror(errno);
  // attr_timeout=0: any stat that may ask the server does.
  ASSERT_TRUE(Succeeded(MountAt(other, "attr_timeout=0")));
  const pid_t other_daemon = DaemonPid(other);
  ASSERT_GT(other_daemon, 0);
  // Inherited by the shell below (no O_CLOEXEC), which then holds it while it writes.
  Fd held(open((other + "/dev/OTHER").c_str(), O_RDONLY));
  ASSERT_TRUE(held.ok()) << strerror(errno);
  ASSERT_EQ(kill(other_daemon, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }  // before TearDown unmounts it, whatever happened
  } resume{other_daemon};

  // Were the close to wait for that server, nothing could end the wait (a FUSE request already
  // read by its server is waited for even by a killed process): a watchdog resumes the server
  // after 10 s, and the test fails without hanging.
  std::atomic<bool> written{false};
  std::atomic<bool> rescued{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1000 && !written; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!written) {
      rescued = true;
      kill(other_daemon, SIGCONT);
    }
  });
  const ProcessResult w = Spawn({"/bin/sh", "-c", "printf fresh > " + M("dev/KEY")});
  written = true;
  watchdog.join();
  EXPECT_FALSE(rescued) << "the close waited for the stopped FUSE server";
  EXPECT_TRUE(Succeeded(w)) << Describe(w);
  EXPECT_EQ(Get("dev/KEY"), "fresh");
  EXPECT_THAT(Versions("dev/KEY"), ElementsAre(1));
}

// A write acknowledged by close() is what the very next open reads, even when the writing
// process also has the key open for reading.
TEST_F(ConcurrencyTest, AcknowledgedWriteIsVisibleAtOnceWhileTheWriterAlsoHoldsAReader) {
  Put("dev/SEEN", "v0");
  Fd reader(open(M("dev/SEEN").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader.ok()) << strerror(errno);
  for (int i = 1; i <= 20; ++i) {
    const std::string value = "value-" + std::to_string(i);
    const WriteResult w = WritePath(M("dev/SEEN"), value, O_WRONLY | O_TRUNC);
    ASSERT_TRUE(w.ok());
    const std::string seen = ReadPath(M("dev/SEEN")).bytes;
    ASSERT_EQ(seen, value) << "round " << i << ": close() returned 0 but the next open reads '"
                           << seen << "'";
  }
}

TEST_F(ConcurrencyTest, ChangeThroughTheCliIsSeenByTheVeryNextCat) {
  Put("dev/LIVE", "short");
  ASSERT_EQ(Shell("cat " + M("dev/LIVE")).out, "short");
  // Longer, then shorter, then much longer than what the kernel saw last: always whole.
  for (const std::string& value : {std::string("a much longer value than before"),
                                   std::string("tiny"), std::string(5000, 'L') + "end"}) {
    Put("dev/LIVE", value);
    const ProcessResult cat = Shell("cat " + M("dev/LIVE"));
    ASSERT_TRUE(Succeeded(cat));
    EXPECT_EQ(cat.out, value);
    EXPECT_EQ(ReadPath(M("dev/LIVE")).bytes, value);
  }
  // A key created by the CLI is there at once too.
  Put("dev/BORN", "new");
  EXPECT_EQ(Shell("cat " + M("dev/BORN")).out, "new");
}

TEST_F(ConcurrencyTest, ReaderKeepsTheVersionItOpened) {
  Put("dev/SNAP", "original-value");
  Fd fd(open(M("dev/SNAP").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  char head[8];
  ASSERT_EQ(read(fd.get(), head, sizeof head), 8);
  ASSERT_TRUE(Succeeded(Shell("echo -n replaced > " + M("dev/SNAP"))));
  Put("dev/SNAP", "replaced again by the cli");
  EXPECT_EQ(ReadFd(fd.get()).bytes, "-value");
  char all[64];
  const ssize_t n = pread(fd.get(), all, sizeof all, 0);
  ASSERT_GE(n, 0);
  EXPECT_EQ(std::string(all, static_cast<size_t>(n)), "original-value");
  EXPECT_EQ(ReadPath(M("dev/SNAP")).bytes, "replaced again by the cli");
}

// Self-checking values: "T<thread>N<n>:" followed by a filler whose length and byte follow from
// the header, so any torn or mixed value is recognised without shared state.
std::string MakeValue(int thread, int n) {
  const std::string header = "T" + std::to_string(thread) + "N" + std::to_string(n) + ":";
  const size_t length = static_cast<size_t>(thread * 131 + n * 17) % 3000;
  return header + std::string(length, static_cast<char>('a' + (thread + n) % 26));
}

bool IsWrittenValue(const std::string& value) {
  int thread = 0, n = 0;
  if (std::sscanf(value.c_str(), "T%dN%d:", &thread, &n) != 2) return false;
  return value == MakeValue(thread, n);
}

TEST_F(ConcurrencyTest, EightThreadsReadAndWriteFourKeysWithoutTornValues) {
  constexpr int kThreads = 8, kKeys = 4;
  for (int k = 0; k < kKeys; ++k) Put("dev/K" + std::to_string(k), MakeValue(99, k));
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, writes{0}, failures{0};
  std::mutex messages_mutex;
  std::vector<std::string> messages;
  auto fail = [&](const std::string& m) {
    ++failures;
    std::lock_guard lock(messages_mutex);
    if (messages.size() < 10) messages.push_back(m);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int n = 0; !stop; ++n) {
        const std::string path = M("dev/K" + std::to_string(rng() % kKeys));
        if (rng() % 2 == 0) {
          const WriteResult w = WritePath(path, MakeValue(t, n), O_WRONLY | O_TRUNC);
          if (!w.ok())
            fail("write " + path + ": " +
                 strerror(w.open_error    ? w.open_error
                          : w.write_error ? w.write_error
                                          : w.close_error));
          ++writes;
        } else {
          const ReadResult r = ReadPath(path);
          if (r.error != 0)
            fail("read " + path + ": " + strerror(r.error));
          else if (!IsWrittenValue(r.bytes))
            fail("read " + path + ": a value nobody wrote ('" + r.bytes.substr(0, 40) + "', " +
                 std::to_string(r.bytes.size()) + " bytes)");
          ++reads;
        }
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (auto& th : threads) th.join();
  for (const std::string& m : messages) ADD_FAILURE() << m;
  EXPECT_EQ(failures, 0);
  EXPECT_GT(reads, 100);
  EXPECT_GT(writes, 100);
  // Afterwards every key holds some written value, and the CLI agrees with the mount.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "dev/K" + std::to_string(k);
    const std::string value = ReadPath(M(key)).bytes;
    EXPECT_TRUE(IsWrittenValue(value)) << key;
    EXPECT_EQ(Get(key), value) << key;
  }
}

}  // namespace
}  // namespace secretfs::testing
