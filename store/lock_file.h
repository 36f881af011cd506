// LMDB keeps its reader table and its writer's mutex in STORE/lock.mdb. Every process that has
// the store open must use the same lock file: one that opened another (the file was deleted as
// "stale" under a running daemon and made anew by the next command, or replaced) takes a
// writer's mutex the others do not see, and two writers hand out the same pages: the store
// breaks. PrepareLockFile refuses that case; OpenMark is what lets it see the others.
#pragma once

#include <string>

#include "common/status.h"

namespace secretfs::store {

// Makes lock.mdb if missing and reserves its blocks: LMDB writes it through a shared mapping,
// and on a full disk the first touch of a page with no block behind it is SIGBUS, not ENOSPC.
// EBUSY when another process has the store open (it holds an OpenMark) while no process holds
// the lock file at the path (removed or replaced under it); a moment is given first, since an
// exiting process lets go of the two one after the other. Like any open of lock.mdb in a process
// that already has the store open, this would drop LMDB's locks there (LMDB forbids that).
Status PrepareLockFile(const std::string& dir);

// A process's mark that it has the store open: a shared lock on the first byte of data.mdb, an
// OFD lock, so no other descriptor of the file drops it. Taken after LMDB locked lock.mdb, and
// dropped before LMDB lets go of it, so whoever holds a mark holds the lock file too. On a
// filesystem without such locks there is no mark, and no check.
class OpenMark {
 public:
  OpenMark() = default;
  OpenMark(const OpenMark&) = delete;
  OpenMark& operator=(const OpenMark&) = delete;
  ~OpenMark() { Drop(); }

  void Take(const std::string& dir);
  void Drop();

 private:
  int fd_ = -1;
};

}  // namespace secretfs::store
