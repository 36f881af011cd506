// RAII over LMDB: the environment, transactions and prefix scans. The only place that includes
// <lmdb.h>. Everything returns Status; LMDB's own codes become errno values with messages.
//
// Thread-safety: an Env is shared by all threads. Each Read/Write call runs its body in its own
// transaction on the calling thread; bodies must not start another Read/Write (no nesting).
// Lock order: resize_mutex_ (shared for every transaction, exclusive to grow the map) before
// LMDB's writer lock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/group_commit.h"
#include "store/lock_file.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

namespace secretfs::store {

// The named databases of the schema (SPEC §8).
enum class Db { kMeta, kSlots, kWorkspaces, kSecrets, kVersions, kAudit, kAuditIndex, kCount };

using Bytes = std::span<const uint8_t>;

// A transaction handed to a Read/Write body. Values returned by Get and Scan point into the map
// and are valid only until the body returns: decode or copy them before.
class Txn {
 public:
  // ENOENT when `key` is absent.
  Status Get(Db db, Bytes key, Bytes& value) const;
  Status Put(Db db, Bytes key, Bytes value);
  // Like Put, but never replaces: EEXIST (nothing written) when `key` is already there.
  Status Insert(Db db, Bytes key, Bytes value);
  // ENOENT when `key` is absent.
  Status Del(Db db, Bytes key);
  // Calls `visit` for each entry whose key starts with `prefix`, in key order, until it returns
  // false. The cursor is closed before Scan returns (it must be, before a write txn commits).
  // A value that points outside the file (damage) is passed as empty: every record of the schema
  // that carries data is non-empty, so its decoder reports it. A damaged key ends the scan with
  // EIO.
  Status Scan(Db db, Bytes prefix, const std::function<bool(Bytes key, Bytes value)>& visit) const;
  // Like Scan without a prefix: from the first key >= `start` upwards, or with `backward` from
  // the last key <= `start` downwards (an empty `start` is the first or the last key).
  Status ScanFrom(Db db, Bytes start, bool backward,
                  const std::function<bool(Bytes key, Bytes value)>& visit) const;
  // The number of entries in `db` (from LMDB's statistics, not a scan).
  size_t Entries(Db db) const;

 private:
  friend class Env;
  struct Extent {
    const uint8_t* map = nullptr;  // the mapped data file
    size_t map_bytes = 0;
    size_t used_bytes = 0;  // pages LMDB has written; nothing valid lies beyond
  };
  Txn(MDB_txn* txn, const unsigned* dbis, Extent extent)
      : txn_(txn), dbis_(dbis), extent_(extent) {}
  // LMDB has no checksums: a damaged length or page number can point a value past the end of
  // the file, and touching it would be SIGBUS. Such a value is EIO instead.
  bool InsideFile(Bytes b) const;
  Status Walk(Db db, Bytes start, Bytes prefix, bool backward,
              const std::function<bool(Bytes key, Bytes value)>& visit) const;
  MDB_txn* txn_;
  const unsigned* dbis_;
  Extent extent_;
  bool map_full_ = false;  // a Put hit MDB_MAP_FULL: Env::Write grows the map and retries
};

class Env {
 public:
  struct Options {
    size_t initial_map_bytes = size_t{64} << 20;
    bool create = false;  // create the directory's environment and every named database
  };

  // Opens the environment in directory `dir` (which must exist). Clears reader slots left by
  // dead processes. ENOENT when there is no store and !create; EIO for a file that is not an
  // LMDB store or is corrupted.
  static Result<std::unique_ptr<Env>> Open(const std::string& dir, const Options& options);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Runs `body` in a read-only transaction; its Status is returned.
  Status Read(const std::function<Status(Txn&)>& body);
  // Runs `body` in a write transaction and commits when it returns Ok; otherwise aborts, and
  // nothing of it is stored. When the map is full, grows it and runs `body` again from the start,
  // so bodies must only depend on what they read through the Txn. ENOSPC when the disk is full.
  // Also clears, at most once a second, reader slots of processes that died since: a long-running
  // daemon would otherwise keep a killed CLI's snapshot alive, and with it every page freed since.
  //
  // Group commit: bodies of threads that call Write while another thread's commit is running
  // wait (the next leader waits briefly for as many as the last batch held: group_commit.h),
  // then run one after another in one LMDB transaction, each in a nested transaction of
  // its own (a body that fails leaves no trace and does not fail the others), and share its
  // commit, so concurrent writers share the disk's sync. Each body sees the changes of the
  // bodies before it in its batch, as if they had committed one by one. A body may therefore run
  // on another thread (the leader's, while its caller waits): it must not rely on thread-local
  // state or take a lock its caller holds. The caller's ScopedCommitHook is found on the
  // caller's thread and runs with its body.
  Status Write(const std::function<Status(Txn&)>& body);

  struct WriteStats {
    uint64_t commits = 0;  // Write's commits that stored something
    uint64_t changes = 0;  // bodies those commits stored (group commit: several per commit)
  };
  WriteStats write_stats() const;

  // Writes a compacted, consistent copy of the data file to `fd`, a new empty file open for
  // writing (the caller keeps and closes it). `dest` names it in messages.
  Status CopyCompact(int fd, const std::string& dest);

  size_t map_bytes() const;
  // Bytes of the map that hold pages (the high-water mark of the data file).
  size_t used_bytes() const;

 private:
  Env(MDB_env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  // How often a write grows the map and runs again before it gives up with ENOSPC.
  static constexpr int kMaxGrowRounds = 16;
  // A failed commit as a Status: a short write on a nearly full disk surfaces from LMDB as EIO,
  // and is reported as the ENOSPC it is.
  Status CommitError(int rc) const;
  Status Begin(bool write, MDB_txn** txn);
  // A read transaction for Read: a reset one renewed when one is idle, else a new one.
  Status BeginRead(MDB_txn** txn);
  // Read's transaction done: reset and kept for the next reader, or aborted when enough are.
  void EndRead(MDB_txn* txn);
  struct WriteRequest;
  // Runs every request of `batch` in one transaction and commits it (write_batch.cpp); fills in
  // each request's result.
  void CommitBatch(const std::vector<WriteRequest*>& batch);
  // One attempt of CommitBatch; false when the map must grow (or be adopted) and the batch run
  // again, with `resized` telling which.
  bool TryBatch(const std::vector<WriteRequest*>& batch, bool& resized);
  Status Grow();
  // Checked by every write transaction, `write_txn` begun: EIO when data.mdb is no longer what
  // this process's LMDB wrote, and what it would write now would be lost or do harm:
  // - the file at the store's path is another one (a backup restored, or another directory moved
  //   in place, under a running mount): it would write into a file nobody opens again;
  // - the file was written by something other than LMDB since the last commit (a backup copied
  //   over it in place, which keeps its inode): `write_txn` goes on from the lock file's record
  //   of that commit, and would take live pages of the new content for free ones. LMDB keeps
  //   that record and the file's newest meta page equal whenever the writer's lock is free (it
  //   mends them when a writer died between the two), so a difference means another writer.
  Status CheckDataFileIsOurs(MDB_txn* write_txn) const;
  // mdb_reader_check, unless one ran less than a second ago (it probes every reader's process).
  void ClearDeadReaders();
  Txn::Extent CurrentExtent() const;
  // Finds where LMDB mapped the data file (the API does not say) in /proc/self/maps. Called
  // after open and after every map resize, with no transaction of this process running.
  void LocateMap();
  // Notes where data.mdb is and which file it is, for CheckDataFileIsOurs.
  void RememberDataFile();

  MDB_env* env_;
  std::string dir_;
  std::string data_path_;  // absolute: a daemon runs with another working directory
  dev_t data_dev_ = 0;
  ino_t data_ino_ = 0;
  OpenMark open_mark_;  // tells other processes this one has the store open (lock_file.h)
  size_t page_bytes_ = 4096;
  std::atomic<const uint8_t*> map_base_{nullptr};
  unsigned dbis_[static_cast<int>(Db::kCount)] = {};
  std::shared_mutex resize_mutex_;
  // Reset read transactions. Renewing one takes neither an allocation nor the reader table's
  // lock, which beginning one takes (every open of a secret reads); MDB_NOTLS lets any thread
  // renew it. Each keeps a reader slot, so only as many as the readers seen at once are kept.
  static constexpr size_t kMaxIdleReaders = 16;
  std::mutex idle_readers_mutex_;
  std::vector<MDB_txn*> idle_readers_;
  // steady_clock ns of the last mdb_reader_check made by Write (see ClearDeadReaders).
  std::atomic<int64_t> readers_checked_ns_{0};
  GroupCommit<WriteRequest> writes_;  // Write's group commit
};

// Joins work to the change this thread commits next through `env`, while the scope lives: `hook`
// runs inside that write transaction after its body and before the commit, so what it writes (the
// change's audit event) is stored together with the change or not at all. An error from `hook`
// aborts the change. The hook runs once per commit attempt, and not again after one commit.
// `committed`, when set, runs once right after that commit succeeded (to tell others about it).
class ScopedCommitHook {
 public:
  ScopedCommitHook(Env& env, std::function<Status(Txn&)> hook,
                   std::function<void()> committed = {});
  ~ScopedCommitHook();
  ScopedCommitHook(const ScopedCommitHook&) = delete;
  ScopedCommitHook& operator=(const ScopedCommitHook&) = delete;
  // Whether a change was committed with the hook.
  bool ran() const { return ran_; }

 private:
  friend class Env;
  static ScopedCommitHook* Pending(const Env* env);
  Env* env_;
  std::function<Status(Txn&)> hook_;
  std::function<void()> committed_;
  ScopedCommitHook* outer_;
  bool ran_ = false;
};

// LMDB result code -> Status with `what` in front (MDB_NOTFOUND -> ENOENT, MDB_CORRUPTED -> EIO,
// MDB_MAP_FULL -> ENOSPC, system errors stay themselves).
Status FromLmdb(int rc, std::string_view what);

}  // namespace secretfs::store
