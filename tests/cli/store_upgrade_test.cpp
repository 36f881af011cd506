// The first command on a store of an older format upgrades it (docs/operations.md, "Upgrading")
// and says so once, on stderr, because older versions of secretfs no longer open it afterwards.
#include <sys/stat.h>

#include <filesystem>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

namespace fs = std::filesystem;

class StoreUpgradeTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    // tests/fixtures/store-format-1.mdb: a store as format 1 wrote it (tests/fixtures/README.md).
    const fs::path fixtures = SECRETFS_FIXTURES_DIR;
    ASSERT_EQ(mkdir(store_.c_str(), 0700), 0);
    fs::copy_file(fixtures / "store-format-1.mdb", store_ + "/data.mdb");
    ASSERT_EQ(chmod((store_ + "/data.mdb").c_str(), 0600), 0);  // as a store's own, not git's 0644
    fs::copy_file(fixtures / "store-format-1.keyfile", key_file_,
                  fs::copy_options::overwrite_existing);
    ASSERT_EQ(chmod(key_file_.c_str(), 0600), 0);
  }
};

TEST_F(StoreUpgradeTest, TheFirstCommandUpgradesTheStoreAndSaysSoOnce) {
  const ProcessResult first = Run({"get", "prod/API_KEY"});
  EXPECT_EQ(first.exit_code, 0);
  EXPECT_EQ(first.out, "second-value");
  EXPECT_EQ(first.err, "secretfs: warning: the store at " + store_ +
                           " was upgraded from format 1 to 3; older versions of secretfs no "
                           "longer open it\n");

  const ProcessResult second = Run({"get", "prod/API_KEY", "--version", "1"});
  EXPECT_TRUE(Succeeded(second)) << "the notice is given once";
  EXPECT_EQ(second.out, "first-value");
  EXPECT_TRUE(Succeeded(Run({"verify"})));
}

}  // namespace
}  // namespace secretfs::testing
