// put, get, history, rm, undelete, rollback and destroy, run as a user runs them.
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SecretCommandsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  }
};

TEST_F(SecretCommandsTest, PutTwiceThenGetEachVersionAndHistory) {
  ProcessResult r = RunWithInput(
      {"put", "prod/API_KEY", "--description", "payments", "--tag", "team=pay"}, "first-4f9c");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/API_KEY: version 1 (created)\n");
  r = RunWithInput({"put", "prod/API_KEY"}, "second-7b2e");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/API_KEY: version 2\n");

  EXPECT_EQ(Get("prod/API_KEY"), "second-7b2e");
  EXPECT_EQ(Get("prod/API_KEY", "1"), "first-4f9c");
  EXPECT_EQ(Get("prod/API_KEY", "2"), "second-7b2e");

  r = Run({"history", "prod/API_KEY", "--json"});
  ASSERT_TRUE(Succeeded(r));
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc.at("workspace"), "prod");
  EXPECT_EQ(doc.at("key"), "API_KEY");
  EXPECT_EQ(doc.at("version"), 2);
  EXPECT_EQ(doc.at("size"), 11);
  EXPECT_EQ(doc.at("deleted"), false);
  EXPECT_EQ(doc.at("description"), "payments");
  EXPECT_EQ(doc.at("tags"), nlohmann::json({{"team", "pay"}}));
  ASSERT_EQ(doc.at("versions").size(), 2u);
  EXPECT_EQ(doc["versions"][0].at("version"), 1);
  EXPECT_EQ(doc["versions"][0].at("size"), 10);
  EXPECT_EQ(doc["versions"][0].at("current"), false);
  EXPECT_EQ(doc["versions"][1].at("version"), 2);
  EXPECT_EQ(doc["versions"][1].at("size"), 11);
  EXPECT_EQ(doc["versions"][1].at("current"), true);
}

TEST_F(SecretCommandsTest, PlaintextNeverReachesTheStoreFiles) {
  Put("prod/API_KEY", "first-4f9c");
  Put("prod/API_KEY", "second-7b2e");
  Put("prod/OTHER", "third-91d0");
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/OTHER"})));
  const std::string all = AllFileBytesUnder(store_);
  ASSERT_FALSE(all.empty());
  for (const std::string plain : {"first-4f9c", "second-7b2e", "third-91d0"})
    EXPECT_EQ(all.find(plain), std::string::npos) << plain << " is stored in plaintext";
  EXPECT_EQ(all.find(ReadFileBytes(key_file_)), std::string::npos) << "the key file is stored";
}

TEST_F(SecretCommandsTest, EmptyValueRoundTrips) {
  Put("prod/EMPTY", "");
  const ProcessResult r = Run({"get", "prod/EMPTY"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(Versions("prod/EMPTY"), ElementsAre(1));
}

TEST_F(SecretCommandsTest, BinaryValueWithNulBytesRoundTripsThroughStdin) {
  const std::string value = std::string("\0\0lead", 6) + AllByteValues(3) + std::string("\0", 1);
  Put("prod/BLOB", value);
  EXPECT_EQ(Get("prod/BLOB"), value);
}

TEST_F(SecretCommandsTest, BinaryValueWithNulBytesRoundTripsThroughFile) {
  const std::string value = AllByteValues(2) + RandomBytes(1000) + std::string(3, '\0');
  WriteFileBytes(Path("value.bin"), value);
  const ProcessResult r = Run({"put", "prod/BLOB", "--file", Path("value.bin")});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/BLOB: version 1 (created)\n");
  EXPECT_EQ(Get("prod/BLOB"), value);
}

// "--file -" is standard input, as kubectl -f - or gpg read it; a file named "-" is still
// reachable by a path (./- or /dir/-).
TEST_F(SecretCommandsTest, FileDashIsStandardInputAndAPathEndingInDashIsAFile) {
  ProcessOptions piped;
  piped.stdin_bytes = std::string("from-stdin\0\n", 12);
  ProcessResult r = Run({"put", "prod/PIPED", "--file", "-"}, piped);
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(Get("prod/PIPED"), std::string("from-stdin\0\n", 12));

  WriteFileBytes(Path("-"), "from-a-file-named-dash");
  r = Run({"put", "prod/DASH", "--file", Path("-")});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(Get("prod/DASH"), "from-a-file-named-dash");
}

// An operator types a value at the prompt: it must not stay on the screen (or in a terminal's
// scrollback and session logs), and the Enter before Ctrl-D is not part of a password.
TEST_F(SecretCommandsTest, AValueTypedOnTheTerminalIsNotShownAndLosesItsLastNewline) {
  ProcessOptions typing;
  typing.stdin_is_terminal = true;
  typing.timeout = std::chrono::seconds(15);
  typing.terminal = std::vector<TerminalStep>{{"", "typed-9c1e\n\x04"}};
  ProcessResult r = Run({"put", "prod/TYPED"}, typing);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, ::testing::HasSubstr("Value of prod/TYPED (not shown"));
  EXPECT_EQ(r.terminal.find("typed-9c1e"), std::string::npos) << "echoed: " << r.terminal;
  EXPECT_TRUE(r.echo_at_exit) << "the terminal was left with echo off";
  EXPECT_EQ(Get("prod/TYPED"), "typed-9c1e");

  // Several lines (a pasted key): all of them, without the last newline only.
  typing.terminal = std::vector<TerminalStep>{{"", "line-1\nline-2\n\n\x04"}};
  r = Run({"put", "prod/TYPED"}, typing);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Get("prod/TYPED"), "line-1\nline-2\n");

  // Ctrl-C at the prompt stores nothing and gives the terminal its echo back.
  typing.terminal = std::vector<TerminalStep>{{"", "half\x03"}};
  r = Run({"put", "prod/TYPED"}, typing);
  EXPECT_EQ(r.signal, SIGINT) << Describe(r);
  EXPECT_TRUE(r.echo_at_exit);
  EXPECT_THAT(Versions("prod/TYPED"), ElementsAre(1, 2));
}

TEST_F(SecretCommandsTest, ExactlyOneMebibyteIsAccepted) {
  const std::string value = RandomBytes(size_t{1} << 20);
  Put("prod/BIG", value);
  EXPECT_TRUE(Get("prod/BIG") == value) << "the 1 MiB value did not round-trip";
}

TEST_F(SecretCommandsTest, OversizeValueIsRefusedAndThePreviousVersionStays) {
  Put("prod/BIG", "small-3a1");
  ProcessResult r = RunWithInput({"put", "prod/BIG"}, RandomBytes(size_t{2} << 20));
  EXPECT_TRUE(FailedWithOneLine(r));
  WriteFileBytes(Path("over.bin"), RandomBytes((size_t{1} << 20) + 1));
  r = Run({"put", "prod/BIG", "--file", Path("over.bin")});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_EQ(Get("prod/BIG"), "small-3a1");
  EXPECT_THAT(Versions("prod/BIG"), ElementsAre(1));
}

TEST_F(SecretCommandsTest, UnchangedValueMakesNoNewVersion) {
  Put("prod/K", "same-value");
  const ProcessResult r = RunWithInput({"put", "prod/K"}, "same-value");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: version 1 (value unchanged, no new version)\n");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(1));
}

TEST_F(SecretCommandsTest, UnchangedValueStillUpdatesMetadata) {
  Put("prod/K", "same-value", {"--description", "old", "--tag", "a=1", "--tag", "b=2"});
  const ProcessResult r = RunWithInput(
      {"put", "prod/K", "--description", "new", "--tag", "a=", "--type", "database"}, "same-value");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: version 1 (value unchanged, no new version)\n");
  const auto doc = nlohmann::json::parse(Run({"history", "prod/K", "--json"}).out);
  EXPECT_EQ(doc.at("description"), "new");
  EXPECT_EQ(doc.at("type"), "database");
  EXPECT_EQ(doc.at("tags"), nlohmann::json({{"b", "2"}}));
  EXPECT_EQ(doc.at("versions").size(), 1u);
}

TEST_F(SecretCommandsTest, ConcurrentPutsEachGetTheirOwnVersion) {
  constexpr int kWriters = 8;
  std::vector<ProcessResult> results(kWriters);
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i)
    writers.emplace_back([&, i] {
      results[i] = RunWithInput({"put", "prod/K"}, "writer-" + std::to_string(i));
    });
  for (std::thread& t : writers) t.join();
  for (const ProcessResult& r : results) EXPECT_TRUE(Succeeded(r));
  const std::vector<uint64_t> versions = Versions("prod/K");
  ASSERT_EQ(versions.size(), static_cast<size_t>(kWriters));
  std::set<std::string> values;
  for (uint64_t v : versions) values.insert(Get("prod/K", std::to_string(v)));
  EXPECT_EQ(values.size(), static_cast<size_t>(kWriters)) << "a write was lost or duplicated";
  EXPECT_EQ(versions.back(), static_cast<uint64_t>(kWriters));
}

TEST_F(SecretCommandsTest, InvalidKeyNamesAreRefused) {
  const std::string k255(255, 'K');
  const std::vector<std::string> invalid = {"prod/a/b",     "prod/" + std::string(256, 'K'),
                                            "prod/.hidden", "prod/sp ace",
                                            "prod/",        "Prod/K"};
  for (const std::string& path : invalid) {
    EXPECT_TRUE(Refused(RunWithInput({"put", path}, "v"))) << path;
  }
  EXPECT_THAT(Keys("prod"), IsEmpty());
  Put("prod/" + k255, "longest");
  EXPECT_EQ(Get("prod/" + k255), "longest");
}

TEST_F(SecretCommandsTest, EnvNamingWorkspaceTakesOnlyVariableNames) {
  const ProcessResult r = Run({"workspace", "create", "runtime", "--naming", "env"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "created workspace runtime (naming env)\n");
  EXPECT_TRUE(FailedWithOneLine(RunWithInput({"put", "runtime/lower"}, "v")));
  EXPECT_TRUE(Refused(RunWithInput({"put", "runtime/9LIVES"}, "v")));
  EXPECT_TRUE(Refused(RunWithInput({"put", "runtime/A.B"}, "v")));
  EXPECT_THAT(Keys("runtime"), IsEmpty());
  Put("runtime/DATABASE_URL", "postgres://x");
  EXPECT_THAT(Keys("runtime"), ElementsAre("DATABASE_URL"));
}

TEST_F(SecretCommandsTest, RmHidesTheSecretButKeepsItsVersions) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  ProcessResult r = Run({"rm", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: deleted (versions kept; secretfs undelete restores it)\n");
  EXPECT_THAT(Keys("prod"), IsEmpty());
  EXPECT_THAT(Keys("prod", /*deleted=*/true), ElementsAre("K"));
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));
  EXPECT_EQ(Get("prod/K", "1"), "one");
  EXPECT_EQ(Get("prod/K", "2"), "two");

  r = RunWithInput({"put", "prod/K"}, "three");
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out.rfind("prod/K: version 3", 0), 0u) << r.out;
  EXPECT_EQ(Get("prod/K"), "three");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(1, 2, 3));
  EXPECT_THAT(Keys("prod"), ElementsAre("K"));
}

TEST_F(SecretCommandsTest, UndeleteRestoresTheLatestVersion) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/K"})));
  const ProcessResult r = Run({"undelete", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: restored\n");
  EXPECT_EQ(Get("prod/K"), "two");
  EXPECT_THAT(Keys("prod"), ElementsAre("K"));
  EXPECT_THAT(Keys("prod", /*deleted=*/true), IsEmpty());
}

TEST_F(SecretCommandsTest, RollbackWritesVersionNsValueAsANewVersion) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  const ProcessResult r = Run({"rollback", "prod/K", "1"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: version 3 (the value of version 1)\n");
  EXPECT_EQ(Get("prod/K"), "one");
  EXPECT_EQ(Get("prod/K", "2"), "two");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(1, 2, 3));
  EXPECT_TRUE(FailedWithOneLine(Run({"rollback", "prod/K", "9"})));
  EXPECT_THAT(Versions("prod/K"), ElementsAre(1, 2, 3));
}

TEST_F(SecretCommandsTest, DestroyOneOldVersion) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  Put("prod/K", "three");
  const ProcessResult r = Run({"destroy", "prod/K", "--version", "1"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: version 1 destroyed\n");
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K", "--version", "1"})));
  EXPECT_EQ(Get("prod/K", "2"), "two");
  EXPECT_EQ(Get("prod/K"), "three");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(2, 3));
}

TEST_F(SecretCommandsTest, DestroyOfTheCurrentVersionIsRefused) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  EXPECT_TRUE(FailedWithOneLine(Run({"destroy", "prod/K", "--version", "2"})));
  EXPECT_EQ(Get("prod/K"), "two");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(1, 2));
}

TEST_F(SecretCommandsTest, DestroyEverythingLeavesNoTrace) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  Put("prod/KEEP", "kept");
  const ProcessResult r = Run({"destroy", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: destroyed with every version\n");
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K", "--version", "1"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"history", "prod/K"})));
  EXPECT_THAT(Keys("prod"), ElementsAre("KEEP"));
  EXPECT_THAT(Keys("prod", /*deleted=*/true), IsEmpty());
  EXPECT_EQ(Get("prod/KEEP"), "kept");
}

TEST_F(SecretCommandsTest, MissingSecretsAndWorkspacesAreOneLineErrors) {
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/NOPE"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "nope/K"})));
  EXPECT_TRUE(FailedWithOneLine(RunWithInput({"put", "nope/K"}, "v")));
  EXPECT_TRUE(FailedWithOneLine(Run({"rm", "prod/NOPE"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"undelete", "prod/NOPE"})));
  Put("prod/K", "one");
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K", "--version", "2"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"undelete", "prod/K"})));
}

}  // namespace
}  // namespace secretfs::testing
