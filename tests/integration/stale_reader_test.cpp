// A process killed inside a read transaction leaves its LMDB reader slot behind. Until some
// process clears it, the slot pins the snapshot it saw, and with it every page freed since, so
// the store only grows. The daemon clears such slots as it writes; every CLI command clears
// them when it opens the store.
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;

// The pids holding a reader slot of the store in `dir`, as mdb_reader_list reports them. Opening
// the environment here clears nothing (only mdb_reader_check does).
std::set<pid_t> ReaderPids(const std::string& dir) {
  std::set<pid_t> pids;
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) return pids;
  mdb_env_set_maxdbs(env, 8);
  if (mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) == 0) {
    mdb_reader_list(
        env,
        [](const char* line, void* out) {
          std::istringstream in(line);
          pid_t pid = 0;
          if (in >> pid) static_cast<std::set<pid_t>*>(out)->insert(pid);  // skips the header
          return 0;
        },
        &pids);
  }
  mdb_env_close(env);
  return pids;
}

// A process that opens the store with LMDB, begins a read transaction, says so on a pipe and
// waits; it is killed there. That is what a CLI command killed while reading leaves behind (the
// CLI's own read transactions are too short to be caught reliably).
pid_t StartReaderThatWaitsInsideATransaction(const std::string& store) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    char ok = 0;
    if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 8) == 0 &&
        mdb_env_open(env, store.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) == 0 &&
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0)
      ok = 1;
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char ok = 0;
  const bool started = pid > 0 && read(ready[0], &ok, 1) == 1 && ok == 1;
  close(ready[0]);
  if (!started && pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

class StaleReaderTest : public MountedTest {
 protected:
  // Starts a reader, checks it holds a slot, and kills it there.
  void KillAReaderInsideItsTransaction(pid_t* killed) {
    const pid_t pid = StartReaderThatWaitsInsideATransaction(store_);
    ASSERT_GT(pid, 0) << "the reader could not begin a read transaction";
    const bool reading = ReaderPids(store_).count(pid) != 0;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ASSERT_TRUE(reading) << "the reader holds no reader slot";
    *killed = pid;
  }
};

TEST_F(StaleReaderTest, AKilledReaderLeavesNoPermanentStaleReaderSlot) {
  Put("dev/K", "v");
  pid_t killed = 0;
  ASSERT_NO_FATAL_FAILURE(KillAReaderInsideItsTransaction(&killed));
  EXPECT_TRUE(ReaderPids(store_).count(killed)) << "the dead process's slot is left behind";

  // The running daemon clears it when it next writes (it checks at most once a second).
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(WritePath(M("dev/K"), "v2").ok());
  EXPECT_FALSE(ReaderPids(store_).count(killed)) << "the daemon left the dead reader's slot";

  // So does any CLI command, when it opens the store.
  ASSERT_NO_FATAL_FAILURE(KillAReaderInsideItsTransaction(&killed));
  EXPECT_TRUE(ReaderPids(store_).count(killed));
  EXPECT_TRUE(Succeeded(Cli({"ls", "dev"})));
  EXPECT_FALSE(ReaderPids(store_).count(killed)) << "the CLI left the dead reader's slot";
  EXPECT_EQ(Get("dev/K"), "v2");
}

}  // namespace
}  // namespace secretfs::testing
