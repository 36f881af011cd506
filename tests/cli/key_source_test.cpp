// Key sources (SPEC §7): key files, passphrases typed on a real pseudo-terminal, fd:N,
// credential:NAME, $SECRETFS_STORE/$SECRETFS_KEY; and what a wrong key gets (SPEC §11).
#include <unistd.h>

#include <filesystem>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassphrase[] = "correct horse 4f9c battery";

// The passphrase typed at the prompt, and again at the confirmation when `twice`.
ProcessOptions Typing(const std::string& first, const std::string& second = "") {
  ProcessOptions options;
  options.terminal = std::vector<TerminalStep>{{"Passphrase for ", first + "\n"}};
  if (!second.empty()) options.terminal->push_back({"Repeat the passphrase: ", second + "\n"});
  return options;
}

class KeySourceTest : public CliTest {
 protected:
  ProcessResult RunWithPassphrase(const std::vector<std::string>& args,
                                  ProcessOptions options) const {
    std::vector<std::string> all = {"-s", store_, "-k", "passphrase"};
    all.insert(all.end(), args.begin(), args.end());
    return RunRaw(all, std::move(options));
  }

  void InitWithPassphrase() {
    const ProcessResult r =
        RunWithPassphrase({"init", "--pwhash", "interactive"}, Typing(kPassphrase, kPassphrase));
    ASSERT_TRUE(Succeeded(r));
    ASSERT_EQ(r.out, "created store " + store_ + " with key slot 1 (passphrase)\n");
    EXPECT_EQ(r.steps_done, 2u);
    EXPECT_THAT(r.terminal, Not(HasSubstr(kPassphrase))) << "the passphrase was echoed";
  }
};

TEST_F(KeySourceTest, WrongKeyFileFailsInOneLineAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "one");
  const std::string before = ReadFileBytes(DataFile());
  WriteFileBytes(key_file_ + ".orig", ReadFileBytes(key_file_));
  WriteFileBytes(key_file_, RandomBytes(32));  // the same path, other bytes
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));
  EXPECT_TRUE(FailedWithOneLine(RunWithInput({"put", "prod/K"}, "two")));
  EXPECT_TRUE(FailedWithOneLine(RunWithInput({"put", "prod/NEW"}, "two")));
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "create", "dev"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"rm", "prod/K"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"keyring", "add", "--new-key", "file:" + key_file_})));
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "delete", "prod", "--purge", "--yes"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"verify"})));
  EXPECT_TRUE(ReadFileBytes(DataFile()) == before) << "a wrong key changed data.mdb";
  WriteFileBytes(key_file_, ReadFileBytes(key_file_ + ".orig"));
  EXPECT_EQ(Get("prod/K"), "one");
}

TEST_F(KeySourceTest, KeyFileShorterThanSixteenBytesCreatesNoStore) {
  WriteFileBytes(key_file_, RandomBytes(15));
  EXPECT_TRUE(FailedWithOneLine(Run({"init"})));
  EXPECT_FALSE(std::filesystem::exists(store_));
  WriteFileBytes(key_file_, "");
  EXPECT_TRUE(FailedWithOneLine(Run({"init"})));
  EXPECT_FALSE(std::filesystem::exists(store_));
  WriteFileBytes(key_file_, RandomBytes(16));
  ASSERT_NO_FATAL_FAILURE(InitStore());
}

TEST_F(KeySourceTest, MissingKeyFileCreatesNoStore) {
  std::filesystem::remove(key_file_);
  EXPECT_TRUE(FailedWithOneLine(Run({"init"})));
  EXPECT_FALSE(std::filesystem::exists(store_));
}

// A key file other users may read opens the store for them too: it works (plain
// `head -c 32 /dev/urandom > FILE` keys do), with a warning naming the file and the fix. So does
// one another user owns.
TEST_F(KeySourceTest, AKeyFileOthersMayReadWorksWithAWarningNamingTheFix) {
  ASSERT_EQ(chmod(key_file_.c_str(), 0644), 0);
  const ProcessResult init = Run({"init"});
  EXPECT_EQ(init.exit_code, 0) << init.err;
  EXPECT_THAT(init.err, HasSubstr("secretfs: warning: key file " + key_file_ +
                                  ": mode 0644 lets other users read or change it"));
  EXPECT_THAT(init.err, HasSubstr("chmod 600 " + key_file_));
  ASSERT_EQ(chmod(key_file_.c_str(), 0640), 0);
  EXPECT_THAT(Run({"workspace", "create", "prod"}).err, HasSubstr("mode 0640"));

  ASSERT_EQ(chmod(key_file_.c_str(), 0600), 0);
  // Its owner may read and change it whatever its mode.
  ASSERT_EQ(chown(key_file_.c_str(), 4321, static_cast<gid_t>(-1)), 0);
  const ProcessResult owned = Run({"ls"});
  EXPECT_EQ(owned.exit_code, 0) << owned.err;
  EXPECT_THAT(owned.err, HasSubstr("secretfs: warning: key file " + key_file_ +
                                   ": belongs to uid:4321, who can read or change it"));
  ASSERT_EQ(chown(key_file_.c_str(), 0, static_cast<gid_t>(-1)), 0);
  const ProcessResult quiet = Run({"ls"});
  EXPECT_TRUE(Succeeded(quiet)) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

TEST_F(KeySourceTest, InitOverAnExistingStoreIsRefused) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "one");
  const std::string before = ReadFileBytes(DataFile());
  EXPECT_TRUE(FailedWithOneLine(Run({"init"})));
  WriteKeyFile(Path("other-key"), RandomBytes(32));
  EXPECT_TRUE(FailedWithOneLine(RunRaw({"-s", store_, "-k", "file:" + Path("other-key"), "init"})));
  EXPECT_TRUE(ReadFileBytes(DataFile()) == before);
  EXPECT_EQ(Get("prod/K"), "one");
}

TEST_F(KeySourceTest, PassphraseTypedTwiceAtInitThenOnceToUnlock) {
  ASSERT_NO_FATAL_FAILURE(InitWithPassphrase());
  ProcessResult r = RunWithPassphrase({"workspace", "create", "prod"}, Typing(kPassphrase));
  ASSERT_TRUE(Succeeded(r));
  ProcessOptions put = Typing(kPassphrase);
  put.stdin_bytes = "typed-7b2e";
  r = RunWithPassphrase({"put", "prod/K"}, put);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "prod/K: version 1 (created)\n");
  r = RunWithPassphrase({"get", "prod/K"}, Typing(kPassphrase));
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "typed-7b2e");
  EXPECT_THAT(r.terminal, HasSubstr("Passphrase for "));
  EXPECT_THAT(r.terminal, Not(HasSubstr(kPassphrase)));
  EXPECT_THAT(r.terminal, Not(HasSubstr("typed-7b2e")));
  EXPECT_TRUE(r.echo_at_exit) << "echo was not turned back on";
  EXPECT_EQ(AllFileBytesUnder(store_).find(kPassphrase), std::string::npos);
}

TEST_F(KeySourceTest, WithoutKeyOptionATerminalUserIsAskedForThePassphrase) {
  ASSERT_NO_FATAL_FAILURE(InitWithPassphrase());
  const ProcessResult r =
      RunRaw({"-s", store_, "workspace", "list", "--json"}, Typing(kPassphrase));
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "[]\n");
}

TEST_F(KeySourceTest, MismatchedPassphrasesCreateNothing) {
  const ProcessResult r = RunWithPassphrase({"init", "--pwhash", "interactive"},
                                            Typing(kPassphrase, "correct horse 4f9c batterY"));
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_EQ(r.steps_done, 2u);
  EXPECT_FALSE(std::filesystem::exists(store_));
}

TEST_F(KeySourceTest, EmptyPassphraseCreatesNothing) {
  const ProcessResult r = RunWithPassphrase({"init", "--pwhash", "interactive"}, Typing(""));
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_FALSE(std::filesystem::exists(store_));
}

TEST_F(KeySourceTest, WrongPassphraseFailsInOneLineAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(InitWithPassphrase());
  ASSERT_TRUE(Succeeded(RunWithPassphrase({"workspace", "create", "prod"}, Typing(kPassphrase))));
  ProcessOptions put = Typing(kPassphrase);
  put.stdin_bytes = "typed-7b2e";
  ASSERT_TRUE(Succeeded(RunWithPassphrase({"put", "prod/K"}, put)));
  const std::string before = ReadFileBytes(DataFile());

  EXPECT_TRUE(FailedWithOneLine(RunWithPassphrase({"get", "prod/K"}, Typing("not it"))));
  ProcessOptions wrong_put = Typing("not it");
  wrong_put.stdin_bytes = "attacker";
  EXPECT_TRUE(FailedWithOneLine(RunWithPassphrase({"put", "prod/K"}, wrong_put)));
  EXPECT_TRUE(FailedWithOneLine(RunWithPassphrase({"rm", "prod/K"}, Typing("not it"))));
  EXPECT_TRUE(ReadFileBytes(DataFile()) == before) << "a wrong passphrase changed data.mdb";

  const ProcessResult r = RunWithPassphrase({"get", "prod/K"}, Typing(kPassphrase));
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "typed-7b2e");
}

// Ctrl-C at the prompt must not leave the operator's terminal without echo.
TEST_F(KeySourceTest, InterruptAtThePromptRestoresTerminalEcho) {
  ASSERT_NO_FATAL_FAILURE(InitWithPassphrase());
  ProcessOptions interrupt;
  interrupt.terminal = std::vector<TerminalStep>{{"Passphrase for ", "\x03"}};  // VINTR
  const ProcessResult r = RunWithPassphrase({"get", "prod/K"}, interrupt);
  EXPECT_EQ(r.steps_done, 1u);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(r.echo_at_exit) << "the terminal was left with echo off: " << Describe(r);
}

TEST_F(KeySourceTest, KeyFromAnInheritedFileDescriptor) {
  const std::string key = ReadFileBytes(key_file_);
  ProcessOptions fd3;
  fd3.extra_fds[3] = key;
  ProcessResult r = RunRaw({"-s", store_, "-k", "fd:3", "init"}, fd3);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "created store " + store_ + " with key slot 1 (fd:3)\n");
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));  // the same bytes, from the key file
  fd3.stdin_bytes = "via-fd-3";
  ASSERT_TRUE(Succeeded(RunRaw({"-s", store_, "-k", "fd:3", "put", "prod/K"}, fd3)));
  fd3.stdin_bytes.clear();
  r = RunRaw({"-s", store_, "-k", "fd:3", "get", "prod/K"}, fd3);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "via-fd-3");

  fd3.extra_fds[3] = RandomBytes(32);
  EXPECT_TRUE(FailedWithOneLine(RunRaw({"-s", store_, "-k", "fd:3", "get", "prod/K"}, fd3)));
  // A descriptor that is not open in the child.
  EXPECT_TRUE(FailedWithOneLine(RunRaw({"-s", store_, "-k", "fd:7", "get", "prod/K"})));
}

// fd:N names a descriptor the command was started with. The store's own lock.mdb and data.mdb
// take the lowest free numbers (3 and up) once it is open: read as a key and then closed, they
// made a key slot of data.mdb's bytes, or a commit fail on a closed descriptor.
TEST_F(KeySourceTest, AnFdTheCommandWasNotGivenIsRefusedAndNeverTheStoresOwnFile) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "value");
  const std::string slots = Run({"keyring", "list", "--json"}).out;
  const std::string before = ReadFileBytes(DataFile());
  for (int fd = 3; fd <= 9; ++fd) {
    const std::string spec = "fd:" + std::to_string(fd);
    ProcessResult r = Run({"keyring", "add", "--new-key", spec, "--label", "oops"});
    EXPECT_TRUE(FailedWithOneLine(r)) << spec;
    EXPECT_THAT(r.err, HasSubstr("Bad file descriptor")) << spec;
    r = RunRaw({"-s", store_, "-k", spec, "get", "prod/K"});
    EXPECT_TRUE(FailedWithOneLine(r)) << spec;
    EXPECT_THAT(r.err, HasSubstr("Bad file descriptor")) << spec;
  }
  EXPECT_TRUE(ReadFileBytes(DataFile()) == before) << "a refused fd:N changed data.mdb";
  EXPECT_EQ(Run({"keyring", "list", "--json"}).out, slots);

  // One that was given is read once: a second fd:3 in the same command is not what a later
  // open put there.
  ProcessOptions fd3;
  fd3.extra_fds[3] = ReadFileBytes(key_file_);
  ProcessResult r = RunRaw(
      {"-s", store_, "-k", "fd:3", "keyring", "add", "--new-key", "fd:3", "--label", "again"}, fd3);
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("Bad file descriptor"));
  EXPECT_EQ(Run({"keyring", "list", "--json"}).out, slots);
  fd3.extra_fds[3] = RandomBytes(32);
  r = Run({"keyring", "add", "--new-key", "fd:3", "--label", "given"}, fd3);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "added key slot 2 (fd:3)\n");
}

TEST_F(KeySourceTest, KeyFromASystemdCredential) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  Put("prod/K", "via-credential");
  std::filesystem::create_directory(Path("credentials"));
  WriteFileBytes(Path("credentials/secretfs.key"), ReadFileBytes(key_file_));
  ProcessOptions options;
  options.env["CREDENTIALS_DIRECTORY"] = Path("credentials");
  ProcessResult r =
      RunRaw({"-s", store_, "-k", "credential:secretfs.key", "get", "prod/K"}, options);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "via-credential");

  EXPECT_TRUE(FailedWithOneLine(
      RunRaw({"-s", store_, "-k", "credential:missing", "get", "prod/K"}, options)));
  EXPECT_TRUE(
      FailedWithOneLine(RunRaw({"-s", store_, "-k", "credential:secretfs.key", "get", "prod/K"})))
      << "without $CREDENTIALS_DIRECTORY";
}

TEST_F(KeySourceTest, StoreAndKeyFromTheEnvironment) {
  ASSERT_NO_FATAL_FAILURE(InitStore());
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  ProcessOptions options;
  options.env["SECRETFS_STORE"] = store_;
  options.env["SECRETFS_KEY"] = "file:" + key_file_;
  options.stdin_bytes = "from-env";
  ASSERT_TRUE(Succeeded(RunRaw({"put", "prod/K"}, options)));
  options.stdin_bytes.clear();
  ProcessResult r = RunRaw({"get", "prod/K"}, options);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "from-env");

  // Options on the command line win over the environment.
  options.env["SECRETFS_STORE"] = Path("elsewhere");
  options.env["SECRETFS_KEY"] = "file:" + Path("no-such-key");
  r = RunRaw({"-s", store_, "-k", "file:" + key_file_, "get", "prod/K"}, options);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "from-env");
  EXPECT_FALSE(std::filesystem::exists(Path("elsewhere")));
}

}  // namespace
}  // namespace secretfs::testing
