// SecretsFs: open, create, read, write, commit, release and truncate.
#include <fcntl.h>

#include <algorithm>

#include "audit/event.h"
#include "fs/log.h"
#include "fs/proc_info.h"
#include "fs/secrets_fs.h"

namespace secretfs::fs {

bool SecretsFs::MayLogAgain(std::atomic<int64_t>& last_ns) {
  const int64_t now = store::NowNs();
  int64_t last = last_ns.load();
  const int64_t gap = std::chrono::nanoseconds(kWarningLogGap).count();
  return now - last >= gap && last_ns.compare_exchange_strong(last, now);
}

int SecretsFs::RefusedName(const std::string& what, const Status& why) const {
  if (MayLogAgain(refused_name_logged_ns_))
    LogWarning(what,
               Status(why.code(), why.message() + " (refused names are logged at most every " +
                                      std::to_string(kWarningLogGap.count()) + " s)"));
  return -EINVAL;
}

int SecretsFs::OverBudget(uid_t uid, size_t value_bytes) const {
  if (MayLogAgain(over_budget_logged_ns_)) {
    LogWarning("open files of uid " + std::to_string(uid),
               Status(ENOMEM, "a value of " + std::to_string(value_bytes) +
                                  " bytes would pass the locked memory open files may hold (" +
                                  std::to_string(locked_.per_uid()) + " bytes per user, " +
                                  std::to_string(locked_.total()) +
                                  " in all: mount option max_locked); refused with ENOMEM"));
  }
  return -ENOMEM;
}

int SecretsFs::CoverUpTo(OpenFile& file, size_t value_bytes) {
  if (value_bytes <= file.claim.covered() || file.claim.Cover(value_bytes)) return 0;
  return OverBudget(file.caller.uid, value_bytes);
}

void SecretsFs::RegisterWriter(OpenFile& file) {
  std::lock_guard lock(expect_mutex_);
  if (!expected_versions_.empty()) {
    auto it = expected_versions_.find({file.ino, file.opener});
    if (it != expected_versions_.end()) {
      // Only the process that set it: not a later one that got the same pid.
      if (it->second.started == policy::ProcessStartTime(file.opener))
        file.expect_version = it->second.version;
      expected_versions_.erase(it);
    }
  }
  writers_.emplace(file.ino, &file);
  ++writer_changes_[file.ino % writer_changes_.size()];
}

int SecretsFs::OpenForWrite(const Caller& who, const Node& node, uint64_t ino, int flags,
                            std::unique_ptr<OpenFile>& out, WriteOpen kind) {
  if (kind == WriteOpen::kCreating) flags |= O_TRUNC;  // nothing to build on
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (int rc = Check(who, node, Access::kWrite); rc != 0)
    return Audit(who, audit::op::kWrite, node, rc);
  const bool may_read = Check(who, node, Access::kRead) == 0;
  // A descriptor open for reading can be mapped (MAP_PRIVATE) or spliced from, and both read
  // the pages of the kernel's cache, which are the inode's: what another process's mmap or
  // sendfile read of the secret put there. So who may not read gets no readable descriptor of a
  // secret, as open(2) of a write-only file answers on any filesystem. Creating a name with one
  // (mkstemp's O_RDWR) is no exception: kept open, it would show the pages of the values others
  // write to that name later.
  if ((flags & O_ACCMODE) != O_WRONLY && !may_read)
    return Audit(who, kind == WriteOpen::kCreating ? audit::op::kCreate : audit::op::kRead, node,
                 -EACCES);
  auto file = std::make_unique<OpenFile>();
  file->node = node;
  file->ino = ino;
  // The facts the commit's event names are read now, while the opener is surely not inside
  // an execve(): a close may come from one (see Commit), and the copy in `caller` keeps them.
  file->opener = ProcessOf(who);
  file->caller = who;
  file->writable = true;
  file->writer_processes.push_back(file->opener);
  file->may_read = may_read;  // decided now: a close may be in exec
  if (flags & O_TRUNC) {
    if (!locked_.Take(who.uid, 0, file->claim))
      return Audit(who, audit::op::kWrite, node, OverBudget(who.uid, 0));
    // A creating handle takes its incarnation from its first commit. Without a record (gone
    // since the lookup) there is nothing to tell apart, and the commit's only_if_live decides.
    if (kind == WriteOpen::kExisting) {
      if (auto current = store_.Stat(node.workspace, node.key))
        file->incarnation = current->record.incarnation();
    }
    file->pending = std::make_unique<keyring::SecretBuilder>(options_.max_size);
    file->dirty = true;  // `: > file` stores an empty value
  } else {
    // Appending or writing in place builds on the current value: read permission too, and the
    // value read is an audited read.
    if (int rc = Check(who, node, Access::kRead); rc != 0)
      return Audit(who, audit::op::kRead, node, rc == -ENOENT ? -EACCES : rc);
    auto current = store_.Read(node.workspace, node.key);
    if (!current) return Audit(who, audit::op::kRead, node, ToNegErrno(current.status()));
    // A value over this mount's max_size (stored by the CLI, or before the limit was lowered)
    // cannot be built on here: EFBIG, where an empty start would have replaced it.
    if (current->value.size() > options_.max_size)
      return Audit(who, audit::op::kWrite, node, -EFBIG);
    auto pending =
        std::make_unique<keyring::SecretBuilder>(options_.max_size, current->value.bytes());
    if (pending->size() != current->value.size())
      return Audit(who, audit::op::kWrite, node, -ENOMEM);  // no locked memory for it
    if (!locked_.Take(who.uid, pending->capacity(), file->claim))
      return Audit(who, audit::op::kRead, node, OverBudget(who.uid, pending->capacity()));
    if (int rc = Audit(who, audit::op::kRead, node, 0, current->version); rc != 0) return rc;
    file->version = current->version;
    file->incarnation = current->incarnation;
    file->attributes_stale = KernelMayHoldOlderSize(current->updated_ns);
    file->pending = std::move(pending);
  }
  RegisterWriter(*file);
  if (kind == WriteOpen::kCreating) JoinCreation(*file);
  out = std::move(file);
  return 0;
}

int SecretsFs::Open(const Caller& who, uint64_t ino, int flags, std::unique_ptr<OpenFile>& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (node->is_dir()) return -EISDIR;
  const bool read_only = (flags & O_ACCMODE) == O_RDONLY;
  const bool old_version = node->kind == NodeKind::kVersionFile;
  const std::string_view op = old_version ? audit::op::kVersionRead : audit::op::kRead;
  if (old_version) {
    if (!read_only) return Audit(who, op, *node, -EACCES);  // old versions are history
    if (int rc = Check(who, *node, Access::kReadVersions); rc != 0)
      return Audit(who, op, *node, rc);
  } else if (!read_only) {
    // A name another create(2) made and has not committed yet is an empty file (Attributes):
    // a writer that opens it joins that creation. As an ordinary write it would need a live
    // secret and fail with ENOENT whenever it closed first (two `echo x > NEW` at once).
    return OpenForWrite(who, *node, ino, flags, out,
                        BeingCreated(*node, ino) ? WriteOpen::kCreating : WriteOpen::kExisting);
  } else if (int rc = Check(who, *node, Access::kRead); rc != 0) {
    return Audit(who, op, *node, rc);
  }
  auto opened = old_version ? store_.Read(node->workspace, node->key, node->version)
                            : store_.Read(node->workspace, node->key);
  if (!opened) {
    if (opened.status().code() == EIO)
      LogError("open " + node->workspace + "/" + node->key, opened.status());
    return Audit(who, op, *node, ToNegErrno(opened.status()));
  }
  LockedBudget::Claim claim;
  if (!locked_.Take(who.uid, opened->value.size(), claim))
    return Audit(who, op, *node, OverBudget(who.uid, opened->value.size()));
  // Fail-closed: no event, no value (the plaintext is wiped as `opened` goes).
  if (int rc = Audit(who, op, *node, 0, opened->version); rc != 0) return rc;
  auto file = std::make_unique<OpenFile>();
  file->node = *node;
  file->ino = ino;
  file->version = opened->version;
  // An old version's file never changes size.
  file->attributes_stale = !old_version && KernelMayHoldOlderSize(opened->updated_ns);
  {
    std::lock_guard lock(file->mutex);
    file->snapshot = std::move(opened->value);
    file->claim = std::move(claim);
  }
  out = std::move(file);
  return 0;
}

int SecretsFs::Create(const Caller& who, uint64_t parent, const std::string& name, int flags,
                      EntryReply& entry, std::unique_ptr<OpenFile>& out) {
  auto dir = NodeOf(parent);
  if (!dir) return -ENOENT;
  if (dir->kind != NodeKind::kWorkspace) return dir->kind == NodeKind::kRoot ? -EPERM : -EACCES;
  if (int rc = CheckWritable(); rc != 0) return rc;
  auto ws = store_.GetWorkspace(dir->workspace);
  if (!ws) return ToNegErrno(ws.status());
  if (Status s = store::ValidateKeyName(name, ws->naming); !s.ok())
    return RefusedName("create in " + dir->workspace, s);
  const Node node{NodeKind::kSecret, dir->workspace, name, 0};
  // The workspace is visible (the kernel looked it up): a name the caller may not create is
  // EACCES, not the ENOENT that hides existing names.
  if (int rc = Check(who, node, Access::kWrite); rc != 0)
    return Audit(who, audit::op::kCreate, node, rc == -ENOENT ? -EACCES : rc);
  auto existing = store_.Stat(node.workspace, node.key);
  const bool live = existing && !existing->record.deleted;
  if (live && (flags & O_EXCL)) return -EEXIST;

  const uint64_t ino = inodes_.Acquire(node);
  // A name that is live (made meanwhile) gets an ordinary open; otherwise this handle creates it.
  int rc =
      OpenForWrite(who, node, ino, flags, out, live ? WriteOpen::kExisting : WriteOpen::kCreating);
  if (rc == 0 && !live) out->create_only = (flags & O_EXCL) != 0;
  if (rc == 0) rc = Attributes(node, ino, entry.attr);
  if (rc != 0) {
    if (out) Release(std::move(out));
    inodes_.Forget(ino, 1);
    return rc;
  }
  entry.ino = ino;
  return 0;
}

int SecretsFs::Read(OpenFile& file, size_t size, off_t offset,
                    const std::function<int(std::span<const uint8_t>)>& reply) {
  auto slice = [&](std::span<const uint8_t> all) {
    const size_t start = std::min(all.size(), static_cast<size_t>(std::max<off_t>(offset, 0)));
    return all.subspan(start, std::min(size, all.size() - start));
  };
  std::unique_lock lock(file.mutex);
  if (file.writable) return reply(slice(file.pending->bytes()));  // writes move these bytes
  // A snapshot does not change from open to release, and the caller's reference keeps it alive.
  // Replying under the lock made a RELEASE that overtook the reply's return sleep on it: a futex
  // wait and wake-up for a third of all `cat`s.
  const std::span<const uint8_t> bytes = slice(file.snapshot.bytes());
  lock.unlock();
  return reply(bytes);
}

bool SecretsFs::KernelMayHoldOlderSize(int64_t updated_ns) const {
  if (options_.attr_timeout <= 0) return false;
  // What the kernel kept was answered before the version was written and expires attr_timeout
  // after it arrived. A second more covers an answer read just before a commit and sent
  // after it, and a clock that moved.
  const auto kept_ns = static_cast<int64_t>((options_.attr_timeout + 1.0) * 1e9);
  return store::NowNs() - updated_ns < kept_ns;
}

size_t SecretsFs::HandleSize(OpenFile& file) {
  std::lock_guard lock(file.mutex);
  if (file.writable) return file.pending->size();
  return file.snapshot.size();
}

void SecretsFs::NoteWriter(OpenFile& file, pid_t thread) {
  if (thread == file.last_writer_thread) return;
  file.last_writer_thread = thread;
  std::vector<pid_t>& known = file.writer_processes;
  if (known.size() > kMaxWriterProcesses) return;  // every process counts already
  // The opening thread's process is known (as in Commit): asking /proc cost a failed pidfd_open
  // and a read of /proc/TID/status on each write from a thread that is not a main thread.
  const pid_t process = thread == file.caller.pid ? file.opener : policy::ProcessOfThread(thread);
  if (std::find(known.begin(), known.end(), process) == known.end()) known.push_back(process);
}

long SecretsFs::Write(const Caller& who, OpenFile& file, std::span<const uint8_t> data,
                      off_t offset, bool append) {
  if (!file.writable) return -EBADF;
  std::lock_guard lock(file.mutex);
  if (file.error != 0) return -file.error;
  NoteWriter(file, who.pid);
  const size_t at = append ? file.pending->size() : static_cast<size_t>(offset);
  if (offset >= 0 && at + data.size() <= options_.max_size) {
    if (int rc = CoverUpTo(file, file.pending->CapacityFor(at + data.size())); rc != 0) {
      file.error = -rc;  // as for EFBIG below: the close reports it, and nothing is stored
      return rc;
    }
  }
  if (offset < 0 || !file.pending->WriteAt(at, data)) {
    file.error = EFBIG;  // the close reports it too, and nothing is stored
    return -EFBIG;
  }
  file.dirty = true;
  file.written = true;
  return static_cast<long>(data.size());
}

int SecretsFs::SettledWriteDescriptions(const OpenFile& file,
                                        std::unique_lock<std::mutex>& writers) {
  // The descriptors are counted without expect_mutex_: the count reads /proc (up to 256 files,
  // and kcmp waits up to 100 ms for a writer inside execve), and every open and release of a
  // handle open for writing takes that lock. A count is kept only when no handle of the inode
  // joined or left writers_ meanwhile, so that every descriptor seen belongs to a handle
  // counted in writers_: counted apart, another thread's release and reopen of the same secret
  // made its new descriptor look like a second reference to this handle, the close skipped its
  // commit and returned 0, and a kill -9 before the release lost an acknowledged write
  // (tests/stress/crash_test.cpp, under ASan).
  const uint64_t& changes = writer_changes_[file.ino % writer_changes_.size()];
  writers.lock();
  for (int attempt = 0; attempt < kSettleAttempts; ++attempt) {
    const uint64_t before = changes;
    writers.unlock();
    const int descriptions = WriteDescriptionsOf(file.opener, mount_dev_, file.ino);
    writers.lock();
    if (changes == before) return descriptions;
  }
  return -1;  // handles of the inode kept coming and going: as if the descriptors were unseen
}

int SecretsFs::OtherWritersOf(const OpenFile& file) {
  auto [first, last] = writers_.equal_range(file.ino);
  int others = 0;
  for (auto it = first; it != last; ++it)
    others += it->second != &file && it->second->opener == file.opener;
  return others;
}

int SecretsFs::CancelIfKilled(const Caller& who, OpenFile& file) {
  // A process killed while it writes (kill -9, a timeout's SIGTERM, the OOM killer, a crash)
  // still closes its files, on its way out; committing then stored whatever it had written by
  // then, or an empty value after an O_TRUNC open. An exit(2) without close commits as a close.
  {
    std::lock_guard lock(file.mutex);
    if (!file.dirty || file.error != 0) return 0;  // nothing to store: no need to ask /proc
  }
  const std::optional<int> signal = policy::DyingSignal(who.pid);
  if (!signal || *signal == 0) return 0;
  const pid_t process = policy::ProcessOfThread(who.pid);
  {
    std::lock_guard lock(file.mutex);
    if (!file.dirty || file.error != 0) return 0;
    const std::vector<pid_t>& known = file.writer_processes;
    if (known.size() <= kMaxWriterProcesses &&
        std::find(known.begin(), known.end(), process) == known.end())
      return 0;  // it only inherited the descriptor: what the writers write is theirs to close
    file.error = ECANCELED;  // nothing is stored, and later writes and closes are told so
  }
  Audit(who, audit::op::kWrite, file.node, -ECANCELED, 0,
        "killed by signal " + std::to_string(*signal) + " before its close: nothing stored");
  return -ECANCELED;
}

int SecretsFs::Commit(const Caller& who, OpenFile& file, bool closing) {
  if (!file.writable) return 0;
  if (closing) {
    if (int rc = CancelIfKilled(who, file); rc != 0) return rc;
  }
  // The open file description's last close is not visible to FUSE, so a close commits when it
  // is the opener's and no descriptor of the opener still refers to this description. The
  // opener's write descriptions of the file beyond its other open handles here (other threads'
  // own opens) are this one, still reachable (a shell's dup2 to stdout): then the close does not
  // commit. Children that inherited the descriptor (a command run while the file is open) never
  // commit a half value; whatever a close leaves uncommitted is committed at release.
  std::unique_lock writers(expect_mutex_, std::defer_lock);
  int descriptions = 0;
  if (closing) {
    {
      std::lock_guard lock(file.mutex);
      if (file.error != 0) return -file.error;
      if (!file.dirty) return 0;  // nothing to store: no need to ask /proc
    }
    // A closing thread whose id is the opener's process id is that process' main thread; one
    // whose id is the opening thread's is that thread (its id could be another's only after
    // it ended, and a process that inherited the descriptor later is judged by the opener's
    // descriptors below all the same). Nothing here may follow a /proc link of the closing
    // process: the close may be its execve() closing O_CLOEXEC descriptors, which holds the
    // lock such reads wait for until this FLUSH is answered (proc_info.h). Its status file is
    // read without that lock.
    const bool by_opener = who.pid == file.opener || who.pid == file.caller.pid ||
                           policy::ProcessOfThread(who.pid) == file.opener;
    if (!by_opener) return 0;
    descriptions = SettledWriteDescriptions(file, writers);  // expect_mutex_ is held from here
  }
  std::lock_guard lock(file.mutex);  // after expect_mutex_, as elsewhere
  if (file.error != 0) return -file.error;
  if (!file.dirty) return 0;  // another close or an fsync committed it meanwhile
  if (closing) {
    // When the opener's descriptors cannot be seen, a handle nothing was written to waits for
    // its release: that is the first close of a shell's `cmd > f`, whose commit would store an
    // empty version that readers could get before cmd's value. `: > f` is stored at release.
    if (descriptions < 0 ? !file.written : descriptions > OtherWritersOf(file)) return 0;
    writers.unlock();  // the commit itself waits for the disk: let others open and close
  }
  store::WriteRequest request;
  request.workspace = file.node.workspace;
  request.key = file.node.key;
  request.value = file.pending->bytes();
  // A close commits for the opener (by_opener above), named with the facts read at open; an
  // fsync for its caller (who, at release, is the opener).
  const Caller& writer = closing ? file.caller : who;
  request.author = Author(writer);
  request.expect_version = file.expect_version;
  request.create_only = file.create_only;
  // A handle opened on a live secret writes that secret: after an rm (or an mv away) of it, a
  // writer still running must not bring it back (an rm that revokes a secret would be undone),
  // nor write over a secret made under its name since (the rotation after that rm).
  request.only_if_live = !file.creating;
  request.opened = file.incarnation;
  request.metadata = file.metadata;
  // A writer that may not read (a member) must not learn from the version number whether the
  // value it wrote was already there.
  request.even_if_unchanged = !file.may_read;
  // `creating`: made by create(2) when the name was not live, and not yet committed.
  auto result = Audited(writer, file.creating ? audit::op::kCreate : audit::op::kWrite, file.node,
                        [&] { return store_.Write(request); });
  if (!result) {
    if (result.status().code() != EBUSY && result.status().code() != EEXIST)
      LogError("write " + file.node.workspace + "/" + file.node.key, result.status());
    // The closer is told the value was not stored, and that is final: the release must not try
    // it again (it did, later than any close when a child held the descriptor, and stored a
    // value its writer had been told was lost over the one made under that name since). Bytes
    // written after this (a child's, through the same handle) are tried at release afresh.
    if (closing) file.dirty = false;
    return ToNegErrno(result.status());
  }
  file.dirty = false;
  file.version = result->version;
  file.incarnation = result->incarnation;  // a creating handle's secret from now on
  file.create_only = false;
  file.metadata = {};
  if (file.expect_version) file.expect_version = result->version;
  LeaveCreation(file);
  return 1;
}

bool SecretsFs::BeingCreated(const Node& node, uint64_t ino) {
  {
    std::lock_guard lock(creating_mutex_);
    if (!creating_.count(ino)) return false;
  }
  auto existing = store_.Stat(node.workspace, node.key);
  return !existing || existing->record.deleted;  // a commit may have made it live meanwhile
}

void SecretsFs::JoinCreation(OpenFile& file) {
  file.creating = true;
  std::lock_guard lock(creating_mutex_);
  Creation& creation = creating_[file.ino];
  ++creation.handles;
  creation.workspace = file.node.workspace;
}

void SecretsFs::LeaveCreation(OpenFile& file) {
  if (!file.creating) return;
  file.creating = false;
  std::lock_guard lock(creating_mutex_);
  if (auto it = creating_.find(file.ino); it != creating_.end() && --it->second.handles <= 0)
    creating_.erase(it);
}

bool SecretsFs::CreatingIn(std::string_view workspace) {
  std::lock_guard lock(creating_mutex_);
  return std::any_of(creating_.begin(), creating_.end(),
                     [&](const auto& entry) { return entry.second.workspace == workspace; });
}

bool SecretsFs::Release(std::shared_ptr<OpenFile> file, bool session_ended) {
  if (!file) return false;
  { std::lock_guard lock(file->mutex); }  // after every request on it: see OpenFile::mutex
  if (!file->writable) return false;
  bool stored = false;
  if (file->dirty && file->error == 0) {
    const auto what = [&] { return "write " + file->node.workspace + "/" + file->node.key; };
    if (session_ended) {
      // Its last close never came either (the writer's close is told ENOTCONN): the value may
      // be half written.
      const std::string why = "still open when the daemon stopped: nothing stored";
      LogWarning(what(), Status(ENOTCONN, why));
      Audit(file->caller, audit::op::kWrite, file->node, -ENOTCONN, 0, why);
    } else if (int rc = Commit(file->caller, *file, /*closing=*/false); rc < 0) {
      // A close skipped its commit because another descriptor was open, and that one belonged
      // to another open file description. Store it now; nobody is left to hear of an error.
      LogError(what() + " at release", Status(-rc, "not stored"));
    } else {
      stored = rc > 0;
    }
  }
  {
    std::lock_guard lock(expect_mutex_);
    auto [first, last] = writers_.equal_range(file->ino);
    for (auto it = first; it != last; ++it)
      if (it->second == file.get()) {
        writers_.erase(it);
        ++writer_changes_[file->ino % writer_changes_.size()];
        break;
      }
  }
  LeaveCreation(*file);
  return stored;
}

size_t SecretsFs::UnsavedWrites() {
  std::lock_guard lock(expect_mutex_);
  size_t unsaved = 0;
  for (const auto& [ino, file] : writers_) {
    // try_lock: a commit holds a handle's mutex while it takes expect_mutex_.
    std::unique_lock handle(file->mutex, std::try_to_lock);
    if (!handle.owns_lock() || (file->dirty && file->error == 0)) ++unsaved;
  }
  return unsaved;
}

int SecretsFs::WriteNow(const Caller& who, const Node& node, std::span<const uint8_t> value,
                        bool may_read, std::optional<store::Incarnation> checked) {
  store::WriteRequest request;
  request.workspace = node.workspace;
  request.key = node.key;
  request.value = value;
  request.author = Author(who);
  request.even_if_unchanged = !may_read;  // as in Commit
  if (checked) {
    request.only_if_live = true;
    request.opened = *checked;
  }
  auto result = Audited(who, audit::op::kWrite, node, [&] { return store_.Write(request); });
  return result ? 0 : ToNegErrno(result.status());
}

int SecretsFs::SetAttr(const Caller& who, uint64_t ino, const AttrChange& change, OpenFile* file,
                       struct stat& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (int rc = Check(who, *node, Access::kList); rc != 0) return rc;
  if (int rc = Attributes(*node, ino, out); rc != 0) return rc;
  // chmod and chown are refused unless they change nothing (cp -p, sed -i and editors copy
  // modes and owners onto the files they write).
  if ((change.mode && (*change.mode & 07777) != (out.st_mode & 07777)) ||
      (change.uid && *change.uid != out.st_uid) || (change.gid && *change.gid != out.st_gid))
    return -EPERM;
  if (!change.size) return 0;  // times: accepted and ignored
  if (node->kind != NodeKind::kSecret) return node->is_dir() ? -EISDIR : -EACCES;
  if (int rc = CheckWritable(); rc != 0) return rc;
  const size_t size = static_cast<size_t>(*change.size);
  if (*change.size < 0) return -EINVAL;

  if (file != nullptr && file->writable) {  // ftruncate: part of the handle's next commit
    std::lock_guard lock(file->mutex);
    if (file->error != 0) return -file->error;
    NoteWriter(*file, who.pid);
    int rc = size > options_.max_size ? -EFBIG : CoverUpTo(*file, file->pending->CapacityFor(size));
    if (rc == 0 && !file->pending->Resize(size)) rc = -EFBIG;
    if (rc != 0) {
      file->error = -rc;  // as for a write: the close reports it, and nothing is stored
      return rc;
    }
    file->dirty = true;
    file->written = true;
    out.st_size = static_cast<off_t>(size);
    return 0;
  }
  if (size > options_.max_size) return -EFBIG;
  if (int rc = Check(who, *node, Access::kWrite); rc != 0)
    return Audit(who, audit::op::kWrite, *node, rc);
  if (size == 0) {
    const bool may_read = Check(who, *node, Access::kRead) == 0;
    // The secret checked above, unless the name is being created: that one the truncate makes,
    // as its commit would.
    std::optional<store::Incarnation> live;
    if (!BeingCreated(*node, ino)) {
      auto info = store_.Stat(node->workspace, node->key);
      if (!info) return ToNegErrno(info.status());
      if (info->record.deleted) return -ENOENT;  // removed since
      live = info->record.incarnation();
    }
    if (int rc = WriteNow(who, *node, {}, may_read, live); rc != 0) return rc;
  } else {
    if (int rc = Check(who, *node, Access::kRead); rc != 0)
      return Audit(who, audit::op::kRead, *node, rc == -ENOENT ? -EACCES : rc);
    auto current = store_.Read(node->workspace, node->key);
    if (!current) return Audit(who, audit::op::kRead, *node, ToNegErrno(current.status()));
    if (int rc = Audit(who, audit::op::kRead, *node, 0, current->version); rc != 0) return rc;
    // What the new value keeps of the current one: a value stored before this mount's max_size
    // was lowered (or by the CLI) is cut within it, not replaced by zeros.
    const std::span<const uint8_t> kept =
        current->value.bytes().first(std::min(size, current->value.size()));
    keyring::SecretBuilder value(options_.max_size, kept);
    if (value.size() != kept.size()) return -ENOMEM;  // no locked memory for it
    if (!value.Resize(size)) return -EFBIG;
    if (int rc = WriteNow(who, *node, value.bytes(), /*may_read=*/true, current->incarnation);
        rc != 0)
      return rc;
  }
  return Attributes(*node, ino, out);
}

}  // namespace secretfs::fs
