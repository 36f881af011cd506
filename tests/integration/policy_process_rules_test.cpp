// Rules that name more than a user, against a real mount (SPEC §5): a supplementary group, an
// executable (exe:, also across mount namespaces and into a stopped FUSE server), a systemd unit
// (unit:, also with exe: and inside a delegated cgroup).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/integration/policy_mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST_F(PolicyTest, SupplementaryGroupRuleAdmitsItsMembers) {
  const TestUser& ops = TheUsers().ops;
  const gid_t ops_gid = EnsureGroup("sfs_ops");
  ASSERT_NE(ops.gid, ops_gid) << "sfs_ops must be a supplementary group of sfs_opsuser only";
  ASSERT_NE(std::find(ops.groups.begin(), ops.groups.end(), ops_gid), ops.groups.end());
  Put("prod/DB", "db-v1");
  Put("prod/DB", "db-v2");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(R"ini(
[*]
user:root = owner
[prod]
group:sfs_ops = admin
)ini"));

  // setpriv --init-groups: the groups a login would give.
  const ProcessResult cat = ProgramAs(ops, {"cat", M("prod/DB")});
  EXPECT_TRUE(Succeeded(cat));
  EXPECT_EQ(cat.out, "db-v2");
  const ProcessResult old = ProgramAs(ops, {"cat", M("prod/.versions/DB/1")});
  EXPECT_TRUE(Succeeded(old));
  EXPECT_EQ(old.out, "db-v1");
  EXPECT_EQ(WriteAs(ops, M("prod/BY_OPS"), "from-ops"), 0);
  EXPECT_EQ(Get("prod/BY_OPS"), "from-ops");

  // The same user without its supplementary groups, and a user of the same primary group who is
  // not in sfs_ops, have no role.
  const ProcessResult bare =
      Program({"/usr/bin/setpriv", "--reuid=" + ops.name, "--regid=" + std::to_string(ops.gid),
               "--clear-groups", "--", "cat", M("prod/DB")});
  EXPECT_TRUE(FailedCleanly(bare));
  EXPECT_THAT(bare.err, HasSubstr("No such file or directory"));
  EXPECT_EQ(bare.out, "");
  ASSERT_EQ(User("reader").gid, ops.gid);
  EXPECT_EQ(ReadAs(User("reader"), M("prod/DB")).error, ENOENT);
}

TEST_F(PolicyTest, ExeRuleAdmitsOneBinaryAndNotAnother) {
  Put("prod/TLS_KEY", "tls-private-key");
  const std::string allowed_cat = Local("allowed-cat");
  std::filesystem::copy_file("/bin/cat", allowed_cat);
  ASSERT_EQ(chmod(allowed_cat.c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(
      MountWithPolicy("[*]\nuser:root = owner\n[prod]\nexe:" + allowed_cat + " = reader\n"));
  const TestUser& user = User("none");

  const ProcessResult allowed = ProgramAs(user, {allowed_cat, M("prod/TLS_KEY")});
  EXPECT_TRUE(Succeeded(allowed));
  EXPECT_EQ(allowed.out, "tls-private-key");

  const ProcessResult refused = ProgramAs(user, {"/bin/cat", M("prod/TLS_KEY")});
  EXPECT_TRUE(FailedCleanly(refused));
  EXPECT_EQ(refused.out, "");
  EXPECT_THAT(refused.err, HasSubstr("No such file or directory"));
  // The test binary itself (a forked child of it) is not the allowed executable either.
  EXPECT_EQ(ReadAs(user, M("prod/TLS_KEY")).error, ENOENT);
}

// /proc/PID/exe names the path in the caller's own mount namespace. Any user who may make user
// namespaces can bind-mount a program of theirs over the path a rule names, there, and run it:
// the link reads the rule's path, but the file is not the one at that path here.
TEST_F(PolicyTest, AProgramBoundOverTheRulesPathInAnotherNamespaceDoesNotMatch) {
  Put("prod/TLS_KEY", "tls-private-key");
  Put("prod/PUBLIC", "public;");
  const std::string allowed = Local("allowed-cat"), own = Local("own-cat");
  for (const std::string& copy : {allowed, own}) {
    std::filesystem::copy_file("/bin/cat", copy);
    ASSERT_EQ(chmod(copy.c_str(), 0755), 0);
  }
  const TestUser& user = User("none");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy("[*]\nuser:root = owner\n[prod]\nexe:" + allowed +
                                          " = reader\nuid:" + std::to_string(user.uid) +
                                          " = reader PUBLIC\n"));
  if (!Succeeded(ProgramAs(user, {"unshare", "-Urm", "true"})))
    GTEST_SKIP() << "this kernel lets no user make a user namespace";

  const ProcessResult real = ProgramAs(user, {allowed, M("prod/PUBLIC"), M("prod/TLS_KEY")});
  EXPECT_TRUE(Succeeded(real)) << Describe(real);
  EXPECT_EQ(real.out, "public;tls-private-key");

  const ProcessResult bound =
      ProgramAs(user, {"unshare", "-Urm", "/bin/sh", "-c",
                       "mount --bind " + own + " " + allowed + " && exec " + allowed + " " +
                           M("prod/PUBLIC") + " " + M("prod/TLS_KEY")});
  EXPECT_TRUE(FailedCleanly(bound)) << Describe(bound);
  EXPECT_EQ(bound.out, "public;");
  EXPECT_THAT(bound.err, HasSubstr(M("prod/TLS_KEY") + ": No such file or directory"));

  // The audit log names the path the process saw, and says that it is not that file.
  const ProcessResult audit = Cli({"audit", "--key", "PUBLIC", "--json"});
  ASSERT_TRUE(Succeeded(audit)) << Describe(audit);
  EXPECT_THAT(audit.out, HasSubstr("\"exe\":\"" + allowed + "\""));
  EXPECT_THAT(audit.out, HasSubstr("\"exe\":\"" + allowed + " (not the file at this path)\""));
}

// The caller chooses the path its executable seems to be at: mounted over in a namespace of its
// own, that path may lead the daemon into a FUSE filesystem whose server does not answer. Looking
// it up there would hold the daemon's thread, and with every thread held, the whole mount.
TEST_F(PolicyTest, AnExecutablePathIntoAStoppedFuseServerDoesNotHoldTheDaemon) {
  Put("prod/PUBLIC", "public;");
  const TestUser& user = User("none");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(
      "[*]\nuser:root = owner\n[prod]\nuid:" + std::to_string(user.uid) + " = reader PUBLIC\n"));
  if (!Succeeded(ProgramAs(user, {"unshare", "-Urm", "true"})))
    GTEST_SKIP() << "this kernel lets no user make a user namespace";
  // A FUSE mount others may enter whose server will stop: a second mount of the store.
  const std::string stalled = Local("stalled"), handshake = Local("handshake");
  ASSERT_EQ(mkdir(stalled.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(handshake.c_str(), 0777), 0);
  ASSERT_EQ(chmod(handshake.c_str(), 0777), 0);
  ASSERT_TRUE(Succeeded(MountAt(stalled, "allow_other")));
  const pid_t server = DaemonPid(stalled);
  ASSERT_NE(server, 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{server};

  // As the user, in namespaces of its own: a tmpfs over the stalled mount's path with a copy of
  // cat in it; once the server is stopped, that cat reads a secret it may read by its uid.
  const std::string ready = handshake + "/ready", go = handshake + "/go";
  auto reader = std::async(std::launch::async, [&] {
    return ProgramAs(
        user, {"timeout", "20", "unshare", "-Urm", "/bin/sh", "-c",
               "mount -t tmpfs none " + stalled + " && cp /bin/cat " + stalled + "/cat && touch " +
                   ready + " && while [ ! -e " + go + " ]; do sleep 0.05; done && exec " + stalled +
                   "/cat " + M("prod/PUBLIC")});
  });
  for (int i = 0; i < 400 && access(ready.c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(access(ready.c_str(), F_OK), 0) << "the reader did not get ready";
  ASSERT_EQ(kill(server, SIGSTOP), 0);
  ASSERT_NO_FATAL_FAILURE(WriteLocalFile(go, ""));

  const ProcessResult r = reader.get();
  EXPECT_TRUE(Succeeded(r)) << Describe(r)
                            << " (timed out: the read waited for the stopped server)";
  EXPECT_EQ(r.out, "public;");
}

// Cgroups under a slice of this test's own in the cgroup v2 hierarchy ("/sys/fs/cgroup", or
// ".../unified" on a hybrid host), each removed when this goes out of scope, deepest first, once
// its last process has been reaped.
class TestCgroups {
 public:
  TestCgroups() {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, point, type, rest;
    while (mounts >> device >> point >> type && std::getline(mounts, rest))
      if (type == "cgroup2") root_ = point;
    if (root_.empty()) {
      why_not_ = "no cgroup v2 hierarchy is mounted";
      return;
    }
    slice_ = Make(root_ + "/secretfs-test-" + std::to_string(getpid()) + ".slice");
  }
  ~TestCgroups() {
    for (auto cgroup = made_.rbegin(); cgroup != made_.rend(); ++cgroup)
      for (int i = 0; i < 100 && rmdir(cgroup->c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(20ms);
  }
  TestCgroups(const TestCgroups&) = delete;
  TestCgroups& operator=(const TestCgroups&) = delete;

  // The slice's path ("" when it could not be made; why_not() says why).
  const std::string& slice() const { return slice_; }
  const std::string& why_not() const { return why_not_; }
  // Makes the cgroup `path` (under the slice); "" when it cannot.
  std::string Make(const std::string& path) {
    if (mkdir(path.c_str(), 0755) != 0) {
      why_not_ = "cannot make the cgroup " + path + ": " + strerror(errno);
      return "";
    }
    made_.push_back(path);
    return path;
  }
  // Makes the cgroup of unit `name` in the slice; "" when it cannot.
  std::string MakeUnit(const std::string& name) {
    return slice_.empty() ? "" : Make(slice_ + "/" + name);
  }
  // Removes `path` too, a cgroup someone else makes.
  void Remove(const std::string& path) { made_.push_back(path); }

 private:
  std::string root_, slice_, why_not_;
  std::vector<std::string> made_;
};

TEST_F(PolicyTest, UnitRuleAdmitsTheProcessesOfThatUnitOnly) {
  // A cgroup named like a systemd service, made by hand: what the daemon reads is the caller's
  // /proc/PID/cgroup, whoever made the cgroup.
  TestCgroups cgroups;
  const std::string unit = "secretfs-test-" + std::to_string(getpid()) + ".service";
  const std::string cgroup = cgroups.MakeUnit(unit);
  if (cgroup.empty()) GTEST_SKIP() << cgroups.why_not();

  Put("prod/API_KEY", "unit-only");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy("[prod]\nunit:" + unit + " = reader API_KEY\n"));
  const TestUser& user = User("none");
  std::string as_user;
  for (const std::string& word : SetprivPrefix(user)) as_user += word + " ";

  // The shell moves itself into the unit's cgroup, then becomes `cat` as the test user.
  const ProcessResult inside = Program(
      {"/bin/sh", "-c",
       "echo $$ > " + cgroup + "/cgroup.procs && exec " + as_user + "cat " + M("prod/API_KEY")});
  EXPECT_TRUE(Succeeded(inside)) << Describe(inside);
  EXPECT_EQ(inside.out, "unit-only");

  const ProcessResult outside = ProgramAs(user, {"cat", M("prod/API_KEY")});
  EXPECT_TRUE(FailedCleanly(outside));
  EXPECT_THAT(outside.err, HasSubstr("No such file or directory"));
}

// `unit:U & exe:P` is the program P as the service U runs it: neither another program of the
// unit (a shell its ExecStartPre= runs) nor P run by a user outside the unit.
TEST_F(PolicyTest, AUnitAndExeRuleAdmitsOnlyThatProgramInsideThatUnit) {
  TestCgroups cgroups;
  const std::string unit = "secretfs-test-" + std::to_string(getpid()) + ".service";
  const std::string cgroup = cgroups.MakeUnit(unit);
  if (cgroup.empty()) GTEST_SKIP() << cgroups.why_not();
  const std::string allowed_cat = Local("allowed-cat");
  std::filesystem::copy_file("/bin/cat", allowed_cat);
  ASSERT_EQ(chmod(allowed_cat.c_str(), 0755), 0);

  Put("prod/TLS_KEY", "both-facts");
  ASSERT_NO_FATAL_FAILURE(
      MountWithPolicy("[prod]\nunit:" + unit + " & exe:" + allowed_cat + " = reader TLS_*\n"));
  const TestUser& user = User("none");
  std::string as_user;
  for (const std::string& word : SetprivPrefix(user)) as_user += word + " ";
  // A shell that moves itself into the unit's cgroup, then becomes PROGRAM as the test user.
  const auto in_unit = [&](const std::string& program) {
    return Program({"/bin/sh", "-c",
                    "echo $$ > " + cgroup + "/cgroup.procs && exec " + as_user + program + " " +
                        M("prod/TLS_KEY")});
  };

  const ProcessResult both = in_unit(allowed_cat);
  EXPECT_TRUE(Succeeded(both)) << Describe(both);
  EXPECT_EQ(both.out, "both-facts");

  const ProcessResult other_program = in_unit("/bin/cat");
  EXPECT_TRUE(FailedCleanly(other_program)) << Describe(other_program);
  EXPECT_THAT(other_program.err, HasSubstr("No such file or directory"));

  const ProcessResult outside = ProgramAs(user, {allowed_cat, M("prod/TLS_KEY")});
  EXPECT_TRUE(FailedCleanly(outside)) << Describe(outside);
  EXPECT_THAT(outside.err, HasSubstr("No such file or directory"));
}

// A unit that delegates its cgroup (Delegate=: every user's user@UID.service, container
// managers) lets its processes make cgroups below it, named as they like. Such a cgroup named
// like the unit a rule names is still the delegating unit's: a user's
// `systemd-run --user --unit=backup.service` does not get what `unit:backup.service` grants.
TEST_F(PolicyTest, AUnitNameMadeInsideADelegatedCgroupDoesNotMatch) {
  TestCgroups cgroups;
  const std::string id = std::to_string(getpid());
  const std::string unit = "secretfs-test-" + id + ".service";
  const std::string delegated = cgroups.MakeUnit("user@" + id + ".service");
  if (delegated.empty()) GTEST_SKIP() << cgroups.why_not();
  const TestUser& user = User("none");
  // What systemd does for Delegate=yes with User=: the directory and its interface files become
  // the user's.
  for (const std::string& file :
       {delegated, delegated + "/cgroup.procs", delegated + "/cgroup.threads",
        delegated + "/cgroup.subtree_control"})
    ASSERT_EQ(chown(file.c_str(), user.uid, user.gid), 0) << file;
  const std::string own = delegated + "/" + unit;  // made by the user
  cgroups.Remove(own);

  Put("prod/API_KEY", "unit-only");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy("[prod]\nunit:" + unit + " = reader API_KEY\n"));
  std::string as_user;
  for (const std::string& word : SetprivPrefix(user)) as_user += word + " ";

  // Root places the shell in the delegated unit; as the user, it makes a cgroup named like the
  // rule's unit there, moves itself in, and reads.
  const ProcessResult inside = Program(
      {"/bin/sh", "-c",
       "echo $$ > " + delegated + "/cgroup.procs && exec " + as_user + "/bin/sh -c 'mkdir " + own +
           " && echo $$ > " + own + "/cgroup.procs && grep -q " + unit +
           " /proc/self/cgroup && exec cat " + M("prod/API_KEY") + "'"});
  EXPECT_TRUE(FailedCleanly(inside)) << Describe(inside);
  EXPECT_EQ(inside.out, "");
  EXPECT_THAT(inside.err, HasSubstr(M("prod/API_KEY") + ": No such file or directory"));
}

}  // namespace
}  // namespace secretfs::testing
