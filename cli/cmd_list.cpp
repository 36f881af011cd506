// secretfs ls [W] [--filter S] [--deleted] [--json] | history W/K [--json]
#include <fnmatch.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/json_output.h"
#include "cli/table.h"

namespace secretfs::cli {
namespace {

struct LsArgs {
  std::string workspace;
  std::string filter;
  bool deleted = false;
  bool json = false;
};

// A filter with glob characters is a glob on the key name; otherwise a substring.
bool Matches(const std::string& key, const std::string& filter) {
  if (filter.empty()) return true;
  if (filter.find_first_of("*?[") != std::string::npos)
    return fnmatch(filter.c_str(), key.c_str(), 0) == 0;
  return key.find(filter) != std::string::npos;
}

nlohmann::json SecretJson(const store::SecretInfo& s) {
  const store::SecretRecord& r = s.record;
  return {{"workspace", s.workspace},
          {"key", s.key},
          {"version", r.version},
          {"size", r.size},
          {"deleted", r.deleted},
          {"created", FormatTime(r.created_ns, true)},
          {"updated", FormatTime(r.updated_ns, true)},
          {"updated_by", r.updated_by},
          {"description", r.description},
          {"type", r.type},
          {"tags", r.tags}};
}

int Ls(CliContext& ctx, const LsArgs& a) {
  const std::string what = a.workspace.empty() ? "ls" : "ls " + a.workspace;
  if (!a.workspace.empty())
    if (Status s = store::ValidateWorkspaceName(a.workspace); !s.ok())
      throw UsageError{s.message()};
  auto store = ctx.OpenFor("ls", policy::Action::kSee, a.workspace);
  if (!store) return CliContext::Fail(what, store.status());
  if (Status s = CliContext::Record(**store, CliContext::CliEvent("ls", a.workspace), Status::Ok());
      !s.ok())
    return CliContext::Fail(what, s);
  std::vector<std::string> workspaces;
  if (a.workspace.empty()) {
    auto all = (*store)->ListWorkspaces();
    if (!all) return CliContext::Fail(what, all.status());
    for (const auto& w : *all) workspaces.push_back(w.name);
  } else {
    workspaces.push_back(a.workspace);
  }
  std::vector<store::SecretInfo> shown;
  std::vector<std::string> damaged;  // W/K whose record does not decode: reported, not shown
  for (const std::string& w : workspaces) {
    auto list = (*store)->List(w);
    if (!list) return CliContext::Fail(what, list.status());
    for (auto& s : *list) {
      // Under --policy, a caller whose rules name only some keys sees only those, as in the mount.
      if (!Matches(s.key, a.filter) || !ctx.Check(policy::Action::kSee, w, s.key).ok()) continue;
      if (s.damaged)
        damaged.push_back(w + "/" + s.key);
      else if (s.record.deleted == a.deleted)
        shown.push_back(std::move(s));
    }
  }
  // As ls(1) with an entry it cannot stat: the others are listed, that one is an error.
  const auto report_damaged = [&] {
    for (const std::string& path : damaged)
      CliContext::Fail("ls " + path, "its record in the store is damaged (see secretfs verify)");
    return damaged.empty() ? kExitOk : kExitError;
  };
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : shown) out.push_back(SecretJson(s));
    std::cout << JsonText(out) << "\n";
    return report_damaged();
  }
  Table table({a.workspace.empty() ? "SECRET" : "KEY", "VERSION", "SIZE",
               a.deleted ? "DELETED" : "UPDATED", "TYPE", "DESCRIPTION"});
  for (const auto& s : shown) {
    const store::SecretRecord& r = s.record;
    table.Add({a.workspace.empty() ? s.workspace + "/" + s.key : s.key, std::to_string(r.version),
               FormatSize(r.size), FormatTime(a.deleted ? r.deleted_ns : r.updated_ns), r.type,
               r.description});
  }
  table.Print(std::cout);
  return report_damaged();
}

int History(CliContext& ctx, const std::string& text, bool json) {
  auto path = store::ParseSecretPath(text);
  if (!path) throw UsageError{path.status().message()};
  const std::string what = "history " + path->text();
  auto store = ctx.OpenFor("history", policy::Action::kSee, path->workspace, path->key);
  if (!store) return CliContext::Fail(what, store.status());
  auto info = (*store)->Stat(path->workspace, path->key);
  if (Status s = CliContext::Record(
          **store, CliContext::CliEvent("history", path->workspace, path->key), info.status());
      !s.ok())
    return CliContext::Fail(what, s);
  if (!info) return CliContext::Fail(what, info.status());
  auto versions = (*store)->History(path->workspace, path->key);
  if (!versions) return CliContext::Fail(what, versions.status());
  const uint64_t current = info->record.version;
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& v : *versions)
      list.push_back({{"version", v.version},
                      {"created", FormatTime(v.created_ns, true)},
                      {"author", v.author},
                      {"size", v.size},
                      {"current", v.version == current}});
    nlohmann::json out = SecretJson(*info);
    out["versions"] = std::move(list);
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  Table table({"VERSION", "CREATED", "SIZE", "AUTHOR", ""});
  for (const auto& v : *versions)
    table.Add(
        {std::to_string(v.version), FormatTime(v.created_ns), FormatSize(v.size), v.author,
         v.version == current ? (info->record.deleted ? "current (deleted)" : "current") : ""});
  table.Print(std::cout);
  return kExitOk;
}

}  // namespace

void AddListCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto ls_args = std::make_shared<LsArgs>();
  auto* ls = app.add_subcommand("ls", "List the secrets of W, or of every workspace");
  ls->add_option("W", ls_args->workspace, "Workspace (default: all)");
  ls->add_option("--filter", ls_args->filter, "Only keys containing S, or matching glob S");
  ls->add_flag("--deleted", ls_args->deleted, "List soft-deleted secrets instead of live ones");
  ls->add_flag("--json", ls_args->json, "JSON output");
  ls->callback(
      [&ctx, &action, ls_args] { action = [&ctx, ls_args] { return Ls(ctx, *ls_args); }; });

  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* history = app.add_subcommand("history", "List the versions of W/K");
  history->add_option("W/K", *path, "Workspace and key")->required();
  history->add_flag("--json", *json, "JSON output");
  history->callback([&ctx, &action, path, json] {
    action = [&ctx, path, json] { return History(ctx, *path, *json); };
  });
}

}  // namespace secretfs::cli
