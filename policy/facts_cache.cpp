#include "policy/facts_cache.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

namespace secretfs::policy {
namespace {

using Clock = std::chrono::steady_clock;

// A quarter of the soft open-file limit, at most 4096: the rest is the daemon's own (the store,
// FUSE, its /proc reads) and room for a burst of new callers.
size_t DefaultCapacity() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
  return std::clamp<size_t>(static_cast<size_t>(limit.rlim_cur / 4), 8, 4096);
}

// "/proc/TGID" or "/proc/TGID/task/TID", plus a suffix: built on every cache hit, so without
// snprintf, whose format parsing showed in profiles of opens served from the cache.
class ProcPath {
 public:
  ProcPath(pid_t tgid, pid_t tid) {
    Add("/proc/");
    AddNumber(tgid);
    if (tid != tgid) {
      Add("/task/");
      AddNumber(tid);
    }
  }
  const char* With(std::string_view suffix) {
    std::memcpy(end_, suffix.data(), suffix.size());
    end_[suffix.size()] = '\0';
    return text_;
  }

 private:
  void Add(std::string_view s) { end_ = std::copy(s.begin(), s.end(), end_); }
  void AddNumber(pid_t n) { end_ = std::to_chars(end_, text_ + 40, n).ptr; }

  char text_[48];  // "/proc/" + 2 pids of at most 11 characters + "/task/" + "/exe" + NUL
  char* end_ = text_;
};

bool Covers(const FactsWanted& had, const FactsWanted& wanted) {
  return (had.groups || !wanted.groups) && (had.comm || !wanted.comm) && (had.exe || !wanted.exe) &&
         (had.unit || !wanted.unit);
}

}  // namespace

struct ProcessFactsCache::Entry {
  ~Entry() {
    if (pidfd >= 0) close(pidfd);
  }
  int pidfd = -1;
  uid_t uid = 0;
  gid_t gid = 0;
  FactsWanted had;
  // Handed out apart from the entry: a caller may keep them (a write handle does, as long as its
  // writer keeps the file open) without keeping the entry's pidfd open after the cache let it go.
  std::shared_ptr<const ProcessFacts> facts;
  Clock::time_point read_at;
};

ProcessFactsCache::ProcessFactsCache(Options options)
    : options_{options.max_age, options.capacity != 0 ? options.capacity : DefaultCapacity()} {}

std::shared_ptr<const ProcessFactsCache::Entry> ProcessFactsCache::Find(pid_t tid) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(tid);
  return it == entries_.end() ? nullptr : it->second;
}

void ProcessFactsCache::Store(pid_t tid, std::shared_ptr<const Entry> entry) {
  std::lock_guard lock(mutex_);
  // Entries past max_age never answer again: drop them (and close their pidfds) once per
  // max_age, and whenever the cache is full. Full of young entries, it starts over.
  const auto now = Clock::now();
  if (entries_.size() >= options_.capacity || now - pruned_at_ > options_.max_age) {
    std::erase_if(entries_,
                  [&](const auto& e) { return now - e.second->read_at > options_.max_age; });
    pruned_at_ = now;
    if (entries_.size() >= options_.capacity) entries_.clear();
  }
  entries_[tid] = std::move(entry);
}

std::shared_ptr<const ProcessFacts> ProcessFactsCache::Get(pid_t tid, uid_t uid, gid_t gid,
                                                           const FactsWanted& wanted) {
  if (std::shared_ptr<const Entry> e = Find(tid); e != nullptr && e->uid == uid && e->gid == gid &&
                                                  Covers(e->had, wanted) &&
                                                  Clock::now() - e->read_at <= options_.max_age) {
    const pid_t tgid = e->facts->pid;
    // A thread other than the main one must still belong to the process: its directory under
    // the process's task/ exists. With an executable to compare, one statx of the thread's own
    // exe link checks both: an execve keeps the pid, and the file it was judged by must still
    // be the one it runs. The path is not compared: the same file by another path matches the
    // same rules (they compare the file at the rule's path), and another file at the same path
    // (a mount namespace of its own) must not.
    ProcPath path(tgid, tid);
    bool valid = true;
    if (e->facts->exe) {
      valid = e->facts->exe_file && ExecutableFileOf(path.With("/exe")) == e->facts->exe_file;
    } else if (tgid != tid) {
      valid = access(path.With(""), F_OK) == 0;
    }
    // Checked once, after the reads above (an exit is final, so a check before them would add
    // nothing): the process behind the pid was the same throughout.
    if (valid && !Exited(e->pidfd)) return e->facts;
  }

  // Read what this caller wants and what the entry had, so callers that want less stay served.
  auto entry = std::make_shared<Entry>();
  if (std::shared_ptr<const Entry> old = Find(tid)) {
    entry->had = {old->had.groups || wanted.groups, old->had.comm || wanted.comm,
                  old->had.exe || wanted.exe, old->had.unit || wanted.unit};
  } else {
    entry->had = wanted;
  }
  entry->facts = std::make_shared<const ProcessFacts>(
      ReadProcessFactsWithPidfd(tid, entry->had, entry->pidfd));
  std::shared_ptr<const ProcessFacts> facts = entry->facts;
  if (entry->pidfd < 0) return facts;  // not trusted: not kept either
  entry->uid = uid;
  entry->gid = gid;
  entry->read_at = Clock::now();
  Store(tid, std::move(entry));
  return facts;
}

}  // namespace secretfs::policy
