#include "fs/mount_options.h"

// Debian's libinih (r55) is built with INI_HANDLER_LINENO: its handlers get the line number as a
// fifth argument, and the handler below must take it (its header does not say so by itself).
#define INI_HANDLER_LINENO 1
#include <ini.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

#include "common/age.h"
#include "policy/trusted_file.h"

namespace secretfs::fs {
namespace {

// FUSE and kernel mount options passed through. Anything else unknown (and not in
// kMountOnlyOptions) is refused, so a typo never silently weakens a mount.
const std::set<std::string, std::less<>> kFuseOptions = {
    "allow_other", "allow_root", "auto_unmount", "default_permissions",
    "fsname",      "subtype",    "max_read",     "dev",
    "nodev",       "suid",       "nosuid",       "exec",
    "noexec",      "atime",      "noatime",      "relatime",
    "strictatime", "nodiratime", "sync",         "async",
    "dirsync"};

// Options for mount(8), fstab and systemd, not for the kernel: libfuse refuses them, so they are
// accepted (an fstab line or a mount unit carries them) and not passed on. So are x-* options
// (x-systemd.automount, x-systemd.requires=...), which mount(8) keeps for userspace.
const std::set<std::string, std::less<>> kMountOnlyOptions = {
    "rw", "defaults", "auto", "noauto", "user", "nouser", "users", "_netdev", "nofail"};

bool IsMountOnly(const std::string& name) {
  return kMountOnlyOptions.count(name) != 0 || name.starts_with("x-");
}

template <class T>
Status ParseNumber(const std::string& name, const std::string& text, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return Status(EINVAL, "mount option " + name + "=" + text +
                              (base == 8 ? ": not an octal number (022, 077)" : ": not a number"));
  return Status::Ok();
}

// Decimal seconds only (5, 0.5, 1.): strtod also read 0x10 as 16, 1e1 as 10, " 1" and "+1".
Status ParseSeconds(const std::string& name, const std::string& text, double& out) {
  // from_chars (fixed) refuses the rest: a second '.', or no digit.
  const bool decimal = std::all_of(text.begin(), text.end(),
                                   [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), out, std::chars_format::fixed);
  if (!decimal || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(out) ||
      out < 0 || out > 86400)
    return Status(EINVAL, "mount option " + name + "=" + text +
                              ": not a number of seconds (decimal, such as 1 or 0.5)");
  return Status::Ok();
}

// A flag's value as a config file writes it: on for "", 1, yes and true; off for 0, no and
// false; nullopt for anything else.
std::optional<bool> SwitchValue(std::string_view v) {
  if (v.empty() || v == "1" || v == "yes" || v == "true") return true;
  if (v == "0" || v == "no" || v == "false") return false;
  return std::nullopt;
}

// Options that take no value.
bool IsFlag(const std::string& name) {
  return name == "ro" || name == "audit_list" || name == "audit_journal" ||
         (kFuseOptions.count(name) && name != "fsname" && name != "subtype" && name != "max_read");
}

struct IniState {
  MountOptions* options;
  Status status;
  std::string path;
};

}  // namespace

Status ApplyOption(const std::string& name, const std::optional<std::string>& value,
                   MountOptions& o) {
  auto need = [&]() -> Status {
    if (!value || value->empty())
      return Status(EINVAL, "mount option " + name + " needs a value (" + name + "=...)");
    return Status::Ok();
  };
  if (name == "ro") {
    // `ro`, or a value as a config file writes it (`ro = yes`). Anything else was read as
    // "read-only" too: `-o ro=no` made a read-only mount, and `ro = maybe` said nothing.
    const std::optional<bool> on = SwitchValue(value.value_or(""));
    if (!on)
      return Status(EINVAL, "mount option ro=" + *value + ": yes or no (1 or 0, true or false)");
    o.read_only = *on;
  } else if (name == "workspace") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.workspace = *value;
  } else if (name == "key") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.key_source = *value;
  } else if (name == "max_size") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *value, o.max_size));
    if (o.max_size > (size_t{64} << 20))
      return Status(EINVAL, "mount option max_size: at most 67108864 bytes");
  } else if (name == "max_locked") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *value, o.max_locked));
    if (o.max_locked < (size_t{1} << 20))
      return Status(EINVAL, "mount option max_locked: at least 1048576 bytes");
  } else if (name == "uid" || name == "gid") {
    SECRETFS_RETURN_IF_ERROR(need());
    uint32_t id = 0;
    SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *value, id));
    // (uid_t)-1 means "no id" to chown(2) and friends; no process runs with it (as in the policy).
    if (id == UINT32_MAX)
      return Status(EINVAL, "mount option " + name + "=" + *value + ": names no " +
                                (name == "uid" ? "user" : "group") + " ((" + name +
                                "_t)-1 means none)");
    (name == "uid" ? o.uid : o.gid) = id;
  } else if (name == "umask") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *value, o.umask, 8));
    if (o.umask > 0777) return Status(EINVAL, "mount option umask=" + *value + ": not a umask");
  } else if (name == "entry_timeout") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseSeconds(name, *value, o.entry_timeout));
  } else if (name == "attr_timeout") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseSeconds(name, *value, o.attr_timeout));
  } else if (name == "stop_grace") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseSeconds(name, *value, o.stop_grace));
    if (o.stop_grace > 300)
      return Status(EINVAL, "mount option stop_grace=" + *value + ": from 0 to 300 seconds");
  } else if (name == "config") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ApplyConfigFile(*value, o));
  } else if (name == "subtype" && value != "secretfs") {
    // The type fuse.secretfs is how the store's mounts are found (mount(8), systemd's units,
    // keyring rotate, a second mount on one point): another would hide this one.
    return Status(EINVAL, "mount option subtype=" + value.value_or("") +
                              ": a secretfs mount is always of type fuse.secretfs");
  } else if (IsMountOnly(name)) {
    // mount(8)'s, fstab's and systemd's, with any value (mount(8) hands a helper user=NAME).
  } else if (kFuseOptions.count(name)) {
    std::optional<std::string> v = value;
    if (IsFlag(name) && v) {
      // `-o allow_other=0` as a config file's `allow_other = no`; libfuse takes no value.
      const std::optional<bool> on = SwitchValue(*v);
      if (!on)
        return Status(EINVAL, "mount option " + name + "=" + *v +
                                  ": takes no value, or yes or no (1 or 0, true or false)");
      if (!*on) return Status::Ok();
      v.reset();
    }
    if (name == "max_read") {
      SECRETFS_RETURN_IF_ERROR(need());
      uint32_t bytes = 0;
      SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *v, bytes));
    }
    o.fuse_options.push_back(v ? name + "=" + *v : name);
  } else if (name == "role") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.role_cap = policy::ParseRole(*value);
    if (!o.role_cap)
      return Status(EINVAL, "mount option role=" + *value +
                                ": not a role (none, viewer, reader, member, admin, owner)");
  } else if (name == "policy") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.policy_file = *value;
  } else if (name == "audit") {
    SECRETFS_RETURN_IF_ERROR(need());
    if (*value == "durable") {
      o.audit_mode = audit::Mode::kDurable;
    } else if (*value == "buffered") {
      o.audit_mode = audit::Mode::kBuffered;
    } else {
      return Status(EINVAL, "mount option audit=" + *value + ": durable or buffered");
    }
  } else if (name == "audit_flush_ms") {
    SECRETFS_RETURN_IF_ERROR(need());
    SECRETFS_RETURN_IF_ERROR(ParseNumber(name, *value, o.audit_flush_ms));
    if (o.audit_flush_ms < 1 || o.audit_flush_ms > 60000)
      return Status(EINVAL, "mount option audit_flush_ms=" + *value + ": from 1 to 60000");
  } else if (name == "audit_keep") {
    SECRETFS_RETURN_IF_ERROR(need());
    constexpr int64_t kCentury = int64_t{100} * 366 * 86400;
    const std::optional<int64_t> age =
        *value == "0" ? std::optional<int64_t>(0) : ParseAgeSeconds(*value, kCentury);
    if (!age)
      return Status(EINVAL, "mount option audit_keep=" + *value +
                                ": an age (30s, 10m, 2h, 90d, 52w), or 0 to keep every event");
    o.audit_keep_seconds = *age;
  } else if (name == "audit_list" || name == "audit_journal") {
    const std::string v = value.value_or("1");
    if (v != "0" && v != "1") return Status(EINVAL, "mount option " + name + "=" + v + ": 0 or 1");
    (name == "audit_list" ? o.audit_list : o.audit_journal) = v == "1";
  } else if (name == "store") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.store_dir = *value;
  } else if (name == "mountpoint") {
    SECRETFS_RETURN_IF_ERROR(need());
    o.mountpoint = *value;
  } else {
    return Status(EINVAL, "unknown mount option '" + name + "'");
  }
  return Status::Ok();
}

Status ApplyOptionList(const std::string& list, MountOptions& options) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      std::optional<std::string> value;
      if (eq != std::string::npos) value = item.substr(eq + 1);
      SECRETFS_RETURN_IF_ERROR(ApplyOption(item.substr(0, eq), value, options));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::Ok();
}

Status ApplyConfigFile(const std::string& path, MountOptions& options) {
  // It names the policy and may raise the role cap: like the policy, nobody but root and the
  // user mounting may be able to change it (policy/trusted_file.h).
  constexpr size_t kMaxConfigBytes = 1 << 20;
  auto read = policy::ReadTrustedFile(path, geteuid(), kMaxConfigBytes, "config file");
  if (!read) return Status(read.status().code(), "config file " + read.status().message());
  const std::string& text = *read;
  // inih reads lines into a 200-byte buffer and parses the rest of a longer line as a line of its
  // own: such a line is refused rather than half-applied. And inih takes an indented line for
  // more of the value above it (a multi-line value): each line goes to it unindented, so that
  // an indented option is read as the option it looks like, not appended to a flag's value.
  constexpr size_t kMaxLine = 190;
  std::string unindented;
  unindented.reserve(read->size());
  size_t line = 1;
  for (size_t start = 0; start <= text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end - start > kMaxLine)
      return Status(EINVAL, "config file " + path + " line " + std::to_string(line) +
                                ": longer than " + std::to_string(kMaxLine) + " characters");
    // inih reads a C string: a NUL would end the file there, and the options after it (a `ro`,
    // an unknown option that should fail the mount) would be dropped without a word.
    if (std::memchr(text.data() + start, '\0', end - start) != nullptr)
      return Status(EINVAL, "config file " + path + " line " + std::to_string(line) +
                                ": a NUL byte (not a text file?)");
    const size_t first = std::min(text.find_first_not_of(" \t", start), end);
    unindented.append(text, first, end - first).push_back('\n');
    start = end + 1;
  }
  IniState state{&options, Status::Ok(), path};
  const int rc = ini_parse_string(
      unindented.c_str(),
      [](void* user, const char* section, const char* name, const char* value, int) -> int {
        auto* st = static_cast<IniState*>(user);
        const std::string sec = section;
        if (!sec.empty() && sec != "mount") {
          st->status = Status(EINVAL, "unknown section [" + sec + "]");
          return 0;
        }
        const std::string n = name;
        if (n == "config") {
          st->status = Status(EINVAL, "config= cannot be nested in a config file");
          return 0;
        }
        const std::string v = value;
        std::optional<std::string> opt = v;
        if (IsFlag(n)) {  // ro = yes / no, allow_other = true, ...
          const std::optional<bool> on = SwitchValue(v);
          if (on == false) return 1;
          if (on == true) opt.reset();
        }
        st->status = ApplyOption(n, opt, *st->options);
        return st->status.ok() ? 1 : 0;
      },
      &state);
  if (rc < 0) return Status(ENOENT, "config file " + path + ": cannot be opened");
  if (rc > 0)
    return Status(EINVAL, "config file " + path + " line " + std::to_string(rc) + ": " +
                              (state.status.ok() ? "syntax error" : state.status.message()));
  return Status::Ok();
}

}  // namespace secretfs::fs
