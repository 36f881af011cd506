#include "tests/integration/mount_fixture.h"

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/mount_table.h"

extern char** environ;

namespace secretfs::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- Descriptors and files. ----

int Fd::Close() {
  if (fd_ < 0) return EBADF;
  const int rc = close(fd_);
  fd_ = -1;
  return rc == 0 ? 0 : errno;
}

void Fd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

int ErrnoOf(int rc) { return rc == 0 ? 0 : errno; }

ReadResult ReadFd(int fd) {
  ReadResult r;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = errno;
      return r;
    }
    if (n == 0) return r;
    r.bytes.append(buf, static_cast<size_t>(n));
  }
}

ReadResult ReadPath(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return {errno, ""};
  ReadResult r = ReadFd(fd.get());
  if (const int e = fd.Close(); e != 0 && r.error == 0) r.error = e;
  return r;
}

int WriteFd(int fd, const std::string& bytes, size_t chunk) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, std::min(chunk, bytes.size() - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

WriteResult WritePath(const std::string& path, const std::string& bytes, int flags, size_t chunk) {
  WriteResult r;
  Fd fd(open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (!fd.ok()) {
    r.open_error = errno;
    return r;
  }
  r.write_error = WriteFd(fd.get(), bytes, chunk);
  r.close_error = fd.Close();
  return r;
}

std::vector<std::string> ListDir(const std::string& dir, int* error) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (error) *error = d ? 0 : errno;
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string GetXattr(const std::string& path, const std::string& name, int* error) {
  char buf[4096];
  const ssize_t n = getxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (error) *error = n < 0 ? errno : 0;
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

std::string RandomBytes(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  return bytes;
}

void WriteLocalFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// ---- Mounts and daemons. ----

namespace {

// (mount point, type) of every mount.
std::vector<std::pair<std::string, std::string>> Mounts() {
  std::vector<std::pair<std::string, std::string>> out;
  ForEachMount("/proc/self/mountinfo",
               [&](const MountLine& m) { out.emplace_back(m.point, m.fstype); });
  return out;
}

std::vector<std::string> CmdLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  return args;
}

// Alive and not a zombie.
bool Running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool ServesMountpoint(pid_t pid, const std::string& mountpoint) {
  const std::vector<std::string> args = CmdLine(pid);
  if (args.empty() || fs::path(args[0]).filename() != "secretfs") return false;
  return std::find(args.begin(), args.end(), mountpoint) != args.end();
}

std::string Which(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = BinaryDir() + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  path += ":/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return name;
}

// PATH with the build directory first (mount.fuse3 looks secretfs up there).
std::map<std::string, std::string> ToolEnv() {
  return {{"PATH", BinaryDir() + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") +
                       ":/usr/sbin:/sbin"}};
}

// An unlinked temporary file (for a child's stdin, stdout or stderr).
int TempFile() {
  std::string path = (fs::temp_directory_path() / "secretfs-io-XXXXXX").string();
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) unlink(path.c_str());
  return fd;
}

std::string ReadAllFrom(int fd) {
  lseek(fd, 0, SEEK_SET);
  return ReadFd(fd).bytes;
}

std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info == nullptr ? "" : std::string(info->test_suite_name()) + "." + info->name();
}

// Temporary roots made by this process; checked at the end by LeftoverMountCheck.
std::mutex roots_mutex;
std::set<std::string> roots;

// After the whole suite: nothing this process mounted may stay mounted.
class LeftoverMountCheck : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(roots_mutex);
    for (const std::string& root : roots)
      for (const std::string& point : MountPointsUnder(root + "/")) {
        ADD_FAILURE() << point << " is still mounted after the suite; unmounting it";
        ForceUnmount(point, DaemonPid(point));
      }
  }
};

[[maybe_unused]] ::testing::Environment* const leftover_check =
    ::testing::AddGlobalTestEnvironment(new LeftoverMountCheck);

}  // namespace

ProcessResult Spawn(const std::vector<std::string>& argv, const std::string& input,
                    const std::map<std::string, std::string>& env,
                    std::chrono::milliseconds timeout) {
  ProcessResult result;
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const char* name : {"SECRETFS_STORE", "SECRETFS_KEY", "CREDENTIALS_DIRECTORY"})
    vars.erase(name);
  for (const auto& [name, value] : env) vars[name] = value;
  std::vector<std::string> env_text, args = argv;
  for (const auto& [name, value] : vars) env_text.push_back(name + "=" + value);
  std::vector<char*> c_args, c_env;
  for (std::string& a : args) c_args.push_back(a.data());
  for (std::string& e : env_text) c_env.push_back(e.data());
  c_args.push_back(nullptr);
  c_env.push_back(nullptr);

  Fd in(TempFile()), out(TempFile()), err(TempFile());
  if (!in.ok() || !out.ok() || !err.ok() || WriteFd(in.get(), input) != 0 ||
      lseek(in.get(), 0, SEEK_SET) != 0) {
    ADD_FAILURE() << "cannot make temporary files for " << argv[0] << ": " << strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, c_args[0], &actions, &attr, c_args.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << strerror(rc);
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() > deadline && !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(1ms);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = ReadAllFrom(out.get());
  result.err = ReadAllFrom(err.get());
  return result;
}

std::string Describe(const ProcessResult& r) {
  std::string s = r.timed_out ? "timed out, " : "";
  s += r.signal != 0 ? "killed by signal " + std::to_string(r.signal)
                     : "exit " + std::to_string(r.exit_code);
  return s + "; stdout: '" + r.out.substr(0, 400) + "'; stderr: '" + r.err.substr(0, 400) + "'";
}

std::string MountedType(const std::string& path) {
  std::string type;
  for (const auto& [point, t] : Mounts())
    if (point == path) type = t;  // the last mount on a path is the visible one
  return type;
}

std::vector<std::string> MountPointsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& [point, type] : Mounts())
    if (point.rfind(prefix, 0) == 0) out.push_back(point);
  return out;
}

pid_t DaemonPid(const std::string& mountpoint) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const pid_t pid = std::stoi(name);
    if (pid != getpid() && ServesMountpoint(pid, mountpoint) && Running(pid)) return pid;
  }
  return 0;
}

int WaitExit(pid_t& pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void KillChild(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  (void)WaitExit(pid);
}

bool ForceUnmount(const std::string& mountpoint, pid_t daemon) {
  if (!MountedType(mountpoint).empty()) {
    Spawn({Which("fusermount3"), "-u", mountpoint}, "", ToolEnv(), 20s);
    if (!MountedType(mountpoint).empty())
      Spawn({Which("umount"), "-l", mountpoint}, "", ToolEnv(), 20s);
  }
  if (daemon != 0) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (Running(daemon) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    if (Running(daemon) && ServesMountpoint(daemon, mountpoint)) {
      ADD_FAILURE() << "the daemon " << daemon << " of " << mountpoint
                    << " did not exit after the unmount; killing it";
      kill(daemon, SIGKILL);
    }
  }
  return MountedType(mountpoint).empty();
}

void UnmountStoreTmpfs(const std::string& dir) {
  if (dir.empty() || MountedType(dir) != "tmpfs") return;
  for (int i = 0; i < 100 && umount(dir.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(50ms);
  if (MountedType(dir) == "tmpfs" && umount2(dir.c_str(), MNT_DETACH) != 0)
    ADD_FAILURE() << "umount " << dir << ": " << strerror(errno);
}

std::string BinaryDir() { return fs::path(SECRETFS_BINARY).parent_path().string(); }

::testing::AssertionResult Succeeded(const ProcessResult& r) {
  if (r.exit_code == 0 && r.signal == 0 && !r.timed_out && r.err.empty())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success, got " << Describe(r);
}

::testing::AssertionResult FailedCleanly(const ProcessResult& r) {
  if (r.exit_code > 0 && r.signal == 0 && !r.timed_out) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected a non-zero exit, got " << Describe(r);
}

// ---- The fixture. ----

void MountedTest::SetUp() {
  const std::string prefix = "secretfs-int-" + std::to_string(getpid()) + "-XXXXXX";
  std::string tmpl = (fs::temp_directory_path() / prefix).string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << strerror(errno);
  root_ = tmpl;
  // Names the test for ZzNothingLeftMounted, should this root outlive its process.
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(root_ + "/test-name", CurrentTestName()));
  {
    std::lock_guard lock(roots_mutex);
    roots.insert(root_);
  }
  store_ = root_ + "/store";
  key_file_ = root_ + "/key";
  mnt_ = root_ + "/mnt";
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(key_file_, RandomBytes(32)));
  ASSERT_EQ(chmod(key_file_.c_str(), 0600), 0);  // a key file others may read draws a warning
  ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
  ASSERT_TRUE(Succeeded(Cli({"init"})));
  ASSERT_TRUE(Succeeded(Cli({"workspace", "create", "dev"})));
  ASSERT_TRUE(Succeeded(Cli({"workspace", "create", "prod"})));
  const ProcessResult r = MountAt(mnt_, InitialMountOptions());
  ASSERT_TRUE(Succeeded(r));
  ASSERT_EQ(MountedType(mnt_), "fuse.secretfs");
}

void MountedTest::TearDown() {
  // Latest first: a mount made on top of another comes off first.
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it)
    EXPECT_TRUE(ForceUnmount(it->mountpoint, it->daemon)) << it->mountpoint << " stays mounted";
  mounts_.clear();
  if (root_.empty()) return;
  for (const std::string& point : MountPointsUnder(root_ + "/")) {
    ADD_FAILURE() << point << " was mounted without being tracked; unmounting it";
    ForceUnmount(point, DaemonPid(point));
  }
  if (!MountPointsUnder(root_ + "/").empty()) {
    ADD_FAILURE() << "something is still mounted under " << root_ << "; not removing it";
    return;
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
  EXPECT_FALSE(ec) << "removing " << root_ << ": " << ec.message();
}

ProcessResult MountedTest::Cli(const std::vector<std::string>& args, const std::string& input,
                               const std::map<std::string, std::string>& env) const {
  std::vector<std::string> argv = {SECRETFS_BINARY, "-s", store_, "-k", "file:" + key_file_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> all = env;
  const std::map<std::string, std::string> tools = ToolEnv();
  all.insert(tools.begin(), tools.end());  // keeps env's own PATH, if it has one
  return Spawn(argv, input, all);
}

ProcessResult MountedTest::Shell(const std::string& script,
                                 std::chrono::milliseconds timeout) const {
  return Spawn({"/bin/sh", "-c", script}, "", ToolEnv(), timeout);
}

ProcessResult MountedTest::Program(const std::vector<std::string>& argv) const {
  std::vector<std::string> resolved = argv;
  resolved[0] = Which(argv[0]);
  return Spawn(resolved, "", ToolEnv());
}

ProcessResult MountedTest::MountAt(const std::string& mountpoint, const std::string& options) {
  std::vector<std::string> args = {"mount", mountpoint};
  if (!options.empty()) args.insert(args.end(), {"-o", options});
  ProcessResult r = Cli(args);
  if (r.exit_code == 0) TrackMount(mountpoint);
  return r;
}

void MountedTest::TrackMount(const std::string& mountpoint) {
  mounts_.push_back({mountpoint, DaemonPid(mountpoint)});
}

void MountedTest::Unmount(const std::string& mountpoint) {
  for (auto it = mounts_.begin(); it != mounts_.end(); ++it)
    if (it->mountpoint == mountpoint) {
      const Tracked t = *it;
      mounts_.erase(it);
      ASSERT_TRUE(ForceUnmount(t.mountpoint, t.daemon));
      return;
    }
  ASSERT_TRUE(ForceUnmount(mountpoint, DaemonPid(mountpoint)));
}

void MountedTest::Remount(const std::string& options) {
  ASSERT_NO_FATAL_FAILURE(Unmount(mnt_));
  const ProcessResult r = MountAt(mnt_, options);
  ASSERT_TRUE(Succeeded(r)) << "mount -o " << options;
  ASSERT_EQ(MountedType(mnt_), "fuse.secretfs");
}

void MountedTest::Put(const std::string& path, const std::string& value) {
  const ProcessResult r = Cli({"put", path}, value);
  ASSERT_TRUE(Succeeded(r)) << "put " << path;
}

std::string MountedTest::Get(const std::string& path, const std::string& version) {
  std::vector<std::string> args = {"get", path};
  if (!version.empty()) args.insert(args.end(), {"--version", version});
  const ProcessResult r = Cli(args);
  EXPECT_TRUE(Succeeded(r)) << "get " << path << " " << version;
  return Succeeded(r) ? r.out : "<get failed>";
}

std::vector<uint64_t> MountedTest::Versions(const std::string& path) {
  const ProcessResult r = Cli({"history", path, "--json"});
  EXPECT_TRUE(Succeeded(r)) << "history " << path;
  std::vector<uint64_t> versions;
  if (!Succeeded(r)) return versions;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  for (const auto& v : doc.at("versions")) versions.push_back(v.at("version").get<uint64_t>());
  return versions;
}

}  // namespace secretfs::testing
