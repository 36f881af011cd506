// Mount options: fs::ApplyOptionList on the input as an -o list, and fs::ApplyConfigFile on the
// same bytes as a config file (inih). Checked:
//   - nothing crashes (ASan, UBSan): numbers, octal umasks, seconds, flags, inih's line buffer;
//   - a refused list or file is EINVAL (ENOENT only if the file cannot be opened);
//   - whatever is accepted is within the documented ranges: max_size <= 64 MiB, umask <= 0777,
//     timeouts finite in [0, 86400] s, audit_flush_ms in [1, 60000], audit_keep in [0, 100 years],
//     role= a real role, uid= and gid= not (uid_t)-1.
//
// The file is a memfd, rewritten for every input and opened by its /proc/self/fd path (nothing
// touches the disk). config=VALUE in the -o list is pointed at that memfd, so the list can
// include the file without naming arbitrary paths (config=/dev/zero would only hang the fuzzer).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fs/mount_options.h"
#include "fuzz_fixtures.h"

using namespace secretfs;

namespace {

int g_fd = -1;
std::string g_path;

void WriteConfig(const uint8_t* data, size_t size) {
  if (ftruncate(g_fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(g_fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) abort();
    done += static_cast<size_t>(n);
  }
}

// The -o list with every config=... item (the name is what precedes the first '=') naming the
// memfd instead.
std::string PointConfigAtMemfd(const std::string& list) {
  std::string out;
  size_t start = 0;
  for (;;) {
    const size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.substr(0, item.find('=')) == "config") item = "config=" + g_path;
    out += item;
    if (comma == std::string::npos) break;
    out += ',';
    start = comma + 1;
  }
  return out;
}

void CheckRanges(const fs::MountOptions& o) {
  FUZZ_CHECK(o.max_size <= (size_t{64} << 20));
  FUZZ_CHECK(o.umask <= 0777);
  FUZZ_CHECK(o.uid != UINT32_MAX && o.gid != UINT32_MAX);  // (uid_t)-1 is no one
  FUZZ_CHECK(std::isfinite(o.entry_timeout) && o.entry_timeout >= 0 && o.entry_timeout <= 86400);
  FUZZ_CHECK(std::isfinite(o.attr_timeout) && o.attr_timeout >= 0 && o.attr_timeout <= 86400);
  FUZZ_CHECK(o.audit_flush_ms >= 1 && o.audit_flush_ms <= 60000);
  FUZZ_CHECK(o.audit_keep_seconds >= 0 && o.audit_keep_seconds <= int64_t{100} * 366 * 86400);
  FUZZ_CHECK(!o.role_cap || *o.role_cap <= policy::Role::kOwner);
  FUZZ_CHECK(o.audit_mode == audit::Mode::kDurable || o.audit_mode == audit::Mode::kBuffered);
}

void CheckError(const Status& s) {
  FUZZ_CHECK(s.code() == EINVAL || s.code() == ENOENT);
  FUZZ_CHECK(!s.message().empty());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_fd = memfd_create("fuzz_mount_options", MFD_CLOEXEC);
  // A memfd is created writable by every user, and a config file anyone could change is refused.
  if (g_fd < 0 || fchmod(g_fd, 0600) != 0) abort();
  g_path = "/proc/self/fd/" + std::to_string(g_fd);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  WriteConfig(data, size);
  const std::string text(reinterpret_cast<const char*>(data), size);

  fs::MountOptions from_list;
  const Status list = fs::ApplyOptionList(PointConfigAtMemfd(text), from_list);
  if (list.ok()) {
    CheckRanges(from_list);
  } else {
    CheckError(list);
  }

  fs::MountOptions from_file;
  const Status file = fs::ApplyConfigFile(g_path, from_file);
  if (file.ok()) {
    CheckRanges(from_file);
    FUZZ_CHECK(from_file.store_dir.find('\n') == std::string::npos);
    FUZZ_CHECK(from_file.mountpoint.find('\n') == std::string::npos);
  } else {
    CheckError(file);
  }
  return 0;
}
