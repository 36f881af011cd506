// Subcommand registration. Each Add*Commands adds its subcommands to `app`; when one of them is
// chosen on the command line, parsing sets `action` to the function that runs it and returns its
// exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/cli_context.h"

namespace secretfs::cli {

using Action = std::function<int()>;

void AddStoreCommands(CLI::App& app, CliContext& ctx, Action& action);      // init backup verify
void AddWorkspaceCommands(CLI::App& app, CliContext& ctx, Action& action);  // workspace ...
void AddSecretCommands(CLI::App& app, CliContext& ctx, Action& action);     // put get rm ...
void AddListCommands(CLI::App& app, CliContext& ctx, Action& action);       // ls history
void AddKeyringCommands(CLI::App& app, CliContext& ctx, Action& action);    // keyring ...

// Builds the whole command line.
void BuildApp(CLI::App& app, GlobalOptions& options, CliContext& ctx, Action& action);

}  // namespace secretfs::cli
