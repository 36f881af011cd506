// secretfs keyring list [--json] | add --new-key SOURCE [--label L] | remove SLOT | rotate
// [--force]
//   | host-key PATH

#include <iostream>
#include <optional>

#include "audit/audit_log.h"
#include "audit/audit_query.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "cli/progress_line.h"
#include "cli/table.h"
#include "fs/proc_info.h"
#include "fs/serving_lock.h"

namespace secretfs::cli {
namespace {

// How long rotate waits for a daemon whose mount is not in the table to release the store (one
// unmounted a moment ago closes it within milliseconds: it commits its last audit event first).
constexpr std::chrono::seconds kUnmountedDaemonPatience{5};

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
    for (const auto& s : *slots) {
      nlohmann::json slot = {{"slot", s.id},
                             {"kind", keyring::SlotKindName(s.kind)},
                             {"label", s.label},
                             {"created", FormatTime(s.created_unix * 1'000'000'000, true)},
                             {"unlocked_with", s.id == used}};
      if (s.kind == keyring::SlotKind::kRecipient)
        slot["recipient"] = keyring::FormatRecipient(s.recipient);
      out.push_back(std::move(slot));
    }
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  Table table({"SLOT", "KIND", "LABEL", "CREATED", ""});
  for (const auto& s : *slots)
    table.Add({std::to_string(s.id), std::string(keyring::SlotKindName(s.kind)), OneLine(s.label),
               FormatTime(s.created_unix * 1'000'000'000), s.id == used ? "(this key)" : ""});
  table.Print(std::cout);
  return kExitOk;
}

int Add(CliContext& ctx, const std::string& new_key, const std::string& label,
        const std::string& pwhash) {
  auto limits = keyring::PwhashLimits::Named(pwhash);
  if (!limits) throw UsageError{limits.status().message()};
  if (!IsPrintableUtf8(label))  // listings print it
    throw UsageError{"--label: UTF-8 text without control characters"};
  // recipient:PUBKEY is public and read right here; every other form is a key source.
  std::optional<keyring::KeyMaterial> recipient;
  std::optional<keyring::KeySource> source;
  if (keyring::IsRecipientSpec(new_key)) {
    auto material = keyring::RecipientKeyMaterial(new_key);
    if (!material) throw UsageError{"--new-key: " + material.status().message()};
    recipient = std::move(*material);
  } else {
    auto parsed = keyring::ParseKeySource(new_key);
    if (!parsed) throw UsageError{"--new-key: " + parsed.status().message()};
    source = std::move(*parsed);
  }
  const std::string text = recipient ? recipient->origin : source->text;
  auto store = ctx.OpenFor("keyring add", policy::Action::kOwn);
  if (!store) return CliContext::Fail("keyring add", store.status());
  Result<keyring::KeyMaterial> material = Status(EINVAL, "no key");
  std::string warning;
  if (recipient)
    material = std::move(*recipient);
  else
    material =
        keyring::LoadKeyMaterial(*source, keyring::Prompt::kConfirm, "the new key slot", &warning);
  if (!material) return CliContext::Fail("keyring add", material.status());
  CliContext::Warn(warning);
  audit::Event event = CliContext::CliEvent("keyring add");
  switch (material->kind) {
    case keyring::KeyMaterial::Kind::kPassphrase:
      event.detail = "passphrase";
      break;
    case keyring::KeyMaterial::Kind::kKeyFile:
      event.detail = "key file";
      break;
    case keyring::KeyMaterial::Kind::kHostKey:
    case keyring::KeyMaterial::Kind::kRecipient:
      event.detail = "recipient";
      break;
  }
  auto id = CliContext::Audited(**store, std::move(event), [&] {
    return (*store)->AddSlot(*material, label.empty() ? text : label, *limits);
  });
  if (!id) return CliContext::Fail("keyring add", id.status());
  std::cout << "added key slot " << *id << " (" << text << ")\n";
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

std::string SlotText(const store::KeySlotInfo& slot) {
  return "slot " + std::to_string(slot.id) + " (" + std::string(keyring::SlotKindName(slot.kind)) +
         (slot.label.empty() ? "" : ", " + OneLine(slot.label)) + ")";
}

int Rotate(CliContext& ctx, bool force) {
  const std::string what = "keyring rotate";
  // The key itself, not only an unlocked store: the slot it opened is made again for it.
  keyring::KeyMaterial material;
  auto store = ctx.OpenFor(what, policy::Action::kOwn, {}, {}, &material);
  if (!store) return CliContext::Fail(what, store.status());

  // A mount keeps the master key it unlocked with; after the rotation its accesses would fail
  // closed (its audit events no longer chain), so the operator unmounts first. Every daemon holds
  // the store's serving lock, also one whose mount is not in this mount table; held here, it
  // keeps daemons from starting to serve the store until the rotation is done.
  const std::vector<std::string> mounts = fs::MountsOfStore(ctx.options().store_dir);
  // A daemon whose mount is gone from the table is most often one just unmounted, still closing
  // the store: it is given a few seconds to let go before the store is called served.
  const auto patience =
      mounts.empty() && !force ? kUnmountedDaemonPatience : std::chrono::milliseconds(0);
  auto excluded = fs::ServingLock::Exclude(ctx.options().store_dir, patience);
  const int lock_code = excluded ? 0 : excluded.status().code();
  std::string refusal;
  if (lock_code == EALREADY) {
    refusal =
        "another keyring rotate of this store is running; nothing was changed (run this "
        "one again after it if the key is to be rotated twice)";
  } else if ((lock_code == EWOULDBLOCK || !mounts.empty()) && !force) {
    const std::string where =
        mounts.empty() ? "served by a secretfs daemon whose mount is not visible here (in another "
                         "mount namespace, renamed by fsname=, or unmounted and not yet exited)"
                       : "mounted on " + OneLine(mounts.front());
    refusal = "the store is " + where +
              "; unmount it first (a mount keeps the old master key and would fail every access "
              "afterwards), or pass --force";
  }
  if (!refusal.empty()) {
    const Status busy(EBUSY, refusal);
    (void)CliContext::Record(**store, CliContext::CliEvent(what), busy);
    return CliContext::Fail(what, busy);
  }

  audit::Event event = CliContext::CliEvent(what);
  event.detail = "slot " + std::to_string((*store)->unlocked_slot());
  uint64_t rechained = 0;
  ProgressLine progress("re-encrypting", "versions");
  auto rotated = (*store)->RotateMasterKey(
      material,
      [&](store::Txn& txn, const keyring::SecretBuffer& old_key,
          const keyring::SecretBuffer& new_key) -> Status {
        auto n = audit::Rechain(txn, old_key, new_key);
        if (!n) return n.status();
        rechained = *n;
        audit::Event recorded = event;                 // the body may run again when the map grows
        return audit::Append(txn, new_key, recorded);  // under the new key, in the same commit
      },
      std::ref(progress));
  progress.Finish();
  if (!rotated) {
    (void)CliContext::Record(**store, std::move(event), rotated.status());
    return CliContext::Fail(what, rotated.status());
  }
  std::cout << "rotated the master key: " << rotated->workspaces
            << " workspace(s) given a new data key, " << rotated->versions
            << " version(s) re-encrypted, " << rechained
            << " audit event(s) chained under the new audit key\n"
            << "kept slot " << rotated->kept_slot << " (the key given)\n";
  for (const store::KeySlotInfo& slot : rotated->resealed)
    std::cout << "resealed " << SlotText(slot) << " to its recipient\n";
  for (const store::KeySlotInfo& slot : rotated->dropped)
    std::cout << "dropped " << SlotText(slot)
              << ": add it again with secretfs keyring add --new-key SOURCE\n";
  if (!mounts.empty())
    std::cout << "remount " << OneLine(mounts.front())
              << ": its accesses fail until it is mounted again\n";
  std::cout << "audit verify --expect values noted before the rotation no longer apply: note the "
               "new head (secretfs audit verify)\n";
  return kExitOk;
}

// Needs no store and no key: it only makes a key pair.
int HostKey(const std::string& path) {
  auto public_key = keyring::CreateHostKey(path);
  if (!public_key) return CliContext::Fail("keyring host-key", public_key.status());
  const std::string recipient = keyring::FormatRecipient(*public_key);
  std::cout << recipient << "\n"
            << "wrote the private key to " << path
            << " (32 bytes, mode 0600); unlock with: -k host:" << path << "\n"
            << "to let it open a store: secretfs keyring add --new-key recipient:" << recipient
            << "\n";
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
                  "The new key: file:PATH, passphrase, fd:N, credential:NAME, host:PATH or "
                  "recipient:PUBKEY (as keyring host-key prints it)")
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

  auto force = std::make_shared<bool>(false);
  auto* rotate = keyring_cmd->add_subcommand(
      "rotate",
      "Give the store a new master key and every workspace a new data key (every version "
      "re-encrypted): the slot used and recipient slots kept, other slots dropped (listed)");
  rotate->add_flag("--force", *force,
                   "Rotate even while the store is mounted (remount afterwards)");
  rotate->callback(
      [&ctx, &action, force] { action = [&ctx, force] { return Rotate(ctx, *force); }; });

  auto host_key_path = std::make_shared<std::string>();
  auto* host_key = keyring_cmd->add_subcommand(
      "host-key", "Make an X25519 key pair for a host (private key file 0600, public key printed)");
  host_key->add_option("PATH", *host_key_path, "Where to write the private key (must not exist)")
      ->required();
  host_key->callback(
      [&action, host_key_path] { action = [host_key_path] { return HostKey(*host_key_path); }; });
}

}  // namespace secretfs::cli
