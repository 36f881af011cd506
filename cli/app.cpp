#include <map>
#include <set>

#include "cli/commands.h"

namespace secretfs::cli {

void BuildApp(CLI::App& app, GlobalOptions& options, CliContext& ctx, Action& action) {
  app.set_version_flag("--version", "secretfs 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.option_defaults()->always_capture_default();
  app.add_option("-s,--store", options.store_dir, "The store directory")->envname("SECRETFS_STORE");
  app.add_option("-k,--key", options.key_source,
                 "Key source: file:PATH, passphrase, fd:N, credential:NAME or host:PATH")
      ->envname("SECRETFS_KEY");
  app.add_option("--policy", options.policy_file,
                 "Decide this command's access by this policy file, as the mount would")
      ->envname("SECRETFS_POLICY");
  AddStoreCommands(app, ctx, action);
  AddWorkspaceCommands(app, ctx, action);
  AddSecretCommands(app, ctx, action);
  AddListCommands(app, ctx, action);
  AddKeyringCommands(app, ctx, action);
  AddMountCommands(app, ctx, action);
  AddPolicyCommands(app, ctx, action);
  AddAuditCommands(app, ctx, action);
  AddEnvCommands(app, ctx, action);
}

namespace {
const std::set<std::string> kSubcommands = {"init",  "backup",  "verify",   "workspace", "put",
                                            "get",   "rm",      "undelete", "rollback",  "destroy",
                                            "ls",    "history", "keyring",  "mount",     "help",
                                            "audit", "policy",  "env",      "rekey"};
}  // namespace

std::vector<std::string> RewriteMountHelperForm(const std::vector<std::string>& args) {
  // mount(8) runs: secretfs STORE MOUNTPOINT -o OPTS, with the store as a path.
  if (args.size() < 3 || args[1].empty() || args[1][0] == '-' || kSubcommands.count(args[1]) ||
      args[1].find('/') == std::string::npos || args[2].empty() || args[2][0] == '-')
    return args;
  std::vector<std::string> out = {args[0], "-s", args[1], "mount", args[2]};
  out.insert(out.end(), args.begin() + 3, args.end());
  return out;
}

std::optional<std::string> UnknownCommand(const std::vector<std::string>& args) {
  // Skip the global options (and their values) to find the first word.
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-s" || a == "--store" || a == "-k" || a == "--key" || a == "--policy") {
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    if (!kSubcommands.count(a)) return a;
    // Subcommands with subcommands of their own: the next word must be one of them.
    static const std::map<std::string, std::set<std::string>> kNested = {
        {"workspace", {"create", "list", "set", "delete"}},
        {"keyring", {"list", "add", "remove", "rotate", "host-key"}}};
    auto nested = kNested.find(a);
    if (nested == kNested.end()) return std::nullopt;
    for (size_t j = i + 1; j < args.size(); ++j) {
      if (args[j].empty() || args[j][0] == '-') continue;
      if (!nested->second.count(args[j])) return a + " " + args[j];
      break;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace secretfs::cli
