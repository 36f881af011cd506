// Files that decide who may do what: the policy file and a mount's config file (which names the
// policy). Whoever can change such a file, or replace it in its directory, can grant themselves
// any role, so only root and the user the process runs as may be able to. The rules are sshd's
// StrictModes, with the sticky-directory exception sudo and systemd make for /tmp-like places.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace secretfs::policy {

// Ok, or EACCES naming the file or directory at fault and what to change, when the regular file
// open at `fd` (opened by the name `path`) could be changed by a user other than root and
// `trusted`:
//   - the file is owned by someone else, or writable by every user, or by a group other than
//     root's (gid 0);
//   - a directory from the file's own up to / is owned by someone else, or writable by every
//     user or by a group other than root's without the sticky bit (in a sticky directory such as
//     /tmp only a file's owner may remove or replace it).
//   - the file is a secret on a secretfs mount, whose modes do not say who may write it.
// `path` is followed one name at a time as the kernel follows it (at most 40 links, else ELOOP):
// every directory a name is looked up in is checked, those holding each link on the way included
// (a link in one another user may write could be pointed elsewhere), and so are those of the file
// the descriptor really is. EAGAIN when `path` no longer leads to the file open at `fd`.
// A pipe (a FIFO, or /dev/stdin from a pipe) is checked as a file is; a character device root
// owns only for its directories, unless it is a terminal, which is EACCES; a directory is
// EISDIR, anything else (a socket) EINVAL.
Status RequireOnlyTrustedWriters(int fd, const std::string& path, uid_t trusted);

// `path` made absolute against the working directory, without resolving links ("" if unknown):
// the name to read the file by again later, wherever its links then lead.
std::string AbsolutePath(const std::string& path);

// The bytes of the file at `path` once RequireOnlyTrustedWriters accepts it; errno-coded errors
// naming `path`, and EINVAL when it holds more than `max_bytes` ("not a KIND").
Result<std::string> ReadTrustedFile(const std::string& path, uid_t trusted, size_t max_bytes,
                                    std::string_view kind);

}  // namespace secretfs::policy
