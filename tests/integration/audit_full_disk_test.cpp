// Fail-closed audit on a full disk (SPEC §6): a read whose event cannot be committed fails with
// EIO and no bytes; pruning, destroying and purging free the disk again.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/audit_mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditFullDiskTest : public AuditTest {
 protected:
  void TearDown() override {
    if (!small_mnt_.empty() && !MountedType(small_mnt_).empty()) Unmount(small_mnt_);
    UnmountStoreTmpfs(tmpfs_);
    AuditTest::TearDown();
  }

  // A store on a 4 MiB tmpfs, holding dev/K = "the-value" and `more` secrets (W/K) of the given
  // sizes, mounted at small_mnt_.
  void MountSmallStore(const std::map<std::string, size_t>& more = {}) {
    ASSERT_NO_FATAL_FAILURE(MakeSmallStore(more));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"mount", small_mnt_})));
    TrackMount(small_mnt_);
    secret_ = small_mnt_ + "/dev/K";
    ASSERT_EQ(ReadPath(secret_).bytes, "the-value");
  }

  // MountSmallStore without the mount.
  void MakeSmallStore(const std::map<std::string, size_t>& more = {}) {
    tmpfs_ = Local("small");
    small_mnt_ = Local("small-mnt");
    ASSERT_EQ(mkdir(tmpfs_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(small_mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mount("tmpfs", tmpfs_.c_str(), "tmpfs", 0, "size=4m,mode=0700"), 0)
        << strerror(errno);
    small_store_ = tmpfs_ + "/store";
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"init"})));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"workspace", "create", "dev"})));
    ASSERT_TRUE(Succeeded(CliOn(small_store_, {"put", "dev/K"}, "the-value")));
    std::set<std::string> workspaces = {"dev"};
    for (const auto& [path, size] : more) {
      const std::string workspace = path.substr(0, path.find('/'));
      if (workspaces.insert(workspace).second) {
        ASSERT_TRUE(Succeeded(CliOn(small_store_, {"workspace", "create", workspace})));
      }
      ASSERT_TRUE(Succeeded(CliOn(small_store_, {"put", path}, RandomBytes(size))));
    }
  }

  // Reads dev/K until the disk refuses `in_a_row` events in a row: the log itself has filled
  // it (every read is an event). Each refusal is EIO with no bytes.
  void ReadUntilTheLogFillsTheDisk(int in_a_row = 10) {
    int refused = 0;
    for (int reads = 0; refused < in_a_row; ++reads) {
      ASSERT_LT(reads, 100000) << "reads never filled a 4 MiB disk";
      const ReadResult r = ReadPath(secret_);
      if (r.error == 0) {
        ASSERT_EQ(r.bytes, "the-value");
        refused = 0;
        continue;
      }
      ASSERT_EQ(r.error, EIO) << strerrorname_np(r.error) << " after " << reads << " reads";
      ASSERT_EQ(r.bytes, "");
      ++refused;
    }
  }

  std::string tmpfs_;
  std::string small_mnt_;
  std::string small_store_;
  std::string secret_;
};

TEST_F(AuditFullDiskTest, AReadWhoseEventCannotBeCommittedFailsWithEioAndNoBytes) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore());
  const std::string& store = small_store_;
  const std::string& secret = secret_;

  // Fill the file system to the last byte.
  const std::string filler = tmpfs_ + "/filler";
  {
    Fd fd(open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.ok());
    for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
      const std::string bytes(chunk, 'f');
      while (write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
      }
    }
  }

  // Events keep fitting into LMDB's free pages for a while; once one needs a new page it cannot
  // be committed, and then the read must fail with EIO and return nothing. A refusal can be
  // followed by a success: a page freed by an older commit becomes reusable once the reader
  // that still saw it (the daemon serving a concurrent release, say) has ended. So read until
  // the disk refuses every event, which it must: 20000 events need several MiB, far more than
  // any slack the store's file can have. Once reads are refused in a row, a shell's cat must
  // fail the same way; if a freed page let its event through, it printed the value whole, and
  // reading goes on.
  constexpr int kMaxReads = 20000, kRefusalsInARow = 10;
  int reads = 0, refused_in_a_row = 0;
  bool cat_refused = false;
  for (; reads < kMaxReads && !cat_refused; ++reads) {
    if (refused_in_a_row == kRefusalsInARow) {
      const ProcessResult cat = Shell("cat " + secret);
      if (cat.exit_code == 0) {
        ASSERT_EQ(cat.out, "the-value") << "cat succeeded with part of the value";
        refused_in_a_row = 0;
        continue;
      }
      EXPECT_TRUE(FailedCleanly(cat));
      EXPECT_EQ(cat.out, "");
      EXPECT_THAT(cat.err, HasSubstr("Input/output error"));
      cat_refused = true;
      continue;
    }
    const ReadResult r = ReadPath(secret);
    if (r.error == 0) {
      ASSERT_EQ(r.bytes, "the-value");
      refused_in_a_row = 0;
      continue;
    }
    ++refused_in_a_row;
    ASSERT_EQ(r.error, EIO) << strerrorname_np(r.error) << " after " << reads << " reads";
    ASSERT_EQ(r.bytes, "") << "a refused read returned bytes";
  }
  ASSERT_TRUE(cat_refused) << kMaxReads << " reads on a full disk never refused a cat";

  // Room again: reads work again, and the log is whole.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  const ReadResult again = ReadPath(secret);
  EXPECT_EQ(again.error, 0);
  EXPECT_EQ(again.bytes, "the-value");
  const ProcessResult verify = CliOn(store, {"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

// init on a nearly full disk: whatever the room, it either makes a store that opens and whose
// log starts with its creation, or fails and leaves nothing that makes the next init fail with
// "a store already exists". The store and the init event are two commits; with room for the
// first only, init failed and left a store holding a key slot.
TEST_F(AuditFullDiskTest, InitOnANearlyFullDiskMakesAWholeStoreOrNone) {
  tmpfs_ = Local("small");
  ASSERT_EQ(mkdir(tmpfs_.c_str(), 0700), 0);
  ASSERT_EQ(mount("tmpfs", tmpfs_.c_str(), "tmpfs", 0, "size=1m,mode=0700"), 0) << strerror(errno);
  const std::string store = tmpfs_ + "/store", filler = tmpfs_ + "/filler";
  int failed = 0, made = 0;
  for (size_t room_kib = 32; room_kib <= 256; room_kib += 4) {
    std::filesystem::remove_all(store);
    std::filesystem::remove(filler);
    struct statvfs fs {};
    ASSERT_EQ(statvfs(tmpfs_.c_str(), &fs), 0);
    const size_t free_bytes = size_t{fs.f_bavail} * fs.f_frsize;
    ASSERT_GT(free_bytes, room_kib * 1024);
    {
      Fd fd(open(filler.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      const std::string bytes(free_bytes - room_kib * 1024, 'f');
      ASSERT_EQ(write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
    const ProcessResult init = CliOn(store, {"init"});
    if (init.exit_code != 0) {
      ++failed;
      EXPECT_THAT(init.err, AnyOf(HasSubstr("is full"), HasSubstr("No space left")))
          << room_kib << " KiB free";
      std::filesystem::remove(filler);
      const ProcessResult again = CliOn(store, {"init"});
      EXPECT_EQ(again.exit_code, 0)
          << "after an init with " << room_kib << " KiB free failed: " << Describe(again);
      continue;
    }
    ++made;
    std::filesystem::remove(filler);  // `audit` records its own event
    const ProcessResult log = CliOn(store, {"audit", "--op", "init", "--json"});
    EXPECT_EQ(log.exit_code, 0) << room_kib << " KiB free: " << Describe(log);
    EXPECT_EQ(std::count(log.out.begin(), log.out.end(), '\n'), 1) << room_kib << " KiB free";
  }
  // The range spans both outcomes, so the boundary between them was crossed.
  EXPECT_GT(failed, 0);
  EXPECT_GT(made, 0);
}

// A reader can fill the disk with its events alone. The operator's way out must still work then,
// though LMDB needs free pages even to delete: prune gives back the store's space reserve.
TEST_F(AuditFullDiskTest, PruningFreesADiskThatTheLogFilledAndReadsWorkAgain) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore());
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult prune = CliOn(small_store_, {"audit", "prune", "--before", "now"});
  ASSERT_EQ(prune.exit_code, 0) << Describe(prune);
  EXPECT_THAT(prune.out, HasSubstr("audit events older than"));
  EXPECT_THAT(prune.err, HasSubstr("is full: giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  const ProcessResult verify = CliOn(small_store_, {"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  const ProcessResult prunes = CliOn(small_store_, {"audit", "--op", "audit prune", "--json"});
  ASSERT_EQ(prunes.exit_code, 0) << Describe(prunes);
  // One event per step of 10,000 events, each in its step's transaction.
  ASSERT_GE(std::count(prunes.out.begin(), prunes.out.end(), '\n'), 1) << prunes.out;
  std::istringstream lines(prunes.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(ParseEvent(line).result_name, "ok") << "the prune is itself an event: " << prunes.out;
  // The reserve is taken again, as far as the disk has room for it.
  EXPECT_TRUE(std::filesystem::exists(small_store_ + "/space.reserve"));
}

// As auditd's space_left: the daemon warns in its log before the disk is full. (In the
// foreground the log also goes to stderr; the daemon is stopped after two seconds.)
TEST_F(AuditFullDiskTest, TheDaemonWarnsInItsLogWhenTheStoresDiskRunsLow) {
  ASSERT_NO_FATAL_FAILURE(MakeSmallStore());
  const auto foreground_log = [&] {
    const ProcessResult r = Spawn(
        {SECRETFS_BINARY, "-s", small_store_, "-k", "file:" + key_file_, "mount", small_mnt_, "-f"},
        "", {}, std::chrono::seconds(2));
    EXPECT_TRUE(ForceUnmount(small_mnt_, 0));
    return r.err;
  };
  EXPECT_THAT(foreground_log(), Not(HasSubstr("running out of space")));

  // Leave 64 KiB free of the 4 MiB (the warning starts below 256 KiB).
  {
    Fd fd(open((tmpfs_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.ok());
    const std::string chunk(4096, 'f');
    while (write(fd.get(), chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(ftruncate(fd.get(), lseek(fd.get(), 0, SEEK_END) - 64 * 1024), 0);
  }
  const std::string log = foreground_log();
  EXPECT_THAT(log, HasSubstr("the disk holding " + small_store_ + " is running out of space"))
      << log;
  EXPECT_THAT(log, HasSubstr("secretfs audit prune")) << log;
}

TEST_F(AuditFullDiskTest, DestroyingASecretFreesADiskThatTheLogFilled) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore({{"dev/BIG", 256 * 1024}}));
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult destroy = CliOn(small_store_, {"destroy", "dev/BIG"});
  ASSERT_EQ(destroy.exit_code, 0) << Describe(destroy);
  EXPECT_THAT(destroy.err, HasSubstr("giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  EXPECT_EQ(ReadPath(small_mnt_ + "/dev/BIG").error, ENOENT);
}

TEST_F(AuditFullDiskTest, PurgingAWorkspaceFreesADiskThatTheLogFilled) {
  ASSERT_NO_FATAL_FAILURE(MountSmallStore({{"old/BIG", 256 * 1024}}));
  ASSERT_NO_FATAL_FAILURE(ReadUntilTheLogFillsTheDisk());

  const ProcessResult purge =
      CliOn(small_store_, {"workspace", "delete", "old", "--purge", "--yes"});
  ASSERT_EQ(purge.exit_code, 0) << Describe(purge);
  EXPECT_THAT(purge.err, HasSubstr("giving back its space reserve"));
  EXPECT_EQ(ReadPath(secret_).bytes, "the-value");
  EXPECT_EQ(ReadPath(small_mnt_ + "/old").error, ENOENT);
}

// ---- kill -9 in the middle of reads and writes. ----

}  // namespace
}  // namespace secretfs::testing
