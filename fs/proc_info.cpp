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

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace secretfs::fs {
namespace {

// Decodes the octal escapes (\040 for a space) of /proc/self/mountinfo fields.
std::string Unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

// Calls `visit(device, mount point, fstype, source)` for each line of /proc/self/mountinfo, in
// order.
template <class Visit>
void ForEachMount(Visit&& visit) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    // id parent major:minor root point options [optional fields...] - fstype source ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, opts, field, fstype, source;
    fields >> id >> parent >> dev >> root >> point >> opts;
    while (fields >> field && field != "-") {
    }
    fields >> fstype >> source;
    unsigned major = 0, minor = 0;
    sscanf(dev.c_str(), "%u:%u", &major, &minor);
    visit(makedev(major, minor), Unescape(point), fstype, Unescape(source));
  }
}

}  // namespace

MountInfo MountAt(const std::string& path) {
  MountInfo found;
  ForEachMount(
      [&](dev_t dev, const std::string& point, const std::string& fstype, const std::string&) {
        if (point == path) found = {dev, fstype};  // the last one is visible
      });
  return found;
}

std::vector<std::string> MountsOfStore(const std::string& store_dir) {
  char resolved[PATH_MAX];
  const std::string dir = realpath(store_dir.c_str(), resolved) ? resolved : store_dir;
  std::vector<std::string> points;
  ForEachMount(
      [&](dev_t, const std::string& point, const std::string& fstype, const std::string& source) {
        if (fstype == "fuse.secretfs" && source == dir) points.push_back(point);
      });
  return points;
}

int WriteDescriptionsOf(pid_t pid, dev_t dev, uint64_t ino) {
  if (dev == 0) return 0;
  char path[32];
  snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
  DIR* d = opendir(path);
  if (d == nullptr) return errno == ENOENT ? 0 : -1;  // gone: it holds nothing any more
  std::vector<int> fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    // Following the link stats the open file itself, on whichever mount of this filesystem it
    // was opened (a container's bind mount has a mount id of its own, not a device of its own).
    // AT_STATX_DONT_SYNC: a descriptor on a network or FUSE filesystem answers from its cache
    // instead of asking a server that might hang.
    struct statx target {};
    if (statx(dirfd(d), e->d_name, AT_STATX_DONT_SYNC, STATX_INO, &target) != 0) {
      // The directory lists for whoever may read it (root), but each link follows only with
      // ptrace access to the process.
      if (errno != EACCES && errno != EPERM) continue;  // closed meanwhile
      closedir(d);
      return -1;
    }
    if (makedev(target.stx_dev_major, target.stx_dev_minor) != dev || target.stx_ino != ino)
      continue;
    // The link itself carries the descriptor's access mode: S_IWUSR when open for writing.
    struct stat link {};
    if (fstatat(dirfd(d), e->d_name, &link, AT_SYMLINK_NOFOLLOW) == 0 && (link.st_mode & S_IWUSR))
      fds.push_back(atoi(e->d_name));
  }
  closedir(d);
  // One description per group of descriptors that kcmp finds to be the same file.
  std::vector<int> distinct;
  for (int fd : fds) {
    bool seen = false;
    for (int other : distinct)
      seen = seen || syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, other) == 0;
    if (!seen) distinct.push_back(fd);
  }
  return static_cast<int>(distinct.size());
}

}  // namespace secretfs::fs
