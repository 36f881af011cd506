// The secretfs command.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "keyring/key_source.h"

namespace {

// Keys and values pass through this process: no core dumps, no ptrace by other users.
void DisableCoreDumps() {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
}

// LMDB maps the store file; a damaged page number can point past the end of the file, and the
// kernel answers that read with SIGBUS (or SIGSEGV). Say so in one line instead of dumping.
// Sanitizer builds keep their own handlers, which report more.
void ReportDamagedStoreOnFault() {
#if !defined(__SANITIZE_ADDRESS__)
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    static const char kMessage[] =
        "secretfs: store: the store file is damaged (a read fell outside it); run secretfs "
        "verify, or restore a backup\n";
    [[maybe_unused]] ssize_t n = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(1);
  };
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGBUS, &sa, nullptr);
  sigaction(SIGSEGV, &sa, nullptr);
#endif
}

// A program started with descriptor 0, 1 or 2 closed (`cmd <&- >&-`, some daemons' children)
// would hand that number to the next file it opens: the store's lock.mdb or data.mdb, which
// output and error messages would then overwrite, values included. /dev/null takes their place.
// Returns whether descriptor 0 was closed; exits when /dev/null cannot be opened.
bool OpenStandardDescriptors() {
  bool stdin_closed = false;
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    if (fd == STDIN_FILENO) stdin_closed = true;
    const int null = open("/dev/null", O_RDWR);  // the lowest free number: this one
    if (null != fd) _exit(1);                    // nowhere to say so: stderr may be the one missing
  }
  return stdin_closed;
}

// What a command printed through std::cout and could not write (a full disk, a file over its
// size limit) fails the command: `secretfs ls --json > f` must not exit 0 with f cut short.
// A reader that went away (EPIPE, with SIGPIPE ignored) is not an error, as in `audit | head`.
int FinishOutput(int exit_code) {
  errno = 0;
  std::cout.flush();
  if (std::cout || errno == EPIPE || exit_code != secretfs::cli::kExitOk) return exit_code;
  return secretfs::cli::CliContext::Fail(
      "writing the output", errno != 0 ? std::strerror(errno) : "the output stream failed");
}

// main() without the flush of its output.
int Run(int argc, char** argv) {
  // Before anything opens a file: fd:N may then name only a descriptor the command was given,
  // never the store's own lock.mdb or data.mdb.
  secretfs::keyring::RecordInheritedDescriptors();
  const bool stdin_was_closed = OpenStandardDescriptors();
  DisableCoreDumps();
  ReportDamagedStoreOnFault();
  using namespace secretfs::cli;
  CLI::App app{"secretfs: secrets as files, sealed with libsodium in an LMDB store", "secretfs"};
  GlobalOptions options;
  options.stdin_was_closed = stdin_was_closed;
  CliContext ctx(options);
  Action action;
  BuildApp(app, options, ctx, action);
  std::vector<std::string> args(argv, argv + argc);
  args = RewriteMountHelperForm(args);
  TakeEnvCommand(args);
  if (auto unknown = UnknownCommand(args)) {
    std::cerr << "secretfs: usage: unknown command '" << OneLine(*unknown)
              << "' (see secretfs --help)" << std::endl;
    return kExitUsage;
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 wants them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    // CLI11's message names them in reverse order ("c b" for `get W/K b c`): as they were given.
    const std::vector<std::string> extras = app.remaining(/*recurse=*/true);
    std::string listed;
    for (const std::string& extra : extras) listed += (listed.empty() ? "" : " ") + extra;
    std::cerr << "secretfs: usage: unexpected argument" << (extras.size() > 1 ? "s: " : ": ")
              << OneLine(listed) << " (see secretfs --help)" << std::endl;
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    std::cerr << "secretfs: usage: " << OneLine(e.what()) << " (see secretfs --help)" << std::endl;
    return kExitUsage;
  }
  if (!action) {
    std::cerr << app.help();
    return kExitUsage;
  }
  try {
    return action();
  } catch (const UsageError& e) {
    std::cerr << "secretfs: usage: " << OneLine(e.message) << std::endl;
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    return CliContext::Fail("out of memory",
                            "could not allocate (locked) memory; check RLIMIT_MEMLOCK (ulimit -l)");
  } catch (const std::exception& e) {
    return CliContext::Fail("internal error", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) { return FinishOutput(Run(argc, argv)); }
