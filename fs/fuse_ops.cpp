// The operation table: which callback of fuse_ops_*.cpp serves which FUSE request.
#include "fs/fuse_ops.h"

#include "fs/fuse_ops_internal.h"

namespace secretfs::fs {
namespace {

void Init(void*, fuse_conn_info* conn) {
  // O_TRUNC arrives with open instead of as a separate setattr: one version per `echo >`.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

}  // namespace

fuse_lowlevel_ops SecretsFsOperations() {
  fuse_lowlevel_ops table{};
  table.init = Init;
  table.lookup = ops::Lookup;
  table.forget = ops::Forget;
  table.forget_multi = ops::ForgetMulti;
  table.getattr = ops::GetAttr;
  table.setattr = ops::SetAttr;
  table.access = ops::CheckAccess;
  table.opendir = ops::OpenDir;
  table.readdir = ops::ReadDir;
  table.releasedir = ops::ReleaseDir;
  table.open = ops::Open;
  table.create = ops::Create;
  table.read = ops::Read;
  table.write = ops::Write;
  table.flush = ops::Flush;
  table.fsync = ops::Fsync;
  table.release = ops::Release;
  table.unlink = ops::Unlink;
  table.rename = ops::Rename;
  table.mkdir = ops::Mkdir;
  table.rmdir = ops::Rmdir;
  table.getxattr = ops::GetXattr;
  table.listxattr = ops::ListXattr;
  table.setxattr = ops::SetXattr;
  table.removexattr = ops::RemoveXattr;
  table.statfs = ops::StatFs;
  table.mknod = ops::Mknod;
  table.symlink = ops::Symlink;
  table.link = ops::Link;
  return table;
}

void CloseHandlesLeftOpen(SessionData& data) {
  std::vector<ops::FileRef> files = data.files.TakeAll();
  if (!files.empty())
    LogInfo("closing " + std::to_string(files.size()) +
            " handles of files still open (their RELEASE never came)");
  for (ops::FileRef& file : files) data.fs->Release(std::move(file), /*session_ended=*/true);
  (void)data.listings.TakeAll();
}

}  // namespace secretfs::fs
