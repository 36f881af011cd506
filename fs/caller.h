// Who makes a filesystem request.
#pragma once

#include <sys/types.h>

#include <memory>

#include "policy/process_facts.h"

namespace secretfs::fs {

// From the FUSE request context: the kernel's word on uid, gid and the calling thread.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;  // the calling thread's id

  // What /proc says of the calling process, read at most once per request (SecretsFs::FactsOf)
  // and only as far as the policy and the audit event need it.
  mutable std::shared_ptr<const policy::ProcessFacts> facts;
  mutable policy::FactsWanted facts_read{false, false, false, false};
};

}  // namespace secretfs::fs
