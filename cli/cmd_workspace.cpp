// secretfs workspace create W [--naming env] [--keep-versions N] | list [--json] | delete W
// [--purge] [--yes] | set W --keep-versions N; secretfs rekey W

#include <iostream>

#include "cli/commands.h"
#include "cli/json_output.h"
#include "cli/progress_line.h"
#include "cli/table.h"

namespace secretfs::cli {
namespace {

std::string KeptText(uint32_t keep) {
  if (keep == 0) return "keeps every version of each secret";
  return "keeps the last " + std::to_string(keep) + " version" + (keep == 1 ? "" : "s") +
         " of each secret";
}

int Create(CliContext& ctx, const std::string& name, const std::string& naming_text,
           uint32_t keep) {
  auto naming = store::ParseNaming(naming_text);
  if (!naming) throw UsageError{naming.status().message()};
  if (Status s = store::ValidateWorkspaceName(name); !s.ok()) throw UsageError{s.message()};
  // A limit erases each secret's history as it grows: an owner's decision, as with `set`.
  auto store =
      ctx.OpenFor("workspace create",
                  keep > 0 ? policy::Action::kOwn : policy::Action::kManageWorkspaces, name);
  if (!store) return CliContext::Fail("workspace create " + name, store.status());
  audit::Event event = CliContext::CliEvent("workspace create", name);
  if (keep > 0) event.detail = "keep_versions=" + std::to_string(keep);
  if (Status s = CliContext::Audited(
          **store, event, [&] { return (*store)->CreateWorkspace(name, *naming, keep); });
      !s.ok())
    return CliContext::Fail("workspace create " + name, s);
  std::cout << "created workspace " << name << " (naming " << store::NamingName(*naming)
            << (keep > 0 ? "; " + KeptText(keep) : "") << ")\n";
  return kExitOk;
}

int List(CliContext& ctx, bool json) {
  auto store = ctx.OpenFor("workspace list", policy::Action::kSee);
  if (!store) return CliContext::Fail("workspace list", store.status());
  auto list = (*store)->ListWorkspaces();
  if (Status s = CliContext::Record(**store, CliContext::CliEvent("workspace list"), list.status());
      !s.ok())
    return CliContext::Fail("workspace list", s);
  if (!list) return CliContext::Fail("workspace list", list.status());
  // Every workspace is listed; one whose secrets include a damaged record is also an error.
  const auto report_damaged = [&] {
    int rc = kExitOk;
    for (const auto& w : *list)
      if (w.damaged_secrets > 0)
        rc = CliContext::Fail("workspace list " + w.name,
                              std::to_string(w.damaged_secrets) +
                                  " secret record(s) are damaged (see secretfs verify)");
    return rc;
  };
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& w : *list)
      out.push_back({{"name", w.name},
                     {"naming", store::NamingName(w.naming)},
                     {"secrets", w.live_secrets},
                     {"deleted_secrets", w.deleted_secrets},
                     {"damaged_secrets", w.damaged_secrets},
                     {"key_generation", w.key_generation},
                     {"keep_versions", w.keep_versions},
                     {"created", FormatTime(w.created_ns, true)}});
    std::cout << JsonText(out) << "\n";
    return report_damaged();
  }
  Table table({"WORKSPACE", "NAMING", "SECRETS", "DELETED", "VERSIONS", "CREATED"});
  for (const auto& w : *list)
    table.Add({w.name, std::string(store::NamingName(w.naming)), std::to_string(w.live_secrets),
               std::to_string(w.deleted_secrets),
               w.keep_versions == 0 ? "all" : "last " + std::to_string(w.keep_versions),
               FormatTime(w.created_ns)});
  table.Print(std::cout);
  return report_damaged();
}

int Delete(CliContext& ctx, const std::string& name, bool purge, bool yes) {
  if (Status s = store::ValidateWorkspaceName(name); !s.ok()) throw UsageError{s.message()};
  // Purging destroys history: an owner's action (SPEC §5).
  auto store = ctx.OpenFor("workspace delete",
                           purge ? policy::Action::kOwn : policy::Action::kManageWorkspaces, name);
  if (!store) return CliContext::Fail("workspace delete " + name, store.status());
  auto info = (*store)->GetWorkspace(name);
  if (!info) return CliContext::Fail("workspace delete " + name, info.status());
  if (purge && !yes &&
      !ConfirmOnTerminal(
          "This destroys workspace " + name + ", its " +
              std::to_string(info->live_secrets + info->deleted_secrets + info->damaged_secrets) +
              " secret(s), every version and its data key, for good.",
          name))
    return CliContext::Fail("workspace delete " + name,
                            "not confirmed (type the workspace name on a terminal, or add --yes)");
  audit::Event event = CliContext::CliEvent("workspace delete", name);
  if (purge) event.detail = "purge";
  const auto delete_workspace = [&] {
    return CliContext::Audited(**store, event,
                               [&] { return (*store)->DeleteWorkspace(name, purge); });
  };
  if (Status s = purge ? CliContext::FreeingSpace(**store, delete_workspace) : delete_workspace();
      !s.ok())
    return CliContext::Fail("workspace delete " + name, s);
  std::cout << (purge ? "purged workspace " : "deleted workspace ") << name << "\n";
  return kExitOk;
}

// How many versions of each secret W keeps. Erasing history is an owner's action (SPEC §5), and
// lowering the number erases versions at once.
int Set(CliContext& ctx, const std::string& name, uint32_t keep) {
  if (Status s = store::ValidateWorkspaceName(name); !s.ok()) throw UsageError{s.message()};
  const std::string what = "workspace set " + name;
  auto store = ctx.OpenFor("workspace set", policy::Action::kOwn, name);
  if (!store) return CliContext::Fail(what, store.status());
  audit::Event event = CliContext::CliEvent("workspace set", name);
  event.detail = "keep_versions=" + std::to_string(keep);
  auto erased = CliContext::FreeingSpace(**store, [&] {
    return CliContext::Audited(**store, event,
                               [&] { return (*store)->SetKeepVersions(name, keep); });
  });
  if (!erased) return CliContext::Fail(what, erased.status());
  std::cout << "workspace " << name << " " << KeptText(keep);
  if (keep > 0)
    std::cout << "; " << *erased << " older version" << (*erased == 1 ? "" : "s") << " erased";
  std::cout << "\n";
  return kExitOk;
}

// secretfs rekey W: a new data key for W, every version re-encrypted (an owner's action: it
// manages keys).
int Rekey(CliContext& ctx, const std::string& name) {
  if (Status s = store::ValidateWorkspaceName(name); !s.ok()) throw UsageError{s.message()};
  const std::string what = "rekey " + name;
  auto store = ctx.OpenFor("rekey", policy::Action::kOwn, name);
  if (!store) return CliContext::Fail(what, store.status());
  ProgressLine progress("re-encrypting", "versions");
  auto result = CliContext::Audited(**store, CliContext::CliEvent("rekey", name), [&] {
    return (*store)->RekeyWorkspace(name, std::ref(progress));
  });
  progress.Finish();
  if (!result) return CliContext::Fail(what, result.status());
  std::cout << "workspace " << name << ": new data key (generation " << result->generation << "), "
            << result->versions << " version(s) re-encrypted; the old key is gone\n";
  return kExitOk;
}

CLI::Option* AddKeepVersionsOption(CLI::App& command, uint32_t& keep, const std::string& help) {
  return command.add_option("--keep-versions", keep, help)->check(CLI::Range(0u, 1000000u));
}

}  // namespace

void AddWorkspaceCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto* ws = app.add_subcommand("workspace", "Create, list, change and delete workspaces");
  ws->require_subcommand(1);

  auto* create = ws->add_subcommand("create", "Create workspace W with its own data key");
  auto name = std::make_shared<std::string>();
  auto naming = std::make_shared<std::string>("default");
  create->add_option("W", *name, "Workspace name ([a-z0-9][a-z0-9_-]{0,62})")->required();
  create->add_option("--naming", *naming,
                     "Key naming rule: default, or env (environment variable names only)");
  auto create_keep = std::make_shared<uint32_t>(0);
  AddKeepVersionsOption(*create, *create_keep,
                        "Keep only the last N versions of each secret, erasing older ones at each "
                        "new version (default 0: keep every version; an owner's setting)");
  create->callback([&ctx, &action, name, naming, create_keep] {
    action = [&ctx, name, naming, create_keep] {
      return Create(ctx, *name, *naming, *create_keep);
    };
  });

  auto* list = ws->add_subcommand("list", "List workspaces");
  auto json = std::make_shared<bool>(false);
  list->add_flag("--json", *json, "JSON output");
  list->callback([&ctx, &action, json] { action = [&ctx, json] { return List(ctx, *json); }; });

  auto* del = ws->add_subcommand(
      "delete", "Delete an empty workspace; --purge destroys its secrets and data key");
  auto del_name = std::make_shared<std::string>();
  auto purge = std::make_shared<bool>(false);
  auto yes = std::make_shared<bool>(false);
  del->add_option("W", *del_name, "Workspace name")->required();
  del->add_flag("--purge", *purge, "Also destroy every secret, version and the data key");
  del->add_flag("--yes", *yes, "Do not ask for confirmation");
  del->callback([&ctx, &action, del_name, purge, yes] {
    action = [&ctx, del_name, purge, yes] { return Delete(ctx, *del_name, *purge, *yes); };
  });

  auto* set = ws->add_subcommand("set", "Change workspace W's settings");
  auto set_name = std::make_shared<std::string>();
  auto keep = std::make_shared<uint32_t>(0);
  set->add_option("W", *set_name, "Workspace name")->required();
  AddKeepVersionsOption(*set, *keep,
                        "Keep only the last N versions of each secret, erasing older ones now and "
                        "at each new version (0: keep every version)")
      ->required();
  set->callback([&ctx, &action, set_name, keep] {
    action = [&ctx, set_name, keep] { return Set(ctx, *set_name, *keep); };
  });

  auto* rekey = app.add_subcommand(
      "rekey", "Give workspace W a new data key and re-encrypt every version (one transaction)");
  auto rekey_name = std::make_shared<std::string>();
  rekey->add_option("W", *rekey_name, "Workspace name")->required();
  rekey->callback([&ctx, &action, rekey_name] {
    action = [&ctx, rekey_name] { return Rekey(ctx, *rekey_name); };
  });
}

}  // namespace secretfs::cli
