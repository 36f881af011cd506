#include "tests/cli/run_process.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char** environ;

namespace secretfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Fds at or above this number are free in the child while it moves its pipes into place.
constexpr int kParkedFdBase = 100;

struct Pipe {
  int read = -1;
  int write = -1;
};

Pipe MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  return {fds[0], fds[1]};
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::vector<std::string> ChildEnvironment(const ProcessOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const std::string& name : options.unset_env) env.erase(name);
  for (const auto& [name, value] : options.env) env[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the child: only async-signal-safe calls from here to execve.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, bool new_session,
                            const std::vector<std::pair<int, int>>& moves) {
  if (new_session) setsid();
  signal(SIGPIPE, SIG_DFL);
  // Park every source above the targets first, so no dup2 overwrites a source not yet moved.
  std::vector<int> parked;
  parked.reserve(moves.size());
  for (size_t i = 0; i < moves.size(); ++i)
    parked.push_back(fcntl(moves[i].first, F_DUPFD_CLOEXEC, kParkedFdBase));
  for (size_t i = 0; i < moves.size(); ++i)
    if (parked[i] < 0 || dup2(parked[i], moves[i].second) < 0) _exit(126);
  execve(argv[0], argv, envp);
  _exit(127);
}

struct Writer {
  int fd;
  std::string bytes;
  size_t done = 0;
};

bool EchoIsOff(int tty) {
  termios t{};
  return tcgetattr(tty, &t) == 0 && (t.c_lflag & ECHO) == 0;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  static const bool ignore_sigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)ignore_sigpipe;
  ProcessResult result;

  std::vector<std::string> args = argv;
  std::vector<std::string> env = ChildEnvironment(options);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);

  Pipe in = MakePipe(), out = MakePipe(), err = MakePipe();
  std::vector<std::pair<int, int>> moves = {{out.write, 1}, {err.write, 2}};
  if (!(options.terminal && options.stdin_is_terminal)) moves.emplace_back(in.read, 0);
  std::vector<Writer> writers;
  std::vector<int> child_ends = {in.read, out.write, err.write};
  for (const auto& [target, bytes] : options.extra_fds) {
    Pipe p = MakePipe();
    moves.emplace_back(p.read, target);
    child_ends.push_back(p.read);
    writers.push_back({p.write, bytes});
  }
  writers.push_back({in.write, options.stdin_bytes});
  for (const auto& [from, to] : moves) {
    if (from < 0) {
      ADD_FAILURE() << "pipe2: " << strerror(errno);
      return result;
    }
  }

  int master = -1;
  pid_t pid = -1;
  if (options.terminal) {
    pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid == 0) ExecChild(c_args.data(), c_env.data(), false, moves);
  } else {
    pid = fork();
    if (pid == 0) ExecChild(c_args.data(), c_env.data(), true, moves);
  }
  for (int fd : child_ends) close(fd);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    for (Writer& w : writers) CloseFd(w.fd);
    CloseFd(out.read);
    CloseFd(err.read);
    return result;
  }

  // Hold the terminal's other end open ourselves: the child's own descriptors on it are replaced
  // by the pipes, and without any the master would report a hang-up before the program opens
  // /dev/tty. It also lets us watch the terminal's echo flag.
  int slave = -1;
  if (master >= 0) {
    fcntl(master, F_SETFD, FD_CLOEXEC);
    fcntl(master, F_SETFL, O_NONBLOCK);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  fcntl(out.read, F_SETFL, O_NONBLOCK);
  fcntl(err.read, F_SETFL, O_NONBLOCK);
  for (Writer& w : writers) {
    fcntl(w.fd, F_SETFL, O_NONBLOCK);
    if (w.bytes.empty()) CloseFd(w.fd);
  }

  const auto deadline = Clock::now() + options.timeout;
  size_t search_from = 0;
  std::string* sinks[] = {&result.out, &result.err};
  int readers[] = {out.read, err.read};
  while (readers[0] >= 0 || readers[1] >= 0) {
    // Type the next reply once its prompt is on the terminal (and echo is off, if asked).
    bool waiting_for_echo = false;
    if (options.terminal && result.steps_done < options.terminal->size()) {
      const TerminalStep& step = (*options.terminal)[result.steps_done];
      const size_t at = result.terminal.find(step.prompt, search_from);
      if (at != std::string::npos) {
        if (step.wait_for_no_echo && !EchoIsOff(slave)) {
          waiting_for_echo = true;
        } else {
          if (write(master, step.reply.data(), step.reply.size()) !=
              static_cast<ssize_t>(step.reply.size()))
            ADD_FAILURE() << "could not type on the terminal";
          search_from = at + step.prompt.size();
          ++result.steps_done;
          continue;
        }
      }
    }
    std::vector<pollfd> fds;
    for (int r : readers)
      if (r >= 0) fds.push_back({r, POLLIN, 0});
    for (const Writer& w : writers)
      if (w.fd >= 0) fds.push_back({w.fd, POLLOUT, 0});
    if (master >= 0) fds.push_back({master, POLLIN, 0});
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 && !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);
    }
    const int wait_ms = waiting_for_echo ? 5 : static_cast<int>(std::max<long long>(left, 50));
    if (poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (readers[i] < 0) continue;
      const ssize_t n = read(readers[i], buf, sizeof buf);
      if (n > 0) sinks[i]->append(buf, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) CloseFd(readers[i]);
    }
    if (master >= 0) {
      const ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) result.terminal.append(buf, static_cast<size_t>(n));
    }
    for (Writer& w : writers) {
      if (w.fd < 0) continue;
      const ssize_t n = write(w.fd, w.bytes.data() + w.done, w.bytes.size() - w.done);
      if (n > 0) w.done += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || w.done == w.bytes.size()) CloseFd(w.fd);
    }
  }
  for (Writer& w : writers) CloseFd(w.fd);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (master >= 0) {
    result.echo_at_exit = !EchoIsOff(slave);
    char buf[4096];
    ssize_t n;
    while ((n = read(master, buf, sizeof buf)) > 0) result.terminal.append(buf, n);
    CloseFd(slave);
    CloseFd(master);
  }
  return result;
}

std::string Describe(const ProcessResult& result) {
  std::string s = result.timed_out ? "timed out, " : "";
  if (result.signal != 0)
    s += "killed by signal " + std::to_string(result.signal);
  else
    s += "exit " + std::to_string(result.exit_code);
  s += "; stdout: '" + result.out.substr(0, 400) + "'; stderr: '" + result.err.substr(0, 400) + "'";
  if (!result.terminal.empty()) s += "; terminal: '" + result.terminal.substr(0, 400) + "'";
  return s;
}

}  // namespace secretfs::testing
