// secretfs env W [--only GLOB] -- CMD: the child sees exactly the secrets the caller may read, as
// environment variables; each one is audited as a read.
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class EnvCommandTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
    ASSERT_NO_FATAL_FAILURE(Put("prod/DATABASE_URL", "postgres://u:p@db/app"));
    ASSERT_NO_FATAL_FAILURE(Put("prod/API_TOKEN", "tok 8a1f \"quoted\" $x"));
    ASSERT_NO_FATAL_FAILURE(Put("prod/API_SECRET", "s3cr3t"));
  }

  // The variables `env -0` prints in the child: NAME=VALUE entries split at NUL.
  static std::map<std::string, std::string> Vars(const std::string& env0) {
    std::map<std::string, std::string> vars;
    size_t start = 0;
    while (start < env0.size()) {
      size_t end = env0.find('\0', start);
      if (end == std::string::npos) end = env0.size();
      const std::string entry = env0.substr(start, end - start);
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
      start = end + 1;
    }
    return vars;
  }

  // Runs `secretfs env prod EXTRA -- /usr/bin/env -0` with a known environment.
  ProcessResult RunEnv(const std::vector<std::string>& extra = {}, ProcessOptions options = {}) {
    std::vector<std::string> args = {"env", "prod"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--", "/usr/bin/env", "-0"});
    options.env["SECRETFS_TEST_INHERITED"] = "kept";
    return Run(args, options);
  }

  // The audit events `audit --json --op read` lists: "W/K@version" each.
  std::vector<std::string> ReadEvents() {
    ProcessResult r = Run({"audit", "--json", "--op", "read"});
    EXPECT_TRUE(Succeeded(r)) << Describe(r);
    std::vector<std::string> out;
    for (const std::string& line : Lines(r.out)) {
      if (line.empty()) continue;
      const auto e = nlohmann::json::parse(line);
      EXPECT_EQ(e.at("origin"), "cli");
      EXPECT_EQ(e.at("errno"), 0);
      out.push_back(e.at("workspace").get<std::string>() + "/" + e.at("key").get<std::string>() +
                    "@" + std::to_string(e.at("version").get<uint64_t>()));
    }
    return out;
  }

  static std::vector<std::string> Secrets(const std::map<std::string, std::string>& vars) {
    std::vector<std::string> names;
    for (const auto& [name, value] : vars)
      if (name == "DATABASE_URL" || name.starts_with("API_") || name.starts_with("BAD")) {
        names.push_back(name + "=" + value);
      }
    return names;
  }
};

TEST_F(EnvCommandTest, ChildSeesEveryLiveSecretAndTheInheritedEnvironment) {
  ASSERT_NO_FATAL_FAILURE(Put("prod/OLD", "gone"));
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/OLD"})));
  const ProcessResult r = RunEnv();
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  const auto vars = Vars(r.out);
  EXPECT_THAT(Secrets(vars),
              UnorderedElementsAre("DATABASE_URL=postgres://u:p@db/app",
                                   "API_TOKEN=tok 8a1f \"quoted\" $x", "API_SECRET=s3cr3t"));
  EXPECT_EQ(vars.count("OLD"), 0u) << "a deleted secret was injected";
  EXPECT_EQ(vars.at("SECRETFS_TEST_INHERITED"), "kept");
  EXPECT_EQ(vars.count("SECRETFS_KEY"), 0u);
}

TEST_F(EnvCommandTest, OnlyFiltersByGlob) {
  const ProcessResult r = RunEnv({"--only", "API_*"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(Secrets(Vars(r.out)),
              UnorderedElementsAre("API_TOKEN=tok 8a1f \"quoted\" $x", "API_SECRET=s3cr3t"));
}

TEST_F(EnvCommandTest, SecretOverridesInheritedVariable) {
  ProcessOptions options;
  options.env["API_SECRET"] = "from-parent";
  const ProcessResult r = RunEnv({}, options);
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(Vars(r.out).at("API_SECRET"), "s3cr3t");
}

TEST_F(EnvCommandTest, InvalidNamesAndNulValuesAreSkippedWithAWarning) {
  ASSERT_NO_FATAL_FAILURE(Put("prod/tls.crt", "cert"));
  ASSERT_NO_FATAL_FAILURE(Put("prod/1ST", "first"));
  ASSERT_NO_FATAL_FAILURE(Put("prod/BAD_NUL", std::string("a\0b", 3)));
  const ProcessResult r = RunEnv();
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(Secrets(Vars(r.out)),
              UnorderedElementsAre("DATABASE_URL=postgres://u:p@db/app",
                                   "API_TOKEN=tok 8a1f \"quoted\" $x", "API_SECRET=s3cr3t"));
  const auto warnings = Lines(r.err);
  EXPECT_THAT(warnings,
              UnorderedElementsAre(
                  "secretfs: env: skipping prod/1ST: not a valid environment variable name",
                  "secretfs: env: skipping prod/tls.crt: not a valid environment variable name",
                  "secretfs: env: skipping prod/BAD_NUL: the value contains a NUL byte"));
}

// A writer of the workspace (a `member` may write what it cannot read) must not get its code run
// inside CMD: variables that make the loader, a shell or a runtime load code are not injected,
// are not read (no audit event), and the inherited value stays.
TEST_F(EnvCommandTest, VariablesThatLoadOrRunCodeAreNotInjected) {
  const std::string planted = Path("planted.so");
  // The loader's, the shells' and the runtimes' own, and programs that run a command the
  // variable names (git's ssh, less's input filter, an editor, OpenSSL's engines, Lua's init).
  const std::vector<std::string> skipped = {
      "LD_PRELOAD",   "LD_LIBRARY_PATH",   "PATH",     "BASH_ENV", "PYTHONPATH",
      "NODE_OPTIONS", "GIT_SSH_COMMAND",   "LESSOPEN", "EDITOR",   "OPENSSL_CONF",
      "LUA_INIT_5_4", "GIT_CONFIG_GLOBAL", "HOME"};
  for (const std::string& name : skipped) ASSERT_NO_FATAL_FAILURE(Put("prod/" + name, planted));
  // Names that only look like them are injected.
  ASSERT_NO_FATAL_FAILURE(Put("prod/LDAP_PASSWORD", "ldap"));
  ASSERT_NO_FATAL_FAILURE(Put("prod/GIT_TOKEN", "ghp"));
  ProcessOptions options;
  options.env["PATH"] = "/usr/bin:/bin";
  const ProcessResult r = RunEnv({}, options);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto vars = Vars(r.out);
  EXPECT_THAT(Secrets(vars),
              UnorderedElementsAre("DATABASE_URL=postgres://u:p@db/app",
                                   "API_TOKEN=tok 8a1f \"quoted\" $x", "API_SECRET=s3cr3t"));
  EXPECT_EQ(vars.count("LDAP_PASSWORD") ? vars.at("LDAP_PASSWORD") : "", "ldap");
  EXPECT_EQ(vars.count("GIT_TOKEN") ? vars.at("GIT_TOKEN") : "", "ghp");
  for (const auto& [name, value] : vars) EXPECT_NE(value, planted) << name << " was injected";
  EXPECT_EQ(vars.at("PATH"), "/usr/bin:/bin") << "the inherited PATH is kept";
  const auto warnings = Lines(r.err);
  ASSERT_EQ(warnings.size(), skipped.size()) << r.err;
  EXPECT_THAT(warnings, Contains("secretfs: env: skipping prod/LD_PRELOAD: it makes programs load "
                                 "or run code its value names, which a writer of the workspace "
                                 "must not choose (pass it by hand: "
                                 "LD_PRELOAD=$(secretfs get prod/LD_PRELOAD))"));
  EXPECT_THAT(ReadEvents(),
              UnorderedElementsAre("prod/DATABASE_URL@1", "prod/API_TOKEN@1", "prod/API_SECRET@1",
                                   "prod/LDAP_PASSWORD@1", "prod/GIT_TOKEN@1"));
}

TEST_F(EnvCommandTest, UnderAPolicyOnlyReadableKeysAreInjected) {
  const std::string policy = Path("policy.ini");
  WriteFileBytes(policy,
                 "[prod]\nuid:" + std::to_string(getuid()) + " = reader DATABASE_URL API_TOKEN\n");
  const ProcessResult r = RunEnv({"--policy", policy});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(Secrets(Vars(r.out)), UnorderedElementsAre("DATABASE_URL=postgres://u:p@db/app",
                                                         "API_TOKEN=tok 8a1f \"quoted\" $x"));
  // Leaving a key out is not a denial: nothing but the two reads is on record.
  EXPECT_THAT(ReadEvents(), UnorderedElementsAre("prod/DATABASE_URL@1", "prod/API_TOKEN@1"));
}

TEST_F(EnvCommandTest, APolicyWithoutTheWorkspaceRefuses) {
  const std::string policy = Path("policy.ini");
  WriteFileBytes(policy, "[other]\nuid:" + std::to_string(getuid()) + " = owner\n");
  const ProcessResult r = RunEnv({"--policy", policy});
  EXPECT_TRUE(FailedWithOneLine(r)) << Describe(r);
  EXPECT_THAT(ReadEvents(), IsEmpty());
}

TEST_F(EnvCommandTest, EveryInjectedKeyIsAuditedAsARead) {
  ASSERT_NO_FATAL_FAILURE(Put("prod/API_SECRET", "s3cr3t-v2"));
  ASSERT_TRUE(Succeeded(RunEnv()));
  EXPECT_THAT(ReadEvents(),
              UnorderedElementsAre("prod/DATABASE_URL@1", "prod/API_TOKEN@1", "prod/API_SECRET@2"));
}

TEST_F(EnvCommandTest, ExitCodeIsTheCommands) {
  ProcessResult r = Run({"env", "prod", "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << Describe(r);
  r = Run({"env", "prod", "--", "/bin/sh", "-c", "printf %s \"$DATABASE_URL\""});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "postgres://u:p@db/app");
}

TEST_F(EnvCommandTest, CommandNotFoundExits127) {
  const ProcessResult r = Run({"env", "prod", "--", "no-such-command-secretfs"});
  EXPECT_EQ(r.exit_code, 127) << Describe(r);
  EXPECT_EQ(r.err, "secretfs: env: no-such-command-secretfs: not found\n");
}

TEST_F(EnvCommandTest, MissingCommandIsAUsageError) {
  EXPECT_TRUE(FailedWithUsage(Run({"env", "prod"})));
  EXPECT_TRUE(FailedWithUsage(Run({"env", "prod", "--"})));
  EXPECT_TRUE(FailedWithUsage(Run({"env", "--", "/usr/bin/env"})));
}

TEST_F(EnvCommandTest, OptionsAfterTheDashesBelongToTheCommand) {
  const ProcessResult r = Run({"env", "prod", "--only", "DATABASE_URL", "--", "/bin/sh", "-c",
                               "echo \"$0 $1\"", "-k", "--only"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "-k --only\n");
}

TEST_F(EnvCommandTest, UnknownWorkspaceFails) {
  EXPECT_TRUE(FailedWithOneLine(Run({"env", "nope", "--", "/usr/bin/env"})));
}

}  // namespace
}  // namespace secretfs::testing
