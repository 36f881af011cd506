// Name rules of SPEC §3: table-driven, and enforced by the store on every write.
#include "store/names.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "tests/store/store_fixture.h"

using secretfs::store::kMaxKeyName;
using secretfs::store::kMaxWorkspaceName;
using secretfs::store::Naming;
using secretfs::store::NamingName;
using secretfs::store::ParseNaming;
using secretfs::store::ParseSecretPath;
using secretfs::store::QuoteName;
using secretfs::store::ValidateKeyName;
using secretfs::store::ValidateWorkspaceName;

struct NameCase {
  std::string name;
  bool valid;
};

static std::string Describe(const std::string& name) { return QuoteName(name); }

TEST(NamesTest, WorkspaceNames) {
  const std::vector<NameCase> cases = {
      {"a", true},       {"0", true},
      {"prod", true},    {"my-ws_2", true},
      {"9lives", true},  {"a-", true},
      {"a_", true},      {std::string(63, 'w'), true},
      {"", false},       {std::string(64, 'w'), false},
      {"Prod", false},   {"PROD", false},
      {"-prod", false},  {"_prod", false},
      {".prod", false},  {"pr.od", false},
      {"pr/od", false},  {"/prod", false},
      {"prod/", false},  {"pr od", false},
      {"prod\n", false}, {std::string("pr\0od", 5), false},
      {"pröd", false},   {"..", false},
      {"*", false},
  };
  for (const NameCase& c : cases) {
    const secretfs::Status s = ValidateWorkspaceName(c.name);
    if (c.valid) {
      EXPECT_TRUE(s.ok()) << Describe(c.name) << ": " << s.message();
    } else {
      EXPECT_EQ(s.code(), EINVAL) << Describe(c.name) << " was accepted";
      EXPECT_FALSE(s.message().empty());
    }
  }
  EXPECT_EQ(kMaxWorkspaceName, 63u);
}

TEST(NamesTest, KeyNamesUnderDefaultNaming) {
  const std::vector<NameCase> cases = {
      {"A", true},
      {"a", true},
      {"_", true},
      {"0", true},
      {"DATABASE_URL", true},
      {"tls.crt", true},
      {"a-b.c_d", true},
      {"a..b", true},
      {"_.", true},
      {"x.", true},
      {std::string(255, 'k'), true},
      {"k" + std::string(254, '.'), true},
      {"", false},
      {std::string(256, 'k'), false},
      {".env", false},
      {".", false},
      {"..", false},
      {"-a", false},
      {"a/b", false},
      {"/a", false},
      {"a/", false},
      {"a b", false},
      {"a=b", false},
      {"a:b", false},
      {"a\nb", false},
      {std::string("a\0b", 3), false},
      {"ключ", false},
      {"a*", false},
  };
  for (const NameCase& c : cases) {
    const secretfs::Status s = ValidateKeyName(c.name);
    if (c.valid) {
      EXPECT_TRUE(s.ok()) << Describe(c.name) << ": " << s.message();
    } else {
      EXPECT_EQ(s.code(), EINVAL) << Describe(c.name) << " was accepted";
    }
    // The explicit default naming is the same rule.
    EXPECT_EQ(ValidateKeyName(c.name, Naming::kDefault).ok(), c.valid) << Describe(c.name);
  }
  EXPECT_EQ(kMaxKeyName, 255u);
}

TEST(NamesTest, KeyNamesUnderEnvNaming) {
  const std::vector<NameCase> cases = {
      {"A", true},       {"DB_URL", true},
      {"A1", true},      {"A_", true},
      {"PATH", true},    {std::string(255, 'X'), true},
      {"", false},       {std::string(256, 'X'), false},
      {"a", false},      {"db_url", false},
      {"Db_Url", false}, {"_A", false},
      {"1A", false},     {"DB-URL", false},
      {"A.B", false},    {"A/B", false},
      {".A", false},     {"A B", false},
  };
  for (const NameCase& c : cases) {
    const secretfs::Status s = ValidateKeyName(c.name, Naming::kEnv);
    if (c.valid) {
      EXPECT_TRUE(s.ok()) << Describe(c.name) << ": " << s.message();
    } else {
      EXPECT_EQ(s.code(), EINVAL) << Describe(c.name) << " was accepted";
    }
  }
}

TEST(NamesTest, ErrorsSayWhichRuleFailed) {
  const secretfs::Status slash = ValidateKeyName("a/b");
  EXPECT_NE(slash.message().find("'/'"), std::string::npos) << slash.message();
  const secretfs::Status dot = ValidateKeyName(".env");
  EXPECT_NE(dot.message().find("starts with"), std::string::npos) << dot.message();
  const secretfs::Status env = ValidateKeyName("lower", Naming::kEnv);
  EXPECT_NE(env.message().find("env"), std::string::npos) << env.message();
  const secretfs::Status ws = ValidateWorkspaceName("Prod");
  EXPECT_NE(ws.message().find("lowercase"), std::string::npos) << ws.message();
}

TEST(NamesTest, NamingParsesBothWays) {
  for (Naming n : {Naming::kDefault, Naming::kEnv}) {
    auto parsed = ParseNaming(NamingName(n));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, n);
  }
  EXPECT_EQ(ParseNaming("ENV").status().code(), EINVAL);
  EXPECT_EQ(ParseNaming("").status().code(), EINVAL);
}

TEST(NamesTest, ParseSecretPath) {
  auto ok = ParseSecretPath("prod/DATABASE_URL");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->workspace, "prod");
  EXPECT_EQ(ok->key, "DATABASE_URL");
  EXPECT_EQ(ok->text(), "prod/DATABASE_URL");
  for (std::string_view bad : {"prod", "prod/", "/KEY", "Prod/KEY", "prod/a/b", "prod/.env", ""}) {
    auto parsed = ParseSecretPath(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), EINVAL) << bad;
  }
}

TEST(NamesTest, QuoteNameEscapesControlBytesAndShortensLongNames) {
  EXPECT_EQ(QuoteName("abc"), "'abc'");
  EXPECT_EQ(QuoteName(std::string("a\nb\0", 4)), "'a\\x0ab\\x00'");
  const std::string quoted = QuoteName(std::string(300, 'x'));
  EXPECT_LT(quoted.size(), 100u);
  EXPECT_NE(quoted.find("300"), std::string::npos) << quoted;
}

// The store enforces the same rules on everything it creates, and creates nothing on EINVAL.
class StoreNamesTest : public StoreTest {};

TEST_F(StoreNamesTest, InvalidWorkspaceNamesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  for (const std::string& name : {std::string("Prod"), std::string(""), std::string("-x"),
                                  std::string(".x"), std::string("a/b"), std::string(64, 'w')}) {
    EXPECT_EQ(store_->CreateWorkspace(name, Naming::kDefault).code(), EINVAL) << name;
  }
  EXPECT_TRUE(store_->CreateWorkspace(std::string(63, 'w'), Naming::kDefault).ok());
  auto list = store_->ListWorkspaces();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, std::string(63, 'w'));
}

TEST_F(StoreNamesTest, InvalidKeyNamesAreRefusedOnWrite) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  for (const std::string& key : {std::string("a/b"), std::string(".hidden"), std::string(""),
                                 std::string("-x"), std::string(256, 'k'), std::string("a b")}) {
    auto written = Put("dev", key, "value");
    ASSERT_FALSE(written.ok()) << key;
    EXPECT_EQ(written.status().code(), EINVAL) << key;
  }
  auto at_limit = Put("dev", std::string(255, 'k'), "value");
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().message();
  EXPECT_EQ(Get("dev", std::string(255, 'k')), "value");
  auto list = store_->List("dev");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(StoreNamesTest, EnvNamingIsEnforcedOnWrite) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("app", Naming::kEnv));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("files"));
  auto ws = store_->GetWorkspace("app");
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->naming, Naming::kEnv);

  for (const char* key : {"db_url", "Db_Url", "tls.crt", "_A", "1A", "DB-URL"}) {
    auto written = Put("app", key, "v");
    ASSERT_FALSE(written.ok()) << key;
    EXPECT_EQ(written.status().code(), EINVAL) << key;
    // The same names are fine in a default-naming workspace.
    EXPECT_TRUE(Put("files", key, "v").ok()) << key;
  }
  auto good = Put("app", "DATABASE_URL", "postgres://");
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(Get("app", "DATABASE_URL"), "postgres://");
  auto list = store_->List("app");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(StoreNamesTest, InvalidNamesInLookupsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  EXPECT_EQ(ReadErrno("dev", "a/b"), EINVAL);
  EXPECT_EQ(ReadErrno("Dev", "KEY"), EINVAL);
  EXPECT_EQ(store_->Stat("dev", ".x").status().code(), EINVAL);
  EXPECT_EQ(store_->GetWorkspace("Dev").status().code(), EINVAL);
  // Valid names that do not exist are ENOENT.
  EXPECT_EQ(ReadErrno("dev", "ABSENT"), ENOENT);
  EXPECT_EQ(ReadErrno("nope", "KEY"), ENOENT);
  EXPECT_EQ(store_->GetWorkspace("nope").status().code(), ENOENT);
}
