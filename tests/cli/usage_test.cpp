// --help everywhere, and what the argument parser does with bad command lines: exit 2, a
// "secretfs: usage: " message, and nothing touched.
#include <filesystem>
#include <set>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;

// The commands and sub-commands the binary had when these tests were written: the help walk below
// must find at least these.
const std::vector<std::vector<std::string>> kCommands = {
    {},
    {"init"},
    {"workspace"},
    {"workspace", "create"},
    {"workspace", "list"},
    {"workspace", "delete"},
    {"put"},
    {"get"},
    {"ls"},
    {"history"},
    {"rm"},
    {"undelete"},
    {"rollback"},
    {"destroy"},
    {"keyring"},
    {"keyring", "list"},
    {"keyring", "add"},
    {"keyring", "remove"},
    {"backup"},
    {"verify"},
};

class UsageTest : public CliTest {};

// The names a help text lists under "Subcommands:".
std::vector<std::string> ListedSubcommands(const std::string& help) {
  std::vector<std::string> names;
  bool listing = false;
  for (const std::string& line : Lines(help)) {
    if (line == "Subcommands:") {
      listing = true;
    } else if (listing && line.empty()) {
      break;
    } else if (listing && line.size() > 2 && line.compare(0, 2, "  ") == 0 && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    }
  }
  return names;
}

// Walks the command tree from `secretfs --help` down, so commands added later are covered too.
TEST_F(UsageTest, HelpOnEveryCommandExitsZeroWithoutAStore) {
  ProcessOptions options;
  options.env["SECRETFS_STORE"] = store_;  // does not exist; --help must not need it
  std::vector<std::vector<std::string>> pending = {{}};
  std::set<std::vector<std::string>> seen;
  while (!pending.empty()) {
    std::vector<std::string> command = pending.back();
    pending.pop_back();
    seen.insert(command);
    std::string name = "secretfs";
    for (const std::string& word : command) name += " " + word;
    std::vector<std::string> args = command;
    args.push_back("--help");
    const ProcessResult r = RunRaw(args, options);
    EXPECT_TRUE(Succeeded(r)) << name << " --help";
    EXPECT_THAT(r.out, HasSubstr("Usage: " + name)) << name << " --help";
    for (const std::string& sub : ListedSubcommands(r.out)) {
      std::vector<std::string> child = command;
      child.push_back(sub);
      pending.push_back(child);
    }
  }
  for (const auto& command : kCommands) {
    std::string name = "secretfs";
    for (const std::string& word : command) name += " " + word;
    EXPECT_TRUE(seen.contains(command)) << name << " is not listed in any help";
  }
  EXPECT_FALSE(std::filesystem::exists(store_));
}

TEST_F(UsageTest, TopLevelHelpNamesTheGlobalOptionsAndTheirVariables) {
  const ProcessResult r = RunRaw({"--help"});
  ASSERT_TRUE(Succeeded(r));
  for (const char* text : {"--store", "--key", "SECRETFS_STORE", "SECRETFS_KEY"})
    EXPECT_THAT(r.out, HasSubstr(text));
}

TEST_F(UsageTest, BadCommandLinesExitTwoAndTouchNothing) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "one");
  const std::string before = ReadFileBytes(DataFile());
  const std::vector<std::vector<std::string>> bad = {
      {},                                     // no command
      {"frob"},                               // unknown command
      {"workspace"},                          // missing sub-command
      {"workspace", "frob"},                  // unknown sub-command
      {"keyring", "frob"},                    // unknown sub-command
      {"ls", "--frob"},                       // unknown option
      {"get"},                                // missing W/K
      {"get", "prod/K", "extra"},             // one argument too many
      {"put"},                                // missing W/K
      {"history"},                            // missing W/K
      {"rollback", "prod/K"},                 // missing N
      {"workspace", "create"},                // missing W
      {"workspace", "delete"},                // missing W
      {"keyring", "add"},                     // missing --new-key
      {"keyring", "remove"},                  // missing SLOT
      {"keyring", "remove", "one"},           // SLOT not a number
      {"backup"},                             // missing DEST
      {"get", "prod/K", "--version"},         // --version without a value
      {"get", "prod/K", "--version", "x"},    // bad --version values
      {"get", "prod/K", "--version", "0"},    //
      {"get", "prod/K", "--version", "-1"},   //
      {"get", "prod/K", "--version", "1.5"},  //
      {"get", "prod/K", "--version", "1x"},
      {"get", "prod/K", "--version", "18446744073709551616"},  //
      {"destroy", "prod/K", "--version", "abc"},               //
      {"rollback", "prod/K", "zero"},                          //
      {"rollback", "prod/K", "0"},                             //
      {"put", "prod/K", "--tag", "novalue"},                   // a tag without '='
      {"workspace", "create", "x", "--naming", "y"},           // unknown naming rule
      {"init", "--pwhash", "bogus"},                           // unknown Argon2id cost
      {"keyring", "add", "--new-key", "bogus"},                // not a key source
      {"audit", "--since", "9999-12-31"},                      // past 2262: wrapped around to 1816
      {"audit", "--until", "1600-01-01"},                      // before 1677
      {"audit", "prune", "--before", "2300-01-01"},
      {"workspace", "delete", "BAD!NAME"},  // not a workspace name, as for ls and rekey
      {"workspace", "delete", "Prod", "--purge", "--yes"},
      {"ls", "BAD!NAME"},
      {"rekey", "BAD!NAME"},
  };
  for (const auto& args : bad) {
    std::string line;
    for (const std::string& word : args) line += word + " ";
    const ProcessResult r = RunWithInput(args, "two");
    EXPECT_TRUE(FailedWithUsage(r)) << "secretfs " << line;
  }
  EXPECT_TRUE(ReadFileBytes(DataFile()) == before) << "a usage error changed the store";
  EXPECT_EQ(Get("prod/K"), "one");
}

// `--version "$V"` with V unset must not silently mean "the current version" (for get) or
// "every version" (for destroy).
TEST_F(UsageTest, EmptyVersionValueIsRefused) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "one");
  Put("prod/K", "two");
  EXPECT_TRUE(FailedWithUsage(Run({"get", "prod/K", "--version", ""})));
  EXPECT_TRUE(FailedWithUsage(Run({"destroy", "prod/K", "--version", ""})));
  EXPECT_EQ(Get("prod/K", "1"), "one");
  EXPECT_EQ(Get("prod/K"), "two");
}

// A user who mistypes a command should be told which word was not understood.
TEST_F(UsageTest, UnknownCommandIsNamedInTheError) {
  ProcessResult r = RunRaw({"frobnicate"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("frobnicate"));
  r = RunRaw({"workspace", "frobnicate"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("frobnicate"));
}

// Extra words are named in the order they were typed (CLI11's own message reversed them).
TEST_F(UsageTest, ExtraArgumentsAreNamedInTheirOrder) {
  ProcessResult r = RunRaw({"get", "prod/K", "second", "third"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("unexpected arguments: second third"));
  r = RunRaw({"workspace", "list", "stray"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("unexpected argument: stray"));
}

// The mount point may come from the options (mountpoint=, as the systemd unit's config file
// gives it); without either it is a usage error that says what is missing.
TEST_F(UsageTest, MountWithoutAMountPointIsAUsageError) {
  const ProcessResult r = Run({"mount", "-o", "ro"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("MOUNTPOINT"));
  EXPECT_THAT(r.err, HasSubstr("mountpoint="));
}

TEST_F(UsageTest, NoKeySourceAndNoTerminalIsAUsageError) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  const ProcessResult r = RunRaw({"-s", store_, "workspace", "list"});
  EXPECT_TRUE(FailedWithUsage(r));
  EXPECT_THAT(r.err, HasSubstr("-k"));
}

TEST_F(UsageTest, UnknownKeySourceIsAUsageError) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  for (const char* source : {"bogus", "file:", "fd:x", "fd:-1", "tpm:1", "credential:a/b"})
    EXPECT_TRUE(FailedWithUsage(RunRaw({"-s", store_, "-k", source, "workspace", "list"})))
        << source;
}

TEST_F(UsageTest, MissingStoreIsAOneLineError) {
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "list"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));
  EXPECT_FALSE(std::filesystem::exists(store_));
}

// Names in messages are quoted with control bytes escaped; paths must be too, or one error
// becomes several lines (and a path can carry terminal escapes).
TEST_F(UsageTest, ErrorsAboutOddPathsStayOnOneLine) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  const std::string key = "file:" + key_file_;
  EXPECT_TRUE(FailedWithOneLine(RunRaw({"-s", Path("no\nstore"), "-k", key, "workspace", "list"})));
  EXPECT_TRUE(FailedWithOneLine(
      RunRaw({"-s", store_, "-k", "file:" + Path("no\nkey"), "workspace", "list"})));
  EXPECT_TRUE(FailedWithOneLine(RunWithInput({"put", "prod/K", "--file", Path("no\nfile")}, "")));
}

TEST_F(UsageTest, VersionFlagPrintsTheVersion) {
  const ProcessResult r = RunRaw({"--version"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out.rfind("secretfs ", 0), 0u) << r.out;
}

// A command started with its standard descriptors closed (`cmd <&- >&- 2>&-`, or by a parent that
// closed them) got those numbers for the store's files, then wrote its output and errors there:
// the value in plaintext into data.mdb, and a store that no longer opened.
class ClosedDescriptorsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
    ASSERT_NO_FATAL_FAILURE(Put("prod/DB", kValue));
  }
  // secretfs -s STORE -k file:KEY ARGS, started by a shell with `redirections` (`<&- >&-`).
  ProcessResult RunClosed(const std::string& redirections, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     "exec \"$@\" " + redirections,
                                     "sh",
                                     SECRETFS_BINARY,
                                     "-s",
                                     store_,
                                     "-k",
                                     "file:" + key_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, {});
  }
  void ExpectStoreIntact() {
    EXPECT_THAT(AllFileBytesUnder(store_), ::testing::Not(HasSubstr(kValue)));
    EXPECT_TRUE(Succeeded(Run({"verify"})));
    EXPECT_EQ(Get("prod/DB"), kValue);
  }
  static constexpr char kValue[] = "postgres://app:plaintext-9c1e@db";
};

TEST_F(ClosedDescriptorsTest, GetWithStdoutClosedWritesNothingIntoTheStore) {
  EXPECT_EQ(RunClosed("<&- >&-", {"get", "prod/DB"}).exit_code, 0);
  EXPECT_EQ(RunClosed(">&-", {"get", "prod/DB"}).exit_code, 0);
  ExpectStoreIntact();
}

TEST_F(ClosedDescriptorsTest, AnErrorWithStderrClosedWritesNothingIntoTheStore) {
  EXPECT_EQ(RunClosed(">&- 2>&-", {"get", "prod/NOPE"}).exit_code, 1);
  EXPECT_EQ(RunClosed("<&- >&- 2>&-", {"get", "prod/NOPE"}).exit_code, 1);
  EXPECT_EQ(RunClosed("<&- 2>&-", {"get", "prod/NOPE"}).exit_code, 1);
  ExpectStoreIntact();
}

// `secretfs ls --json > f` on a full disk must not exit 0 with f cut short: a script would take
// the short list for the whole one.
TEST_F(ClosedDescriptorsTest, OutputThatCannotBeWrittenFailsTheCommand) {
  const std::vector<std::vector<std::string>> commands = {{"ls", "--json"},
                                                          {"ls", "prod"},
                                                          {"history", "prod/DB", "--json"},
                                                          {"workspace", "list"},
                                                          {"keyring", "list"},
                                                          {"get", "prod/DB"},
                                                          {"audit"},
                                                          {"verify"}};
  for (const auto& command : commands) {
    const ProcessResult r = RunClosed("> /dev/full", command);
    EXPECT_TRUE(FailedWithOneLine(r)) << command.front() << ": " << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("writing the output: No space left on device")) << command.front();
  }
  // A reader that went away is not the command's error, also where SIGPIPE is ignored (a parent
  // that ignores it passes that on): `ls` gets EPIPE, and ends quietly.
  const ProcessResult gone = RunProcess(
      {"/bin/sh", "-c", "trap '' PIPE; { sleep 0.3; \"$@\"; echo \"exit $?\" >&2; } | true", "sh",
       SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_, "ls", "--json"},
      {});
  EXPECT_EQ(gone.err, "exit 0\n") << Describe(gone);
  ExpectStoreIntact();
}

TEST_F(ClosedDescriptorsTest, PutWithStdinClosedIsRefusedAndStoresNothing) {
  const ProcessResult r = RunClosed("<&-", {"put", "prod/DB"});
  EXPECT_TRUE(FailedWithUsage(r)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("standard input is closed"));
  EXPECT_THAT(Versions("prod/DB"), ::testing::ElementsAre(1));
  ExpectStoreIntact();
}

TEST_F(UsageTest, PutWhoseKeyIsReadFromStdinWantsTheValueFromAFile) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  ProcessOptions options;
  options.stdin_bytes = ReadFileBytes(key_file_);
  const ProcessResult r = RunRaw({"-s", store_, "-k", "fd:0", "put", "prod/DB"}, options);
  EXPECT_TRUE(FailedWithUsage(r)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--file"));
  EXPECT_THAT(Keys("prod"), ::testing::IsEmpty()) << "an empty value was stored";
}

}  // namespace
}  // namespace secretfs::testing
