#include "policy/trusted_file.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>

#include "common/mount_table.h"
#include "common/text_format.h"

namespace secretfs::policy {
namespace {

// Someone besides root and `trusted` who could change an entry: who, and for a file, the change
// that stops them.
struct OtherWriter {
  std::string who;  // "owned by uid 4321", "writable by every user (mode 0666)", ...
  std::string fix;  // "who could grant themselves any role; make root its owner", ...
};

// Nobody (nullopt), or the first of: its owner, every user, the members of its group. A sticky
// directory lets others add names but not remove or replace those of other owners, so its write
// bits let nobody replace ours.
std::optional<OtherWriter> OtherWriters(const struct stat& st, uid_t trusted, bool directory) {
  if (st.st_uid != 0 && st.st_uid != trusted) {
    std::string owner = "root";
    if (trusted != 0) owner += " or uid " + std::to_string(trusted);
    return OtherWriter{"owned by uid " + std::to_string(st.st_uid),
                       "who could grant themselves any role; make " + owner + " its owner"};
  }
  if (directory && (st.st_mode & S_ISVTX)) return std::nullopt;
  if (st.st_mode & S_IWOTH)
    return OtherWriter{"writable by every user (mode " + OctalMode(st.st_mode) + ")",
                       "so anyone could grant themselves any role; chmod o-w it"};
  if ((st.st_mode & S_IWGRP) && st.st_gid != 0)
    return OtherWriter{"writable by group gid " + std::to_string(st.st_gid) + " (mode " +
                           OctalMode(st.st_mode) + ")",
                       "whose members could grant themselves any role; chmod g-w it"};
  return std::nullopt;
}

// The path `fd` really names (symbolic links resolved), or "" when the kernel gives none.
std::string RealPath(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0 || target[0] != '/') return "";
  std::string path(target, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";  // its directory still decides
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// The mount point of the secretfs mount whose files have device `dev`, or "". A secret's mode
// does not say who may write it: the mount's policy does (a `member` writes what reads as root's
// 0640), so a policy file kept as a secret could be rewritten by everyone that policy lets write
// it, and its modes would pass every check here.
std::string SecretfsMountOf(dev_t dev) {
  if (major(dev) != 0) return "";  // a disk; FUSE filesystems have anonymous devices (0:N)
  std::string point;
  ForEachMount("/proc/self/mountinfo", [&](const MountLine& m) {
    if (m.dev == dev && m.fstype == "fuse.secretfs" && point.empty()) point = m.point;
  });
  return point;
}

}  // namespace

std::string AbsolutePath(const std::string& path) {
  if (path.starts_with('/')) return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return "";
  return std::string(cwd) + "/" + path;
}

Status RequireOnlyTrustedWriters(int fd, const std::string& path, uid_t trusted) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, path);
  // A pipe is checked as a file: a FIFO another user made where the path leads would feed the
  // policy as surely as a file of theirs. Only a device is exempt from the owner and mode test
  // (/dev/null is 0666): only root makes device nodes, and the directories are still checked.
  if (S_ISDIR(st.st_mode)) return Status::FromErrno(EISDIR, path);
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
    return Status(EINVAL, path + ": not a regular file");
  if (const auto writer = S_ISCHR(st.st_mode) ? std::nullopt : OtherWriters(st, trusted, false))
    return Status(EACCES, path + ": " + writer->who + ", " + writer->fix);
  if (const std::string mount = SecretfsMountOf(st.st_dev); !mount.empty())
    return Status(EACCES, path + ": on the secretfs mount " + mount +
                              ", where the policy, not the file's mode, says who may write it: "
                              "whoever may write that secret could grant themselves any role; "
                              "keep the file on a local disk (/etc/secretfs)");
  // Both the directories the name goes through (a link there could be pointed elsewhere) and
  // those the file really is in.
  for (const std::string& named : {AbsolutePath(path), RealPath(fd)}) {
    if (named.empty()) continue;
    for (std::string dir = Parent(named);; dir = Parent(dir)) {
      struct stat d {};
      if (stat(dir.c_str(), &d) != 0) return Status::FromErrno(errno, path + ": directory " + dir);
      if (const auto writer = OtherWriters(d, trusted, true))
        return Status(EACCES, path + ": its directory " + dir + " is " + writer->who +
                                  ", so another user could replace the file and grant themselves "
                                  "any role; move the file, or make the directory root's and "
                                  "writable by nobody else");
      if (dir == "/") break;
    }
  }
  return Status::Ok();
}

Result<std::string> ReadTrustedFile(const std::string& path, uid_t trusted, size_t max_bytes,
                                    std::string_view kind) {
  // Without O_NONBLOCK, opening a FIFO nobody writes would wait for a writer: at mount, or for
  // good in the reloader. Reads block again once the file is accepted (a pipe's writer is slow).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Status::FromErrno(errno, path);
  Status s = RequireOnlyTrustedWriters(fd, path, trusted);
  if (s.ok() && fcntl(fd, F_SETFL, 0) != 0) s = Status::FromErrno(errno, path);
  std::string text;
  char buf[8192];
  while (s.ok()) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = Status::FromErrno(errno, path);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes)
      s = Status(EINVAL, path + ": larger than " + std::to_string(max_bytes >> 20) +
                             " MiB, not a " + std::string(kind));
  }
  close(fd);
  if (!s.ok()) return s;
  return text;
}

}  // namespace secretfs::policy
