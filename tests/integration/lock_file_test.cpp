// The store's files under a running daemon. LMDB's writers take turns through STORE/lock.mdb.
// Operators remove "stale" lock files: removed (or replaced) under a serving daemon, the next
// command would make a new one and write beside the daemon's writer instead of after it, and
// the two would hand out the same pages. Every process with the store open marks data.mdb, and
// a command that finds the store marked while nobody holds the lock file at the path refuses to
// open it. And a backup restored under a running mount leaves the daemon with a file nobody
// opens again: it stores nothing more there. Nor does it write into a backup copied over
// data.mdb in place, whose pages are no longer the ones LMDB's lock file recorded.
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kRefusal[] =
    "lock.mdb was removed or replaced while another process has the store open";

// The id of the transaction LMDB's lock file for the store in `dir` says was committed last: the
// one whose meta page (of data.mdb's two, by its parity) the next transaction starts from.
uint64_t LastCommitted(const std::string& dir) {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  uint64_t id = 0;
  if (mdb_env_create(&env) == 0 &&
      mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
      mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
    id = mdb_txn_id(txn);
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return id;
}

class LockFileTest : public MountedTest {
 protected:
  std::string LockFile() const { return store_ + "/lock.mdb"; }
};

TEST_F(LockFileTest, ALockFileRemovedUnderTheDaemonIsRefusedUntilTheDaemonIsGone) {
  ASSERT_TRUE(WritePath(M("dev/A"), "a").ok());
  ASSERT_EQ(unlink(LockFile().c_str()), 0);

  ProcessResult r = Cli({"put", "dev/C"}, "c");
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(kRefusal));
  // The refused command made a new, empty lock file: a replaced one is refused the same way.
  r = Cli({"ls", "dev"});
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(kRefusal));
  ASSERT_EQ(mkdir(Local("second").c_str(), 0700), 0);
  r = MountAt(Local("second"));
  EXPECT_NE(r.exit_code, 0) << "a second daemon would be a second writer: " << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(kRefusal));

  // The daemon keeps serving with the lock file it opened.
  EXPECT_TRUE(WritePath(M("dev/B"), "b").ok());
  EXPECT_EQ(ReadPath(M("dev/B")).bytes, "b");

  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  EXPECT_EQ(Get("dev/A"), "a");
  EXPECT_EQ(Get("dev/B"), "b");
  EXPECT_THAT(Cli({"get", "dev/C"}).exit_code, 1) << "the refused put stored nothing";
  EXPECT_TRUE(Succeeded(Cli({"verify"})));
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

// Commands starting and ending beside a serving daemon and each other are never taken for
// that case: each holds its mark only while LMDB holds the lock file for it.
TEST_F(LockFileTest, CommandsBesideTheDaemonAndEachOtherAreNotRefused) {
  Put("dev/A", "a");
  std::atomic<bool> done{false};
  std::atomic<int> write_errors{0};
  std::thread writer([&] {
    for (int i = 0; !done; ++i)
      if (!WritePath(M("dev/M"), std::to_string(i)).ok()) ++write_errors;
  });
  // Four loops of commands at once, gets and puts, each command a process of its own. The 120
  // processes take 2 s, 22 s under AddressSanitizer, and over 60 s there beside another test
  // and a build: the time allowed is for that, not a limit on the commands.
  const std::string secretfs = "secretfs -s '" + store_ + "' -k 'file:" + key_file_ + "'";
  const ProcessResult r = Shell("for loop in 1 2 3 4; do (for i in $(seq 15); do " + secretfs +
                                    " get dev/A >/dev/null && " + "echo v | " + secretfs +
                                    " put dev/L$loop >/dev/null || echo \"failed: loop $loop\"; " +
                                    "done) & done; wait",
                                std::chrono::minutes(4));
  done = true;
  writer.join();
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "") << r.err;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr(kRefusal)));
  EXPECT_EQ(write_errors, 0);
}

// The restore of operations.md done without stopping the mount first: the directory moved
// away, a copy moved in. The daemon's later writes and events would go to the old file, which
// nobody opens again, so it fails them closed instead; commands work on the restored store.
TEST_F(LockFileTest, AStoreRestoredUnderTheDaemonGetsNoMoreOfItsWrites) {
  ASSERT_TRUE(WritePath(M("dev/A"), "a").ok());
  const std::string copy = Local("copy");
  ASSERT_TRUE(Succeeded(Cli({"backup", copy})));
  ASSERT_EQ(rename(store_.c_str(), Local("store.old").c_str()), 0);
  ASSERT_EQ(rename(copy.c_str(), store_.c_str()), 0);

  const WriteResult written = WritePath(M("dev/B"), "b");
  EXPECT_FALSE(written.ok()) << "acknowledged, it would be lost";
  EXPECT_EQ(written.open_error + written.write_error + written.close_error, EIO);
  EXPECT_EQ(ReadPath(M("dev/A")).error, EIO) << "its audit event would be lost";

  Put("dev/C", "c");  // the restored store opens and takes changes
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  EXPECT_EQ(Get("dev/A"), "a");
  EXPECT_EQ(Get("dev/C"), "c");
  EXPECT_EQ(Cli({"get", "dev/B"}).exit_code, 1);
  EXPECT_TRUE(Succeeded(Cli({"verify"})));
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

// The same restore done with `cp` onto the store's data.mdb itself: the file keeps its inode, so
// nothing at the path tells it apart, but its pages are no longer the ones LMDB's lock file says
// were committed last. A writer going on from the lock file's record would write over the copy's
// pages with pages it takes for free: the daemon and the commands beside it write nothing into
// the copied file; once the daemon is gone, the copy opens as it was backed up.
TEST_F(LockFileTest, ABackupCopiedOverTheStoresFileUnderTheDaemonIsNotWrittenInto) {
  ASSERT_TRUE(WritePath(M("dev/A"), "a").ok());
  const std::string copy = Local("copy");
  ASSERT_TRUE(Succeeded(Cli({"backup", copy})));
  ASSERT_TRUE(WritePath(M("dev/A"), "a2").ok());
  ASSERT_TRUE(WritePath(M("dev/B"), "b").ok());
  // A compacted copy holds its pages in meta page 1 and an empty tree in meta page 0. With the
  // last committed transaction odd, LMDB goes on from meta page 1: from the copy's pages, but
  // with what it took for free pages in the file it had.
  if (LastCommitted(store_) % 2 == 0) {
    ASSERT_TRUE(WritePath(M("dev/B"), "b1").ok());
  }
  ASSERT_EQ(LastCommitted(store_) % 2, 1u);
  const ProcessResult copied = Shell("cp '" + copy + "/data.mdb' '" + store_ + "/data.mdb'");
  ASSERT_TRUE(Succeeded(copied)) << Describe(copied);
  const std::string backed_up = ReadPath(copy + "/data.mdb").bytes;

  const WriteResult written = WritePath(M("dev/A"), "a3");  // a secret the copy holds
  EXPECT_FALSE(written.ok()) << "acknowledged, it would be written over the copy's pages";
  EXPECT_EQ(written.open_error + written.write_error + written.close_error, EIO);
  EXPECT_EQ(ReadPath(M("dev/A")).error, EIO) << "its audit event cannot be stored";
  const ProcessResult put = Cli({"put", "dev/C"}, "c");
  EXPECT_TRUE(FailedCleanly(put)) << Describe(put);
  EXPECT_THAT(put.err, HasSubstr("data.mdb was changed by something other than LMDB"));
  EXPECT_TRUE(ReadPath(store_ + "/data.mdb").bytes == backed_up)
      << "the copied file was written into";

  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  EXPECT_EQ(Get("dev/A"), "a");
  EXPECT_EQ(Cli({"get", "dev/B"}).exit_code, 1) << "written after the backup";
  EXPECT_EQ(Cli({"get", "dev/C"}).exit_code, 1) << "the refused put stored nothing";
  EXPECT_TRUE(Succeeded(Cli({"verify"})));
  EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
}

}  // namespace
}  // namespace secretfs::testing
