// Reading the log: filters, Query (also across its read chunks), and `audit readers`.
#include <gtest/gtest.h>

#include "audit_fixture.h"

namespace audit_test {
namespace {

using secretfs::audit::Filter;
using secretfs::audit::Origin;
using secretfs::audit::Query;
using secretfs::audit::ReaderRow;
using secretfs::audit::Readers;

TEST(FilterTest, EachFieldNarrows) {
  Event e = SampleEvent("read", "prod", "API_KEY", 1000);
  e.seq = 10;
  e.time_ns = 5000;
  EXPECT_TRUE(Filter{}.Matches(e));

  Filter f;
  f.since_ns = 5000;
  EXPECT_TRUE(f.Matches(e)) << "since is inclusive";
  f.since_ns = 5001;
  EXPECT_FALSE(f.Matches(e));

  f = {};
  f.until_ns = 5000;
  EXPECT_FALSE(f.Matches(e)) << "until is exclusive";
  f.until_ns = 5001;
  EXPECT_TRUE(f.Matches(e));

  f = {};
  f.workspace = "prod";
  EXPECT_TRUE(f.Matches(e));
  f.workspace = "dev";
  EXPECT_FALSE(f.Matches(e));

  f = {};
  f.key = "API_KEY";
  EXPECT_TRUE(f.Matches(e));
  f.key = "API";
  EXPECT_FALSE(f.Matches(e)) << "keys match exactly";

  f = {};
  f.uid = 1000;
  EXPECT_TRUE(f.Matches(e));
  f.uid = 0;
  EXPECT_FALSE(f.Matches(e));

  f = {};
  f.op = "read";
  EXPECT_TRUE(f.Matches(e));
  f.op = "write";
  EXPECT_FALSE(f.Matches(e));

  f = {};
  f.after_seq = 9;
  EXPECT_TRUE(f.Matches(e));
  f.after_seq = 10;
  EXPECT_FALSE(f.Matches(e));
}

class QueryTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateStore());
  }
};

TEST_F(QueryTest, FiltersCombine) {
  for (int i = 1; i <= 30; ++i) {
    Event e = SampleEvent(i % 2 ? "read" : "write", i % 3 ? "prod" : "dev", i % 5 ? "A" : "B",
                          1000 + static_cast<uint32_t>(i % 4));
    e.time_ns = int64_t{i} * 100;
    AppendOne(e);
  }
  Filter f;
  f.workspace = "prod";
  f.op = "read";
  f.since_ns = 500;
  f.until_ns = 2500;
  for (const Event& e : All(f)) {
    EXPECT_EQ(e.workspace, "prod");
    EXPECT_EQ(e.op, "read");
    EXPECT_GE(e.time_ns, 500);
    EXPECT_LT(e.time_ns, 2500);
  }
  // 5..24, odd, not a multiple of 3: 5 7 11 13 17 19 23
  EXPECT_EQ(All(f).size(), 7u);

  f = {};
  f.key = "B";
  f.uid = 1002;
  auto b = All(f);  // i % 5 == 0 and i % 4 == 2: 10, 30
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].seq, 10u);
  EXPECT_EQ(b[1].seq, 30u);

  f = {};
  f.after_seq = 27;
  auto tail = All(f);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].seq, 28u);
}

TEST_F(QueryTest, WorksAcrossChunksAndStopsWhenAsked) {
  AppendMany(10'000);  // more than one read transaction's worth
  auto all = All();
  ASSERT_EQ(all.size(), 10'000u);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i].seq, i + 1);

  size_t visited = 0;
  const Status s = Query(env(), {}, [&](const Event& e) {
    ++visited;
    return e.seq < 5000;
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(visited, 5000u);

  Filter f;
  f.after_seq = 9000;
  f.op = "write";
  auto writes = All(f);
  ASSERT_FALSE(writes.empty());
  EXPECT_GT(writes.front().seq, 9000u);
}

TEST_F(QueryTest, AnEmptyLogHasNothing) { EXPECT_TRUE(All().empty()); }

class ReadersTest : public QueryTest {
 protected:
  void WriteValue(std::string_view value) {
    secretfs::store::WriteRequest request;
    request.workspace = "prod";
    request.key = "DB_URL";
    request.value = secretfs::AsBytes(value);
    request.author = "tester";
    auto r = store_->Write(request);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }

  void Read(uint32_t uid, std::string exe, std::string unit, uint64_t version,
            std::string_view op = "read", int result = 0, Origin origin = Origin::kFs,
            std::string_view key = "DB_URL") {
    Event e = SampleEvent(op, "prod", key, uid);
    e.exe = std::move(exe);
    e.unit = std::move(unit);
    e.version = version;
    e.result = result;
    e.origin = origin;
    AppendOne(e);
  }

  static const ReaderRow* Row(const secretfs::audit::ReadersReport& r, uint32_t uid,
                              const std::string& exe) {
    for (const ReaderRow& row : r.readers)
      if (row.uid == uid && row.exe == exe) return &row;
    return nullptr;
  }
};

TEST_F(ReadersTest, WhoReadWhichVersionAndWhoIsBehind) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  ASSERT_NO_FATAL_FAILURE(WriteValue("v1"));
  Read(1000, "/usr/bin/app", "app.service", 1);
  Read(1000, "/usr/bin/app", "app.service", 1);
  Read(33, "/usr/sbin/nginx", "nginx.service", 1);
  Read(0, "/usr/bin/secretfs", "", 1, "get", 0, Origin::kCli);
  ASSERT_NO_FATAL_FAILURE(WriteValue("v2"));
  Read(1000, "/usr/bin/app", "app.service", 2);
  Read(0, "/usr/bin/secretfs", "", 2, "get", 0, Origin::kCli);
  Read(0, "/usr/bin/cat", "", 1, "version_read");
  // Not reads of DB_URL that worked: ignored.
  Read(33, "/usr/sbin/nginx", "nginx.service", 2, "read", EACCES);
  Read(1001, "/usr/bin/writer", "", 2, "write");
  Read(1002, "/usr/bin/other", "", 1, "read", 0, Origin::kFs, "OTHER");
  Read(1003, "/usr/bin/fsget", "", 2, "get", 0, Origin::kFs);  // "get" only counts from the CLI

  auto report = Readers(*store_, "prod", "DB_URL");
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->current_version, 2u);
  EXPECT_GT(report->current_written_ns, 0);
  ASSERT_EQ(report->readers.size(), 4u);

  const ReaderRow* app = Row(*report, 1000, "/usr/bin/app");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->unit, "app.service");
  EXPECT_EQ(app->version, 2u);
  EXPECT_EQ(app->reads, 3u);
  EXPECT_TRUE(app->current);
  EXPECT_GE(app->last_read_ns, report->current_written_ns);

  const ReaderRow* nginx = Row(*report, 33, "/usr/sbin/nginx");
  ASSERT_NE(nginx, nullptr);
  EXPECT_EQ(nginx->version, 1u);
  EXPECT_EQ(nginx->reads, 1u) << "the denied read does not count";
  EXPECT_FALSE(nginx->current);

  const ReaderRow* cli = Row(*report, 0, "/usr/bin/secretfs");
  ASSERT_NE(cli, nullptr);
  EXPECT_TRUE(cli->current);
  EXPECT_EQ(cli->reads, 2u);

  const ReaderRow* cat = Row(*report, 0, "/usr/bin/cat");
  ASSERT_NE(cat, nullptr) << "an old version's read counts";
  EXPECT_FALSE(cat->current);

  EXPECT_EQ(Row(*report, 1003, "/usr/bin/fsget"), nullptr);
}

TEST_F(ReadersTest, AReadOfTheCurrentNumberBeforeItWasWrittenIsNotCurrent) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  ASSERT_NO_FATAL_FAILURE(WriteValue("v1"));
  Event e = SampleEvent("read", "prod", "DB_URL", 1000);
  e.version = 1;
  e.time_ns = 1;  // long before version 1 was written (a clock set back, a forged claim)
  AppendOne(e);
  auto report = Readers(*store_, "prod", "DB_URL");
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->readers.size(), 1u);
  EXPECT_FALSE(report->readers[0].current);
}

TEST_F(ReadersTest, NoSuchSecretIsEnoent) {
  ASSERT_TRUE(store_->CreateWorkspace("prod", secretfs::store::Naming::kDefault).ok());
  EXPECT_EQ(Readers(*store_, "prod", "NOPE").status().code(), ENOENT);
  ASSERT_NO_FATAL_FAILURE(WriteValue("v1"));
  auto report = Readers(*store_, "prod", "DB_URL");
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->readers.empty());
  EXPECT_EQ(report->current_version, 1u);
}

}  // namespace
}  // namespace audit_test
