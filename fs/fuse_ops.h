// The libfuse low-level operation table of secretfs. The session's userdata must be the
// SecretsFs that serves the requests.
#pragma once

#include <fuse_lowlevel.h>

namespace secretfs::fs {

fuse_lowlevel_ops SecretsFsOperations();

}  // namespace secretfs::fs
