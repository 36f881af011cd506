// A writer killed before its close (SPEC §2: nothing partial is ever stored). The kernel closes a
// dying process's files for it, and that close looked like any other: the daemon stored whatever
// the process had written by then, or an empty value after an O_TRUNC open. A value that a
// process opening or writing it died of a signal before committing is now cancelled, and the
// cancellation is an audit event. A process that exits without closing still stores its value.
#include <csignal>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class KilledWriterTest : public MountedTest {
 protected:
  void SetUp() override {
    MountedTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(Put("dev/TOKEN", "orig"));
  }
  // bash -c SCRIPT (quoted for the fixture's sh), with $K the secret's path.
  ProcessResult Bash(const std::string& script) const {
    return Program({"bash", "-c", "K=" + M("dev/TOKEN") + "; " + script});
  }
  void ExpectUnchanged() {
    EXPECT_EQ(Get("dev/TOKEN"), "orig");
    EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1));
    EXPECT_TRUE(Succeeded(Cli({"audit", "verify"})));
  }
  std::string AuditLog() { return Cli({"audit"}).out; }
};

TEST_F(KilledWriterTest, AWriterKilledBeforeItsCloseStoresNothing) {
  const ProcessResult r = Bash("exec 3>\"$K\"; printf part1- >&3; kill -9 $$");
  ASSERT_EQ(r.signal, SIGKILL) << Describe(r);
  ExpectUnchanged();
  EXPECT_THAT(AuditLog(), HasSubstr("write ECANCELED dev/TOKEN"));
  EXPECT_THAT(AuditLog(),
              HasSubstr(R"(detail="killed by signal 9 before its close: nothing stored")"));
}

TEST_F(KilledWriterTest, AShellKilledAfterARedirectionStoresNoEmptyValue) {
  // `exec > f` truncates at open; the commit of that empty value belongs to the close.
  const ProcessResult r = Bash("exec >\"$K\"; sleep 0.1; kill -TERM $$");
  ASSERT_EQ(r.signal, SIGTERM) << Describe(r);
  ExpectUnchanged();
  EXPECT_THAT(AuditLog(), HasSubstr("killed by signal 15"));
}

TEST_F(KilledWriterTest, AChildKilledWhileWritingCancelsTheValueAndItsOpenerIsTold) {
  // The opener lives on and exits normally, as `timeout` does after killing its command.
  const ProcessResult r =
      Bash("exec 3>\"$K\"; bash -c 'printf half >&3; kill -9 $$'; printf more >&3 || echo refused");
  EXPECT_EQ(r.out, "refused\n") << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("Operation canceled"));
  ExpectUnchanged();
}

TEST_F(KilledWriterTest, AWriterThatExitsWithoutClosingStoresItsValue) {
  const ProcessResult r = Bash("exec 3>\"$K\"; printf whole >&3; exit 3");
  ASSERT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_EQ(Get("dev/TOKEN"), "whole");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2));
}

TEST_F(KilledWriterTest, AKilledChildThatOnlyInheritedTheDescriptorCancelsNothing) {
  const ProcessResult r = Bash(
      "exec 3>\"$K\"; sleep 5 & child=$!; printf full >&3; kill -9 $child; wait $child; "
      "exec 3>&-");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Get("dev/TOKEN"), "full");
  EXPECT_THAT(Versions("dev/TOKEN"), ElementsAre(1, 2));
}

}  // namespace
}  // namespace secretfs::testing
