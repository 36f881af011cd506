// Who makes a filesystem request.
#pragma once

#include <sys/types.h>

namespace secretfs::fs {

// From the FUSE request context: the kernel's word on uid, gid and the calling thread.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;  // the calling thread's id
};

}  // namespace secretfs::fs
