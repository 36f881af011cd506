// Subcommand registration. Each Add*Commands adds its subcommands to `app`; when one of them is
// chosen on the command line, parsing sets `action` to the function that runs it and returns its
// exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_context.h"

namespace secretfs::cli {

using Action = std::function<int()>;

void AddStoreCommands(CLI::App& app, CliContext& ctx, Action& action);      // init backup verify
void AddWorkspaceCommands(CLI::App& app, CliContext& ctx, Action& action);  // workspace ...
void AddSecretCommands(CLI::App& app, CliContext& ctx, Action& action);     // put get rm ...
void AddListCommands(CLI::App& app, CliContext& ctx, Action& action);       // ls history
void AddKeyringCommands(CLI::App& app, CliContext& ctx, Action& action);    // keyring ...
void AddMountCommands(CLI::App& app, CliContext& ctx, Action& action);      // mount
void AddPolicyCommands(CLI::App& app, CliContext& ctx, Action& action);     // policy check
void AddAuditCommands(CLI::App& app, CliContext& ctx, Action& action);      // audit ...
void AddEnvCommands(CLI::App& app, CliContext& ctx, Action& action);        // env

// `env W [--only GLOB] -- CMD [ARGS]`: when a word before the first "--" is "env", cuts "--" and
// everything after it from `args` and keeps CMD [ARGS] for the env command, so that they are
// never parsed as secretfs options. Call before parsing.
void TakeEnvCommand(std::vector<std::string>& args);

// The mount(8) form `secretfs STORE MOUNTPOINT [-o OPTS]...` rewritten as
// `secretfs -s STORE mount MOUNTPOINT [-o OPTS]...`; other command lines are returned unchanged.
std::vector<std::string> RewriteMountHelperForm(const std::vector<std::string>& args);

// The first word of `args` when it is neither an option nor a subcommand (after the rewrite
// above), so the error can name it.
std::optional<std::string> UnknownCommand(const std::vector<std::string>& args);

// Builds the whole command line.
void BuildApp(CLI::App& app, GlobalOptions& options, CliContext& ctx, Action& action);

}  // namespace secretfs::cli
