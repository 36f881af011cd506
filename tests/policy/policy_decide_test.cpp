// Decisions: SPEC §5's matrix cell by cell, globs, the highest role, [*] with workspace sections,
// the facts read from /proc, and the mount options' caps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/policy/policy_test_util.h"

namespace secretfs::policy::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr Action kActions[] = {
    Action::kSee, Action::kRead, Action::kWrite, Action::kReadVersions, Action::kManageWorkspaces,
    Action::kOwn};
constexpr Role kRoles[] = {Role::kNone,   Role::kViewer, Role::kReader,
                           Role::kMember, Role::kAdmin,  Role::kOwner};

// SPEC §5, written out as the table reads: one row per action, columns none..owner.
const std::map<Action, std::vector<bool>> kMatrix = {
    {Action::kSee, {false, true, true, true, true, true}},
    {Action::kRead, {false, false, true, false, true, true}},
    {Action::kWrite, {false, false, false, true, true, true}},
    {Action::kReadVersions, {false, false, false, false, true, true}},
    {Action::kManageWorkspaces, {false, false, false, false, true, true}},
    {Action::kOwn, {false, false, false, false, false, true}},
};

TEST(RoleTest, EveryCellOfTheMatrix) {
  for (Action a : kActions)
    for (size_t r = 0; r < std::size(kRoles); ++r)
      EXPECT_EQ((PermissionsOf(kRoles[r]) & Bit(a)) != 0, kMatrix.at(a)[r])
          << RoleName(kRoles[r]) << " " << ActionName(a);
}

TEST(RoleTest, EveryCellThroughAPolicyFile) {
  // The same matrix as a caller sees it: uid N has role N on prod.
  auto p = MustParse(
      "[prod]\nuid:1 = viewer\nuid:2 = reader\nuid:3 = member\nuid:4 = admin\nuid:5 = owner\n");
  for (size_t r = 0; r < std::size(kRoles); ++r) {
    const Decision d = p->Decide(Uid(static_cast<uid_t>(r)), "prod", "KEY", {});
    EXPECT_EQ(d.role, kRoles[r]);
    for (Action a : kActions)
      EXPECT_EQ(d.Allows(a), kMatrix.at(a)[r]) << RoleName(kRoles[r]) << " " << ActionName(a);
  }
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role r : kRoles) EXPECT_EQ(ParseRole(RoleName(r)), r);
  for (Action a : kActions) EXPECT_EQ(ParseAction(ActionName(a)), a);
  EXPECT_EQ(RoleName(Role::kMember), "member");
  EXPECT_EQ(ActionName(Action::kSee), "list");
  EXPECT_EQ(ActionName(Action::kReadVersions), "read-versions");
  EXPECT_EQ(ActionName(Action::kManageWorkspaces), "manage-workspaces");
  EXPECT_EQ(ParseAction("see"), Action::kSee);
  EXPECT_EQ(ParseRole("Owner"), std::nullopt);
  EXPECT_EQ(ParseRole(""), std::nullopt);
  EXPECT_EQ(ParseAction("delete"), std::nullopt);
  EXPECT_EQ(kChanges, Bit(Action::kWrite) | Bit(Action::kManageWorkspaces) | Bit(Action::kOwn));
}

TEST(DecideTest, GlobsLimitARuleToMatchingKeys) {
  auto p = MustParse("[prod]\nuid:1 = reader DATABASE_URL API_* TLS_?.pem [ab]_KEY\n");
  for (const char* key : {"DATABASE_URL", "API_", "API_KEY", "TLS_1.pem", "a_KEY", "b_KEY"})
    EXPECT_EQ(p->Decide(Uid(1), "prod", key, {}).role, Role::kReader) << key;
  for (const char* key : {"DATABASE_URL2", "XAPI_KEY", "TLS_12.pem", "c_KEY", "api_key"})
    EXPECT_EQ(p->Decide(Uid(1), "prod", key, {}).role, Role::kNone) << key;
  // A glob rule still makes the workspace visible, but does not count for the workspace itself.
  EXPECT_EQ(p->DecideAny(Uid(1), "prod", {}).role, Role::kReader);
  EXPECT_EQ(p->Decide(Uid(1), "prod", "", {}).role, Role::kNone);
  EXPECT_EQ(p->DecideAny(Uid(1), "dev", {}).role, Role::kNone);
}

TEST(DecideTest, GlobsMatchDotsAndLeadingCharactersLikeAnyOther) {
  // fnmatch without FNM_PATHNAME or FNM_PERIOD: '*' matches '.', and key names have no '/'.
  auto p = MustParse("[prod]\nuid:1 = reader *.pem\nuid:2 = reader *\n");
  EXPECT_EQ(p->Decide(Uid(1), "prod", "tls.key.pem", {}).role, Role::kReader);
  EXPECT_EQ(p->Decide(Uid(2), "prod", "_hidden.x", {}).role, Role::kReader);
  EXPECT_EQ(p->Decide(Uid(2), "prod", "", {}).role, Role::kNone);  // a glob rule, even '*'
}

TEST(DecideTest, HighestMatchingRoleWinsAndTheFirstAmongEqualsIsReported) {
  auto p = MustParse(
      "[*]\n* = viewer\nuid:1 = reader\n"
      "[prod]\nuid:1 = member\nuid:1 = admin API_*\nuid:1 = member\n"
      "[dev]\nuid:1 = owner\n");
  Decision d = p->Decide(Uid(1), "prod", "API_KEY", {});
  EXPECT_EQ(d.role, Role::kAdmin);
  EXPECT_EQ(d.rule, "policy.ini:6: uid:1 = admin API_*");
  d = p->Decide(Uid(1), "prod", "OTHER", {});
  EXPECT_EQ(d.role, Role::kMember);
  EXPECT_EQ(d.rule, "policy.ini:5: uid:1 = member");
  // member ranks above reader, so the [*] reader rule is not the answer, and member cannot read:
  // a higher role does not add the lower one's rights.
  EXPECT_FALSE(d.Allows(Action::kRead));
  EXPECT_EQ(p->Decide(Uid(1), "other", "K", {}).rule, "policy.ini:3: uid:1 = reader");
  EXPECT_EQ(p->Decide(Uid(1), "dev", "K", {}).role, Role::kOwner);
  EXPECT_EQ(p->Decide(Uid(2), "dev", "K", {}).role, Role::kViewer);  // [*] * = viewer
  EXPECT_EQ(p->Decide(Uid(2), "dev", "K", {}).rule, "policy.ini:2: * = viewer");
  EXPECT_EQ(p->DecideAny(Uid(1), "prod", {}).role, Role::kAdmin);
}

TEST(DecideTest, WorkspaceSectionsApplyOnlyToTheirWorkspace) {
  auto p = MustParse("[prod]\nuid:1 = owner\n[prod-eu]\nuid:2 = owner\n");
  EXPECT_EQ(p->Decide(Uid(1), "prod", "K", {}).role, Role::kOwner);
  EXPECT_EQ(p->Decide(Uid(1), "prod-eu", "K", {}).role, Role::kNone);
  EXPECT_EQ(p->Decide(Uid(1), "pro", "K", {}).role, Role::kNone);
  EXPECT_EQ(p->Decide(Uid(2), "prod", "K", {}).role, Role::kNone);
}

TEST(DecideTest, GroupsMatchThePrimaryGidOrASupplementaryGroup) {
  auto p = MustParse("[prod]\ngid:500 = admin\ngroup:daemon = reader\n");  // daemon is gid 1
  EXPECT_TRUE(p->needs_groups());
  EXPECT_EQ(p->Decide(Uid(1000, 500), "prod", "K", {}).role, Role::kAdmin);  // primary
  CallerFacts c = Uid(1000, 1000);
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kNone);  // groups unknown
  c.groups = std::vector<gid_t>{};
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kNone);
  c.groups = std::vector<gid_t>{20, 1, 44};
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kReader);
  c.groups->push_back(500);
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kAdmin);
  // uid rules never match a gid of the same number.
  auto by_uid = MustParse("[prod]\nuid:500 = owner\n");
  EXPECT_EQ(by_uid->Decide(c, "prod", "K", {}).role, Role::kNone);
}

TEST(DecideTest, ExeAndUnitRulesMatchExactlyAndNeverWhenTheFactIsUnknown) {
  auto p = MustParse("[prod]\nexe:/usr/sbin/nginx = reader\nunit:backup.service = member\n");
  CallerFacts c = Uid(33, 33);
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kNone);  // nullopt exe and unit
  c.exe = "/usr/sbin/nginx";
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kReader);
  for (const char* other :
       {"/usr/sbin/nginx (deleted)", "/usr/sbin/nginx2", "/usr/sbin/ngin", "nginx", ""}) {
    c.exe = other;
    EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kNone) << other;
  }
  c.exe.reset();
  c.unit = "backup.service";
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kMember);
  c.unit = "backup.scope";
  EXPECT_EQ(p->Decide(c, "prod", "K", {}).role, Role::kNone);
  // `*` matches even a caller about whom nothing could be read.
  auto everyone = MustParse("[prod]\n* = viewer\n");
  EXPECT_EQ(everyone->Decide(Uid(12345, 12345), "prod", "K", {}).role, Role::kViewer);
}

TEST(DecideTest, UsersAndGroupsAreResolvedToIds) {
  auto p = MustParse("[prod]\nuser:daemon = admin\ngroup:nogroup = viewer\n");
  EXPECT_EQ(p->Decide(Uid(1, 9999), "prod", "K", {}).role, Role::kAdmin);
  EXPECT_EQ(p->Decide(Uid(1234, 65534), "prod", "K", {}).role, Role::kViewer);
}

TEST(CapsTest, RoleCapIntersectsAndSaysWhatItRemoved) {
  auto p = MustParse("[prod]\nuid:1 = owner\nuid:2 = member\nuid:3 = reader\nuid:4 = viewer\n");
  const Caps reader_cap{Role::kReader, false};
  Decision d = p->Decide(Uid(1), "prod", "K", reader_cap);
  EXPECT_EQ(d.role, Role::kOwner);  // the role before caps
  EXPECT_EQ(d.allowed, PermissionsOf(Role::kReader));
  EXPECT_THAT(d.caps, ElementsAre("role=reader"));
  // member ∩ reader = see only: the cap never adds read to a write-only role.
  d = p->Decide(Uid(2), "prod", "K", reader_cap);
  EXPECT_EQ(d.role, Role::kMember);
  EXPECT_EQ(d.allowed, Bit(Action::kSee));
  EXPECT_FALSE(d.Allows(Action::kRead));
  EXPECT_FALSE(d.Allows(Action::kWrite));
  EXPECT_THAT(d.caps, ElementsAre("role=reader"));
  // A cap that removes nothing is not reported.
  d = p->Decide(Uid(3), "prod", "K", reader_cap);
  EXPECT_EQ(d.allowed, PermissionsOf(Role::kReader));
  EXPECT_THAT(d.caps, IsEmpty());
  d = p->Decide(Uid(4), "prod", "K", reader_cap);
  EXPECT_EQ(d.allowed, Bit(Action::kSee));
  EXPECT_THAT(d.caps, IsEmpty());
  // role=member on a reader leaves see.
  d = p->Decide(Uid(3), "prod", "K", Caps{Role::kMember, false});
  EXPECT_EQ(d.allowed, Bit(Action::kSee));
  EXPECT_THAT(d.caps, ElementsAre("role=member"));
  // role=none hides everything.
  d = p->Decide(Uid(1), "prod", "K", Caps{Role::kNone, false});
  EXPECT_EQ(d.allowed, 0u);
}

TEST(CapsTest, ReadOnlyRemovesEveryChange) {
  auto p = MustParse("[prod]\nuid:1 = owner\nuid:2 = member\nuid:3 = reader\n");
  const Caps ro{std::nullopt, true};
  Decision d = p->Decide(Uid(1), "prod", "K", ro);
  EXPECT_EQ(d.allowed, Bit(Action::kSee) | Bit(Action::kRead) | Bit(Action::kReadVersions));
  EXPECT_THAT(d.caps, ElementsAre("ro"));
  d = p->Decide(Uid(2), "prod", "K", ro);
  EXPECT_EQ(d.allowed, Bit(Action::kSee));
  d = p->Decide(Uid(3), "prod", "K", ro);
  EXPECT_EQ(d.allowed, PermissionsOf(Role::kReader));
  EXPECT_THAT(d.caps, IsEmpty());
  // Both caps, each reported when it removed something.
  d = p->Decide(Uid(1), "prod", "K", Caps{Role::kAdmin, true});
  EXPECT_EQ(d.allowed, Bit(Action::kSee) | Bit(Action::kRead) | Bit(Action::kReadVersions));
  EXPECT_THAT(d.caps, ElementsAre("role=admin", "ro"));
  d = p->Decide(Uid(1), "prod", "K", Caps{Role::kReader, true});
  EXPECT_THAT(d.caps, ElementsAre("role=reader"));  // ro had nothing left to remove
  // No role: nothing to cap, nothing reported.
  d = p->Decide(Uid(9), "prod", "K", Caps{Role::kReader, true});
  EXPECT_EQ(d.allowed, 0u);
  EXPECT_THAT(d.caps, IsEmpty());
}

TEST(CapsTest, DecideAnyIsCappedToo) {
  auto p = MustParse("[prod]\nuid:1 = member API_*\n");
  const Decision d = p->DecideAny(Uid(1), "prod", Caps{Role::kReader, true});
  EXPECT_EQ(d.role, Role::kMember);
  EXPECT_EQ(d.allowed, Bit(Action::kSee));
}

}  // namespace
}  // namespace secretfs::policy::testing
