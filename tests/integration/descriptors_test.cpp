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
using ::testing::HasSubstr;
using ::testing::Not;

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

TEST_F(DescriptorsTest, WritersHoldingTheirHandlesDoNotHoldTheDaemonsDescriptors) {
  // A write handle lives as long as its writer keeps it open, and its commit names the facts
  // read at open. Those facts must not keep the cache's pidfd of an entry it has let go, or
  // writers that hold their handles would take the descriptors the cache bounds itself to.
  Put("dev/KEY", "value");
  const pid_t daemon = RemountUnder("-n 96");
  ASSERT_NE(daemon, 0);
  const std::string ready = Local("ready"), go = Local("go");
  std::filesystem::create_directory(ready);
  // 100 writers, each holding a written handle of its own key until `go` exists (its close at
  // exit commits); meanwhile 50 readers, then the daemon's descriptor count. The writers look
  // for `go` once a second: 100 of them polling faster took the two cores from the readers, and
  // CI killed the test after 60 s. They give up after 2 minutes, should the test be gone.
  const std::string writer = "exec 3>\"$1\"; printf v$2 >&3 && touch " + ready +
                             "/$2; n=0; until [ -e " + go +
                             " ] || [ $n -ge 120 ]; do sleep 1; n=$((n+1)); done";
  const std::string wait_ready = "n=0; while [ $(ls " + ready +
                                 " | wc -l) -lt 100 ] && [ $n -lt 600 ]; do sleep 0.05; "
                                 "n=$((n+1)); done";
  const ProcessResult run =
      Shell("for i in $(seq 100); do sh -c '" + writer + "' _ " + M("dev/W") + "$i $i & done; " +
            wait_ready + "; for i in $(seq 50); do cat " + M("dev/KEY") +
            " >/dev/null || echo cat failed; done; echo descriptors $(ls /proc/" +
            std::to_string(daemon) + "/fd | wc -l); touch " + go + "; wait");
  ASSERT_TRUE(Succeeded(run)) << Describe(run);
  EXPECT_THAT(run.out, Not(HasSubstr("cat failed")));
  const size_t at = run.out.find("descriptors ");
  ASSERT_NE(at, std::string::npos) << run.out;
  EXPECT_LT(std::stoul(run.out.substr(at + 12)), 96u) << run.out;

  for (int i = 1; i <= 100; ++i) {
    const std::string key = "dev/W" + std::to_string(i);
    EXPECT_EQ(ReadPath(M(key)).bytes, "v" + std::to_string(i)) << key;
  }
  // Every commit is named by its writer, and so is every read taken while they held on.
  const ProcessResult audit = Cli({"audit", "--workspace", "dev", "--json"});
  ASSERT_TRUE(Succeeded(audit)) << Describe(audit);
  std::istringstream lines(audit.out);
  int named_writes = 0, named_reads = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["origin"] != "fs" || event["result"] != "ok") continue;
    if (event["op"] == "create")  // a key's first version
      named_writes += event["comm"] == "sh";
    else if (event["op"] == "read" && event["key"] == "KEY")
      named_reads += event["comm"] == "cat";
  }
  EXPECT_EQ(named_writes, 100);
  EXPECT_EQ(named_reads, 50);
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
