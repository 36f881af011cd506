// workspace create | list | set | delete, ls, backup and verify.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace secretfs::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class StoreCommandsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  }

  std::vector<std::string> WorkspaceNames() {
    const ProcessResult r = Run({"workspace", "list", "--json"});
    EXPECT_TRUE(Succeeded(r));
    std::vector<std::string> names;
    if (!Succeeded(r)) return names;
    for (const auto& w : nlohmann::json::parse(r.out)) names.push_back(w.at("name"));
    return names;
  }

  // The human UPDATED column of `ls` for W/K: its JSON time, to the second.
  std::string UpdatedColumn(const std::string& workspace, const std::string& key) {
    const ProcessResult r = Run({"ls", workspace, "--json", "--filter", key});
    EXPECT_TRUE(Succeeded(r));
    const std::string t = nlohmann::json::parse(r.out).at(0).at("updated");
    return t.substr(0, 19) + "Z";
  }
};

// Whoever may write in the store's directory can put a symlink in place of lock.mdb or data.mdb,
// and LMDB follows it: root's next command overwrote the file it pointed to. A directory others
// may write to, and store files that are not regular files, are refused with what to do.
TEST_F(StoreCommandsTest, AStoreDirectoryOthersMayWriteToIsRefused) {
  ASSERT_EQ(chmod(store_.c_str(), 0777), 0);
  const ProcessResult r = Run({"ls"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, ::testing::HasSubstr("writable by others"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("chmod go-w " + store_));
  ASSERT_EQ(chmod(store_.c_str(), 0770), 0);
  EXPECT_THAT(Run({"ls"}).err, ::testing::HasSubstr("writable by its group"));
  ASSERT_EQ(chmod(store_.c_str(), 0700), 0);
  EXPECT_TRUE(Succeeded(Run({"ls"})));
}

// A `chmod -R 755` of the store: data.mdb readable by every user hands them its key slots to
// guess passphrases against offline; lock.mdb writable by them lets them stop every writer. As
// ssh with a private key, the store is refused until its files are its owner's again.
TEST_F(StoreCommandsTest, StoreFilesOthersMayReadOrWriteAreRefused) {
  const std::string data = store_ + "/data.mdb", lock = store_ + "/lock.mdb";
  const std::string before = ReadFileBytes(data);
  struct Case {
    std::string path;
    mode_t mode;
    std::string said;
  };
  for (const Case& c : {Case{data, 0644, data + " can be read by others (mode 0644)"},
                        Case{data, 0640, data + " can be read by its group (mode 0640)"},
                        Case{lock, 0660, lock + " can be written by its group (mode 0660)"},
                        Case{lock, 0606, lock + " can be written by others (mode 0606)"}}) {
    ASSERT_EQ(chmod(c.path.c_str(), c.mode), 0);
    for (const std::vector<std::string>& command :
         std::vector<std::vector<std::string>>{{"ls"}, {"put", "prod/NEW"}}) {
      const ProcessResult r = RunWithInput(command, "v");
      EXPECT_TRUE(FailedWithOneLine(r)) << c.said;
      EXPECT_THAT(r.err, ::testing::HasSubstr(c.said + ": it holds "));
      EXPECT_THAT(r.err, ::testing::HasSubstr("chmod 600 " + c.path));
    }
    ASSERT_EQ(chmod(c.path.c_str(), 0600), 0);
  }
  EXPECT_TRUE(ReadFileBytes(data) == before) << "a refused command changed the store";
  EXPECT_TRUE(Succeeded(Run({"ls"})));
  EXPECT_FALSE(Succeeded(Run({"get", "prod/NEW"}))) << "a refused put stored its value";
}

TEST_F(StoreCommandsTest, AStoreAnotherUserOwnsIsRefused) {
  // uid 4321 has no name here; whoever it is could chmod the files back and read them, or put an
  // older copy of the store in place of this one.
  const std::string data = store_ + "/data.mdb", lock = store_ + "/lock.mdb";
  const std::string before = ReadFileBytes(data);
  for (const std::string& path : {store_, data, lock}) {
    ASSERT_EQ(chown(path.c_str(), 4321, static_cast<gid_t>(-1)), 0);
    const std::string named = path == store_ ? "the store directory " + store_ : path;
    for (const std::vector<std::string>& command :
         std::vector<std::vector<std::string>>{{"ls"}, {"put", "prod/NEW"}}) {
      const ProcessResult r = RunWithInput(command, "v");
      EXPECT_TRUE(FailedWithOneLine(r)) << named;
      EXPECT_THAT(r.err, ::testing::HasSubstr(named + " belongs to uid:4321, who could read or "
                                                      "replace the store's files"));
      EXPECT_THAT(r.err, ::testing::HasSubstr("chown -R root " + store_));
    }
    ASSERT_EQ(chown(path.c_str(), 0, static_cast<gid_t>(-1)), 0);
  }
  EXPECT_TRUE(ReadFileBytes(data) == before) << "a refused command changed the store";
  EXPECT_TRUE(Succeeded(Run({"ls"})));
  EXPECT_FALSE(Succeeded(Run({"get", "prod/NEW"}))) << "a refused put stored its value";
}

TEST_F(StoreCommandsTest, AStoreFileReplacedByASymlinkIsRefusedAndItsTargetUntouched) {
  const std::string victim = Path("victim");
  WriteFileBytes(victim, "root-only contents");
  const std::string lock = store_ + "/lock.mdb";
  ASSERT_EQ(rename(lock.c_str(), Path("lock.saved").c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), lock.c_str()), 0);
  const ProcessResult r = Run({"ls"});
  EXPECT_TRUE(FailedWithOneLine(r));
  EXPECT_THAT(r.err, ::testing::HasSubstr(lock + " is not a regular file"));
  EXPECT_EQ(ReadFileBytes(victim), "root-only contents");
}

TEST_F(StoreCommandsTest, WorkspaceListJson) {
  ASSERT_TRUE(Succeeded(Run({"workspace", "create", "runtime", "--naming", "env"})));
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("dev"));
  Put("prod/A", "1");
  Put("prod/B", "2");
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/B"})));
  const ProcessResult r = Run({"workspace", "list", "--json"});
  ASSERT_TRUE(Succeeded(r));
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc.size(), 3u) << r.out;
  EXPECT_EQ(doc[0].at("name"), "dev");
  EXPECT_EQ(doc[1].at("name"), "prod");
  EXPECT_EQ(doc[2].at("name"), "runtime");
  EXPECT_EQ(doc[1].at("naming"), "default");
  EXPECT_EQ(doc[2].at("naming"), "env");
  EXPECT_EQ(doc[1].at("secrets"), 1);
  EXPECT_EQ(doc[1].at("deleted_secrets"), 1);
  EXPECT_EQ(doc[0].at("secrets"), 0);
}

// A workspace that keeps the last N versions: `workspace set` erases the older ones at once, and
// each new version erases the one that falls out; 0 keeps every version again.
TEST_F(StoreCommandsTest, WorkspaceSetKeepVersions) {
  for (const char* v : {"1", "2", "3", "4"}) Put("prod/K", v);
  ProcessResult r = Run({"workspace", "set", "prod", "--keep-versions", "2"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out,
            "workspace prod keeps the last 2 versions of each secret; 2 older versions "
            "erased\n");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(3, 4));
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K", "--version", "2"})));
  Put("prod/K", "5");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(4, 5));
  EXPECT_TRUE(FailedWithOneLine(Run({"rollback", "prod/K", "3"})));

  r = Run({"workspace", "list", "--json"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(nlohmann::json::parse(r.out).at(0).at("keep_versions"), 2);
  EXPECT_THAT(Run({"workspace", "list"}).out, ::testing::HasSubstr("last 2"));
  const ProcessResult audit = Run({"audit", "--op", "workspace set"});
  EXPECT_THAT(audit.out, ::testing::HasSubstr("keep_versions=2")) << Describe(audit);

  r = Run({"workspace", "set", "prod", "--keep-versions", "0"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out, "workspace prod keeps every version of each secret\n");
  Put("prod/K", "6");
  Put("prod/K", "7");
  EXPECT_THAT(Versions("prod/K"), ElementsAre(4, 5, 6, 7));

  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"workspace", "set", "prod", "--keep-versions", "-1"},
        {"workspace", "set", "prod", "--keep-versions", "1000001"},
        {"workspace", "set", "prod", "--keep-versions", "two"},
        {"workspace", "set", "prod"},
        {"workspace", "set", "Prod", "--keep-versions", "1"}})
    EXPECT_TRUE(FailedWithUsage(Run(bad))) << bad.back();
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "set", "nope", "--keep-versions", "1"})));
  EXPECT_THAT(Versions("prod/K"), ElementsAre(4, 5, 6, 7)) << "nothing was erased";
}

// A workspace created with a limit never holds more versions of a secret than it.
TEST_F(StoreCommandsTest, WorkspaceCreateKeepVersions) {
  ProcessResult r = Run({"workspace", "create", "ci", "--keep-versions", "2"});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_EQ(r.out,
            "created workspace ci (naming default; keeps the last 2 versions of each secret)\n");
  for (const char* v : {"1", "2", "3"}) Put("ci/K", v);
  EXPECT_THAT(Versions("ci/K"), ElementsAre(2, 3));
  r = Run({"workspace", "list", "--json"});
  ASSERT_TRUE(Succeeded(r));
  for (const auto& w : nlohmann::json::parse(r.out))
    EXPECT_EQ(w.at("keep_versions"), w.at("name") == "ci" ? 2 : 0) << w.at("name");
  const ProcessResult audit = Run({"audit", "--op", "workspace create", "--workspace", "ci"});
  EXPECT_THAT(audit.out, ::testing::HasSubstr("keep_versions=2")) << Describe(audit);

  for (const char* bad : {"-1", "1000001", "two"})
    EXPECT_TRUE(FailedWithUsage(Run({"workspace", "create", "ops", "--keep-versions", bad})))
        << bad;
  EXPECT_THAT(WorkspaceNames(), ElementsAre("ci", "prod")) << "no workspace made by a bad value";
}

TEST_F(StoreCommandsTest, InvalidWorkspaceNamesAreRefused) {
  const std::vector<std::string> invalid = {"Prod",  "PROD",  "-prod", "_prod",
                                            "pro.d", "pro/d", "",      std::string(64, 'w')};
  for (const std::string& name : invalid)
    EXPECT_TRUE(Refused(Run({"workspace", "create", name}))) << "'" << name << "'";
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "create", "prod"}))) << "already exists";
  EXPECT_THAT(WorkspaceNames(), ElementsAre("prod"));
  const std::string longest(63, 'w');
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace(longest));
  EXPECT_THAT(WorkspaceNames(), ElementsAre("prod", longest));
}

TEST_F(StoreCommandsTest, DeletingAWorkspace) {
  Put("prod/K", "one");
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "delete", "prod"})));
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "delete", "prod", "--purge"})))
      << "--purge without --yes and without a terminal";
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "delete", "nope"})));
  EXPECT_THAT(WorkspaceNames(), ElementsAre("prod"));
  EXPECT_EQ(Get("prod/K"), "one");

  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("empty"));
  ProcessResult r = Run({"workspace", "delete", "empty"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "deleted workspace empty\n");

  r = Run({"workspace", "delete", "prod", "--purge", "--yes"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "purged workspace prod\n");
  EXPECT_THAT(WorkspaceNames(), IsEmpty());
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"})));
  // A new workspace of the same name starts empty.
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  EXPECT_THAT(Keys("prod"), IsEmpty());
  EXPECT_THAT(Keys("prod", /*deleted=*/true), IsEmpty());
  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K", "--version", "1"})));
}

TEST_F(StoreCommandsTest, PurgeIsConfirmedByTypingTheNameOnTheTerminal) {
  Put("prod/K", "one");
  ProcessOptions wrong;
  wrong.terminal = std::vector<TerminalStep>{{"to confirm: ", "dev\n", false}};
  EXPECT_TRUE(FailedWithOneLine(Run({"workspace", "delete", "prod", "--purge"}, wrong)));
  EXPECT_EQ(Get("prod/K"), "one");
  ProcessOptions right;
  right.terminal = std::vector<TerminalStep>{{"to confirm: ", "prod\n", false}};
  const ProcessResult r = Run({"workspace", "delete", "prod", "--purge"}, right);
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "purged workspace prod\n");
  EXPECT_THAT(WorkspaceNames(), IsEmpty());
}

TEST_F(StoreCommandsTest, LsTableAndJson) {
  Put("prod/API_KEY", "0123456789a", {"--description", "payments", "--type", "api-token"});
  Put("prod/DB_URL", "postgres://db");
  const std::string t1 = UpdatedColumn("prod", "API_KEY");
  const std::string t2 = UpdatedColumn("prod", "DB_URL");
  ProcessResult r = Run({"ls", "prod"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out,
            "KEY      VERSION  SIZE  UPDATED               TYPE       DESCRIPTION\n"
            "API_KEY  1        11 B  " +
                t1 +
                "  api-token  payments\n"
                "DB_URL   1        13 B  " +
                t2 + "\n");
  r = Run({"ls"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out,
            "SECRET        VERSION  SIZE  UPDATED               TYPE       DESCRIPTION\n"
            "prod/API_KEY  1        11 B  " +
                t1 +
                "  api-token  payments\n"
                "prod/DB_URL   1        13 B  " +
                t2 + "\n");

  r = Run({"ls", "prod", "--json"});
  ASSERT_TRUE(Succeeded(r));
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0].at("key"), "API_KEY");
  EXPECT_EQ(doc[0].at("size"), 11);
  EXPECT_EQ(doc[0].at("type"), "api-token");
  EXPECT_EQ(doc[0].at("description"), "payments");
  EXPECT_EQ(doc[1].at("key"), "DB_URL");
  EXPECT_EQ(doc[1].at("version"), 1);
}

// Tag values may not hold control characters; a description that does must not forge rows of the
// human `ls` table or send escape sequences to the operator's terminal.
TEST_F(StoreCommandsTest, DescriptionCannotForgeLsRows) {
  const std::string forged = "payments\nFAKE     1        1 B   2020-01-01T00:00:00Z\x1b[2J";
  const ProcessResult put = RunWithInput({"put", "prod/K", "--description", forged}, "v");
  if (put.exit_code != 0) {
    EXPECT_TRUE(Refused(put));
    EXPECT_THAT(Keys("prod"), IsEmpty());
    return;
  }
  const ProcessResult r = Run({"ls", "prod"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(Lines(r.out).size(), 2u) << "the description forged a row";
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "a raw escape sequence reached the terminal";
}

// Descriptions, tag values and key slot labels are printed and put in JSON: bytes that are not
// UTF-8 made every --json listing fail, and C1 controls (U+0080..U+009F) reached the terminal.
TEST_F(StoreCommandsTest, TextThatIsNotPrintableUtf8IsRefusedWhereItIsStored) {
  for (const std::string& bad : {std::string("caf\xe9"),
                                 std::string("\xc2\x9b"
                                             "2J"),
                                 std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    EXPECT_TRUE(Refused(RunWithInput({"put", "prod/K", "--description", bad}, "v"))) << bad;
    EXPECT_TRUE(Refused(RunWithInput({"put", "prod/K", "--tag", "t=" + bad}, "v"))) << bad;
    EXPECT_TRUE(
        FailedWithUsage(Run({"keyring", "add", "--new-key", "file:" + key_file_, "--label", bad})))
        << bad;
  }
  EXPECT_THAT(Keys("prod"), IsEmpty());
  // init's label is the first slot's, which keyring list prints as keyring add's.
  const std::string other = Path("other-store");
  for (const std::string& bad :
       {std::string("bad\nlabel"), std::string("\x1b[2J"), std::string("caf\xe9"),
        std::string("\xc2\x9b"
                    "2J")}) {
    const ProcessResult r =
        RunRaw({"-s", other, "-k", "file:" + key_file_, "init", "--label", bad});
    EXPECT_TRUE(FailedWithUsage(r)) << Describe(r) << " " << bad;
    EXPECT_FALSE(std::filesystem::exists(other)) << bad;
  }
  EXPECT_TRUE(
      Succeeded(RunRaw({"-s", other, "-k", "file:" + key_file_, "init", "--label", "café ☕ 𝄞"})));
  Put("prod/K", "v", {"--description", "café ☕ 𝄞", "--tag", "owner=zoë"});
  const ProcessResult ls = Run({"ls", "prod", "--json"});
  ASSERT_TRUE(Succeeded(ls));
  EXPECT_EQ(nlohmann::json::parse(ls.out)[0].at("description"), "café ☕ 𝄞");
  EXPECT_TRUE(Succeeded(Run({"keyring", "list", "--json"})));
}

// `--tag a=1 --tag a=2` kept a=2 without a word: which value was meant is the caller's to say.
TEST_F(StoreCommandsTest, ATagGivenTwiceIsRefused) {
  const ProcessResult twice = RunWithInput({"put", "prod/K", "--tag", "a=1", "--tag", "a=2"}, "v");
  EXPECT_TRUE(FailedWithUsage(twice)) << Describe(twice);
  EXPECT_THAT(twice.err, ::testing::HasSubstr("--tag a is given twice"));
  EXPECT_THAT(Keys("prod"), IsEmpty());
}

// A slip of the year (2099 for 2009) removed the whole audit log.
TEST_F(StoreCommandsTest, AuditPruneBeforeATimeToComeIsRefused) {
  const ProcessResult r = Run({"audit", "prune", "--before", "2099-01-01T00:00:00Z"});
  EXPECT_TRUE(FailedWithUsage(r)) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("in the future"));
  const ProcessResult verify = Run({"audit", "verify"});
  ASSERT_TRUE(Succeeded(verify));
  EXPECT_THAT(verify.out, ::testing::HasSubstr("(seq 1.."));
}

TEST_F(StoreCommandsTest, LsFiltersAndDeleted) {
  for (const char* key : {"API_KEY", "DB_PASS", "DB_URL", "db_url_backup", "TOKEN"})
    Put(std::string("prod/") + key, "v");
  EXPECT_THAT(Keys("prod", false, "DB"), ElementsAre("DB_PASS", "DB_URL"));
  EXPECT_THAT(Keys("prod", false, "*_KEY"), ElementsAre("API_KEY"));
  EXPECT_THAT(Keys("prod", false, "DB_?RL"), ElementsAre("DB_URL"));
  EXPECT_THAT(Keys("prod", false, "[AT]*"), ElementsAre("API_KEY", "TOKEN"));
  EXPECT_THAT(Keys("prod", false, "nothing"), IsEmpty());
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/DB_PASS"})));
  EXPECT_THAT(Keys("prod", false, "DB"), ElementsAre("DB_URL"));
  EXPECT_THAT(Keys("prod", true), ElementsAre("DB_PASS"));
  EXPECT_THAT(Keys("prod", true, "TOKEN"), IsEmpty());
  EXPECT_TRUE(Refused(Run({"ls", "Prod"})));
}

TEST_F(StoreCommandsTest, BackupOpensWithTheSameKeyAndTheSameValues) {
  Put("prod/K", "one-4f9c");
  Put("prod/K", "two-7b2e");
  Put("prod/BLOB", AllByteValues(2));
  ASSERT_TRUE(Succeeded(Run({"rm", "prod/BLOB"})));
  const std::string dest = Path("backup");
  ProcessResult r = Run({"backup", dest});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "backed up " + store_ + " to " + dest + " (opens with the same keys)\n");

  const std::vector<std::string> on_dest = {"-s", dest, "-k", "file:" + key_file_};
  auto get = [&](std::vector<std::string> args) {
    args.insert(args.begin(), on_dest.begin(), on_dest.end());
    return RunRaw(args);
  };
  EXPECT_EQ(get({"get", "prod/K"}).out, "two-7b2e");
  EXPECT_EQ(get({"get", "prod/K", "--version", "1"}).out, "one-4f9c");
  EXPECT_EQ(get({"get", "prod/BLOB", "--version", "1"}).out, AllByteValues(2));
  EXPECT_TRUE(FailedWithOneLine(get({"get", "prod/BLOB"}))) << "still deleted in the backup";
  EXPECT_TRUE(Succeeded(get({"verify"})));
  const std::string all = AllFileBytesUnder(dest);
  for (const char* plain : {"one-4f9c", "two-7b2e"}) EXPECT_EQ(all.find(plain), std::string::npos);

  // The backup is a store of its own: writing it leaves the original alone.
  ProcessOptions input;
  input.stdin_bytes = "three";
  std::vector<std::string> put = on_dest;
  put.insert(put.end(), {"put", "prod/K"});
  ASSERT_TRUE(Succeeded(RunRaw(put, input)));
  EXPECT_EQ(Get("prod/K"), "two-7b2e");
}

TEST_F(StoreCommandsTest, BackupOverAnExistingStoreIsRefused) {
  Put("prod/K", "original");
  const std::string dest = Path("backup");
  ASSERT_TRUE(Succeeded(Run({"backup", dest})));
  Put("prod/K", "changed");
  const std::string before = ReadFileBytes(dest + "/data.mdb");
  EXPECT_TRUE(FailedWithOneLine(Run({"backup", dest})));
  EXPECT_TRUE(FailedWithOneLine(Run({"backup", store_})));
  EXPECT_TRUE(ReadFileBytes(dest + "/data.mdb") == before) << "the existing store was changed";
  const ProcessResult r = RunRaw({"-s", dest, "-k", "file:" + key_file_, "get", "prod/K"});
  EXPECT_EQ(r.out, "original");

  // A data.mdb that is a dangling symlink is an entry all the same: refused by name, and the
  // refusal removes nothing it did not make (it removed the entry LMDB would not overwrite).
  const std::string other = Path("other-backup");
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
  ASSERT_EQ(symlink(Path("nowhere").c_str(), (other + "/data.mdb").c_str()), 0);
  const ProcessResult refused = Run({"backup", other});
  EXPECT_TRUE(FailedWithOneLine(refused));
  EXPECT_THAT(refused.err, ::testing::HasSubstr("already holds a store"));
  struct stat st {};
  EXPECT_EQ(lstat((other + "/data.mdb").c_str(), &st), 0) << "the entry was removed";
  EXPECT_FALSE(std::filesystem::exists(Path("nowhere")));
}

// Whatever the operator's umask, the store is readable by its owner only.
TEST_F(StoreCommandsTest, StoreAndBackupFilesAreOwnerOnly) {
  namespace fs = std::filesystem;
  const std::string store = Path("loose-umask");
  const mode_t saved = umask(0);
  const ProcessResult init = RunRaw({"-s", store, "-k", "file:" + key_file_, "init"});
  const ProcessResult backup = Run({"backup", Path("loose-backup")});
  umask(saved);
  ASSERT_TRUE(Succeeded(init));
  ASSERT_TRUE(Succeeded(backup));
  for (const std::string& dir : {store, Path("loose-backup")}) {
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all) << dir;
    for (const auto& entry : fs::directory_iterator(dir))
      EXPECT_EQ(entry.status().permissions() & (fs::perms::group_all | fs::perms::others_all),
                fs::perms::none)
          << entry.path();
  }
}

// A backup into a directory the operator made is owner-only from its first byte: LMDB creates
// the copy 0666 less the umask, and another user who opened it while it was written would keep
// a descriptor to its key slots after the copy's mode was tightened.
TEST_F(StoreCommandsTest, ABackupIsOwnerOnlyWhileItIsWritten) {
  for (int i = 0; i < 16; ++i)  // 16 MiB: the copy takes a while
    ASSERT_NO_FATAL_FAILURE(Put("prod/BIG" + std::to_string(i), RandomBytes(1 << 20)));
  const std::string dest = Path("made-by-operator");
  ASSERT_EQ(mkdir(dest.c_str(), 0755), 0);
  const std::string file = dest + "/data.mdb";
  std::atomic<bool> done{false};
  std::set<mode_t> modes;
  std::thread watcher([&] {
    struct stat st {};
    while (!done)
      if (stat(file.c_str(), &st) == 0) modes.insert(st.st_mode & 07777);
  });
  const mode_t saved = umask(0);
  const ProcessResult r = Run({"backup", dest});
  umask(saved);
  done = true;
  watcher.join();
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(modes, ::testing::ElementsAre(0600));
}

// Whoever else may write in DEST can swap a symlink in for data.mdb while the copy is made, and
// root's chmod by name then followed it to any file; one who owns DEST can read the copy.
TEST_F(StoreCommandsTest, BackupIntoADirectoryOthersMayWriteIsRefused) {
  Put("prod/K", "value");
  for (const mode_t mode : {0777, 01777, 0770, 0720}) {
    const std::string dest = Path("shared-" + std::to_string(mode));
    ASSERT_EQ(mkdir(dest.c_str(), 0700), 0);
    ASSERT_EQ(chmod(dest.c_str(), mode), 0);
    const ProcessResult r = Run({"backup", dest});
    EXPECT_TRUE(FailedWithOneLine(r)) << dest;
    EXPECT_THAT(r.err, ::testing::HasSubstr("the backup directory " + dest + " is writable by"));
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dest + "/data.mdb")));
  }
  if (geteuid() == 0) {  // one that belongs to another user
    const std::string dest = Path("theirs");
    ASSERT_EQ(mkdir(dest.c_str(), 0700), 0);
    ASSERT_EQ(chown(dest.c_str(), 65534, 65534), 0);
    const ProcessResult r = Run({"backup", dest});
    EXPECT_TRUE(FailedWithOneLine(r));
    EXPECT_THAT(r.err, ::testing::HasSubstr("the backup directory " + dest + " belongs to"));
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dest + "/data.mdb")));
  }
  // A refused backup copied nothing, so it is no backup event; the two below are.
  const auto backup_events = [&] {
    const ProcessResult events = Run({"audit", "--op", "backup", "--json"});
    EXPECT_EQ(events.exit_code, 0) << Describe(events);
    return std::count(events.out.begin(), events.out.end(), '\n');
  };
  EXPECT_EQ(backup_events(), 0);
  // A fresh one, and one of the operator's that only they may write, take the copy, 0600.
  ASSERT_EQ(mkdir(Path("mine").c_str(), 0755), 0);
  for (const std::string& dest : {Path("fresh"), Path("mine")}) {
    ASSERT_TRUE(Succeeded(Run({"backup", dest}))) << dest;
    struct stat st {};
    ASSERT_EQ(lstat((dest + "/data.mdb").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u) << dest;
  }
  EXPECT_EQ(backup_events(), 2);
}

// The directories init and backup make above the store or DEST are 0755 less the umask, and
// never writable by others: create_directories made them 0777 under `umask 000`.
TEST_F(StoreCommandsTest, ParentDirectoriesMadeUnderUmaskZeroAreNotWritableByOthers) {
  const mode_t saved = umask(0);
  const ProcessResult init = RunRaw({"-s", Path("i1/i2/store"), "-k", "file:" + key_file_, "init"});
  const ProcessResult backup = Run({"backup", Path("b1/b2/backup/")});
  umask(saved);
  ASSERT_TRUE(Succeeded(init));
  ASSERT_TRUE(Succeeded(backup));
  for (const char* dir : {"i1", "i1/i2", "b1", "b1/b2"}) {
    struct stat st {};
    ASSERT_EQ(stat(Path(dir).c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0755u) << dir;
  }
  for (const char* dir : {"i1/i2/store", "b1/b2/backup"}) {
    struct stat st {};
    ASSERT_EQ(stat(Path(dir).c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  }
  EXPECT_TRUE(Succeeded(RunRaw({"-s", Path("b1/b2/backup"), "-k", "file:" + key_file_, "verify"})));
}

TEST_F(StoreCommandsTest, InitInAnExistingEmptyDirectory) {
  const std::string dir = Path("made-by-operator");
  std::filesystem::create_directory(dir);
  const ProcessResult r = RunRaw({"-s", dir, "-k", "file:" + key_file_, "init"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_TRUE(Succeeded(RunRaw({"-s", dir, "-k", "file:" + key_file_, "verify"})));
}

// Two operators (or a provisioning script run twice) initialising one directory at once: one
// makes the store and the other is told it exists. Each found no store and both wrote one: the
// second overwrote the first's key slot after the first had said "created", and the store opened
// with neither key's audit key.
TEST_F(StoreCommandsTest, TwoInitsAtOnceMakeOneStoreThatTheWinnersKeyOpens) {
  const std::string other_key = Path("other.key");
  WriteKeyFile(other_key, RandomBytes(32));
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string dir = Path("race-" + std::to_string(round));
    ProcessResult b;
    std::thread second([&] { b = RunRaw({"-s", dir, "-k", "file:" + other_key, "init"}); });
    const ProcessResult a = RunRaw({"-s", dir, "-k", "file:" + key_file_, "init"});
    second.join();
    ASSERT_NE(a.exit_code == 0, b.exit_code == 0)
        << "first: " << Describe(a) << " " << a.err << "; second: " << Describe(b) << " " << b.err;
    const bool first_won = a.exit_code == 0;
    const ProcessResult& lost = first_won ? b : a;
    EXPECT_TRUE(FailedWithOneLine(lost)) << lost.err;
    EXPECT_THAT(lost.err, ::testing::HasSubstr("a store already exists at " + dir));
    const std::string winner = "file:" + (first_won ? key_file_ : other_key);
    const std::string loser = "file:" + (first_won ? other_key : key_file_);
    const ProcessResult opened = RunRaw({"-s", dir, "-k", winner, "audit", "verify"});
    EXPECT_TRUE(opened.exit_code == 0) << opened.err;
    const ProcessResult refused = RunRaw({"-s", dir, "-k", loser, "verify"});
    EXPECT_THAT(refused.err, ::testing::HasSubstr("wrong key"));
  }
}

// An init killed before LMDB wrote a page leaves an empty data file: every command says what it
// is and what to do, and none writes into it (LMDB would start it as a new environment).
TEST_F(StoreCommandsTest, AnEmptyDataFileLeftByAnUnfinishedInitIsNamed) {
  const std::string dir = Path("half-made");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string data = dir + "/data.mdb";
  WriteFileBytes(data, "");
  ASSERT_EQ(chmod(data.c_str(), 0600), 0);
  const std::string key = "file:" + key_file_;
  const std::string what =
      "its data file is empty: an init still running, or one that did not "
      "finish; if none runs, remove " +
      data + " and run init again";
  ProcessResult r = RunRaw({"-s", dir, "-k", key, "init"});
  EXPECT_TRUE(FailedWithOneLine(r)) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr("a store already exists at " + dir + " (" + what + ")"));
  const std::string mountpoint = Path("mnt");
  ASSERT_EQ(mkdir(mountpoint.c_str(), 0755), 0);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"ls"}, {"verify"}, {"mount", mountpoint}}) {
    std::vector<std::string> args = {"-s", dir, "-k", key};
    args.insert(args.end(), command.begin(), command.end());
    r = RunRaw(args);
    EXPECT_TRUE(FailedWithOneLine(r)) << command.front() << ": " << r.err;
    EXPECT_THAT(r.err,
                ::testing::HasSubstr("the store at " + dir + " is not initialised (" + what + ")"));
  }
  EXPECT_EQ(ReadFileBytes(data), "") << "a command wrote into the unfinished store";
  ASSERT_EQ(unlink(data.c_str()), 0);
  EXPECT_TRUE(Succeeded(RunRaw({"-s", dir, "-k", key, "init"})));
}

TEST_F(StoreCommandsTest, WorkspaceWhoseSecretsWereDestroyedCanBeDeleted) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  ASSERT_TRUE(Succeeded(Run({"destroy", "prod/K"})));
  const ProcessResult r = Run({"workspace", "delete", "prod"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "deleted workspace prod\n");
  EXPECT_THAT(WorkspaceNames(), IsEmpty());
}

TEST_F(StoreCommandsTest, VerifyOfAGoodStore) {
  Put("prod/K", "one");
  Put("prod/K", "two");
  Put("prod/L", "three");
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("dev"));
  const ProcessResult r = Run({"verify"});
  ASSERT_TRUE(Succeeded(r));
  EXPECT_EQ(r.out, "2 workspace(s), 2 secret(s), 3 version(s) open; 0 problem(s)\n");
}

}  // namespace
}  // namespace secretfs::testing
