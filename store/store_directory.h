// What a store's directory must be before LMDB opens it: on a local filesystem, and with its
// files the store owner's alone. Checked by every command and the daemon at each open, `init`
// included, so that a store made unsafe by a careless `chmod`, `chown`, `cp` or mount is refused
// with the command that fixes it rather than used.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace secretfs::store {

// Ok, or EACCES naming the directory or file at fault and what to change: the directory, or a
// data.mdb or lock.mdb in it, belongs to a user other than root and the one this process runs
// as; the directory is writable by its group or others; one of the files is not a regular file,
// or its group or others may read or write it. EREMOTE when the directory is on a network or
// cluster filesystem (NetworkFilesystemName).
Status CheckStoreDirectory(const std::string& dir);

// Makes directory `dir`, mode `mode` exactly, and any missing parent of it, mode 0755 less the
// umask: each with mkdir(2) and its own mode, as std::filesystem::create_directories makes them
// 0777 less the umask, which under `umask 000` let every user rename or replace what is in them.
// A directory that exists is left as it is. Returns whether `dir` itself was made; ENOTDIR when
// a part of the path is not a directory, or mkdir's error naming the directory.
Result<bool> MakeDirectories(const std::string& dir, mode_t mode);

// Ok, or EACCES naming `dir` and what to change, when the directory `st` describes (fstat of the
// one about to be written in) belongs to a user other than root and the one this process runs
// as, or its group or others may write in it: they could put a symbolic link or a file of their
// own where a file is about to be made, or take it away. `what` says what the directory is for
// ("the backup directory").
Status CheckPrivateDirectory(const struct stat& st, const std::string& dir, std::string_view what);

// The name of the network or cluster filesystem whose statfs(2) f_type is `type` (NFS, SMB/CIFS,
// Ceph, AFS, Coda, 9p, OCFS2, GFS2, Lustre, GPFS), or empty for any other filesystem. LMDB keeps
// its reader table and writer's mutex in a shared mapping of lock.mdb, which is not shared
// across hosts, and relies on the page cache seeing its own writes through the memory map:
// "do not use LMDB databases on remote filesystems, even between processes on the same host"
// (lmdb.h). Two hosts mounting one share would be two writers handing out the same pages.
std::string_view NetworkFilesystemName(long type);

}  // namespace secretfs::store
