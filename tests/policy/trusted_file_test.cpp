// RequireOnlyTrustedWriters on real files and directories: who owns them and who may write them.
// Changing owners needs root; those cases are skipped otherwise.
#include "policy/trusted_file.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace secretfs::policy {
namespace {

using ::testing::HasSubstr;

constexpr uid_t kStranger = 4321;

class TrustedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/trusted_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Dir(const std::string& name, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    EXPECT_EQ(mkdir(path.c_str(), 0700), 0);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);  // past the umask
    return path;
  }
  std::string File(const std::string& path, mode_t mode) {
    std::ofstream(path) << "[*]\nuid:0 = owner\n";
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  // The check as the policy loader makes it: on a descriptor of `path`.
  Status Check(const std::string& path, uid_t trusted = geteuid()) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, path);
    Status s = RequireOnlyTrustedWriters(fd, path, trusted);
    close(fd);
    return s;
  }
  static bool Root() { return geteuid() == 0; }

  std::string dir_;
};

TEST_F(TrustedFileTest, AFileOnlyItsOwnerMayWriteInDirectoriesOnlyRootMayWriteIsAccepted) {
  EXPECT_TRUE(Check(File(dir_ + "/policy.ini", 0644)).ok());
  EXPECT_TRUE(Check(File(dir_ + "/private.ini", 0600)).ok());
  EXPECT_TRUE(Check(File(dir_ + "/readonly.ini", 0400)).ok());
}

TEST_F(TrustedFileTest, AFileEveryUserOrAGroupMayWriteIsRefusedSayingWhatToChange) {
  const Status open = Check(File(dir_ + "/open.ini", 0666));
  EXPECT_EQ(open.code(), EACCES);
  EXPECT_THAT(open.message(), HasSubstr(dir_ + "/open.ini: writable by every user (mode 0666)"));
  EXPECT_THAT(open.message(), HasSubstr("chmod o-w it"));

  if (!Root()) GTEST_SKIP() << "chown needs root";
  const std::string shared = File(dir_ + "/shared.ini", 0664);
  ASSERT_EQ(chown(shared.c_str(), geteuid(), 1234), 0);
  const Status group = Check(shared);
  EXPECT_EQ(group.code(), EACCES);
  EXPECT_THAT(group.message(), HasSubstr("writable by group gid 1234 (mode 0664)"));
  EXPECT_THAT(group.message(), HasSubstr("chmod g-w it"));
  ASSERT_EQ(chown(shared.c_str(), geteuid(), 0), 0);
  EXPECT_TRUE(Check(shared).ok()) << "root's group is root's";
}

TEST_F(TrustedFileTest, AFileOwnedByAnotherUserIsRefusedUnlessThatUserIsTheTrustedOne) {
  if (!Root()) GTEST_SKIP() << "chown needs root";
  const std::string theirs = File(dir_ + "/theirs.ini", 0644);
  ASSERT_EQ(chown(theirs.c_str(), kStranger, 0), 0);
  const Status s = Check(theirs, 0);
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(), HasSubstr("owned by uid 4321, who could grant themselves any role"));
  EXPECT_THAT(s.message(), HasSubstr("make root its owner"));
  EXPECT_TRUE(Check(theirs, kStranger).ok()) << "a daemon run by uid 4321 trusts its own files";
  EXPECT_THAT(Check(theirs, 1000).message(), HasSubstr("make root or uid 1000 its owner"));
}

TEST_F(TrustedFileTest, ADirectoryAboveThatOthersMayWriteIsRefusedUnlessSticky) {
  const std::string open = Dir("open", 0777);
  const Status s = Check(File(open + "/policy.ini", 0644));
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(),
              HasSubstr("its directory " + open + " is writable by every user (mode 0777)"));
  EXPECT_THAT(s.message(), HasSubstr("could replace the file"));

  // Deeper down, the open directory is still above the file.
  const std::string deeper = open + "/etc";
  ASSERT_EQ(mkdir(deeper.c_str(), 0755), 0);
  EXPECT_THAT(Check(File(deeper + "/policy.ini", 0644)).message(),
              HasSubstr("its directory " + open + " is"));

  // Sticky, like /tmp: nobody but the file's owner may remove or replace it there.
  const std::string sticky = Dir("sticky", 01777);
  EXPECT_TRUE(Check(File(sticky + "/policy.ini", 0644)).ok());
}

TEST_F(TrustedFileTest, ADirectoryOwnedByAnotherUserIsRefused) {
  if (!Root()) GTEST_SKIP() << "chown needs root";
  const std::string theirs = Dir("theirs", 0755);
  const std::string file = File(theirs + "/policy.ini", 0644);
  ASSERT_EQ(chown(theirs.c_str(), kStranger, 0), 0);
  const Status s = Check(file, 0);
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(), HasSubstr("its directory " + theirs + " is owned by uid 4321"));
}

TEST_F(TrustedFileTest, TheDirectoriesOfTheNameAndOfTheFileItLinksToAreChecked) {
  // A link from a safe place to a file in an open directory: the open directory counts.
  const std::string open = Dir("open", 0777);
  File(open + "/policy.ini", 0644);
  const std::string safe = Dir("safe", 0755);
  ASSERT_EQ(symlink((open + "/policy.ini").c_str(), (safe + "/policy.ini").c_str()), 0);
  EXPECT_THAT(Check(safe + "/policy.ini").message(), HasSubstr("its directory " + open));

  // A link in an open directory to a safe file: whoever may write there may point it elsewhere.
  File(safe + "/real.ini", 0644);
  EXPECT_TRUE(Check(safe + "/real.ini").ok());
  ASSERT_EQ(symlink((safe + "/real.ini").c_str(), (open + "/link.ini").c_str()), 0);
  EXPECT_THAT(Check(open + "/link.ini").message(), HasSubstr("its directory " + open));
}

// A link to a link: the directory holding the link in the middle is neither above the name nor
// above the file, yet whoever may write there may point the chain elsewhere before a SIGHUP.
TEST_F(TrustedFileTest, TheDirectoryOfEveryLinkOnTheWayIsChecked) {
  const std::string safe = Dir("safe", 0755);
  const std::string open = Dir("open", 0777);
  File(safe + "/real.ini", 0644);
  ASSERT_EQ(symlink((safe + "/real.ini").c_str(), (open + "/link").c_str()), 0);
  ASSERT_EQ(symlink((open + "/link").c_str(), (safe + "/plink").c_str()), 0);
  const Status s = Check(safe + "/plink");
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(), HasSubstr("its directory " + open + " is writable by every user"));

  // The same through a relative link to a directory that holds a link.
  ASSERT_EQ(symlink("../open", (safe + "/via").c_str()), 0);
  EXPECT_THAT(Check(safe + "/via/link").message(), HasSubstr("its directory " + open + " is"));
}

// A deploy that switches `current -> v2` (a link root owns, read relative to its directory) is
// followed as the kernel follows it; a loop of links is refused, not followed for ever.
TEST_F(TrustedFileTest, LinksInTrustedDirectoriesAreFollowedAsTheKernelFollowsThem) {
  const std::string etc = Dir("etc", 0755);
  ASSERT_EQ(mkdir((etc + "/v2").c_str(), 0755), 0);
  File(etc + "/v2/policy.ini", 0644);
  ASSERT_EQ(symlink("v2", (etc + "/current").c_str()), 0);
  ASSERT_EQ(symlink("current/policy.ini", (etc + "/policy.ini").c_str()), 0);
  EXPECT_TRUE(Check(etc + "/current/policy.ini").ok());
  EXPECT_TRUE(Check(etc + "/policy.ini").ok());
  EXPECT_TRUE(Check(etc + "/v2/../current/./policy.ini").ok());

  ASSERT_EQ(symlink("b", (etc + "/a").c_str()), 0);
  ASSERT_EQ(symlink("a", (etc + "/b").c_str()), 0);
  const int fd = open((etc + "/policy.ini").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(RequireOnlyTrustedWriters(fd, etc + "/a", geteuid()).code(), ELOOP);
  close(fd);
}

// The name must still lead to the file that was opened: a link pointed elsewhere between the
// open and the check is not taken for the file checked.
TEST_F(TrustedFileTest, ANameThatNoLongerLeadsToTheOpenFileIsRefused) {
  const std::string etc = Dir("etc", 0755);
  const int fd = open(File(etc + "/one.ini", 0644).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  File(etc + "/two.ini", 0644);
  const Status s = RequireOnlyTrustedWriters(fd, etc + "/two.ini", geteuid());
  close(fd);
  EXPECT_EQ(s.code(), EAGAIN);
  EXPECT_THAT(s.message(), HasSubstr("changed while it was checked"));
}

TEST_F(TrustedFileTest, ADeviceIsCheckedOnlyForItsDirectories) {
  // /dev/null is writable by every user (0666): a regular file like it would be refused.
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(RequireOnlyTrustedWriters(fd, "/dev/null", 0).ok());
  close(fd);
  EXPECT_EQ(Check(dir_).code(), EISDIR) << "a directory is no policy file";
}

// A pty's /dev/pts/N belongs to the user who opened it, and /dev/tty is anyone's terminal:
// whoever types there would write the policy.
TEST_F(TrustedFileTest, ATerminalIsRefusedThoughItIsADevice) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) GTEST_SKIP() << "no ptys here";
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const std::string pts = ptsname(master);
  const int fd = open(pts.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const Status s = RequireOnlyTrustedWriters(fd, pts, geteuid());
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(), HasSubstr(pts + ": a terminal"));
  close(fd);
  close(master);
}

// A device node another user owns is checked as a file is: only root's are exempt.
TEST_F(TrustedFileTest, ADeviceOwnedByAnotherUserIsRefused) {
  if (!Root()) GTEST_SKIP() << "mknod and chown need root";
  const std::string null = dir_ + "/null";
  if (mknod(null.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "no mknod here";
  EXPECT_TRUE(Check(null, kStranger).ok()) << "root's /dev/null";
  ASSERT_EQ(chown(null.c_str(), kStranger, kStranger), 0);
  const Status s = Check(null, 0);
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_THAT(s.message(), HasSubstr("owned by uid 4321"));
}

// A FIFO another user made where the policy path leads (a sticky directory lets anyone add
// names) would feed the daemon any policy: it is checked as a file is, and opening it does not
// wait for a writer, which would hang the mount or the reloader for good.
TEST_F(TrustedFileTest, AFifoIsCheckedAsAFileAndNeverWaitedFor) {
  const std::string fifo = dir_ + "/policy.ini";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto unwritten = ReadTrustedFile(fifo, geteuid(), 1 << 20, "policy file");
  ASSERT_TRUE(unwritten.ok()) << unwritten.status().message();
  EXPECT_EQ(*unwritten, "") << "nobody writes it: empty, at once";
  if (!Root()) GTEST_SKIP() << "chown needs root";
  ASSERT_EQ(chown(fifo.c_str(), kStranger, kStranger), 0);
  auto theirs = ReadTrustedFile(fifo, geteuid(), 1 << 20, "policy file");
  EXPECT_EQ(theirs.status().code(), EACCES);
  EXPECT_THAT(theirs.status().message(), HasSubstr("owned by uid 4321"));
}

// `--policy <(generate-policy)` and `--policy /dev/stdin` still work: an anonymous pipe is the
// caller's own.
TEST_F(TrustedFileTest, APipeOfTheCallersOwnIsRead) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const std::string text = "[*]\nuid:0 = owner\n";
  ASSERT_EQ(write(pipe_fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(pipe_fds[1]);
  auto read = ReadTrustedFile("/proc/self/fd/" + std::to_string(pipe_fds[0]), geteuid(), 1 << 20,
                              "policy file");
  close(pipe_fds[0]);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, text);
}

TEST_F(TrustedFileTest, ReadTrustedFileReadsWhatPassesAndRefusesTheRestOrTooMuch) {
  const std::string path = File(dir_ + "/policy.ini", 0644);
  auto text = ReadTrustedFile(path, geteuid(), 1 << 20, "policy file");
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "[*]\nuid:0 = owner\n");

  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  EXPECT_EQ(ReadTrustedFile(path, geteuid(), 1 << 20, "policy file").status().code(), EACCES);

  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  const std::string big = dir_ + "/big.ini";
  std::ofstream(big) << std::string((1 << 20) + 1, ';');
  auto too_big = ReadTrustedFile(big, geteuid(), 1 << 20, "policy file");
  EXPECT_EQ(too_big.status().code(), EINVAL);
  EXPECT_THAT(too_big.status().message(),
              HasSubstr(big + ": larger than 1 MiB, not a policy file"));

  EXPECT_EQ(ReadTrustedFile(dir_ + "/nope", geteuid(), 1 << 20, "policy file").status().code(),
            ENOENT);
}

}  // namespace
}  // namespace secretfs::policy
