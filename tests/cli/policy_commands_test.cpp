// The CLI under --policy FILE decides as the mount does: names a caller's rules do not cover are
// left out of listings, and the owner-only actions of SPEC §5 (history destruction, key
// management, the audit log) are refused to admins with EACCES and recorded as denials.
#include <unistd.h>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PolicyCommandsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
    for (const char* key : {"API_KEY", "API_URL", "DB_PASSWORD"})
      ASSERT_NO_FATAL_FAILURE(Put(std::string("prod/") + key, "v"));
    policy_ = Path("policy.ini");
  }

  // secretfs --policy FILE ARGS, FILE holding `rules` for this process's uid.
  ProcessResult RunUnder(const std::string& rules, const std::vector<std::string>& args) {
    std::string text = rules;
    const std::string uid = "uid:" + std::to_string(getuid());
    for (size_t at = text.find("ME"); at != std::string::npos; at = text.find("ME", at))
      text.replace(at, 2, uid);
    WriteFileBytes(policy_, text);
    std::vector<std::string> full = {"--policy", policy_};
    full.insert(full.end(), args.begin(), args.end());
    return Run(full);
  }

  std::string policy_;
};

TEST_F(PolicyCommandsTest, LsShowsOnlyTheKeysTheRulesName) {
  const ProcessResult r = RunUnder("[prod]\nME = reader API_*\n", {"ls", "prod"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("API_KEY"));
  EXPECT_THAT(r.out, HasSubstr("API_URL"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("DB_PASSWORD")));
}

TEST_F(PolicyCommandsTest, OwnerOnlyActionsAreRefusedToAnAdmin) {
  const std::string admin = "[*]\nME = admin\n";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"audit"},
        {"audit", "verify"},
        {"destroy", "prod/API_KEY"},
        {"keyring", "list"},
        {"rekey", "prod"},
        {"workspace", "set", "prod", "--keep-versions", "1"},
        {"workspace", "create", "ops", "--keep-versions", "1"}}) {
    SCOPED_TRACE(args[0] + (args.size() > 1 ? " " + args[1] : ""));
    const ProcessResult r = RunUnder(admin, args);
    EXPECT_TRUE(FailedWithOneLine(r)) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("admin"));
  }
  EXPECT_EQ(Versions("prod/API_KEY"), std::vector<uint64_t>{1}) << "destroy went through";
  // The same commands are an owner's to run.
  const std::string owner = "[*]\nME = owner\n";
  EXPECT_TRUE(Succeeded(RunUnder(owner, {"audit", "verify"})));
  EXPECT_TRUE(Succeeded(RunUnder(owner, {"keyring", "list"})));
  EXPECT_TRUE(Succeeded(RunUnder(owner, {"workspace", "set", "prod", "--keep-versions", "5"})));
  EXPECT_TRUE(Succeeded(RunUnder(owner, {"workspace", "create", "ops", "--keep-versions", "5"})));
  EXPECT_TRUE(Succeeded(RunUnder(admin, {"workspace", "create", "dev"})))
      << "without a limit, creating a workspace stays an admin's action";
  // Each refusal is on record, with its errno.
  const ProcessResult denials = Run({"audit", "--json", "--op", "destroy"});
  ASSERT_TRUE(Succeeded(denials)) << Describe(denials);
  EXPECT_THAT(Lines(denials.out), ElementsAre(HasSubstr("\"errno\":13")));
}

}  // namespace
}  // namespace secretfs::testing
