#include "fs/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "audit/audit_query.h"
#include "common/libsystemd.h"
#include "common/text_format.h"
#include "fs/audit_retention.h"
#include "fs/fuse_ops.h"
#include "fs/graceful_stop.h"
#include "fs/log.h"
#include "fs/notify.h"
#include "fs/policy_reloader.h"
#include "fs/proc_info.h"
#include "fs/secrets_fs.h"
#include "fs/serving_lock.h"
#include "fs/space_watch.h"
#include "policy/trusted_file.h"
#include "store/secret_store.h"

namespace secretfs::fs {
namespace {

std::string Absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

// The daemon holds the master key, data keys and plaintext: no core dumps, whatever
// `ulimit -c` and core_pattern say, and no ptrace or /proc/PID/mem by other non-root users. Both
// settings survive fork (not execve). Set before the store is unlocked; `secretfs` main() sets
// them too, before it reads the key, and this keeps other users of Mount() just as safe. The
// daemon reads only other processes' /proc entries (and its own, which is always allowed).
void DisableCoreDumps() {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
}

// A daemon holds a descriptor per recent caller (the facts cache's pidfds) besides its own, so
// it takes all the descriptors it is allowed: the soft RLIMIT_NOFILE up to the hard one (1024
// and 524288 under systemd's defaults). As any program that needs many descriptors does; select()
// is not used here, so a descriptor above 1023 is harmless.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// Everything the serving process owns, torn down in reverse order.
struct Served {
  ServingLock serving;  // declared first: released after everything else is gone
  std::unique_ptr<store::SecretStore> store;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<SecretsFs> fs;
  std::unique_ptr<PolicyReloader> reloader;
  std::unique_ptr<SpaceWatch> space_watch;
  std::unique_ptr<AuditRetention> retention;
  SessionData session_data;  // the session's userdata
  fuse_session* session = nullptr;
  bool mounted = false;

  ~Served() {
    retention.reset();
    space_watch.reset();
    reloader.reset();
    if (session == nullptr) return;
    if (mounted) fuse_session_unmount(session);
    fuse_remove_signal_handlers(session);
    fuse_session_destroy(session);
  }
};

// The daemon's own event (mount, unmount): the process that serves is the actor.
audit::Event DaemonEvent(std::string_view op, const std::string& detail) {
  static const policy::ProcessFacts self = policy::ReadProcessFacts(getpid());
  audit::Event event;
  event.op = op;
  event.uid = getuid();
  event.gid = getgid();
  event.pid = getpid();
  event.comm = self.comm.value_or("");
  event.exe = self.exe.value_or("");
  event.unit = self.unit.value_or("");
  event.detail = detail;
  return event;
}

Result<std::shared_ptr<const policy::Policy>> LoadPolicy(const MountOptions& options, uid_t owner) {
  if (options.policy_file.empty()) return policy::Policy::Default(owner);
  auto loaded = policy::Policy::LoadFile(options.policy_file);
  if (!loaded.ok()) return loaded.status().Wrap("policy");
  for (const std::string& warning : (*loaded)->warnings())
    LogWarning("policy", Status(EINVAL, warning));
  return loaded;
}

// Opens and unlocks the store and mounts it. Runs in the process that will serve.
Status Prepare(const MountRequest& r, const keyring::KeyMaterial& key, Served& served) {
  store::StoreOptions store_options;
  store_options.max_value_bytes = r.options.max_size;
  auto store = store::SecretStore::Open(r.store_dir, store_options);
  if (!store) return store.status();
  if (const std::string& notice = (*store)->open_notice(); !notice.empty()) LogInfo(notice);
  // Before the key is unlocked: a `keyring rotate` in progress finishes first (serving_lock.h).
  // Without the lock file the mount still serves; rotate then finds it in the mount table only.
  auto serving = ServingLock::Hold(r.store_dir, [&] {
    LogToOperator("waiting for a keyring rotate of " + r.store_dir + " to finish");
  });
  if (serving)
    served.serving = std::move(*serving);
  else
    LogWarning("mount", serving.status());
  SECRETFS_RETURN_IF_ERROR((*store)->Unlock(key));
  if (!r.options.workspace.empty())
    SECRETFS_RETURN_IF_ERROR((*store)->GetWorkspace(r.options.workspace).status());
  const uid_t owner = r.options.uid.value_or(getuid());
  auto rules = LoadPolicy(r.options, owner);
  if (!rules.ok()) return rules.status();
  if (r.options.audit_journal) {
    if (const std::string why = sd::LoadError(); !why.empty())
      return Status(ENOSYS, "audit_journal=1 needs libsystemd, which cannot be loaded: " + why);
  }
  // A service manager that set $NOTIFY_SOCKET waits for READY=1, which only libsystemd sends
  // here: without it the unit would hang until its start timeout. Say why at once instead.
  if (NotifyWanted()) {
    if (const std::string why = sd::LoadError(); !why.empty())
      return Status(ENOSYS,
                    "$NOTIFY_SOCKET is set (a Type=notify service), but libsystemd, which tells "
                    "the service manager that the mount is ready, cannot be loaded: " +
                        why);
  }
  auto audit_key = (*store)->AuditKey();
  if (!audit_key.ok()) return audit_key.status();
  // Before the first thread (the audit flusher) starts: every thread started from here on
  // leaves SIGHUP to the policy reloader and SIGTERM/SIGINT to the session's loop.
  BlockReloadSignal();
  BlockStopSignals();
  served.store = std::move(*store);
  served.audit = std::make_unique<audit::AuditLog>(
      served.store->env(), std::move(*audit_key),
      audit::LogOptions{r.options.audit_mode, r.options.audit_flush_ms, r.options.audit_journal});
  served.fs =
      std::make_unique<SecretsFs>(*served.store, r.options, owner, r.options.gid.value_or(getgid()),
                                  std::move(*rules), *served.audit);

  std::string fuse_opts = "subtype=secretfs";
  bool named = false;
  for (const std::string& o : r.options.fuse_options) {
    fuse_opts += "," + o;
    named = named || o.rfind("fsname=", 0) == 0;
  }
  if (!named) {
    // libfuse splits options at commas: a store at /srv/s,allow_other would add an option (and
    // name the mount wrongly, which hides it from `keyring rotate`'s check for live mounts).
    fuse_opts += ",fsname=";
    for (char c : r.store_dir) {
      if (c == ',' || c == '\\') fuse_opts += '\\';
      fuse_opts += c;
    }
  }
  if (r.options.read_only) fuse_opts += ",ro";
  std::vector<std::string> argv_text = {"secretfs", "-o", fuse_opts};
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops = SecretsFsOperations();
  served.session_data.fs = served.fs.get();
  served.session = fuse_session_new(&args, &ops, sizeof ops, &served.session_data);
  served.session_data.session = served.session;
  fuse_opt_free_args(&args);
  if (served.session == nullptr)
    return Status(EINVAL, "libfuse refused the options '" + fuse_opts + "'");
  if (fuse_set_signal_handlers(served.session) != 0)
    return Status(EIO, "cannot install signal handlers");
  BlockReloadSignal();  // libfuse's handlers would unmount on SIGHUP; it reloads the policy
  if (fuse_session_mount(served.session, r.mountpoint.c_str()) != 0)
    return Status(EIO, "mounting on " + r.mountpoint + " failed (see the message above)");
  served.mounted = true;
  served.fs->SetMountDevice(MountAt(r.mountpoint).dev);
  // Fail-closed from the start: a mount whose log cannot be written does not serve.
  Status recorded = served.audit->Record(DaemonEvent(audit::op::kMount, r.mountpoint));
  if (recorded.ok()) recorded = served.audit->Flush();  // buffered mode too: on record now
  if (!recorded.ok()) return recorded.Wrap("the audit log");
  served.reloader =
      std::make_unique<PolicyReloader>(*served.fs, *served.audit, r.options.policy_file);
  served.space_watch = std::make_unique<SpaceWatch>(r.store_dir);
  if (r.options.audit_keep_seconds > 0) {
    auto retention_key = served.store->AuditKey();
    if (!retention_key.ok()) return retention_key.status();
    served.retention = std::make_unique<AuditRetention>(
        served.store->env(), std::move(*retention_key),
        std::chrono::seconds(r.options.audit_keep_seconds),
        [log = served.audit.get()](uint64_t removed, int64_t before_ns) {
          LogInfo("audit_keep: pruned " + std::to_string(removed) + " audit events older than " +
                  FormatTime(before_ns));
          const std::string detail = audit::PruneDetail(before_ns, removed);
          if (Status s = log->Record(DaemonEvent(audit::op::kAuditPrune, detail)); !s.ok())
            LogError("audit_keep: recording the prune", s);
        });
  }
  return Status::Ok();
}

// "audit: 120 events in 30 commits (4.00 events per commit)", logged at unmount (the benchmarks
// read it: group commit at work).
void LogBatching(const std::string& what, uint64_t items, const std::string& unit,
                 uint64_t commits) {
  if (commits == 0) return;
  char average[32];
  snprintf(average, sizeof average, "%.2f",
           static_cast<double>(items) / static_cast<double>(commits));
  LogInfo(what + ": " + std::to_string(items) + " " + unit + " in " + std::to_string(commits) +
          " commits (" + average + " " + unit + " per commit)");
}

int Serve(Served& served, const MountRequest& r) {
  LogInfo("serving " + r.store_dir + " on " + r.mountpoint);
  NotifyReadyOnceServing(r.mountpoint, "serving " + r.store_dir + " on " + r.mountpoint);
  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_idle_threads(config, 8);
  fuse_loop_cfg_set_max_threads(config, 64);
  int rc = 0;
  {
    const auto grace = std::chrono::milliseconds(std::llround(r.options.stop_grace * 1000));
    GracefulStop stop(
        served.session, [&served] { return served.fs->UnsavedWrites(); }, grace);
    rc = fuse_session_loop_mt(served.session, config);  // until unmounted or SIGTERM
  }
  fuse_loop_cfg_destroy(config);
  CloseHandlesLeftOpen(served.session_data);  // before the unmount event, which ends the record
  Notify("STOPPING=1\nSTATUS=unmounting " + r.mountpoint);
  LogInfo("unmounting " + r.mountpoint);
  if (Status s = served.audit->Record(DaemonEvent(audit::op::kUnmount, r.mountpoint)); !s.ok())
    LogError("unmount", s);
  const audit::LogStats stats = served.audit->stats();
  LogBatching("audit", stats.events, "events", stats.commits);
  const store::Env::WriteStats writes = served.store->env().write_stats();
  LogBatching("store", writes.changes, "changes", writes.commits);
  // SIGTERM (systemctl stop) and SIGINT are a clean stop, not a failure that Restart=on-failure
  // would answer with a restart. libfuse's loop returns the signal that ended it when its own
  // handlers took it (before GracefulStop took over).
  return rc == 0 || rc == SIGTERM || rc == SIGINT ? 0 : 1;
}

void DetachStdio() {
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  dup2(null, STDERR_FILENO);
  close(null);
}

// What the child of a background mount tells its parent, once: that it serves (an empty message)
// or why it failed. The pipe is closed after it.
class ReadyReport {
 public:
  explicit ReadyReport(int fd) : fd_(fd) {}
  // The mount answered: the parent may exit 0. Nothing once Ended().
  void Ready() {
    std::lock_guard lock(mutex_);
    if (!ended_) SendLocked(std::string(1, '\0'));
  }
  // The session is over: no Ready() from now on.
  void End() {
    std::lock_guard lock(mutex_);
    ended_ = true;
  }
  // Why the mount failed (nothing when Ready() came first).
  void Fail(const std::string& error) {
    std::lock_guard lock(mutex_);
    SendLocked(error);
  }

 private:
  void SendLocked(const std::string& message) {
    if (fd_ < 0) return;
    [[maybe_unused]] ssize_t n = write(fd_, message.data(), message.size());
    close(std::exchange(fd_, -1));
  }
  std::mutex mutex_;
  int fd_;
  bool ended_ = false;
};

// The child of a background mount: opens the store, mounts, serves, and tells the parent once the
// mount answers. That is after FUSE INIT, which the session loop answers: libfuse may refuse the
// kernel's INIT (max_read= it cannot have, ...), and then the mount never serves.
int ServeDetached(const MountRequest& r, keyring::KeyMaterial inherited, int report_fd) {
  DisableCoreDumps();  // inherited from Mount(); said again where the serving process starts
  setsid();
  // Locked memory is not inherited across fork: move the key into fresh locked memory.
  keyring::KeyMaterial key{inherited.kind, keyring::SecretBuffer::CopyOf(inherited.bytes.bytes()),
                           inherited.origin};
  inherited = {};
  auto report = std::make_shared<ReadyReport>(report_fd);
  int rc = 1;
  std::string failure;
  {
    Served served;
    Status s = Prepare(r, key, served);
    key = {};
    if (!s.ok()) {
      failure = s.message();
    } else {
      [[maybe_unused]] int cd = chdir("/");
      // The stat goes through the kernel to this process's session loop, which answers INIT
      // first, so it returns only once the mount serves; after a failed INIT it fails with
      // ECONNREFUSED, and the loop ends. Until the mount answers, stderr is still the
      // operator's: libfuse says there why it refused.
      std::thread([report, mountpoint = r.mountpoint] {
        struct stat st {};
        if (stat(mountpoint.c_str(), &st) != 0 &&
            (errno == ENOTCONN || errno == ECONNABORTED || errno == ECONNREFUSED))
          return;  // the session loop ends, and the failure is told from there
        DetachStdio();
        report->Ready();
      }).detach();
      rc = Serve(served, r);
      report->End();
      failure = "the mount on " + r.mountpoint +
                " ended before it answered a request (see the message above)";
    }
  }  // `served` unmounts here, before the parent hears of a failure
  report->Fail(failure);
  return rc;
}

// A mount on the store's directory, or on a directory above it, hides the store from every
// secretfs command (they would report no store, and `init` would offer to make one); a mount
// inside it puts the plaintext of every secret inside the directory that backups copy.
Status CheckAgainstStore(const std::string& mountpoint, const std::string& store_dir) {
  char point_buf[PATH_MAX];
  char store_buf[PATH_MAX];
  // A store that does not exist yet is reported by the store's own open.
  if (realpath(mountpoint.c_str(), point_buf) == nullptr ||
      realpath(store_dir.c_str(), store_buf) == nullptr)
    return Status::Ok();
  const std::string point = point_buf;
  const std::string store = store_buf;
  const auto within = [](const std::string& inner, const std::string& outer) {
    return outer == "/" || inner.compare(0, outer.size() + 1, outer + "/") == 0;
  };
  if (point == store)
    return Status(EINVAL, "mount point " + mountpoint +
                              " is the store's directory: the mount would hide the store from "
                              "every secretfs command; mount it elsewhere");
  if (within(store, point))
    return Status(EINVAL, "mount point " + mountpoint + " holds the store " + store +
                              ": the mount would hide it from every secretfs command; mount it "
                              "elsewhere or move the store");
  if (within(point, store))
    return Status(EINVAL, "mount point " + mountpoint + " is inside the store's directory " +
                              store +
                              ": a copy or backup of that directory would read every secret "
                              "through the mount; mount it elsewhere");
  return Status::Ok();
}

// The absolute path of `path`, which may be a dead mount that realpath cannot resolve.
std::string AbsoluteMountPoint(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const size_t slash = trimmed.rfind('/');
  if (slash == std::string::npos) return Absolute(".") + "/" + trimmed;
  const std::string parent = slash == 0 ? "/" : Absolute(trimmed.substr(0, slash));
  return (parent == "/" ? "" : parent) + "/" + trimmed.substr(slash + 1);
}

// A mount point whose connection is gone (ENOTCONN: its daemon was killed, by SIGKILL or the OOM
// killer). A dead secretfs mount is detached, so that the next mount (systemd's restart of the
// unit) serves again; a dead mount of another filesystem is not ours to remove.
Status ClearDeadMount(const std::string& mountpoint) {
  const std::string point = AbsoluteMountPoint(mountpoint);
  const std::string stale =
      mountpoint + " is a crashed FUSE mount (transport endpoint is not connected)";
  if (MountAt(point).fstype != "fuse.secretfs")
    return Status(ENOTCONN, stale + "; clear it with: fusermount3 -u " + mountpoint);
  LogToOperator(mountpoint + " is a secretfs mount whose daemon is gone: detaching it");
  if (geteuid() == 0) {
    if (umount2(point.c_str(), MNT_DETACH) != 0)
      return Status::FromErrno(errno, stale + "; detaching it failed");
    return Status::Ok();
  }
  // Not root: fusermount3 (setuid) unmounts the mounts of the user who asks.
  const pid_t child = fork();
  if (child < 0) return Status::FromErrno(errno, "fork");
  if (child == 0) {
    execlp("fusermount3", "fusermount3", "-u", "-z", "--", point.c_str(), nullptr);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status(ENOTCONN, stale + "; fusermount3 -u -z " + mountpoint + " failed");
  return Status::Ok();
}

}  // namespace

Status CheckMountpoint(const std::string& mountpoint, const std::string& store_dir) {
  struct stat st {};
  if (stat(mountpoint.c_str(), &st) != 0) {
    // ENOTCONN; ECONNABORTED in the moment right after the daemon died.
    if (errno != ENOTCONN && errno != ECONNABORTED)
      return Status::FromErrno(errno, "mount point " + mountpoint);
    SECRETFS_RETURN_IF_ERROR(ClearDeadMount(mountpoint));
    if (stat(mountpoint.c_str(), &st) != 0)
      return Status::FromErrno(errno, "mount point " + mountpoint);
  }
  if (!S_ISDIR(st.st_mode))
    return Status(ENOTDIR, "mount point " + mountpoint + " is not a directory");
  if (MountAt(Absolute(mountpoint)).fstype == "fuse.secretfs") {
    // Its attributes may still be in the kernel's cache for a second after its daemon died;
    // statfs always asks the daemon.
    struct statfs fs {};
    if (statfs(mountpoint.c_str(), &fs) == 0 || (errno != ENOTCONN && errno != ECONNABORTED))
      return Status(EBUSY, "a secretfs is already mounted on " + mountpoint);
    SECRETFS_RETURN_IF_ERROR(ClearDeadMount(mountpoint));
  }
  return CheckAgainstStore(mountpoint, store_dir);
}

int Mount(const MountRequest& request, keyring::KeyMaterial key) {
  DisableCoreDumps();
  RaiseOpenFileLimit();  // before the facts cache sizes itself by it
  // FUSE workers come and go (8 idle, up to 64), and glibc may give each new thread a malloc
  // arena of its own, up to 8 per core; what is freed in an arena stays with it. Two arenas kept
  // the daemon's own memory 3.5 to 7 MiB smaller after every secret of a large store was read,
  // with no loss of throughput with 8 reading threads (docs/performance.md).
  mallopt(M_ARENA_MAX, 2);
  MountRequest r = request;
  r.store_dir = Absolute(r.store_dir);  // the daemon changes to / when it detaches
  r.mountpoint = Absolute(r.mountpoint);
  // Not resolved: a SIGHUP re-reads the file the operator named, also after a deploy pointed
  // its link at a new version (as Kubernetes' ConfigMaps and versioned releases do).
  if (!r.options.policy_file.empty())
    if (std::string named = policy::AbsolutePath(r.options.policy_file); !named.empty())
      r.options.policy_file = named;
  auto fail = [](const Status& s) {
    std::cerr << "secretfs: mount: " << s.message() << std::endl;
    return 1;
  };
  if (Status s = CheckMountpoint(r.mountpoint, r.store_dir); !s.ok()) return fail(s);
  OpenLog(r.foreground);

  if (r.foreground) {
    Served served;
    if (Status s = Prepare(r, key, served); !s.ok()) return fail(s);
    key = {};  // unlocked: the key material is no longer needed
    return Serve(served, r);
  }

  // LMDB must not cross a fork, so the child opens the store; it reports back through a pipe
  // (an empty message: serving; otherwise the error) so the operator sees failures here.
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return fail(Status::FromErrno(errno, "pipe"));
  const pid_t child = fork();
  if (child < 0) return fail(Status::FromErrno(errno, "fork"));
  if (child > 0) {
    close(pipefd[1]);
    key = {};
    std::string message;
    char buf[512];
    ssize_t n = 0;
    bool got_any = false;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) {
        message.append(buf, static_cast<size_t>(n));
        got_any = true;
      }
    close(pipefd[0]);
    if (got_any && message.size() == 1 && message[0] == '\0') return 0;
    if (!got_any) {
      int status = 0;
      waitpid(child, &status, 0);
      return fail(Status(EIO, "the daemon exited before it was ready"));
    }
    waitpid(child, nullptr, 0);
    std::cerr << "secretfs: mount: " << message << std::endl;
    return 1;
  }

  close(pipefd[0]);
  _exit(ServeDetached(r, std::move(key), pipefd[1]));
}

}  // namespace secretfs::fs
