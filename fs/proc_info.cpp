#include "fs/proc_info.h"

#include <dirent.h>
#include <fcntl.h>

#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace

MountInfo MountAt(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  MountInfo found;
  while (std::getline(mountinfo, line)) {
    // id parent major:minor root point options [optional fields...] - fstype source ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, opts, field, fstype;
    fields >> id >> parent >> dev >> root >> point >> opts;
    while (fields >> field && field != "-") {
    }
    fields >> fstype;
    if (Unescape(point) == path) found = {std::stoi(id), fstype};  // the last one is visible
  }
  return found;
}

pid_t ProcessOf(pid_t tid) {
  std::ifstream status("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(5)));
  return tid;
}

bool HasOtherWriteDescriptor(pid_t pid, int mount_id, uint64_t ino) {
  if (mount_id == 0) return false;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
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
    if (mnt == mount_id && file_ino == ino && (flags & O_ACCMODE) != O_RDONLY) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace secretfs::fs
