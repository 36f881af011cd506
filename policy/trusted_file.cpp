#include "policy/trusted_file.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <deque>
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

Status DirectoryRefused(const std::string& path, const std::string& dir, const OtherWriter& w) {
  return Status(EACCES, path + ": its directory " + dir + " is " + w.who +
                            ", so another user could replace the file, or a link on the way to "
                            "it, and grant themselves any role; move the file, or make the "
                            "directory root's and writable by nobody else");
}

// Follows `absolute` one name at a time as the kernel does (each link's target read in the
// directory that holds it, at most 40 links), and refuses it when a directory it looks a name up
// in could be changed by another user: the directories of the name, of every link on the way and
// of the file it ends at. `fd` is the file opened by that name; the walk must end at it, or the
// names changed while they were checked. A link in /proc (/dev/stdin, /proc/self/fd/N) leads
// where the kernel says, which for a pipe is no name at all: the walk ends there, on the caller's
// own descriptor.
Status RequireTrustedWay(int fd, const std::string& path, const std::string& absolute,
                         uid_t trusted) {
  constexpr int kMaxLinks = 40;  // Linux's MAXSYMLINKS
  std::deque<std::string> names;
  auto push_front = [&names](const std::string& p) {
    std::deque<std::string> parts;
    for (size_t start = 0; start <= p.size();) {
      size_t slash = p.find('/', start);
      if (slash == std::string::npos) slash = p.size();
      if (slash > start) parts.push_back(p.substr(start, slash - start));
      start = slash + 1;
    }
    names.insert(names.begin(), parts.begin(), parts.end());
  };
  push_front(absolute);
  std::string dir = "/";
  int links = 0;
  std::string checked;  // the last directory found trusted
  while (!names.empty()) {
    const std::string name = names.front();
    names.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      dir = Parent(dir);
      continue;
    }
    if (dir != checked) {
      struct stat d {};
      if (stat(dir.c_str(), &d) != 0) return Status::FromErrno(errno, path + ": directory " + dir);
      if (!S_ISDIR(d.st_mode)) return Status::FromErrno(ENOTDIR, path + ": " + dir);
      if (const auto writer = OtherWriters(d, trusted, true))
        return DirectoryRefused(path, dir, *writer);
      checked = dir;
    }
    const std::string entry = dir == "/" ? "/" + name : dir + "/" + name;
    struct stat st {};
    if (lstat(entry.c_str(), &st) != 0) return Status::FromErrno(errno, path + ": " + entry);
    if (!S_ISLNK(st.st_mode)) {
      dir = entry;  // the next name is looked up in it, or it is the file
      continue;
    }
    if (++links > kMaxLinks) return Status::FromErrno(ELOOP, path);
    struct statfs fs {};
    if (statfs(dir.c_str(), &fs) != 0) return Status::FromErrno(errno, path + ": " + dir);
    std::string target;
    if (fs.f_type == PROC_SUPER_MAGIC) {
      // A "magic" link: what it leads to is an open file, whatever its text says.
      const int at = open(entry.c_str(), O_PATH | O_CLOEXEC);
      if (at < 0) return Status::FromErrno(errno, path + ": " + entry);
      target = RealPath(at);
      close(at);
      if (target.empty()) {  // a pipe or another file without a name: the caller's own
        if (!names.empty()) return Status::FromErrno(ENOTDIR, path + ": " + entry);
        return Status::Ok();
      }
    } else {
      char buf[PATH_MAX];
      const ssize_t n = readlink(entry.c_str(), buf, sizeof buf);
      if (n < 0) return Status::FromErrno(errno, path + ": " + entry);
      if (n == 0 || static_cast<size_t>(n) >= sizeof buf)
        return Status::FromErrno(ENAMETOOLONG, path + ": " + entry);
      target.assign(buf, static_cast<size_t>(n));
    }
    if (target.starts_with('/')) dir = "/";
    push_front(target);
  }
  struct stat end {
  }, opened{};
  if (stat(dir.c_str(), &end) != 0) return Status::FromErrno(errno, path + ": " + dir);
  if (fstat(fd, &opened) != 0) return Status::FromErrno(errno, path);
  if (end.st_dev != opened.st_dev || end.st_ino != opened.st_ino)
    return Status(EAGAIN, path +
                              ": changed while it was checked (a link on the way to it was "
                              "pointed elsewhere); try again");
  return Status::Ok();
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
  // policy as surely as a file of theirs. Only a device of root's that is no terminal is exempt
  // from the owner and mode test (/dev/null is 0666): only root makes device nodes, and the
  // directories are still checked. A terminal is refused: whoever types at it (the user who
  // opened a pty owns /dev/pts/N; anyone may open /dev/tty) writes the policy.
  if (S_ISDIR(st.st_mode)) return Status::FromErrno(EISDIR, path);
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
    return Status(EINVAL, path + ": not a regular file");
  if (S_ISCHR(st.st_mode) && isatty(fd))
    return Status(EACCES, path +
                              ": a terminal, where whoever types could grant themselves any "
                              "role; give a file, or a pipe (--policy <(cat FILE))");
  const bool exempt = S_ISCHR(st.st_mode) && st.st_uid == 0;
  if (const auto writer = exempt ? std::nullopt : OtherWriters(st, trusted, false))
    return Status(EACCES, path + ": " + writer->who + ", " + writer->fix);
  if (const std::string mount = SecretfsMountOf(st.st_dev); !mount.empty())
    return Status(EACCES, path + ": on the secretfs mount " + mount +
                              ", where the policy, not the file's mode, says who may write it: "
                              "whoever may write that secret could grant themselves any role; "
                              "keep the file on a local disk (/etc/secretfs)");
  // Every directory the name is looked up in, through every link on the way (one there could be
  // pointed elsewhere). The walk ends at the open file, so those the file really is in are among
  // them.
  const std::string absolute = AbsolutePath(path);
  if (absolute.empty()) return Status::FromErrno(errno ? errno : ENOENT, path);
  SECRETFS_RETURN_IF_ERROR(RequireTrustedWay(fd, path, absolute, trusted));
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
