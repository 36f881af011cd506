// What the secretfs command-line tests share: a fixture that gives every test its own temporary
// directory (a store path inside it that does not exist yet, and a 32-byte key file), runs the
// built binary in a clean environment, and checks outcomes the way a user sees them.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/cli/run_process.h"

namespace secretfs::testing {

// Files as bytes.
std::string ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::string& bytes);
// A key file as operators should keep one: mode 0600 (a looser one draws a warning on stderr).
void WriteKeyFile(const std::string& path, const std::string& bytes);
std::string RandomBytes(size_t n);
// Every byte value 0..255 `times` times over: NULs, newlines, high bytes.
std::string AllByteValues(size_t times = 1);
// Concatenated contents of every regular file under `dir`.
std::string AllFileBytesUnder(const std::string& dir);
// The lines of `text`, without their '\n'.
std::vector<std::string> Lines(const std::string& text);

// exit 0, no signal, nothing on stderr.
::testing::AssertionResult Succeeded(const ProcessResult& r);
// exit 1, nothing on stdout, and stderr is exactly one line starting with "secretfs: ".
::testing::AssertionResult FailedWithOneLine(const ProcessResult& r);
// exit 2, nothing on stdout, stderr starting with "secretfs: usage: ".
::testing::AssertionResult FailedWithUsage(const ProcessResult& r);
// exit 1 or 2 (an invalid name may be found by the argument parser or by the store), nothing on
// stdout, and stderr's first line starts with "secretfs: ".
::testing::AssertionResult Refused(const ProcessResult& r);

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // secretfs ARGS, with the environment stripped of $SECRETFS_STORE, $SECRETFS_KEY and
  // $CREDENTIALS_DIRECTORY (then options.env applied).
  ProcessResult RunRaw(const std::vector<std::string>& args, ProcessOptions options = {}) const;
  // secretfs -s STORE -k file:KEY ARGS.
  ProcessResult Run(const std::vector<std::string>& args, ProcessOptions options = {}) const;
  ProcessResult RunWithInput(const std::vector<std::string>& args, const std::string& input) const;

  // Each asserts that the command succeeded.
  void InitStore();
  void CreateWorkspace(const std::string& name);
  void Put(const std::string& path, const std::string& value,
           const std::vector<std::string>& extra = {});
  // The value `get` prints (exact bytes), or "<failed>" after a failed assertion.
  std::string Get(const std::string& path, const std::string& version = "");
  // The version numbers `history --json` lists.
  std::vector<uint64_t> Versions(const std::string& path);
  // The keys `ls W --json` lists (with --deleted when `deleted`).
  std::vector<std::string> Keys(const std::string& workspace, bool deleted = false,
                                const std::string& filter = "");

  std::string DataFile() const { return store_ + "/data.mdb"; }
  std::string Path(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;      // the test's temporary directory, removed afterwards
  std::string store_;     // root_/store: not created until InitStore
  std::string key_file_;  // root_/key: 32 random bytes
};

}  // namespace secretfs::testing
