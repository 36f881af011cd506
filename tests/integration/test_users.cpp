#include "tests/integration/test_users.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;

// Other test processes may run useradd at the same moment (the shadow tools then fail to lock
// /etc/passwd): try again for a while, and believe the user database, not the exit code.
template <class Done, class Make>
bool Retry(Done&& done, Make&& make) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (done()) return true;
    make();
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

bool InGroup(const std::string& user, const std::string& group) {
  const struct group* g = getgrnam(group.c_str());
  if (g == nullptr) return false;
  for (char** member = g->gr_mem; *member != nullptr; ++member)
    if (user == *member) return true;
  return false;
}

// Writes all of `bytes` to `fd`, ignoring failures (the parent sees a short message).
void WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

gid_t EnsureGroup(const std::string& name) {
  const bool made = Retry([&] { return getgrnam(name.c_str()) != nullptr; },
                          [&] {
                            Spawn({"/usr/sbin/groupadd", name});
                          });
  EXPECT_TRUE(made) << "cannot make the group " << name;
  const struct group* g = getgrnam(name.c_str());
  return g != nullptr ? g->gr_gid : 0;
}

TestUser EnsureUser(const std::string& name, const std::vector<std::string>& supplementary) {
  TestUser user;
  user.name = name;
  const bool made =
      Retry([&] { return getpwnam(name.c_str()) != nullptr; },
            [&] {
              Spawn({"/usr/sbin/useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name});
            });
  EXPECT_TRUE(made) << "cannot make the user " << name;
  for (const std::string& group : supplementary) {
    const bool joined = Retry([&] { return InGroup(name, group); },
                              [&] {
                                Spawn({"/usr/sbin/usermod", "-aG", group, name});
                              });
    EXPECT_TRUE(joined) << "cannot add " << name << " to " << group;
  }
  const struct passwd* pw = getpwnam(name.c_str());
  if (pw == nullptr) return user;
  user.uid = pw->pw_uid;
  user.gid = pw->pw_gid;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    getgrouplist(name.c_str(), user.gid, groups.data(), &count);
  }
  groups.resize(static_cast<size_t>(count));
  user.groups = groups;
  return user;
}

std::string RunAs(const TestUser& user, const std::function<std::string()>& body) {
  constexpr const char* kFailed = "<child failed>";
  if (user.uid == 0) {
    ADD_FAILURE() << "RunAs: the user " << user.name << " was not made";
    return kFailed;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return kFailed;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return kFailed;
  }
  if (pid == 0) {
    close(pipe_fds[0]);
    // Groups first: once the uid is dropped, setgroups is no longer allowed.
    if (setgroups(user.groups.size(), user.groups.data()) != 0 ||
        setresgid(user.gid, user.gid, user.gid) != 0 ||
        setresuid(user.uid, user.uid, user.uid) != 0) {
      WriteAll(pipe_fds[1],
               std::string("E") + "cannot become " + user.name + ": " + strerror(errno));
      _exit(1);
    }
    WriteAll(pipe_fds[1], "R" + body());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string message;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool timed_out = false;
  for (;;) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready > 0) {
      char buf[4096];
      const ssize_t n = read(pipe_fds[0], buf, sizeof buf);
      if (n > 0) {
        message.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || errno != EINTR) break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    ADD_FAILURE() << "RunAs(" << user.name << "): the child did not finish within 30 s";
    return kFailed;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || message.empty() || message[0] != 'R') {
    ADD_FAILURE() << "RunAs(" << user.name << "): the child failed (status " << status
                  << "): " << message;
    return kFailed;
  }
  return message.substr(1);
}

int ErrnoAs(const TestUser& user, const std::function<int()>& body) {
  const std::string out = RunAs(user, [&] { return std::to_string(body()); });
  try {
    return std::stoi(out);
  } catch (const std::exception&) {
    return -1;
  }
}

std::vector<std::string> SetprivPrefix(const TestUser& user) {
  return {"/usr/bin/setpriv", "--reuid=" + user.name, "--regid=" + std::to_string(user.gid),
          "--init-groups", "--"};
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".new";
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(temp, text));
  ASSERT_EQ(chmod(temp.c_str(), 0644), 0) << strerror(errno);
  ASSERT_EQ(rename(temp.c_str(), path.c_str()), 0) << strerror(errno);
}

}  // namespace secretfs::testing
