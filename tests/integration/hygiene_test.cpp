// Memory hygiene of the daemon (SPEC §7, issue 5 item 6): no core dump even when the operator
// allows them, no plaintext in the page cache after a read through the mount, and no plaintext
// left in the daemon's memory once the file is closed.
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kCorePattern[] = "/proc/sys/kernel/core_pattern";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// Points core_pattern at a directory for its lifetime and always puts the old pattern back,
// whatever the test does (the destructor runs after a failed ASSERT too).
class CorePatternGuard {
 public:
  explicit CorePatternGuard(const std::string& dir) : saved_(ReadText(kCorePattern)) {
    while (!saved_.empty() && saved_.back() == '\n') saved_.pop_back();
    ok_ = WriteText(kCorePattern, dir + "/core.%e.%p");
  }
  ~CorePatternGuard() {
    if (!WriteText(kCorePattern, saved_)) ADD_FAILURE() << "could not restore core_pattern";
  }
  bool ok() const { return ok_; }

 private:
  std::string saved_;
  bool ok_ = false;
};

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Whether the bytes of `needle` appear anywhere in the readable memory of `pid` (as root:
// /proc/PID/mem needs ptrace access, which root has even to a non-dumpable process).
// `scanned` gets the number of bytes read.
bool MemoryHolds(pid_t pid, const std::string& needle, size_t& scanned) {
  scanned = 0;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) {
    ADD_FAILURE() << "open /proc/" << pid << "/mem: " << strerror(errno);
    return false;
  }
  bool found = false;
  std::string line;
  std::vector<char> buf;
  while (!found && std::getline(maps, line)) {
    unsigned long start = 0, end = 0;
    char perms[5] = {};
    if (sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) != 3) continue;
    if (perms[0] != 'r') continue;
    if (line.find("[vvar]") != std::string::npos) continue;
    // Reservations of a gigabyte and more are address space, not data (the LMDB map holds only
    // ciphertext; a sanitizer build reserves terabytes of shadow memory).
    if (end - start >= (1ul << 30)) continue;
    // In chunks that overlap by the needle's length, so a match across a boundary is seen.
    constexpr size_t kChunk = 1 << 20;
    buf.resize(kChunk + needle.size());
    for (unsigned long at = start; !found && at < end; at += kChunk) {
      const size_t want = std::min<unsigned long>(end - at, kChunk + needle.size());
      const ssize_t n = pread(mem, buf.data(), want, static_cast<off_t>(at));
      if (n <= 0) break;  // guard pages and the like
      scanned += static_cast<size_t>(n);
      found = std::string_view(buf.data(), static_cast<size_t>(n)).find(needle) !=
              std::string_view::npos;
    }
  }
  close(mem);
  return found;
}

// 40 random printable bytes: found in memory only if it really is this secret.
std::string RandomPrintable() {
  const std::string raw = RandomBytes(40);
  std::string out;
  for (unsigned char c : raw) out.push_back(static_cast<char>('!' + c % 94));
  return out;
}

class HygieneTest : public MountedTest {};

TEST_F(HygieneTest, DaemonLeavesNoCoreDumpEvenWhenAllowed) {
  const std::string cores = Local("cores");
  ASSERT_EQ(mkdir(cores.c_str(), 0777), 0);
  CorePatternGuard pattern(cores);
  ASSERT_TRUE(pattern.ok()) << "cannot write " << kCorePattern;

  // Control: an ordinary process under the same settings does leave a core there, so an empty
  // directory below means something.
  ProcessResult control = Shell("cd " + cores +
                                " && ulimit -c unlimited && exec sleep 30 & "
                                "pid=$!; sleep 0.2; kill -SEGV $pid; wait $pid; exit 0");
  ASSERT_EQ(control.exit_code, 0) << Describe(control);
  for (int i = 0; i < 100 && FilesIn(cores) == 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(FilesIn(cores), 1u)
      << "the control process left no core: the check would prove nothing";
  fs::remove_all(cores);
  ASSERT_EQ(mkdir(cores.c_str(), 0777), 0);

  // The daemon, mounted with core dumps allowed.
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  const ProcessResult mounted = Shell("ulimit -c unlimited && secretfs -s " + store_ +
                                      " -k file:" + key_file_ + " mount " + mnt_);
  ASSERT_TRUE(Succeeded(mounted)) << Describe(mounted);
  TrackMount(mnt_);
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  const std::string limits = ReadText("/proc/" + std::to_string(daemon) + "/limits");
  EXPECT_THAT(limits, ::testing::ContainsRegex("Max core file size +0 +0"));

  ASSERT_EQ(kill(daemon, SIGSEGV), 0);
  for (int i = 0; i < 100 && kill(daemon, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(FilesIn(cores), 0u) << "the daemon left a core file in " << cores;
  EXPECT_TRUE(ForceUnmount(mnt_, 0));
}

TEST_F(HygieneTest, ReadThroughTheMountLeavesNothingInThePageCache) {
  const std::string secret = RandomPrintable();
  ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", secret));
  const ProcessResult cat = Program({"cat", M("dev/TOKEN")});
  ASSERT_TRUE(Succeeded(cat)) << Describe(cat);
  ASSERT_EQ(cat.out, secret);

  // fincore(1) asks the kernel (mincore(2) on a shared mapping of the file) which pages of the
  // file are resident. A direct_io file cannot even be mapped shared, so no page of it can be in
  // the page cache: either answer shows that nothing of the value is cached.
  const ProcessResult fincore =
      Program({"fincore", "--raw", "--noheadings", "--output", "PAGES", M("dev/TOKEN")});
  if (fincore.exit_code == 0) {
    EXPECT_EQ(fincore.out, "0\n") << Describe(fincore);
  } else {
    EXPECT_THAT(fincore.err, ::testing::HasSubstr("No such device")) << Describe(fincore);
  }
  // The same question without fincore: a shared mapping is refused (ENODEV), the kernel's answer
  // for a FUSE file opened with direct_io, which bypasses the page cache altogether.
  Fd fd(open(M("dev/TOKEN").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  void* map = mmap(nullptr, secret.size(), PROT_READ, MAP_SHARED, fd.get(), 0);
  const int map_errno = errno;
  if (map != MAP_FAILED) {
    std::vector<unsigned char> resident(1);
    ASSERT_EQ(mincore(map, secret.size(), resident.data()), 0) << strerror(errno);
    munmap(map, secret.size());
    EXPECT_EQ(resident[0] & 1, 0) << "a page of the secret is in the page cache";
  } else {
    EXPECT_EQ(map_errno, ENODEV) << strerror(map_errno);
  }
}

// Pages of `fd`'s file in the page cache (cachestat(2), Linux 6.5), or -1 when the kernel has no
// cachestat. Asking through a descriptor opened earlier: an open of a direct_io file drops the
// file's pages itself, so a fresh open would hide what an earlier handle left behind.
long CachedPages(int fd) {
  struct Range {
    uint64_t off = 0, len = 0;  // len 0: to the end of the file
  } range;
  struct Stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  constexpr long kCachestat = 451;  // the same number on every architecture
  if (syscall(kCachestat, fd, &range, &stat, 0) != 0) return -1;
  return static_cast<long>(stat.nr_cache);
}

// Polls until `fd`'s file has no page cached (a release reaches the daemon after close returns).
long CachedPagesSettled(int fd) {
  long pages = CachedPages(fd);
  for (int i = 0; i < 100 && pages > 0; ++i) {
    std::this_thread::sleep_for(20ms);
    pages = CachedPages(fd);
  }
  return pages;
}

// read(2) of a direct_io file bypasses the page cache, but a private mmap, sendfile(2) and
// splice(2) read through it even then: the kernel fills the page cache with the plaintext and
// keeps it after the reader is gone. The release of such a handle drops the file's pages.
class PageCacheTest : public HygieneTest {
 protected:
  void SetUp() override {
    HygieneTest::SetUp();
    secret_ = RandomPrintable();
    ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", secret_));
    watch_ = std::make_unique<Fd>(open(M("dev/TOKEN").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(watch_->ok()) << strerror(errno);
    if (CachedPages(watch_->get()) < 0) GTEST_SKIP() << "this kernel has no cachestat(2)";
  }
  void TearDown() override {
    watch_.reset();  // before the unmount, which it would keep busy
    HygieneTest::TearDown();
  }
  int watched() const { return watch_->get(); }

  std::string secret_;
  std::unique_ptr<Fd> watch_;  // open throughout: asks the page cache without opening the file
};

TEST_F(PageCacheTest, SendfileOfASecretLeavesNoPageOfItBehind) {
  {
    Fd in(open(M("dev/TOKEN").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(in.ok()) << strerror(errno);
    Fd out(open(Local("copy").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(out.ok()) << strerror(errno);
    ASSERT_EQ(sendfile(out.get(), in.get(), nullptr, 4096), static_cast<ssize_t>(secret_.size()))
        << strerror(errno);
  }
  std::ifstream copy(Local("copy"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(copy), {}), secret_);
  EXPECT_EQ(CachedPagesSettled(watched()), 0) << "a page of the secret stayed in the page cache";
}

TEST_F(PageCacheTest, APrivateMappingOfASecretLeavesNoPageOfItBehind) {
  {
    Fd in(open(M("dev/TOKEN").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(in.ok()) << strerror(errno);
    void* map = mmap(nullptr, secret_.size(), PROT_READ, MAP_PRIVATE, in.get(), 0);
    ASSERT_NE(map, MAP_FAILED) << strerror(errno);
    EXPECT_EQ(std::string(static_cast<const char*>(map), secret_.size()), secret_);
    EXPECT_EQ(CachedPages(watched()), 1) << "the mapping reads through the page cache";
    munmap(map, secret_.size());
  }
  EXPECT_EQ(CachedPagesSettled(watched()), 0) << "a page of the secret stayed in the page cache";
}

TEST_F(PageCacheTest, AMappingThroughAWriteHandleLeavesNoPageBehindAndNoNewVersion) {
  // A write handle answers reads from its own buffer: the same flag and the same drop at release
  // as a read-only handle. Opening for writing and only reading changes nothing.
  {
    Fd rw(open(M("dev/TOKEN").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(rw.ok()) << strerror(errno);
    void* map = mmap(nullptr, secret_.size(), PROT_READ, MAP_PRIVATE, rw.get(), 0);
    ASSERT_NE(map, MAP_FAILED) << strerror(errno);
    EXPECT_EQ(std::string(static_cast<const char*>(map), secret_.size()), secret_);
    EXPECT_EQ(CachedPages(watched()), 1) << "the mapping reads through the page cache";
    munmap(map, secret_.size());
  }
  EXPECT_EQ(CachedPagesSettled(watched()), 0) << "a page of the secret stayed in the page cache";
  EXPECT_EQ(Versions("dev/TOKEN").size(), 1u);
  EXPECT_EQ(Get("dev/TOKEN"), secret_);
}

TEST_F(PageCacheTest, ConcurrentMappingsOfOneSecretAllReadItAndLeaveNothingBehind) {
  // Each release drops the file's pages while other threads fault them in again: the kernel
  // waits for those reads, which other daemon threads must answer. No hang, no wrong byte.
  std::atomic<int> wrong{0}, failed{0}, rounds{0};
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        Fd in(open(M("dev/TOKEN").c_str(), O_RDONLY | O_CLOEXEC));
        void* map = in.ok() ? mmap(nullptr, secret_.size(), PROT_READ, MAP_PRIVATE, in.get(), 0)
                            : MAP_FAILED;
        if (map == MAP_FAILED) {
          ++failed;
          continue;
        }
        wrong += std::string(static_cast<const char*>(map), secret_.size()) != secret_;
        munmap(map, secret_.size());
        ++rounds;
      }
    });
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(rounds, 100);
  EXPECT_EQ(CachedPagesSettled(watched()), 0) << "a page of the secret stayed in the page cache";
}

TEST_F(HygieneTest, NoPlaintextInDaemonMemoryAfterClose) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer the daemon's heap lies in terabyte-sized reservations "
                  "the scan skips; the default build runs this test";
#endif
  const std::string secret = RandomPrintable();
  ASSERT_NO_FATAL_FAILURE(Put("dev/SCAN_ME", secret));  // through the CLI: the daemon never sees it
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  size_t scanned = 0;
  ASSERT_FALSE(MemoryHolds(daemon, secret, scanned)) << "in memory before any read";
  ASSERT_GT(scanned, 0u);

  const ReadResult r = ReadPath(M("dev/SCAN_ME"));  // open, read, close
  ASSERT_EQ(r.error, 0);
  ASSERT_EQ(r.bytes, secret);
  std::this_thread::sleep_for(1s);  // the release reaches the daemon after close returns

  EXPECT_FALSE(MemoryHolds(daemon, secret, scanned))
      << "the plaintext is still in the daemon's memory after close (" << scanned
      << " bytes scanned)";
  // The scan can find it: a sanity check of the scanner, on a file kept open.
  Fd open_fd(open(M("dev/SCAN_ME").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(open_fd.ok());
  const ReadResult held = ReadFd(open_fd.get());
  ASSERT_EQ(held.bytes, secret);
  EXPECT_TRUE(MemoryHolds(daemon, secret, scanned))
      << "the scanner did not find a value the daemon holds for an open file";
}

// A value written through the mount passes through libfuse's per-thread receive buffer (ordinary
// heap, about 1 MiB, reused but never wiped): the write callback wipes it once the bytes are in
// the handle's locked memory (fs/fuse_ops_file.cpp).
TEST_F(HygieneTest, NoPlaintextInDaemonMemoryAfterAWriteThroughTheMount) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer the daemon's heap lies in terabyte-sized reservations "
                  "the scan skips; the default build runs this test";
#endif
  const std::string secret = RandomPrintable();
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  ASSERT_TRUE(WritePath(M("dev/WRITTEN"), secret).ok());
  std::this_thread::sleep_for(1s);
  size_t scanned = 0;
  EXPECT_FALSE(MemoryHolds(daemon, secret, scanned))
      << "the written plaintext is still in the daemon's memory (" << scanned << " bytes scanned)";
}

TEST_F(HygieneTest, MemlockLimitGivesAClearErrorNotACrash) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer makes mlock(2) succeed without locking anything";
#endif
  ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", "locked-value"));
  // root ignores RLIMIT_MEMLOCK (CAP_IPC_LOCK): run the CLI as nobody, on a copy of the store
  // that nobody owns.
  ASSERT_EQ(chmod(root_.c_str(), 0711), 0);
  const std::string copy = Local("nobody-store"), key = Local("nobody-key");
  ProcessResult r = Shell("cp -a " + store_ + " " + copy + " && cp " + key_file_ + " " + key +
                          " && chown -R 65534:65534 " + copy + " " + key);
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  auto get_as_nobody = [&](const std::string& prlimit) {
    return Shell(
        prlimit +
        " setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all secretfs -s " + copy +
        " -k file:" + key + " get dev/TOKEN");
  };
  r = get_as_nobody("");  // the limit this test runs under (Debian's default is 8 MiB)
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "locked-value");
  r = get_as_nobody("prlimit --memlock=0");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "secretfs: out of memory: could not allocate (locked) memory; check RLIMIT_MEMLOCK "
            "(ulimit -l)\n");
}

}  // namespace
}  // namespace secretfs::testing
