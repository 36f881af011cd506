#include "fs/proc_info.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/mount_table.h"

namespace secretfs::fs {
namespace {

// The ids of the mounts of device `dev` that process `pid` sees (in its mount namespace: a
// container's bind mount of a workspace is a mount of its own, of the same device).
std::vector<int> MountIdsOf(pid_t pid, dev_t dev) {
  std::vector<int> ids;
  ForEachMount("/proc/" + std::to_string(pid) + "/mountinfo", [&](const MountLine& m) {
    if (m.dev == dev) ids.push_back(m.id);
  });
  return ids;
}

// What /proc/PID/fdinfo/FD says of a descriptor.
struct FdInfo {
  int flags = 0;  // the description's open flags (O_WRONLY, O_RDWR, ...)
  int mnt_id = -1;
  uint64_t ino = 0;
  bool has_ino = false;  // "ino:" is there from Linux 5.14 on
};

// Nothing but fdinfo is read, and its fields parsed by hand (no stream: this runs in a FLUSH
// for every close of a written secret).
bool ReadFdInfo(int dir, const char* name, FdInfo& out) {
  const int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[512];
  const ssize_t n = read(fd, text, sizeof text - 1);
  const int read_error = n == 0 ? ENOENT : errno;  // empty: the descriptor closed meanwhile
  close(fd);
  if (n <= 0) {
    errno = read_error;
    return false;
  }
  text[n] = '\0';
  for (char* line = text; line != nullptr && *line != '\0';) {
    char* next = strchr(line, '\n');
    if (next != nullptr) *next++ = '\0';
    if (strncmp(line, "flags:", 6) == 0) {
      out.flags = static_cast<int>(strtol(line + 6, nullptr, 8));
    } else if (strncmp(line, "mnt_id:", 7) == 0) {
      out.mnt_id = atoi(line + 7);
    } else if (strncmp(line, "ino:", 4) == 0) {
      out.ino = strtoull(line + 4, nullptr, 10);
      out.has_ino = true;
    }
    line = next;
  }
  return true;
}

// How long a close waits for kcmp(2) before it counts the descriptors as unseen. kcmp answers
// in microseconds unless the process is inside execve(), whose lock it waits for (see
// WriteDescriptionsOf): then it answers only after this FLUSH is, and the exec is held up this
// long. Ample for a loaded machine's scheduling delays otherwise.
constexpr std::chrono::milliseconds kKcmpWait{100};

// The most descriptors a close reads the fdinfo of; a process holding more counts as one whose
// descriptors cannot be seen. Each costs about 10 µs: unbounded, a process holding half a
// million descriptors (a user may raise its own soft limit to the hard one) would take a daemon
// thread for about 5 s at each of its closes. Shells, scripts and editors hold a handful; a server
// holding more than this many sockets commits at each close after a write, which is what it means
// by one.
constexpr size_t kMaxScannedDescriptors = 256;

// How many distinct open file descriptions `fds` of process `pid` are: descriptors kcmp finds
// to be the same file count once. -1 when kcmp has not answered within kKcmpWait. It runs on a
// thread of its own, left to finish (once the exec is done) when it is not waited for.
int DistinctDescriptions(pid_t pid, std::vector<int> fds) {
  std::packaged_task<int()> count([pid, fds = std::move(fds)] {
    std::vector<int> distinct;
    for (int fd : fds) {
      bool seen = false;
      for (int other : distinct)
        seen = seen || syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, other) == 0;
      if (!seen) distinct.push_back(fd);
    }
    return static_cast<int>(distinct.size());
  });
  std::future<int> counted = count.get_future();
  try {
    std::thread(std::move(count)).detach();
  } catch (const std::system_error&) {  // no thread to be had: as if kcmp did not answer
    return -1;
  }
  if (counted.wait_for(kKcmpWait) != std::future_status::ready) return -1;
  return counted.get();
}

}  // namespace

MountInfo MountAt(const std::string& path) {
  MountInfo found;
  ForEachMount("/proc/self/mountinfo", [&](const MountLine& m) {
    if (m.point == path) found = {m.dev, m.fstype};  // the last one is visible
  });
  return found;
}

std::vector<std::string> MountsOfStore(const std::string& store_dir) {
  char resolved[PATH_MAX];
  const std::string dir = realpath(store_dir.c_str(), resolved) ? resolved : store_dir;
  std::vector<std::string> points;
  ForEachMount("/proc/self/mountinfo", [&](const MountLine& m) {
    if (m.fstype == "fuse.secretfs" && m.source == dir) points.push_back(m.point);
  });
  return points;
}

int WriteDescriptionsOf(pid_t pid, dev_t dev, uint64_t ino) {
  if (dev == 0) return 0;
  // fdinfo, never the /proc/PID/fd links: this runs in a FLUSH, and a FLUSH may come from the
  // process's own execve() closing its O_CLOEXEC descriptors. Until that exec is done the
  // kernel holds the lock that following or reading a link of the process waits for (its
  // exec_update_lock), and the exec waits for the FLUSH, which no signal interrupts: the daemon
  // thread and the exec'ing process would wait for each other for good.
  char path[40];
  snprintf(path, sizeof path, "/proc/%d/fdinfo", static_cast<int>(pid));
  DIR* d = opendir(path);
  if (d == nullptr) return errno == ENOENT ? 0 : -1;  // gone: it holds nothing any more
  // Listed first, read after: a process holding more than kMaxScannedDescriptors is answered
  // without reading any of them (see there).
  std::vector<int> listed;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (listed.size() == kMaxScannedDescriptors) {
      closedir(d);
      return -1;
    }
    listed.push_back(atoi(e->d_name));
  }
  std::vector<int> fds;
  std::optional<std::vector<int>> mounts;  // read once a descriptor of the inode shows up
  for (int fd : listed) {
    FdInfo info;
    if (!ReadFdInfo(dirfd(d), std::to_string(fd).c_str(), info)) {
      // Each entry opens only with ptrace access to the process (a daemon that is not root and
      // another user's process; a process that is not dumpable).
      if (errno != EACCES && errno != EPERM) continue;  // closed meanwhile
      closedir(d);
      return -1;
    }
    if (!info.has_ino) {  // a kernel before 5.14: the descriptors cannot be told apart
      closedir(d);
      return -1;
    }
    if (info.ino != ino || (info.flags & O_ACCMODE) == O_RDONLY) continue;
    if (!mounts) mounts = MountIdsOf(pid, dev);
    if (std::find(mounts->begin(), mounts->end(), info.mnt_id) != mounts->end()) fds.push_back(fd);
  }
  closedir(d);
  return fds.size() < 2 ? static_cast<int>(fds.size()) : DistinctDescriptions(pid, std::move(fds));
}

}  // namespace secretfs::fs
