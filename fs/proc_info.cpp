#include "fs/proc_info.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdlib.h>
#include <sys/syscall.h>
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

// Calls `visit(id, mount point, fstype, source)` for each line of /proc/self/mountinfo, in order.
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
    visit(std::stoi(id), Unescape(point), fstype, Unescape(source));
  }
}

}  // namespace

MountInfo MountAt(const std::string& path) {
  MountInfo found;
  ForEachMount(
      [&](int id, const std::string& point, const std::string& fstype, const std::string&) {
        if (point == path) found = {id, fstype};  // the last one is visible
      });
  return found;
}

std::vector<std::string> MountsOfStore(const std::string& store_dir) {
  char resolved[PATH_MAX];
  const std::string dir = realpath(store_dir.c_str(), resolved) ? resolved : store_dir;
  std::vector<std::string> points;
  ForEachMount(
      [&](int, const std::string& point, const std::string& fstype, const std::string& source) {
        if (fstype == "fuse.secretfs" && source == dir) points.push_back(point);
      });
  return points;
}

pid_t ProcessOf(pid_t tid) {
  std::ifstream status("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(5)));
  return tid;
}

int WriteDescriptionsOf(pid_t pid, int mount_id, uint64_t ino) {
  if (mount_id == 0) return 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<int> fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream info(dir + "/" + e->d_name);
    std::string line;
    int mnt = -1;
    uint64_t file_ino = 0;
    unsigned long flags = 0;
    while (std::getline(info, line)) {
      if (line.rfind("mnt_id:", 0) == 0)
        mnt = std::stoi(line.substr(7));
      else if (line.rfind("ino:", 0) == 0)
        file_ino = std::stoull(line.substr(4));
      else if (line.rfind("flags:", 0) == 0)
        flags = std::stoul(line.substr(6), nullptr, 8);
    }
    if (mnt == mount_id && file_ino == ino && (flags & O_ACCMODE) != O_RDONLY)
      fds.push_back(std::atoi(e->d_name));
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
