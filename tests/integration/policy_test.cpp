// Roles and the policy file against a real mount (SPEC §5): real users made with useradd, acting
// through forked children that drop to their credentials or through setpriv(1), and what each one
// sees: the errno of every operation of the role matrix, per-key globs, group, exe and cap rules,
// SIGHUP reloads, the default policy, and a bubblewrap container whose "root" is still the user
// outside it.
//
// Every mount here uses allow_other (other users may reach it at all) and entry_timeout=0,
// attr_timeout=0 (the kernel's name cache must not answer for the daemon).
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/policy_mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Every role's user on every workspace, and root as owner (the tests inspect through the mount).
constexpr const char* kRolePolicy = R"ini(
[*]
user:root       = owner
user:sfs_viewer = viewer
user:sfs_reader = reader
user:sfs_member = member
user:sfs_admin  = admin
user:sfs_owner  = owner
)ini";

std::vector<std::string> WithoutDotNames(std::vector<std::string> names) {
  std::erase_if(names, [](const std::string& n) { return !n.empty() && n[0] == '.'; });
  return names;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// ---- The matrix of SPEC §5, one test per role, one row per operation. ----

struct Cell {
  const char* operation;
  // Runs in the child, as the role's user: 0 or the errno of the first failing call.
  std::function<int(const std::string& mnt)> run;
  std::array<int, 6> expected;  // none, viewer, reader, member, admin, owner
};

const std::vector<Cell>& Matrix() {
  constexpr int A = EACCES, N = ENOENT;
  static const std::vector<Cell> cells = {
      {"the workspace is listed in the mount root",
       [](const std::string& m) { return Contains(ListDir(m), "prod") ? 0 : ENOENT; },
       {N, 0, 0, 0, 0, 0}},
      {"list the workspace",
       [](const std::string& m) {
         int e = 0;
         const std::vector<std::string> names = ListDir(m + "/prod", &e);
         return e != 0 ? e : Contains(names, "DB") ? 0 : ENOENT;
       },
       {N, 0, 0, 0, 0, 0}},
      {"stat a key",
       [](const std::string& m) {
         struct stat st {};
         return ErrnoOf(stat((m + "/prod/DB").c_str(), &st));
       },
       {N, 0, 0, 0, 0, 0}},
      {"getfattr user.secretfs.version",
       [](const std::string& m) {
         int e = 0;
         const std::string v = GetXattr(m + "/prod/DB", "user.secretfs.version", &e);
         return e != 0 ? e : v == "2" ? 0 : EBADMSG;
       },
       {N, 0, 0, 0, 0, 0}},
      {"read the latest value",
       [](const std::string& m) {
         const ReadResult r = ReadPath(m + "/prod/DB");
         return r.error != 0 ? r.error : r.bytes == "db-v2" ? 0 : EBADMSG;
       },
       {N, A, 0, A, 0, 0}},
      {"create a key (O_CREAT|O_TRUNC)",
       [](const std::string& m) { return FirstError(WritePath(m + "/prod/NEW", "new-value")); },
       {N, A, A, 0, 0, 0}},
      {"overwrite a key (O_TRUNC)",
       [](const std::string& m) {
         return FirstError(WritePath(m + "/prod/OVER", "over-v2", O_WRONLY | O_TRUNC));
       },
       {N, A, A, 0, 0, 0}},
      {"append to a key (O_APPEND)",
       [](const std::string& m) {
         return FirstError(WritePath(m + "/prod/APPEND", "-more", O_WRONLY | O_APPEND));
       },
       {N, A, A, A, 0, 0}},
      {"unlink a key",
       [](const std::string& m) { return ErrnoOf(unlink((m + "/prod/DEL").c_str())); },
       {N, A, A, 0, 0, 0}},
      // A member moves only a value it wrote itself (MV is root's): AMoveCannotRevealAValue...
      {"rename a key",
       [](const std::string& m) {
         return ErrnoOf(rename((m + "/prod/MV").c_str(), (m + "/prod/MOVED").c_str()));
       },
       {N, A, A, A, 0, 0}},
      {"setfattr user.secretfs.description",
       [](const std::string& m) {
         return ErrnoOf(
             setxattr((m + "/prod/META").c_str(), "user.secretfs.description", "edited", 6, 0));
       },
       {N, A, A, 0, 0, 0}},
      {"read an old version (.versions/DB/1)",
       [](const std::string& m) {
         const ReadResult r = ReadPath(m + "/prod/.versions/DB/1");
         return r.error != 0 ? r.error : r.bytes == "db-v1" ? 0 : EBADMSG;
       },
       {N, A, A, A, 0, 0}},
      {"mkdir a workspace",
       [](const std::string& m) { return ErrnoOf(mkdir((m + "/made").c_str(), 0750)); },
       {A, A, A, A, 0, 0}},
      {"rmdir an empty workspace",
       [](const std::string& m) { return ErrnoOf(rmdir((m + "/spare").c_str())); },
       {N, A, A, A, 0, 0}},
  };
  return cells;
}

class PolicyMatrixTest : public PolicyTest, public ::testing::WithParamInterface<int> {};

TEST_P(PolicyMatrixTest, EveryOperationGetsTheErrnoOfTheRoleMatrix) {
  const int role = GetParam();
  const TestUser& user = User(kRoles[role]);
  Put("prod/DB", "db-v1");
  Put("prod/DB", "db-v2");
  for (const char* key : {"OVER", "APPEND", "DEL", "MV", "META"})
    Put(std::string("prod/") + key, std::string(key) + "-v1");
  ASSERT_TRUE(Succeeded(Cli({"workspace", "create", "spare"})));
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));

  for (const Cell& cell : Matrix()) {
    const std::string mnt = mnt_;
    const int got = ErrnoAs(user, [&] { return cell.run(mnt); });
    const int want = cell.expected[static_cast<size_t>(role)];
    EXPECT_EQ(got, want) << kRoles[role] << ": " << cell.operation << ": got "
                         << (got > 0 ? strerrorname_np(got) : std::to_string(got).c_str())
                         << ", want " << (want > 0 ? strerrorname_np(want) : "success");
  }

  // What the allowed operations did, and that the refused ones changed nothing (seen by the CLI).
  const auto allowed = [&](const char* operation) {
    for (const Cell& cell : Matrix())
      if (std::string(cell.operation) == operation)
        return cell.expected[static_cast<size_t>(role)] == 0;
    ADD_FAILURE() << "no cell " << operation;
    return false;
  };
  const bool created = allowed("create a key (O_CREAT|O_TRUNC)");
  EXPECT_EQ(Cli({"get", "prod/NEW"}).exit_code == 0, created);
  if (created) {
    EXPECT_EQ(Get("prod/NEW"), "new-value");
  }
  EXPECT_EQ(Get("prod/OVER"), allowed("overwrite a key (O_TRUNC)") ? "over-v2" : "OVER-v1");
  EXPECT_EQ(Get("prod/APPEND"),
            allowed("append to a key (O_APPEND)") ? "APPEND-v1-more" : "APPEND-v1");
  EXPECT_EQ(Cli({"get", "prod/DEL"}).exit_code == 0, !allowed("unlink a key"));
  const bool renamed = allowed("rename a key");
  EXPECT_EQ(Cli({"get", "prod/MV"}).exit_code == 0, !renamed);
  EXPECT_EQ(Cli({"get", "prod/MOVED"}).exit_code == 0, renamed);
  EXPECT_EQ(GetXattr(M("prod/META"), "user.secretfs.description") == "edited",
            allowed("setfattr user.secretfs.description"));
  struct stat st {};
  EXPECT_EQ(stat(M("made").c_str(), &st) == 0, allowed("mkdir a workspace"));
  EXPECT_EQ(stat(M("spare").c_str(), &st) == 0, !allowed("rmdir an empty workspace"));
}

INSTANTIATE_TEST_SUITE_P(PolicyRoles, PolicyMatrixTest, ::testing::Range(0, 6),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::string(kRoles[param.param]);
                         });

// ---- access(2): what fusermount3 and programs ask before they act. ----

// access(2) as `user` on `path` with `mode` (F_OK, R_OK, W_OK, X_OK): 0 or the errno.
int AccessAs(const TestUser& user, const std::string& path, int mode) {
  return ErrnoAs(user, [=] { return ErrnoOf(access(path.c_str(), mode)); });
}

// fusermount3 run as `user` to mount a FUSE filesystem of its own on `target`, in a mount
// namespace of its own whose /dev/fuse is mode 0666, as Debian makes it (this machine's stays as
// it is; the namespace, and any mount made in it, ends with the process). Its exit code (-1 when
// it did not run) and what it printed.
std::pair<int, std::string> FusermountAs(const TestUser& user, const std::string& target,
                                         const std::string& scratch) {
  int out[2];
  if (pipe(out) != 0) return {-1, "pipe"};
  const pid_t child = fork();
  if (child == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    const std::string node = scratch + "/fuse";
    int sockets[2];
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        (mknod(node.c_str(), S_IFCHR | 0666, makedev(10, 229)) != 0 && errno != EEXIST) ||
        chmod(node.c_str(), 0666) != 0 ||
        mount(node.c_str(), "/dev/fuse", nullptr, MS_BIND, nullptr) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0 || dup2(sockets[0], 3) != 3) {
      perror("setting up the namespace");
      _exit(127);
    }
    // fusermount3 sends the descriptor of its mount through _FUSE_COMMFD; nobody takes it.
    setenv("_FUSE_COMMFD", "3", 1);
    std::vector<std::string> argv = SetprivPrefix(user);
    argv.insert(argv.end(), {"fusermount3", "-o", "fsname=fake", "--", target});
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[512];
  ssize_t n = 0;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status)) return {-1, text};
  return {WEXITSTATUS(status), text};
}

// secretfs had no access handler: the kernel, told ENOSYS, granted every access(2), so `test -w`
// said yes to anyone, and fusermount3, which lets a user mount over a directory it may write
// (chdir, then access(".", W_OK)), let a user with no role hide the secrets under a mount of its
// own. access(2) now answers what the operation it names would do.
TEST_F(PolicyTest, AccessAnswersWhatTheCallerMayDo) {
  Put("prod/DB", "db-v1");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  const std::string root = mnt_, ws = M("prod"), db = M("prod/DB"), versions = M("prod/.versions");
  constexpr int A = EACCES, N = ENOENT;
  struct Row {
    const char* role;
    std::string path;
    int mode;
    int want;
  };
  const std::vector<Row> rows = {
      {"none", root, R_OK | X_OK, 0},  // the root is everyone's: chdir and ls work
      {"none", root, W_OK, A},
      {"none", ws, F_OK, N},
      {"none", ws, W_OK, N},
      {"none", db, R_OK, N},
      {"viewer", ws, R_OK | X_OK, 0},
      {"viewer", ws, W_OK, A},
      {"viewer", db, F_OK, 0},
      {"viewer", db, R_OK, A},
      {"reader", root, W_OK, A},
      {"reader", ws, W_OK, A},
      {"reader", db, R_OK, 0},
      {"reader", db, W_OK, A},
      {"reader", db, X_OK, A},
      {"member", root, W_OK, A},
      {"member", ws, W_OK | X_OK, 0},
      {"member", db, R_OK, A},  // member is write-only
      {"member", db, W_OK, 0},
      {"member", versions, W_OK, A},
      {"admin", root, W_OK, 0},
      {"admin", versions, R_OK | X_OK, 0},
      {"admin", versions, W_OK, A},
      {"admin", versions + "/DB/1", R_OK, 0},
      {"admin", versions + "/DB/1", W_OK, A},
      {"member", versions + "/DB/1", F_OK, A},
  };
  for (const Row& row : rows)
    EXPECT_EQ(AccessAs(User(row.role), row.path, row.mode), row.want)
        << row.role << " access(" << row.path << ", " << row.mode << ")";
}

// fusermount3 (setuid root) mounts for a user over any directory that user may write, and over
// a FUSE mount too: with /dev/fuse open to all (Debian's 0666), a user with no role, or a member,
// could mount a filesystem of its own over the mount root or a workspace, locking everyone out
// of the secrets (with user_allow_other, serving fake ones). Only who may write a workspace
// (member and up) may still mount over it, as over any directory it may write
// (docs/filesystem.md).
TEST_F(PolicyTest, AUserCannotMountItsOwnFilesystemOverTheMount) {
  Put("prod/DB", "db-v1");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  const std::string scratch = Local("dev");
  ASSERT_EQ(mkdir(scratch.c_str(), 0755), 0) << strerror(errno);
  const std::vector<std::pair<const char*, std::string>> attempts = {
      {"none", mnt_}, {"member", mnt_}, {"viewer", M("prod")}, {"reader", M("prod")}};
  for (const auto& [role, target] : attempts) {
    const auto [code, text] = FusermountAs(User(role), target, scratch);
    EXPECT_EQ(code, 1) << role << " on " << target << ": " << text;
    EXPECT_THAT(text, HasSubstr("no write access to mountpoint")) << role << " on " << target;
  }
  // Nothing but secretfs is mounted there (the namespaces are gone, with whatever they mounted).
  EXPECT_EQ(MountedType(mnt_), "fuse.secretfs");
  EXPECT_EQ(ReadPath(M("prod/DB")).bytes, "db-v1");
}

// ---- Rules narrower than a whole workspace. ----

// statfs (df -i) counts the secrets of the workspaces the caller may list, nobody else's: it
// counted the whole store for any caller, one with no role included. Where rules with key globs
// show the caller some keys only, it counts those: it counted the whole workspace.
TEST_F(PolicyTest, StatfsCountsOnlyTheSecretsTheCallerMayList) {
  Put("dev/ONE", "1");
  Put("dev/TWO", "2");
  Put("prod/THREE", "3");
  Put("prod/FOUR", "4");
  Put("prod/FIVE", "5");
  ASSERT_TRUE(Succeeded(Cli({"rm", "prod/FIVE"})));
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(R"ini(
[*]
user:root = owner
[dev]
user:sfs_reader = reader
[prod]
user:sfs_viewer = viewer THREE
)ini"));
  EXPECT_EQ(FilesAs(User("reader")), "2");
  EXPECT_EQ(FilesAs(User("viewer")), "1");
  EXPECT_EQ(FilesAs(User("none")), "0");
  struct statvfs st {};
  ASSERT_EQ(statvfs(mnt_.c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.f_files - st.f_ffree, 5u) << "a removed secret is still one (under .versions)";
}

// rm makes a secret disappear from listings (SPEC §4); its name stays under .versions, and in
// df -i's count, only for who may read its history there (admin and up).
TEST_F(PolicyTest, ARemovedSecretsNameIsListedOnlyToWhoMayReadItsHistory) {
  Put("prod/LIVE", "1");
  Put("prod/REMOVED_PROJECT_X", "2");
  ASSERT_TRUE(Succeeded(Cli({"rm", "prod/REMOVED_PROJECT_X"})));
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  for (const char* role : {"viewer", "reader", "member"}) {
    int error = -1;
    EXPECT_THAT(ListAs(User(role), M("prod/.versions"), &error), ElementsAre("LIVE")) << role;
    EXPECT_EQ(error, 0) << role;
    EXPECT_EQ(FilesAs(User(role)), "1") << role;
  }
  int error = -1;
  EXPECT_THAT(ListAs(User("admin"), M("prod/.versions"), &error),
              ElementsAre("LIVE", "REMOVED_PROJECT_X"));
  EXPECT_EQ(FilesAs(User("admin")), "2");
}

TEST_F(PolicyTest, KeyGlobsShowOnlyTheMatchingKeys) {
  for (const char* key : {"DATABASE_URL", "DATABASE_PASSWORD", "API_KEY", "API_KEY_OLD", "OTHER"})
    Put(std::string("prod/") + key, std::string("value-of-") + key);
  Put("dev/DATABASE_URL", "dev-db");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(R"ini(
[*]
user:root = owner
[prod]
user:sfs_reader = reader DATABASE_* API_KEY
)ini"));
  const TestUser& reader = User("reader");

  int error = -1;
  EXPECT_THAT(ListAs(reader, mnt_, &error), ElementsAre("prod"));
  EXPECT_EQ(error, 0);
  EXPECT_THAT(WithoutDotNames(ListAs(reader, M("prod"), &error)),
              ElementsAre("API_KEY", "DATABASE_PASSWORD", "DATABASE_URL"));
  EXPECT_EQ(error, 0);

  const ReadResult url = ReadAs(reader, M("prod/DATABASE_URL"));
  EXPECT_EQ(url.error, 0);
  EXPECT_EQ(url.bytes, "value-of-DATABASE_URL");
  EXPECT_EQ(ReadAs(reader, M("prod/API_KEY")).bytes, "value-of-API_KEY");
  for (const char* hidden : {"prod/OTHER", "prod/API_KEY_OLD", "dev/DATABASE_URL"}) {
    EXPECT_EQ(ReadAs(reader, M(hidden)).error, ENOENT) << hidden;
    const std::string path = M(hidden);
    EXPECT_EQ(ErrnoAs(reader,
                      [path] {
                        struct stat st {};
                        return ErrnoOf(stat(path.c_str(), &st));
                      }),
              ENOENT)
        << hidden;
  }
  // The workspace is visible, so a name the reader may not create is refused, not hidden.
  EXPECT_EQ(WriteAs(reader, M("prod/DATABASE_NEW"), "x"), EACCES);
  EXPECT_EQ(WriteAs(reader, M("prod/UNRELATED"), "x"), EACCES);
  EXPECT_EQ(Cli({"get", "prod/DATABASE_NEW"}).exit_code == 0, false);
  EXPECT_EQ(Get("prod/DATABASE_URL"), "value-of-DATABASE_URL");

  // The owner still sees everything.
  EXPECT_THAT(WithoutDotNames(ListDir(M("prod"))),
              ElementsAre("API_KEY", "API_KEY_OLD", "DATABASE_PASSWORD", "DATABASE_URL", "OTHER"));
}

// "A write that leaves the value unchanged makes no version" must not answer a member's guess:
// a member may write but not read, and the version number would tell it whether the value it
// wrote was the one already there. Its every write is a version; a reader's repeat is not.
TEST_F(PolicyTest, AMemberCannotConfirmAGuessOfAValueItMayNotRead) {
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  Put("dev/GUESS", "right-guess");
  EXPECT_EQ(ReadAs(User("member"), M("dev/GUESS")).error, EACCES);
  ASSERT_EQ(WriteAs(User("member"), M("dev/GUESS"), "right-guess"), 0);
  EXPECT_THAT(Versions("dev/GUESS"), ElementsAre(1, 2)) << "the right guess made no version";
  ASSERT_EQ(WriteAs(User("member"), M("dev/GUESS"), "right-guess"), 0);
  EXPECT_THAT(Versions("dev/GUESS"), ElementsAre(1, 2, 3));
  ASSERT_EQ(WriteAs(User("admin"), M("dev/GUESS"), "right-guess"), 0);
  EXPECT_THAT(Versions("dev/GUESS"), ElementsAre(1, 2, 3)) << "who may read gets no new version";

  // truncate(2) by path writes at once: the same rule (a guess that the value is empty).
  Put("dev/EMPTY", "");
  const std::string empty = M("dev/EMPTY");
  const auto truncate_as = [&](const TestUser& user) {
    return ErrnoAs(user, [empty] { return truncate(empty.c_str(), 0) == 0 ? 0 : errno; });
  };
  ASSERT_EQ(truncate_as(User("member")), 0);
  EXPECT_THAT(Versions("dev/EMPTY"), ElementsAre(1, 2)) << "the right guess made no version";
  ASSERT_EQ(truncate_as(User("admin")), 0);
  EXPECT_THAT(Versions("dev/EMPTY"), ElementsAre(1, 2));

  // mv of a file holding the guess onto the secret: the same rule.
  const auto rename_as = [&](const TestUser& user) {
    const std::string probe = M("dev/PROBE"), target = M("dev/GUESS");
    EXPECT_EQ(WriteAs(user, probe, "right-guess"), 0);
    return ErrnoAs(user, [=] { return rename(probe.c_str(), target.c_str()) == 0 ? 0 : errno; });
  };
  ASSERT_EQ(rename_as(User("member")), 0);
  EXPECT_THAT(Versions("dev/GUESS"), ElementsAre(1, 2, 3, 4)) << "the right guess made no version";
  ASSERT_EQ(rename_as(User("admin")), 0);
  EXPECT_THAT(Versions("dev/GUESS"), ElementsAre(1, 2, 3, 4));
}

// A member may rename what it cannot read (SPEC §5), but not to a name it may read: with admin
// on MINE_* it would read any secret by moving it there and back.
TEST_F(PolicyTest, AMoveCannotRevealAValueToWhoMayNotReadIt) {
  Put("prod/DB_PASSWORD", "db-password-s3cret");
  Put("prod/MINE_OLD", "mine");
  Put("prod/APP_TOKEN", "app-token");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(R"ini(
[*]
user:root = owner
[prod]
user:sfs_member = member
user:sfs_member = admin MINE_*
user:sfs_reader = reader APP_TOKEN
)ini"));
  const TestUser& member = User("member");
  const TestUser& reader = User("reader");
  const std::string m = mnt_;
  const auto move_as = [&](const std::string& from, const std::string& to) {
    return ErrnoAs(member, [=] { return ErrnoOf(rename((m + from).c_str(), (m + to).c_str())); });
  };
  // Onto a name the member may read, or one the application it deploys reads.
  EXPECT_EQ(ReadAs(member, M("prod/DB_PASSWORD")).error, EACCES);
  EXPECT_EQ(move_as("/prod/DB_PASSWORD", "/prod/MINE_tmp"), EACCES);
  EXPECT_EQ(ReadAs(member, M("prod/MINE_tmp")).error, ENOENT);
  EXPECT_EQ(move_as("/prod/DB_PASSWORD", "/prod/APP_TOKEN"), EACCES);
  EXPECT_EQ(ReadAs(reader, M("prod/APP_TOKEN")).bytes, "app-token");
  // Nor between two names only others read: the value is another's all the same.
  Put("prod/OTHER", "other");
  EXPECT_EQ(move_as("/prod/OTHER", "/prod/OTHER_MOVED"), EACCES);
  EXPECT_EQ(Get("prod/DB_PASSWORD"), "db-password-s3cret");
  EXPECT_THAT(Versions("prod/DB_PASSWORD"), ElementsAre(1));
  EXPECT_EQ(Get("prod/OTHER"), "other");

  // A value the member wrote itself moves anywhere it may write: an atomic save of the token.
  ASSERT_EQ(WriteAs(member, M("prod/TOKEN_NEW"), "new-app-token"), 0);
  EXPECT_EQ(move_as("/prod/TOKEN_NEW", "/prod/APP_TOKEN"), 0);
  EXPECT_EQ(ReadAs(reader, M("prod/APP_TOKEN")).bytes, "new-app-token");
  // And from one it may read to any.
  EXPECT_EQ(move_as("/prod/MINE_OLD", "/prod/NOT_MINE"), 0);
  EXPECT_EQ(Get("prod/NOT_MINE"), "mine");
}

// A descriptor open for reading can be mapped, and a private mapping shows the kernel's cached
// pages of the file, whoever's read put them there. So a member (write-only) gets no O_RDWR
// descriptor of a secret, as open(2) of a write-only file answers, nor creates a name with one;
// O_WRONLY writes and creates as before.
TEST_F(PolicyTest, WhoMayNotReadASecretCannotOpenItForReadingAndWriting) {
  Put("prod/DB", "db-value");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  const std::string db = M("prod/DB"), fresh = M("prod/FRESH");
  const auto open_as = [&](const TestUser& user, const std::string& path, int flags) {
    return ErrnoAs(user, [=] {
      const int fd = open(path.c_str(), flags | O_CLOEXEC, 0600);
      if (fd < 0) return errno;
      close(fd);
      return 0;
    });
  };
  const TestUser& member = User("member");
  EXPECT_EQ(open_as(member, db, O_RDWR), EACCES);
  EXPECT_EQ(open_as(member, db, O_RDWR | O_TRUNC), EACCES);
  EXPECT_EQ(Get("prod/DB"), "db-value");
  EXPECT_THAT(Versions("prod/DB"), ElementsAre(1));
  EXPECT_EQ(WriteAs(member, db, "from-member"), 0);
  EXPECT_EQ(Get("prod/DB"), "from-member");
  EXPECT_EQ(open_as(User("admin"), db, O_RDWR), 0);
  // Nor a new name: mkstemp's O_RDWR handle, kept open, would show the pages of values others
  // write to that name later. O_WRONLY creates it.
  EXPECT_EQ(open_as(member, fresh, O_RDWR | O_CREAT | O_EXCL), EACCES);
  EXPECT_EQ(open_as(member, fresh, O_RDONLY | O_CREAT), EACCES);
  EXPECT_EQ(ReadPath(fresh).error, ENOENT);
  EXPECT_EQ(open_as(member, fresh, O_WRONLY | O_CREAT | O_EXCL), 0);
  EXPECT_THAT(Versions("prod/FRESH"), ElementsAre(1));
}

// A check-and-set version set before the open waits in the daemon, by process, until that
// process opens the file. One user may hold at most 1024 of them, so the others keep theirs, and
// those of a process that has exited go when room is needed. Before, one process holding 4096
// took expect_version from every user of the mount, for good after it exited.
TEST_F(PolicyTest, OneUsersPendingCheckAndSetsLeaveRoomForOthersAndGoWithTheirProcess) {
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  constexpr int kKeys = 1025;
  ASSERT_TRUE(Succeeded(Shell("i=0; while [ $i -lt " + std::to_string(kKeys) + " ]; do : > " +
                              M("dev/K") + "$i || exit 1; i=$((i+1)); done")));
  std::vector<std::string> paths;
  for (int i = 0; i < kKeys; ++i) paths.push_back(M("dev/K" + std::to_string(i)));
  const auto expect = [](const std::string& path) {
    return setxattr(path.c_str(), "user.secretfs.expect_version", "1", 1, 0) == 0 ? 0 : errno;
  };
  int results[2], go_on[2];
  ASSERT_EQ(pipe(results), 0);
  ASSERT_EQ(pipe(go_on), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {          // sets them all, then stays alive until the parent is done with it
    int counts[2] = {0, 0};  // set, refused with ENOSPC
    for (const std::string& path : paths) {
      const int rc = expect(path);
      counts[0] += rc == 0;
      counts[1] += rc == ENOSPC;
    }
    char byte = 0;
    _exit(write(results[1], counts, sizeof counts) == sizeof counts && read(go_on[0], &byte, 1) == 1
              ? 0
              : 1);
  }
  int counts[2] = {-1, -1};
  EXPECT_EQ(read(results[0], counts, sizeof counts), static_cast<ssize_t>(sizeof counts));
  EXPECT_EQ(counts[0], 1024);
  EXPECT_EQ(counts[1], 1) << "a user's 1025th is refused";
  EXPECT_EQ(ErrnoAs(User("member"), [&] { return expect(paths[0]); }), 0) << "another user";
  EXPECT_EQ(write(go_on[1], "x", 1), 1);
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, 0), child);
  for (int fd : {results[0], results[1], go_on[0], go_on[1]}) close(fd);
  int refused = 0;  // this process may set as many as the child could
  for (int i = 0; i < 1024; ++i) refused += expect(paths[i]) != 0;
  EXPECT_EQ(refused, 0) << "the exited process's entries were not dropped";
}

TEST_F(PolicyTest, EachVersionNamesTheUserWhoWroteIt) {
  // The daemon caches user labels by uid: two writers in turn must not share one.
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy));
  Put("dev/SHARED", "from-root");
  EXPECT_EQ(GetXattr(M("dev/SHARED"), "user.secretfs.updated_by"), "user:root");
  ASSERT_EQ(WriteAs(User("member"), M("dev/SHARED"), "from-member"), 0);
  EXPECT_EQ(GetXattr(M("dev/SHARED"), "user.secretfs.updated_by"), "user:sfs_member");
  ASSERT_EQ(WriteAs(User("admin"), M("dev/SHARED"), "from-admin"), 0);
  EXPECT_EQ(GetXattr(M("dev/SHARED"), "user.secretfs.updated_by"), "user:sfs_admin");
  ASSERT_TRUE(WritePath(M("dev/SHARED"), "from-root-again").ok());
  EXPECT_EQ(GetXattr(M("dev/SHARED"), "user.secretfs.updated_by"), "user:root");
  EXPECT_EQ(Get("dev/SHARED"), "from-root-again");
}

// ---- Mount options that cap every role. ----

TEST_F(PolicyTest, RoleOptionCapsEveryRole) {
  Put("prod/DB", "db-v1");
  Put("prod/DB", "db-v2");
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy, "role=reader"));
  const TestUser& owner = User("owner");
  const TestUser& member = User("member");

  const ReadResult read = ReadAs(owner, M("prod/DB"));
  EXPECT_EQ(read.error, 0);
  EXPECT_EQ(read.bytes, "db-v2");
  EXPECT_EQ(WriteAs(owner, M("prod/DB"), "changed"), EACCES);
  EXPECT_EQ(WriteAs(owner, M("prod/NEW"), "new"), EACCES);
  EXPECT_EQ(ReadAs(owner, M("prod/.versions/DB/1")).error, EACCES);
  const std::string made = M("made");
  EXPECT_EQ(ErrnoAs(owner, [made] { return ErrnoOf(mkdir(made.c_str(), 0750)); }), EACCES);
  EXPECT_EQ(Get("prod/DB"), "db-v2");

  // reader capped onto member leaves what both allow: viewer.
  int error = -1;
  EXPECT_THAT(WithoutDotNames(ListAs(member, M("prod"), &error)), ElementsAre("DB"));
  EXPECT_EQ(error, 0);
  EXPECT_EQ(ReadAs(member, M("prod/DB")).error, EACCES);
  EXPECT_EQ(WriteAs(member, M("prod/DB"), "changed"), EACCES);
  EXPECT_EQ(Get("prod/DB"), "db-v2");
}

TEST_F(PolicyTest, ReadOnlyMountRefusesEveryChangeWithErofs) {
  Put("prod/DB", "db-v1");
  Put("prod/DB", "db-v2");
  ASSERT_TRUE(Succeeded(Cli({"workspace", "create", "spare"})));
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(kRolePolicy, "ro"));
  const TestUser& owner = User("owner");
  const std::string m = mnt_;

  const ReadResult read = ReadAs(owner, M("prod/DB"));
  EXPECT_EQ(read.error, 0);
  EXPECT_EQ(read.bytes, "db-v2");
  EXPECT_EQ(ReadAs(owner, M("prod/.versions/DB/1")).bytes, "db-v1");
  EXPECT_EQ(WriteAs(owner, M("prod/DB"), "changed"), EROFS);
  EXPECT_EQ(WriteAs(owner, M("prod/NEW"), "new"), EROFS);
  EXPECT_EQ(ErrnoAs(owner, [m] { return ErrnoOf(unlink((m + "/prod/DB").c_str())); }), EROFS);
  EXPECT_EQ(
      ErrnoAs(owner,
              [m] { return ErrnoOf(rename((m + "/prod/DB").c_str(), (m + "/prod/DB2").c_str())); }),
      EROFS);
  EXPECT_EQ(ErrnoAs(owner,
                    [m] {
                      return ErrnoOf(setxattr((m + "/prod/DB").c_str(), "user.secretfs.description",
                                              "d", 1, 0));
                    }),
            EROFS);
  EXPECT_EQ(ErrnoAs(owner, [m] { return ErrnoOf(mkdir((m + "/made").c_str(), 0750)); }), EROFS);
  EXPECT_EQ(ErrnoAs(owner, [m] { return ErrnoOf(rmdir((m + "/spare").c_str())); }), EROFS);
  // Root, owner by the policy, is refused the same way.
  EXPECT_EQ(FirstError(WritePath(M("prod/DB"), "changed")), EROFS);
  EXPECT_THAT(Versions("prod/DB"), ElementsAre(1, 2));
  EXPECT_EQ(Get("prod/DB"), "db-v2");
}

// ---- Reloading, and no policy file at all. ----

// Deploys that switch a link to a new version of the configuration (Kubernetes' ConfigMaps,
// versioned release directories): a SIGHUP reads the file by the name it was mounted with, not
// the file the link led to at mount time (which went on being read, and reported as reloaded).
TEST_F(PolicyTest, SighupReadsThePolicyByItsNameAfterALinkWasSwitched) {
  Put("prod/DB", "db-value");
  const std::string without_reader = "[*]\nuser:root = owner\n";
  for (const char* version : {"v1", "v2"}) ASSERT_EQ(mkdir(Local(version).c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(Local("v1/policy.ini"), without_reader));
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(
      Local("v2/policy.ini"), without_reader + "[prod]\nuser:sfs_reader = reader\n"));
  ASSERT_EQ(symlink("v1", Local("current").c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(
      Remount("allow_other,entry_timeout=0,attr_timeout=0,policy=" + Local("current/policy.ini")));
  const TestUser& reader = User("reader");
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).error, ENOENT);

  ASSERT_EQ(symlink("v2", Local("next").c_str()), 0);
  ASSERT_EQ(rename(Local("next").c_str(), Local("current").c_str()), 0);
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  EXPECT_EQ(AwaitReadError(reader, M("prod/DB"), 0), 0) << "v2 was not read";
  // The old version removed, as a deploy cleans up: later reloads still read the file.
  ASSERT_TRUE(Succeeded(Shell("rm -r " + Local("v1"))));
  const auto reloads = [&] { return Cli({"audit", "--json", "--op", "policy_reload"}).out; };
  const std::string before = reloads();
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string after = reloads();
  for (; after == before && std::chrono::steady_clock::now() < deadline; after = reloads())
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(after, before) << "no policy_reload event";
  const size_t last_line = after.rfind('\n', after.size() - 2);
  const nlohmann::json last = nlohmann::json::parse(
      after.substr(last_line == std::string::npos ? 0 : last_line + 1), nullptr, false);
  EXPECT_EQ(last.value("result", ""), "ok") << after;
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).bytes, "db-value");
}

TEST_F(PolicyTest, SighupReloadsThePolicyAndKeepsItWhenTheNewFileIsBroken) {
  Put("prod/DB", "db-value");
  const std::string without_reader = "[*]\nuser:root = owner\n";
  const std::string with_reader = without_reader + "[prod]\nuser:sfs_reader = reader\n";
  ASSERT_NO_FATAL_FAILURE(MountWithPolicy(without_reader));
  const TestUser& reader = User("reader");
  const pid_t daemon = DaemonPid(mnt_);
  ASSERT_NE(daemon, 0);
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).error, ENOENT);

  // Granted.
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, with_reader));
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  EXPECT_EQ(AwaitReadError(reader, M("prod/DB"), 0), 0) << "the grant did not take effect";
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).bytes, "db-value");

  // Revoked.
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, without_reader));
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  EXPECT_EQ(AwaitReadError(reader, M("prod/DB"), ENOENT), ENOENT)
      << "the revocation did not take effect";

  // The policy_reload events that report a failure (`secretfs audit --json`: "result" is "ok"
  // or the errno's name).
  const auto failed_reloads = [&] {
    const ProcessResult r = Cli({"audit", "--json", "--op", "policy_reload"});
    EXPECT_TRUE(Succeeded(r));
    int failed = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
      if (!e.is_discarded() && e.value("op", "") == "policy_reload" &&
          e.value("result", "ok") != "ok")
        ++failed;
    }
    return failed;
  };
  const int failed_before = failed_reloads();

  // A broken file that would grant the reader: rejected as a whole, the revocation stays.
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, with_reader + "[prod\nthis is not ini\n"));
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (failed_reloads() == failed_before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(failed_reloads(), failed_before + 1) << "no policy_reload event with a failure";
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).error, ENOENT);

  // Granted again; then a broken file without the grant: the grant stays.
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, with_reader));
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  EXPECT_EQ(AwaitReadError(reader, M("prod/DB"), 0), 0);
  ASSERT_NO_FATAL_FAILURE(
      WriteFileAtomically(policy_, without_reader + "this line has no equals sign\n"));
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  const auto deadline2 = std::chrono::steady_clock::now() + 5s;
  while (failed_reloads() == failed_before + 1 && std::chrono::steady_clock::now() < deadline2)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(failed_reloads(), failed_before + 2);
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).error, 0);

  // A well-formed file every user may write (anyone could have written it): rejected too.
  ASSERT_NO_FATAL_FAILURE(WriteFileAtomically(policy_, without_reader));
  ASSERT_EQ(chmod(policy_.c_str(), 0666), 0);
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  const auto deadline3 = std::chrono::steady_clock::now() + 5s;
  while (failed_reloads() == failed_before + 2 && std::chrono::steady_clock::now() < deadline3)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(failed_reloads(), failed_before + 3) << "a world-writable policy was not refused";
  EXPECT_EQ(ReadAs(reader, M("prod/DB")).error, 0);
  EXPECT_EQ(DaemonPid(mnt_), daemon) << "SIGHUP must not stop or restart the daemon";
}

TEST_F(PolicyTest, WithoutAPolicyFileOnlyTheMountingUserAndRootAreOwners) {
  Put("prod/DB", "db-v1");
  Put("prod/DB", "db-v2");
  ASSERT_NO_FATAL_FAILURE(Remount("allow_other,entry_timeout=0,attr_timeout=0"));

  // Root mounted it: owner.
  EXPECT_EQ(ReadPath(M("prod/DB")).bytes, "db-v2");
  EXPECT_EQ(ReadPath(M("prod/.versions/DB/1")).bytes, "db-v1");
  EXPECT_EQ(ErrnoOf(mkdir(M("made").c_str(), 0750)), 0);
  EXPECT_TRUE(WritePath(M("prod/ROOT_WROTE"), "x").ok());

  // Anyone else: nothing, even with allow_other.
  for (const char* role : {"owner", "reader", "none"}) {
    const TestUser& user = User(role);
    int error = -1;
    EXPECT_THAT(ListAs(user, mnt_, &error), IsEmpty()) << user.name;
    EXPECT_EQ(error, 0);
    EXPECT_EQ(ReadAs(user, M("prod/DB")).error, ENOENT) << user.name;
    EXPECT_EQ(WriteAs(user, M("prod/NEW"), "x"), ENOENT) << user.name;
    const ProcessResult cat = ProgramAs(user, {"cat", M("prod/DB")});
    EXPECT_TRUE(FailedCleanly(cat));
    EXPECT_THAT(cat.err, HasSubstr("No such file or directory"));
  }
}

// ---- A container: the decision follows the real uid outside it. ----

TEST_F(PolicyTest, ContainerRootIsStillTheUserOutsideTheContainer) {
  Put("prod/DATABASE_URL", "postgres://db");
  ASSERT_NO_FATAL_FAILURE(
      MountWithPolicy("[*]\nuser:root = owner\n[prod]\nuser:sfs_reader = reader\n"));
  // bubblewrap as an unprivileged user: a new user namespace in which the user is uid 0, the
  // workspace bind-mounted where the application expects it.
  const auto container = [&](const TestUser& user, const std::string& source,
                             const std::string& script) {
    return ProgramAs(
        user, {"bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--ro-bind", "/", "/",
               "--tmpfs", "/run", "--bind", source, "/run/secrets", "--", "/bin/sh", "-c", script});
  };
  const ProcessResult probe = container(User("reader"), Local("."), "id -u");
  ASSERT_TRUE(Succeeded(probe)) << "bubblewrap does not work for unprivileged users here";
  ASSERT_EQ(probe.out, "0\n");

  const ProcessResult reader =
      container(User("reader"), M("prod"), "cat /run/secrets/DATABASE_URL");
  EXPECT_TRUE(Succeeded(reader));
  EXPECT_EQ(reader.out, "postgres://db");

  // The user with no role is root inside, and still sees nothing: not the workspace...
  const ProcessResult none =
      container(User("none"), mnt_, "id -u; ls /run/secrets; cat /run/secrets/prod/DATABASE_URL");
  EXPECT_TRUE(FailedCleanly(none));
  EXPECT_EQ(none.out, "0\n");
  EXPECT_THAT(none.err, HasSubstr("No such file or directory"));
  EXPECT_THAT(none.out, Not(HasSubstr("postgres")));
  // ...so it cannot even bind it.
  const ProcessResult bind = container(User("none"), M("prod"), "cat /run/secrets/DATABASE_URL");
  EXPECT_TRUE(FailedCleanly(bind));
  EXPECT_EQ(bind.out, "");
}

}  // namespace
}  // namespace secretfs::testing
