// Facts about processes and mounts, read from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace secretfs::fs {

// How many open file descriptions process `pid` holds for writing on inode `ino` of the
// filesystem with device `dev`, through its descriptors (from /proc/PID/fdinfo), whichever mount
// of it they were opened through (a container's bind mount of a workspace counts). Asked during
// a FLUSH: the descriptor being closed is already gone from the table, so what is counted are
// other ones, e.g. the stdout a shell dup2()'d it to, or another thread's own open of the same
// file. Descriptors that share one description (dup, dup2) count once when kcmp(2) may compare
// them; otherwise each descriptor counts. Descriptors open only for reading are not counted.
// Safe to ask while the process is inside execve() (closing its O_CLOEXEC descriptors): nothing
// read waits for the lock the exec holds until this FLUSH is answered, except kcmp, asked only
// when two or more descriptors are left and waited for at most 100 ms. -1 when the process's
// descriptors cannot be seen: /proc/PID/fdinfo is closed to a daemon that is not root for
// another user's process, and for any process that is not dumpable (PR_SET_DUMPABLE 0; the
// default after a setuid program drops privileges); on kernels before 5.14, whose fdinfo names
// no inode; when kcmp did not answer in time (an exec, most likely); and when the process holds
// more descriptors than a close may take the time to read (proc_info.cpp).
int WriteDescriptionsOf(pid_t pid, dev_t dev, uint64_t ino);

struct MountInfo {
  dev_t dev = 0;       // the device of the filesystem mounted there; 0 when none
  std::string fstype;  // "fuse.secretfs", ...; empty when nothing is mounted there
};

// The visible (last) mount at absolute `path`, from /proc/self/mountinfo.
MountInfo MountAt(const std::string& path);

// The mount points of fuse.secretfs mounts (in this mount namespace) serving the store in
// `store_dir` (the daemon names the store's real path as the mount's source).
std::vector<std::string> MountsOfStore(const std::string& store_dir);

}  // namespace secretfs::fs
