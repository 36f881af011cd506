// Tamper evidence against a real store (SPEC §6): `audit verify` after editing, deleting and
// swapping events in the LMDB table of an unmounted store, as an attacker would; pruning.
#include <lmdb.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/audit_mount_fixture.h"

namespace secretfs::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Whether `text` names event `seq` ("event 7", not "event 71").
bool NamesEvent(const std::string& text, uint64_t seq) {
  const std::regex number("event " + std::to_string(seq) + "([^0-9]|$)");
  return std::regex_search(text, number);
}

// Opens the store's LMDB environment directly (nothing else may have it open) and runs `edit` in
// one write transaction on the audit table, keyed by u64 big-endian sequence numbers (or on
// another table).
void EditAuditTable(const std::string& store, const std::function<void(MDB_txn*, MDB_dbi)>& edit,
                    const char* table = "audit") {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  ASSERT_EQ(mdb_env_open(env, store.c_str(), 0, 0600), 0) << "opening " << store;
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn, table, 0, &dbi);
  EXPECT_EQ(rc, 0) << mdb_strerror(rc);
  if (rc == 0) edit(txn, dbi);
  if (::testing::Test::HasFailure()) {
    mdb_txn_abort(txn);
  } else {
    EXPECT_EQ(mdb_txn_commit(txn), 0);
  }
  mdb_env_close(env);
}

std::string SeqKey(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[static_cast<size_t>(i)] = static_cast<char>(seq >> (8 * (7 - i)));
  return key;
}

std::string GetRecord(MDB_txn* txn, MDB_dbi dbi, uint64_t seq) {
  std::string k = SeqKey(seq);
  MDB_val key{k.size(), k.data()}, value{};
  const int rc = mdb_get(txn, dbi, &key, &value);
  EXPECT_EQ(rc, 0) << "event " << seq << ": " << mdb_strerror(rc);
  return rc == 0 ? std::string(static_cast<const char*>(value.mv_data), value.mv_size) : "";
}

void PutRecord(MDB_txn* txn, MDB_dbi dbi, uint64_t seq, std::string bytes) {
  std::string k = SeqKey(seq);
  MDB_val key{k.size(), k.data()}, value{bytes.size(), bytes.data()};
  EXPECT_EQ(mdb_put(txn, dbi, &key, &value, 0), 0);
}

class AuditVerifyTest : public AuditTest {
 protected:
  // Some history (CLI and filesystem events), then the store unmounted; the seqs of its events.
  std::vector<uint64_t> MakeHistoryAndUnmount() {
    Put("dev/K", "v1");
    Put("dev/K", "v2");
    EXPECT_EQ(ReadPath(M("dev/K")).bytes, "v2");
    EXPECT_TRUE(WritePath(M("dev/K"), "v3").ok());
    EXPECT_EQ(ReadPath(M("dev/.versions/K/1")).bytes, "v1");
    EXPECT_EQ(ErrnoOf(unlink(M("dev/K").c_str())), 0);
    Unmount(mnt_);
    std::vector<uint64_t> seqs;
    for (const AuditEvent& e : Events()) seqs.push_back(e.seq);
    EXPECT_GE(seqs.size(), 10u);
    return seqs;
  }

  ProcessResult Verify() { return Cli({"audit", "verify"}); }
};

TEST_F(AuditVerifyTest, ARealLogVerifies) {
  MakeHistoryAndUnmount();
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  // And still does while mounted, with the daemon appending.
  ASSERT_TRUE(Succeeded(MountAt(mnt_)));
  EXPECT_EQ(ReadPath(M("dev/.versions/K/2")).bytes, "v2");
  const ProcessResult mounted = Verify();
  EXPECT_EQ(mounted.exit_code, 0) << Describe(mounted);
}

TEST_F(AuditVerifyTest, AnEditedEventIsNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, target);
    ASSERT_GT(record.size(), 48u);
    record[16] ^= 0x01;  // a bit of the event's time: still an event, not the one that was MACed
    PutRecord(txn, dbi, target, record);
  });
  const ProcessResult r = Verify();
  EXPECT_TRUE(FailedCleanly(r));
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(NamesEvent(r.out + r.err, target)) << "event " << target << ": " << Describe(r);
}

// An event that does not decode is named by `secretfs audit`, which still prints every other
// event (all of them, and those of one secret), and exits 1. Before, it printed nothing.
TEST_F(AuditVerifyTest, AnEventThatDoesNotDecodeIsNamedAndTheOthersStillPrint) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  std::vector<uint64_t> of_k;  // events about dev/K, which the query for that secret must reach
  // That query indexes the log first (damage found in an event already indexed).
  for (const AuditEvent& e : Events({"--workspace", "dev", "--key", "K"})) of_k.push_back(e.seq);
  ASSERT_GE(of_k.size(), 5u);
  const uint64_t target = of_k[of_k.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, target);
    ASSERT_GT(record.size(), 48u);
    record[0] ^= 0x7F;  // the layout byte: no longer an event at all
    PutRecord(txn, dbi, target, record);
  });
  for (const std::vector<std::string>& filters :
       {std::vector<std::string>{}, std::vector<std::string>{"--workspace", "dev", "--key", "K"}}) {
    std::vector<std::string> args = {"audit", "--json"};
    args.insert(args.end(), filters.begin(), filters.end());
    const ProcessResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    std::set<uint64_t> printed;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) printed.insert(ParseEvent(line).seq);
    EXPECT_FALSE(printed.count(target));
    // Every other event (about K, for the query about K) is printed.
    for (uint64_t seq : filters.empty() ? seqs : of_k)
      EXPECT_TRUE(seq == target || printed.count(seq)) << "event " << seq << " missing";
    EXPECT_TRUE(NamesEvent(r.err, target)) << Describe(r);
  }
}

TEST_F(AuditVerifyTest, ADeletedEventIsNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string k = SeqKey(target);
    MDB_val key{k.size(), k.data()};
    ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
  });
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  // The gap: the missing event, or the first one after it that no longer chains.
  EXPECT_TRUE(NamesEvent(r.out + r.err, target) || NamesEvent(r.out + r.err, target + 1))
      << "event " << target << ": " << Describe(r);
}

TEST_F(AuditVerifyTest, TwoSwappedEventsAreNamed) {
  const std::vector<uint64_t> seqs = MakeHistoryAndUnmount();
  ASSERT_GE(seqs.size(), 10u);
  const uint64_t target = seqs[seqs.size() / 2];
  ASSERT_EQ(seqs[seqs.size() / 2 + 1], target + 1);
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    const std::string first = GetRecord(txn, dbi, target);
    const std::string second = GetRecord(txn, dbi, target + 1);
    PutRecord(txn, dbi, target, second);
    PutRecord(txn, dbi, target + 1, first);
  });
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(NamesEvent(r.out + r.err, target)) << "event " << target << ": " << Describe(r);
}

TEST_F(AuditVerifyTest, TheNewestEventsCutOffAreRevealedByTheIndexAndReindexAcceptsTheCut) {
  MakeHistoryAndUnmount();
  // A query for one secret brings the index up to date, its own event included.
  ASSERT_FALSE(Events({"--workspace", "dev", "--key", "K"}).empty());
  uint64_t last = 0;
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    for (int cut = 0; cut < 2; ++cut) {  // the newest two
      MDB_cursor* cursor = nullptr;
      ASSERT_EQ(mdb_cursor_open(txn, dbi, &cursor), 0);
      MDB_val key{}, value{};
      ASSERT_EQ(mdb_cursor_get(cursor, &key, &value, MDB_LAST), 0);
      ASSERT_EQ(key.mv_size, 8u);
      if (cut == 0)
        for (size_t i = 0; i < 8; ++i)
          last = last << 8 | static_cast<const uint8_t*>(key.mv_data)[i];
      mdb_cursor_close(cursor);
      ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
    }
  });
  // The chain that is left verifies; the index still names the events cut off. (Each verify
  // appends its own event, reusing a number that was cut: the other stays named.)
  for (int round = 0; round < 2; ++round) {
    const ProcessResult r = Verify();
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_TRUE(r.err.find("the audit index names event " + std::to_string(last - 1) +
                           ", which the log lacks") != std::string::npos ||
                r.err.find("the audit index names event " + std::to_string(last) +
                           ", which the log lacks") != std::string::npos)
        << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("secretfs audit verify --reindex"));
  }

  // Once the operator knows why, the index is rebuilt from the log as it is.
  const ProcessResult reindexed = Cli({"audit", "verify", "--reindex"});
  EXPECT_EQ(reindexed.exit_code, 0) << Describe(reindexed);
  EXPECT_THAT(reindexed.err, HasSubstr("audit index rebuilt"));
  EXPECT_EQ(Verify().exit_code, 0);
}

TEST_F(AuditVerifyTest, AnEntryRemovedFromTheIndexIsNamedAndQueriesStillFindTheRest) {
  MakeHistoryAndUnmount();
  const std::vector<AuditEvent> k_events = Events({"--workspace", "dev", "--key", "K"});
  ASSERT_GE(k_events.size(), 2u);
  const uint64_t hidden = k_events.front().seq;
  EditAuditTable(
      store_,
      [&](MDB_txn* txn, MDB_dbi dbi) {
        std::string k = std::string("dev") + '\0' + "K" + '\0' + SeqKey(hidden);
        MDB_val key{k.size(), k.data()};
        ASSERT_EQ(mdb_del(txn, dbi, &key, nullptr), 0);
      },
      "audit_index");
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err,
              HasSubstr("event " + std::to_string(hidden) + " is missing from the audit index"));
  ASSERT_EQ(Cli({"audit", "verify", "--reindex"}).exit_code, 0);
  EXPECT_EQ(Events({"--workspace", "dev", "--key", "K"}).front().seq, hidden);
}

TEST_F(AuditVerifyTest, PruningKeepsTheRestVerifiable) {
  MakeHistoryAndUnmount();
  std::this_thread::sleep_for(20ms);
  const int64_t cut = NowNs();
  std::this_thread::sleep_for(20ms);
  Put("dev/AFTER", "after");
  const std::vector<AuditEvent> before = Events();
  const ProcessResult prune = Cli({"audit", "prune", "--before", Rfc3339(cut)});
  ASSERT_EQ(prune.exit_code, 0) << Describe(prune);
  const std::vector<AuditEvent> left = Events();
  ASSERT_FALSE(left.empty());
  EXPECT_LT(left.size(), before.size());
  EXPECT_GE(left.front().time_ns, cut) << left.front().json;
  bool kept_after = false;
  for (const AuditEvent& e : left) kept_after |= e.op == "put" && e.key == "AFTER";
  EXPECT_TRUE(kept_after);
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("prune"));
}

TEST_F(AuditVerifyTest, APruneStopsAtAnEditedEventAndItsOwnEventCountsWhatItRemovedBefore) {
  // The CLI prunes in transactions of 10,000 events (audit::kPruneEventsPerTransaction), each
  // verified: an edited event in the second stops the prune there, the first stays done.
  constexpr size_t kStep = 10'000;
  Remount("audit=buffered");  // 10,000 reads in about a second
  Put("dev/K", "v");
  for (size_t i = 0; i < kStep + 100; ++i) ASSERT_EQ(ReadPath(M("dev/K")).error, 0) << i;
  Unmount(mnt_);
  const std::vector<AuditEvent> events = Events();
  ASSERT_GT(events.size(), kStep + 100);
  const uint64_t edited = events[kStep + 50].seq;
  EditAuditTable(store_, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string record = GetRecord(txn, dbi, edited);
    ASSERT_GT(record.size(), 48u);
    record[16] ^= 0x01;
    PutRecord(txn, dbi, edited, record);
  });

  const ProcessResult prune = Cli({"audit", "prune", "--before", "now"});
  EXPECT_TRUE(FailedCleanly(prune)) << Describe(prune);
  EXPECT_TRUE(NamesEvent(prune.err, edited)) << "event " << edited << ": " << Describe(prune);

  const std::vector<AuditEvent> left = Events();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.front().seq, events[kStep].seq) << "the first step stays committed";
  // The first step recorded itself in its own transaction; the failure is recorded after it.
  const std::vector<AuditEvent> prunes = Events({"--op", "audit prune"});
  ASSERT_EQ(prunes.size(), 2u);
  EXPECT_EQ(prunes.front().result_name, "ok") << prunes.front().json;
  EXPECT_THAT(prunes.front().detail, HasSubstr("removed=" + std::to_string(kStep)))
      << prunes.front().json;
  const AuditEvent& self = prunes.back();
  EXPECT_NE(self.result_name, "ok") << self.json;
  EXPECT_THAT(self.detail, HasSubstr("removed=" + std::to_string(kStep))) << self.json;
}

// audit_keep=AGE: the daemon prunes what is older, records that it did, and the rest verifies.
TEST_F(AuditVerifyTest, AuditKeepPrunesEventsOlderThanItsAgeAndTheRestVerifies) {
  Put("dev/OLD", "v");
  ASSERT_NO_FATAL_FAILURE(Remount("audit_keep=2s"));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ReadPath(M("dev/OLD")).bytes, "v");
  const uint64_t last_old = LastSeq();

  // Each event goes once it is 2 s old, within one period (a quarter of the age, at least 1 s).
  std::vector<AuditEvent> left = Events();
  for (int waited = 0; waited < 20 && !left.empty() && left.front().seq <= last_old; ++waited) {
    std::this_thread::sleep_for(500ms);
    left = Events();
  }
  ASSERT_FALSE(left.empty());
  EXPECT_GT(left.front().seq, last_old) << "events older than 2 s are still there:" << Dump(left);

  const std::vector<AuditEvent> prunes = Events({"--op", "audit prune"});
  ASSERT_FALSE(prunes.empty()) << "the daemon's prunes are events too";
  EXPECT_EQ(prunes.front().origin, "fs");
  EXPECT_THAT(prunes.front().detail, HasSubstr("removed="));
  const ProcessResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("chained from the prune anchor"));
}

// ---- Fail-closed: no event, no value. ----

}  // namespace
}  // namespace secretfs::testing
