// Re-reads the policy file when the daemon gets SIGHUP (SPEC §5): a good file replaces the policy
// at once; a file with an error is logged with its line and the previous policy stays in force.
// Each reload is an audit event (policy_reload) naming the process that sent the signal.
#pragma once

#include <signal.h>

#include <atomic>
#include <string>
#include <thread>

#include "audit/audit_log.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs {

// Blocks SIGHUP in the calling thread, and so in every thread it starts afterwards: the reloader
// receives it with sigwaitinfo, and no other thread ever runs a handler for it. Call before the
// daemon starts any thread.
void BlockReloadSignal();

class PolicyReloader {
 public:
  // `policy_file` empty: the default policy, and a SIGHUP only says there is nothing to reload.
  PolicyReloader(SecretsFs& fs, audit::AuditLog& audit, std::string policy_file);
  ~PolicyReloader();
  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

 private:
  void Loop();
  void Reload(const siginfo_t& sender);

  SecretsFs& fs_;
  audit::AuditLog& audit_;
  const std::string policy_file_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace secretfs::fs
