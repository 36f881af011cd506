// Key sources: parsing -k SOURCE and reading the material from files, fds and credentials.
#include "keyring/key_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/keys.h"

using secretfs::AsBytes;
using secretfs::keyring::CreateHostKey;
using secretfs::keyring::FormatRecipient;
using secretfs::keyring::KeyMaterial;
using secretfs::keyring::KeySource;
using secretfs::keyring::kMaxKeyMaterialBytes;
using secretfs::keyring::kX25519KeyBytes;
using secretfs::keyring::LoadKeyMaterial;
using secretfs::keyring::ParseKeySource;
using secretfs::keyring::ParseRecipient;
using secretfs::keyring::Prompt;
using secretfs::keyring::RandomBytes;
using secretfs::keyring::RecipientKeyMaterial;

TEST(ParseKeySourceTest, AcceptsEveryDocumentedForm) {
  struct Case {
    std::string_view spec;
    KeySource::Kind kind;
    std::string_view arg;
  };
  for (const Case& c : {
           Case{"file:/etc/secretfs/key", KeySource::Kind::kFile, "/etc/secretfs/key"},
           Case{"file:relative/key", KeySource::Kind::kFile, "relative/key"},
           Case{"file:/path/with:colon", KeySource::Kind::kFile, "/path/with:colon"},
           Case{"passphrase", KeySource::Kind::kPassphrase, ""},
           Case{"fd:0", KeySource::Kind::kFd, "0"},
           Case{"fd:3", KeySource::Kind::kFd, "3"},
           Case{"fd:1023", KeySource::Kind::kFd, "1023"},
           Case{"credential:secretfs.key", KeySource::Kind::kCredential, "secretfs.key"},
           Case{"credential:master", KeySource::Kind::kCredential, "master"},
       }) {
    auto source = ParseKeySource(c.spec);
    ASSERT_TRUE(source.ok()) << c.spec << ": " << source.status().message();
    EXPECT_EQ(source->kind, c.kind) << c.spec;
    EXPECT_EQ(source->arg, c.arg) << c.spec;
    EXPECT_EQ(source->text, c.spec);
  }
}

TEST(ParseKeySourceTest, RejectsJunkWithEinval) {
  for (std::string_view spec : {"",
                                "junk",
                                "file",
                                "file:",
                                "/etc/key",
                                "FILE:/etc/key",
                                "passphrase:x",
                                "Passphrase",
                                "fd:",
                                "fd:abc",
                                "fd:3x",
                                "fd:-1",
                                "fd: 3",
                                "fd:99999999999",
                                "credential:",
                                "credential:a/b",
                                "credential:/abs",
                                "credential:..",
                                "credential:.",
                                "key:/x",
                                ":x"}) {
    auto source = ParseKeySource(spec);
    ASSERT_FALSE(source.ok()) << "'" << spec << "' was accepted";
    EXPECT_EQ(source.status().code(), EINVAL) << spec;
    EXPECT_FALSE(source.status().message().empty());
  }
}

TEST(ParseKeySourceTest, ErrorNamesTheAcceptedForms) {
  auto source = ParseKeySource("junk");
  ASSERT_FALSE(source.ok());
  const std::string message = source.status().message();
  EXPECT_NE(message.find("junk"), std::string::npos) << message;
  EXPECT_NE(message.find("file:"), std::string::npos) << message;
}

TEST(ParseKeySourceTest, HostKeysAreAKeySource) {
  auto source = ParseKeySource("host:/etc/secretfs/host.key");
  ASSERT_TRUE(source.ok()) << source.status().message();
  EXPECT_EQ(source->kind, KeySource::Kind::kHost);
  EXPECT_EQ(source->arg, "/etc/secretfs/host.key");
  EXPECT_EQ(ParseKeySource("host:").status().code(), EINVAL);
}

TEST(ParseKeySourceTest, ARecipientPublicKeyIsNoKeySource) {
  auto source = ParseKeySource("recipient:secretfs-recipient:abc");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), EINVAL);
  EXPECT_NE(source.status().message().find("host:PATH"), std::string::npos);
}

TEST(RecipientTextTest, FormatAndParseRoundTrip) {
  const std::vector<uint8_t> key = RandomBytes(kX25519KeyBytes);
  const std::string text = FormatRecipient(key);
  EXPECT_EQ(text.rfind("secretfs-recipient:", 0), 0u) << text;
  EXPECT_EQ(text.size(), std::string_view("secretfs-recipient:").size() + 43) << text;
  auto parsed = ParseRecipient(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(*parsed, key);
  parsed = ParseRecipient(text.substr(text.find(':') + 1));  // without the prefix
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(*parsed, key);

  auto material = RecipientKeyMaterial("recipient:" + text);
  ASSERT_TRUE(material.ok()) << material.status().message();
  EXPECT_EQ(material->kind, KeyMaterial::Kind::kRecipient);
  EXPECT_EQ(std::vector<uint8_t>(material->bytes.bytes().begin(), material->bytes.bytes().end()),
            key);
  EXPECT_EQ(material->origin, "recipient:" + text);
}

TEST(RecipientTextTest, BadTextIsEinvalNamingTheProblem) {
  const std::string good = FormatRecipient(RandomBytes(kX25519KeyBytes));
  const std::string b64 = good.substr(good.find(':') + 1);
  const std::string short_key = FormatRecipient(RandomBytes(31));
  for (const std::string& text :
       {std::string(), std::string("secretfs-recipient:"), b64.substr(1), b64 + "A", b64 + "=",
        b64 + " ", "x" + good, short_key, b64.substr(0, 20) + "+/" + b64.substr(22),
        std::string(43, '!')}) {
    auto parsed = ParseRecipient(text);
    ASSERT_FALSE(parsed.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(parsed.status().code(), EINVAL) << text;
    EXPECT_NE(parsed.status().message().find("recipient public key"), std::string::npos);
  }
  EXPECT_EQ(RecipientKeyMaterial("recipient:").status().code(), EINVAL);
  EXPECT_EQ(RecipientKeyMaterial("file:/x").status().code(), EINVAL);
}

// A temporary directory, removed with everything in it; also restores CREDENTIALS_DIRECTORY.
class LoadKeyMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/secretfs-key-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    if (const char* creds = getenv("CREDENTIALS_DIRECTORY")) saved_creds_ = creds;
  }
  void TearDown() override {
    if (saved_creds_)
      setenv("CREDENTIALS_DIRECTORY", saved_creds_->c_str(), 1);
    else
      unsetenv("CREDENTIALS_DIRECTORY");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string WriteFile(const std::string& name, std::string_view content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return path;
  }

  static KeySource Source(std::string_view spec) {
    auto source = ParseKeySource(spec);
    EXPECT_TRUE(source.ok()) << spec << ": " << source.status().message();
    return source.ok() ? *source : KeySource{};
  }

  static std::string Content(const KeyMaterial& m) {
    return std::string(reinterpret_cast<const char*>(m.bytes.data()), m.bytes.size());
  }

  std::string dir_;
  std::optional<std::string> saved_creds_;
};

TEST_F(LoadKeyMaterialTest, FileIsReadExactlyIncludingBinaryBytes) {
  const std::string content("\0key\nfile\xff\r\n\0 tail ", 18);
  const std::string path = WriteFile("key.bin", content);
  auto m = LoadKeyMaterial(Source("file:" + path), Prompt::kOnce);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, KeyMaterial::Kind::kKeyFile);
  EXPECT_EQ(Content(*m), content);  // no newline stripped, nothing added
  EXPECT_EQ(m->origin, "file:" + path);
}

TEST_F(LoadKeyMaterialTest, FileOfExactlyTheLimitIsRead) {
  const std::string content(kMaxKeyMaterialBytes, 'k');
  auto m = LoadKeyMaterial(Source("file:" + WriteFile("max", content)), Prompt::kOnce);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->bytes.size(), kMaxKeyMaterialBytes);
  EXPECT_EQ(Content(*m), content);
}

TEST_F(LoadKeyMaterialTest, FileOverTheLimitIsEfbig) {
  const std::string content(kMaxKeyMaterialBytes + 1, 'k');
  auto m = LoadKeyMaterial(Source("file:" + WriteFile("big", content)), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EFBIG);
  const std::string huge(1 << 20, 'h');
  auto m2 = LoadKeyMaterial(Source("file:" + WriteFile("huge", huge)), Prompt::kOnce);
  ASSERT_FALSE(m2.ok());
  EXPECT_EQ(m2.status().code(), EFBIG);
}

TEST_F(LoadKeyMaterialTest, MissingFileIsEnoentNamingThePath) {
  const std::string path = dir_ + "/does-not-exist";
  auto m = LoadKeyMaterial(Source("file:" + path), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ENOENT);
  EXPECT_NE(m.status().message().find(path), std::string::npos) << m.status().message();
}

TEST_F(LoadKeyMaterialTest, EmptyFileIsRefused) {
  auto m = LoadKeyMaterial(Source("file:" + WriteFile("empty", "")), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EINVAL);
}

TEST_F(LoadKeyMaterialTest, DirectoryIsRefused) {
  auto m = LoadKeyMaterial(Source("file:" + dir_), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EISDIR);
}

TEST_F(LoadKeyMaterialTest, FdIsReadFromAPipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string content("pipe\0key\nbytes", 14);
  ASSERT_EQ(write(fds[1], content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fds[1]);
  auto m = LoadKeyMaterial(Source("fd:" + std::to_string(fds[0])), Prompt::kOnce);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, KeyMaterial::Kind::kKeyFile);
  EXPECT_EQ(Content(*m), content);
  // Consumed: a daemon holds no descriptor of its key once it is read.
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_F(LoadKeyMaterialTest, AStandardDescriptorIsLeftOnDevNullOnceRead) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "stdin-key", 9), 9);
  close(fds[1]);
  const int saved_stdin = dup(STDIN_FILENO);
  ASSERT_GE(saved_stdin, 0);
  ASSERT_EQ(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
  close(fds[0]);
  auto m = LoadKeyMaterial(Source("fd:0"), Prompt::kOnce);
  struct stat now {};
  const int stat_rc = fstat(STDIN_FILENO, &now);
  dup2(saved_stdin, STDIN_FILENO);
  close(saved_stdin);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(Content(*m), "stdin-key");
  // Not a free slot that the next open would take: /dev/null (character device 1:3).
  ASSERT_EQ(stat_rc, 0);
  EXPECT_TRUE(S_ISCHR(now.st_mode));
  EXPECT_EQ(now.st_rdev, makedev(1, 3));
}

TEST_F(LoadKeyMaterialTest, EmptyPipeIsRefused) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[1]);
  auto m = LoadKeyMaterial(Source("fd:" + std::to_string(fds[0])), Prompt::kOnce);
  close(fds[0]);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EINVAL);
}

TEST_F(LoadKeyMaterialTest, ClosedFdIsEbadf) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  auto m = LoadKeyMaterial(Source("fd:" + std::to_string(fds[0])), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EBADF);
}

TEST_F(LoadKeyMaterialTest, CredentialIsReadFromTheCredentialsDirectory) {
  const std::string content("credential\0bytes\n", 17);
  WriteFile("secretfs.key", content);
  ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1), 0);
  auto m = LoadKeyMaterial(Source("credential:secretfs.key"), Prompt::kOnce);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, KeyMaterial::Kind::kKeyFile);
  EXPECT_EQ(Content(*m), content);
}

TEST_F(LoadKeyMaterialTest, MissingCredentialIsEnoent) {
  ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1), 0);
  auto m = LoadKeyMaterial(Source("credential:absent"), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ENOENT);
}

TEST_F(LoadKeyMaterialTest, CredentialWithoutCredentialsDirectoryFails) {
  WriteFile("secretfs.key", "some key bytes here");
  ASSERT_EQ(unsetenv("CREDENTIALS_DIRECTORY"), 0);
  auto m = LoadKeyMaterial(Source("credential:secretfs.key"), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ENOENT);
  EXPECT_NE(m.status().message().find("CREDENTIALS_DIRECTORY"), std::string::npos)
      << m.status().message();

  ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
  auto empty = LoadKeyMaterial(Source("credential:secretfs.key"), Prompt::kOnce);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ENOENT);
}

TEST_F(LoadKeyMaterialTest, OversizedCredentialIsEfbig) {
  WriteFile("big", std::string(kMaxKeyMaterialBytes + 1, 'c'));
  ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1), 0);
  auto m = LoadKeyMaterial(Source("credential:big"), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), EFBIG);
}

TEST_F(LoadKeyMaterialTest, ErrorsNeverContainTheKeyBytes) {
  const std::string content(kMaxKeyMaterialBytes + 1, 'Q');
  auto m = LoadKeyMaterial(Source("file:" + WriteFile("big", content)), Prompt::kOnce);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().find("QQQQ"), std::string::npos);
}

TEST_F(LoadKeyMaterialTest, PassphraseWithoutATerminalIsEnxio) {
  // A child in a new session has no controlling terminal, like a daemon or a CI job; with a $PATH
  // that has no systemd-ask-password either, there is no way to ask.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    if (setsid() < 0) _exit(100);
    setenv("PATH", dir_.c_str(), 1);
    auto m =
        LoadKeyMaterial(KeySource{KeySource::Kind::kPassphrase, "", "passphrase"}, Prompt::kOnce);
    _exit(m.ok() ? 101 : m.status().code());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), ENXIO);
}

// A fake systemd-ask-password in a directory that is all of $PATH. The child runs in a new session
// (no terminal); it exits with 0 when the material read is `expected`, or with the errno.
class AskPasswordTest : public LoadKeyMaterialTest {
 protected:
  void Agent(const std::string& script) {
    const std::string path = WriteFile("systemd-ask-password", "#!/bin/sh\n" + script);
    ASSERT_EQ(chmod(path.c_str(), 0755), 0);
  }
  int RunWithoutTerminal(Prompt prompt, const std::string& expected) {
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      if (setsid() < 0) _exit(100);
      setenv("PATH", dir_.c_str(), 1);
      auto m = LoadKeyMaterial(KeySource{KeySource::Kind::kPassphrase, "", "passphrase"}, prompt,
                               "the test store");
      if (!m.ok()) _exit(m.status().code());
      _exit(m->kind == KeyMaterial::Kind::kPassphrase && Content(*m) == expected ? 0 : 101);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }
};

TEST_F(AskPasswordTest, PassphraseComesFromSystemdAskPasswordWithoutATerminal) {
  // It is asked with a message naming what for, and its stdin is not the command's.
  Agent(
      "case \"$1\" in 'Passphrase for the test store: ') ;; *) exit 9 ;; esac\n"
      "read -r x && exit 8\n"
      "printf 'agent pass phrase\\n'\n");
  EXPECT_EQ(RunWithoutTerminal(Prompt::kOnce, "agent pass phrase"), 0);
}

TEST_F(AskPasswordTest, ConfirmationAsksTwice) {
  Agent("echo \"$1\" >> " + dir_ + "/asked\nprintf 'twice\\n'\n");
  EXPECT_EQ(RunWithoutTerminal(Prompt::kConfirm, "twice"), 0);
  std::ifstream asked(dir_ + "/asked");
  std::string first, second;
  std::getline(asked, first);
  std::getline(asked, second);
  EXPECT_EQ(first, "Passphrase for the test store: ");
  EXPECT_EQ(second, "Repeat the passphrase: ");
}

TEST_F(AskPasswordTest, DifferentAnswersAreEinval) {
  // Only shell builtins: $PATH holds nothing but the fake.
  Agent("if [ -e " + dir_ + "/once ]; then echo two; else : > " + dir_ + "/once; echo one; fi\n");
  EXPECT_EQ(RunWithoutTerminal(Prompt::kConfirm, ""), EINVAL);
}

TEST_F(AskPasswordTest, FailedOrEmptyAnswerIsRefused) {
  Agent("exit 1\n");
  EXPECT_EQ(RunWithoutTerminal(Prompt::kOnce, ""), ECANCELED);
  Agent("echo\n");
  EXPECT_EQ(RunWithoutTerminal(Prompt::kOnce, ""), EINVAL);
}

// Host keys: 32 raw bytes in a file only its owner may read.
TEST_F(LoadKeyMaterialTest, HostKeyIsReadAsHostKeyMaterial) {
  const std::string path = dir_ + "/host.key";
  auto public_key = CreateHostKey(path);
  ASSERT_TRUE(public_key.ok()) << public_key.status().message();
  EXPECT_EQ(public_key->size(), kX25519KeyBytes);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto m = LoadKeyMaterial(Source("host:" + path), Prompt::kOnce);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, KeyMaterial::Kind::kHostKey);
  EXPECT_EQ(m->bytes.size(), kX25519KeyBytes);
  EXPECT_EQ(m->origin, "host:" + path);
}

TEST_F(LoadKeyMaterialTest, CreateHostKeyNeverOverwrites) {
  const std::string path = WriteFile("existing", "keep me");
  auto created = CreateHostKey(path);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), EEXIST);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me");
  const std::string link = dir_ + "/dangling";
  ASSERT_EQ(symlink((dir_ + "/target").c_str(), link.c_str()), 0);
  EXPECT_EQ(CreateHostKey(link).status().code(), EEXIST);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/target"));
}

TEST_F(LoadKeyMaterialTest, HostKeyOfTheWrongSizeIsEinval) {
  for (size_t n : {size_t{1}, size_t{31}, size_t{33}, size_t{64}}) {
    const std::string path = WriteFile("key" + std::to_string(n), std::string(n, 'k'));
    ASSERT_EQ(chmod(path.c_str(), 0600), 0);
    auto m = LoadKeyMaterial(Source("host:" + path), Prompt::kOnce);
    ASSERT_FALSE(m.ok()) << n;
    EXPECT_EQ(m.status().code(), EINVAL) << n;
    EXPECT_NE(m.status().message().find("exactly 32"), std::string::npos) << m.status().message();
  }
}

TEST_F(LoadKeyMaterialTest, HostKeyReadableByOthersIsRefused) {
  const std::string path = dir_ + "/host.key";
  ASSERT_TRUE(CreateHostKey(path).ok());
  for (mode_t mode : {0640, 0604, 0620, 0644}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    auto m = LoadKeyMaterial(Source("host:" + path), Prompt::kOnce);
    ASSERT_FALSE(m.ok()) << mode;
    EXPECT_EQ(m.status().code(), EACCES) << mode;
    EXPECT_NE(m.status().message().find("chmod 600"), std::string::npos) << m.status().message();
  }
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(LoadKeyMaterial(Source("host:" + path), Prompt::kOnce).ok());
  EXPECT_EQ(LoadKeyMaterial(Source("host:" + dir_ + "/missing"), Prompt::kOnce).status().code(),
            ENOENT);
  EXPECT_EQ(LoadKeyMaterial(Source("host:" + dir_), Prompt::kOnce).status().code(), EINVAL);
}
