// Facts about processes and mounts, read from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace secretfs::fs {

// The process (thread group id) of thread `tid`, read from /proc; `tid` itself when unknown.
pid_t ProcessOf(pid_t tid);

// Whether process `pid` has a descriptor open for writing on inode `ino` of the mount `mount_id`
// (from /proc/PID/fdinfo). Asked during a FLUSH: the descriptor being closed is already gone
// from the table, so a match is another one, e.g. the stdout a shell dup2()'d it to. Descriptors
// open only for reading are not counted.
bool HasOtherWriteDescriptor(pid_t pid, int mount_id, uint64_t ino);

// The mount id (the first field of /proc/self/mountinfo) of the mount at `path`; 0 if unknown.
int MountIdOf(const std::string& path);

// The filesystem type mounted at absolute `path` ("fuse.secretfs"), or "" when none.
std::string MountedType(const std::string& path);

}  // namespace secretfs::fs
