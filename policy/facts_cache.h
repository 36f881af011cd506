// Recent callers' process facts, so a process that opens many secrets is not read from /proc in
// full each time (a full read is 40-60 us, most of an open's cost).
//
// An entry answers for thread `tid` only while all of these hold:
//   - its pidfd shows the process alive: a pid is never recycled while its process lives;
//   - `tid` is still one of that process's threads (when it is not the process itself);
//   - the request's uid and gid are the ones the entry was read with (a privilege drop, which
//     usually changes groups too, is a miss);
//   - the executable is the same file (device and inode, when the entry holds one): an execve is
//     a new program, also one of another file at the same path;
//   - it is younger than max_age: supplementary groups, comm and the cgroup can change without
//     any of the above, and are believed for at most that long.
// Otherwise the facts are read again. Thread-safe.
//
// Each entry holds a descriptor (its pidfd), so the cache holds at most `capacity` of them, and
// drops entries past max_age (which never answer again) at least once per max_age: a daemon
// serving many short-lived processes (every `cat` is one) must not fill its descriptor table
// with pidfds of processes long gone.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "policy/process_facts.h"

namespace secretfs::policy {

class ProcessFactsCache {
 public:
  struct Options {
    std::chrono::milliseconds max_age{1000};
    // Entries (each holds a pidfd). 0: a quarter of the process's open-file limit (its soft
    // RLIMIT_NOFILE when the cache is made), at most 4096.
    size_t capacity = 0;
  };
  ProcessFactsCache() : ProcessFactsCache(Options{}) {}
  explicit ProcessFactsCache(Options options);

  size_t capacity() const { return options_.capacity; }

  // ReadProcessFacts(tid, wanted), from the cache when an entry still answers (see above).
  // Shared, not copied: a hit costs no allocation (an open from a known thread comes here).
  // Holding them keeps no descriptor: the entry's pidfd closes when the cache drops the entry.
  std::shared_ptr<const ProcessFacts> Get(pid_t tid, uid_t uid, gid_t gid,
                                          const FactsWanted& wanted);

 private:
  struct Entry;
  std::shared_ptr<const Entry> Find(pid_t tid);
  void Store(pid_t tid, std::shared_ptr<const Entry> entry);

  const Options options_;
  std::mutex mutex_;
  std::unordered_map<pid_t, std::shared_ptr<const Entry>> entries_;  // by thread id
  std::chrono::steady_clock::time_point pruned_at_;                  // see Store
};

}  // namespace secretfs::policy
