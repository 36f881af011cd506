// Mounting a store: checks, daemonizing, the FUSE session and clean unmounting.
#pragma once

#include <string>

#include "common/status.h"
#include "fs/mount_options.h"
#include "keyring/key_slot.h"

namespace secretfs::fs {

struct MountRequest {
  std::string store_dir;
  std::string mountpoint;
  MountOptions options;
  bool foreground = false;
};

// Detaches a dead secretfs mount on `mountpoint` (its daemon was killed: ENOTCONN), with a log
// line, so that a restart mounts again. Refuses a mount point that is a dead mount of another
// filesystem, with the command that clears it, that already has a live secretfs mounted on it, or
// that is the directory of the store at `store_dir`, above it or inside it.
Status CheckMountpoint(const std::string& mountpoint, const std::string& store_dir);

// Mounts and serves until unmounted or signalled (SIGTERM/SIGINT). The store is opened and
// unlocked first, so a wrong key or a missing workspace fails here, on the operator's terminal.
// Unless foreground, the daemon forks after mounting and this call returns in the parent once the
// child serves (or has failed, with its error). Returns the process exit status.
int Mount(const MountRequest& request, keyring::KeyMaterial key);

}  // namespace secretfs::fs
