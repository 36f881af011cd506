// How a long-running program learns that its secret changed (docs/filesystem.md, "Watching for
// changes"). A change made through the mount passes the kernel's VFS, which tells inotify
// watchers of that file and its directory, as on any filesystem. A change made with the CLI (or
// another mount of the store) never reaches this kernel mount, so programs that must notice
// those poll `user.secretfs.version`, which every getxattr answers from the store.
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;

// One inotify instance; Events() collects what arrives until `quiet` passes without an event.
class Watcher {
 public:
  Watcher() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}
  bool Add(const std::string& path, uint32_t mask) {
    return fd_.ok() && inotify_add_watch(fd_.get(), path.c_str(), mask) >= 0;
  }
  // Every event's mask, and the name for events of a watched directory ("" for the file's own).
  std::vector<std::pair<uint32_t, std::string>> Events(std::chrono::milliseconds quiet = 500ms) {
    std::vector<std::pair<uint32_t, std::string>> events;
    alignas(inotify_event) char buffer[4096];
    pollfd p{fd_.get(), POLLIN, 0};
    while (poll(&p, 1, static_cast<int>(quiet.count())) == 1) {
      const ssize_t n = read(fd_.get(), buffer, sizeof buffer);
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
        events.emplace_back(e->mask, e->len > 0 ? std::string(e->name) : "");
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    return events;
  }

 private:
  Fd fd_;
};

bool Has(const std::vector<std::pair<uint32_t, std::string>>& events, uint32_t mask,
         const std::string& name) {
  for (const auto& [m, n] : events)
    if ((m & mask) != 0 && n == name) return true;
  return false;
}

class WatchTest : public MountedTest {};

TEST_F(WatchTest, AWatcherSeesChangesMadeThroughTheMountByAnotherProcess) {
  Put("prod/API_KEY", "one");
  Watcher file;
  Watcher dir;
  ASSERT_TRUE(file.Add(M("prod/API_KEY"), IN_MODIFY | IN_CLOSE_WRITE));
  ASSERT_TRUE(dir.Add(M("prod"), IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO));

  ProcessResult r = Shell("printf two > " + M("prod/API_KEY"));
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  auto events = file.Events();
  EXPECT_TRUE(Has(events, IN_MODIFY, "")) << "a write is IN_MODIFY for the file's watcher";
  EXPECT_TRUE(Has(events, IN_CLOSE_WRITE, "")) << "its close IN_CLOSE_WRITE";
  EXPECT_EQ(Get("prod/API_KEY"), "two");

  // What a program that watches the directory (for editors' and atomic saves) is told.
  r = Shell("cd " + M("prod") + " && printf new > NEW && printf three > TMP && mv TMP API_KEY && " +
            "rm NEW");
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  events = dir.Events();
  EXPECT_TRUE(Has(events, IN_CREATE, "NEW"));
  EXPECT_TRUE(Has(events, IN_CLOSE_WRITE, "NEW"));
  EXPECT_TRUE(Has(events, IN_MOVED_TO, "API_KEY")) << "a save by rename";
  EXPECT_TRUE(Has(events, IN_DELETE, "NEW"));
  EXPECT_EQ(Get("prod/API_KEY"), "three");
}

TEST_F(WatchTest, TheVersionAttributeShowsAChangeMadeWithTheCliAtOnce) {
  Put("prod/API_KEY", "one");
  const std::string path = M("prod/API_KEY");
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);  // the kernel now holds its attributes
  ASSERT_EQ(GetXattr(path, "user.secretfs.version"), "1");

  Put("prod/API_KEY", "a longer value");
  // No attr_timeout to wait out: getxattr is never cached by the kernel.
  EXPECT_EQ(GetXattr(path, "user.secretfs.version"), "2");

  // stat by path may answer from the kernel's cache until attr_timeout (1 s) has passed, then
  // shows the new size and time.
  struct stat after {};
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(stat(path.c_str(), &after), 0);
    if (after.st_size != before.st_size) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(after.st_size, 14);
  EXPECT_GT(after.st_mtim.tv_sec * 1'000'000'000LL + after.st_mtim.tv_nsec,
            before.st_mtim.tv_sec * 1'000'000'000LL + before.st_mtim.tv_nsec);
  EXPECT_EQ(ReadPath(path).bytes, "a longer value");
}

}  // namespace
}  // namespace secretfs::testing
