// The stored form of events and the keyed hash chain: encoding, Append, Verify naming the first
// broken event after edits, deletions, reordering and insertions, and Prune with its anchor.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "audit_fixture.h"

namespace audit_test {
namespace {

using secretfs::audit::Decode;
using secretfs::audit::Encode;
using secretfs::audit::kMacBytes;
using secretfs::audit::Origin;
using secretfs::audit::Prune;
using secretfs::audit::SeqKey;
using secretfs::audit::SeqOf;
using secretfs::audit::Verify;

void ExpectSameEvent(const Event& a, const Event& b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.time_ns, b.time_ns);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.result, b.result);
  EXPECT_EQ(a.workspace, b.workspace);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.comm, b.comm);
  EXPECT_EQ(a.exe, b.exe);
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.detail, b.detail);
}

TEST(EventEncodingTest, RoundTripsEveryField) {
  Event e = SampleEvent("rename", "prod", "NEW_NAME");
  e.seq = 0x0102030405060708ull;
  e.time_ns = -5;  // before 1970 still round-trips
  e.result = EACCES;
  e.version = UINT64_MAX;
  e.uid = UINT32_MAX;
  e.pid = -1;
  e.origin = Origin::kCli;
  e.detail = std::string("from OLD_NAME\0with nul\n", 23);
  auto decoded = Decode(Encode(e));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ExpectSameEvent(*decoded, e);

  auto empty = Decode(Encode(Event{}));
  ASSERT_TRUE(empty.ok());
  ExpectSameEvent(*empty, Event{});
}

TEST(EventEncodingTest, StartsWithAFormatByte) {
  EXPECT_EQ(Encode(SampleEvent())[0], 1) << "format 1; a new layout needs a new number";
}

TEST(EventEncodingTest, RejectsTruncationTrailingBytesAndGarbage) {
  const std::vector<uint8_t> good = Encode(SampleEvent());
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = Decode(std::span(good).first(n));
    EXPECT_FALSE(r.ok()) << "truncated to " << n << " bytes";
    EXPECT_EQ(r.status().code(), EIO);
  }
  std::vector<uint8_t> trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(Decode(trailing).status().code(), EIO);

  std::vector<uint8_t> format = good;
  format[0] = 2;
  EXPECT_EQ(Decode(format).status().code(), EIO);

  const std::vector<uint8_t> garbage = secretfs::keyring::RandomBytes(200);
  EXPECT_FALSE(Decode(garbage).ok());
}

TEST(EventEncodingTest, RejectsOverLongStringsAndUnknownOrigin) {
  // A length field claiming 4 GiB must fail cleanly, not allocate or read past the end.
  secretfs::ByteWriter w;
  w.U8(1);
  w.U64(1);
  w.I64(1);
  w.U32(0xffffffffu);  // op's length
  EXPECT_EQ(Decode(w.bytes()).status().code(), EIO);

  // A field over the bound is rejected even when the bytes are all there.
  Event e = SampleEvent();
  e.detail = std::string(5000, 'd');  // Encode keeps at most 4096 bytes of a field
  auto bounded = Decode(Encode(e));
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->detail.size(), 4096u);
  secretfs::ByteWriter longer;
  longer.U8(1);
  longer.U64(1);
  longer.I64(1);
  longer.Str(std::string(4097, 'x'));
  EXPECT_EQ(Decode(longer.bytes()).status().code(), EIO);

  std::vector<uint8_t> origin = Encode(SampleEvent());
  // The origin byte sits before the detail's u32 length (an empty detail: 4 zero bytes).
  origin[origin.size() - 5] = 7;
  EXPECT_EQ(Decode(origin).status().code(), EIO);
}

TEST(EventEncodingTest, SeqKeysAreBigEndianAndSortNumerically) {
  EXPECT_EQ(SeqKey(1), (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(SeqOf(SeqKey(0x0102030405060708ull)), 0x0102030405060708ull);
  EXPECT_LT(SeqKey(255), SeqKey(256));
  EXPECT_EQ(secretfs::audit::OriginName(Origin::kFs), "fs");
  EXPECT_EQ(secretfs::audit::OriginName(Origin::kCli), "cli");
}

class ChainTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateStore());
  }

  secretfs::audit::VerifyResult Broken() {
    auto r = Verify(env(), audit_key_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {};
    EXPECT_TRUE(r->broken_seq.has_value()) << "the chain should not verify";
    EXPECT_FALSE(r->problem.empty());
    return *r;
  }
};

TEST_F(ChainTest, AppendNumbersEventsAndStampsTheTime) {
  Event e = SampleEvent();
  const int64_t before = secretfs::store::NowNs();
  EXPECT_EQ(AppendOne(e), 1u);
  EXPECT_EQ(AppendOne(e), 2u);
  Event timed = SampleEvent();
  timed.time_ns = 12345;
  EXPECT_EQ(AppendOne(timed), 3u);
  auto all = All();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_GE(all[0].time_ns, before);
  EXPECT_LE(all[0].time_ns, secretfs::store::NowNs());
  EXPECT_EQ(all[2].time_ns, 12345) << "a given time is kept";
  EXPECT_EQ(Stored(1)->size(), Encode(all[0]).size() + kMacBytes);
}

TEST_F(ChainTest, EmptyLogVerifies) {
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value());
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.first_seq, 0u);
  EXPECT_FALSE(r.anchored);
}

TEST_F(ChainTest, ManyEventsVerifyAndHeadIsTheLastMac) {
  AppendMany(3000);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  auto r = Verify(env(), audit_key_,
                  [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->broken_seq.has_value()) << r->problem;
  EXPECT_EQ(r->events, 3000u);
  EXPECT_EQ(r->first_seq, 1u);
  EXPECT_EQ(r->last_seq, 3000u);
  const auto last = *Stored(3000);
  EXPECT_EQ(r->head_mac, std::vector<uint8_t>(last.end() - kMacBytes, last.end()));
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(uint64_t{3000}, uint64_t{3000}));
}

TEST_F(ChainTest, TheMacIsKeyedBlake2bOverThePreviousMacAndTheEvent) {
  AppendMany(2);
  const auto first = *Stored(1);
  const auto second = *Stored(2);
  secretfs::audit::Mac zero{}, mac1{};
  std::copy(first.end() - kMacBytes, first.end(), mac1.begin());
  EXPECT_EQ(secretfs::audit::ChainMac(audit_key_.bytes(), zero,
                                      std::span(first).first(first.size() - kMacBytes)),
            mac1);
  secretfs::audit::Mac mac2{};
  std::copy(second.end() - kMacBytes, second.end(), mac2.begin());
  EXPECT_EQ(secretfs::audit::ChainMac(audit_key_.bytes(), mac1,
                                      std::span(second).first(second.size() - kMacBytes)),
            mac2);
}

TEST_F(ChainTest, AnotherKeyDoesNotVerify) {
  AppendMany(5);
  const SecretBuffer other = SecretBuffer::CopyOf(secretfs::keyring::RandomBytes(32));
  auto r = Verify(env(), other);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->broken_seq, 1u);
  const SecretBuffer short_key = SecretBuffer::CopyOf(secretfs::keyring::RandomBytes(16));
  EXPECT_EQ(Verify(env(), short_key).status().code(), EINVAL);
}

TEST_F(ChainTest, AnEditedByteNamesThatEvent) {
  AppendMany(50);
  // Every region of the record: the format byte, a number, a string, the MAC itself.
  for (size_t offset : {size_t{0}, size_t{3}, size_t{30}, Stored(17)->size() - 1}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    FlipByte(17, offset);
    auto r = Broken();
    EXPECT_EQ(r.broken_seq, 17u) << r.problem;
    EXPECT_EQ(r.events, 16u) << "the events before it verified";
    FlipByte(17, offset);  // back
    EXPECT_FALSE(VerifyOk().broken_seq.has_value());
  }
}

TEST_F(ChainTest, AnEditedFieldWithAReencodedRecordIsStillCaught) {
  AppendMany(10);
  // Change the uid and re-encode properly, keeping the old MAC: the record decodes, the MAC
  // does not match.
  auto v = *Stored(4);
  auto e = Decode(std::span(v).first(v.size() - kMacBytes));
  ASSERT_TRUE(e.ok());
  e->uid = 0;
  std::vector<uint8_t> forged = Encode(*e);
  forged.insert(forged.end(), v.end() - kMacBytes, v.end());
  PutRaw(Db::kAudit, SeqKey(4), forged);
  auto r = Broken();
  EXPECT_EQ(r.broken_seq, 4u);
  EXPECT_NE(r.problem.find("edited"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, ADeletedEventIsNamedByTheGap) {
  AppendMany(20);
  DelRaw(Db::kAudit, SeqKey(8));
  auto r = Broken();
  EXPECT_EQ(r.broken_seq, 9u) << "the first event after the gap";
  EXPECT_NE(r.problem.find("event 8"), std::string::npos) << r.problem;
  EXPECT_NE(r.problem.find("missing"), std::string::npos) << r.problem;

  DelRaw(Db::kAudit, SeqKey(9));
  DelRaw(Db::kAudit, SeqKey(10));
  r = Broken();
  EXPECT_EQ(r.broken_seq, 11u);
  EXPECT_NE(r.problem.find("8..10"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, DeletingTheOldestEventsIsDetected) {
  AppendMany(5);
  DelRaw(Db::kAudit, SeqKey(1));
  auto r = Broken();
  EXPECT_EQ(r.broken_seq, 2u);
  EXPECT_NE(r.problem.find("event 1 "), std::string::npos) << r.problem;
}

TEST_F(ChainTest, SwappedEventsAreDetected) {
  AppendMany(12);
  const auto a = *Stored(6), b = *Stored(7);
  PutRaw(Db::kAudit, SeqKey(6), b);
  PutRaw(Db::kAudit, SeqKey(7), a);
  auto r = Broken();
  EXPECT_EQ(r.broken_seq, 6u) << r.problem;
}

TEST_F(ChainTest, AnInsertedEventIsDetected) {
  AppendMany(6);
  // A forged event at the end with a made-up MAC.
  Event forged = SampleEvent("read");
  forged.seq = 7;
  std::vector<uint8_t> value = Encode(forged);
  const auto junk = secretfs::keyring::RandomBytes(kMacBytes);
  value.insert(value.end(), junk.begin(), junk.end());
  PutRaw(Db::kAudit, SeqKey(7), value);
  EXPECT_EQ(Broken().broken_seq, 7u);

  // A copy of an earlier event replayed as a new one.
  PutRaw(Db::kAudit, SeqKey(7), *Stored(3));
  EXPECT_EQ(Broken().broken_seq, 7u);
}

TEST_F(ChainTest, AnUndecodableRecordIsNamed) {
  AppendMany(4);
  PutRaw(Db::kAudit, SeqKey(3), std::vector<uint8_t>{1, 2, 3});
  auto r = Broken();
  EXPECT_EQ(r.broken_seq, 3u);
  // Query says which event does not decode.
  const Status s = secretfs::audit::Query(env(), {}, [](const Event&) { return true; });
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find("audit event 3"), std::string::npos) << s.message();

  // With a place to report it, the damaged event is reported in its place and the others are
  // all still read (secretfs audit prints them and names event 3).
  std::vector<uint64_t> order;  // the seq of each event visited, 1000 + seq of a damaged one
  const Status all = secretfs::audit::Query(
      env(), {},
      [&](const Event& e) {
        order.push_back(e.seq);
        return true;
      },
      [&](uint64_t seq, const Status& why) {
        order.push_back(1000 + seq);
        EXPECT_EQ(why.code(), EIO);
      });
  EXPECT_TRUE(all.ok()) << all.message();
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 1003, 4}));
}

TEST_F(ChainTest, TruncatingTheNewestEventsChangesOnlyTheHead) {
  // What verify cannot prove: the newest events removed leave a shorter chain that verifies.
  // The head MAC and last seq are what an external note compares.
  AppendMany(10);
  const auto head = VerifyOk().head_mac;
  DelRaw(Db::kAudit, SeqKey(10));
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value());
  EXPECT_EQ(r.last_seq, 9u);
  EXPECT_NE(r.head_mac, head);
}

TEST_F(ChainTest, PruneKeepsTheRestVerifiable) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(20));
  const auto head = VerifyOk().head_mac;
  auto removed = Prune(env(), audit_key_, 8000);  // events with time < 8000: 1..7
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 7u);
  EXPECT_FALSE(Stored(7).has_value());
  ASSERT_TRUE(Stored(8).has_value());
  ASSERT_TRUE(Anchor().has_value());

  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_TRUE(r.anchored);
  EXPECT_EQ(r.first_seq, 8u);
  EXPECT_EQ(r.last_seq, 20u);
  EXPECT_EQ(r.events, 13u);
  EXPECT_EQ(r.head_mac, head) << "pruning does not change the head";

  // Appending continues the chain, and a second prune moves the anchor on.
  EXPECT_EQ(AppendOne(SampleEvent()), 21u);
  removed = Prune(env(), audit_key_, 10'500);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 3u);
  r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_EQ(r.first_seq, 11u);
  EXPECT_EQ(r.last_seq, 21u);
}

TEST_F(ChainTest, PruneRemovesAtMostMaxEventsPerCallAndEachStepVerifies) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(20));
  const auto head = VerifyOk().head_mac;
  // Events with time < 15,500 are 1..15: four calls of at most 4 remove 4, 4, 4 and 3.
  for (uint64_t expected : {4u, 4u, 4u, 3u, 0u}) {
    auto removed = Prune(env(), audit_key_, 15'500, 4);
    ASSERT_TRUE(removed.ok()) << removed.status().message();
    EXPECT_EQ(*removed, expected);
    auto r = VerifyOk();
    EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
    EXPECT_EQ(r.head_mac, head);
  }
  auto r = VerifyOk();
  EXPECT_EQ(r.first_seq, 16u);
  EXPECT_EQ(r.last_seq, 20u);
  EXPECT_EQ(r.events, 5u);
}

TEST_F(ChainTest, PruneStopsAtTheFirstNewerEventAndNeverRemovesTheNewest) {
  for (int64_t t : {1000, 2000, 9000, 3000, 4000}) {
    Event e = SampleEvent();
    e.time_ns = t;
    AppendOne(e);
  }
  auto removed = Prune(env(), audit_key_, 5000);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2u) << "stops at event 3 (time 9000)";
  removed = Prune(env(), audit_key_, INT64_MAX);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2u) << "events 3 and 4; 5 is the newest";
  ASSERT_TRUE(Stored(5).has_value());
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_EQ(r.events, 1u);
  removed = Prune(env(), audit_key_, INT64_MAX);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0u);
}

TEST_F(ChainTest, PruneRefusesToLaunderATamperedChain) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(10));
  FlipByte(3, 20);
  auto removed = Prune(env(), audit_key_, 8000);
  EXPECT_EQ(removed.status().code(), EIO);
  EXPECT_NE(removed.status().message().find("event 3"), std::string::npos)
      << removed.status().message();
  EXPECT_TRUE(Stored(1).has_value()) << "nothing removed";
  EXPECT_FALSE(Anchor().has_value());
}

TEST_F(ChainTest, PruneInStepsRemovesAllThatIsDueAndCountsStepsBeforeAFailure) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(20));
  uint64_t removed = 0;
  Status s = secretfs::audit::PruneInSteps(env(), audit_key_, 8000, 3, removed);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(removed, 7u) << "events 1..7, in steps of 3, 3 and 1";
  EXPECT_EQ(VerifyOk().first_seq, 8u);

  // A tampered event stops the steps there; those before it stay removed and are counted.
  FlipByte(15, 20);
  removed = 0;
  s = secretfs::audit::PruneInSteps(env(), audit_key_, INT64_MAX, 3, removed);
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find("event 15"), std::string::npos) << s.message();
  EXPECT_EQ(removed, 6u) << "events 8..13 in two steps; the third stops at 15";
  EXPECT_TRUE(Stored(14).has_value());
  EXPECT_FALSE(Stored(13).has_value());
}

// `audit prune` killed between two steps: the steps it committed removed events, and each must
// have left the prune's event (who ran it), since the event after the last step never comes.
TEST_F(ChainTest, APruneStoppedAfterItsFirstStepHasRecordedWhoRemovedItsEvents) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(20));
  Event self = SampleEvent(secretfs::audit::op::kAuditPrune, "", "", 4321);
  self.origin = Origin::kCli;
  self.version = 0;

  // The first step only, as if the process were killed right after it.
  auto first = Prune(env(), audit_key_, 8000, 3, &self);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, 3u);
  std::vector<Event> prunes;
  for (const Event& e : All())
    if (e.op == secretfs::audit::op::kAuditPrune) prunes.push_back(e);
  ASSERT_EQ(prunes.size(), 1u) << "the step's own transaction recorded it";
  EXPECT_EQ(prunes[0].uid, 4321u);
  EXPECT_EQ(prunes[0].origin, Origin::kCli);
  EXPECT_EQ(prunes[0].seq, 21u);
  EXPECT_NE(prunes[0].detail.find(" removed=3"), std::string::npos) << prunes[0].detail;
  secretfs::audit::VerifyResult verified = VerifyOk();
  EXPECT_FALSE(verified.broken_seq.has_value()) << verified.problem;
  EXPECT_EQ(verified.first_seq, 4u);

  // The prune run again, in steps: each step records itself; none removes an earlier prune's
  // event (it is newer than --before).
  uint64_t removed = 0;
  const Status s = secretfs::audit::PruneInSteps(env(), audit_key_, 8000, 3, removed, &self);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(removed, 4u) << "events 4..7, in steps of 3 and 1";
  prunes.clear();
  for (const Event& e : All())
    if (e.op == secretfs::audit::op::kAuditPrune) prunes.push_back(e);
  ASSERT_EQ(prunes.size(), 3u);
  EXPECT_NE(prunes[1].detail.find(" removed=3"), std::string::npos) << prunes[1].detail;
  EXPECT_NE(prunes[2].detail.find(" removed=1"), std::string::npos) << prunes[2].detail;
  verified = VerifyOk();
  EXPECT_FALSE(verified.broken_seq.has_value()) << verified.problem;
  EXPECT_EQ(verified.first_seq, 8u);
}

// A mount's durable accesses commit in another process than an operator's `audit prune`: they
// must get the store's writer between two steps, not only after the last one.
TEST_F(ChainTest, AnotherProcessCommitsBetweenTheStepsOfAPrune) {
  ASSERT_NO_FATAL_FAILURE(AppendMany(60'000));
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    // Its own environment on the same files (a fork must not use the parent's), opened before
    // the prune starts; then one commit, and the time it finished.
    auto opened = SecretStore::Open(dir_);
    if (!opened.ok()) _exit(90);
    char byte = 0;
    if (read(go[0], &byte, 1) != 1) _exit(91);
    const std::vector<uint8_t> value{1};
    const Status s = (*opened)->env().Write(
        [&](Txn& txn) { return txn.Put(Db::kMeta, secretfs::AsBytes("test-mark"), value); });
    const int64_t at = secretfs::store::NowNs();
    if (write(done[1], &at, sizeof at) != sizeof at) _exit(92);
    _exit(s.ok() ? 0 : 93);
  }
  // A first step, so the prune is under way when the other process asks for the writer.
  auto first = Prune(env(), audit_key_, INT64_MAX, 1000);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(write(go[1], "x", 1), 1);
  uint64_t removed = *first;
  const Status s = secretfs::audit::PruneInSteps(env(), audit_key_, INT64_MAX, 1000, removed);
  const int64_t prune_ended = secretfs::store::NowNs();
  ASSERT_TRUE(s.ok()) << s.message();
  int64_t committed = 0;
  EXPECT_EQ(read(done[0], &committed, sizeof committed), static_cast<ssize_t>(sizeof committed));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
  EXPECT_EQ(removed, 59'999u);
  EXPECT_LT(committed, prune_ended) << "the other process waited for the whole prune";
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(ChainTest, AnEditedOrMovedAnchorIsDetected) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(10));
  ASSERT_TRUE(Prune(env(), audit_key_, 5000).ok());
  const auto anchor = *Anchor();
  ASSERT_EQ(anchor.size(), 8 + 2 * kMacBytes);

  // Moved: claims the chain starts after event 6, as if 5 and 6 had been pruned too.
  std::vector<uint8_t> moved = anchor;
  moved[7] = 6;
  PutRaw(Db::kMeta, secretfs::AsBytes(secretfs::audit::kAnchorKey), moved);
  DelRaw(Db::kAudit, SeqKey(5));
  DelRaw(Db::kAudit, SeqKey(6));
  auto r = Broken();
  EXPECT_TRUE(r.anchored);
  EXPECT_NE(r.problem.find("anchor"), std::string::npos) << r.problem;
  EXPECT_EQ(r.broken_seq, 7u);

  // Edited MAC.
  std::vector<uint8_t> edited = anchor;
  edited[8 + 3] ^= 0x80;
  PutRaw(Db::kMeta, secretfs::AsBytes(secretfs::audit::kAnchorKey), edited);
  r = Broken();
  EXPECT_NE(r.problem.find("anchor"), std::string::npos) << r.problem;
  EXPECT_EQ(Prune(env(), audit_key_, INT64_MAX).status().code(), EIO) << "no pruning from it";

  // Removed: the chain then has to start at event 1, which is gone.
  DelRaw(Db::kMeta, secretfs::AsBytes(secretfs::audit::kAnchorKey));
  r = Broken();
  EXPECT_NE(r.problem.find("missing"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, AnEmptiedTableContinuesFromTheAnchor) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(3));
  ASSERT_TRUE(Prune(env(), audit_key_, INT64_MAX).ok());
  DelRaw(Db::kAudit, SeqKey(3));  // the table is empty now; the anchor is after event 2
  EXPECT_EQ(AppendOne(SampleEvent()), 3u);
  auto r = VerifyOk();
  EXPECT_FALSE(r.broken_seq.has_value()) << r.problem;
  EXPECT_EQ(r.first_seq, 3u);
}

// ---- Rechain: keyring rotate's new audit key. ----

TEST_F(ChainTest, RechainMovesTheWholeChainAndItsAnchorToTheNewKey) {
  ASSERT_NO_FATAL_FAILURE(AppendOldEvents(20));
  ASSERT_TRUE(Prune(env(), audit_key_, 8000).ok());
  const SecretBuffer new_key = SecretBuffer::CopyOf(secretfs::keyring::RandomBytes(32));
  Result<uint64_t> rechained = Status(EIO, "not run");
  ASSERT_TRUE(env()
                  .Write([&](Txn& txn) {
                    rechained = secretfs::audit::Rechain(txn, audit_key_, new_key);
                    return rechained.status();
                  })
                  .ok())
      << rechained.status().message();
  EXPECT_EQ(*rechained, 13u);

  auto r = Verify(env(), new_key);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->broken_seq.has_value()) << r->problem;
  EXPECT_TRUE(r->anchored);
  EXPECT_EQ(r->first_seq, 8u);
  EXPECT_EQ(r->last_seq, 20u);
  EXPECT_TRUE(Broken().broken_seq.has_value()) << "the old key verifies nothing any more";
  EXPECT_EQ(All().size(), 13u) << "the events themselves are kept";

  // A process still holding the old key cannot append; the new key continues the chain.
  Event late = SampleEvent();
  const Status refused =
      env().Write([&](Txn& txn) { return secretfs::audit::Append(txn, audit_key_, late); });
  EXPECT_EQ(refused.code(), EIO);
  EXPECT_NE(refused.message().find("rotated"), std::string::npos) << refused.message();
  audit_key_ = new_key.Clone();
  EXPECT_EQ(AppendOne(SampleEvent()), 21u);
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
}

TEST_F(ChainTest, RechainRefusesATamperedChainAndChangesNothing) {
  AppendMany(10);
  FlipByte(4, 30);
  const auto before = Stored(10);
  const SecretBuffer new_key = SecretBuffer::CopyOf(secretfs::keyring::RandomBytes(32));
  const Status s = env().Write(
      [&](Txn& txn) { return secretfs::audit::Rechain(txn, audit_key_, new_key).status(); });
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find("audit event 4 does not verify"), std::string::npos) << s.message();
  EXPECT_EQ(Stored(10), before);
  EXPECT_EQ(Broken().broken_seq, 4u);
  FlipByte(4, 30);  // back: the old key still keys the chain
  EXPECT_FALSE(VerifyOk().broken_seq.has_value());
  EXPECT_EQ(AppendOne(SampleEvent()), 11u);
}

}  // namespace
}  // namespace audit_test
