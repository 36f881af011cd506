// Mount options (SPEC §9): from -o lists, and from an inih config file named by config=FILE.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/status.h"
#include "policy/role.h"

namespace secretfs::fs {

struct MountOptions {
  bool read_only = false;
  std::string workspace;   // non-empty: this workspace is the mount root
  std::string key_source;  // key=SOURCE
  size_t max_size = size_t{1} << 20;
  // The plaintext open files may hold in locked memory, each user a quarter of it (0: an eighth
  // of the machine's memory, 64 MiB to 1 GiB; see fs/locked_budget.h).
  size_t max_locked = 0;
  std::optional<uint32_t> uid;  // default: the mounting user
  std::optional<uint32_t> gid;
  uint32_t umask = 0027;
  double entry_timeout = 1.0;
  double attr_timeout = 1.0;
  std::optional<policy::Role> role_cap;  // role=: nobody gets more than this role allows
  std::string policy_file;               // policy=: empty: the default policy (SPEC §5)
  audit::Mode audit_mode = audit::Mode::kDurable;
  int audit_flush_ms = 50;
  bool audit_list = false;     // audit listings (lookup, readdir) too
  bool audit_journal = false;  // also send each committed event to the systemd journal
  // audit_keep=AGE: the daemon prunes events older than this (fs/audit_retention.h); 0 keeps all.
  int64_t audit_keep_seconds = 0;
  // stop_grace=SECONDS: how long a SIGTERM waits for the files being written to be closed
  // (fs/graceful_stop.h); 0 stops at once. The default is long enough for any `echo > f`, an
  // editor's save or a script's write in progress, and short next to the unit's
  // TimeoutStopSec=30 (past which systemd kills the daemon and leaves a stale mount): a
  // `systemctl restart` waits at most this long for a writer that holds its file open.
  double stop_grace = 5.0;
  // store= and mountpoint=: what a config file names for `secretfs mount -o config=FILE` (the
  // systemd unit's form); store= wins over -s, as key= wins over -k.
  std::string store_dir;
  std::string mountpoint;
  // Options handed to libfuse and the kernel unchanged (allow_other, fsname=..., ...).
  std::vector<std::string> fuse_options;
};

// Applies a comma-separated -o list on top of `options`. config=FILE is read where it appears, so
// later options override it. EINVAL naming the option for an unknown option or a bad value; the
// config file's errors name the file and line.
Status ApplyOptionList(const std::string& list, MountOptions& options);

// Applies one NAME or NAME=VALUE option.
Status ApplyOption(const std::string& name, const std::optional<std::string>& value,
                   MountOptions& options);

// Reads an inih config file ([mount] section or none) whose keys are option names.
Status ApplyConfigFile(const std::string& path, MountOptions& options);

}  // namespace secretfs::fs
