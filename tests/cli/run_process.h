// Runs a program as a real child process and reports what a user would see: its exit code (or
// the signal that killed it), the bytes it wrote to stdout and stderr, and, when it is given a
// pseudo-terminal, everything it wrote on that terminal.
//
// Without a terminal the child runs in a new session, so it has no controlling terminal and
// /dev/tty fails there: a program that would prompt cannot hang a test. With `terminal` steps the
// child gets a pseudo-terminal from forkpty(3) as its controlling terminal (stdin, stdout and
// stderr stay pipes, or stdin is the terminal too), and each step's reply is typed once its
// prompt has appeared.
//
// It ignores SIGPIPE in the calling process (a child may exit before it has read all its input).
// Runs without a terminal may overlap from several threads (every pipe is close-on-exec); a run
// with a terminal must not overlap with any other. Every child is killed after `timeout` and
// reported as timed out.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace secretfs::testing {

// Wait for `prompt` to appear on the terminal (after the previous step's prompt), wait until the
// program has turned echo off when `wait_for_no_echo`, then type `reply`.
struct TerminalStep {
  std::string prompt;
  std::string reply;
  bool wait_for_no_echo = true;
};

struct ProcessOptions {
  std::string stdin_bytes;                 // written to the child's stdin, then closed
  std::map<std::string, std::string> env;  // set in the child, over the inherited environment
  std::vector<std::string> unset_env;      // removed from the child's environment
  std::map<int, std::string> extra_fds;    // fd N in the child reads these bytes from a pipe
  std::optional<std::vector<TerminalStep>> terminal;  // run on a pseudo-terminal
  bool stdin_is_terminal = false;  // with `terminal`: stdin stays on it (no stdin_bytes)
  std::chrono::milliseconds timeout{60'000};
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that killed it, else 0
  bool timed_out = false;
  std::string out;            // stdout bytes
  std::string err;            // stderr bytes
  std::string terminal;       // what the child wrote on its terminal (with a terminal only)
  size_t steps_done = 0;      // terminal steps whose reply was typed
  bool echo_at_exit = false;  // whether the terminal echoed input when the child had exited
};

// Runs argv[0] (a path) with argv. Fails the calling test (ADD_FAILURE) when the child cannot be
// started at all; the result then has exit_code -1.
ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// "exit 1", "signal 11", "timed out", for assertion messages.
std::string Describe(const ProcessResult& result);

}  // namespace secretfs::testing
