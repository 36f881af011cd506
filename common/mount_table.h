// The mount table as /proc/PID/mountinfo gives it, line by line: what the daemon reads to find
// its own and other secretfs mounts, and what the policy layer reads to tell a file that lives
// on a secretfs mount.
#pragma once

#include <sys/sysmacros.h>
#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace secretfs {

struct MountLine {
  int id = 0;
  dev_t dev = 0;  // the device of the mounted filesystem (st_dev of its files)
  std::string point, fstype, source;
};

// Decodes the octal escapes (\040 for a space) of mountinfo fields.
inline std::string UnescapeMountField(const std::string& field) {
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

// Calls `visit(line)` for each line of a mountinfo file (/proc/self/mountinfo, or another
// process's), in order; nothing when it cannot be read.
template <class Visit>
void ForEachMount(const std::string& path, Visit&& visit) {
  std::ifstream mountinfo(path);
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
    std::sscanf(dev.c_str(), "%u:%u", &major, &minor);
    visit(MountLine{std::atoi(id.c_str()), makedev(major, minor), UnescapeMountField(point), fstype,
                    UnescapeMountField(source)});
  }
}

}  // namespace secretfs
