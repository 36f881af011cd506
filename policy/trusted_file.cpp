#include "policy/trusted_file.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string_view>

namespace secretfs::policy {
namespace {

std::string Octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Who besides root and `trusted` could change an entry with these attributes ("" when nobody):
// its owner, every user, or the members of its group. A sticky directory lets others add names
// but not remove or replace those of other owners, so its write bits let nobody replace ours.
std::string OtherWriters(const struct stat& st, uid_t trusted, bool directory) {
  if (st.st_uid != 0 && st.st_uid != trusted) return "owned by uid " + std::to_string(st.st_uid);
  if (directory && (st.st_mode & S_ISVTX)) return "";
  if (st.st_mode & S_IWOTH) return "writable by every user (mode " + Octal(st.st_mode) + ")";
  if ((st.st_mode & S_IWGRP) && st.st_gid != 0)
    return "writable by group gid " + std::to_string(st.st_gid) + " (mode " + Octal(st.st_mode) +
           ")";
  return "";
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

// `path` made absolute against the working directory, without resolving links ("" if unknown).
std::string AbsolutePath(const std::string& path) {
  if (path.starts_with('/')) return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return "";
  return std::string(cwd) + "/" + path;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

Status RequireOnlyTrustedWriters(int fd, const std::string& path, uid_t trusted) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, path);
  if (!S_ISREG(st.st_mode)) return Status::Ok();
  if (const std::string who = OtherWriters(st, trusted, false); !who.empty()) {
    std::string remedy;
    if (st.st_uid != 0 && st.st_uid != trusted) {
      remedy = "who could grant themselves any role; make root";
      if (trusted != 0) remedy += " or uid " + std::to_string(trusted);
      remedy += " its owner";
    } else if (st.st_mode & S_IWOTH) {
      remedy = "so anyone could grant themselves any role; chmod o-w it";
    } else {
      remedy = "whose members could grant themselves any role; chmod g-w it";
    }
    return Status(EACCES, path + ": " + who + ", " + remedy);
  }
  // Both the directories the name goes through (a link there could be pointed elsewhere) and
  // those the file really is in.
  for (const std::string& named : {AbsolutePath(path), RealPath(fd)}) {
    if (named.empty()) continue;
    for (std::string dir = Parent(named);; dir = Parent(dir)) {
      struct stat d {};
      if (stat(dir.c_str(), &d) != 0) return Status::FromErrno(errno, path + ": directory " + dir);
      if (const std::string who = OtherWriters(d, trusted, true); !who.empty())
        return Status(EACCES, path + ": its directory " + dir + " is " + who +
                                  ", so another user could replace the file and grant themselves "
                                  "any role; move the file, or make the directory root's and "
                                  "writable by nobody else");
      if (dir == "/") break;
    }
  }
  return Status::Ok();
}

}  // namespace secretfs::policy
