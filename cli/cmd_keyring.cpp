// secretfs keyring list [--json] | add --new-key SOURCE [--label L] | remove SLOT
#include <iostream>

#include "cli/commands.h"
#include "cli/table.h"

namespace secretfs::cli {
namespace {

int List(CliContext& ctx, bool json) {
  auto store = ctx.OpenFor("keyring list", policy::Action::kOwn);
  if (!store) return CliContext::Fail("keyring list", store.status());
  auto slots = (*store)->ListSlots();
  if (Status s = CliContext::Record(**store, CliContext::CliEvent("keyring list"), slots.status());
      !s.ok())
    return CliContext::Fail("keyring list", s);
  if (!slots) return CliContext::Fail("keyring list", slots.status());
  const uint32_t used = (*store)->unlocked_slot();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : *slots)
      out.push_back({{"slot", s.id},
                     {"kind", keyring::SlotKindName(s.kind)},
                     {"label", s.label},
                     {"created", FormatTime(s.created_unix * 1'000'000'000, true)},
                     {"unlocked_with", s.id == used}});
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  Table table({"SLOT", "KIND", "LABEL", "CREATED", ""});
  for (const auto& s : *slots)
    table.Add({std::to_string(s.id), std::string(keyring::SlotKindName(s.kind)), s.label,
               FormatTime(s.created_unix * 1'000'000'000), s.id == used ? "(this key)" : ""});
  table.Print(std::cout);
  return kExitOk;
}

int Add(CliContext& ctx, const std::string& new_key, const std::string& label,
        const std::string& pwhash) {
  auto limits = keyring::PwhashLimits::Named(pwhash);
  if (!limits) throw UsageError{limits.status().message()};
  auto source = keyring::ParseKeySource(new_key);
  if (!source) throw UsageError{"--new-key: " + source.status().message()};
  auto store = ctx.OpenFor("keyring add", policy::Action::kOwn);
  if (!store) return CliContext::Fail("keyring add", store.status());
  auto material = keyring::LoadKeyMaterial(*source, keyring::Prompt::kConfirm, "the new key slot");
  if (!material) return CliContext::Fail("keyring add", material.status());
  audit::Event event = CliContext::CliEvent("keyring add");
  event.detail =
      material->kind == keyring::KeyMaterial::Kind::kPassphrase ? "passphrase" : "key file";
  auto id = CliContext::Audited(**store, std::move(event), [&] {
    return (*store)->AddSlot(*material, label.empty() ? source->text : label, *limits);
  });
  if (!id) return CliContext::Fail("keyring add", id.status());
  std::cout << "added key slot " << *id << " (" << source->text << ")\n";
  return kExitOk;
}

int Remove(CliContext& ctx, uint32_t slot) {
  const std::string what = "keyring remove " + std::to_string(slot);
  auto store = ctx.OpenFor("keyring remove", policy::Action::kOwn);
  if (!store) return CliContext::Fail(what, store.status());
  audit::Event event = CliContext::CliEvent("keyring remove");
  event.detail = "slot " + std::to_string(slot);
  if (Status s = CliContext::Audited(**store, std::move(event),
                                     [&] { return (*store)->RemoveSlot(slot); });
      !s.ok())
    return CliContext::Fail(what, s);
  std::cout << "removed key slot " << slot << "\n";
  return kExitOk;
}

}  // namespace

void AddKeyringCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto* keyring_cmd = app.add_subcommand("keyring", "Manage the key slots that unlock the store");
  keyring_cmd->require_subcommand(1);

  auto json = std::make_shared<bool>(false);
  auto* list = keyring_cmd->add_subcommand("list", "List key slots");
  list->add_flag("--json", *json, "JSON output");
  list->callback([&ctx, &action, json] { action = [&ctx, json] { return List(ctx, *json); }; });

  auto new_key = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  auto pwhash = std::make_shared<std::string>("moderate");
  auto* add = keyring_cmd->add_subcommand("add", "Add a key slot (unlocking with -k first)");
  add->add_option("--new-key", *new_key,
                  "The new key: file:PATH, passphrase, fd:N or credential:NAME")
      ->required();
  add->add_option("--label", *label, "A label for the slot");
  add->add_option("--pwhash", *pwhash,
                  "Argon2id cost for a passphrase: interactive, moderate or sensitive");
  add->callback([&ctx, &action, new_key, label, pwhash] {
    action = [&ctx, new_key, label, pwhash] { return Add(ctx, *new_key, *label, *pwhash); };
  });

  auto slot = std::make_shared<uint32_t>(0);
  auto* remove = keyring_cmd->add_subcommand("remove", "Remove a key slot (never the last one)");
  remove->add_option("SLOT", *slot, "Slot number (see keyring list)")->required();
  remove->callback([&ctx, &action, slot] { action = [&ctx, slot] { return Remove(ctx, *slot); }; });
}

}  // namespace secretfs::cli
