// secretfs audit --follow: prints what is on record, then every new matching event as it is
// committed, by this or any other process, until it is stopped.
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

class AuditFollowTest : public CliTest {};

TEST_F(AuditFollowTest, PrintsEventsCommittedAfterItStartedUntilStopped) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  ASSERT_NO_FATAL_FAILURE(Put("prod/EARLY", "v"));

  // The follower runs until the timeout kills it; meanwhile another process writes twice.
  ProcessOptions options;
  options.timeout = 4s;
  std::thread writer([&] {
    std::this_thread::sleep_for(1500ms);
    Put("prod/LATE", "v");
    Put("prod/OTHER", "v");
  });
  const ProcessResult follow =
      Run({"audit", "--follow", "--json", "--op", "put", "--key", "LATE"}, options);
  writer.join();

  EXPECT_TRUE(follow.timed_out) << "--follow ended by itself: " << Describe(follow);
  const std::vector<std::string> lines = Lines(follow.out);
  ASSERT_EQ(lines.size(), 1u) << follow.out;
  EXPECT_THAT(lines[0], HasSubstr("\"op\":\"put\""));
  EXPECT_THAT(lines[0], HasSubstr("\"key\":\"LATE\""));
  EXPECT_THAT(follow.out, Not(HasSubstr("OTHER")));
}

}  // namespace
}  // namespace secretfs::testing
