// The libfuse low-level operation table of secretfs. The session's userdata must be a
// SessionData.
#pragma once

#include <fuse_lowlevel.h>

#include <memory>
#include <vector>

#include "fs/kernel_handles.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs {

// What the callbacks reach through the session's userdata: the SecretsFs that serves the
// requests, the session itself (set once fuse_session_new returned it), to notify the kernel,
// and the handles the kernel holds.
struct SessionData {
  SecretsFs* fs = nullptr;
  fuse_session* session = nullptr;
  KernelHandles<std::shared_ptr<OpenFile>> files;  // see FileRef (fs/fuse_ops_internal.h)
  KernelHandles<std::vector<DirEntry>> listings;   // an open directory's entries
};

fuse_lowlevel_ops SecretsFsOperations();

// Lets go of the handles still open when the session ended, which get no RELEASE: a write
// handle's unsaved bytes are not stored, and that is logged and audited. Call it once the
// session's loop has returned (no request runs any more), while `data.fs` still exists.
void CloseHandlesLeftOpen(SessionData& data);

}  // namespace secretfs::fs
