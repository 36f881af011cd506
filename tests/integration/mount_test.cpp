// Mounting (SPEC §3, §9, §11): mount options, the mount(8) forms, refusals, statfs, and a
// daemon killed with SIGKILL.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using MountTest = MountedTest;

TEST_F(MountTest, ReadOnlyMountRefusesEveryChangeWithErofsAndStillReads) {
  Put("dev/RO", "readable");
  ASSERT_NO_FATAL_FAILURE(Remount("ro"));
  EXPECT_EQ(ReadPath(M("dev/RO")).bytes, "readable");
  EXPECT_EQ(Shell("cat " + M("dev/RO")).out, "readable");
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "RO"));
  EXPECT_EQ(ReadPath(M("dev/.versions/RO/1")).bytes, "readable");

  const std::string f = M("dev/RO");
  EXPECT_EQ(WritePath(f, "x", O_WRONLY | O_TRUNC).open_error, EROFS);
  EXPECT_EQ(WritePath(f, "x", O_WRONLY | O_APPEND).open_error, EROFS);
  EXPECT_EQ(WritePath(M("dev/NEW"), "x").open_error, EROFS);
  EXPECT_EQ(ErrnoOf(truncate(f.c_str(), 0)), EROFS);
  EXPECT_EQ(ErrnoOf(unlink(f.c_str())), EROFS);
  EXPECT_EQ(ErrnoOf(rename(f.c_str(), M("dev/MOVED").c_str())), EROFS);
  EXPECT_EQ(ErrnoOf(mkdir(M("newws").c_str(), 0755)), EROFS);
  EXPECT_EQ(ErrnoOf(rmdir(M("prod").c_str())), EROFS);
  EXPECT_EQ(ErrnoOf(setxattr(f.c_str(), "user.secretfs.description", "d", 1, 0)), EROFS);
  EXPECT_EQ(ErrnoOf(chmod(f.c_str(), 0600)), EROFS);
  EXPECT_TRUE(FailedCleanly(Shell("echo -n x > " + f)));
  EXPECT_EQ(Get("dev/RO"), "readable");
  EXPECT_THAT(Versions("dev/RO"), ElementsAre(1));
  EXPECT_THAT(ListDir(mnt_), ElementsAre("dev", "prod"));
}

TEST_F(MountTest, WorkspaceMountShowsTheKeysAtTheRoot) {
  Put("dev/DATABASE_URL", "postgres://db");
  Put("prod/OTHER", "not visible");
  ASSERT_NO_FATAL_FAILURE(Remount("workspace=dev"));
  EXPECT_THAT(ListDir(mnt_), ElementsAre(".versions", "DATABASE_URL"));
  EXPECT_EQ(ReadPath(M("DATABASE_URL")).bytes, "postgres://db");
  EXPECT_EQ(ReadPath(M(".versions/DATABASE_URL/1")).bytes, "postgres://db");
  EXPECT_EQ(ReadPath(M("OTHER")).error, ENOENT);
  EXPECT_TRUE(WritePath(M("API_KEY"), "from-container").ok());
  EXPECT_EQ(Get("dev/API_KEY"), "from-container");
}

TEST_F(MountTest, WorkspaceMountOfAMissingWorkspaceIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  const ProcessResult r = MountAt(mnt_, "workspace=nosuch");
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr("nosuch"));
  EXPECT_EQ(MountedType(mnt_), "");
}

TEST_F(MountTest, OwnerAndModeComeFromUidGidAndUmask) {
  Put("dev/OWNED", "v");
  struct stat st {};
  ASSERT_EQ(stat(M("dev/OWNED").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(stat(M("dev").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  ASSERT_NO_FATAL_FAILURE(Remount("uid=1234,gid=2345,umask=077"));
  ASSERT_EQ(stat(M("dev/OWNED").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 2345u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat(M("dev").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(MountTest, ConfigFileHoldsMountOptions) {
  Put("dev/CONF", "v");
  ASSERT_NO_FATAL_FAILURE(
      WriteLocalFile(Local("mount.conf"), "[mount]\nworkspace = dev\nro = yes\n"));
  ASSERT_NO_FATAL_FAILURE(Remount("config=" + Local("mount.conf")));
  EXPECT_EQ(ReadPath(M("CONF")).bytes, "v");
  EXPECT_EQ(WritePath(M("CONF"), "x", O_WRONLY | O_TRUNC).open_error, EROFS);

  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("bad.conf"), "ro = yes\nfrobnicate = 1\n"));
  const ProcessResult r = MountAt(mnt_, "config=" + Local("bad.conf"));
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr("line 2"));
  EXPECT_THAT(r.err, HasSubstr("frobnicate"));
  EXPECT_EQ(MountedType(mnt_), "");

  // inih would parse the tail of an over-long line as a line of its own: refused whole instead.
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(
      Local("long.conf"),
      "[mount]\nworkspace = dev\npolicy = /" + std::string(200, 'p') + " ro = yes\n"));
  const ProcessResult long_line = MountAt(mnt_, "config=" + Local("long.conf"));
  EXPECT_TRUE(FailedCleanly(long_line));
  EXPECT_THAT(long_line.err, HasSubstr("line 3"));
  EXPECT_EQ(MountedType(mnt_), "");

  // A value ro does not know is refused; ro=no is a writable mount, on the command line as in
  // a config file (both were read-only).
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("maybe.conf"), "[mount]\nro = maybe\n"));
  const ProcessResult maybe = MountAt(mnt_, "config=" + Local("maybe.conf"));
  EXPECT_TRUE(FailedCleanly(maybe));
  EXPECT_THAT(maybe.err, HasSubstr("ro=maybe"));
  EXPECT_EQ(MountedType(mnt_), "");
  ASSERT_TRUE(Succeeded(MountAt(mnt_, "ro=no")));
  EXPECT_TRUE(WritePath(M("dev/CONF"), "written").ok());
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("no.conf"), "[mount]\nro = no\n"));
  ASSERT_TRUE(Succeeded(MountAt(mnt_, "config=" + Local("no.conf"))));
  EXPECT_TRUE(WritePath(M("dev/CONF"), "again").ok());
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));

  // Indentation means nothing: an indented line is an option of its own, not more of the value
  // above it (inih's multi-line values, which made an indented `ro = yes` after a flag vanish).
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(
      Local("indented.conf"), "[mount]\n  workspace = dev\nallow_root = no\n    ro = yes\n"));
  ASSERT_TRUE(Succeeded(MountAt(mnt_, "config=" + Local("indented.conf"))));
  EXPECT_EQ(ReadPath(M("CONF")).bytes, "again");
  EXPECT_EQ(WritePath(M("CONF"), "x", O_WRONLY | O_TRUNC).open_error, EROFS);
}

TEST_F(MountTest, ConfigFileHoldsPolicyAndAuditOptions) {
  Put("dev/CONF", "v");
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(Local("policy.ini"), "[*]\nuid:0 = reader\n"));
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(
      Local("mount.conf"), "[mount]\npolicy = " + Local("policy.ini") +
                               "\naudit = buffered\naudit_flush_ms = 20\naudit_list = yes\n"
                               "audit_keep = 365d\n"));
  ASSERT_NO_FATAL_FAILURE(Remount("config=" + Local("mount.conf")));
  EXPECT_EQ(ReadPath(M("dev/CONF")).bytes, "v");                                    // reader reads
  EXPECT_EQ(WritePath(M("dev/CONF"), "x", O_WRONLY | O_TRUNC).open_error, EACCES);  // not write

  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  for (const char* bad :
       {"role=boss", "audit=sometimes", "audit_flush_ms=0", "audit_list=2", "audit_keep=90",
        "audit_keep=-1d", "audit_keep=99999w", "ro=maybe", "ro=2"}) {
    const ProcessResult r = MountAt(mnt_, bad);
    EXPECT_TRUE(FailedCleanly(r)) << bad;
    EXPECT_THAT(r.err, HasSubstr(std::string(bad).substr(0, std::string(bad).find('=')))) << bad;
    EXPECT_EQ(MountedType(mnt_), "") << bad;
  }
}

// Whoever can change the policy or the config file naming it, or replace either in its
// directory, could grant themselves any role: such a file is refused, with what to change.
TEST_F(MountTest, APolicyOrConfigFileAnotherUserCouldChangeIsRefused) {
  Put("dev/CONF", "v");
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  const std::string policy = Local("policy.ini");
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(policy, "[*]\nuid:0 = reader\n"));
  const std::string config = Local("mount.conf");
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(config, "[mount]\npolicy = " + policy + "\n"));

  auto refused = [&](const std::string& options, const std::string& why) {
    const ProcessResult r = MountAt(mnt_, options);
    EXPECT_TRUE(FailedCleanly(r)) << options;
    EXPECT_THAT(r.err, HasSubstr(why)) << options;
    EXPECT_EQ(MountedType(mnt_), "") << options;
  };
  ASSERT_EQ(chmod(config.c_str(), 0666), 0);
  refused("config=" + config, "config file " + config + ": writable by every user (mode 0666)");
  ASSERT_EQ(chmod(config.c_str(), 0644), 0);
  ASSERT_EQ(chown(policy.c_str(), 4321, 0), 0);
  refused("config=" + config, policy + ": owned by uid 4321");
  ASSERT_EQ(chown(policy.c_str(), 0, 0), 0);

  // In a directory every user may write, someone could swap the file for their own.
  const std::string open = Local("open");
  ASSERT_EQ(mkdir(open.c_str(), 0755), 0);
  ASSERT_EQ(chmod(open.c_str(), 0777), 0);
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(open + "/policy.ini", "[*]\nuid:0 = reader\n"));
  refused("policy=" + open + "/policy.ini", "its directory " + open + " is writable by every user");

  // Sticky, like /tmp: only the file's owner may replace it there. Accepted, and in force.
  ASSERT_EQ(chmod(open.c_str(), 01777), 0);
  ASSERT_NO_FATAL_FAILURE(Remount("policy=" + open + "/policy.ini"));
  EXPECT_EQ(ReadPath(M("dev/CONF")).bytes, "v");
  EXPECT_EQ(WritePath(M("dev/CONF"), "x", O_WRONLY | O_TRUNC).open_error, EACCES);
}

// A secret reads as root's 0640 whoever the policy lets write it: a policy kept on a secretfs
// mount would be any writer's to rewrite, and its modes would pass every other check.
TEST_F(MountTest, APolicyFileOnASecretfsMountIsRefused) {
  Put("dev/policy.ini", "[*]\nuid:0 = owner\n");
  const std::string kept = M("dev/policy.ini");
  const std::string why =
      kept + ": on the secretfs mount " + mnt_ + ", where the policy, not the file's mode, says";

  ProcessResult r = Cli({"--policy", kept, "ls", "dev"});
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr(why));

  const std::string other = Local("other");
  ASSERT_EQ(mkdir(other.c_str(), 0755), 0);
  r = MountAt(other, "policy=" + kept);
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr(why));
  EXPECT_EQ(MountedType(other), "");

  // The same text in a file on a disk is accepted.
  const std::string local = Local("policy.ini");
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(local, ReadPath(kept).bytes));
  EXPECT_TRUE(Succeeded(Cli({"--policy", local, "ls", "dev"})));
}

TEST_F(MountTest, StatfsGivesSaneFigures) {
  struct statvfs st {};
  ASSERT_EQ(ErrnoOf(statvfs(mnt_.c_str(), &st)), 0);
  EXPECT_GT(st.f_bsize, 0u);
  EXPECT_GT(st.f_blocks, 0u);
  EXPECT_LE(st.f_bfree, st.f_blocks);
  EXPECT_LE(st.f_bavail, st.f_blocks);
  EXPECT_GE(st.f_namemax, 255u);
  const ProcessResult df = Program({"df", mnt_});
  EXPECT_TRUE(Succeeded(df));
  EXPECT_THAT(df.out, HasSubstr(mnt_));
  EXPECT_TRUE(Succeeded(Program({"df", "-i", M("dev")})));
}

TEST_F(MountTest, MountHelperFormAndMountFuse3Work) {
  Put("dev/VIA_MOUNT", "helper");
  const std::string second = Local("mnt2");
  ASSERT_EQ(mkdir(second.c_str(), 0755), 0);
  // The form mount(8) uses: secretfs STORE MOUNTPOINT -o OPTIONS.
  ProcessResult r = Program({SECRETFS_BINARY, store_, second, "-o", "key=file:" + key_file_});
  ASSERT_TRUE(Succeeded(r));
  TrackMount(second);
  EXPECT_EQ(MountedType(second), "fuse.secretfs");
  EXPECT_EQ(ReadPath(second + "/dev/VIA_MOUNT").bytes, "helper");
  ASSERT_NO_FATAL_FAILURE(Unmount(second));

  // mount -t fuse.secretfs STORE MNT -o key=... runs exactly this (seen with strace), and
  // mount.fuse3 runs `secretfs STORE MNT -o rw,key=...,dev,suid` through /bin/sh and PATH.
  // util-linux mount drops PATH from the helper's environment, so with secretfs built but not
  // installed, the helper is run here the way mount(8) runs it, with the build directory in PATH.
  r = Program(
      {"mount.fuse3", store_, second, "-o", "rw,key=file:" + key_file_, "-t", "fuse.secretfs"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  TrackMount(second);
  EXPECT_EQ(MountedType(second), "fuse.secretfs");
  EXPECT_EQ(ReadPath(second + "/dev/VIA_MOUNT").bytes, "helper");
  EXPECT_TRUE(WritePath(second + "/dev/FROM_FSTAB", "w").ok());
  EXPECT_EQ(Get("dev/FROM_FSTAB"), "w");
  const ProcessResult umount = Program({"umount", second});
  EXPECT_EQ(umount.exit_code, 0) << Describe(umount);
  EXPECT_EQ(MountedType(second), "");
}

// mount(8) itself: its helper finds `secretfs` only in the default PATH, so this runs when that
// `secretfs` is the binary under test (installed by tests/run.sh, or a symlink to the build).
TEST_F(MountTest, MountTypeFuseSecretfsThroughMount8) {
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  bool installed = false;
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    const std::string candidate = std::string(dir) + "/secretfs";
    if (access(candidate.c_str(), X_OK) != 0) continue;
    installed = bytes(candidate) == bytes(SECRETFS_BINARY);
    break;
  }
  if (!installed)
    GTEST_SKIP() << "mount(8) drops PATH for its helpers and the secretfs under test is not in "
                    "the default PATH; MountHelperFormAndMountFuse3Work runs that helper directly";
  Put("dev/VIA_MOUNT", "mount8");
  const std::string second = Local("mnt2");
  ASSERT_EQ(mkdir(second.c_str(), 0755), 0);
  const ProcessResult r =
      Program({"mount", "-t", "fuse.secretfs", store_, second, "-o", "key=file:" + key_file_});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  TrackMount(second);
  EXPECT_EQ(MountedType(second), "fuse.secretfs");
  EXPECT_EQ(ReadPath(second + "/dev/VIA_MOUNT").bytes, "mount8");

  // An fstab line (in a file of the test's own: mount -T reads it instead of /etc/fstab).
  const std::string third = Local("mnt3");
  const std::string fstab = Local("fstab");
  ASSERT_EQ(mkdir(third.c_str(), 0755), 0);
  {
    std::ofstream out(fstab);
    out << store_ << " " << third << " fuse.secretfs noauto,ro,key=file:" << key_file_
        << ",workspace=dev 0 0\n";
  }
  const ProcessResult by_fstab = Program({"mount", "-T", fstab, third});
  ASSERT_EQ(by_fstab.exit_code, 0) << Describe(by_fstab);
  TrackMount(third);
  EXPECT_EQ(MountedType(third), "fuse.secretfs");
  EXPECT_EQ(ReadPath(third + "/VIA_MOUNT").bytes, "mount8") << "workspace=dev is the root";
  EXPECT_EQ(open((third + "/NEW").c_str(), O_WRONLY | O_CREAT, 0600), -1);
  EXPECT_EQ(errno, EROFS) << "ro from the fstab line";
}

TEST_F(MountTest, MountingTwiceOnTheSameMountPointIsRefused) {
  const ProcessResult r = MountAt(mnt_);
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr(mnt_));
  int secretfs_mounts = 0;
  for (const std::string& point : MountPointsUnder(mnt_))
    if (point == mnt_) ++secretfs_mounts;
  EXPECT_EQ(secretfs_mounts, 1);
  EXPECT_EQ(MountedType(mnt_), "fuse.secretfs");
}

// A careless mount point: on the store's directory or above it, the mount hides the store from
// every command ("no store at ..."); inside it, a backup of the directory copies the plaintext.
TEST_F(MountTest, AMountPointOnAboveOrInsideTheStoreIsRefused) {
  Put("dev/TOKEN", "kept");
  const std::string inside = store_ + "/mnt";
  ASSERT_EQ(mkdir(inside.c_str(), 0700), 0);
  const std::string link = Local("store-link");
  ASSERT_EQ(symlink(store_.c_str(), link.c_str()), 0);
  const struct {
    std::string point;
    std::string says;
  } cases[] = {{store_, "is the store's directory"},
               {link, "is the store's directory"},
               {root_, "holds the store " + store_},
               {inside, "is inside the store's directory " + store_}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.point);
    ProcessResult r = MountAt(c.point);
    EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_NE(MountedType(c.point), "fuse.secretfs");
    // The mount(8) helper form too (fstab, mount -t fuse.secretfs).
    r = Program({SECRETFS_BINARY, store_, c.point, "-o", "key=file:" + key_file_});
    EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_NE(MountedType(c.point), "fuse.secretfs");
  }
  EXPECT_EQ(Get("dev/TOKEN"), "kept");
  EXPECT_EQ(ReadPath(M("dev/TOKEN")).bytes, "kept") << "the mount already there is untouched";
}

// The store's path names the mount (fsname=), and libfuse splits its options at commas: a store
// at DIR/s,allow_other turned allow_other on, and the wrong name hid the mount from the checks
// that look for the store's live mounts (keyring rotate).
TEST_F(MountTest, AStorePathWithACommaAddsNoMountOption) {
  const std::string store = Local("s,allow_other");
  const std::string mountpoint = Local("mnt-comma");
  ASSERT_EQ(mkdir(mountpoint.c_str(), 0700), 0) << strerror(errno);
  const std::vector<std::string> cli = {SECRETFS_BINARY, "-s", store, "-k", "file:" + key_file_};
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), cli.begin(), cli.end());
    return Program(args);
  };
  ASSERT_TRUE(Succeeded(run({"init"})));
  const ProcessResult mounted = run({"mount", mountpoint});
  ASSERT_TRUE(Succeeded(mounted)) << Describe(mounted);
  TrackMount(mountpoint);
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(mountinfo, line))
    if (line.find(" " + mountpoint + " ") != std::string::npos) found = line;
  const std::string source = " - fuse.secretfs " + store + " ";
  const size_t at = found.find(source);
  ASSERT_NE(at, std::string::npos) << found << ": not named by its store";
  EXPECT_THAT(found.substr(at + source.size()), Not(HasSubstr("allow_other"))) << found;
  const ProcessResult rotate = run({"keyring", "rotate"});
  EXPECT_EQ(rotate.exit_code, 1) << Describe(rotate);
  EXPECT_THAT(rotate.err, HasSubstr("the store is mounted on " + mountpoint));
}

TEST_F(MountTest, UnknownMountOptionIsRefusedByName) {
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  ProcessResult r = MountAt(mnt_, "ro,frobnicate=3");
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr("frobnicate"));
  EXPECT_EQ(MountedType(mnt_), "");
  // Another type would hide the mount from everything that finds secretfs mounts by it.
  r = MountAt(mnt_, "subtype=other");
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr("always of type fuse.secretfs"));
  EXPECT_EQ(MountedType(mnt_), "");

  r = Program({SECRETFS_BINARY, store_, mnt_, "-o", "key=file:" + key_file_ + ",nosuchopt"});
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_THAT(r.err, HasSubstr("nosuchopt"));
  EXPECT_EQ(MountedType(mnt_), "");
}

TEST_F(MountTest, BadMountOptionValuesAreRefusedWithTheRule) {
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"uid=4294967295", "uid=4294967295: names no user"},
      {"gid=4294967295", "gid=4294967295: names no group"},
      {"uid=-1", "uid=-1: not a number"},
      {"umask=99", "umask=99: not an octal number"},
      {"umask=1000", "umask=1000: not a umask"},
      {"max_size=1e9", "max_size=1e9: not a number"},
      {"audit_flush_ms=0", "audit_flush_ms=0: from 1 to 60000"},
      {"stop_grace=301", "stop_grace=301: from 0 to 300 seconds"},
      {"stop_grace=-1", "stop_grace=-1: not a number of seconds"},
  };
  for (const auto& [options, why] : bad) {
    const ProcessResult r = MountAt(mnt_, options);
    EXPECT_EQ(r.exit_code, 2) << options << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("mount option " + why)) << options;
    EXPECT_EQ(MountedType(mnt_), "") << options;
  }
}

// A killed daemon (SIGKILL, the OOM killer) leaves a dead mount (ENOTCONN). `secretfs mount`
// refused it and named `fusermount3 -u`, so systemd's Restart=on-failure never mounted again:
// the next mount now detaches a dead secretfs mount and serves.
TEST_F(MountTest, AMountOverTheDeadMountOfAKilledDaemonServesAndNoAcknowledgedWriteIsLost) {
  // Writes acknowledged by close() before the kill.
  std::vector<std::pair<std::string, std::string>> written;
  for (int i = 0; i < 5; ++i) {
    const std::string key = "dev/ACK" + std::to_string(i);
    const std::string value = "acknowledged-" + std::to_string(i) + RandomBytes(100);
    ASSERT_TRUE(WritePath(M(key), value).ok());
    written.emplace_back(key, value);
  }
  ASSERT_TRUE(WritePath(M("dev/ACK0"), "overwritten", O_WRONLY | O_TRUNC).ok());
  written[0].second = "overwritten";
  ASSERT_TRUE(Succeeded(Shell("echo -n from-shell > " + M("prod/SHELL"))));
  written.emplace_back("prod/SHELL", "from-shell");

  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0) << "no secretfs daemon serves " << mnt_;
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  // Gone for good, every thread of it: only then has the kernel aborted the connection (a
  // request racing with the abort gets ECONNABORTED instead).
  for (int i = 0; i < 1000 && kill(daemon, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(DaemonPid(mnt_), 0);

  struct stat st {};
  EXPECT_EQ(stat(mnt_.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTCONN);
  const ProcessResult remount = MountAt(mnt_);
  ASSERT_EQ(remount.exit_code, 0) << Describe(remount);
  EXPECT_THAT(remount.err, HasSubstr("whose daemon is gone: detaching it"));
  EXPECT_NE(DaemonPid(mnt_), 0);
  int secretfs_mounts = 0;  // the dead one is gone, not left under the new one
  for (const std::string& point : MountPointsUnder(mnt_))
    if (point == mnt_) ++secretfs_mounts;
  EXPECT_EQ(secretfs_mounts, 1);
  for (const auto& [key, value] : written) {
    EXPECT_EQ(ReadPath(M(key)).bytes, value) << key;
    EXPECT_EQ(Get(key), value) << key;
  }
  EXPECT_THAT(Versions("dev/ACK0"), ElementsAre(1, 2));
}

// libfuse refuses the kernel's INIT when max_read= is below what it asked in fuse_session_new;
// the mount then never serves. A background mount signalled success as soon as mount(2) returned
// and exited 0 with nothing mounted; it now waits until the mount answers.
TEST_F(MountTest, AMountThatFailsAtFuseInitExitsNonZeroAndLeavesNoMount) {
  const std::string other = Local("other");
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0) << strerror(errno);
  const ProcessResult r = MountAt(other, "max_read=1");
  EXPECT_TRUE(FailedCleanly(r)) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("ended before it answered a request"));
  EXPECT_EQ(MountedType(other), "");
  struct stat st {};
  EXPECT_EQ(stat(other.c_str(), &st), 0) << strerror(errno);
}

// Runs last in a plain `integration_test` run, and beside other tests under ctest: no mount made
// by a test process that has finished (and so can no longer clean up) may remain.
TEST(ZzNothingLeftMounted, NoMountOfAFinishedTestProcessRemains) {
  const std::string prefix = (std::filesystem::temp_directory_path() / "secretfs-int-").string();
  for (const std::string& point : MountPointsUnder(prefix)) {
    const pid_t owner = static_cast<pid_t>(std::atol(point.c_str() + prefix.size()));
    if (owner == getpid() || (owner > 0 && kill(owner, 0) == 0)) continue;  // still running
    // The mount table was read before the owner was found gone: a test that unmounted and
    // exited in between left nothing behind. Only a table read now says.
    if (MountedType(point).empty()) continue;
    const std::string root = point.substr(0, point.find('/', prefix.size()));
    const pid_t daemon = DaemonPid(point);
    const std::string test = ReadPath(root + "/test-name").bytes;
    ADD_FAILURE() << point << " is still mounted, left by test process " << owner << " ("
                  << (test.empty() ? "test unknown" : test) << "), served by "
                  << (daemon != 0 ? "daemon " + std::to_string(daemon) : "no daemon");
    EXPECT_TRUE(ForceUnmount(point, daemon));
  }
}

// The daemon's log takes names from files it reads: a control sequence in a policy file's user
// name is shown escaped, never sent to the terminal or syslog as it is. (In the foreground the
// log also goes to stderr, where the test reads it; the daemon is stopped after a second.)
TEST_F(MountTest, DaemonLogEscapesControlCharactersFromThePolicyFile) {
  const std::string policy = Local("escape.ini");
  WriteLocalFile(policy, "[dev]\nuser:evil\x1b[2Jname = reader\n");
  const std::string point = Local("escaped");
  ASSERT_EQ(mkdir(point.c_str(), 0755), 0);
  const ProcessResult r = Spawn({SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "mount",
                                 point, "-f", "-o", "policy=" + policy},
                                "", {}, std::chrono::seconds(1));
  EXPECT_TRUE(ForceUnmount(point, 0));
  EXPECT_THAT(r.err, HasSubstr("evil\\x1b[2Jname")) << Describe(r);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "a raw ESC reached the log";
}

}  // namespace
}  // namespace secretfs::testing
