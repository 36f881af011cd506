// Internal to fs/: what every fuse_ops_*.cpp file shares. Each callback builds the Caller, hands
// the request to SecretsFs through Guard, and sends exactly one reply: Guard replies with the
// error when the body returns one (or throws), otherwise the body has replied.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "fs/fuse_ops.h"
#include "fs/log.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs::ops {

inline SessionData& DataOf(fuse_req_t req) {
  return *static_cast<SessionData*>(fuse_req_userdata(req));
}
inline SecretsFs& FsOf(fuse_req_t req) { return *DataOf(req).fs; }

inline Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller who;
  who.uid = ctx->uid;
  who.gid = ctx->gid;
  who.pid = ctx->pid;
  return who;
}

// A secret file's fi->fh: the kernel's reference to its OpenFile, from the open's reply to the
// release. A read takes a reference of its own for its reply (see SecretsFs::Read).
using FileRef = std::shared_ptr<OpenFile>;

inline FileRef* RefOf(const fuse_file_info* fi) {
  return fi ? &KernelHandles<FileRef>::At(fi->fh) : nullptr;
}

inline OpenFile* FileOf(const fuse_file_info* fi) {
  const FileRef* ref = RefOf(fi);
  return ref ? ref->get() : nullptr;
}

// Runs `body`; a negative result (or an exception) becomes the error reply.
template <class Body>
void Guard(fuse_req_t req, const char* op, Body&& body) noexcept {
  int rc = 0;
  try {
    rc = std::forward<Body>(body)();
  } catch (const std::bad_alloc&) {
    rc = -ENOMEM;
  } catch (const std::exception& e) {
    LogError(op, Status(EIO, e.what()));
    rc = -EIO;
  } catch (...) {
    rc = -EIO;
  }
  if (rc < 0) fuse_reply_err(req, -rc);
}

inline int ReplyEntry(fuse_req_t req, const SecretsFs& fs, const EntryReply& e) {
  fuse_entry_param param{};
  param.ino = e.ino;
  param.attr = e.attr;
  param.attr_timeout = fs.attr_timeout();
  param.entry_timeout = fs.entry_timeout();
  fuse_reply_entry(req, &param);
  return 0;
}

// The callbacks, defined in fuse_ops_tree.cpp, fuse_ops_file.cpp and fuse_ops_xattr.cpp.
void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void CheckAccess(fuse_req_t req, fuse_ino_t ino, int mask);
void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned int flags);
void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void StatFs(fuse_req_t req, fuse_ino_t ino);
void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name);

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset,
           fuse_file_info* fi);
void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags);
void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name);

}  // namespace secretfs::fs::ops
