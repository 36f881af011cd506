// Host keys and recipient slots: keyring host-key makes an X25519 key pair, keyring add --new-key
// recipient:PUBKEY seals the master key to it, -k host:PATH unlocks with the private key. Also
// `-k passphrase` with no terminal, answered by systemd-ask-password (a fake one first on $PATH).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPrefix[] = "secretfs-recipient:";

class HostKeyTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
    Put("prod/K", "host-key-value");
  }

  ProcessResult RunWithKey(const std::string& source, const std::vector<std::string>& args,
                           ProcessOptions options = {}) const {
    std::vector<std::string> all = {"-s", store_, "-k", source};
    all.insert(all.end(), args.begin(), args.end());
    return RunRaw(all, std::move(options));
  }

  // Options that put a systemd-ask-password running `script` (sh) first on PATH.
  ProcessOptions WithFakeAgent(const std::string& script) const {
    const std::string bin = Path("bin");
    mkdir(bin.c_str(), 0700);
    WriteFileBytes(bin + "/systemd-ask-password", "#!/bin/sh\n" + script);
    EXPECT_EQ(chmod((bin + "/systemd-ask-password").c_str(), 0755), 0);
    ProcessOptions agent;
    const char* path = std::getenv("PATH");
    agent.env = {{"PATH", bin + ":" + (path != nullptr ? path : "/usr/bin:/bin")}};
    return agent;
  }

  // Runs keyring host-key PATH (no store, no key) and returns the recipient line it printed.
  std::string MakeHostKey(const std::string& path) const {
    const ProcessResult r = RunRaw({"keyring", "host-key", path});
    EXPECT_TRUE(Succeeded(r));
    const auto lines = Lines(r.out);
    return lines.empty() ? "<failed>" : lines[0];
  }

  // "{slot} {kind} {label}[ *]" and the recipient (when shown) of every slot, from --json.
  std::vector<std::string> Slots(const std::string& source) const {
    const ProcessResult r = RunWithKey(source, {"keyring", "list", "--json"});
    EXPECT_TRUE(Succeeded(r));
    std::vector<std::string> slots;
    if (!Succeeded(r)) return slots;
    for (const auto& s : nlohmann::json::parse(r.out))
      slots.push_back(std::to_string(s.at("slot").get<int>()) + " " +
                      s.at("kind").get<std::string>() + " " + s.at("label").get<std::string>() +
                      (s.contains("recipient") ? " " + s.at("recipient").get<std::string>() : "") +
                      (s.at("unlocked_with").get<bool>() ? " *" : ""));
    return slots;
  }
};

TEST_F(HostKeyTest, HostKeyWritesAPrivateFileAndPrintsThePublicKey) {
  const std::string path = Path("host.key");
  const ProcessResult r = RunRaw({"keyring", "host-key", path});  // no -s, no -k
  ASSERT_TRUE(Succeeded(r));
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], StartsWith(kPrefix));
  EXPECT_EQ(lines[0].size(), std::string(kPrefix).size() + 43) << lines[0];
  EXPECT_THAT(lines[1], HasSubstr("-k host:" + path));
  EXPECT_THAT(lines[2], HasSubstr("secretfs keyring add --new-key recipient:" + lines[0]));
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadFileBytes(path).size(), 32u);
  // The private key's bytes are not what was printed.
  EXPECT_EQ(r.out.find(ReadFileBytes(path)), std::string::npos);
  // Two key pairs differ.
  EXPECT_NE(MakeHostKey(Path("other.key")), lines[0]);
}

TEST_F(HostKeyTest, HostKeyNeverOverwritesAFile) {
  const std::string path = Path("host.key");
  MakeHostKey(path);
  const std::string before = ReadFileBytes(path);
  const ProcessResult r = RunRaw({"keyring", "host-key", path});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("already exists"));
  EXPECT_EQ(ReadFileBytes(path), before);
  EXPECT_TRUE(FailedWithOneLine(RunRaw({"keyring", "host-key", Path("no/such/dir/key")})));
  EXPECT_TRUE(FailedWithUsage(RunRaw({"keyring", "host-key"})));
}

TEST_F(HostKeyTest, RecipientSlotUnlocksWithTheHostKeyForEveryCommand) {
  const std::string host_key = Path("host.key");
  const std::string recipient = MakeHostKey(host_key);
  ProcessResult r =
      Run({"keyring", "add", "--new-key", "recipient:" + recipient, "--label", "robot"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "added key slot 2 (recipient:" + recipient + ")\n");
  EXPECT_THAT(Slots("host:" + host_key),
              ElementsAre("1 key-file initial", "2 recipient robot " + recipient + " *"));

  r = RunWithKey("host:" + host_key, {"get", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "host-key-value");
  ProcessOptions put;
  put.stdin_bytes = "written-by-the-robot";
  ASSERT_TRUE(Succeeded(RunWithKey("host:" + host_key, {"put", "prod/K"}, put)));
  EXPECT_EQ(Get("prod/K"), "written-by-the-robot");
  // $SECRETFS_KEY takes the same form.
  ProcessOptions env;
  env.env = {{"SECRETFS_KEY", "host:" + host_key}};
  r = RunRaw({"-s", store_, "get", "prod/K"}, env);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "written-by-the-robot");

  r = Run({"keyring", "list"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(r.out, HasSubstr("recipient"));

  // Without the secretfs-recipient: prefix too; and a host key makes a slot for its public half.
  const std::string second = MakeHostKey(Path("second.key"));
  r = Run({"keyring", "add", "--new-key", "recipient:" + second.substr(std::string(kPrefix).size()),
           "--label", "bare"});
  ASSERT_TRUE(Succeeded(r));
  const std::string third = MakeHostKey(Path("third.key"));
  r = Run({"keyring", "add", "--new-key", "host:" + Path("third.key"), "--label", "own"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(Slots("host:" + Path("second.key")),
              ElementsAre("1 key-file initial", "2 recipient robot " + recipient,
                          "3 recipient bare " + second + " *", "4 recipient own " + third));
  EXPECT_EQ(RunWithKey("host:" + Path("third.key"), {"get", "prod/K"}).out, "written-by-the-robot");
}

TEST_F(HostKeyTest, WrongHostKeyIsRefusedInOneLineAndChangesNothing) {
  const std::string recipient = MakeHostKey(Path("host.key"));
  ASSERT_TRUE(Succeeded(Run({"keyring", "add", "--new-key", "recipient:" + recipient})));
  MakeHostKey(Path("stranger.key"));
  const auto slots = Slots("file:" + key_file_);

  const std::string stranger = "host:" + Path("stranger.key");
  ProcessResult r = RunWithKey(stranger, {"get", "prod/K"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("wrong key"));
  ProcessOptions put;
  put.stdin_bytes = "must-not-land";
  EXPECT_TRUE(FailedWithOneLine(RunWithKey(stranger, {"put", "prod/K"}, put)));
  EXPECT_TRUE(FailedWithOneLine(
      RunWithKey(stranger, {"keyring", "add", "--new-key", "file:" + key_file_})));
  EXPECT_TRUE(FailedWithOneLine(RunWithKey(stranger, {"keyring", "remove", "1"})));
  EXPECT_EQ(Slots("file:" + key_file_), slots);
  EXPECT_EQ(Get("prod/K"), "host-key-value");
  // The public key is no key at all.
  EXPECT_TRUE(FailedWithUsage(RunWithKey("recipient:" + recipient, {"get", "prod/K"})));
}

TEST_F(HostKeyTest, RemovedRecipientSlotNoLongerUnlocks) {
  const std::string recipient = MakeHostKey(Path("host.key"));
  ASSERT_TRUE(Succeeded(Run({"keyring", "add", "--new-key", "recipient:" + recipient})));
  ASSERT_TRUE(Succeeded(RunWithKey("host:" + Path("host.key"), {"get", "prod/K"})));
  const ProcessResult r = RunWithKey("host:" + Path("host.key"), {"keyring", "remove", "2"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "removed key slot 2\n");
  EXPECT_TRUE(FailedWithOneLine(RunWithKey("host:" + Path("host.key"), {"get", "prod/K"})));
  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *"));
}

TEST_F(HostKeyTest, MalformedHostKeyFilesAreRefused) {
  const std::string recipient = MakeHostKey(Path("host.key"));
  ASSERT_TRUE(Succeeded(Run({"keyring", "add", "--new-key", "recipient:" + recipient})));
  const std::string key = ReadFileBytes(Path("host.key"));

  WriteFileBytes(Path("short.key"), key.substr(0, 31));
  ASSERT_EQ(chmod(Path("short.key").c_str(), 0600), 0);
  ProcessResult r = RunWithKey("host:" + Path("short.key"), {"get", "prod/K"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("exactly 32"));

  WriteFileBytes(Path("shared.key"), key);
  ASSERT_EQ(chmod(Path("shared.key").c_str(), 0644), 0);
  r = RunWithKey("host:" + Path("shared.key"), {"get", "prod/K"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("chmod 600"));

  ASSERT_EQ(chmod(Path("shared.key").c_str(), 0600), 0);
  ASSERT_EQ(chown(Path("shared.key").c_str(), 4321, static_cast<gid_t>(-1)), 0);
  r = RunWithKey("host:" + Path("shared.key"), {"get", "prod/K"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("host key " + Path("shared.key") + ": belongs to uid:4321"));

  EXPECT_TRUE(FailedWithOneLine(RunWithKey("host:" + Path("missing.key"), {"get", "prod/K"})));
}

TEST_F(HostKeyTest, BadRecipientIsAUsageErrorNamingTheProblem) {
  const std::string recipient = MakeHostKey(Path("host.key"));
  for (const std::string& bad :
       {std::string("recipient:"), "recipient:" + recipient.substr(0, recipient.size() - 1),
        "recipient:" + recipient + "x", std::string("recipient:secretfs-recipient:!!")}) {
    const ProcessResult r = Run({"keyring", "add", "--new-key", bad});
    EXPECT_TRUE(FailedWithUsage(r)) << bad;
    EXPECT_THAT(r.err, HasSubstr("recipient public key")) << bad;
  }
  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *"));
}

TEST_F(HostKeyTest, InitWithAHostKeyMakesARecipientSlot) {
  MakeHostKey(Path("host.key"));
  const std::string other_store = Path("robot-store");
  ProcessResult r = RunRaw({"-s", other_store, "-k", "host:" + Path("host.key"), "init"});
  ASSERT_TRUE(Succeeded(r));
  r = RunRaw({"-s", other_store, "-k", "host:" + Path("host.key"), "keyring", "list", "--json"});
  ASSERT_TRUE(Succeeded(r));
  const auto slots = nlohmann::json::parse(r.out);
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].at("kind"), "recipient");
}

// `-k passphrase` with no terminal: systemd-ask-password answers (here a fake one, first on PATH).
TEST_F(HostKeyTest, PassphraseWithoutATerminalComesFromSystemdAskPassword) {
  const std::string bin = Path("bin");
  const ProcessOptions agent = WithFakeAgent("printf 'agent typed this\\n'\n");

  ProcessResult r =
      Run({"keyring", "add", "--new-key", "passphrase", "--pwhash", "interactive"}, agent);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "added key slot 2 (passphrase)\n");
  r = RunWithKey("passphrase", {"get", "prod/K"}, agent);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "host-key-value");

  WriteFileBytes(bin + "/systemd-ask-password", "#!/bin/sh\nprintf 'something else\\n'\n");
  EXPECT_TRUE(FailedWithOneLine(RunWithKey("passphrase", {"get", "prod/K"}, agent)));
  WriteFileBytes(bin + "/systemd-ask-password", "#!/bin/sh\nexit 1\n");
  r = RunWithKey("passphrase", {"get", "prod/K"}, agent);
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, HasSubstr("systemd-ask-password"));
}

// The agent is asked once the store is open: it gets its stdin, stdout and stderr and no other
// descriptor of the command, least of all a read-write one to data.mdb (LMDB's are not
// close-on-exec).
TEST_F(HostKeyTest, SystemdAskPasswordInheritsNoDescriptorOfTheStore) {
  const std::string listing = Path("agent-fds");
  const ProcessOptions agent =
      WithFakeAgent("fds=$(ls -l /proc/$$/fd)\nprintf '%s\\n' \"$fds\" >> '" + listing +
                    "'\nprintf 'agent typed this\\n'\n");

  ProcessResult r =
      Run({"keyring", "add", "--new-key", "passphrase", "--pwhash", "interactive"}, agent);
  ASSERT_TRUE(Succeeded(r));
  r = RunWithKey("passphrase", {"get", "prod/K"}, agent);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "host-key-value");

  const std::string fds = ReadFileBytes(listing);
  EXPECT_THAT(fds, HasSubstr(" 1 -> pipe:")) << fds;  // it did list its descriptors
  EXPECT_THAT(fds, ::testing::Not(HasSubstr("data.mdb"))) << fds;
  EXPECT_THAT(fds, ::testing::Not(HasSubstr("lock.mdb"))) << fds;
  EXPECT_THAT(fds, ::testing::Not(HasSubstr(store_))) << fds;
}

}  // namespace
}  // namespace secretfs::testing
