#include "store/lmdb_env.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "store/store_directory.h"

namespace secretfs::store {
namespace {

constexpr const char* kDbNames[] = {"meta",     "slots", "workspaces", "secrets",
                                    "versions", "audit", "audit_index"};
static_assert(std::size(kDbNames) == static_cast<size_t>(Db::kCount));

// Growth is bounded so a runaway writer cannot reserve unbounded address space.
constexpr size_t kMaxMapBytes = size_t{1} << 40;

MDB_val Val(Bytes b) { return MDB_val{b.size(), const_cast<uint8_t*>(b.data())}; }
Bytes Span(const MDB_val& v) { return {static_cast<const uint8_t*>(v.mv_data), v.mv_size}; }

bool HasPrefix(Bytes key, Bytes prefix) {
  return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

// A cursor that is always closed, also on early return.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cursor_); }
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  int open_rc() const { return rc_; }
  int Get(MDB_val& k, MDB_val& v, MDB_cursor_op op) { return mdb_cursor_get(cursor_, &k, &v, op); }

 private:
  MDB_cursor* cursor_ = nullptr;
  int rc_ = 0;
};

// Aborts a transaction unless it was handed to commit.
class TxnGuard {
 public:
  explicit TxnGuard(MDB_txn* txn) : txn_(txn) {}
  ~TxnGuard() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  // mdb_txn_commit frees the handle even when it fails, so let go of it first.
  int Commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }

 private:
  MDB_txn* txn_;
};

// Unlinks `path`, a file this process made, when it goes out of scope; cleared, it keeps it.
struct RemoveUnlessKept {
  RemoveUnlessKept() = default;
  RemoveUnlessKept(const RemoveUnlessKept&) = delete;
  RemoveUnlessKept& operator=(const RemoveUnlessKept&) = delete;
  ~RemoveUnlessKept() {
    if (!path.empty()) unlink(path.c_str());
  }
  std::string path;
};

}  // namespace

Status FromLmdb(int rc, std::string_view what_view) {
  if (rc == MDB_SUCCESS) return Status::Ok();  // the common case builds no message
  const std::string what(what_view);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status(ENOENT, what + ": not found");
    case MDB_MAP_FULL:
      return Status(ENOSPC, what + ": the store's map is full and cannot grow further");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_PANIC:
      return Status(EIO, what + ": the store is damaged (" + mdb_strerror(rc) +
                             "); restore it from a backup");
    case MDB_VERSION_MISMATCH:
      return Status(EIO, what + ": the store was written by an incompatible LMDB version");
    case MDB_READERS_FULL:
      return Status(EAGAIN, what + ": too many concurrent readers of the store");
    case MDB_TXN_FULL:
      return Status(EFBIG, what + ": the change is too large for one transaction");
    case MDB_MAP_RESIZED:
      return Status(EAGAIN, what + ": the store grew in another process; retry");
    default:
      if (rc > 0) return Status::FromErrno(rc, what);
      return Status(EIO, what + ": " + mdb_strerror(rc));
  }
}

Result<std::unique_ptr<Env>> Env::Open(const std::string& dir, const Options& options) {
  SECRETFS_RETURN_IF_ERROR(CheckStoreDirectory(dir));
  const std::string data_file = dir + "/data.mdb";
  // A new store's data file is made here, exclusively, and LMDB starts an empty file as a new
  // environment. Of two `init`s at once, one makes the store and the other is told it exists:
  // checked apart, both found no file, and the second overwrote the first's key slot after the
  // first had reported success.
  RemoveUnlessKept made_here;  // a failed init leaves no empty data file that says "exists"
  // An empty data file is an init still running, or one killed before LMDB wrote a page: it is
  // not opened (LMDB would start it as a new environment, beside the init's own open).
  const auto empty = [](const struct stat& file) {
    return S_ISREG(file.st_mode) && file.st_size == 0;
  };
  const auto unfinished = [&] {
    return "its data file is empty: an init still running, or one that did not finish; if none "
           "runs, remove " +
           data_file + " and run init again";
  };
  struct stat st {};
  if (options.create) {
    const int fd =
        open(data_file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
      const bool is_empty = lstat(data_file.c_str(), &st) == 0 && empty(st);
      return Status(EEXIST, "a store already exists at " + dir +
                                (is_empty ? " (" + unfinished() + ")" : std::string()));
    }
    if (fd < 0) return Status::FromErrno(errno, "creating the store at " + dir);
    close(fd);
    made_here.path = data_file;
  } else if (stat(data_file.c_str(), &st) != 0) {
    const int err = errno;
    if (err != ENOENT) return Status::FromErrno(err, "store " + dir);
    return Status(ENOENT, "no store at " + dir + " (create one with: secretfs init)");
  } else if (empty(st)) {
    return Status(EIO, "the store at " + dir + " is not initialised (" + unfinished() + ")");
  }

  SECRETFS_RETURN_IF_ERROR(PrepareLockFile(dir));
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0) return FromLmdb(rc, "store");
  std::unique_ptr<Env> env(new Env(raw, dir));
  mdb_env_set_maxdbs(raw, static_cast<MDB_dbi>(Db::kCount));
  mdb_env_set_maxreaders(raw, 512);
  if (options.create) mdb_env_set_mapsize(raw, options.initial_map_bytes);
  // MDB_NOTLS: reader slots belong to transactions, not threads, so FUSE worker threads can come
  // and go. Mode 0600: only the store's owner may open it.
  if (int rc = mdb_env_open(raw, dir.c_str(), MDB_NOTLS, 0600); rc != 0) {
    // Every command records its access in the store, reads included: a store on read-only
    // media (a backup disk, a snapshot) is not opened read-only without its events.
    if (rc == EROFS)
      return Status(EROFS, "the store at " + dir +
                               " is on a read-only filesystem; secretfs records every access in "
                               "the store, so it opens only a writable one (copy it elsewhere "
                               "to read it)");
    return FromLmdb(rc, "opening the store at " + dir);
  }
  env->open_mark_.Take(dir);  // LMDB holds lock.mdb now
  env->RememberDataFile();
  int dead = 0;
  mdb_reader_check(raw, &dead);  // clear reader slots left by killed processes
  MDB_stat env_stat{};
  if (mdb_env_stat(raw, &env_stat) == 0) env->page_bytes_ = env_stat.ms_psize;
  env->LocateMap();

  // The audit index came after the first stores: a store without it gets it, empty, in a write
  // transaction of its own (the audit layer fills it in before its next append).
  bool index_missing = false;
  {
    MDB_txn* txn = nullptr;
    int begun = mdb_txn_begin(raw, nullptr, options.create ? 0 : MDB_RDONLY, &txn);
    // Another process (the daemon, a CLI writer) grew the map since mdb_env_open read its size:
    // adopt the new size (0 = take it from the file) and begin again, as Read does.
    for (int round = 0; begun == MDB_MAP_RESIZED && round < 8; ++round) {
      mdb_env_set_mapsize(raw, 0);
      env->LocateMap();
      begun = mdb_txn_begin(raw, nullptr, options.create ? 0 : MDB_RDONLY, &txn);
    }
    if (begun != 0) return FromLmdb(begun, "opening the store at " + dir);
    TxnGuard guard(txn);
    for (int i = 0; i < static_cast<int>(Db::kCount); ++i) {
      MDB_dbi dbi = 0;
      const int rc = mdb_dbi_open(txn, kDbNames[i], options.create ? MDB_CREATE : 0, &dbi);
      if (rc == MDB_NOTFOUND && i == static_cast<int>(Db::kAuditIndex)) {
        index_missing = true;
        continue;
      }
      if (rc == MDB_NOTFOUND)
        return Status(EIO, "the store at " + dir + " lacks its '" + kDbNames[i] +
                               "' table: not a secretfs store, or damaged");
      if (rc != 0) return FromLmdb(rc, "opening the store at " + dir);
      env->dbis_[i] = dbi;
    }
    // Handles opened in a read-only transaction stay valid after it ends, as long as it commits.
    if (int rc = guard.Commit(); rc != 0) return FromLmdb(rc, "opening the store at " + dir);
  }
  if (index_missing) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(raw, nullptr, 0, &txn); rc != 0)
      return FromLmdb(rc, "adding the audit index to the store at " + dir);
    TxnGuard guard(txn);
    SECRETFS_RETURN_IF_ERROR(env->CheckDataFileIsOurs(txn));
    const int index = static_cast<int>(Db::kAuditIndex);
    if (int rc = mdb_dbi_open(txn, kDbNames[index], MDB_CREATE, &env->dbis_[index]); rc != 0)
      return FromLmdb(rc, "adding the audit index to the store at " + dir);
    if (int rc = guard.Commit(); rc != 0)
      return FromLmdb(rc, "adding the audit index to the store at " + dir);
  }
  made_here.path.clear();
  return env;
}

Env::~Env() {
  for (MDB_txn* txn : idle_readers_) mdb_txn_abort(txn);
  open_mark_.Drop();  // before LMDB lets go of lock.mdb
  mdb_env_close(env_);
}

size_t Env::map_bytes() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

size_t Env::used_bytes() const {
  MDB_envinfo info{};
  MDB_stat st{};
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return (info.me_last_pgno + 1) * st.ms_psize;
}

Txn::Extent Env::CurrentExtent() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return {map_base_.load(), info.me_mapsize, (info.me_last_pgno + 1) * page_bytes_};
}

void Env::RememberDataFile() {
  int fd = -1;
  struct stat st {};
  char* absolute = realpath(dir_.c_str(), nullptr);
  if (absolute != nullptr && mdb_env_get_fd(env_, &fd) == 0 && fstat(fd, &st) == 0) {
    data_path_ = std::string(absolute) + "/data.mdb";
    data_dev_ = st.st_dev;
    data_ino_ = st.st_ino;
  }
  free(absolute);
}

Status Env::CheckDataFileIsOurs(MDB_txn* write_txn) const {
  struct stat st {};
  // Gone from the path (the directory renamed) is no conflict: nobody else can open it there.
  if (!data_path_.empty() && stat(data_path_.c_str(), &st) == 0 &&
      (st.st_dev != data_dev_ || st.st_ino != data_ino_))
    return Status(EIO, data_path_ +
                           " was replaced while this process had the store open (a backup "
                           "restored under a running mount?): nothing more is stored in the old "
                           "file; unmount and mount again");
  MDB_envinfo info{};
  mdb_env_info(env_, &info);  // the newest of data.mdb's two meta pages
  if (info.me_last_txnid + 1 == mdb_txn_id(write_txn)) return Status::Ok();
  return Status(EIO, (data_path_.empty() ? dir_ + "/data.mdb" : data_path_) +
                         " was changed by something other than LMDB while this process had the "
                         "store open (a backup copied over it?): nothing more is written into "
                         "it; stop every process using the store (unmount), then open it again");
}

void Env::LocateMap() {
  map_base_ = nullptr;
  int fd = -1;
  struct stat st {};
  if (mdb_env_get_fd(env_, &fd) != 0 || fstat(fd, &st) != 0) return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset major:minor inode path
    std::istringstream fields(line);
    std::string range, perms, offset, device;
    unsigned long long inode = 0;
    fields >> range >> perms >> offset >> device >> inode;
    if (inode != st.st_ino || std::stoull(offset, nullptr, 16) != 0) continue;
    const std::string::size_type colon = device.find(':');
    if (colon == std::string::npos ||
        makedev(std::stoul(device.substr(0, colon), nullptr, 16),
                std::stoul(device.substr(colon + 1), nullptr, 16)) != st.st_dev)
      continue;
    map_base_ = reinterpret_cast<const uint8_t*>(std::stoull(range, nullptr, 16));
    return;
  }
}

bool Txn::InsideFile(Bytes b) const {
  const uint8_t* p = b.data();
  if (extent_.map == nullptr || p < extent_.map || p >= extent_.map + extent_.map_bytes)
    return true;  // not in the map: a page this write transaction copied to memory
  const size_t offset = static_cast<size_t>(p - extent_.map);
  return offset <= extent_.used_bytes && b.size() <= extent_.used_bytes - offset;
}

Status Env::Begin(bool write, MDB_txn** txn) {
  int rc = mdb_txn_begin(env_, nullptr, write ? 0 : MDB_RDONLY, txn);
  if (rc == MDB_MAP_RESIZED) return Status(EAGAIN, "map resized");  // caller adopts and retries
  return FromLmdb(rc, "starting a store transaction");
}

// Called with no transaction of this thread open and resize_mutex_ not held.
Status Env::Grow() {
  std::unique_lock lock(resize_mutex_);
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  const size_t current = info.me_mapsize;
  if (current >= kMaxMapBytes) return Status(ENOSPC, "the store has reached its maximum size");
  // Another thread may have grown it already; growing twice is harmless.
  const int rc = mdb_env_set_mapsize(env_, std::min(current * 2, kMaxMapBytes));
  LocateMap();
  return FromLmdb(rc, "growing the store");
}

Status Env::BeginRead(MDB_txn** txn) {
  MDB_txn* idle = nullptr;
  {
    std::lock_guard lock(idle_readers_mutex_);
    if (!idle_readers_.empty()) {
      idle = idle_readers_.back();
      idle_readers_.pop_back();
    }
  }
  if (idle != nullptr) {
    if (mdb_txn_renew(idle) == 0) {
      *txn = idle;
      return Status::Ok();
    }
    mdb_txn_abort(idle);  // e.g. the map grew in another process: begin anew, which says so
  }
  return Begin(false, txn);
}

void Env::EndRead(MDB_txn* txn) {
  mdb_txn_reset(txn);
  {
    std::lock_guard lock(idle_readers_mutex_);
    if (idle_readers_.size() < kMaxIdleReaders) {
      idle_readers_.push_back(txn);
      return;
    }
  }
  mdb_txn_abort(txn);
}

Status Env::Read(const std::function<Status(Txn&)>& body) {
  for (int round = 0;; ++round) {
    MDB_txn* raw = nullptr;
    {
      std::shared_lock lock(resize_mutex_);
      Status s = BeginRead(&raw);
      if (s.ok()) {
        struct Ending {
          Env* env;
          MDB_txn* txn;
          ~Ending() { env->EndRead(txn); }
        } ending{this, raw};
        Txn txn(raw, dbis_, CurrentExtent());
        return body(txn);  // read transactions end unwritten, never committed
      }
      if (s.code() != EAGAIN || round > 0) return s;
    }
    // Another process grew the map: adopt its size (0 = take the size from the file).
    std::unique_lock lock(resize_mutex_);
    mdb_env_set_mapsize(env_, 0);
    LocateMap();
  }
}

void Env::ClearDeadReaders() {
  constexpr int64_t kEveryNs = 1'000'000'000;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = readers_checked_ns_.load(std::memory_order_relaxed);
  if (now - last < kEveryNs || !readers_checked_ns_.compare_exchange_strong(last, now)) return;
  int dead = 0;
  mdb_reader_check(env_, &dead);
}

namespace {
thread_local ScopedCommitHook* current_hook = nullptr;
}  // namespace

ScopedCommitHook::ScopedCommitHook(Env& env, std::function<Status(Txn&)> hook,
                                   std::function<void()> committed)
    : env_(&env), hook_(std::move(hook)), committed_(std::move(committed)), outer_(current_hook) {
  current_hook = this;
}

ScopedCommitHook::~ScopedCommitHook() { current_hook = outer_; }

ScopedCommitHook* ScopedCommitHook::Pending(const Env* env) {
  ScopedCommitHook* hook = current_hook;
  return hook != nullptr && hook->env_ == env && !hook->ran_ ? hook : nullptr;
}

Status Env::CommitError(int rc) const {
  if (rc == EIO || rc == ENOSPC) {
    struct statvfs fs {};
    // LMDB had a page to write and the disk took only part of it.
    constexpr uint64_t kNearlyFull = 16 * 1024 * 1024;
    if (rc == ENOSPC ||
        (statvfs(dir_.c_str(), &fs) == 0 && uint64_t{fs.f_bavail} * fs.f_frsize < kNearlyFull))
      return Status(ENOSPC, "committing to the store: the disk holding " + dir_ +
                                " is full; nothing of this change was stored");
  }
  return FromLmdb(rc, "committing to the store");
}

Status Env::CopyCompact(int fd, const std::string& dest) {
  std::shared_lock lock(resize_mutex_);
  return FromLmdb(mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT), "copying the store to " + dest);
}

Status Txn::Get(Db db, Bytes key, Bytes& value) const {
  MDB_val k = Val(key), v{};
  const int rc = mdb_get(txn_, dbis_[static_cast<int>(db)], &k, &v);
  if (rc == MDB_NOTFOUND) return Status(ENOENT, "not found");
  if (rc != 0) return FromLmdb(rc, "reading the store");
  value = Span(v);
  if (!InsideFile(value))
    return Status(EIO, "a record of the store is damaged (it points outside the file)");
  return Status::Ok();
}

Status Txn::Put(Db db, Bytes key, Bytes value) {
  MDB_val k = Val(key), v = Val(value);
  const int rc = mdb_put(txn_, dbis_[static_cast<int>(db)], &k, &v, 0);
  if (rc == MDB_MAP_FULL) map_full_ = true;
  return FromLmdb(rc, "writing the store");
}

Status Txn::Insert(Db db, Bytes key, Bytes value) {
  MDB_val k = Val(key), v = Val(value);
  const int rc = mdb_put(txn_, dbis_[static_cast<int>(db)], &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return Status(EEXIST, "already stored");
  if (rc == MDB_MAP_FULL) map_full_ = true;
  return FromLmdb(rc, "writing the store");
}

Status Txn::Del(Db db, Bytes key) {
  MDB_val k = Val(key);
  const int rc = mdb_del(txn_, dbis_[static_cast<int>(db)], &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status(ENOENT, "not found");
  return FromLmdb(rc, "writing the store");
}

Status Txn::Scan(Db db, Bytes prefix,
                 const std::function<bool(Bytes key, Bytes value)>& visit) const {
  return Walk(db, prefix, prefix, false, visit);
}

Status Txn::ScanFrom(Db db, Bytes start, bool backward,
                     const std::function<bool(Bytes key, Bytes value)>& visit) const {
  return Walk(db, start, {}, backward, visit);
}

Status Txn::Walk(Db db, Bytes start, Bytes prefix, bool backward,
                 const std::function<bool(Bytes key, Bytes value)>& visit) const {
  Cursor cursor(txn_, dbis_[static_cast<int>(db)]);
  if (cursor.open_rc() != 0) return FromLmdb(cursor.open_rc(), "reading the store");
  MDB_val k = Val(start), v{};
  int rc;
  if (!backward) {
    rc = cursor.Get(k, v, start.empty() ? MDB_FIRST : MDB_SET_RANGE);
  } else if (start.empty()) {
    rc = cursor.Get(k, v, MDB_LAST);
  } else {
    // The last key <= start: position at the first key >= start and step back unless equal.
    rc = cursor.Get(k, v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
      rc = cursor.Get(k, v, MDB_LAST);
    } else if (rc == 0 && !(k.mv_size == start.size() &&
                            std::memcmp(k.mv_data, start.data(), start.size()) == 0)) {
      rc = cursor.Get(k, v, MDB_PREV);
    }
  }
  const MDB_cursor_op step = backward ? MDB_PREV : MDB_NEXT;
  while (rc == 0) {
    if (!InsideFile(Span(k)))
      return Status(EIO, "a key of the store is damaged (it points outside the file)");
    if (!HasPrefix(Span(k), prefix)) break;
    if (!visit(Span(k), InsideFile(Span(v)) ? Span(v) : Bytes{})) return Status::Ok();
    rc = cursor.Get(k, v, step);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return FromLmdb(rc, "reading the store");
  return Status::Ok();
}

size_t Txn::Entries(Db db) const {
  MDB_stat st{};
  if (mdb_stat(txn_, dbis_[static_cast<int>(db)], &st) != 0) return 0;
  return st.ms_entries;
}

}  // namespace secretfs::store
