// FUSE callbacks for the user.secretfs.* extended attributes.
#include "fs/fuse_ops_internal.h"

namespace secretfs::fs::ops {

// Replies with an attribute value or name list as getxattr/listxattr expect: its size when asked
// with size 0, ERANGE when it does not fit.
int ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
    return 0;
  }
  if (value.size() > size) return -ERANGE;
  fuse_reply_buf(req, value.data(), value.size());
  return 0;
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, "getxattr", [&] {
    std::string value;
    if (int rc = FsOf(req).GetXattr(CallerOf(req), ino, name, value); rc != 0) return rc;
    return ReplyXattr(req, value, size);
  });
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, "listxattr", [&] {
    std::string names;
    if (int rc = FsOf(req).ListXattr(CallerOf(req), ino, names); rc != 0) return rc;
    return ReplyXattr(req, names, size);
  });
}

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  Guard(req, "setxattr", [&] {
    if (int rc = FsOf(req).SetXattr(CallerOf(req), ino, name, {value, size}, flags); rc != 0)
      return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Guard(req, "removexattr", [&] {
    if (int rc = FsOf(req).RemoveXattr(CallerOf(req), ino, name); rc != 0) return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

}  // namespace secretfs::fs::ops
