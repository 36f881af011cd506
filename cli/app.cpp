#include "cli/commands.h"

namespace secretfs::cli {

void BuildApp(CLI::App& app, GlobalOptions& options, CliContext& ctx, Action& action) {
  app.set_version_flag("--version", "secretfs 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.option_defaults()->always_capture_default();
  app.add_option("-s,--store", options.store_dir, "The store directory")->envname("SECRETFS_STORE");
  app.add_option("-k,--key", options.key_source,
                 "Key source: file:PATH, passphrase, fd:N or credential:NAME")
      ->envname("SECRETFS_KEY");
  AddStoreCommands(app, ctx, action);
  AddWorkspaceCommands(app, ctx, action);
  AddSecretCommands(app, ctx, action);
  AddListCommands(app, ctx, action);
  AddKeyringCommands(app, ctx, action);
}

}  // namespace secretfs::cli
