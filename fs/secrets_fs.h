// SecretsFs: the filesystem's behaviour (SPEC §3, §4), independent of libfuse's calling
// conventions. fuse_ops.cpp turns each FUSE request into one call here and the result into one
// reply. Methods return 0 or a negative errno, the way FUSE wants it.
//
// Where policy and audit slot in: every method receives the Caller; Access() is the single
// decision point (today: the mounting user and root own everything, SPEC §5 without a policy
// file), and every change goes through one store call made from Commit()/the tree methods.
//
// Thread-safety: all methods may run concurrently on FUSE worker threads. Requests on one
// OpenFile (reads may overlap) take its mutex.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "fs/caller.h"
#include "fs/inode_table.h"
#include "fs/locked_budget.h"
#include "fs/mount_options.h"
#include "keyring/secure_buffer.h"
#include "policy/facts_cache.h"
#include "policy/policy.h"
#include "store/secret_store.h"

namespace secretfs::fs {

enum class Access { kList, kRead, kWrite, kReadVersions, kManageWorkspaces };

// What a setattr asks to change (FUSE_SET_ATTR_* translated by fuse_ops.cpp).
struct AttrChange {
  std::optional<mode_t> mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<off_t> size;
};

struct EntryReply {
  uint64_t ino = 0;
  struct stat attr {};
};

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

// One open file description.
struct OpenFile {
  Node node;
  uint64_t ino = 0;
  Caller caller;                   // who opened it
  pid_t opener = 0;                // the opener's process
  uint64_t version = 0;            // the version this handle read or last committed
  keyring::SecretBuffer snapshot;  // read-only handles: the value as opened (under `mutex`)
  LockedBudget::Claim claim;       // the locked memory its value may take (under `mutex`)
  // A read filled the kernel's page cache from this handle (fs/fuse_ops_file.cpp, Read).
  std::atomic<bool> page_cached{false};
  // The kernel may still hold an older version's size: the open drops its attributes
  // (SecretsFs::KernelMayHoldOlderSize).
  bool attributes_stale = false;

  // Handles opened for writing.
  bool writable = false;
  bool create_only = false;  // O_EXCL: the commit fails with EEXIST if the key became live
  bool creating = false;     // made by create and not yet committed: counted in creating_
  bool may_read = false;     // the opener may read the value (else every commit is a version)
  // The secret opened: a commit stores only into it, not into one removed or destroyed and made
  // again under its name since.
  store::Incarnation incarnation;
  // Guards the fields below, and `snapshot`. The kernel already orders the requests of one
  // handle (open before read, the last read before release), but they run on different threads
  // and ThreadSanitizer cannot see the kernel's order; taking the mutex in each makes it visible.
  // A read of `snapshot` (set once, at open) replies after unlocking; the reader's reference
  // (FileRef, fs/fuse_ops_internal.h) keeps the memory until the reply is sent, and the last
  // reference hands it back to the locked pool, ordered by the reference count.
  std::mutex mutex;
  std::unique_ptr<keyring::SecretBuilder> pending;
  bool dirty = false;
  bool written = false;  // a write or ftruncate came since the open (not only O_TRUNC)
  // The processes that opened this handle or wrote through it: one of them dying of a signal
  // with the value uncommitted cancels the value (SecretsFs::CancelIfKilled). Past
  // kMaxWriterProcesses, every process counts.
  std::vector<pid_t> writer_processes;
  pid_t last_writer_thread = 0;  // the thread of the last write, so each is looked up once
  int error = 0;  // a failed write poisons the handle: its close reports this and stores nothing
  std::optional<uint64_t> expect_version;
  store::MetadataUpdate metadata;  // set with setxattr before the first commit (cp -a, mv)
};

class SecretsFs {
 public:
  // `audit` must outlive this object. `policy` decides every access until SetPolicy replaces it.
  SecretsFs(store::SecretStore& store, MountOptions options, uid_t owner_uid, gid_t owner_gid,
            std::shared_ptr<const policy::Policy> policy, audit::AuditLog& audit);

  // Replaces the policy (SIGHUP); requests already deciding finish with the old one.
  void SetPolicy(std::shared_ptr<const policy::Policy> policy) { policy_.store(std::move(policy)); }
  std::shared_ptr<const policy::Policy> policy() const { return policy_.load(); }

  int Lookup(const Caller& who, uint64_t parent, const std::string& name, EntryReply& out);
  void Forget(uint64_t ino, uint64_t count) { inodes_.Forget(ino, count); }
  // With `file` (the kernel names the handle for lseek's SEEK_END, not for fstat): the size is
  // that handle's, the version it opened or the value it is writing, not the stored one.
  int GetAttr(const Caller& who, uint64_t ino, OpenFile* file, struct stat& out);
  // access(2) and chdir(2) (`mask`: R_OK, W_OK, X_OK bits; 0 for F_OK), answered from the
  // policy, as the operation it asks about would be: 0, -EACCES, -EROFS, or -ENOENT where the
  // name is not there for `who` (as lookup answers). Without this the kernel, told ENOSYS,
  // grants every access(2), and fusermount3 decides by access(".", W_OK) whether a user may
  // mount over a directory: anyone could have hidden the secrets under a mount of their own.
  int Permitted(const Caller& who, uint64_t ino, int mask);
  // Only truncation changes anything; mode/owner changes are EPERM unless they change nothing;
  // times are accepted and ignored. `file` is the open handle for ftruncate, else null.
  int SetAttr(const Caller& who, uint64_t ino, const AttrChange& change, OpenFile* file,
              struct stat& out);
  int ReadDir(const Caller& who, uint64_t ino, std::vector<DirEntry>& out);

  int Open(const Caller& who, uint64_t ino, int flags, std::unique_ptr<OpenFile>& out);
  int Create(const Caller& who, uint64_t parent, const std::string& name, int flags,
             EntryReply& entry, std::unique_ptr<OpenFile>& out);
  // Calls `reply` with the bytes at [offset, offset+size) while they are safe to read. A
  // read-only handle replies outside its mutex, so the caller must hold a reference to `file`
  // (a release may overtake the reply's return).
  int Read(OpenFile& file, size_t size, off_t offset,
           const std::function<int(std::span<const uint8_t>)>& reply);
  // Returns the number of bytes written or a negative errno. `append`: the descriptor's O_APPEND
  // now (fcntl may set or clear it after the open); such a write goes to the end of the value
  // the handle holds, not to the kernel's idea of the file's size.
  long Write(const Caller& who, OpenFile& file, std::span<const uint8_t> data, off_t offset,
             bool append);
  // Commits a dirty handle as one new version. On close (`closing`), only the opener's last
  // write descriptor commits: `cmd > f` makes the shell dup2() the file to stdout and close the
  // original, and that first close must not store an empty version; a child that inherited the
  // descriptor must not store half a value when it exits. Returns 1 when it stored a value, 0
  // when there was nothing to store, or a negative errno.
  int Commit(const Caller& who, OpenFile& file, bool closing);
  // The handles open for writing that hold a value not yet stored (written, or opened with
  // O_TRUNC, and neither closed nor synced since): what a graceful stop waits for. A handle busy
  // with a request counts too.
  size_t UnsavedWrites();
  // Drops the kernel's reference to the handle (the last reference wipes its plaintext);
  // commits what a skipped close left uncommitted. With `session_ended` (the handle's RELEASE
  // never came: fs/kernel_handles.h), its last close never came either, so what it left
  // uncommitted is not stored: that is logged and audited. True when it stored a value.
  bool Release(std::shared_ptr<OpenFile> file, bool session_ended = false);
  // The device of this mount (for matching the files behind /proc/PID/fd), once mounted.
  void SetMountDevice(dev_t dev) { mount_dev_ = dev; }

  int Unlink(const Caller& who, uint64_t parent, const std::string& name);
  int Rename(const Caller& who, uint64_t parent, const std::string& name, uint64_t new_parent,
             const std::string& new_name, unsigned flags);
  int Mkdir(const Caller& who, uint64_t parent, const std::string& name, EntryReply& out);
  int Rmdir(const Caller& who, uint64_t parent, const std::string& name);

  int GetXattr(const Caller& who, uint64_t ino, const std::string& name, std::string& out);
  int ListXattr(const Caller& who, uint64_t ino, std::string& out);
  int SetXattr(const Caller& who, uint64_t ino, const std::string& name,
               std::span<const char> value, int flags);
  int RemoveXattr(const Caller& who, uint64_t ino, const std::string& name);

  // The store's capacity and use; the count of files is of the secrets in the workspaces `who`
  // may list (in a workspace mount, that workspace's), so it tells nobody how many others exist.
  int StatFs(const Caller& who, struct statvfs& out);

  double entry_timeout() const { return options_.entry_timeout; }
  double attr_timeout() const { return options_.attr_timeout; }

 private:
  // 0 when `who` may do `access` on the workspace/key of `node`; -ENOENT where the name must not
  // leak, -EACCES otherwise.
  int Check(const Caller& who, const Node& node, Access access) const;
  // Whether `who` may list every key of `workspace` (a rule without key globs), not only some.
  bool SeesEveryKey(const Caller& who, std::string_view workspace) const;
  // The caller as the policy sees it, reading /proc only for what the policy's rules need.
  policy::CallerFacts FactsFor(const Caller& who, const policy::Policy& policy) const;
  // The process facts of `who`, reading what `wanted` adds to what this request already read.
  const policy::ProcessFacts& FactsOf(const Caller& who, const policy::FactsWanted& wanted) const;
  // The process of the calling thread, from the facts its event will name (read once for both,
  // and cached per thread); the thread's id when /proc no longer shows it.
  pid_t ProcessOf(const Caller& who) const;
  // An audit event of `op` by `who` on `node` (origin fs, the caller's process facts).
  audit::Event EventFor(const Caller& who, std::string_view op, const Node& node,
                        std::string detail = {}) const;
  // Records the outcome `rc` (0 or -errno) of an access that changed nothing. Returns `rc`, or
  // -EIO when the event could not be recorded and `rc` was a success (fail-closed: SPEC §6).
  int Audit(const Caller& who, std::string_view op, const Node& node, int rc, uint64_t version = 0,
            std::string detail = {});
  // The outcome `rc` of a listing (lookup, readdir): audited only with audit_list=1.
  int Listed(const Caller& who, const Node& node, int rc);
  // Runs `change`, one store call, with the event of `op` on `node` joined to the change's own
  // write transaction: both are committed or neither. A failed change is recorded on its own.
  template <class Change>
  auto Audited(const Caller& who, std::string_view op, const Node& node, Change&& change,
               std::string detail = {}) -> decltype(change()) {
    auto joined = audit_.Join(EventFor(who, op, node, detail));
    auto result = change();
    joined.reset();
    if (const Status s = StatusOf(result); !s.ok())
      Audit(who, op, node, -s.code(), 0, std::move(detail));
    return result;
  }
  static Status StatusOf(const Status& s) { return s; }
  template <class T>
  static Status StatusOf(const Result<T>& r) {
    return r.status();
  }
  int CheckWritable() const { return options_.read_only ? -EROFS : 0; }
  // -ENOMEM for a claim of `uid` on the locked budget that did not fit, logged (at most once
  // every kWarningLogGap: a user who keeps trying must not flood the log).
  int OverBudget(uid_t uid, size_t value_bytes) const;
  // -EINVAL for a name the naming rules refuse, logged as OverBudget is: the name is checked
  // before the caller's role (its node needs a valid name), so anyone who sees the mount could
  // otherwise fill the journal, and its rate limit would drop the daemon's real errors.
  int RefusedName(const std::string& what, const Status& why) const;
  static constexpr std::chrono::seconds kWarningLogGap{10};
  // Whether a warning last logged at `last_ns` may be logged again now (and notes it).
  static bool MayLogAgain(std::atomic<int64_t>& last_ns);
  // Makes `file`'s claim cover `value_bytes` unless it does already (a claim never shrinks: the
  // handle keeps the memory it grew to); 0 or -ENOMEM. Write handles pass their builder's
  // capacity, which grows by doubling, not the value's size. The caller holds file.mutex.
  int CoverUpTo(OpenFile& file, size_t value_bytes);
  std::optional<Node> NodeOf(uint64_t ino) const { return inodes_.Get(ino); }
  // Resolves `name` inside directory node `parent` (no store access for names that cannot exist).
  int Child(const Node& parent, const std::string& name, Node& out) const;
  // The attributes of `node` from the store's metadata (never decrypts).
  int Attributes(const Node& node, uint64_t ino, struct stat& out);
  void FileAttr(uint64_t ino, mode_t mode, uint64_t size, int64_t mtime_ns, struct stat& out) const;
  void DirAttr(uint64_t ino, struct stat& out) const;
  int Changed(const Caller& who, const Node& node, const store::MetadataUpdate& update);
  // "user:NAME" or "uid:N" for the caller, from a cache: without it every write asked the name
  // service (read /etc/passwd, or a round trip to sssd/LDAP). A name changed in the user
  // database shows in new versions after at most kAuthorTtl.
  std::string Author(const Caller& who) const;
  static constexpr std::chrono::seconds kAuthorTtl{10};
  // Whether a write open builds on a live secret or joins the creation of its name.
  enum class WriteOpen { kExisting, kCreating };
  // Opens a secret for writing; the handle holds the current value unless the open truncates.
  // A creating handle always truncates and counts among its inode's creators (JoinCreation).
  int OpenForWrite(const Caller& who, const Node& node, uint64_t ino, int flags,
                   std::unique_ptr<OpenFile>& out, WriteOpen kind = WriteOpen::kExisting);
  // Writes `value` as the next version of `node` right away (truncate by path). A caller that
  // may not read gets a new version even for an unchanged value (see WriteRequest). With
  // `checked`, the incarnation seen when the truncate was checked, it writes only that secret:
  // ENOENT when it was removed meanwhile (a `secretfs rm` is not serialised with it by the
  // kernel's inode lock, as an unlink through the mount is), instead of making it again.
  int WriteNow(const Caller& who, const Node& node, std::span<const uint8_t> value, bool may_read,
               std::optional<store::Incarnation> checked);
  void RegisterWriter(OpenFile& file);
  // Whether `node` (inode `ino`) is a name another create(2) made and has not committed yet.
  bool BeingCreated(const Node& node, uint64_t ino);
  // Counts `file` among the handles creating its inode (see OpenFile::creating).
  void JoinCreation(OpenFile& file);
  // Its first commit or its release: `file` no longer creates its inode.
  void LeaveCreation(OpenFile& file);
  // Whether a file in `workspace` is being created.
  bool CreatingIn(std::string_view workspace);
  // Notes the process of thread `thread` among file's writers. The caller holds file.mutex.
  static void NoteWriter(OpenFile& file, pid_t thread);
  // Whether the kernel may still hold the size of the version before the one written at
  // `updated_ns`: it keeps what a getattr told it for attr_timeout, and a value written by
  // the CLI or another mount does not reach it. A program reading st_size bytes after its
  // open (a C reader, a private mmap) would get a rotated secret cut short.
  bool KernelMayHoldOlderSize(int64_t updated_ns) const;
  // The size of what `file` reads: the version it opened, or the value being written.
  static size_t HandleSize(OpenFile& file);
  static constexpr size_t kMaxWriterProcesses = 64;
  // -ECANCELED, recorded, when `who` closes `file` while its process dies of a signal and that
  // process opened the file or wrote to it: the value may be cut short, so it is not stored.
  int CancelIfKilled(const Caller& who, OpenFile& file);
  // The other handles open for writing on file's inode by the same process (not yet released).
  // The caller holds expect_mutex_.
  int OtherWritersOf(const OpenFile& file);
  // WriteDescriptionsOf the opener of `file`, counted while no handle of its inode joined or
  // left writers_; -1, as when the descriptors cannot be seen, when handles kept doing so through
  // kSettleAttempts counts. `writers` (on expect_mutex_) is not held on entry and is held on
  // return, so the count may be compared with OtherWritersOf.
  int SettledWriteDescriptions(const OpenFile& file, std::unique_lock<std::mutex>& writers);
  static constexpr int kSettleAttempts = 3;

  // Makes room for one more pending expect_version of `uid`: drops those whose process is gone,
  // once their number has doubled since the last time (and at every call while the table, or
  // the uid's share of it, is full); -ENOSPC when kMaxExpectations of live processes are pending,
  // or kMaxExpectationsPerUid of `uid`'s, so one user cannot take check-and-set from the others.
  // `lock` holds expect_mutex_, and is let go while /proc is read.
  int RoomForExpectation(uid_t uid, std::unique_lock<std::mutex>& lock);
  // What setxattr gave a file being created (inode `ino`), waiting for its first commit in a
  // creating handle; nullopt when no handle creates it.
  std::optional<store::MetadataUpdate> PendingMetadata(uint64_t ino);
  static constexpr size_t kMaxExpectations = 4096;
  static constexpr size_t kMaxExpectationsPerUid = 1024;

  store::SecretStore& store_;
  const MountOptions options_;
  const policy::Caps caps_;
  std::atomic<std::shared_ptr<const policy::Policy>> policy_;
  audit::AuditLog& audit_;
  mutable policy::ProcessFactsCache facts_cache_;
  const int64_t mounted_ns_;
  std::atomic<dev_t> mount_dev_{0};
  const uid_t owner_uid_;
  const gid_t owner_gid_;
  struct AuthorLabel {
    std::string label;
    std::chrono::steady_clock::time_point looked_up;
  };
  mutable std::mutex authors_mutex_;
  mutable std::map<uid_t, AuthorLabel> authors_;  // bounded by kMaxAuthors
  static constexpr size_t kMaxAuthors = 1024;
  InodeTable inodes_;
  LockedBudget locked_;
  mutable std::atomic<int64_t> over_budget_logged_ns_{0};
  mutable std::atomic<int64_t> refused_name_logged_ns_{0};

  // Guards expected_versions_, writers_ and writer_changes_.
  std::mutex expect_mutex_;
  // check-and-set versions set with setxattr before the process opened the file, by (inode,
  // pid), with the process's start time: a process that sets one and exits without opening
  // (`setfattr` run from a shell) must not arm it for whichever process gets its pid next.
  struct ExpectedVersion {
    uint64_t version = 0;
    std::optional<uint64_t> started;  // policy::ProcessStartTime of the pid when it was set
    uid_t uid = 0;                    // who set it
  };
  std::map<std::pair<uint64_t, pid_t>, ExpectedVersion> expected_versions_;
  size_t prune_expectations_at_ = 64;
  std::multimap<uint64_t, OpenFile*> writers_;  // open write handles by inode
  // Joins and leaves of writers_, by inode modulo the size (SettledWriteDescriptions).
  std::array<uint64_t, 64> writer_changes_{};
  // Files being created: they have an inode but no version until their first commit.
  struct Creation {
    int handles = 0;        // open handles creating it
    std::string workspace;  // where: rmdir of it waits for the commit (ENOTEMPTY)
  };
  std::mutex creating_mutex_;
  std::map<uint64_t, Creation> creating_;
};

// Negative errno for a store Status.
int ToNegErrno(const Status& status);

}  // namespace secretfs::fs
