// Another process (the CLI beside a running daemon) changes the store: its commits are visible to
// the next call of a store that is already open (secret_store.h).
//
// The other process is a fork()ed child that opens the store afresh (it never touches the
// parent's LMDB environment) and reports through its exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::store::Naming;
using secretfs::store::SecretStore;
using secretfs::store::StoreOptions;
using secretfs::store::WriteRequest;

class StoreProcessTest : public StoreTest {
 protected:
  // Runs `body` in a child process with its own store opened on dir_ and unlocked. Returns the
  // child's result: 0 for success, else the step number that failed.
  int InOtherProcess(const std::function<int(SecretStore&)>& body) {
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int code = 0;
      {
        auto opened = SecretStore::Open(dir_);
        if (!opened.ok()) _exit(90);
        std::unique_ptr<SecretStore> store = std::move(*opened);
        if (!store->Unlock(Key()).ok()) _exit(91);
        code = body(*store);
      }
      _exit(code);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -2;
    return WEXITSTATUS(status);
  }

  static int Write(SecretStore& store, std::string_view ws, std::string_view key,
                   std::string_view value) {
    WriteRequest request;
    request.workspace = ws;
    request.key = key;
    request.value = secretfs::AsBytes(value);
    request.author = "other-process";
    return store.Write(request).ok() ? 0 : 1;
  }

  static bool Reads(SecretStore& store, std::string_view ws, std::string_view key,
                    std::string_view value) {
    auto read = store.Read(ws, key);
    return read.ok() && read->value.Equals(secretfs::AsBytes(value));
  }
};

TEST_F(StoreProcessTest, WritesOfAnotherProcessAreVisibleAtOnce) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "TOKEN", "v1").ok());
  EXPECT_EQ(Get("prod", "TOKEN"), "v1");

  const int child = InOtherProcess([](SecretStore& store) {
    if (!Reads(store, "prod", "TOKEN", "v1")) return 1;
    if (Write(store, "prod", "TOKEN", "v2") != 0) return 2;
    if (!store.CreateWorkspace("staging", Naming::kDefault).ok()) return 3;
    if (Write(store, "staging", "NEW", "from the CLI") != 0) return 4;
    if (!store.Remove("prod", "TOKEN", "x").ok()) return 5;
    if (!store.Undelete("prod", "TOKEN", "x").ok()) return 6;
    return 0;
  });
  ASSERT_EQ(child, 0) << "the other process failed at step " << child;

  EXPECT_EQ(Get("prod", "TOKEN"), "v2");
  EXPECT_EQ(Get("staging", "NEW"), "from the CLI");
  auto stat = store_->Stat("prod", "TOKEN");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->record.updated_by, "other-process");
  ASSERT_TRUE(Put("prod", "TOKEN", "v3").ok());
  EXPECT_EQ(InOtherProcess(
                [](SecretStore& store) { return Reads(store, "prod", "TOKEN", "v3") ? 0 : 1; }),
            0);
}

TEST_F(StoreProcessTest, MapGrownByAnotherProcess) {
  StoreOptions options;
  options.initial_map_bytes = 256 * 1024;
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock(options));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("big"));
  ASSERT_TRUE(Put("big", "SMALL", "small").ok());

  const int child = InOtherProcess([](SecretStore& store) {
    for (uint32_t i = 0; i < 6; ++i) {
      const std::vector<uint8_t> value = PatternBytes(size_t{1} << 20, i);
      WriteRequest request;
      request.workspace = "big";
      request.key = "LARGE";
      request.value = value;
      if (!store.Write(request).ok()) return static_cast<int>(i + 1);
    }
    return 0;
  });
  ASSERT_EQ(child, 0) << "the other process failed at step " << child;

  // This process still has the small map: it must adopt the grown one.
  EXPECT_EQ(Get("big", "SMALL"), "small");
  for (uint32_t i = 0; i < 6; ++i) {
    auto read = store_->Read("big", "LARGE", i + 1);
    ASSERT_TRUE(read.ok()) << "version " << i + 1 << ": " << read.status().message();
    EXPECT_TRUE(read->value.Equals(PatternBytes(size_t{1} << 20, i)));
  }
  auto written = Put("big", "AFTER", std::string(512 * 1024, 'x'));
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(Get("big", "AFTER"), std::string(512 * 1024, 'x'));
}

// `secretfs workspace delete dev --purge` then `workspace create dev` from the CLI while a daemon
// has dev's data key cached: the daemon must use the new workspace's key, not the destroyed one.
TEST_F(StoreProcessTest, WorkspaceRecreatedByAnotherProcess) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "KEY", "old workspace").ok());
  EXPECT_EQ(Get("dev", "KEY"), "old workspace");  // this process now knows dev's data key

  const int child = InOtherProcess([](SecretStore& store) {
    if (!store.DeleteWorkspace("dev", true).ok()) return 1;
    if (!store.CreateWorkspace("dev", Naming::kDefault).ok()) return 2;
    if (Write(store, "dev", "KEY", "new workspace") != 0) return 3;
    return 0;
  });
  ASSERT_EQ(child, 0) << "the other process failed at step " << child;

  EXPECT_EQ(Get("dev", "KEY"), "new workspace");
  auto written = Put("dev", "FROM_DAEMON", "written after the recreate");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(InOtherProcess([](SecretStore& store) {
              return Reads(store, "dev", "FROM_DAEMON", "written after the recreate") ? 0 : 1;
            }),
            0)
      << "a value written by this process is unreadable by everyone else";
  // And after a restart of this process too.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("dev", "FROM_DAEMON"), "written after the recreate");
}
