// Workspaces: create, list with counts, delete, purge.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "store/schema.h"
#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::store::Naming;
using secretfs::store::SecretPrefix;
using secretfs::store::VersionPrefix;
using secretfs::store::WorkspaceInfo;

class WorkspaceTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  }
};

TEST_F(WorkspaceTest, CreateTwiceIsEexist) {
  ASSERT_TRUE(store_->CreateWorkspace("dev", Naming::kDefault).ok());
  ASSERT_TRUE(Put("dev", "KEY", "v").ok());
  EXPECT_EQ(store_->CreateWorkspace("dev", Naming::kDefault).code(), EEXIST);
  EXPECT_EQ(store_->CreateWorkspace("dev", Naming::kEnv).code(), EEXIST);
  // The first one, its naming and its data key are intact.
  auto ws = store_->GetWorkspace("dev");
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->naming, Naming::kDefault);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("dev", "KEY"), "v");
}

TEST_F(WorkspaceTest, EmptyStoreHasNoWorkspaces) {
  auto list = store_->ListWorkspaces();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(WorkspaceTest, ListShowsEveryWorkspaceWithItsCounts) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("app", Naming::kEnv));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("empty"));
  ASSERT_TRUE(Put("prod", "A", "1").ok());
  ASSERT_TRUE(Put("prod", "B", "2").ok());
  ASSERT_TRUE(Put("prod", "B", "3").ok());  // versions do not count as secrets
  ASSERT_TRUE(Put("prod", "C", "4").ok());
  ASSERT_TRUE(store_->Remove("prod", "C", "tester").ok());
  ASSERT_TRUE(Put("app", "X", "5").ok());
  // A workspace whose name is a prefix of another's does not count the other's secrets.
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod2"));
  ASSERT_TRUE(Put("prod2", "A", "6").ok());

  auto list = store_->ListWorkspaces();
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 4u);
  // In name order.
  const WorkspaceInfo& app = (*list)[0];
  const WorkspaceInfo& empty = (*list)[1];
  const WorkspaceInfo& prod = (*list)[2];
  const WorkspaceInfo& prod2 = (*list)[3];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.naming, Naming::kEnv);
  EXPECT_EQ(app.live_secrets, 1u);
  EXPECT_EQ(app.deleted_secrets, 0u);
  EXPECT_EQ(empty.name, "empty");
  EXPECT_EQ(empty.live_secrets, 0u);
  EXPECT_EQ(empty.deleted_secrets, 0u);
  EXPECT_EQ(prod.name, "prod");
  EXPECT_EQ(prod.naming, Naming::kDefault);
  EXPECT_EQ(prod.live_secrets, 2u);
  EXPECT_EQ(prod.deleted_secrets, 1u);
  EXPECT_EQ(prod.key_generation, 1u);
  EXPECT_GT(prod.created_ns, 0);
  EXPECT_EQ(prod2.name, "prod2");
  EXPECT_EQ(prod2.live_secrets, 1u);

  auto one = store_->GetWorkspace("prod");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->live_secrets, 2u);
  EXPECT_EQ(one->deleted_secrets, 1u);

  // Only those asked for, and only they are counted (statfs lists what its caller may list).
  std::vector<std::string> asked;
  auto some = store_->ListWorkspaces([&](std::string_view name) {
    asked.emplace_back(name);
    return name == "prod2";
  });
  ASSERT_TRUE(some.ok());
  EXPECT_THAT(asked, ::testing::ElementsAre("app", "empty", "prod", "prod2"));
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].name, "prod2");
  EXPECT_EQ((*some)[0].live_secrets, 1u);
}

TEST_F(WorkspaceTest, WriteToAMissingWorkspaceIsEnoent) {
  EXPECT_EQ(Put("nope", "KEY", "v").status().code(), ENOENT);
  EXPECT_EQ(store_->List("nope").status().code(), ENOENT);
}

TEST_F(WorkspaceTest, DeleteOfAnEmptyWorkspace) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("tmp"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("keep"));
  ASSERT_TRUE(store_->DeleteWorkspace("tmp", false).ok());
  EXPECT_EQ(store_->GetWorkspace("tmp").status().code(), ENOENT);
  EXPECT_EQ(store_->DeleteWorkspace("tmp", false).code(), ENOENT);
  auto list = store_->ListWorkspaces();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "keep");
  // The name can be used again.
  EXPECT_TRUE(store_->CreateWorkspace("tmp", Naming::kDefault).ok());
}

TEST_F(WorkspaceTest, DeleteWithALiveSecretIsEnotempty) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "KEY", "v").ok());
  EXPECT_EQ(store_->DeleteWorkspace("dev", false).code(), ENOTEMPTY);
  EXPECT_EQ(Get("dev", "KEY"), "v");
}

TEST_F(WorkspaceTest, DeleteWithOnlyDeletedSecretsIsEnotempty) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("dev", "KEY", "v").ok());
  ASSERT_TRUE(store_->Remove("dev", "KEY", "tester").ok());
  EXPECT_EQ(store_->DeleteWorkspace("dev", false).code(), ENOTEMPTY);
  EXPECT_EQ(Get("dev", "KEY", 1), "v") << "history must survive a refused delete";
  // Once the history is destroyed the workspace can go.
  ASSERT_TRUE(store_->Destroy("dev", "KEY", std::nullopt).ok());
  EXPECT_TRUE(store_->DeleteWorkspace("dev", false).ok());
}

TEST_F(WorkspaceTest, PurgeErasesEverything) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("devx"));
  ASSERT_TRUE(Put("dev", "A", "1").ok());
  ASSERT_TRUE(Put("dev", "A", "2").ok());
  ASSERT_TRUE(Put("dev", "B", "3").ok());
  ASSERT_TRUE(store_->Remove("dev", "B", "tester").ok());
  ASSERT_TRUE(Put("devx", "A", "other workspace").ok());

  ASSERT_TRUE(store_->DeleteWorkspace("dev", true).ok());
  EXPECT_EQ(store_->GetWorkspace("dev").status().code(), ENOENT);
  EXPECT_EQ(ReadErrno("dev", "A"), ENOENT);
  EXPECT_EQ(ReadErrno("dev", "A", 1), ENOENT);
  EXPECT_EQ(Get("devx", "A"), "other workspace");

  // A new workspace of the same name starts empty and numbers from 1.
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  auto list = store_->List("dev");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(ReadErrno("dev", "A", 2), ENOENT);
  auto written = Put("dev", "A", "fresh");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->version, 1u);
  EXPECT_EQ(Get("dev", "A"), "fresh");
  ASSERT_TRUE(store_->DeleteWorkspace("dev", true).ok());

  // Nothing of it is left in the tables.
  store_.reset();
  RawLmdb raw(dir_);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_EQ(raw.Count("secrets", SecretPrefix("dev")), 0u);
  EXPECT_EQ(raw.Count("versions", SecretPrefix("dev")), 0u);
  EXPECT_FALSE(raw.Get("workspaces", secretfs::AsBytes("dev")).has_value());
  EXPECT_EQ(raw.Count("versions", VersionPrefix("devx", "A")), 1u);
}
