// Env::Write with group commit (see lmdb_env.h and group_commit.h): the leader runs every body of
// its batch in one LMDB write transaction, each in a nested transaction, and commits once for all.
#include <lmdb.h>

#include <exception>
#include <shared_mutex>

#include "store/lmdb_env.h"

namespace secretfs::store {

struct Env::WriteRequest {
  const std::function<Status(Txn&)>* body;
  ScopedCommitHook* hook;  // the caller's, found on its own thread (hooks are per thread)
  Status result;
  std::exception_ptr thrown;  // rethrown on the caller's thread
};

Status Env::Write(const std::function<Status(Txn&)>& body) {
  ClearDeadReaders();
  WriteRequest self{&body, ScopedCommitHook::Pending(this), Status::Ok(), nullptr};
  writes_.Submit(self, [this](const std::vector<WriteRequest*>& batch) {
    CommitBatch(batch);
    size_t stored = 0;
    for (const WriteRequest* request : batch) stored += request->result.ok();
    return stored;
  });
  if (self.thrown) std::rethrow_exception(self.thrown);
  return self.result;
}

Env::WriteStats Env::write_stats() const {
  const GroupCommitStats stats = writes_.stats();
  return {stats.commits, stats.stored};
}

void Env::CommitBatch(const std::vector<WriteRequest*>& batch) {
  for (int round = 0; round < kMaxGrowRounds; ++round) {
    bool resized = false;
    if (TryBatch(batch, resized)) return;
    if (resized) {
      // Another process grew the map: adopt its size (0 = take the size from the file).
      std::unique_lock lock(resize_mutex_);
      mdb_env_set_mapsize(env_, 0);
      LocateMap();
      continue;
    }
    if (Status s = Grow(); !s.ok()) {
      for (WriteRequest* request : batch) request->result = s;
      return;
    }
  }
  for (WriteRequest* request : batch)
    request->result = Status(ENOSPC, "the store could not grow enough for this change");
}

bool Env::TryBatch(const std::vector<WriteRequest*>& batch, bool& resized) {
  std::shared_lock lock(resize_mutex_);
  MDB_txn* parent = nullptr;
  Status begun = Begin(true, &parent);
  if (begun.code() == EAGAIN) {
    resized = true;
    return false;
  }
  if (begun.ok()) {
    if (Status ours = CheckDataFileIsOurs(parent); !ours.ok()) {
      mdb_txn_abort(parent);
      begun = ours;
    }
  }
  if (!begun.ok()) {
    for (WriteRequest* request : batch) request->result = begun;
    return true;
  }
  // A lone request runs in the transaction itself: no nesting to pay for.
  const bool nest = batch.size() > 1;
  for (WriteRequest* request : batch) {
    request->thrown = nullptr;
    MDB_txn* raw = parent;
    if (nest) {
      if (int rc = mdb_txn_begin(env_, parent, 0, &raw); rc != MDB_SUCCESS) {
        request->result = FromLmdb(rc, "starting a store transaction");
        continue;
      }
    }
    Txn txn(raw, dbis_, CurrentExtent());
    Status s;
    try {
      s = (*request->body)(txn);
      if (s.ok() && request->hook != nullptr) s = request->hook->hook_(txn);
    } catch (...) {
      request->thrown = std::current_exception();
      s = Status(EIO, "the change failed");
    }
    if (txn.map_full_) {
      if (nest) mdb_txn_abort(raw);
      mdb_txn_abort(parent);
      return false;  // grow, then run the whole batch again
    }
    if (!nest) {
      request->result = s;
    } else if (!s.ok()) {
      mdb_txn_abort(raw);  // nothing of this body stays; the others go on
      request->result = s;
    } else if (int rc = mdb_txn_commit(raw); rc == MDB_MAP_FULL) {
      mdb_txn_abort(parent);
      return false;
    } else {
      request->result = rc == MDB_SUCCESS ? Status::Ok() : CommitError(rc);
    }
  }
  bool any = false;
  for (const WriteRequest* request : batch) any = any || request->result.ok();
  if (!any) {
    mdb_txn_abort(parent);  // nothing to store
    return true;
  }
  const int rc = mdb_txn_commit(parent);  // frees the handle, also when it fails
  if (rc == MDB_MAP_FULL) return false;
  if (rc != MDB_SUCCESS) {
    const Status failed = CommitError(rc);
    for (WriteRequest* request : batch)
      if (request->result.ok()) request->result = failed;
    return true;
  }
  for (WriteRequest* request : batch) {
    if (!request->result.ok() || request->hook == nullptr) continue;
    request->hook->ran_ = true;
    if (request->hook->committed_) request->hook->committed_();
  }
  return true;
}

}  // namespace secretfs::store
