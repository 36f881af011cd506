// The index by secret: appends leave it behind, UpdateIndex (run by the queries that read it)
// catches up, a query for one secret reads it and then the log's unindexed tail, pruning keeps it
// in step, and verify checks it against the log.
#include "audit/audit_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lmdb.h>

#include "audit_fixture.h"

namespace audit_test {
namespace {

using secretfs::audit::Filter;
using secretfs::audit::IndexedThrough;
using secretfs::audit::IndexKey;
using secretfs::audit::SeqKey;

class IndexTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateStore());
  }

  // 300 events over three secrets of two workspaces and some workspace-only events.
  void AppendMixed() {
    for (int i = 1; i <= 300; ++i) {
      const char* ws = i % 2 ? "prod" : "dev";
      const char* key = i % 7 == 0 ? "" : (i % 3 ? "A" : "B");
      AppendOne(SampleEvent(i % 5 ? "read" : "write", ws, key));
    }
  }

  // The events of ws/key as the log holds them, by reading every event.
  std::vector<uint64_t> ScannedSeqs(const std::string& ws, const std::string& key) {
    std::vector<uint64_t> out;
    for (const Event& e : All())
      if (e.workspace == ws && e.key == key) out.push_back(e.seq);
    return out;
  }

  std::vector<uint64_t> QueriedSeqs(const std::string& ws, const std::string& key,
                                    uint64_t after = 0) {
    Filter f;
    f.workspace = ws;
    f.key = key;
    f.after_seq = after;
    std::vector<uint64_t> out;
    for (const Event& e : All(f)) out.push_back(e.seq);
    return out;
  }

  uint64_t Update() {
    auto indexed = secretfs::audit::UpdateIndex(env());
    EXPECT_TRUE(indexed.ok()) << indexed.status().message();
    return indexed.ok() ? *indexed : 0;
  }

  // The newest event up to which every event is indexed.
  uint64_t Through() {
    uint64_t through = 0;
    const Status s = env().Read([&](Txn& txn) -> Status {
      auto r = IndexedThrough(txn);
      if (!r) return r.status();
      through = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return through;
  }

  // What an older secretfs leaves: events in the log without their index entries.
  void Unindex(uint64_t seq) {
    auto stored = Stored(seq);
    ASSERT_TRUE(stored.has_value());
    auto e = secretfs::audit::Decode(
        std::span<const uint8_t>(*stored).first(stored->size() - secretfs::audit::kMacBytes));
    ASSERT_TRUE(e.ok());
    DelRaw(Db::kAuditIndex, IndexKey(e->workspace, e->key, seq));
  }

  size_t IndexEntries() {
    size_t n = 0;
    EXPECT_TRUE(env()
                    .Read([&](Txn& txn) {
                      n = txn.Entries(Db::kAuditIndex);
                      return Status::Ok();
                    })
                    .ok());
    return n;
  }
};

TEST_F(IndexTest, AQueryForOneSecretFindsExactlyItsEventsInOrder) {
  AppendMixed();
  EXPECT_EQ(Through(), 0u) << "appends do not index";
  EXPECT_EQ(Update(), 300u);
  EXPECT_EQ(Through(), 300u);
  EXPECT_EQ(Update(), 0u) << "nothing left to index";
  EXPECT_EQ(IndexEntries(), 300u) << "one entry per event";
  for (const auto& [ws, key] : std::vector<std::pair<std::string, std::string>>{
           {"prod", "A"}, {"prod", "B"}, {"dev", "A"}, {"dev", ""}, {"prod", "C"}}) {
    const auto expected = ScannedSeqs(ws, key);
    EXPECT_EQ(QueriedSeqs(ws, key), expected) << ws << "/" << key;
  }
  ASSERT_FALSE(ScannedSeqs("prod", "A").empty());
  // A key that is a prefix of another, or of a workspace, matches nothing of theirs.
  AppendOne(SampleEvent("read", "prod", "AB"));
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A"));
  EXPECT_EQ(QueriedSeqs("prod", "AB").size(), 1u);
  // --follow's after_seq is honoured.
  const auto all = ScannedSeqs("prod", "A");
  const uint64_t middle = all[all.size() / 2];
  std::vector<uint64_t> tail(all.begin() + static_cast<long>(all.size() / 2) + 1, all.end());
  EXPECT_EQ(QueriedSeqs("prod", "A", middle), tail);
}

TEST_F(IndexTest, AQueryReadsAcrossChunks) {
  AppendMany(10'000);            // all of prod/API_KEY: more than one read transaction's worth
  EXPECT_EQ(Update(), 10'000u);  // in chunks
  const auto seqs = QueriedSeqs("prod", "API_KEY");
  ASSERT_EQ(seqs.size(), 10'000u);
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
}

TEST_F(IndexTest, EventsAppendedWithoutTheIndexAreFoundAndThenIndexed) {
  AppendMixed();
  Update();
  // The newest 40 events are not indexed (as after appends since the last update).
  for (uint64_t seq = 261; seq <= 300; ++seq) ASSERT_NO_FATAL_FAILURE(Unindex(seq));
  EXPECT_EQ(Through(), 260u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A")) << "the index, then the log";
  const auto tail = ScannedSeqs("dev", "B");
  ASSERT_GT(tail.size(), 2u);
  EXPECT_EQ(QueriedSeqs("dev", "B", tail[tail.size() - 2]), std::vector<uint64_t>{tail.back()});
  EXPECT_TRUE(VerifyOk().index_problem.empty()) << "an index behind the log is not damage";

  AppendOne(SampleEvent("read", "prod", "A"));
  EXPECT_EQ(Update(), 41u);
  EXPECT_EQ(Through(), 301u);
  EXPECT_EQ(IndexEntries(), 301u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A"));
  EXPECT_TRUE(VerifyOk().index_problem.empty());
}

TEST_F(IndexTest, AStoreMadeBeforeTheIndexGetsItWhenOpened) {
  AppendMixed();
  Update();
  store_.reset();
  {
    // Drop the table the way a store made before it existed lacks it.
    MDB_env* raw = nullptr;
    ASSERT_EQ(mdb_env_create(&raw), 0);
    mdb_env_set_maxdbs(raw, 16);
    ASSERT_EQ(mdb_env_open(raw, dir_.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(raw, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "audit_index", 0, &dbi), 0);
    ASSERT_EQ(mdb_drop(txn, dbi, 1), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(raw);
  }
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  store_ = std::move(*opened);
  ASSERT_TRUE(store_->Unlock(KeyFileMaterial(key_bytes_)).ok());
  EXPECT_EQ(Through(), 0u);
  EXPECT_EQ(QueriedSeqs("dev", "B"), ScannedSeqs("dev", "B"));
  AppendOne(SampleEvent());
  EXPECT_EQ(Update(), 301u);
  EXPECT_EQ(Through(), 301u);
  EXPECT_EQ(IndexEntries(), 301u);
  EXPECT_TRUE(VerifyOk().index_problem.empty());
}

TEST_F(IndexTest, TheDaemonsCommitsDoNotIndexAndQueriesReadTheTailFromTheLog) {
  AppendMixed();
  Update();
  {
    secretfs::audit::AuditLog log(env(), SecretBuffer::CopyOf(audit_key_.bytes()),
                                  secretfs::audit::LogOptions{});
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(log.Record(SampleEvent("read", "prod", "A")).ok());
  }
  EXPECT_EQ(Through(), 300u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A"));
  EXPECT_TRUE(VerifyOk().index_problem.empty());
  EXPECT_EQ(Update(), 20u);
  EXPECT_EQ(Through(), 320u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A"));
}

TEST_F(IndexTest, ALongUnindexedTailIsReadFromTheLog) {
  // More unindexed events than a query walks back over: it reads the log, and stays exact.
  AppendMixed();
  Update();
  AppendMany(5000);
  EXPECT_EQ(Through(), 300u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), ScannedSeqs("prod", "A"));
  const auto api = QueriedSeqs("prod", "API_KEY");
  EXPECT_EQ(api, ScannedSeqs("prod", "API_KEY"));
  EXPECT_EQ(api.size(), 5000u);
  EXPECT_EQ(Update(), 5000u);
  EXPECT_EQ(QueriedSeqs("prod", "API_KEY"), api);
}

TEST_F(IndexTest, PruneRemovesTheEntriesOfThePrunedEvents) {
  for (int i = 1; i <= 20; ++i) {
    Event e = SampleEvent("read", "prod", i % 2 ? "A" : "B");
    e.time_ns = int64_t{i} * 1000;
    AppendOne(e);
  }
  Update();
  auto removed = secretfs::audit::Prune(env(), audit_key_, 10'500);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 10u);
  EXPECT_EQ(IndexEntries(), 10u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), (std::vector<uint64_t>{11, 13, 15, 17, 19}));
  EXPECT_TRUE(VerifyOk().index_problem.empty());
}

TEST_F(IndexTest, VerifyNamesAnEntryRemovedFromTheIndexAndReindexRestoresIt) {
  AppendMixed();
  Update();
  ASSERT_NO_FATAL_FAILURE(Unindex(100));  // hides event 100 from queries for its secret
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << "the log itself is whole";
  EXPECT_EQ(r.index_problem, "event 100 is missing from the audit index");

  auto indexed = secretfs::audit::Reindex(env());
  ASSERT_TRUE(indexed.ok()) << indexed.status().message();
  EXPECT_EQ(*indexed, 300u);
  EXPECT_TRUE(VerifyOk().index_problem.empty());
  EXPECT_EQ(QueriedSeqs("dev", "A"), ScannedSeqs("dev", "A"));
}

TEST_F(IndexTest, TheIndexRevealsTheNewestEventsCutFromTheLog) {
  // The chain cannot show the newest events removed; their index entries still name them.
  AppendMixed();
  Update();
  DelRaw(Db::kAudit, SeqKey(300));
  DelRaw(Db::kAudit, SeqKey(299));
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value());
  EXPECT_THAT(r.index_problem,
              ::testing::MatchesRegex("the audit index names event (299|300), which the log "
                                      "lacks: events were removed from the log, or the index was "
                                      "edited"));
}

TEST_F(IndexTest, TheIndexRevealsCutEventsWhoseNumbersNewEventsTook) {
  // Appends number on from the newest event left, so after a cut, as many new events take the
  // cut events' numbers; the entries still name events of prod/A, which the log no longer has.
  for (int i = 1; i <= 10; ++i) AppendOne(SampleEvent("read", "prod", "A"));
  EXPECT_EQ(Update(), 10u);
  for (uint64_t seq = 8; seq <= 10; ++seq) DelRaw(Db::kAudit, SeqKey(seq));
  for (uint64_t seq = 8; seq <= 10; ++seq)
    EXPECT_EQ(AppendOne(SampleEvent("read", "prod", "B")), seq);
  const std::string problem =
      "the audit index names event 8, which the log lacks: events were removed from the log, or "
      "the index was edited";
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << "the chain alone cannot show the cut";
  EXPECT_EQ(r.index_problem, problem);
  EXPECT_EQ(Update(), 3u);  // a query for one secret indexes the new events
  r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value());
  EXPECT_EQ(r.index_problem, problem);
}

TEST_F(IndexTest, AnEntryForAMissingEventIsSkippedByQueries) {
  // An event of prod/A removed from the log (damage) while its entry stays, inside the indexed
  // range: the query reads the entry, finds no event and goes on with the rest.
  AppendMixed();
  Update();
  auto expected = ScannedSeqs("prod", "A");
  ASSERT_GE(expected.size(), 3u);
  const uint64_t removed = expected[1];
  DelRaw(Db::kAudit, SeqKey(removed));
  expected.erase(expected.begin() + 1);
  ASSERT_EQ(Through(), 300u);
  EXPECT_EQ(QueriedSeqs("prod", "A"), expected);
  AppendOne(SampleEvent("read", "prod", "A"));
  expected.push_back(301);
  EXPECT_EQ(QueriedSeqs("prod", "A"), expected);
}

}  // namespace
}  // namespace audit_test
