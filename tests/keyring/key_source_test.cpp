// Key sources: parsing -k SOURCE and reading the material from files, fds and credentials.
#include "keyring/key_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
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

#include "common/byte_codec.h"

using secretfs::AsBytes;
using secretfs::keyring::KeyMaterial;
using secretfs::keyring::KeySource;
using secretfs::keyring::kMaxKeyMaterialBytes;
using secretfs::keyring::LoadKeyMaterial;
using secretfs::keyring::ParseKeySource;
using secretfs::keyring::Prompt;

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

TEST(ParseKeySourceTest, HostKeysAreNotSupported) {
  auto source = ParseKeySource("host:/etc/secretfs/host.key");
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), ENOTSUP);
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
  close(fds[0]);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kind, KeyMaterial::Kind::kKeyFile);
  EXPECT_EQ(Content(*m), content);
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
  // A child in a new session has no controlling terminal, like a daemon or a CI job.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    if (setsid() < 0) _exit(100);
    auto m =
        LoadKeyMaterial(KeySource{KeySource::Kind::kPassphrase, "", "passphrase"}, Prompt::kOnce);
    _exit(m.ok() ? 101 : m.status().code());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), ENXIO);
}
