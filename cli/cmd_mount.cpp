// secretfs mount MOUNTPOINT [-o OPTS] [-f], and the mount(8) form secretfs STORE MOUNTPOINT -o
// OPTS.
#include "cli/commands.h"
#include "fs/daemon.h"

namespace secretfs::cli {
namespace {

struct MountArgs {
  std::string mountpoint;
  std::vector<std::string> option_lists;
  bool foreground = false;
};

int Mount(CliContext& ctx, const MountArgs& a) {
  fs::MountOptions options;
  for (const std::string& list : a.option_lists)
    if (Status s = fs::ApplyOptionList(list, options); !s.ok()) throw UsageError{s.message()};
  // key= and store= in the options win over -k/-s, as mount(8), fstab and the systemd unit's
  // config file only have options.
  GlobalOptions global = ctx.options();
  if (!options.key_source.empty()) global.key_source = options.key_source;
  if (!options.store_dir.empty()) global.store_dir = options.store_dir;
  const std::string mountpoint = a.mountpoint.empty() ? options.mountpoint : a.mountpoint;
  if (mountpoint.empty())
    throw UsageError{"mount needs a MOUNTPOINT (or mountpoint= in the options or config file)"};
  CliContext mount_ctx(global);
  // fs::Mount checks it again, for every caller; checked here first so that nobody types a
  // passphrase for a mount that cannot happen.
  if (Status s = fs::CheckMountpoint(mountpoint, global.store_dir); !s.ok())
    return CliContext::Fail("mount", s);
  auto key = mount_ctx.LoadKey(keyring::Prompt::kOnce);
  if (!key) return CliContext::Fail("mount", key.status());
  fs::MountRequest request;
  request.store_dir = global.store_dir;
  request.mountpoint = mountpoint;
  request.options = std::move(options);
  request.foreground = a.foreground;
  return fs::Mount(request, std::move(*key));
}

}  // namespace

void AddMountCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto args = std::make_shared<MountArgs>();
  auto* mount = app.add_subcommand("mount", "Mount the store as a filesystem at MOUNTPOINT");
  mount->add_option("MOUNTPOINT", args->mountpoint,
                    "An existing directory (or mountpoint= in the options or config file)");
  mount
      ->add_option(
          "-o", args->option_lists,
          "Mount options: ro, workspace=W, key=SOURCE, max_size=BYTES, max_locked=BYTES, "
          "uid=, gid=, umask=, entry_timeout=, attr_timeout=, config=FILE, policy=FILE, "
          "role=ROLE, audit=durable|buffered, audit_flush_ms=N, audit_list=0|1, "
          "audit_journal=0|1, audit_keep=AGE, stop_grace=SECONDS, store=DIR, mountpoint=DIR, "
          "allow_other, ...")
      ->allow_extra_args(false);
  mount->add_flag("-f,--foreground", args->foreground, "Stay in the foreground");
  mount->callback([&ctx, &action, args] { action = [&ctx, args] { return Mount(ctx, *args); }; });
}

}  // namespace secretfs::cli
