// secretfs keyring list | add | remove | rotate: every slot unlocks the same store, the last one
// stays, and a rotation keeps what it can and says what it dropped.
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;

constexpr char kPassphrase[] = "slot three passphrase 91d0";

class KeyringCommandsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
    Put("prod/K", "keyring-value");
    second_key_ = Path("second-key");
    WriteKeyFile(second_key_, RandomBytes(48));
  }

  ProcessResult RunWithKey(const std::string& source, const std::vector<std::string>& args,
                           ProcessOptions options = {}) const {
    std::vector<std::string> all = {"-s", store_, "-k", source};
    all.insert(all.end(), args.begin(), args.end());
    return RunRaw(all, std::move(options));
  }

  static ProcessOptions TypingOnce() {
    ProcessOptions options;
    options.terminal =
        std::vector<TerminalStep>{{"Passphrase for ", std::string(kPassphrase) + "\n"}};
    return options;
  }

  // {slot, kind, label, unlocked_with} of every slot, as `keyring list --json` shows them.
  std::vector<std::string> Slots(const std::string& source) const {
    const ProcessResult r = RunWithKey(source, {"keyring", "list", "--json"});
    EXPECT_TRUE(Succeeded(r));
    std::vector<std::string> slots;
    if (!Succeeded(r)) return slots;
    for (const auto& s : nlohmann::json::parse(r.out))
      slots.push_back(std::to_string(s.at("slot").get<int>()) + " " +
                      s.at("kind").get<std::string>() + " " + s.at("label").get<std::string>() +
                      (s.at("unlocked_with").get<bool>() ? " *" : ""));
    return slots;
  }

  std::string second_key_;
};

TEST_F(KeyringCommandsTest, ListShowsTheFirstSlot) {
  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *"));
  const ProcessResult r = Run({"keyring", "list"});
  ASSERT_TRUE(Succeeded(r));
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], "SLOT  KIND      LABEL    CREATED");
  EXPECT_EQ(lines[1].rfind("1     key-file  initial  ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[1].substr(lines[1].size() - 10), "(this key)") << lines[1];
}

TEST_F(KeyringCommandsTest, AddedKeyFileAndPassphraseEachUnlock) {
  ProcessResult r = Run({"keyring", "add", "--new-key", "file:" + second_key_, "--label", "ops"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "added key slot 2 (file:" + second_key_ + ")\n");

  ProcessOptions typing;
  typing.terminal = std::vector<TerminalStep>{
      {"Passphrase for the new key slot", std::string(kPassphrase) + "\n"},
      {"Repeat the passphrase: ", std::string(kPassphrase) + "\n"}};
  r = Run({"keyring", "add", "--new-key", "passphrase", "--pwhash", "interactive"}, typing);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "added key slot 3 (passphrase)\n");

  EXPECT_THAT(Slots("file:" + second_key_),
              ElementsAre("1 key-file initial", "2 key-file ops *", "3 passphrase passphrase"));
  r = RunWithKey("file:" + second_key_, {"get", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "keyring-value");
  r = RunWithKey("passphrase", {"get", "prod/K"}, TypingOnce());
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "keyring-value");
  EXPECT_EQ(Get("prod/K"), "keyring-value");
  // A value written with one slot's key reads back with another's.
  ProcessOptions put = TypingOnce();
  put.stdin_bytes = "written-with-passphrase";
  ASSERT_TRUE(Succeeded(RunWithKey("passphrase", {"put", "prod/K"}, put)));
  r = RunWithKey("file:" + second_key_, {"get", "prod/K"});
  EXPECT_EQ(r.out, "written-with-passphrase");
}

TEST_F(KeyringCommandsTest, MismatchedNewPassphraseAddsNoSlot) {
  ProcessOptions typing;
  typing.terminal = std::vector<TerminalStep>{{"Passphrase for the new key slot", "one\n"},
                                              {"Repeat the passphrase: ", "two\n"}};
  EXPECT_TRUE(FailedWithOneLine(
      Run({"keyring", "add", "--new-key", "passphrase", "--pwhash", "interactive"}, typing)));
  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *"));
}

TEST_F(KeyringCommandsTest, NewKeyFileShorterThanSixteenBytesIsRefused) {
  WriteKeyFile(second_key_, RandomBytes(8));
  EXPECT_TRUE(FailedWithOneLine(Run({"keyring", "add", "--new-key", "file:" + second_key_})));
  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *"));
}

TEST_F(KeyringCommandsTest, RemovedSlotNoLongerUnlocksAndTheLastSlotStays) {
  ASSERT_TRUE(Succeeded(Run({"keyring", "add", "--new-key", "file:" + second_key_})));
  ProcessResult r = RunWithKey("file:" + second_key_, {"keyring", "remove", "1"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "removed key slot 1\n");
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));  // the first key is gone

  // The refusals change no slot (they are recorded in the audit log, which is all they store).
  EXPECT_TRUE(FailedWithOneLine(RunWithKey("file:" + second_key_, {"keyring", "remove", "2"})));
  EXPECT_TRUE(FailedWithOneLine(RunWithKey("file:" + second_key_, {"keyring", "remove", "7"})));
  EXPECT_THAT(Slots("file:" + second_key_), ElementsAre("2 key-file file:" + second_key_ + " *"));
  r = RunWithKey("file:" + second_key_, {"get", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "keyring-value");
}

TEST_F(KeyringCommandsTest, RotateKeepsTheKeyUsedAndRecipientsAndDropsTheRest) {
  ASSERT_TRUE(
      Succeeded(Run({"keyring", "add", "--new-key", "file:" + second_key_, "--label", "backup"})));
  const std::string host_key = Path("host.key");
  ProcessResult r = RunRaw({"keyring", "host-key", host_key});
  ASSERT_TRUE(Succeeded(r));
  const std::string recipient = Lines(r.out).at(0);
  ASSERT_TRUE(
      Succeeded(Run({"keyring", "add", "--new-key", "recipient:" + recipient, "--label", "web1"})));
  Put("prod/K", "second-version");

  r = Run({"keyring", "rotate"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_THAT(r.out, ::testing::HasSubstr(
                         "1 workspace(s) given a new data key, 2 version(s) re-encrypted"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("kept slot 1 (the key given)"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("resealed slot 3 (recipient, web1)"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("dropped slot 2 (key-file, backup)"));

  EXPECT_THAT(Slots("file:" + key_file_), ElementsAre("1 key-file initial *", "3 recipient web1"));
  EXPECT_EQ(Get("prod/K"), "second-version");
  EXPECT_EQ(Get("prod/K", "1"), "keyring-value");
  r = RunWithKey("host:" + host_key, {"get", "prod/K"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "second-version");
  r = RunWithKey("file:" + second_key_, {"get", "prod/K"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, ::testing::HasSubstr("wrong key"));

  // The log, re-keyed with the store, still verifies and records the rotation.
  r = Run({"audit", "verify"});
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  r = Run({"audit", "--op", "keyring rotate", "--json"});
  ASSERT_TRUE(Succeeded(r));
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("result"), "ok");
}

TEST_F(KeyringCommandsTest, RotateWithAKeyThatDoesNotOpenTheStoreChangesNothing) {
  ASSERT_TRUE(Succeeded(Run({"keyring", "add", "--new-key", "file:" + second_key_})));
  WriteKeyFile(Path("stranger"), RandomBytes(32));
  EXPECT_TRUE(FailedWithOneLine(RunWithKey("file:" + Path("stranger"), {"keyring", "rotate"})));
  EXPECT_THAT(Slots("file:" + second_key_),
              ElementsAre("1 key-file initial", "2 key-file file:" + second_key_ + " *"));
  EXPECT_TRUE(Succeeded(Run({"audit", "verify"})));
}

}  // namespace
}  // namespace secretfs::testing
