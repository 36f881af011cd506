#include "tests/cli/cli_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

namespace secretfs::testing {
namespace fs = std::filesystem;

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

void WriteKeyFile(const std::string& path, const std::string& bytes) {
  WriteFileBytes(path, bytes);
  EXPECT_EQ(chmod(path.c_str(), 0600), 0) << path;
}

std::string RandomBytes(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  return bytes;
}

std::string AllByteValues(size_t times) {
  std::string bytes;
  for (size_t t = 0; t < times; ++t)
    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  return bytes;
}

std::string AllFileBytesUnder(const std::string& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) all += ReadFileBytes(entry.path().string());
  return all;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

::testing::AssertionResult Succeeded(const ProcessResult& r) {
  if (r.exit_code == 0 && r.signal == 0 && !r.timed_out && r.err.empty())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success, got " << Describe(r);
}

::testing::AssertionResult FailedWithOneLine(const ProcessResult& r) {
  const bool one_line = r.err.rfind("secretfs: ", 0) == 0 && !r.err.empty() &&
                        r.err.back() == '\n' && r.err.find('\n') == r.err.size() - 1;
  if (r.exit_code == 1 && r.out.empty() && one_line) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected exit 1 with one 'secretfs: ' line on stderr, got " << Describe(r);
}

::testing::AssertionResult FailedWithUsage(const ProcessResult& r) {
  if (r.exit_code == 2 && r.out.empty() && r.err.rfind("secretfs: usage: ", 0) == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected a usage error (exit 2), got " << Describe(r);
}

::testing::AssertionResult Refused(const ProcessResult& r) {
  if ((r.exit_code == 1 || r.exit_code == 2) && r.out.empty() && r.err.rfind("secretfs: ", 0) == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected a refusal (exit 1 or 2), got " << Describe(r);
}

void CliTest::SetUp() {
  std::string tmpl = (fs::temp_directory_path() / "secretfs-cli-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  root_ = tmpl;
  store_ = root_ + "/store";
  key_file_ = root_ + "/key";
  WriteKeyFile(key_file_, RandomBytes(32));
}

void CliTest::TearDown() {
  std::error_code ec;
  if (!root_.empty()) fs::remove_all(root_, ec);
}

ProcessResult CliTest::RunRaw(const std::vector<std::string>& args, ProcessOptions options) const {
  std::vector<std::string> argv = {SECRETFS_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const char* name : {"SECRETFS_STORE", "SECRETFS_KEY", "CREDENTIALS_DIRECTORY"})
    if (!options.env.contains(name)) options.unset_env.push_back(name);
  return RunProcess(argv, options);
}

ProcessResult CliTest::Run(const std::vector<std::string>& args, ProcessOptions options) const {
  std::vector<std::string> all = {"-s", store_, "-k", "file:" + key_file_};
  all.insert(all.end(), args.begin(), args.end());
  return RunRaw(all, std::move(options));
}

ProcessResult CliTest::RunWithInput(const std::vector<std::string>& args,
                                    const std::string& input) const {
  ProcessOptions options;
  options.stdin_bytes = input;
  return Run(args, options);
}

void CliTest::InitStore() {
  const ProcessResult r = Run({"init"});
  ASSERT_TRUE(Succeeded(r));
  ASSERT_EQ(r.out, "created store " + store_ + " with key slot 1 (file:" + key_file_ + ")\n");
}

void CliTest::CreateWorkspace(const std::string& name) {
  const ProcessResult r = Run({"workspace", "create", name});
  ASSERT_TRUE(Succeeded(r));
  ASSERT_EQ(r.out, "created workspace " + name + " (naming default)\n");
}

void CliTest::Put(const std::string& path, const std::string& value,
                  const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"put", path};
  args.insert(args.end(), extra.begin(), extra.end());
  const ProcessResult r = RunWithInput(args, value);
  ASSERT_TRUE(Succeeded(r));
  ASSERT_EQ(r.out.rfind(path + ": version ", 0), 0u) << r.out;
}

std::string CliTest::Get(const std::string& path, const std::string& version) {
  std::vector<std::string> args = {"get", path};
  if (!version.empty()) args.insert(args.end(), {"--version", version});
  const ProcessResult r = Run(args);
  EXPECT_TRUE(Succeeded(r)) << "get " << path << " " << version;
  return Succeeded(r) ? r.out : "<failed>";
}

std::vector<uint64_t> CliTest::Versions(const std::string& path) {
  const ProcessResult r = Run({"history", path, "--json"});
  EXPECT_TRUE(Succeeded(r));
  std::vector<uint64_t> versions;
  if (!Succeeded(r)) return versions;
  const auto doc = nlohmann::json::parse(r.out);
  for (const auto& v : doc.at("versions")) versions.push_back(v.at("version").get<uint64_t>());
  return versions;
}

std::vector<std::string> CliTest::Keys(const std::string& workspace, bool deleted,
                                       const std::string& filter) {
  std::vector<std::string> args = {"ls", workspace, "--json"};
  if (deleted) args.push_back("--deleted");
  if (!filter.empty()) args.insert(args.end(), {"--filter", filter});
  const ProcessResult r = Run(args);
  EXPECT_TRUE(Succeeded(r));
  std::vector<std::string> keys;
  if (!Succeeded(r)) return keys;
  for (const auto& s : nlohmann::json::parse(r.out)) keys.push_back(s.at("key").get<std::string>());
  return keys;
}

}  // namespace secretfs::testing
