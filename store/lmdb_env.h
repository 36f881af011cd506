// RAII over LMDB: the environment, transactions and prefix scans. The only place that includes
// <lmdb.h>. Everything returns Status; LMDB's own codes become errno values with messages.
//
// Thread-safety: an Env is shared by all threads. Each Read/Write call runs its body in its own
// transaction on the calling thread; bodies must not start another Read/Write (no nesting).
// Lock order: resize_mutex_ (shared for every transaction, exclusive to grow the map) before
// LMDB's writer lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>

#include "common/status.h"

typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;

namespace secretfs::store {

// The named databases of the schema (SPEC §8).
enum class Db { kMeta, kSlots, kWorkspaces, kSecrets, kVersions, kAudit, kCount };

using Bytes = std::span<const uint8_t>;

// A transaction handed to a Read/Write body. Values returned by Get and Scan point into the map
// and are valid only until the body returns: decode or copy them before.
class Txn {
 public:
  // ENOENT when `key` is absent.
  Status Get(Db db, Bytes key, Bytes& value) const;
  Status Put(Db db, Bytes key, Bytes value);
  // ENOENT when `key` is absent.
  Status Del(Db db, Bytes key);
  // Calls `visit` for each entry whose key starts with `prefix`, in key order, until it returns
  // false. The cursor is closed before Scan returns (it must be, before a write txn commits).
  Status Scan(Db db, Bytes prefix, const std::function<bool(Bytes key, Bytes value)>& visit) const;
  // The number of entries in `db` (from LMDB's statistics, not a scan).
  size_t Entries(Db db) const;

 private:
  friend class Env;
  Txn(MDB_txn* txn, const unsigned* dbis) : txn_(txn), dbis_(dbis) {}
  MDB_txn* txn_;
  const unsigned* dbis_;
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
  Status Write(const std::function<Status(Txn&)>& body);

  // Writes a compacted, consistent copy to directory `dest` (existing and empty of a store).
  Status CopyCompact(const std::string& dest);

  size_t map_bytes() const;

 private:
  explicit Env(MDB_env* env) : env_(env) {}
  Status Begin(bool write, MDB_txn** txn);
  Status Grow();

  MDB_env* env_;
  unsigned dbis_[static_cast<int>(Db::kCount)] = {};
  std::shared_mutex resize_mutex_;
};

// LMDB result code -> Status with `what` in front (MDB_NOTFOUND -> ENOENT, MDB_CORRUPTED -> EIO,
// MDB_MAP_FULL -> ENOSPC, system errors stay themselves).
Status FromLmdb(int rc, const std::string& what);

}  // namespace secretfs::store
