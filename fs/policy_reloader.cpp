#include "fs/policy_reloader.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/notify.h"
#include "policy/process_facts.h"

namespace secretfs::fs {
namespace {

sigset_t ReloadSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockReloadSignal() {
  // Not SIG_IGN: an ignored signal is discarded even while blocked, and sigwaitinfo would never
  // see it. A handler that does nothing only matters if some thread leaves it unblocked.
  struct sigaction action {};
  action.sa_handler = [](int) {};
  action.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &action, nullptr);
  const sigset_t set = ReloadSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

PolicyReloader::PolicyReloader(SecretsFs& fs, audit::AuditLog& audit, std::string policy_file)
    : fs_(fs), audit_(audit), policy_file_(std::move(policy_file)) {
  thread_ = std::thread([this] { Loop(); });
}

PolicyReloader::~PolicyReloader() {
  stopping_ = true;
  pthread_kill(thread_.native_handle(), SIGHUP);
  thread_.join();
}

void PolicyReloader::Loop() {
  const sigset_t set = ReloadSignals();
  while (!stopping_) {
    siginfo_t info{};
    if (sigwaitinfo(&set, &info) != SIGHUP || stopping_) continue;
    Reload(info);
  }
}

void PolicyReloader::Reload(const siginfo_t& sender) {
  Notify("RELOADING=1\nSTATUS=reloading the policy");
  audit::Event event;
  event.op = audit::op::kPolicyReload;
  event.uid = sender.si_uid;
  event.pid = sender.si_pid;
  // A signal names its sender's uid, not its gid; /proc/PID belongs to the sender's effective
  // uid and gid (while the sender lives; 0 after it exits).
  struct stat proc_dir {};
  if (stat(("/proc/" + std::to_string(sender.si_pid)).c_str(), &proc_dir) == 0)
    event.gid = proc_dir.st_gid;
  const policy::ProcessFacts facts = policy::ReadProcessFacts(sender.si_pid);
  event.comm = facts.comm.value_or("");
  event.exe = facts.exe.value_or("");
  event.unit = facts.unit.value_or("");
  event.detail = policy_file_.empty() ? "default policy" : policy_file_;
  if (policy_file_.empty()) {
    LogInfo("SIGHUP: no policy file (policy=) is in use; nothing to reload");
  } else if (auto loaded = policy::Policy::LoadFile(policy_file_); !loaded.ok()) {
    event.result = loaded.status().code();
    LogError("policy reload (the previous policy stays in force)", loaded.status());
  } else {
    for (const std::string& warning : (*loaded)->warnings())
      LogWarning("policy", Status(EINVAL, warning));
    fs_.SetPolicy(std::move(*loaded));
    LogInfo("policy reloaded from " + policy_file_);
  }
  const bool reloaded = event.result == 0;
  if (Status s = audit_.Record(std::move(event)); !s.ok()) LogError("policy reload", s);
  Notify(
      std::string("READY=1\nSTATUS=") +
      (reloaded ? "serving; policy reloaded" : "serving; the policy reload failed (see the log)"));
}

}  // namespace secretfs::fs
