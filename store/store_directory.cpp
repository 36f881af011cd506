#include "store/store_directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>

#include "common/text_format.h"

namespace secretfs::store {
namespace {

// The store's directory and files must be the store owner's alone. Whoever may write in the
// directory can put a symlink in place of lock.mdb or data.mdb, which LMDB follows: root's next
// command then overwrites the file it points to (a 0777 directory let a user have root overwrite
// a root-only file with lock data).
Status CheckOwnersAndModes(const std::string& dir) {
  // A user who owns the directory or a file may chmod it back, and read or replace what it holds
  // whatever its mode says now: a root daemon serving a store another user owns would serve
  // whatever that user puts back in its place (an older backup, with secrets since destroyed).
  // Root, or the user this process runs as, as sshd's StrictModes asks of a key file.
  const auto foreign_owner = [&dir](const struct stat& file, const std::string& path) {
    const uid_t us = geteuid();
    return Status(EACCES, path + " belongs to " + UserLabel(file.st_uid) + ", who could read or " +
                              "replace the store's files whatever their modes: chown -R " +
                              UserNameOf(us).value_or(std::to_string(us)) + " " + dir);
  };
  const auto owned_by_us = [](const struct stat& file) {
    return file.st_uid == 0 || file.st_uid == geteuid();
  };
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!owned_by_us(st)) return foreign_owner(st, "the store directory " + dir);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
      return Status(EACCES, "the store directory " + dir + " is writable by " +
                                ((st.st_mode & S_IWOTH) ? "others" : "its group") +
                                ", who could replace the store's files: chmod go-w " + dir);
  }
  struct File {
    const char* name;
    const char* holds;
  };
  for (const File& file : {File{"/data.mdb", "the store's key slots"},
                           File{"/lock.mdb", "the lock every writer of the store takes"}}) {
    const std::string path = dir + file.name;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode))
      return Status(EACCES, path + " is not a regular file (a symbolic link?): a store's files " +
                                "are its own; remove it, or restore the store from a backup");
    if (!owned_by_us(st)) return foreign_owner(st, path);
    // LMDB makes them 0600; a `chmod -R` loosened them. data.mdb holds the key slots, which its
    // readers could take away and guess passphrases against; lock.mdb's writers could stop
    // every writer (its mutex) or scramble its reader table. As ssh does with a private key.
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      return Status(
          EACCES, path + " can be " + ((st.st_mode & (S_IWGRP | S_IWOTH)) ? "written" : "read") +
                      " by " + ((st.st_mode & S_IRWXO) ? "others" : "its group") + " (mode " +
                      OctalMode(st.st_mode) + "): it holds " + file.holds + "; chmod 600 " + path);
  }
  return Status::Ok();
}

}  // namespace

Result<bool> MakeDirectories(const std::string& dir, mode_t mode) {
  const std::filesystem::path path(dir);
  std::filesystem::path prefix;
  bool made = false;
  for (auto part = path.begin(); part != path.end(); ++part) {
    if (part->empty()) continue;  // the "" after a trailing '/'
    prefix /= *part;
    const bool last = std::next(part) == path.end() ||
                      (std::next(part, 2) == path.end() && std::next(part)->empty());
    const std::string name = prefix.string();
    made = mkdir(name.c_str(), last ? mode : 0755) == 0;
    if (made) continue;
    if (errno != EEXIST) return Status::FromErrno(errno, "creating " + name);
    struct stat st {};
    if (stat(name.c_str(), &st) != 0) return Status::FromErrno(errno, name);
    if (!S_ISDIR(st.st_mode)) return Status(ENOTDIR, name + " is not a directory");
  }
  if (!made) return false;
  // mkdir's mode less the umask; exactly `mode`, on the directory just made and not a name.
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, dir);
  const bool changed = fchmod(fd, mode) == 0;
  const int err = errno;
  close(fd);
  if (!changed) return Status::FromErrno(err, dir);
  return true;
}

Status CheckPrivateDirectory(const struct stat& st, const std::string& dir, std::string_view what) {
  const std::string named = std::string(what) + " " + dir;
  if (st.st_uid != 0 && st.st_uid != geteuid())
    return Status(EACCES, named + " belongs to " + UserLabel(st.st_uid) +
                              ", who could replace or read what is written in it: choose a "
                              "directory of your own");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return Status(EACCES, named + " is writable by " +
                              ((st.st_mode & S_IWOTH) ? "others" : "its group") + " (mode " +
                              OctalMode(st.st_mode) +
                              "), who could put a symbolic link or a file of their own in place "
                              "of what is written in it: choose a directory only you may write, "
                              "or chmod go-w " +
                              dir);
  return Status::Ok();
}

std::string_view NetworkFilesystemName(long type) {
  // linux/magic.h's values, and Lustre's and GPFS's, which it does not list. FUSE is not here:
  // sshfs is remote, but a FUSE filesystem is as often local (fuse-overlayfs under rootless
  // containers), and its type does not tell which.
  struct Known {
    uint32_t magic;
    std::string_view name;
  };
  static constexpr Known kNetwork[] = {
      {0x6969, "NFS"},      {0x517B, "SMB"},       {0xFF534D42, "CIFS"}, {0xFE534D42, "SMB2"},
      {0x00C36400, "Ceph"}, {0x5346414F, "AFS"},   {0x6B414653, "AFS"},  {0x73757245, "Coda"},
      {0x01021997, "9p"},   {0x7461636F, "OCFS2"}, {0x01161970, "GFS2"}, {0x0BD00BD0, "Lustre"},
      {0x47504653, "GPFS"}, {0x564C, "NCP"},
  };
  for (const Known& fs : kNetwork)
    if (static_cast<uint32_t>(type) == fs.magic) return fs.name;
  return {};
}

Status CheckStoreDirectory(const std::string& dir) {
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) == 0) {
    if (const std::string_view name = NetworkFilesystemName(fs.f_type); !name.empty())
      return Status(EREMOTE,
                    "the store directory " + dir + " is on " + std::string(name) +
                        ", a network or cluster filesystem, where LMDB's locks and memory map do "
                        "not work (two hosts would write over each other): keep the "
                        "store on a local disk, and copy it elsewhere with secretfs "
                        "backup");
  }
  return CheckOwnersAndModes(dir);
}

}  // namespace secretfs::store
