// The tree (SPEC §3, §4): rename, workspaces as directories, history under .versions, the
// operations that are refused, and metadata as extended attributes.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tests/integration/mount_fixture.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace secretfs::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using TreeOpsTest = MountedTest;

int RenameAt2(const std::string& from, const std::string& to, unsigned flags) {
  return ErrnoOf(static_cast<int>(
      syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags)));
}

TEST_F(TreeOpsTest, MvWithinAWorkspaceMovesTheValue) {
  Put("dev/A", "value-of-a");
  ASSERT_TRUE(Succeeded(Program({"mv", M("dev/A"), M("dev/B")})));
  EXPECT_EQ(ReadPath(M("dev/B")).bytes, "value-of-a");
  EXPECT_EQ(ReadPath(M("dev/A")).error, ENOENT);
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "B"));
  EXPECT_EQ(Get("dev/B"), "value-of-a");

  // Onto an existing key: a new version of it.
  Put("dev/C", "old-c");
  ASSERT_EQ(ErrnoOf(rename(M("dev/B").c_str(), M("dev/C").c_str())), 0);
  EXPECT_EQ(ReadPath(M("dev/C")).bytes, "value-of-a");
  EXPECT_THAT(Versions("dev/C"), ElementsAre(1, 2));
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "C"));
}

// mv to a name that is not live carries the description, type and tags, as any filesystem keeps
// a file's attributes; onto a live secret the target keeps its own (an editor saving through a
// temporary file renames it over the secret).
TEST_F(TreeOpsTest, MvCarriesTheMetadataToANewNameAndKeepsALiveTargets) {
  Put("dev/SRC", "v");
  const std::string src = M("dev/SRC");
  ASSERT_EQ(ErrnoOf(setxattr(src.c_str(), "user.secretfs.description", "main db", 7, 0)), 0);
  ASSERT_EQ(ErrnoOf(setxattr(src.c_str(), "user.secretfs.type", "database", 8, 0)), 0);
  ASSERT_EQ(ErrnoOf(setxattr(src.c_str(), "user.secretfs.tags", "team=pay", 8, 0)), 0);
  // A deleted name with tags of its own: they go, the source's come.
  Put("dev/DST", "old");
  ASSERT_EQ(ErrnoOf(setxattr(M("dev/DST").c_str(), "user.secretfs.tags", "stale=1", 7, 0)), 0);
  ASSERT_TRUE(Succeeded(Cli({"rm", "dev/DST"})));
  ASSERT_EQ(ErrnoOf(rename(src.c_str(), M("dev/DST").c_str())), 0);
  EXPECT_EQ(GetXattr(M("dev/DST"), "user.secretfs.description"), "main db");
  EXPECT_EQ(GetXattr(M("dev/DST"), "user.secretfs.type"), "database");
  EXPECT_EQ(GetXattr(M("dev/DST"), "user.secretfs.tags"), "team=pay");

  Put("dev/TMP", "edited");
  ASSERT_EQ(ErrnoOf(rename(M("dev/TMP").c_str(), M("dev/DST").c_str())), 0);
  EXPECT_EQ(ReadPath(M("dev/DST")).bytes, "edited");
  EXPECT_EQ(GetXattr(M("dev/DST"), "user.secretfs.description"), "main db");
  EXPECT_EQ(GetXattr(M("dev/DST"), "user.secretfs.tags"), "team=pay");
}

// A writer that opened a secret writes that secret. After an rm of it (to revoke it) or an mv
// away, its close used to store the value under the old name again, bringing it back.
TEST_F(TreeOpsTest, AWriterCannotBringBackASecretRemovedOrRenamedWhileItWasOpen) {
  Put("dev/REVOKED", "v1");
  Fd fd(open(M("dev/REVOKED").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  ASSERT_EQ(unlink(M("dev/REVOKED").c_str()), 0);
  ASSERT_EQ(WriteFd(fd.get(), "still-writing"), 0);
  EXPECT_EQ(fd.Close(), ENOENT) << "the close must say the value was not stored";
  EXPECT_EQ(ReadPath(M("dev/REVOKED")).error, ENOENT);
  EXPECT_TRUE(FailedCleanly(Cli({"get", "dev/REVOKED"})));

  Put("dev/OLD", "v1");
  Fd moved(open(M("dev/OLD").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(moved.ok()) << strerror(errno);
  ASSERT_EQ(rename(M("dev/OLD").c_str(), M("dev/NEW").c_str()), 0);
  ASSERT_EQ(WriteFd(moved.get(), "after-mv"), 0);
  EXPECT_EQ(moved.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/OLD")).error, ENOENT);
  EXPECT_EQ(ReadPath(M("dev/NEW")).bytes, "v1");
}

// truncate(2) by path writes at once, once it has checked that the secret is there. A `secretfs
// rm` landing between that check and the write (the kernel's inode lock orders it against an
// unlink through the mount, not against the CLI) must not be undone by the truncate. The test
// holds the store's writer lock, so that the rm and then the truncate, past its check, wait for
// it: the rm goes first when it is let go (its wait began first).
TEST_F(TreeOpsTest, ATruncateByPathDoesNotBringBackASecretRemovedMeanwhile) {
  Put("dev/REVOKED", "v1");
  ASSERT_EQ(ReadPath(M("dev/REVOKED")).bytes, "v1");
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_open(env, store_.c_str(), 0, 0600), 0);
  MDB_txn* writer_lock = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &writer_lock), 0);

  ProcessResult removed;
  std::thread rm([&] { removed = Cli({"rm", "dev/REVOKED"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int truncated = -1;
  std::thread truncate_by_path([&] { truncated = ErrnoOf(truncate(M("dev/REVOKED").c_str(), 0)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  mdb_txn_abort(writer_lock);
  rm.join();
  truncate_by_path.join();
  mdb_env_close(env);

  EXPECT_TRUE(Succeeded(removed)) << Describe(removed);
  EXPECT_THAT(truncated, ::testing::AnyOf(ENOENT, 0)) << "ENOENT: removed since its check";
  EXPECT_EQ(ReadPath(M("dev/REVOKED")).error, ENOENT) << "the truncate brought it back";
  EXPECT_TRUE(FailedCleanly(Cli({"get", "dev/REVOKED"})));
}

// A secret removed and made again under the same name while a writer had it open is another
// secret: the writer's close must not write over the value made since (an rm to revoke a leaked
// secret, then a put of its replacement, undone by a writer of the old one). Whatever the writer
// opened it with, also when the writer made the secret itself, when the secret was destroyed
// rather than removed or replaced by a rename, and when the rm was undone.
TEST_F(TreeOpsTest, AWriterDoesNotWriteOverASecretMadeUnderItsNameSinceItOpened) {
  Put("dev/TRUNCATED", "leaked");
  Fd truncating(open(M("dev/TRUNCATED").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(truncating.ok()) << strerror(errno);
  ASSERT_TRUE(Succeeded(Cli({"rm", "dev/TRUNCATED"})));
  Put("dev/TRUNCATED", "rotated");
  ASSERT_EQ(WriteFd(truncating.get(), "stale"), 0);
  EXPECT_EQ(truncating.Close(), ENOENT) << "the close must say the value was not stored";
  EXPECT_EQ(ReadPath(M("dev/TRUNCATED")).bytes, "rotated");

  Put("dev/APPENDED", "leaked");
  Fd appending(open(M("dev/APPENDED").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(appending.ok()) << strerror(errno);
  ASSERT_EQ(unlink(M("dev/APPENDED").c_str()), 0);
  Put("dev/APPENDED", "rotated");
  ASSERT_EQ(WriteFd(appending.get(), "-more"), 0);
  EXPECT_EQ(appending.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/APPENDED")).bytes, "rotated");

  Fd creating(open(M("dev/MADE").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(creating.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(creating.get(), "first"), 0);
  ASSERT_EQ(ErrnoOf(fsync(creating.get())), 0);  // stored: the handle's secret from now on
  ASSERT_TRUE(Succeeded(Cli({"rm", "dev/MADE"})));
  Put("dev/MADE", "rotated");
  ASSERT_EQ(WriteFd(creating.get(), "second"), 0);
  EXPECT_EQ(creating.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/MADE")).bytes, "rotated");

  Put("dev/DESTROYED", "leaked");  // never deleted: its record goes, and a new one comes
  Fd destroyed(open(M("dev/DESTROYED").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(destroyed.ok()) << strerror(errno);
  ASSERT_TRUE(Succeeded(Cli({"destroy", "dev/DESTROYED"})));
  Put("dev/DESTROYED", "rotated");
  ASSERT_EQ(WriteFd(destroyed.get(), "stale"), 0);
  EXPECT_EQ(destroyed.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/DESTROYED")).bytes, "rotated");

  // Undone: the same secret again, but the rm revoked this writer all the same.
  Put("dev/RESTORED", "kept");
  Fd restored(open(M("dev/RESTORED").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(restored.ok()) << strerror(errno);
  ASSERT_TRUE(Succeeded(Cli({"rm", "dev/RESTORED"})));
  ASSERT_TRUE(Succeeded(Cli({"undelete", "dev/RESTORED"})));
  ASSERT_EQ(WriteFd(restored.get(), "stale"), 0);
  EXPECT_EQ(restored.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/RESTORED")).bytes, "kept");

  // Replaced by a rename (an editor saving through a temporary file): rename(2) unlinks it.
  Put("dev/SAVED", "old");
  Fd replaced(open(M("dev/SAVED").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(replaced.ok()) << strerror(errno);
  Put("dev/SAVED.tmp", "saved");
  ASSERT_EQ(rename(M("dev/SAVED.tmp").c_str(), M("dev/SAVED").c_str()), 0) << strerror(errno);
  ASSERT_EQ(WriteFd(replaced.get(), "-more"), 0);
  EXPECT_EQ(replaced.Close(), ENOENT);
  EXPECT_EQ(ReadPath(M("dev/SAVED")).bytes, "saved");

  // Without an rm a new value is no new secret: the last close wins, as on any filesystem.
  Fd last(open(M("dev/RESTORED").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  ASSERT_TRUE(last.ok()) << strerror(errno);
  Put("dev/RESTORED", "put-meanwhile");
  ASSERT_EQ(WriteFd(last.get(), "closed-last"), 0);
  EXPECT_EQ(last.Close(), 0);
  EXPECT_EQ(ReadPath(M("dev/RESTORED")).bytes, "closed-last");
}

// A close that said the value was not stored is final. A child that inherited the descriptor
// holds the handle open past that close; its release used to try the value again, and stored it
// over the secret made under that name since (an rm to revoke it, then a new value, undone by a
// writer that had been told it failed). And the failed close is one event, not two.
TEST_F(TreeOpsTest, AValueWhoseCloseFailedIsNotStoredLaterByTheRelease) {
  Put("dev/ROTATED", "old");
  Fd fd(open(M("dev/ROTATED").c_str(), O_WRONLY | O_TRUNC));  // inherited by the child below
  ASSERT_TRUE(fd.ok()) << strerror(errno);
  int hold[2];
  ASSERT_EQ(pipe(hold), 0);
  const pid_t child = fork();
  if (child == 0) {
    char c;
    close(hold[1]);
    (void)!read(hold[0], &c, 1);  // holds the inherited descriptor until the pipe closes
    _exit(0);
  }
  ASSERT_GT(child, 0);
  close(hold[0]);
  ASSERT_EQ(WriteFd(fd.get(), "stale"), 0);
  ASSERT_EQ(unlink(M("dev/ROTATED").c_str()), 0);
  EXPECT_EQ(fd.Close(), ENOENT) << "the close must say the value was not stored";
  Put("dev/ROTATED", "fresh");

  close(hold[1]);  // the child exits: the handle's last descriptor goes, and its release comes
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  // The release is sent after the child's exit, without anyone waiting for it: give it time.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(ReadPath(M("dev/ROTATED")).bytes, "fresh");
  EXPECT_THAT(Versions("dev/ROTATED"), ElementsAre(1, 2));
  const std::string log = Cli({"audit", "--op", "write", "dev/ROTATED"}).out;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_THAT(log, HasSubstr("write ENOENT dev/ROTATED"));
}

// Two writers make the same new name at once: the second opens the name the first created and
// has not committed yet. Its close must store its value, whichever close comes first (it failed
// with ENOENT, as if the secret had been removed while it was open).
TEST_F(TreeOpsTest, TwoWritersCreatingOneNameAtOnceBothStore) {
  Fd first(open(M("dev/NEWKEY").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(first.ok()) << strerror(errno);
  const ProcessResult second = Shell("printf second > " + M("dev/NEWKEY"));
  ASSERT_TRUE(Succeeded(second)) << Describe(second);
  EXPECT_EQ(ReadPath(M("dev/NEWKEY")).bytes, "second");

  ASSERT_EQ(WriteFd(first.get(), "first"), 0);
  EXPECT_EQ(first.Close(), 0);
  EXPECT_EQ(ReadPath(M("dev/NEWKEY")).bytes, "first");
  EXPECT_THAT(Versions("dev/NEWKEY"), ElementsAre(1, 2));
}

// truncate(2) by path of a name that another process created and has not closed yet: the
// file is there (empty), so the truncate stores it, as that creator's close would, also for a
// name removed earlier (whose record stays, marked deleted).
TEST_F(TreeOpsTest, ATruncateByPathOfAFileBeingCreatedStoresIt) {
  Put("dev/GONE", "old");
  ASSERT_EQ(unlink(M("dev/GONE").c_str()), 0);
  for (const std::string name : {"dev/FRESH", "dev/GONE"}) {
    Fd creator(open(M(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(creator.ok()) << name << ": " << strerror(errno);
    EXPECT_EQ(ErrnoOf(truncate(M(name).c_str(), 0)), 0) << name;
    EXPECT_TRUE(Succeeded(Cli({"get", name}))) << name << ": stored by the truncate";
    EXPECT_EQ(creator.Close(), 0) << name;
    EXPECT_EQ(ReadPath(M(name)).bytes, "") << name;
  }
}

// A file created and not yet closed is an entry of its workspace: rmdir of the workspace is
// ENOTEMPTY until the close stores it (it succeeded, and the close then lost the value).
TEST_F(TreeOpsTest, AWorkspaceWithAFileBeingCreatedIsNotEmpty) {
  ASSERT_EQ(mkdir(M("fresh").c_str(), 0700), 0) << strerror(errno);
  Fd file(open(M("fresh/NEWKEY").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.ok()) << strerror(errno);
  EXPECT_EQ(ErrnoOf(rmdir(M("fresh").c_str())), ENOTEMPTY);
  // Another workspace, empty, is still removed.
  ASSERT_EQ(mkdir(M("other").c_str(), 0700), 0) << strerror(errno);
  EXPECT_EQ(ErrnoOf(rmdir(M("other").c_str())), 0);
  ASSERT_EQ(WriteFd(file.get(), "kept"), 0);
  EXPECT_EQ(file.Close(), 0);
  EXPECT_EQ(ReadPath(M("fresh/NEWKEY")).bytes, "kept");
  EXPECT_EQ(Get("fresh/NEWKEY"), "kept");
}

// A file created and not yet closed has no version yet, but what setxattr gave it (cp -a, rsync
// -X) waits for its first commit: getfattr shows that, and no error (it showed ENOENT for every
// name listxattr had listed, and `getfattr -d` failed). A second setting of its tags replaced
// none of the first's.
TEST_F(TreeOpsTest, AFileBeingCreatedShowsTheMetadataSetOnItAndNoVersion) {
  const std::string path = M("dev/NEWMETA");
  Fd creator(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(creator.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(creator.get(), "v"), 0);
  ASSERT_EQ(ErrnoOf(setxattr(path.c_str(), "user.secretfs.description", "main db", 7, 0)), 0);
  // Setting tags replaces every tag, as on a stored secret.
  ASSERT_EQ(ErrnoOf(setxattr(path.c_str(), "user.secretfs.tags", "env=prod", 8, 0)), 0);
  ASSERT_EQ(ErrnoOf(setxattr(path.c_str(), "user.secretfs.tags", "team=pay", 8, 0)), 0);

  const ProcessResult dump = Program({"getfattr", "--absolute-names", "-d", path});
  EXPECT_TRUE(Succeeded(dump)) << dump.err;
  EXPECT_THAT(dump.out, HasSubstr("user.secretfs.description=\"main db\""));
  EXPECT_THAT(dump.out, HasSubstr("user.secretfs.tags=\"team=pay\""));
  EXPECT_THAT(dump.out, Not(HasSubstr("user.secretfs.version")));
  int error = 0;
  EXPECT_EQ(GetXattr(path, "user.secretfs.type", &error), "");
  EXPECT_EQ(error, 0);
  GetXattr(path, "user.secretfs.version", &error);
  EXPECT_EQ(error, ENODATA);

  EXPECT_EQ(creator.Close(), 0);
  EXPECT_EQ(GetXattr(path, "user.secretfs.version", &error), "1");
  EXPECT_EQ(GetXattr(path, "user.secretfs.description", &error), "main db");
  EXPECT_EQ(GetXattr(path, "user.secretfs.tags", &error), "team=pay");

  // A name made again keeps its removed secret's record, and with it the metadata, until set.
  const std::string again = M("dev/AGAIN");
  ASSERT_TRUE(Succeeded(
      Cli({"put", "dev/AGAIN", "--description", "old db", "--tag", "x=1", "--tag", "z=3"}, "v")));
  ASSERT_EQ(unlink(again.c_str()), 0);
  Fd recreator(open(again.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(recreator.ok()) << strerror(errno);
  EXPECT_EQ(GetXattr(again, "user.secretfs.description", &error), "old db");
  EXPECT_EQ(GetXattr(again, "user.secretfs.tags", &error), "x=1,z=3");
  ASSERT_EQ(ErrnoOf(setxattr(again.c_str(), "user.secretfs.tags", "x=2", 3, 0)), 0);
  EXPECT_EQ(GetXattr(again, "user.secretfs.tags", &error), "x=2");
  EXPECT_EQ(recreator.Close(), 0);
  EXPECT_EQ(GetXattr(again, "user.secretfs.tags", &error), "x=2");
  EXPECT_EQ(GetXattr(again, "user.secretfs.description", &error), "old db");
}

TEST_F(TreeOpsTest, SedInPlaceEditsTheValue) {
  Put("dev/FRUIT", "banana");
  ASSERT_TRUE(Succeeded(Program({"sed", "-i", "s/a/b/", M("dev/FRUIT")})));
  EXPECT_EQ(ReadPath(M("dev/FRUIT")).bytes, "bbnana");
  EXPECT_EQ(Get("dev/FRUIT"), "bbnana");
  EXPECT_THAT(Versions("dev/FRUIT"), ElementsAre(1, 2));
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "FRUIT"));  // no temporary file left
}

TEST_F(TreeOpsTest, MvAcrossWorkspacesCopiesButRenameIsExdev) {
  Put("dev/MOVING", "travels");
  ASSERT_TRUE(Succeeded(Program({"mv", M("dev/MOVING"), M("prod/MOVING")})));
  EXPECT_EQ(ReadPath(M("prod/MOVING")).bytes, "travels");
  EXPECT_EQ(Get("prod/MOVING"), "travels");
  EXPECT_EQ(ReadPath(M("dev/MOVING")).error, ENOENT);

  Put("dev/STAYS", "here");
  EXPECT_EQ(ErrnoOf(rename(M("dev/STAYS").c_str(), M("prod/STAYS").c_str())), EXDEV);
  EXPECT_EQ(ReadPath(M("dev/STAYS")).bytes, "here");
  EXPECT_EQ(ReadPath(M("prod/STAYS")).error, ENOENT);
}

TEST_F(TreeOpsTest, RenameNoReplaceOntoALiveKeyIsEexist) {
  Put("dev/SRC", "src");
  Put("dev/DST", "dst");
  EXPECT_EQ(RenameAt2(M("dev/SRC"), M("dev/DST"), RENAME_NOREPLACE), EEXIST);
  EXPECT_EQ(ReadPath(M("dev/SRC")).bytes, "src");
  EXPECT_EQ(ReadPath(M("dev/DST")).bytes, "dst");
  EXPECT_THAT(Versions("dev/DST"), ElementsAre(1));
  // Onto a free name it moves.
  EXPECT_EQ(RenameAt2(M("dev/SRC"), M("dev/FREE"), RENAME_NOREPLACE), 0);
  EXPECT_EQ(ReadPath(M("dev/FREE")).bytes, "src");
}

TEST_F(TreeOpsTest, MkdirAndRmdirManageWorkspaces) {
  ASSERT_EQ(ErrnoOf(mkdir(M("staging").c_str(), 0755)), 0);
  EXPECT_THAT(ListDir(mnt_), ElementsAre("dev", "prod", "staging"));
  const ProcessResult list = Cli({"workspace", "list"});
  EXPECT_THAT(list.out, HasSubstr("staging"));
  EXPECT_TRUE(WritePath(M("staging/KEY"), "v").ok());

  EXPECT_EQ(ErrnoOf(mkdir(M("BAD").c_str(), 0755)), EINVAL);
  EXPECT_EQ(ErrnoOf(mkdir(M("dev").c_str(), 0755)), EEXIST);
  EXPECT_THAT(ListDir(mnt_), Not(Contains("BAD")));

  EXPECT_EQ(ErrnoOf(rmdir(M("staging").c_str())), ENOTEMPTY);  // a live secret
  ASSERT_EQ(ErrnoOf(unlink(M("staging/KEY").c_str())), 0);
  EXPECT_EQ(ErrnoOf(rmdir(M("staging").c_str())), ENOTEMPTY);  // history remains

  ASSERT_EQ(ErrnoOf(mkdir(M("empty").c_str(), 0755)), 0);
  EXPECT_EQ(ErrnoOf(rmdir(M("empty").c_str())), 0);
  EXPECT_THAT(ListDir(mnt_), ElementsAre("dev", "prod", "staging"));
}

TEST_F(TreeOpsTest, ModeOwnerLinksAndDeviceNodesArePermissionErrors) {
  Put("dev/FIXED", "v");
  const std::string f = M("dev/FIXED");
  EXPECT_EQ(ErrnoOf(chmod(f.c_str(), 0600)), EPERM);
  EXPECT_EQ(ErrnoOf(chmod(f.c_str(), 0644)), EPERM);
  EXPECT_EQ(ErrnoOf(chown(f.c_str(), 1234, static_cast<gid_t>(-1))), EPERM);
  EXPECT_EQ(ErrnoOf(chown(f.c_str(), static_cast<uid_t>(-1), 1234)), EPERM);
  EXPECT_EQ(ErrnoOf(link(f.c_str(), M("dev/HARD").c_str())), EPERM);
  EXPECT_EQ(ErrnoOf(symlink("FIXED", M("dev/SOFT").c_str())), EPERM);
  EXPECT_EQ(ErrnoOf(mknod(M("dev/FIFO").c_str(), S_IFIFO | 0600, 0)), EPERM);
  EXPECT_EQ(ErrnoOf(mknod(M("dev/NODE").c_str(), S_IFREG | 0600, 0)), EPERM);
  EXPECT_TRUE(FailedCleanly(Program({"chmod", "600", f})));
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "FIXED"));
  struct stat st {};
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_THAT(Versions("dev/FIXED"), ElementsAre(1));
}

TEST_F(TreeOpsTest, VersionFilesReadOldValuesAndRefuseWrites) {
  Put("dev/HIST", "one");
  Put("dev/HIST", "two");
  Put("dev/HIST", "three");
  EXPECT_THAT(ListDir(M("dev/.versions")), ElementsAre("HIST"));
  EXPECT_THAT(ListDir(M("dev/.versions/HIST")), ElementsAre("1", "2", "3"));
  EXPECT_EQ(ReadPath(M("dev/.versions/HIST/1")).bytes, "one");
  EXPECT_EQ(ReadPath(M("dev/.versions/HIST/2")).bytes, "two");
  EXPECT_EQ(ReadPath(M("dev/.versions/HIST/3")).bytes, "three");
  EXPECT_EQ(ReadPath(M("dev/.versions/HIST/4")).error, ENOENT);

  const std::string v1 = M("dev/.versions/HIST/1");
  auto refused = [](int e) { return e == EACCES || e == EPERM || e == EROFS; };
  EXPECT_PRED1(refused, WritePath(v1, "x", O_WRONLY | O_TRUNC).open_error);
  EXPECT_PRED1(refused, WritePath(v1, "x", O_WRONLY | O_APPEND).open_error);
  EXPECT_PRED1(refused, WritePath(v1, "x", O_RDWR).open_error);
  EXPECT_PRED1(refused, WritePath(M("dev/.versions/HIST/9"), "x").open_error);
  EXPECT_PRED1(refused, ErrnoOf(truncate(v1.c_str(), 0)));
  EXPECT_PRED1(refused, ErrnoOf(unlink(v1.c_str())));
  EXPECT_NE(ErrnoOf(rename(v1.c_str(), M("dev/STOLEN").c_str())), 0);
  EXPECT_NE(ErrnoOf(rmdir(M("dev/.versions/HIST").c_str())), 0);
  EXPECT_EQ(ReadPath(v1).bytes, "one");
  EXPECT_THAT(Versions("dev/HIST"), ElementsAre(1, 2, 3));
  EXPECT_EQ(ReadPath(M("dev/STOLEN")).error, ENOENT);
}

TEST_F(TreeOpsTest, GetfattrDumpsTheMetadata) {
  Put("dev/META", "v");
  const ProcessResult r = Program({"getfattr", "-d", M("dev/META")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* attr :
       {"version", "created", "updated", "updated_by", "description", "tags", "type"})
    EXPECT_THAT(r.out, HasSubstr(std::string("user.secretfs.") + attr)) << r.out;
  EXPECT_THAT(r.out, HasSubstr("user.secretfs.version=\"1\""));
  EXPECT_EQ(GetXattr(M("dev/META"), "user.secretfs.version"), "1");
  EXPECT_FALSE(GetXattr(M("dev/META"), "user.secretfs.created").empty());
  EXPECT_FALSE(GetXattr(M("dev/META"), "user.secretfs.updated").empty());
  EXPECT_FALSE(GetXattr(M("dev/META"), "user.secretfs.updated_by").empty());
  int error = 0;
  GetXattr(M("dev/META"), "user.secretfs.nonexistent", &error);
  EXPECT_EQ(error, ENODATA);
}

TEST_F(TreeOpsTest, SetfattrEditsDescriptionTagsAndType) {
  Put("dev/DB_URL", "postgres://");
  const std::string f = M("dev/DB_URL");
  ASSERT_TRUE(Succeeded(
      Program({"setfattr", "-n", "user.secretfs.description", "-v", "Payments database", f})));
  ASSERT_TRUE(
      Succeeded(Program({"setfattr", "-n", "user.secretfs.tags", "-v", "team=pay,env=prod", f})));
  ASSERT_TRUE(Succeeded(Program({"setfattr", "-n", "user.secretfs.type", "-v", "database", f})));

  const ProcessResult r =
      Program({"getfattr", "-n", "user.secretfs.description", "--only-values", f});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "Payments database");
  EXPECT_EQ(GetXattr(f, "user.secretfs.tags"), "env=prod,team=pay");
  EXPECT_EQ(GetXattr(f, "user.secretfs.type"), "database");
  const ProcessResult dump = Program({"getfattr", "-d", f});
  EXPECT_THAT(dump.out, HasSubstr("user.secretfs.type=\"database\""));

  // An unknown type is refused; metadata edits make no new version.
  EXPECT_EQ(ErrnoOf(setxattr(f.c_str(), "user.secretfs.type", "bogus", 5, 0)), EINVAL);
  EXPECT_EQ(GetXattr(f, "user.secretfs.type"), "database");
  // A tag given twice: which value was meant is unclear, so nothing changes.
  EXPECT_EQ(ErrnoOf(setxattr(f.c_str(), "user.secretfs.tags", "env=dev,env=prod", 16, 0)), EINVAL);
  EXPECT_EQ(GetXattr(f, "user.secretfs.tags"), "env=prod,team=pay");
  EXPECT_NE(ErrnoOf(setxattr(f.c_str(), "user.secretfs.version", "9", 1, 0)), 0);
  EXPECT_EQ(GetXattr(f, "user.secretfs.version"), "1");
  EXPECT_THAT(Versions("dev/DB_URL"), ElementsAre(1));
  EXPECT_EQ(ReadPath(f).bytes, "postgres://");
}

// A name the naming rules refuse is refused before the caller's role is known (the check needs a
// valid name), so anyone who sees the mount can make such requests: their warning is logged at
// most every 10 s, or a loop of `mkdir 'bad name'` would fill the journal and its rate limit
// would drop the daemon's real errors.
TEST_F(TreeOpsTest, RefusedNamesAreLoggedAtMostEveryTenSeconds) {
  const std::string point = Local("flooded");
  ASSERT_EQ(mkdir(point.c_str(), 0755), 0);
  int refused = 0;
  std::thread flood([&] {
    for (int i = 0; i < 200 && MountedType(point).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 0; i < 100; ++i) {
      refused +=
          mkdir((point + "/bad name " + std::to_string(i)).c_str(), 0755) != 0 && errno == EINVAL;
      refused += creat((point + "/prod/bad name " + std::to_string(i)).c_str(), 0600) < 0 &&
                 errno == EINVAL;
    }
  });
  const ProcessResult r =
      Spawn({SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "mount", point, "-f"}, "",
            {}, std::chrono::seconds(3));
  flood.join();
  EXPECT_TRUE(ForceUnmount(point, 0));
  EXPECT_EQ(refused, 200) << "every bad name is still refused with EINVAL";
  size_t warnings = 0;
  for (size_t at = r.err.find("(refused names are logged at most every 10 s)");
       at != std::string::npos; at = r.err.find("(refused names", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << r.err;
}

}  // namespace
}  // namespace secretfs::testing
