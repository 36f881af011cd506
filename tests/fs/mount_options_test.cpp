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

using ::testing::HasSubstr;
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

}  // namespace
}  // namespace secretfs::fs
