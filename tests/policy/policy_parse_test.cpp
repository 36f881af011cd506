// The policy file: what is accepted, what is refused with which file and line, and what inih
// alone would get wrong (':' in subjects, long lines, long section names, continuation lines).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tests/policy/policy_test_util.h"

namespace secretfs::policy::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

Role RoleOn(const Policy& p, const CallerFacts& c, const std::string& w, const std::string& k) {
  return p.Decide(c, w, k, {}).role;
}

TEST(PolicyParseTest, TheSpecExampleParses) {
  auto p = MustParse(R"(
[*]
user:root = owner
[prod]
group:root  = admin
user:daemon = member
uid:1001    = reader
user:bin    = reader DATABASE_URL API_*
exe:/usr/sbin/nginx = reader TLS_*
)");
  EXPECT_TRUE(p->warnings().empty());
  EXPECT_EQ(p->source(), "policy.ini");
  EXPECT_EQ(RoleOn(*p, Uid(0, 0), "dev", "X"), Role::kOwner);
  EXPECT_EQ(RoleOn(*p, Uid(1, 1), "prod", "X"), Role::kMember);        // user:daemon
  EXPECT_EQ(RoleOn(*p, Uid(1001), "prod", "X"), Role::kReader);        // uid:1001
  EXPECT_EQ(RoleOn(*p, Uid(2, 2), "prod", "API_KEY"), Role::kReader);  // user:bin
  EXPECT_EQ(RoleOn(*p, Uid(2, 2), "prod", "OTHER"), Role::kNone);
  EXPECT_EQ(RoleOn(*p, Uid(1001), "dev", "X"), Role::kNone);
  EXPECT_TRUE(p->needs_groups());
  EXPECT_TRUE(p->needs_exe());
  EXPECT_FALSE(p->needs_unit());
}

TEST(PolicyParseTest, EmptyAndCommentOnlyFilesGrantNothing) {
  for (const std::string text : {"", "\n\n", "; nothing\n# here\n", "[prod]\n"}) {
    auto p = MustParse(text);
    EXPECT_EQ(RoleOn(*p, Uid(0, 0), "prod", "X"), Role::kNone) << text;
    EXPECT_FALSE(p->needs_groups() || p->needs_exe() || p->needs_unit());
  }
}

TEST(PolicyParseTest, ErrorsNameFileLineAndTheOffendingText) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"[prod]\nusr:web = reader\n", "policy.ini:2: unknown subject kind 'usr' in 'usr:web'"},
      {"[prod]\nweb = reader\n", "policy.ini:2: 'web' is not a subject"},
      {"[prod]\n\nuid:abc = reader\n", "policy.ini:3: bad number 'abc' in 'uid:abc'"},
      {"[prod]\nuid:-1 = reader\n", "policy.ini:2: bad number '-1'"},
      {"[prod]\ngid:99999999999 = reader\n", "policy.ini:2: bad number '99999999999'"},
      {"[prod]\nuid:4294967295 = reader\n", "policy.ini:2: bad number '4294967295'"},
      {"[prod]\nuid:1001 = writer\n", "policy.ini:2: unknown role 'writer'"},
      {"[prod]\nuid:1001 = Reader\n", "policy.ini:2: unknown role 'Reader'"},
      {"uid:1001 = reader\n", "policy.ini:1: rule outside any section: 'uid:1001 = reader'"},
      {"[prod]\nexe:nginx = reader\n", "policy.ini:2: exe path must be absolute: 'exe:nginx'"},
      {"[Prod]\nuid:1 = reader\n", "policy.ini:1: bad section [Prod]"},
      {"[a/b]\n", "policy.ini:1: bad section [a/b]"},
      {"[..]\n", "policy.ini:1: bad section [..]"},
      {"[]\n", "policy.ini:1: bad section []"},
      {"[" + std::string(64, 'a') + "]\n", "policy.ini:1: bad section [aaaa"},
      {"[prod\n", "policy.ini:1: expected [WORKSPACE] or [*], got '[prod'"},
      {"[prod] extra\n", "policy.ini:1: expected [WORKSPACE] or [*]"},
      {"[prod]\nuid:1 = \n", "policy.ini:2: no role after '='"},
      {"[prod]\n = reader\n", "policy.ini:2: no subject before '='"},
      {"[prod]\nuser: = reader\n", "policy.ini:2: 'user:' names no one"},
      {"[prod]\n* reader\n",
       "policy.ini:2: expected SUBJECT = ROLE [GLOB ...] or [SECTION], got '* reader'"},
      {"[prod]\nuser:web reader\n", "policy.ini:2: expected SUBJECT = ROLE [GLOB ...], got"},
      {"[prod]\nuid:1 = reader prod/KEY\n", "policy.ini:2: glob 'prod/KEY' contains '/'"},
      {"[prod]\nuid:1 = reader\nuid:2 = bogus\nuid:x = reader\n",
       "policy.ini:3: unknown role 'bogus'"},  // the first error
      {"[prod]\nuid:1 = reader\x01\n", "policy.ini:2: unknown role 'reader\\x01'"},
      {"[prod]\nunit:a.service & = reader\n",
       "policy.ini:2: an empty condition in subject 'unit:a.service &'"},
      {"[prod]\n&uid:1 = reader\n", "policy.ini:2: an empty condition in subject '&uid:1'"},
      {"[prod]\n* & uid:1 = reader\n", "policy.ini:2: '* & uid:1': '*' cannot be joined with '&'"},
      {"[prod]\nuid:1 & exe:nginx = reader\n",
       "policy.ini:2: exe path must be absolute: 'exe:nginx'"},
      {"[prod]\nuser:no-such-user-secretfs & usr:x = reader\n",
       "policy.ini:2: unknown subject kind 'usr'"},  // checked even after a name that is missing
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseError(c.text), StartsWith(c.message)) << c.text;
  }
}

TEST(PolicyParseTest, NulBytesAreRefusedNotTruncated) {
  static const char kText[] = "[prod]\nuid:1 = reader\0 but owner\n";
  const std::string text(kText, sizeof kText - 1);
  EXPECT_THAT(ParseError(text), StartsWith("policy.ini:2: a NUL byte"));
}

TEST(PolicyParseTest, UnknownUsersAndGroupsAreWarningsAndNeverMatch) {
  auto p = MustParse(
      "[prod]\nuser:no-such-user-secretfs = owner\ngroup:no-such-group-secretfs = owner\n"
      "user:1001 = reader\n");
  EXPECT_THAT(p->warnings(),
              ElementsAre("policy.ini:2: no user no-such-user-secretfs; this rule never matches",
                          "policy.ini:3: no group no-such-group-secretfs; this rule never matches",
                          StartsWith("policy.ini:4: no user 1001; this rule never matches (for a "
                                     "number, write uid:1001)")));
  CallerFacts anyone = Uid(1001, 1001);
  anyone.groups = std::vector<gid_t>{1001};
  EXPECT_EQ(RoleOn(*p, anyone, "prod", "X"), Role::kNone);
  EXPECT_FALSE(p->needs_groups());  // an unresolved group needs no /proc reading
}

TEST(PolicyParseTest, RoleNoneIsAcceptedWithAWarning) {
  auto p = MustParse("[prod]\nuid:5 = none\nuid:5 = viewer\n");
  EXPECT_THAT(p->warnings(), ElementsAre(StartsWith("policy.ini:2: role none grants nothing")));
  EXPECT_EQ(RoleOn(*p, Uid(5), "prod", "K"), Role::kViewer);
}

TEST(PolicyParseTest, TheSameSubjectInSeveralLinesAndSectionsIsNotMerged) {
  // inih's C API calls back for every line; nothing may be merged or skipped.
  auto p = MustParse(
      "[prod]\nuid:7 = reader A\nuid:7 = reader B\n[dev]\nuid:7 = member\n[prod]\n"
      "uid:7 = reader C\n");
  for (const char* key : {"A", "B", "C"}) EXPECT_EQ(RoleOn(*p, Uid(7), "prod", key), Role::kReader);
  EXPECT_EQ(RoleOn(*p, Uid(7), "prod", "D"), Role::kNone);
  EXPECT_EQ(RoleOn(*p, Uid(7), "dev", "D"), Role::kMember);
}

TEST(PolicyParseTest, LongLinesAreParsedWholeWithTheRightLineNumbers) {
  // inih's line buffer is 200 bytes; a longer line must neither be cut nor spill into a new line.
  std::string globs;
  for (int i = 0; i < 60; ++i) globs += " KEY_NUMBER_" + std::to_string(i);
  const std::string text = "[prod]\nuid:9 = reader" + globs + "\nuid:10 = bogus\n";
  ASSERT_GT(text.size(), 600u);
  EXPECT_THAT(ParseError(text), StartsWith("policy.ini:3: unknown role 'bogus'"));
  auto p = MustParse("[prod]\nuid:9 = reader" + globs + "\n# " + std::string(500, 'x') +
                     " uid:9 = owner\nuid:10 = viewer\n");
  EXPECT_EQ(RoleOn(*p, Uid(9), "prod", "KEY_NUMBER_59"), Role::kReader);
  EXPECT_EQ(RoleOn(*p, Uid(9), "prod", "KEY_NUMBER_0"), Role::kReader);
  EXPECT_EQ(RoleOn(*p, Uid(9), "prod", "OTHER"), Role::kNone);  // the comment grants nothing
  EXPECT_THAT(p->Decide(Uid(10), "prod", "K", {}).rule, StartsWith("policy.ini:4: uid:10"));
}

TEST(PolicyParseTest, LongLinesAreClassifiedByTheirWholeText) {
  // A line is a rule, a comment or an error by its whole text, not by the 200 bytes inih reads.
  const std::string blanks(300, ' ');
  auto p = MustParse("[prod]\n" + blanks + "uid:1016 = reader\n*" + blanks + "= viewer K\n" +
                     blanks + "; uid:1017 = owner\n");
  EXPECT_EQ(RoleOn(*p, Uid(1016), "prod", "A"), Role::kReader);  // not dropped as a blank line
  EXPECT_EQ(RoleOn(*p, Uid(1017), "prod", "K"), Role::kViewer);  // `*`, not refused; no owner
  EXPECT_THAT(p->Decide(Uid(1016), "prod", "A", {}).rule, StartsWith("policy.ini:2: uid:1016"));
  EXPECT_THAT(p->Decide(Uid(5), "prod", "K", {}).rule, StartsWith("policy.ini:3: *"));
  // Errors stay errors, with the messages short lines get.
  EXPECT_THAT(ParseError("[prod]\n*" + blanks + "reader\n"),
              StartsWith("policy.ini:2: expected SUBJECT = ROLE [GLOB ...] or [SECTION], got '*"));
  EXPECT_THAT(ParseError("[prod]\n" + blanks + "reader\n"),
              StartsWith("policy.ini:2: expected SUBJECT = ROLE [GLOB ...] or [SECTION], got "
                         "'reader'"));
  EXPECT_THAT(ParseError("[prod]\nuid:1 = reader\n" + blanks + "owner\n"),
              StartsWith("policy.ini:3: expected SUBJECT = ROLE [GLOB ...], got 'owner'"));
  EXPECT_THAT(ParseError("[prod]\nuid:1 = reader\n" + blanks + "uid:2 = bogus\n"),
              StartsWith("policy.ini:3: unknown role 'bogus'"));
}

TEST(PolicyParseTest, LongExePathsAndSectionNamesAreKeptWhole) {
  const std::string exe = "/opt/" + std::string(300, 'p') + "/bin/app";
  const std::string ws(63, 'w');  // inih would cut it to 49 characters
  auto p = MustParse("[" + ws + "]\nexe:" + exe + " = reader\n[" + ws.substr(0, 49) + "]\n");
  CallerFacts c = Uid(1000, 1000);
  c.exe = exe;
  EXPECT_EQ(RoleOn(*p, c, ws, "K"), Role::kReader);
  EXPECT_EQ(RoleOn(*p, c, ws.substr(0, 49), "K"), Role::kNone);
}

TEST(PolicyParseTest, CommentsWhitespaceLineEndsAndByteOrderMark) {
  auto p = MustParse(
      "\xEF\xBB\xBF; policy\r\n[ prod ]  ; the production workspace\r\n"
      "  uid:1 = reader A   ; indented, commented\r\n"
      "\tuid:2=member # web app\r\n"
      "uid:3 = viewer\t\tB\tC");
  EXPECT_EQ(RoleOn(*p, Uid(1), "prod", "A"), Role::kReader);
  EXPECT_EQ(RoleOn(*p, Uid(1), "prod", "B"), Role::kNone);
  // "# web app" is a comment, not the globs "web" and "app".
  EXPECT_EQ(RoleOn(*p, Uid(2), "prod", "anything"), Role::kMember);
  EXPECT_EQ(RoleOn(*p, Uid(3), "prod", "C"), Role::kViewer);
  EXPECT_EQ(p->Decide(Uid(1), "prod", "A", {}).rule, "policy.ini:3: uid:1 = reader A");
}

TEST(PolicyParseTest, IndentedRulesAreRulesAndContinuationLinesAreErrors) {
  // inih passes indented lines after a rule as more values of that rule's name.
  auto p = MustParse("[prod]\nuid:1 = reader\n  uid:2 = admin\n    [dev]\n  uid:3 = owner\n");
  EXPECT_EQ(RoleOn(*p, Uid(2), "prod", "K"), Role::kAdmin);
  EXPECT_EQ(RoleOn(*p, Uid(3), "dev", "K"), Role::kOwner);
  EXPECT_EQ(RoleOn(*p, Uid(3), "prod", "K"), Role::kNone);
  EXPECT_EQ(RoleOn(*p, Uid(1), "prod", "K"), Role::kReader);
  EXPECT_THAT(ParseError("[prod]\nuid:1 = reader\n    owner\n"),
              StartsWith("policy.ini:3: expected SUBJECT = ROLE [GLOB ...], got 'owner'"));
}

TEST(PolicyParseTest, ExePathsAndUnitsWithColonsAndSpaces) {
  auto p = MustParse(
      "[*]\nexe:/opt/My App/bin/run = viewer\nunit:app@1:2.service = reader\n"
      "exe:/usr/bin/x:y = member\n");
  CallerFacts c = Uid(1000, 1000);
  c.exe = "/opt/My App/bin/run";
  EXPECT_EQ(RoleOn(*p, c, "prod", "K"), Role::kViewer);
  c.exe = "/usr/bin/x:y";
  EXPECT_EQ(RoleOn(*p, c, "prod", "K"), Role::kMember);
  c.unit = "app@1:2.service";
  EXPECT_EQ(RoleOn(*p, c, "prod", "K"), Role::kMember);  // both match; member is higher
  EXPECT_TRUE(p->needs_unit());
}

TEST(PolicyParseTest, ConditionsJoinedByAmpersandMustAllHold) {
  auto p = MustParse(
      "[prod]\nunit:nginx.service & exe:/usr/sbin/nginx = reader TLS_*\n"
      "uid:33&gid:33 & group:nogroup = viewer\n");
  EXPECT_THAT(p->warnings(), IsEmpty());
  EXPECT_TRUE(p->needs_exe());
  EXPECT_TRUE(p->needs_unit());
  EXPECT_TRUE(p->needs_groups());
  CallerFacts c = Uid(33, 33);
  c.unit = "nginx.service";
  EXPECT_EQ(RoleOn(*p, c, "prod", "TLS_KEY"), Role::kNone);  // no exe read: not both
  c.exe = "/usr/sbin/nginx";
  EXPECT_EQ(RoleOn(*p, c, "prod", "TLS_KEY"), Role::kReader);
  EXPECT_EQ(RoleOn(*p, c, "prod", "DB_URL"), Role::kNone);  // the glob still applies
  c.unit = "user@1000.service";  // the same program, run by a user rather than the service
  EXPECT_EQ(RoleOn(*p, c, "prod", "TLS_KEY"), Role::kNone);
  c.groups = std::vector<gid_t>{65534};
  EXPECT_EQ(RoleOn(*p, c, "prod", "TLS_KEY"), Role::kViewer);
  c.gid = 34;  // gid:33 is neither its primary group nor a supplementary one now
  EXPECT_EQ(RoleOn(*p, c, "prod", "TLS_KEY"), Role::kNone);
}

TEST(PolicyParseTest, ConditionsThatNoCallerMeetsAtOnceAreWarnedAbout) {
  auto p = MustParse(
      "[prod]\nuid:1 & uid:2 = owner\nexe:/a & exe:/b = owner\nunit:a.service & unit:b.service = "
      "owner\ngid:1 & gid:2 = viewer\nuser:no-such-user-secretfs & uid:1 = owner\n");
  EXPECT_THAT(p->warnings(),
              ElementsAre(StartsWith("policy.ini:2: 'uid:1 & uid:2' never matches"),
                          StartsWith("policy.ini:3: 'exe:/a & exe:/b' never matches"),
                          StartsWith("policy.ini:4: 'unit:a.service & unit:b.service' never"),
                          "policy.ini:6: no user no-such-user-secretfs; this rule never matches"));
  CallerFacts c = Uid(1, 1);
  c.groups = std::vector<gid_t>{2};
  EXPECT_EQ(RoleOn(*p, c, "prod", "K"), Role::kViewer);  // two groups at once are fine
}

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/policy_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0644) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(PolicyFileTest, LoadFileNamesThePathInErrorsAndSource) {
  const std::string path = Write("policy.ini", "[prod]\nuid:1 = reader\n");
  auto p = Policy::LoadFile(path);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ((*p)->source(), path);
  EXPECT_EQ((*p)->Decide(Uid(1), "prod", "K", {}).rule, path + ":2: uid:1 = reader");

  const std::string bad = Write("bad.ini", "[prod]\nuid:1 = reader\nuser:x = superuser\n");
  auto e = Policy::LoadFile(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), EINVAL);
  EXPECT_THAT(e.status().message(), StartsWith(bad + ":3: unknown role 'superuser'"));
}

TEST_F(PolicyFileTest, MissingUnreadableAndWorldWritableFiles) {
  auto missing = Policy::LoadFile(dir_ + "/nope.ini");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope.ini"));

  auto directory = Policy::LoadFile(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), EISDIR);

  const std::string open = Write("open.ini", "[*]\nuid:1 = owner\n", 0666);
  auto writable = Policy::LoadFile(open);
  ASSERT_FALSE(writable.ok());
  EXPECT_EQ(writable.status().code(), EACCES);
  EXPECT_THAT(writable.status().message(), HasSubstr("writable by every user (mode 0666)"));
}

TEST(PolicyDefaultTest, RootAndTheOwnerAreOwnersEveryoneElseHasNothing) {
  auto p = Policy::Default(1000);
  EXPECT_EQ(p->source(), "(default policy)");
  EXPECT_TRUE(p->warnings().empty());
  EXPECT_FALSE(p->needs_groups() || p->needs_exe() || p->needs_unit());
  for (uid_t uid : {0u, 1000u}) {
    const Decision d = p->Decide(Uid(uid), "prod", "K", {});
    EXPECT_EQ(d.role, Role::kOwner) << uid;
    EXPECT_EQ(d.allowed, PermissionsOf(Role::kOwner));
    EXPECT_EQ(p->Decide(Uid(uid), "prod", "", {}).role, Role::kOwner);
  }
  EXPECT_EQ(p->Decide(Uid(0), "x", "K", {}).rule, "(default policy): [*] uid:0 = owner");
  EXPECT_EQ(p->Decide(Uid(1000), "x", "K", {}).rule, "(default policy): [*] uid:1000 = owner");
  const Decision other = p->Decide(Uid(1001, 0), "prod", "K", {});
  EXPECT_EQ(other.role, Role::kNone);
  EXPECT_EQ(other.allowed, 0u);
  EXPECT_EQ(other.rule, "");
  EXPECT_EQ(Policy::Default(0)->Decide(Uid(0), "w", "K", {}).role, Role::kOwner);
}

}  // namespace
}  // namespace secretfs::policy::testing
