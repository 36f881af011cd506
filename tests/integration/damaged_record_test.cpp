// One damaged secret record fails that secret alone (SPEC §11): the workspace still lists and
// opens, the other secrets read through the mount and the CLI, and the damaged one is named.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/cli/record_locator.h"
#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class DamagedRecordTest : public MountedTest {
 protected:
  // Flips the first byte of dev/KEY's metadata record (its format byte) in data.mdb, with no
  // secretfs process holding the store.
  void DamageMetadataOf(const std::string& key) {
    ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
    const auto record = LocateSecretRecord(store_, "dev", key);
    ASSERT_TRUE(record);
    const int fd = open((store_ + "/data.mdb").c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << strerror(errno);
    char byte = 0;
    const off_t at = static_cast<off_t>(record->offset);
    ASSERT_EQ(pread(fd, &byte, 1, at), 1);
    byte = static_cast<char>(byte ^ 0x5A);
    ASSERT_EQ(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    const ProcessResult r = MountAt(mnt_);
    ASSERT_TRUE(Succeeded(r)) << Describe(r);
  }
};

TEST_F(DamagedRecordTest, OneDamagedSecretFailsAloneAndIsNamed) {
  Put("dev/ALPHA", "alpha-value");
  Put("dev/BROKEN", "broken-value");
  Put("dev/GAMMA", "gamma-value");
  ASSERT_NO_FATAL_FAILURE(DamageMetadataOf("BROKEN"));

  // The mount: the workspace lists (the damaged name included, as ls(1) shows a file it cannot
  // stat), the others read, the damaged one is EIO.
  EXPECT_THAT(ListDir(M("dev")), ElementsAre(".versions", "ALPHA", "BROKEN", "GAMMA"));
  EXPECT_EQ(ReadPath(M("dev/ALPHA")).bytes, "alpha-value");
  EXPECT_EQ(ReadPath(M("dev/GAMMA")).bytes, "gamma-value");
  EXPECT_EQ(ReadPath(M("dev/BROKEN")).error, EIO);
  struct stat st {};
  EXPECT_EQ(ErrnoOf(stat(M("dev").c_str(), &st)), 0);
  EXPECT_EQ(ErrnoOf(stat(M("dev/BROKEN").c_str(), &st)), EIO);
  const ProcessResult ls = Program({"ls", M("dev")});
  EXPECT_THAT(ls.out, HasSubstr("ALPHA")) << Describe(ls);
  EXPECT_THAT(ls.out, HasSubstr("GAMMA")) << Describe(ls);

  // The CLI: get of the others works; ls lists them and names the damaged one, exit 1.
  EXPECT_EQ(Get("dev/ALPHA"), "alpha-value");
  const ProcessResult get = Cli({"get", "dev/BROKEN"});
  EXPECT_EQ(get.exit_code, 1) << Describe(get);
  const ProcessResult cli_ls = Cli({"ls", "dev"});
  EXPECT_EQ(cli_ls.exit_code, 1) << Describe(cli_ls);
  EXPECT_THAT(cli_ls.out, HasSubstr("ALPHA"));
  EXPECT_THAT(cli_ls.out, HasSubstr("GAMMA"));
  EXPECT_THAT(cli_ls.out, Not(HasSubstr("BROKEN")));
  EXPECT_THAT(cli_ls.err, HasSubstr("dev/BROKEN"));
  EXPECT_THAT(cli_ls.err, HasSubstr("damaged"));

  const ProcessResult workspaces = Cli({"workspace", "list", "--json"});
  EXPECT_EQ(workspaces.exit_code, 1) << Describe(workspaces);
  EXPECT_THAT(workspaces.err, HasSubstr("dev"));
  bool dev_listed = false;
  for (const auto& w : nlohmann::json::parse(workspaces.out))
    if (w.at("name") == "dev") {
      dev_listed = true;
      EXPECT_EQ(w.at("secrets"), 2);
      EXPECT_EQ(w.at("damaged_secrets"), 1);
    }
  EXPECT_TRUE(dev_listed) << workspaces.out;
  const ProcessResult table = Cli({"workspace", "list"});
  EXPECT_EQ(table.exit_code, 1) << Describe(table);
  EXPECT_THAT(table.out, HasSubstr("dev"));
  EXPECT_THAT(table.err, HasSubstr("dev"));

  // env must not start a program with one of its secrets silently missing: it fails, naming it.
  const ProcessResult env = Cli({"env", "dev", "--", "/bin/echo", "started"});
  EXPECT_NE(env.exit_code, 0) << Describe(env);
  EXPECT_THAT(env.out, Not(HasSubstr("started")));
  EXPECT_THAT(env.err, HasSubstr("BROKEN"));

  // statfs counts it among the files (df -i).
  struct statvfs fs {};
  ASSERT_EQ(ErrnoOf(statvfs(mnt_.c_str(), &fs)), 0);
  EXPECT_EQ(fs.f_files - fs.f_ffree, 3u);

  const ProcessResult verify = Cli({"verify"});
  EXPECT_EQ(verify.exit_code, 1) << Describe(verify);
  EXPECT_THAT(verify.out, HasSubstr("dev/BROKEN"));
}

}  // namespace
}  // namespace secretfs::testing
