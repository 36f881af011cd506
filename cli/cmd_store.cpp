// secretfs init | backup DEST | verify

#include <cerrno>
#include <iostream>

#include "audit/audit_query.h"
#include "cli/commands.h"
#include "cli/progress_line.h"

namespace secretfs::cli {
namespace {

int Init(CliContext& ctx, const std::string& label, const std::string& pwhash) {
  const std::string& dir = ctx.options().store_dir;
  auto limits = keyring::PwhashLimits::Named(pwhash);
  if (!limits) throw UsageError{limits.status().message()};
  if (!IsPrintableUtf8(label))  // listings print it, as keyring add's
    throw UsageError{"--label: UTF-8 text without control characters"};
  auto key = ctx.LoadKey(keyring::Prompt::kConfirm);
  if (!key) return CliContext::Fail("init", key.status());
  // The log starts with the store's creation; a store whose event could not be recorded (a
  // nearly full disk) is not left behind.
  const auto record_creation = [](store::SecretStore& store) {
    return CliContext::Record(store, CliContext::CliEvent("init"), Status::Ok());
  };
  if (Status s = store::SecretStore::Create(dir, *key, *limits, label, {}, record_creation);
      !s.ok())
    return CliContext::Fail("init " + dir, s);
  std::cout << "created store " << dir << " with key slot 1 (" << key->origin << ")\n";
  return kExitOk;
}

int Backup(CliContext& ctx, const std::string& dest) {
  auto store = ctx.OpenFor("backup", policy::Action::kOwn);
  if (!store) return CliContext::Fail("backup", store.status());
  // Recorded once DEST is found fit and before the copy, so the backup holds its own event; a
  // copy that fails after it is recorded again with its error.
  audit::Event event = CliContext::CliEvent("backup");
  event.detail = dest;
  bool recorded = false;
  Status s = (*store)->Backup(dest, [&] {
    Status r = CliContext::Record(**store, event, Status::Ok());
    recorded = r.ok();
    return r;
  });
  if (!s.ok()) {
    if (recorded) (void)CliContext::Record(**store, std::move(event), s);
    return CliContext::Fail("backup " + dest, s);
  }
  std::cout << "backed up " << ctx.options().store_dir << " to " << dest
            << " (opens with the same keys)\n";
  return kExitOk;
}

int Verify(CliContext& ctx) {
  auto store = ctx.OpenFor("verify", policy::Action::kSee);
  if (!store) return CliContext::Fail("verify", store.status());
  if (Status s = CliContext::Record(**store, CliContext::CliEvent("verify"), Status::Ok()); !s.ok())
    return CliContext::Fail("verify", s);
  ProgressLine progress("verifying", "versions");
  auto report = (*store)->Verify(std::ref(progress));
  progress.Finish();
  if (!report) return CliContext::Fail("verify", report.status());
  // A secret whose record was set back and its newer versions deleted leaves nothing in the store
  // to notice; the audit log still names the newer version (its write, its reads).
  auto logged = audit::HighestLoggedVersions((*store)->env());
  if (!logged) return CliContext::Fail("verify: reading the audit log", logged.status());
  for (const auto& [name, highest] : *logged) {
    const auto& [workspace, key] = name;
    auto info = (*store)->Stat(workspace, key);
    if (!info && info.status().code() != ENOENT) continue;  // damaged: reported above
    if (info && info->record.version >= highest) continue;
    report->problems.push_back(
        {workspace, key, 0,
         (info ? "at version " + std::to_string(info->record.version) + ", behind"
               : std::string("no record, though")) +
             " the audit log, which records version " + std::to_string(highest) +
             ": its record was set back (a rollback of data.mdb?)"});
  }
  for (const auto& p : report->problems) {
    std::string where = p.workspace;
    if (!p.key.empty()) where += "/" + p.key;
    if (p.version != 0) where += " version " + std::to_string(p.version);
    std::cout << "FAILED " << where << ": " << p.message << "\n";
  }
  std::cout << report->workspaces << " workspace(s), " << report->secrets << " secret(s), "
            << report->versions_ok << " version(s) open; " << report->problems.size()
            << " problem(s)\n";
  return report->problems.empty() ? kExitOk : kExitError;
}

}  // namespace

void AddStoreCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto* init = app.add_subcommand("init", "Create the store and its first key slot");
  auto label = std::make_shared<std::string>("initial");
  auto pwhash = std::make_shared<std::string>("moderate");
  init->add_option("--label", *label, "Label of the first key slot");
  init->add_option("--pwhash", *pwhash,
                   "Argon2id cost of a passphrase slot: interactive, moderate or sensitive");
  init->callback([&ctx, &action, label, pwhash] {
    action = [&ctx, label, pwhash] { return Init(ctx, *label, *pwhash); };
  });

  auto* backup = app.add_subcommand("backup", "Copy a consistent, compacted snapshot to DEST");
  auto dest = std::make_shared<std::string>();
  backup->add_option("DEST", *dest, "Directory for the copy (created; must not hold a store)")
      ->required();
  backup->callback([&ctx, &action, dest] { action = [&ctx, dest] { return Backup(ctx, *dest); }; });

  auto* verify = app.add_subcommand("verify", "Open every record and report any that fail");
  verify->callback([&ctx, &action] { action = [&ctx] { return Verify(ctx); }; });
}

}  // namespace secretfs::cli
