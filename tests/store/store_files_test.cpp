// What lands in the store's files: never plaintext; a map that grows; a corrupted record that
// fails alone and is named by Verify; backups that open with the same key.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "store/schema.h"
#include "store/secret_store.h"
#include "store/store_directory.h"
#include "tests/store/store_fixture.h"

using secretfs::AsBytes;
using secretfs::store::SecretStore;
using secretfs::store::StoreOptions;
using secretfs::store::VerifyReport;
using secretfs::store::VersionKey;
using secretfs::store::VersionRecord;
using secretfs::store::WriteRequest;

class StoreFilesTest : public StoreTest {
 protected:
  // Every regular file of `dir`, by name.
  static std::vector<std::string> FilesIn(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.is_regular_file()) out.push_back(entry.path().string());
    return out;
  }
};

TEST_F(StoreFilesTest, PlaintextNeverReachesTheFiles) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  static constexpr char kBinary[] = "PLAINTEXT-MARKER-bin\0\x01\x02-9d";
  const std::vector<std::string> secrets = {
      "PLAINTEXT-MARKER-db-password-7f3a9c",
      "PLAINTEXT-MARKER-api-token-51be02",
      std::string(kBinary, sizeof kBinary - 1),
      "PLAINTEXT-MARKER-old-version-c0ffee",
      std::string(4096, 'Z') + "PLAINTEXT-MARKER-long",
  };
  ASSERT_TRUE(Put("prod", "DB_PASSWORD", secrets[0]).ok());
  ASSERT_TRUE(Put("prod", "API_TOKEN", secrets[1]).ok());
  ASSERT_TRUE(Put("dev", "BLOB", secrets[2]).ok());
  ASSERT_TRUE(Put("dev", "ROTATED", secrets[3]).ok());
  ASSERT_TRUE(Put("dev", "ROTATED", "PLAINTEXT-MARKER-new-version").ok());
  ASSERT_TRUE(store_->Rollback("dev", "ROTATED", 1, "x").ok());
  ASSERT_TRUE(Put("dev", "LONG", secrets[4]).ok());
  ASSERT_TRUE(store_->Remove("prod", "API_TOKEN", "x").ok());
  ASSERT_TRUE(store_->Verify().ok());

  auto scan = [&](const std::string& dir) {
    const std::vector<std::string> files = FilesIn(dir);
    ASSERT_FALSE(files.empty());
    bool names_seen = false;
    for (const std::string& file : files) {
      const std::vector<uint8_t> bytes = ReadFileBytes(file);
      for (const std::string& secret : secrets)
        EXPECT_TRUE(FindAll(bytes, AsBytes(secret)).empty())
            << "a secret value is in plaintext in " << file;
      EXPECT_TRUE(FindAll(bytes, AsBytes("PLAINTEXT-MARKER")).empty())
          << "part of a secret value is in plaintext in " << file;
      EXPECT_TRUE(FindAll(bytes, key_bytes_).empty()) << "the key file is in " << file;
      // The scan can see what is stored in the clear: names are not secret.
      names_seen = names_seen || !FindAll(bytes, AsBytes("DB_PASSWORD")).empty();
    }
    EXPECT_TRUE(names_seen) << "the scan did not find even the key names";
  };
  // While open (after the commits) and after close.
  ASSERT_NO_FATAL_FAILURE(scan(dir_));
  ASSERT_TRUE(store_->Backup(root_ + "/backup").ok());
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(scan(dir_));
  ASSERT_NO_FATAL_FAILURE(scan(root_ + "/backup"));
}

TEST_F(StoreFilesTest, MapGrowsFromASmallStart) {
  StoreOptions options;
  options.initial_map_bytes = 256 * 1024;
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock(options));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("big"));

  // 12 versions of 512 KiB and 4 secrets of 1 MiB: 10 MiB, 40 times the initial map.
  std::vector<std::vector<uint8_t>> versions;
  for (uint32_t i = 0; i < 12; ++i) {
    versions.push_back(PatternBytes(512 * 1024, 100 + i));
    WriteRequest request;
    request.workspace = "big";
    request.key = "ROTATING";
    request.value = versions.back();
    auto written = store_->Write(request);
    ASSERT_TRUE(written.ok()) << "version " << i + 1 << ": " << written.status().message();
    ASSERT_EQ(written->version, i + 1);
  }
  for (uint32_t i = 0; i < 4; ++i) {
    const std::vector<uint8_t> value = PatternBytes(size_t{1} << 20, 200 + i);
    WriteRequest request;
    request.workspace = "big";
    const std::string key = "LARGE_" + std::to_string(i);
    request.key = key;
    request.value = value;
    auto written = store_->Write(request);
    ASSERT_TRUE(written.ok()) << key << ": " << written.status().message();
  }
  ASSERT_TRUE(Put("big", "SMALL", "still fine").ok());

  ASSERT_NO_FATAL_FAILURE(Reopen(options));
  for (uint32_t i = 0; i < 12; ++i) {
    auto read = store_->Read("big", "ROTATING", i + 1);
    ASSERT_TRUE(read.ok()) << "version " << i + 1 << ": " << read.status().message();
    EXPECT_TRUE(read->value.Equals(versions[i])) << "version " << i + 1;
  }
  for (uint32_t i = 0; i < 4; ++i) {
    auto read = store_->Read("big", "LARGE_" + std::to_string(i));
    ASSERT_TRUE(read.ok()) << read.status().message();
    EXPECT_TRUE(read->value.Equals(PatternBytes(size_t{1} << 20, 200 + i)));
  }
  EXPECT_EQ(Get("big", "SMALL"), "still fine");
  // The data really outgrew the initial map.
  EXPECT_GT(std::filesystem::file_size(dir_ + "/data.mdb"), size_t{10} << 20);
  // And the grown store takes more writes after reopening.
  ASSERT_TRUE(Put("big", "AFTER", std::string(700 * 1024, 'a')).ok());
  EXPECT_EQ(Get("big", "AFTER"), std::string(700 * 1024, 'a'));
}

TEST_F(StoreFilesTest, CorruptedRecordFailsAloneAndVerifyNamesIt) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "VICTIM", "value one of the victim secret").ok());
  ASSERT_TRUE(Put("prod", "VICTIM", "value two of the victim secret").ok());
  ASSERT_TRUE(Put("prod", "BYSTANDER", "the bystander's value").ok());
  {
    auto report = store_->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->problems.empty());
    EXPECT_EQ(report->versions_ok, 3u);
  }
  store_.reset();

  // The sealed bytes of prod/VICTIM version 2, straight from LMDB.
  std::vector<uint8_t> sealed;
  {
    RawLmdb raw(dir_);
    ASSERT_TRUE(raw.ok()) << raw.error();
    auto record = raw.Get("versions", VersionKey("prod", "VICTIM", 2));
    ASSERT_TRUE(record.has_value()) << "no versions record for prod/VICTIM 2";
    auto decoded = VersionRecord::Decode(*record);
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    sealed.assign(decoded->sealed.begin(), decoded->sealed.end());
  }
  ASSERT_GT(sealed.size(), 40u);

  // Flip one byte in the middle of them wherever they are in data.mdb (LMDB's copy-on-write
  // may have left older copies in free pages; the live one is among them).
  std::vector<uint8_t> data = ReadFileBytes(dir_ + "/data.mdb");
  const std::vector<size_t> at = FindAll(data, sealed);
  ASSERT_FALSE(at.empty()) << "the sealed record is not in data.mdb";
  for (size_t offset : at) data[offset + sealed.size() / 2] ^= 0x01;
  WriteFileBytes(dir_ + "/data.mdb", data);

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadErrno("prod", "VICTIM"), EIO);
  EXPECT_EQ(ReadErrno("prod", "VICTIM", 2), EIO);
  EXPECT_EQ(Get("prod", "VICTIM", 1), "value one of the victim secret");
  EXPECT_EQ(Get("prod", "BYSTANDER"), "the bystander's value");
  // Metadata does not need the value.
  auto stat = store_->Stat("prod", "VICTIM");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->record.version, 2u);

  size_t progress_calls = 0, last_done = 0, last_total = 0;
  auto report = store_->Verify([&](size_t done, size_t total) {
    ++progress_calls;
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->workspaces, 1u);
  EXPECT_EQ(report->secrets, 2u);
  EXPECT_EQ(report->versions_ok, 2u);
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].workspace, "prod");
  EXPECT_EQ(report->problems[0].key, "VICTIM");
  EXPECT_EQ(report->problems[0].version, 2u);
  EXPECT_FALSE(report->problems[0].message.empty());
  EXPECT_EQ(progress_calls, 3u);
  EXPECT_EQ(last_done, 3u);
  EXPECT_EQ(last_total, 3u);

  // Writing a new value over the broken one works and reads back.
  ASSERT_TRUE(Put("prod", "VICTIM", "repaired").ok());
  EXPECT_EQ(Get("prod", "VICTIM"), "repaired");
}

// SPEC §7: a record copied to another place in the store fails to open (EIO), it never decrypts
// there. The copies are made straight in LMDB, as someone with write access to the files could.
TEST_F(StoreFilesTest, RecordCopiedToAnotherPlaceDoesNotOpen) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  ASSERT_TRUE(Put("prod", "K", "old value of K").ok());
  ASSERT_TRUE(Put("prod", "K", "new value of K").ok());
  ASSERT_TRUE(Put("prod", "OTHER", "value of OTHER").ok());
  ASSERT_TRUE(Put("dev", "K", "dev value of K").ok());
  store_.reset();
  {
    RawLmdb raw(dir_, /*writable=*/true);
    ASSERT_TRUE(raw.ok()) << raw.error();
    auto v1 = raw.Get("versions", VersionKey("prod", "K", 1));
    ASSERT_TRUE(v1.has_value());
    // Another version of the same secret (a rollback nobody asked for)...
    ASSERT_TRUE(raw.Put("versions", VersionKey("prod", "K", 2), *v1));
    // ...another secret of the same workspace...
    ASSERT_TRUE(raw.Put("versions", VersionKey("prod", "OTHER", 1), *v1));
    // ...and the same key in another workspace.
    ASSERT_TRUE(raw.Put("versions", VersionKey("dev", "K", 1), *v1));
    ASSERT_TRUE(raw.Commit());
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(ReadErrno("prod", "K"), EIO);
  EXPECT_EQ(ReadErrno("prod", "OTHER"), EIO);
  EXPECT_EQ(ReadErrno("dev", "K"), EIO);
  EXPECT_EQ(Get("prod", "K", 1), "old value of K") << "the original stays readable";

  auto report = store_->Verify();
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->versions_ok, 1u);
  ASSERT_EQ(report->problems.size(), 3u);
  std::set<std::string> named;
  for (const auto& p : report->problems)
    named.insert(p.workspace + "/" + p.key + "@" + std::to_string(p.version));
  EXPECT_EQ(named, (std::set<std::string>{"dev/K@1", "prod/K@2", "prod/OTHER@1"}));
}

TEST_F(StoreFilesTest, VerifyOfAHealthyStoreFindsNothing) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("a"));
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("b"));
  ASSERT_TRUE(Put("a", "X", "1").ok());
  ASSERT_TRUE(Put("a", "X", "2").ok());
  ASSERT_TRUE(Put("b", "Y", "3").ok());
  ASSERT_TRUE(store_->Remove("b", "Y", "x").ok());
  auto report = store_->Verify();
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->workspaces, 2u);
  EXPECT_EQ(report->secrets, 2u);
  EXPECT_EQ(report->versions_ok, 3u);
  EXPECT_TRUE(report->problems.empty());
}

TEST_F(StoreFilesTest, VerifyNeedsTheStoreUnlocked) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  store_.reset();
  auto opened = SecretStore::Open(dir_);
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  EXPECT_EQ(store_->Verify().status().code(), EACCES);
}

TEST_F(StoreFilesTest, BackupOpensWithTheSameKeyAndHoldsTheSameValues) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "A", "a1").ok());
  ASSERT_TRUE(Put("prod", "A", "a2").ok());
  ASSERT_TRUE(Put("prod", "B", std::string("b\0b", 3)).ok());
  ASSERT_TRUE(Put("prod", "GONE", "deleted value").ok());
  ASSERT_TRUE(store_->Remove("prod", "GONE", "x").ok());

  const std::string backup = root_ + "/backups/today";
  const secretfs::Status made = store_->Backup(backup);
  ASSERT_TRUE(made.ok()) << made.message();
  struct stat st {};
  ASSERT_EQ(stat((backup + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "the backup must be as private as the store";

  // Changes after the backup do not reach it.
  ASSERT_TRUE(Put("prod", "A", "a3").ok());

  auto opened = SecretStore::Open(backup);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::unique_ptr<SecretStore> copy = std::move(*opened);
  EXPECT_EQ(copy->Unlock(KeyFileMaterial(secretfs::keyring::RandomBytes(32))).code(), EACCES);
  ASSERT_TRUE(copy->Unlock(Key()).ok());
  auto text = [&](const char* key, std::optional<uint64_t> version) {
    auto read = copy->Read("prod", key, version);
    return read.ok() ? Text(read->value) : "<" + read.status().message() + ">";
  };
  EXPECT_EQ(text("A", std::nullopt), "a2");
  EXPECT_EQ(text("A", 1), "a1");
  EXPECT_EQ(text("B", std::nullopt), std::string("b\0b", 3));
  EXPECT_EQ(copy->Read("prod", "GONE").status().code(), ENOENT);
  EXPECT_EQ(text("GONE", 1), "deleted value");
  auto report = copy->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  EXPECT_EQ(report->versions_ok, 4u);
  copy.reset();

  EXPECT_EQ(Get("prod", "A"), "a3");
}

TEST_F(StoreFilesTest, BackupIntoAnExistingEmptyDirectory) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "A", "a").ok());
  const std::string backup = root_ + "/empty";
  std::filesystem::create_directories(backup);
  ASSERT_TRUE(store_->Backup(backup).ok());
  store_.reset();
  dir_ = backup;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("prod", "A"), "a");
}

// Until the copy is whole, DEST holds no data.mdb: a backup killed halfway left one that
// `verify` called a damaged store. What such a kill leaves (data.mdb.partial) is no store, and
// the next backup into DEST replaces it.
TEST_F(StoreFilesTest, ABackupIsNamedDataMdbOnlyOnceItIsWhole) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "A", "a").ok());
  const std::string backup = root_ + "/backup";
  ASSERT_TRUE(std::filesystem::create_directory(backup));
  ASSERT_EQ(chmod(backup.c_str(), 0700), 0);
  {  // a killed backup's leftover
    std::ofstream partial(backup + "/data.mdb.partial");
    partial << "half a copy";
  }
  EXPECT_EQ(secretfs::store::SecretStore::Open(backup).status().code(), ENOENT);
  bool named_before_whole = true;
  ASSERT_TRUE(store_
                  ->Backup(backup,
                           [&] {
                             named_before_whole = std::filesystem::exists(
                                 std::filesystem::symlink_status(backup + "/data.mdb"));
                             return secretfs::Status::Ok();
                           })
                  .ok());
  EXPECT_FALSE(named_before_whole);
  EXPECT_FALSE(std::filesystem::exists(backup + "/data.mdb.partial"));
  store_.reset();
  dir_ = backup;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("prod", "A"), "a");
}

TEST_F(StoreFilesTest, BackupIntoAStoreIsEexistAndLeavesItAlone) {
  ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("prod"));
  ASSERT_TRUE(Put("prod", "A", "first").ok());
  const std::string backup = root_ + "/backup";
  ASSERT_TRUE(store_->Backup(backup).ok());
  ASSERT_TRUE(Put("prod", "A", "second").ok());
  const std::vector<uint8_t> before = ReadFileBytes(backup + "/data.mdb");

  EXPECT_EQ(store_->Backup(backup).code(), EEXIST);
  EXPECT_EQ(store_->Backup(dir_).code(), EEXIST) << "backing up onto itself";
  EXPECT_EQ(ReadFileBytes(backup + "/data.mdb"), before);
  EXPECT_EQ(Get("prod", "A"), "second");

  store_.reset();
  dir_ = backup;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("prod", "A"), "first");
}

TEST(StoreDirectoryTest, NetworkFilesystemsAreKnownByTheKernelsMagicNumbers) {
  using secretfs::store::NetworkFilesystemName;
  // The kernel's own constants, so that a mistyped number in the table fails here.
  EXPECT_EQ(NetworkFilesystemName(NFS_SUPER_MAGIC), "NFS");
  EXPECT_EQ(NetworkFilesystemName(SMB_SUPER_MAGIC), "SMB");
  EXPECT_EQ(NetworkFilesystemName(CIFS_SUPER_MAGIC), "CIFS");
  EXPECT_EQ(NetworkFilesystemName(SMB2_SUPER_MAGIC), "SMB2");
  EXPECT_EQ(NetworkFilesystemName(CEPH_SUPER_MAGIC), "Ceph");
  EXPECT_EQ(NetworkFilesystemName(AFS_SUPER_MAGIC), "AFS");
  EXPECT_EQ(NetworkFilesystemName(AFS_FS_MAGIC), "AFS");
  EXPECT_EQ(NetworkFilesystemName(CODA_SUPER_MAGIC), "Coda");
  EXPECT_EQ(NetworkFilesystemName(V9FS_MAGIC), "9p");
  EXPECT_EQ(NetworkFilesystemName(OCFS2_SUPER_MAGIC), "OCFS2");
  EXPECT_EQ(NetworkFilesystemName(NCP_SUPER_MAGIC), "NCP");
  // What the struct statfs of a 64-bit kernel carries for a magic with the top bit set.
  EXPECT_EQ(NetworkFilesystemName(static_cast<long>(static_cast<int32_t>(CIFS_SUPER_MAGIC))),
            "CIFS");
  for (long local : {long{EXT4_SUPER_MAGIC}, long{TMPFS_MAGIC}, long{XFS_SUPER_MAGIC},
                     long{BTRFS_SUPER_MAGIC}, long{OVERLAYFS_SUPER_MAGIC}, long{0x65735546}})
    EXPECT_EQ(NetworkFilesystemName(local), "") << std::hex << local;
}
