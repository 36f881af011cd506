// The libfuse low-level operation table of secretfs. The session's userdata must be a
// SessionData.
#pragma once

#include <fuse_lowlevel.h>

namespace secretfs::fs {

class SecretsFs;

// What the callbacks reach through the session's userdata: the SecretsFs that serves the
// requests, and the session itself (set once fuse_session_new returned it), to notify the kernel.
struct SessionData {
  SecretsFs* fs = nullptr;
  fuse_session* session = nullptr;
};

fuse_lowlevel_ops SecretsFsOperations();

}  // namespace secretfs::fs
