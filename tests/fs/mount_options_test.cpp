// Mount options from -o lists and config files: what is applied, what is passed to libfuse, and
// what is refused.
#include "fs/mount_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace secretfs::fs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::string_literals;

class MountOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/mount_options_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // A config file holding exactly `text` (NUL bytes too).
  std::string Config(const std::string& text) {
    const std::string path = dir_ + "/mount.ini";
    std::ofstream(path, std::ios::binary) << text;
    EXPECT_EQ(chmod(path.c_str(), 0644), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(MountOptionsTest, AConfigFileWithANulByteIsRefusedNamingItsFileAndLine) {
  const std::string path = Config("[mount]\nallow_other = yes\n\0\nro = yes\nbogus_option = 1\n"s);
  MountOptions o;
  const Status s = ApplyConfigFile(path, o);
  EXPECT_EQ(s.code(), EINVAL);
  EXPECT_THAT(s.message(), HasSubstr("config file " + path + " line 3: a NUL byte"));

  MountOptions mid_line;
  EXPECT_THAT(ApplyConfigFile(Config("ro = yes\0no\n"s), mid_line).message(),
              HasSubstr("line 1: a NUL byte"));
}

// mount(8), fstab and systemd hand these to the mount helper; libfuse refuses them.
TEST_F(MountOptionsTest, OptionsForMountAndFstabAreAcceptedAndNotPassedToLibfuse) {
  MountOptions o;
  ASSERT_TRUE(ApplyOptionList("nofail,_netdev,users,user,nouser,noauto,auto,defaults,rw,"
                              "x-systemd.automount,x-systemd.device-timeout=10s,user=bob,"
                              "allow_other,nosuid",
                              o)
                  .ok());
  EXPECT_THAT(o.fuse_options, ElementsAre("allow_other", "nosuid"));

  MountOptions from_file;
  const Status s = ApplyConfigFile(
      Config("[mount]\nnofail = yes\n_netdev = yes\nnoauto = 1\nx-systemd.automount = yes\n"),
      from_file);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_THAT(from_file.fuse_options, IsEmpty());
}

// As a config file's `allow_other = no`: libfuse takes no value and refused `allow_other=0`.
TEST_F(MountOptionsTest, AFlagGivenAValueWithDashOTakesTheSameYesAndNoAsAConfigFile) {
  MountOptions o;
  ASSERT_TRUE(ApplyOptionList("allow_other=0,nosuid=no,nodev=false,noexec=1,noatime=yes", o).ok());
  EXPECT_THAT(o.fuse_options, ElementsAre("noexec", "noatime"));

  MountOptions bad;
  const Status s = ApplyOptionList("allow_other=maybe", bad);
  EXPECT_EQ(s.code(), EINVAL);
  EXPECT_THAT(s.message(), HasSubstr("allow_other=maybe: takes no value, or yes or no"));
}

TEST_F(MountOptionsTest, NumericOptionsAreReadAsDecimalNumbersOnly) {
  MountOptions o;
  ASSERT_TRUE(
      ApplyOptionList("entry_timeout=2.5,attr_timeout=0,stop_grace=10.,max_read=131072", o).ok());
  EXPECT_EQ(o.entry_timeout, 2.5);
  EXPECT_EQ(o.attr_timeout, 0);
  EXPECT_EQ(o.stop_grace, 10);
  EXPECT_THAT(o.fuse_options, ElementsAre("max_read=131072"));

  for (const char* bad : {"entry_timeout=0x10", "attr_timeout=1e1", "entry_timeout= 1",
                          "entry_timeout=+1", "stop_grace=inf", "attr_timeout=.",
                          "attr_timeout=1.2.3", "max_read=0x10", "max_read=-1", "max_read=1e6"}) {
    MountOptions m;
    const Status s = ApplyOptionList(bad, m);
    EXPECT_EQ(s.code(), EINVAL) << bad;
    EXPECT_THAT(s.message(), HasSubstr(bad)) << bad;
  }
}

}  // namespace
}  // namespace secretfs::fs
