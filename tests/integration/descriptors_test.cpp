// The daemon's own descriptors: it keeps a pidfd per recent caller (policy/facts_cache.h), so
// many short-lived callers (every `cat` is a new process) must neither exhaust its open-file
// limit nor cost those callers' audit events their exe and comm.
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ContainsRegex;

class DescriptorsTest : public MountedTest {
 protected:
  // Mounts mnt_ again from a shell that first runs `ulimit ARGS`; the daemon's pid, or 0.
  pid_t RemountUnder(const std::string& ulimit_args) {
    Unmount(mnt_);
    const ProcessResult mounted = Shell("ulimit " + ulimit_args + " && secretfs -s " + store_ +
                                        " -k file:" + key_file_ + " mount " + mnt_);
    EXPECT_TRUE(Succeeded(mounted)) << Describe(mounted);
    if (!Succeeded(mounted)) return 0;
    TrackMount(mnt_);
    return DaemonPid(mnt_);
  }
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t DescriptorsOf(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

TEST_F(DescriptorsTest, ManyShortLivedCallersUnderALowOpenFileLimitAreAllNamed) {
  Put("dev/KEY", "value");
  // Soft and hard limit 96: the daemon cannot raise it, so its cache must stay within it.
  const pid_t daemon = RemountUnder("-n 96");
  ASSERT_NE(daemon, 0);

  // 300 processes within the cache's one-second age limit: more than the limit allows pidfds.
  const ProcessResult cats =
      Shell("for i in $(seq 300); do cat " + M("dev/KEY") + " >/dev/null || exit 1; done");
  ASSERT_TRUE(Succeeded(cats)) << Describe(cats);
  EXPECT_LT(DescriptorsOf(daemon), 96u);

  const ProcessResult audit = Cli({"audit", "--op", "read", "dev/KEY", "--json"});
  ASSERT_TRUE(Succeeded(audit)) << Describe(audit);
  std::istringstream lines(audit.out);
  int reads = 0, unnamed = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["origin"] != "fs") continue;
    ++reads;
    const std::string exe = event["exe"].get<std::string>();
    const bool named = event["comm"] == "cat" && exe.ends_with("/cat");
    unnamed += !named;
    if (!named) ADD_FAILURE() << "an event without its caller's facts: " << line;
    if (unnamed > 3) break;
  }
  EXPECT_EQ(reads, 300);
  EXPECT_EQ(unnamed, 0);
}

TEST_F(DescriptorsTest, TheDaemonTakesItsHardOpenFileLimit) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max <= 256)
    GTEST_SKIP() << "the hard open-file limit leaves nothing to raise";
  const pid_t daemon = RemountUnder("-Sn 256");
  ASSERT_NE(daemon, 0);
  const std::string hard = std::to_string(limit.rlim_max);
  EXPECT_THAT(ReadText("/proc/" + std::to_string(daemon) + "/limits"),
              ContainsRegex("Max open files +" + hard + " +" + hard));
}

}  // namespace
}  // namespace secretfs::testing
