// Damaged stores (SPEC §7, §11): a damaged or misplaced record fails alone and verify names it;
// damage anywhere in data.mdb never kills the command or makes it print a value never written.
#include <lmdb.h>

#include <filesystem>
#include <set>

#include "tests/cli/cli_fixture.h"
#include "tests/cli/record_locator.h"

namespace secretfs::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CorruptionTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(InitStore());
    ASSERT_NO_FATAL_FAILURE(CreateWorkspace("prod"));
  }

  // Replaces bytes of data.mdb at `offset` (no secretfs process runs meanwhile).
  void Overwrite(size_t offset, const std::string& bytes) {
    std::string data = ReadFileBytes(DataFile());
    ASSERT_LE(offset + bytes.size(), data.size());
    data.replace(offset, bytes.size(), bytes);
    WriteFileBytes(DataFile(), data);
  }
};

TEST_F(CorruptionTest, FlippedByteFailsOnlyThatVersionAndVerifyNamesIt) {
  Put("prod/API_KEY", "first-4f9c");
  Put("prod/API_KEY", "second-7b2e");
  Put("prod/DB_URL", "postgres://db-91d0");
  ASSERT_TRUE(Succeeded(Run({"verify"})));
  const auto record = LocateVersionRecord(store_, "prod", "API_KEY", 1);
  ASSERT_TRUE(record);
  ASSERT_GE(record->size, 64u);
  // A byte well inside the last 64 bytes: the sealed nonce+ciphertext+tag, not the header.
  const size_t at = record->offset + record->size - 20;
  const std::string data = ReadFileBytes(DataFile());
  ASSERT_NO_FATAL_FAILURE(Overwrite(at, std::string(1, static_cast<char>(data[at] ^ 0x01))));

  ProcessResult r = Run({"verify"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("prod/API_KEY version 1"));
  EXPECT_THAT(r.out, Not(HasSubstr("version 2")));
  EXPECT_THAT(r.out, Not(HasSubstr("DB_URL")));
  EXPECT_THAT(r.out, HasSubstr("; 1 problem(s)\n"));

  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/API_KEY", "--version", "1"})));
  EXPECT_EQ(Get("prod/API_KEY"), "second-7b2e");
  EXPECT_EQ(Get("prod/DB_URL"), "postgres://db-91d0");
  r = Run({"history", "prod/API_KEY", "--json"});
  EXPECT_TRUE(Succeeded(r)) << "history reads metadata only";
}

// A sealed record copied over another key's record must not open there (SPEC §7: the additional
// data binds workspace, key and version).
TEST_F(CorruptionTest, RecordCopiedToAnotherKeyDoesNotOpen) {
  Put("prod/AAAA", "value-of-aaaa");
  Put("prod/BBBB", "value-of-bbbb");
  const auto a = LocateVersionRecord(store_, "prod", "AAAA", 1);
  const auto b = LocateVersionRecord(store_, "prod", "BBBB", 1);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size, b->size);
  const std::string data = ReadFileBytes(DataFile());
  ASSERT_NO_FATAL_FAILURE(Overwrite(b->offset, data.substr(a->offset, a->size)));

  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/BBBB"})));
  EXPECT_EQ(Get("prod/AAAA"), "value-of-aaaa");
  const ProcessResult r = Run({"verify"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("prod/BBBB version 1"));
}

TEST_F(CorruptionTest, RecordCopiedToAnotherVersionDoesNotOpen) {
  Put("prod/K", "value-one1");
  Put("prod/K", "value-two2");
  const auto v1 = LocateVersionRecord(store_, "prod", "K", 1);
  const auto v2 = LocateVersionRecord(store_, "prod", "K", 2);
  ASSERT_TRUE(v1 && v2);
  ASSERT_EQ(v1->size, v2->size);
  const std::string data = ReadFileBytes(DataFile());
  ASSERT_NO_FATAL_FAILURE(Overwrite(v2->offset, data.substr(v1->offset, v1->size)));

  EXPECT_TRUE(FailedWithOneLine(Run({"get", "prod/K"}))) << "must not serve version 1 as 2";
  EXPECT_EQ(Get("prod/K", "1"), "value-one1");
}

// LMDB keeps a record's length in the node header just before its key. A damaged length must make
// that record fail to open (EIO, SPEC §11), not send a read past the end of the store file; and
// verify must still check every record and name the broken one.
TEST_F(CorruptionTest, DamagedRecordLengthFailsThatRecordAndVerifyNamesIt) {
  Put("prod/API_KEY", "first-4f9c");
  Put("prod/API_KEY", "second-7b2e");
  Put("prod/DB_URL", "postgres://db-91d0");
  const auto record = LocateVersionRecord(store_, "prod", "API_KEY", 2);
  ASSERT_TRUE(record);
  // Node header: u16 size low, u16 size high, u16 flags, u16 key size; then the key, then the
  // value.
  const size_t key_size = std::string("prod\0API_KEY\0", 13).size() + 8;
  const size_t node = record->offset - key_size - 8;
  const std::string data = ReadFileBytes(DataFile());
  ASSERT_EQ(static_cast<uint8_t>(data[node]) | static_cast<uint8_t>(data[node + 1]) << 8,
            record->size)
      << "not an LMDB node header";
  ASSERT_EQ(data.substr(node + 2, 2), std::string("\0\0", 2));
  ASSERT_NO_FATAL_FAILURE(Overwrite(node + 2, "\x10"));  // the length grows by 1 MiB

  const ProcessResult get = Run({"get", "prod/API_KEY"});
  EXPECT_TRUE(FailedWithOneLine(get));
  EXPECT_THAT(get.err, HasSubstr("prod/API_KEY")) << "the message should name the damaged secret";
  EXPECT_EQ(Get("prod/DB_URL"), "postgres://db-91d0");
  EXPECT_EQ(Get("prod/API_KEY", "1"), "first-4f9c");
  const ProcessResult verify = Run({"verify"});
  EXPECT_EQ(verify.exit_code, 1) << Describe(verify);
  EXPECT_THAT(verify.out, HasSubstr("prod/API_KEY version 2"));
  EXPECT_THAT(verify.out, HasSubstr("; 1 problem(s)\n"));
}

// What someone who can write data.mdb does to set one secret back: its record restored from an
// older copy, its newer version records deleted. Raw LMDB, while no secretfs process runs.
void SetSecretBack(const std::string& store_dir, const std::string& workspace,
                   const std::string& key, const std::string& old_record, uint64_t newer_from,
                   uint64_t newer_to) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  MDB_txn* txn = nullptr;
  MDB_dbi secrets = 0, versions = 0;
  int rc = mdb_env_set_maxdbs(env, 32);
  if (rc == 0) rc = mdb_env_open(env, store_dir.c_str(), 0, 0600);
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, "secrets", 0, &secrets);
  if (rc == 0) rc = mdb_dbi_open(txn, "versions", 0, &versions);
  std::string name = workspace + std::string(1, '\0') + key;
  if (rc == 0) {
    MDB_val k{name.size(), name.data()};
    MDB_val v{old_record.size(), const_cast<char*>(old_record.data())};
    rc = mdb_put(txn, secrets, &k, &v, 0);
  }
  for (uint64_t version = newer_from; rc == 0 && version <= newer_to; ++version) {
    std::string vk = name + std::string(1, '\0');
    for (int shift = 56; shift >= 0; shift -= 8) vk.push_back(static_cast<char>(version >> shift));
    MDB_val k{vk.size(), vk.data()};
    rc = mdb_del(txn, versions, &k, nullptr);
  }
  if (rc == 0) {
    rc = mdb_txn_commit(txn);
    txn = nullptr;
  }
  if (txn != nullptr) mdb_txn_abort(txn);
  mdb_env_close(env);
  ASSERT_EQ(rc, 0) << mdb_strerror(rc);
}

// The newer version records deleted too: nothing in the store is amiss, but the audit log has
// recorded the newer version's write (and reads), so verify compares.
TEST_F(CorruptionTest, ASecretSetBackWithItsNewerVersionsDeletedIsFoundBehindItsAuditLog) {
  Put("prod/TOKEN", "revoked-1111");
  const auto at_v1 = LocateSecretRecord(store_, "prod", "TOKEN");
  ASSERT_TRUE(at_v1);
  const std::string record_v1 = ReadFileBytes(DataFile()).substr(at_v1->offset, at_v1->size);
  Put("prod/TOKEN", "rotated-2222");
  Put("prod/OTHER", "other-value");
  ASSERT_TRUE(Succeeded(Run({"verify"})));
  ASSERT_NO_FATAL_FAILURE(SetSecretBack(store_, "prod", "TOKEN", record_v1, 2, 2));
  EXPECT_EQ(Get("prod/TOKEN"), "revoked-1111");  // served: the store alone cannot tell

  const ProcessResult r = Run({"verify"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("FAILED prod/TOKEN: at version 1, behind the audit log, which "
                               "records version 2"));
  EXPECT_THAT(r.out, Not(HasSubstr("OTHER")));
  EXPECT_THAT(r.out, HasSubstr("; 1 problem(s)\n"));
}

// Nothing secretfs does itself puts a secret behind its log: destroy and purge start numbering
// again, and the log's versions before them are forgotten.
TEST_F(CorruptionTest, VerifyFindsNoSecretBehindItsLogAfterDestroyAndPurge) {
  Put("prod/A", "a-one");
  Put("prod/A", "a-two");
  ASSERT_TRUE(Succeeded(Run({"destroy", "prod/A"})));
  Put("prod/A", "a-again");
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("dev"));
  Put("dev/B", "b-one");
  Put("dev/B", "b-two");
  ASSERT_TRUE(Succeeded(Run({"workspace", "delete", "dev", "--purge", "--yes"})));
  ASSERT_NO_FATAL_FAILURE(CreateWorkspace("dev"));
  Put("dev/B", "b-again");
  const ProcessResult r = Run({"verify"});
  EXPECT_TRUE(Succeeded(r)) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("; 0 problem(s)\n"));
}

// LMDB trusts its file: a damaged page can make liblmdb itself read a wild address. main.cpp turns
// SIGSEGV/SIGBUS into one "secretfs: store: ..." line; a sanitizer build keeps the sanitizer's
// report of the same fault instead (any other sanitizer report is still a failure).
bool EndedByTheFaultHandler(const ProcessResult& r) {
  if (r.exit_code != 1) return false;
  if (r.err.find("a read fell outside it") != std::string::npos) return true;
  for (const char* fault :
       {"AddressSanitizer: SEGV on unknown address", "AddressSanitizer: BUS on unknown address"})
    if (r.err.find(fault) != std::string::npos) return true;
  return false;
}

// Under AddressSanitizer every command starts about 15 times slower (0.3 s): the sweep takes
// every 4th offset there, where the whole of it took 25 minutes of CI. The normal build sweeps all.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kSweepEvery = 4;
#else
constexpr size_t kSweepEvery = 1;
#endif

// Damage a small store's data.mdb in many places in turn (4 bytes each, the file restored in
// between): every 512th byte, and every 16th byte of the last 640 bytes of each page, where LMDB
// packs its records. At each, read every secret and verify: a command may fail, with exit 1 and
// one line on stderr, or print a value that was really written, and nothing else.
TEST_F(CorruptionTest, DamageAnywhereNeverCrashesOrInventsValues) {
  const std::map<std::string, std::set<std::string>> written = {
      {"prod/API_KEY", {"first-4f9c", "second-7b2e"}},
      {"prod/DB_URL", {"postgres://db-91d0"}},
      {"prod/EMPTY", {""}},
  };
  Put("prod/API_KEY", "first-4f9c", {"--description", "payments", "--tag", "team=pay"});
  Put("prod/API_KEY", "second-7b2e");
  Put("prod/DB_URL", "postgres://db-91d0");
  Put("prod/EMPTY", "");
  ASSERT_TRUE(Succeeded(Run({"verify"})));
  const std::string original = ReadFileBytes(DataFile());
  const std::string original_lock = ReadFileBytes(store_ + "/lock.mdb");
  constexpr size_t kPage = 4096;
  ASSERT_EQ(original.size() % kPage, 0u);
  std::set<size_t> offsets;
  for (size_t at = 0; at + 4 <= original.size(); at += 512) offsets.insert(at);
  for (size_t page = 0; page < original.size(); page += kPage)
    for (size_t at = page + kPage - 640; at + 4 <= page + kPage; at += 16) offsets.insert(at);

  int failed = 0, served = 0, fault_handler = 0;
  size_t swept = 0;
  for (const size_t offset : offsets) {
    if (swept++ % kSweepEvery != 0) continue;
    SCOPED_TRACE("4 bytes damaged at offset " + std::to_string(offset));
    std::string damaged = original;
    for (size_t i = 0; i < 4; ++i)
      damaged[offset + i] = static_cast<char>(damaged[offset + i] ^ 0xA5);
    WriteFileBytes(DataFile(), damaged);
    WriteFileBytes(store_ + "/lock.mdb", original_lock);
    ProcessOptions options;
    options.timeout = std::chrono::seconds(20);
    for (const auto& [path, values] : written) {
      const ProcessResult r = Run({"get", path}, options);
      ASSERT_FALSE(r.timed_out) << "get " << path << " hung";
      ASSERT_EQ(r.signal, 0) << "get " << path << ": " << Describe(r);
      if (r.exit_code == 0) {
        EXPECT_TRUE(r.err.empty()) << Describe(r);
        EXPECT_TRUE(values.contains(r.out))
            << "get " << path << " printed a value never written: " << Describe(r);
        ++served;
      } else {
        if (EndedByTheFaultHandler(r))
          ++fault_handler;
        else
          EXPECT_TRUE(FailedWithOneLine(r)) << "get " << path;
        ++failed;
      }
    }
    const ProcessResult v = Run({"verify"}, options);
    ASSERT_FALSE(v.timed_out) << "verify hung";
    EXPECT_EQ(v.signal, 0) << "verify: " << Describe(v);
    EXPECT_TRUE(v.exit_code == 0 || v.exit_code == 1) << "verify: " << Describe(v);
  }
  WriteFileBytes(DataFile(), original);
  EXPECT_TRUE(Succeeded(Run({"verify"})));
  EXPECT_GT(failed, 0) << "no damage was ever noticed: is the sweep damaging the store?";
  std::cout << "[ sweep    ] " << (offsets.size() + kSweepEvery - 1) / kSweepEvery << " of "
            << offsets.size() << " offsets in " << original.size() << " bytes; " << served
            << " reads served, " << failed << " failed (" << fault_handler
            << " through the SIGSEGV/SIGBUS handler)\n";
}

}  // namespace
}  // namespace secretfs::testing
