// Reading and writing secrets through the mount (SPEC §4): what cat, echo, printf, truncate,
// touch and rm do, byte for byte, and how many versions each leaves behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;

using FileOpsTest = MountedTest;

TEST_F(FileOpsTest, CatShowsTheLatestValue) {
  Put("dev/API_KEY", "first");
  Put("dev/API_KEY", "s3cret-9f2c");
  const ProcessResult r = Shell("cat " + M("dev/API_KEY"));
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "s3cret-9f2c");
  struct stat st {};
  ASSERT_EQ(stat(M("dev/API_KEY").c_str(), &st), 0) << strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 11);
  EXPECT_EQ(st.st_mode & 07777, 0640u);  // default umask 0027
}

TEST_F(FileOpsTest, EchoRedirectCreatesExactlyOneVersion) {
  ASSERT_TRUE(Succeeded(Shell("echo -n v1 > " + M("dev/TOKEN"))));
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1));
  EXPECT_EQ(Get("dev/TOKEN"), "v1");

  ASSERT_TRUE(Succeeded(Shell("echo -n second-value > " + M("dev/TOKEN"))));
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2));
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "second-value");
}

// A container bind-mounts a workspace, and its shell writes there as on the host: `>` stores one
// whole version, never an empty one first, and a descriptor kept open with `exec 3>` stores its
// whole value once, at its last close. (The bind mount has a mount id of its own; what the
// daemon matches is the filesystem.)
TEST_F(FileOpsTest, ShellRedirectionsInAContainerStoreOneWholeVersionEach) {
  Put("dev/TOKEN", "v0");
  const auto container = [&](const std::string& script) {
    return Program({"bwrap", "--dev-bind", "/", "/", "--tmpfs", "/run", "--bind", M("dev"),
                    "/run/secrets", "--", "/bin/bash", "-c", script});
  };
  ASSERT_TRUE(Succeeded(container("echo -n v1 > /run/secrets/TOKEN")));
  EXPECT_EQ(Get("dev/TOKEN"), "v1");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2)) << "an empty version was stored first";

  ASSERT_TRUE(
      Succeeded(container("exec 3>/run/secrets/TOKEN; echo one >&3; echo two >&3; exec 3>&-")));
  EXPECT_EQ(Get("dev/TOKEN"), "one\ntwo\n");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2, 3)) << "a partial value was stored";
}

TEST_F(FileOpsTest, EchoAppendBuildsOnTheLatestValue) {
  Put("dev/LIST", "abc");
  ASSERT_TRUE(Succeeded(Shell("echo def >> " + M("dev/LIST"))));
  EXPECT_EQ(Get("dev/LIST"), "abcdef\n");
  EXPECT_THAT(Versions("dev/LIST"), ElementsAre(1, 2));
}

TEST_F(FileOpsTest, WritingTheSameValueMakesNoVersion) {
  Put("dev/SAME", "unchanged");
  ASSERT_TRUE(WritePath(M("dev/SAME"), "unchanged").ok());
  EXPECT_THAT(Versions("dev/SAME"), ElementsAre(1));
}

TEST_F(FileOpsTest, BinaryValueWithNulBytesRoundTrips) {
  const std::string expected("\0lead\0\001\377\n\0tail\0", 15);
  ASSERT_TRUE(
      Succeeded(Shell("printf '\\000lead\\000\\001\\377\\n\\000tail\\000' > " + M("dev/BLOB"))));
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("expected"), expected));
  const ProcessResult cmp = Shell("cmp " + M("dev/BLOB") + " " + Local("expected"));
  EXPECT_TRUE(Succeeded(cmp));
  EXPECT_EQ(ReadPath(M("dev/BLOB")).bytes, expected);
  EXPECT_EQ(Get("dev/BLOB"), expected);
  struct stat st {};
  ASSERT_EQ(stat(M("dev/BLOB").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 15);
}

TEST_F(FileOpsTest, OneMebibyteValueRoundTrips) {
  const std::string value = RandomBytes(size_t{1} << 20);
  const WriteResult w = WritePath(M("dev/BIG"), value);
  ASSERT_TRUE(w.ok()) << w.open_error << "/" << w.write_error << "/" << w.close_error;
  const ReadResult r = ReadPath(M("dev/BIG"));
  ASSERT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == value) << "read back " << r.bytes.size()
                                << " bytes, not the 1 MiB written";
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("big"), value));
  EXPECT_TRUE(Succeeded(Shell("cmp " + M("dev/BIG") + " " + Local("big"))));
  EXPECT_TRUE(Get("dev/BIG") == value);
  EXPECT_THAT(Versions("dev/BIG"), ElementsAre(1));
}

TEST_F(FileOpsTest, OversizeValueFailsWithEfbigAndKeepsThePreviousVersion) {
  Put("dev/LIMITED", "keep-me");
  const WriteResult w = WritePath(M("dev/LIMITED"), std::string((size_t{1} << 20) + 1, 'x'));
  EXPECT_EQ(w.open_error, 0);
  EXPECT_TRUE(w.write_error == EFBIG || w.close_error == EFBIG)
      << "write: " << strerror(w.write_error) << ", close: " << strerror(w.close_error);
  EXPECT_NE(w.close_error, 0) << "close reported success for a value that was not stored";
  EXPECT_EQ(Get("dev/LIMITED"), "keep-me");
  EXPECT_THAT(Versions("dev/LIMITED"), ElementsAre(1));

  // A shell tool sees the failure too.
  EXPECT_TRUE(FailedCleanly(Shell("head -c 1048577 /dev/zero > " + M("dev/LIMITED"))));
  EXPECT_EQ(ReadPath(M("dev/LIMITED")).bytes, "keep-me");
  EXPECT_THAT(Versions("dev/LIMITED"), ElementsAre(1));
}

TEST_F(FileOpsTest, MaxSizeMountOptionSetsTheLimit) {
  ASSERT_NO_FATAL_FAILURE(Remount("max_size=1000"));
  EXPECT_TRUE(WritePath(M("dev/SMALL"), std::string(1000, 'a')).ok());
  const WriteResult w = WritePath(M("dev/SMALL"), std::string(1001, 'b'));
  EXPECT_TRUE(w.write_error == EFBIG || w.close_error == EFBIG)
      << "write: " << strerror(w.write_error) << ", close: " << strerror(w.close_error);
  EXPECT_EQ(Get("dev/SMALL"), std::string(1000, 'a'));
  EXPECT_THAT(Versions("dev/SMALL"), ElementsAre(1));
}

// A value over this mount's max_size (put by the CLI, or before the limit was lowered) reads
// whole, but cannot be built on: an append is EFBIG, where it replaced the value by the bytes
// appended, and a truncate keeps the value's first bytes, where it stored zeros.
TEST_F(FileOpsTest, AValueOverTheMountsMaxSizeIsNotReplacedByAnAppendOrTruncate) {
  const std::string big = "BIGVALUE-0123456789-ABCDEFGHIJ";
  Put("dev/BIG", big);
  ASSERT_NO_FATAL_FAILURE(Remount("max_size=10"));
  EXPECT_EQ(ReadPath(M("dev/BIG")).bytes, big);
  EXPECT_EQ(WritePath(M("dev/BIG"), "TAIL", O_WRONLY | O_APPEND).open_error, EFBIG);
  EXPECT_EQ(WritePath(M("dev/BIG"), "IN", O_WRONLY).open_error, EFBIG) << "a write in place";
  EXPECT_EQ(Get("dev/BIG"), big);
  EXPECT_THAT(Versions("dev/BIG"), ElementsAre(1));

  ASSERT_EQ(ErrnoOf(truncate(M("dev/BIG").c_str(), 5)), 0);
  EXPECT_EQ(Get("dev/BIG"), "BIGVA");
  EXPECT_EQ(ErrnoOf(truncate(M("dev/BIG").c_str(), 11)), EFBIG);
  EXPECT_THAT(Versions("dev/BIG"), ElementsAre(1, 2));
}

// An ftruncate past max_size fails, and so does the close, as for a write past it: nothing of
// that handle is stored (it stored what had been written before the ftruncate).
TEST_F(FileOpsTest, AnFtruncatePastMaxSizeFailsTheCloseAndStoresNothing) {
  Put("dev/KEEP", "keep-me");
  ASSERT_NO_FATAL_FAILURE(Remount("max_size=10"));
  Fd writer(open(M("dev/KEEP").c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(writer.ok()) << strerror(errno);
  ASSERT_EQ(WriteFd(writer.get(), "abc"), 0);
  EXPECT_EQ(ErrnoOf(ftruncate(writer.get(), 11)), EFBIG);
  EXPECT_EQ(WriteFd(writer.get(), "more"), EFBIG) << "the handle has failed";
  EXPECT_EQ(writer.Close(), EFBIG);
  EXPECT_EQ(Get("dev/KEEP"), "keep-me");
  EXPECT_THAT(Versions("dev/KEEP"), ElementsAre(1));
}

// O_APPEND is the descriptor's as it is at each write: fcntl(F_SETFL) may clear or set it after
// the open, as on a local filesystem.
TEST_F(FileOpsTest, AppendFollowsTheDescriptorsFlagAsFcntlSetsIt) {
  Put("dev/DIGITS", "0123456789");
  {
    Fd fd(open(M("dev/DIGITS").c_str(), O_WRONLY | O_APPEND));
    ASSERT_TRUE(fd.ok()) << strerror(errno);
    ASSERT_EQ(fcntl(fd.get(), F_SETFL, 0), 0);
    ASSERT_EQ(pwrite(fd.get(), "XX", 2, 0), 2);
    EXPECT_EQ(fd.Close(), 0);
  }
  EXPECT_EQ(Get("dev/DIGITS"), "XX23456789");
  {
    Fd fd(open(M("dev/DIGITS").c_str(), O_WRONLY));
    ASSERT_TRUE(fd.ok()) << strerror(errno);
    ASSERT_EQ(fcntl(fd.get(), F_SETFL, O_APPEND), 0);
    ASSERT_EQ(WriteFd(fd.get(), "YY"), 0);
    EXPECT_EQ(fd.Close(), 0);
  }
  EXPECT_EQ(Get("dev/DIGITS"), "XX23456789YY");
}

TEST_F(FileOpsTest, TruncateShortensAndEmpties) {
  Put("dev/TRUNC", "abcdef");
  ASSERT_TRUE(Succeeded(Program({"truncate", "-s", "3", M("dev/TRUNC")})));
  EXPECT_EQ(ReadPath(M("dev/TRUNC")).bytes, "abc");
  EXPECT_THAT(Versions("dev/TRUNC"), ElementsAre(1, 2));

  // truncate(2) by path, growing: zero bytes are added.
  ASSERT_EQ(ErrnoOf(truncate(M("dev/TRUNC").c_str(), 5)), 0);
  EXPECT_EQ(ReadPath(M("dev/TRUNC")).bytes, std::string("abc\0\0", 5));
  EXPECT_THAT(Versions("dev/TRUNC"), ElementsAre(1, 2, 3));

  ASSERT_TRUE(Succeeded(Program({"truncate", "-s", "0", M("dev/TRUNC")})));
  EXPECT_EQ(ReadPath(M("dev/TRUNC")).bytes, "");
  EXPECT_EQ(Get("dev/TRUNC"), "");
  EXPECT_THAT(Versions("dev/TRUNC"), ElementsAre(1, 2, 3, 4));
}

TEST_F(FileOpsTest, TouchCreatesAnEmptyVersionOneAndLeavesExistingKeysAlone) {
  ASSERT_TRUE(Succeeded(Program({"touch", M("dev/NEW")})));
  EXPECT_THAT(Versions("dev/NEW"), ElementsAre(1));
  EXPECT_EQ(Get("dev/NEW"), "");
  struct stat st {};
  ASSERT_EQ(stat(M("dev/NEW").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);

  Put("dev/OLD", "value");
  ASSERT_TRUE(Succeeded(Program({"touch", M("dev/OLD")})));
  ASSERT_TRUE(Succeeded(Program({"touch", "-d", "2001-02-03", M("dev/OLD")})));  // utimens
  EXPECT_THAT(Versions("dev/OLD"), ElementsAre(1));
  EXPECT_EQ(ReadPath(M("dev/OLD")).bytes, "value");
}

TEST_F(FileOpsTest, RmThenRecreateContinuesTheNumbering) {
  ASSERT_TRUE(Succeeded(Shell("echo -n a > " + M("dev/CYCLE"))));
  ASSERT_TRUE(Succeeded(Shell("echo -n b > " + M("dev/CYCLE"))));
  ASSERT_TRUE(Succeeded(Program({"rm", M("dev/CYCLE")})));
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions"));
  struct stat st {};
  EXPECT_EQ(stat(M("dev/CYCLE").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(ReadPath(M("dev/CYCLE")).error, ENOENT);
  EXPECT_THAT(ListDir(M("dev/.versions/CYCLE")), ElementsAre("1", "2"));

  ASSERT_TRUE(Succeeded(Shell("echo -n c > " + M("dev/CYCLE"))));
  EXPECT_THAT(Versions("dev/CYCLE"), ElementsAre(1, 2, 3));
  EXPECT_EQ(Get("dev/CYCLE"), "c");
  EXPECT_EQ(ReadPath(M("dev/.versions/CYCLE/1")).bytes, "a");
}

// A workspace that keeps the last 2 versions (`secretfs workspace set`, run while mounted): each
// write through the mount erases the version that falls out, and .versions lists only those
// kept. A reader that opened a version before it was erased reads it to the end.
TEST_F(FileOpsTest, AWorkspaceKeepingTwoVersionsErasesOlderOnesAtEachWrite) {
  for (const char* v : {"a", "b", "c"}) Put("dev/ROLL", v);
  Fd first(open(M("dev/.versions/ROLL/1").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(first.ok()) << strerror(errno);

  ASSERT_TRUE(Succeeded(Cli({"workspace", "set", "dev", "--keep-versions", "2"})));
  EXPECT_THAT(Versions("dev/ROLL"), ElementsAre(2, 3));
  EXPECT_THAT(ListDir(M("dev/.versions/ROLL")), ElementsAre("2", "3"));
  ASSERT_TRUE(Succeeded(Shell("echo -n d > " + M("dev/ROLL"))));
  EXPECT_THAT(Versions("dev/ROLL"), ElementsAre(3, 4));
  EXPECT_THAT(ListDir(M("dev/.versions/ROLL")), ElementsAre("3", "4"));
  EXPECT_EQ(ReadPath(M("dev/.versions/ROLL/2")).error, ENOENT);
  EXPECT_EQ(ReadPath(M("dev/ROLL")).bytes, "d");
  EXPECT_EQ(ReadFd(first.get()).bytes, "a") << "an open reader keeps the version it opened";
}

TEST_F(FileOpsTest, CreateExclusiveOnALiveKeyIsEexist) {
  Put("dev/ONCE", "original");
  const WriteResult w = WritePath(M("dev/ONCE"), "clobber", O_WRONLY | O_CREAT | O_EXCL);
  EXPECT_EQ(w.open_error, EEXIST);
  EXPECT_EQ(Get("dev/ONCE"), "original");

  // A new name, and a deleted one, can be created exclusively.
  EXPECT_TRUE(WritePath(M("dev/FRESH"), "f", O_WRONLY | O_CREAT | O_EXCL).ok());
  ASSERT_TRUE(Succeeded(Cli({"rm", "dev/ONCE"})));
  EXPECT_TRUE(WritePath(M("dev/ONCE"), "again", O_WRONLY | O_CREAT | O_EXCL).ok());
  EXPECT_THAT(Versions("dev/ONCE"), ElementsAre(1, 2));
}

TEST_F(FileOpsTest, InvalidNamesAreEinvalOnCreate) {
  const std::string too_long(256, 'A');
  for (const std::string& name :
       {std::string(".hidden"), too_long, std::string("-dash"), std::string("sp ace")}) {
    const WriteResult w = WritePath(M("dev/" + name), "v", O_WRONLY | O_CREAT | O_TRUNC);
    EXPECT_EQ(w.open_error, EINVAL) << "'" << name.substr(0, 20) << "': " << strerror(w.open_error);
  }
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions"));
  // The longest valid name works.
  const std::string longest(255, 'B');
  EXPECT_TRUE(WritePath(M("dev/" + longest), "v").ok());
  EXPECT_EQ(Get("dev/" + longest), "v");
}

// The kernel keeps a file's attributes for attr_timeout. A writer that looks at its file before
// the close (`cp -a` sets the times, a program calls fstat) gets the size the store still holds,
// and the kernel keeps it: the close that stores the new value must make the next stat, by
// anyone, show the stored size (before, `ls -l` right after `cp -a` showed 0 bytes).
TEST_F(FileOpsTest, StatAfterACloseShowsTheStoredSizeThoughTheWriterLookedWhileWriting) {
  Put("dev/TOKEN", "ab");
  const std::string token = M("dev/TOKEN");
  const std::string longer = "a much longer value";
  int fd = open(token.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, longer.data(), longer.size()), static_cast<ssize_t>(longer.size()));
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0) << strerror(errno);
  ASSERT_EQ(stat(token.c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, static_cast<off_t>(longer.size()));

  const std::string fresh = M("dev/FRESH");
  fd = open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, "abcdef", 6), 6);
  ASSERT_EQ(futimens(fd, nullptr), 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0) << strerror(errno);
  ASSERT_EQ(stat(fresh.c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, 6);

  // The mode the mount gives its files: a mode change is refused (EPERM), and cp -a would fail.
  WriteLocalFile(Local("source"), "copied!");
  ASSERT_EQ(chmod(Local("source").c_str(), 0640), 0) << strerror(errno);
  const ProcessResult r =
      Shell("cp -a " + Local("source") + " " + M("dev/COPY") + " && stat -c %s " + M("dev/COPY"));
  ASSERT_TRUE(Succeeded(r)) << r.err;
  EXPECT_EQ(r.out, "7\n");
  EXPECT_EQ(Get("dev/COPY"), "copied!");
}

// lseek(SEEK_END) asks the daemon for the size, naming the handle (fstat does not): a reader
// whose version was replaced since gets the end of the version it opened (SPEC §4: it keeps that
// version), and a writer the end of what it has written so far, not of the stored value (its
// second write at the end went over its first).
TEST_F(FileOpsTest, SeekToTheEndIsTheEndOfWhatTheHandleReadsOrWrites) {
  Put("dev/K", "0123456789");
  const std::string path = M("dev/K");
  const int reader = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0) << strerror(errno);
  ASSERT_TRUE(WritePath(path, "abcdefghijklmnopqrstuvwxyz").ok());
  EXPECT_EQ(lseek(reader, -5, SEEK_END), 5) << strerror(errno);
  char tail[16] = {};
  EXPECT_EQ(read(reader, tail, sizeof tail), 5);
  EXPECT_STREQ(tail, "56789");
  close(reader);

  const int writer = open(path.c_str(), O_WRONLY | O_CLOEXEC);  // the value, to go on from
  ASSERT_GE(writer, 0) << strerror(errno);
  EXPECT_EQ(lseek(writer, 0, SEEK_END), 26);
  EXPECT_EQ(write(writer, "++", 2), 2);
  EXPECT_EQ(lseek(writer, 0, SEEK_END), 28);
  EXPECT_EQ(write(writer, "--", 2), 2);
  ASSERT_EQ(close(writer), 0) << strerror(errno);
  EXPECT_EQ(Get("dev/K"), "abcdefghijklmnopqrstuvwxyz++--");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, 30);
}

// The kernel keeps the size it was told for attr_timeout, and a secret rotated with the CLI (or
// through another mount) does not reach it. A program that opens the secret then and reads
// st_size bytes (fstat, then read: C readers, a private mmap) must get the whole new value, not
// one cut to the old size; so must a writer that goes on from the value.
TEST_F(FileOpsTest, AnOpenRightAfterARotationWithTheCliSeesTheNewSize) {
  Put("dev/DB_PASS", "short");
  const std::string path = M("dev/DB_PASS");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << strerror(errno);  // kept by the kernel from now
  ASSERT_EQ(st.st_size, 5);
  const std::string rotated = "a-much-longer-rotated-value";
  Put("dev/DB_PASS", rotated);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(fstat(fd, &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, static_cast<off_t>(rotated.size()));
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  EXPECT_EQ(read(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(rotated.size()));
  EXPECT_EQ(bytes, rotated);
  close(fd);

  ASSERT_EQ(stat(path.c_str(), &st), 0) << strerror(errno);
  const std::string again = "rotated-once-more-and-longer-still";
  Put("dev/DB_PASS", again);
  const int writer = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0) << strerror(errno);
  ASSERT_EQ(fstat(writer, &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, static_cast<off_t>(again.size()));
  ASSERT_EQ(close(writer), 0) << strerror(errno);
}

}  // namespace
}  // namespace secretfs::testing
