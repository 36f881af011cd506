// secretfs policy check: the decision, its reason and its exit code (0 allowed, 1 denied or a bad
// policy file, 2 usage), without a store.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class PolicyCheckTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    policy_ = Path("policy.ini");
    WriteFileBytes(policy_,
                   "[*]\n"                                   // 1
                   "uid:0 = owner\n"                         // 2
                   "[prod]\n"                                // 3
                   "gid:4321 = admin\n"                      // 4
                   "uid:1002 = member\n"                     // 5
                   "uid:1001 = reader DATABASE_URL API_*\n"  // 6
                   "exe:/usr/sbin/nginx = reader TLS_*\n");  // 7
  }

  // secretfs policy check ARGS under `policy` (none: no --policy), never with $SECRETFS_POLICY
  // from the test's environment.
  ProcessResult Check(std::vector<std::string> args, const std::string& policy = "use-default",
                      ProcessOptions options = {}) const {
    std::vector<std::string> all = {"policy", "check"};
    if (policy == "use-default") {
      all.insert(all.end(), {"--policy", policy_});
    } else if (!policy.empty()) {
      all.insert(all.end(), {"--policy", policy});
    }
    all.insert(all.end(), args.begin(), args.end());
    if (!options.env.contains("SECRETFS_POLICY")) options.unset_env.push_back("SECRETFS_POLICY");
    options.env["SECRETFS_STORE"] = store_;  // does not exist: the command must not need it
    return RunRaw(all, std::move(options));
  }

  void TearDown() override {
    EXPECT_FALSE(std::filesystem::exists(store_)) << "policy check created the store";
    CliTest::TearDown();
  }

  std::string policy_;
};

TEST_F(PolicyCheckTest, AllowedExitsZeroAndNamesTheRule) {
  const ProcessResult r = Check({"--uid", "1001", "--gid", "1001", "prod/DATABASE_URL", "read"});
  ASSERT_TRUE(Succeeded(r));
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], "allowed: uid 1001 may read prod/DATABASE_URL");
  EXPECT_EQ(lines[1], "role: reader, from " + policy_ + ":6: uid:1001 = reader DATABASE_URL API_*");
  EXPECT_EQ(lines[2], "caps: none");
}

// The form docs/policy.md shows: the global --policy FILE before the subcommand.
TEST_F(PolicyCheckTest, GlobalPolicyOptionBeforeTheCommandWorks) {
  ProcessOptions options;
  options.unset_env.push_back("SECRETFS_POLICY");
  options.env["SECRETFS_STORE"] = store_;
  const ProcessResult r = RunRaw({"--policy", policy_, "policy", "check", "--uid", "1001", "--gid",
                                  "1001", "prod/DATABASE_URL", "read"},
                                 options);
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(r.out, StartsWith("allowed: uid 1001 may read prod/DATABASE_URL\n"));
}

TEST_F(PolicyCheckTest, DeniedExitsOne) {
  ProcessResult r = Check({"--uid", "1001", "--gid", "1001", "prod/DATABASE_URL", "write"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("denied: uid 1001 may not write prod/DATABASE_URL\nrole: reader"));
  // A key outside the rule's globs: no role at all.
  r = Check({"--uid", "1001", "--gid", "1001", "prod/OTHER", "read"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\nrole: none (no rule matches)\n"));
  // member is write-only.
  r = Check({"--uid", "1002", "--gid", "1002", "prod/OTHER", "read"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Succeeded(Check({"--uid", "1002", "--gid", "1002", "prod/OTHER", "write"})));
}

TEST_F(PolicyCheckTest, CapsIntersectAndSayWhatTheyRemoved) {
  ProcessResult r = Check({"--uid", "1002", "--gid", "1002", "--role", "reader", "prod/K", "list"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(r.out, HasSubstr("\ncaps: role=reader removed write\n"));
  // member capped by role=reader may not read: the cap never adds anything.
  r = Check({"--uid", "1002", "--gid", "1002", "--role", "reader", "prod/K", "read"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  r = Check({"--uid", "0", "--ro", "prod/K", "write"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\ncaps: ro removed write, manage-workspaces, own\n"));
  EXPECT_TRUE(Succeeded(Check({"--uid", "0", "--ro", "prod/K", "read"})));
}

TEST_F(PolicyCheckTest, Json) {
  const ProcessResult r = Check(
      {"--uid", "1002", "--gid", "1002", "--role", "reader", "--json", "prod/API_KEY", "write"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("allowed"), false);
  EXPECT_EQ(j.at("role"), "member");
  EXPECT_EQ(j.at("rule"), policy_ + ":5: uid:1002 = member");
  EXPECT_EQ(j.at("caps"), nlohmann::json::array({"role=reader"}));
  EXPECT_EQ(j.at("workspace"), "prod");
  EXPECT_EQ(j.at("key"), "API_KEY");
  EXPECT_EQ(j.at("op"), "write");
  EXPECT_EQ(j.at("uid"), 1002);
}

TEST_F(PolicyCheckTest, GroupsExeAndWorkspaceOperations) {
  EXPECT_TRUE(Succeeded(Check(
      {"--uid", "1005", "--gid", "1005", "--groups", "7,4321", "prod", "manage-workspaces"})));
  EXPECT_TRUE(Succeeded(Check({"--uid", "1005", "--gid", "4321", "prod", "manage-workspaces"})));
  EXPECT_EQ(Check({"--uid", "1005", "--gid", "1005", "prod", "manage-workspaces"}).exit_code, 1);

  EXPECT_TRUE(Succeeded(
      Check({"--uid", "33", "--gid", "33", "--exe", "/usr/sbin/nginx", "prod/TLS_KEY", "read"})));
  const ProcessResult r = Check({"--uid", "33", "--gid", "33", "prod/TLS_KEY", "read"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("without --exe they do not match"));
  // A workspace is listed when anything in it is visible to the caller.
  EXPECT_TRUE(Succeeded(Check({"--uid", "1001", "--gid", "1001", "prod", "list"})));
  EXPECT_EQ(Check({"--uid", "1001", "--gid", "1001", "dev", "list"}).exit_code, 1);
}

TEST_F(PolicyCheckTest, WithoutAPolicyTheInvokerAndRootAreOwners) {
  ProcessResult r = Check({"--uid", std::to_string(getuid()), "prod/K", "own"}, "");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(r.out, HasSubstr("\npolicy: (default policy)\n"));
  r = Check({"--uid", "4242", "--gid", "4242", "prod/K", "list"}, "");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Succeeded(Check({"--uid", "root", "prod/K", "own"}, "")));
}

TEST_F(PolicyCheckTest, ThePolicyFromTheEnvironment) {
  ProcessOptions options;
  options.env["SECRETFS_POLICY"] = policy_;
  const ProcessResult r =
      Check({"--uid", "1002", "--gid", "1002", "prod/K", "write"}, "", std::move(options));
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(r.out, HasSubstr("role: member, from " + policy_ + ":5:"));
}

TEST_F(PolicyCheckTest, ABadPolicyFileIsOneLineWithItsLineNumber) {
  const std::string bad = Path("bad.ini");
  WriteFileBytes(bad, "[prod]\nuid:1 = reader\nuid:2 = superuser\n");
  ProcessResult r = Check({"--uid", "1", "--gid", "1", "prod/K", "read"}, bad);
  ASSERT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, StartsWith("secretfs: policy " + bad + ":3: unknown role 'superuser'"));
  r = Check({"--uid", "1", "--gid", "1", "prod/K", "read"}, Path("missing.ini"));
  ASSERT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr(Path("missing.ini")));
}

TEST_F(PolicyCheckTest, WarningsGoToStderrAndTheDecisionStands) {
  const std::string warned = Path("warned.ini");
  WriteFileBytes(warned, "[prod]\nuid:1001 = viewer\nuser:no-such-user-secretfs = owner\n");
  const ProcessResult r = Check({"--uid", "1001", "--gid", "1001", "prod/K", "list"}, warned);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err, "secretfs: warning: " + warned +
                       ":3: no user no-such-user-secretfs; this rule never matches\n");
  EXPECT_THAT(r.out, StartsWith("allowed: uid 1001 may list prod/K\n"));
}

TEST_F(PolicyCheckTest, UsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--uid", "1", "--gid", "1", "prod/K", "frobnicate"},
      {"--uid", "1", "--gid", "1", "prod/K"},
      {"--gid", "1", "prod/K", "read"},
      {"--uid", "1", "--gid", "1", "--role", "king", "prod/K", "read"},
      {"--uid", "1", "--gid", "1", "Prod/K", "read"},
      {"--uid", "1", "--gid", "1", "prod/.hidden", "read"},
      {"--uid", "1", "--gid", "1", "prod", "read"},  // read needs a key
      {"--uid", "1", "--gid", "1", "prod/K", "manage-workspaces"},
      {"--uid", "no-such-user-secretfs", "prod/K", "read"},
      {"--uid", "4242", "prod/K", "read"},  // no passwd entry, no --gid
      {"--uid", "1", "--gid", "no-such-group-secretfs", "prod/K", "read"},
      {"--uid", "1", "--gid", "1", "--exe", "nginx", "prod/K", "read"},
  };
  for (const auto& args : cases) {
    std::string line;
    for (const auto& a : args) line += " " + a;
    EXPECT_TRUE(FailedWithUsage(Check(args))) << line;
  }
}

}  // namespace
}  // namespace secretfs::testing
