// secretfs env W [--only GLOB] -- CMD [ARGS]: runs CMD with W's readable secrets as environment
// variables.
//
// Decisions:
// - Only secrets the caller may read are injected: under --policy a key the caller may not read
//   is left out quietly (no error, no denial event); the workspace itself needs `see`.
// - Every injected key is one audit event, op "read", origin cli, with its version, recorded
//   before the exec (fail-closed: no record, no exec). Values that are not injected (an invalid
//   variable name, a NUL byte) are not recorded as reads.
// - A secret overrides an inherited variable of the same name. SECRETFS_KEY is removed from the
//   child's environment: the child gets its secrets, not the means to unlock the whole store.
// - The environment is built in sodium_malloc memory; execve copies it into the new program,
//   and the exec discards this process's memory. CMD's exit code is env's; 127 when CMD cannot
//   be found, 126 when it is found but cannot be run (as env(1) and the shells do).
// - CMD inherits RLIMIT_CORE 0 from this process (main() sets it): a core file of CMD would hold
//   the secrets in its environment. The exec makes CMD dumpable again (ptrace by its own user).
// - The reads are on record even when the exec then fails: the values were decrypted for it.
// - Names that make the loader, a shell, a runtime or a common program load or run code named by
//   the value (LD_PRELOAD, PATH, BASH_ENV, NODE_OPTIONS, GIT_SSH_COMMAND, ...: RunsCode) are
//   skipped with a warning. A `member` may write a workspace's secrets but not read them; such a
//   secret would run its code inside CMD, with CMD's user and every secret CMD was given. The
//   inherited value of such a name is kept. A value that must go there is passed by hand:
//   X=$(secretfs get W/X).
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>

#include "audit/event.h"
#include "cli/commands.h"

extern char** environ;

namespace secretfs::cli {
namespace {

// The words after "--", kept by TakeEnvCommand; nullopt when there was no "--".
std::optional<std::vector<std::string>>& EnvCommand() {
  static std::optional<std::vector<std::string>> command;
  return command;
}

struct EnvArgs {
  std::string workspace;
  std::string only;  // a fnmatch(3) pattern; empty: every key
};

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || std::isalnum(static_cast<unsigned char>(c)) != 0;
  });
}

// Whether a variable named `name` makes the dynamic loader, a shell, a language runtime or a
// common program load or run code that its value names (or read its configuration, which names
// code, from where the value says). The lists start from the ones sudo (env.c, "badenv") and glibc
// (UNSECURE_ENVVARS) keep for setuid programs, for the same reason. Not every program's own.
bool RunsCode(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      // glibc: gconv modules and getconf's programs are run; tunables, locales and message
      // catalogs are parsed with the program's privileges.
      "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH",
      // Shells: the command search path, field splitting, startup files, function search paths,
      // trace and prompt code, the commands of an empty redirection.
      "PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "CDPATH", "FPATH", "ZDOTDIR",
      "NULLCMD", "READNULLCMD", "PS0", "PS1", "PS2", "PS4", "PROMPT_COMMAND", "SHELL",
      // Where programs look for their dotfiles, and the terminal database curses parses.
      "HOME", "XDG_CONFIG_HOME", "TERMINFO", "TERMINFO_DIRS", "TERMCAP",
      // Language runtimes: module search paths, startup code and options that load code.
      "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONBREAKPOINT", "PERL5LIB",
      "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYLIB", "RUBYOPT", "GEM_HOME", "GEM_PATH",
      "BUNDLE_GEMFILE", "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
      "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS", "CLASSPATH",
      "DOTNET_STARTUP_HOOKS", "PHPRC", "PHP_INI_SCAN_DIR", "TCLLIBPATH", "R_PROFILE",
      "R_PROFILE_USER",
      // Programs that run the command a variable names, or load the modules it names.
      "EDITOR", "VISUAL", "PAGER", "MANPAGER", "BROWSER", "LESSOPEN", "LESSCLOSE", "SSH_ASKPASS",
      "SUDO_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_EDITOR",
      "GIT_SEQUENCE_EDITOR", "GIT_PAGER", "GIT_EXTERNAL_DIFF", "GIT_PROXY_COMMAND", "GIT_EXEC_PATH",
      "GIT_TEMPLATE_DIR", "GIT_DIR", "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
      "KRB5_CONFIG"};
  // Whole families: the dynamic loader's (LD_PRELOAD, LD_AUDIT, ...; DYLD_ on macOS), git's
  // configuration (GIT_CONFIG_GLOBAL, GIT_CONFIG_KEY_0, ...: core.sshCommand runs code), .NET's
  // profilers and Lua's startup code and paths (LUA_INIT_5_4, ...).
  static constexpr std::string_view kPrefixes[] = {
      "LD_", "DYLD_", "GIT_CONFIG", "CORECLR_PROFILER", "LUA_INIT", "LUA_PATH", "LUA_CPATH"};
  for (std::string_view prefix : kPrefixes)
    if (name.substr(0, prefix.size()) == prefix) return true;
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// "NAME" of an environ entry "NAME=VALUE".
std::string_view NameOf(const char* entry) {
  const char* eq = std::strchr(entry, '=');
  return eq == nullptr ? std::string_view(entry) : std::string_view(entry, eq - entry);
}

void Warn(const std::string& workspace, const std::string& key, const std::string& why) {
  std::cerr << "secretfs: env: skipping " << OneLine(workspace + "/" + key) << ": " << why
            << std::endl;
}

int Env(CliContext& ctx, const EnvArgs& a, const std::vector<std::string>& command) {
  const std::string what = "env " + a.workspace;
  auto store = ctx.OpenFor("env", policy::Action::kSee, a.workspace);
  if (!store) return CliContext::Fail(what, store.status());
  auto list = (*store)->List(a.workspace);
  if (!list) return CliContext::Fail(what, list.status());

  struct Injected {
    std::string name;
    store::OpenedValue opened;
  };
  std::vector<Injected> injected;
  for (const store::SecretInfo& s : *list) {
    if (s.record.deleted) continue;
    if (!a.only.empty() && fnmatch(a.only.c_str(), s.key.c_str(), 0) != 0) continue;
    // A key the caller may not read is left out; a policy that cannot be read fails the command
    // (it must not quietly run the program with fewer secrets).
    if (Status allowed = ctx.Check(policy::Action::kRead, a.workspace, s.key); !allowed.ok()) {
      if (allowed.code() == EACCES) continue;
      return CliContext::Fail(what, allowed);
    }
    if (!IsVariableName(s.key)) {
      Warn(a.workspace, s.key, "not a valid environment variable name");
      continue;
    }
    if (RunsCode(s.key)) {
      Warn(a.workspace, s.key,
           "it makes programs load or run code its value names, which a writer of the workspace "
           "must not choose (pass it by hand: " +
               s.key + "=$(secretfs get " + a.workspace + "/" + s.key + "))");
      continue;
    }
    auto opened = (*store)->Read(a.workspace, s.key, std::nullopt);
    if (!opened) return CliContext::Fail(what + "/" + OneLine(s.key), opened.status());
    const auto bytes = opened->value.bytes();
    if (std::find(bytes.begin(), bytes.end(), uint8_t{0}) != bytes.end()) {
      Warn(a.workspace, s.key, "the value contains a NUL byte");
      continue;
    }
    injected.push_back({s.key, std::move(*opened)});
  }

  // Fail-closed: every value handed over is on record before CMD starts.
  for (const Injected& i : injected) {
    audit::Event event = CliContext::CliEvent(audit::op::kRead, a.workspace, i.name);
    event.version = i.opened.version;
    event.detail = "env";
    if (Status s = CliContext::Record(**store, std::move(event), Status::Ok()); !s.ok())
      return CliContext::Fail(what, s);
  }
  store->reset();  // closes the store: CMD inherits none of its descriptors

  // "NAME=VALUE\0" for every secret, in locked memory until the exec.
  size_t total = 0;
  for (const Injected& i : injected) total += i.name.size() + 1 + i.opened.value.size() + 1;
  keyring::SecretBuffer strings(total);
  std::vector<char*> envp;
  size_t at = 0;
  for (const Injected& i : injected) {
    char* entry = reinterpret_cast<char*>(strings.data() + at);
    std::memcpy(strings.data() + at, i.name.data(), i.name.size());
    at += i.name.size();
    strings.data()[at++] = '=';
    const auto value = i.opened.value.bytes();
    if (!value.empty()) std::memcpy(strings.data() + at, value.data(), value.size());
    at += value.size();
    strings.data()[at++] = '\0';
    envp.push_back(entry);
  }
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view name = NameOf(*e);
    if (name == "SECRETFS_KEY") continue;
    const bool overridden = std::any_of(injected.begin(), injected.end(),
                                        [&](const Injected& i) { return i.name == name; });
    if (!overridden) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  std::vector<char*> argv;
  for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  execvpe(argv[0], argv.data(), envp.data());
  const int error = errno;
  std::cerr << "secretfs: env: " << OneLine(command[0]) << ": "
            << (error == ENOENT ? "not found" : std::strerror(error)) << std::endl;
  return error == ENOENT ? 127 : 126;
}

}  // namespace

void TakeEnvCommand(std::vector<std::string>& args) {
  const auto dashes = std::find(args.begin(), args.end(), "--");
  if (dashes == args.end() || std::find(args.begin(), dashes, "env") == dashes) return;
  EnvCommand() = std::vector<std::string>(dashes + 1, args.end());
  args.erase(dashes, args.end());
}

void AddEnvCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto args = std::make_shared<EnvArgs>();
  auto* env = app.add_subcommand(
      "env", "Run a command with W's readable secrets as environment variables: env W -- CMD");
  env->add_option("W", args->workspace, "Workspace")->required();
  env->add_option("--only", args->only, "Only the keys matching this glob pattern");
  env->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      if (Status s = store::ValidateWorkspaceName(args->workspace); !s.ok())
        throw UsageError{s.message()};
      const auto& command = EnvCommand();
      if (!command || command->empty())
        throw UsageError{"env: give the command after --: secretfs env W [--only GLOB] -- CMD"};
      return Env(ctx, *args, *command);
    };
  });
}

}  // namespace secretfs::cli
