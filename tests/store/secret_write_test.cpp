// Writing secrets: versions, unchanged values, create-only, check-and-set, metadata, sizes.
#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "store/secret_store.h"
#include "tests/store/store_fixture.h"

using secretfs::AsBytes;
using secretfs::store::kDefaultMaxValueBytes;
using secretfs::store::MetadataUpdate;
using secretfs::store::SecretInfo;
using secretfs::store::StoreOptions;
using secretfs::store::ValidateMetadata;
using secretfs::store::WriteRequest;

class SecretWriteTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(CreateAndUnlock());
    ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev"));
  }

  size_t HistorySize(const char* key) {
    auto history = store_->History("dev", key);
    return history.ok() ? history->size() : 0;
  }

  SecretInfo StatOk(const char* key) {
    auto stat = store_->Stat("dev", key);
    EXPECT_TRUE(stat.ok()) << stat.status().message();
    return stat.ok() ? *stat : SecretInfo{};
  }
};

TEST_F(SecretWriteTest, EachWriteMakesTheNextVersion) {
  for (int i = 1; i <= 3; ++i) {
    auto written = Put("dev", "TOKEN", "value " + std::to_string(i));
    ASSERT_TRUE(written.ok()) << written.status().message();
    EXPECT_EQ(written->version, static_cast<uint64_t>(i));
    EXPECT_EQ(written->created, i == 1);
    EXPECT_FALSE(written->unchanged);
  }
  EXPECT_EQ(Get("dev", "TOKEN"), "value 3");
  EXPECT_EQ(Get("dev", "TOKEN", 1), "value 1");
  EXPECT_EQ(Get("dev", "TOKEN", 2), "value 2");
  EXPECT_EQ(Get("dev", "TOKEN", 3), "value 3");
  EXPECT_EQ(ReadErrno("dev", "TOKEN", 4), ENOENT);
  EXPECT_EQ(ReadErrno("dev", "TOKEN", 0), ENOENT);
  auto current = store_->Read("dev", "TOKEN");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->version, 3u);
  auto old = store_->Read("dev", "TOKEN", 2);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->version, 2u);

  auto history = store_->History("dev", "TOKEN");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*history)[i].version, i + 1);
    EXPECT_EQ((*history)[i].size, 7u);  // "value N"
    EXPECT_EQ((*history)[i].key_generation, 1u);
  }
  EXPECT_LE((*history)[0].created_ns, (*history)[2].created_ns);
}

TEST_F(SecretWriteTest, SecretsAreIndependent) {
  ASSERT_TRUE(Put("dev", "A", "a1").ok());
  ASSERT_TRUE(Put("dev", "B", "b1").ok());
  ASSERT_TRUE(Put("dev", "A", "a2").ok());
  EXPECT_EQ(Get("dev", "A"), "a2");
  EXPECT_EQ(Get("dev", "B"), "b1");
  EXPECT_EQ(StatOk("B").record.version, 1u);
  // Keys that share a prefix do not mix their versions.
  ASSERT_TRUE(Put("dev", "AB", "ab1").ok());
  EXPECT_EQ(HistorySize("A"), 2u);
  EXPECT_EQ(HistorySize("AB"), 1u);
}

TEST_F(SecretWriteTest, UnchangedValueMakesNoNewVersion) {
  ASSERT_TRUE(Put("dev", "TOKEN", "same").ok());
  ASSERT_TRUE(Put("dev", "TOKEN", "other").ok());
  auto again = Put("dev", "TOKEN", "other", "someone-else");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->unchanged);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->version, 2u);
  EXPECT_EQ(HistorySize("TOKEN"), 2u);
  EXPECT_EQ(StatOk("TOKEN").record.version, 2u);
  EXPECT_EQ(StatOk("TOKEN").record.updated_by, "tester");
  // A value equal to an older (not the current) version is a change.
  auto back = Put("dev", "TOKEN", "same");
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->unchanged);
  EXPECT_EQ(back->version, 3u);
}

TEST_F(SecretWriteTest, UnchangedEmptyValueMakesNoNewVersion) {
  ASSERT_TRUE(Put("dev", "EMPTY", "").ok());
  auto again = Put("dev", "EMPTY", "");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->unchanged);
  EXPECT_EQ(HistorySize("EMPTY"), 1u);
}

TEST_F(SecretWriteTest, CreateOnlyRefusesALiveSecret) {
  WriteRequest request;
  request.workspace = "dev";
  request.key = "NEW";
  request.value = AsBytes("first");
  request.create_only = true;
  auto first = store_->Write(request);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->created);

  request.value = AsBytes("second");
  auto second = store_->Write(request);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EEXIST);
  EXPECT_EQ(Get("dev", "NEW"), "first");
  EXPECT_EQ(HistorySize("NEW"), 1u);

  // A deleted secret is not live: create-only succeeds and continues the numbering.
  ASSERT_TRUE(store_->Remove("dev", "NEW", "tester").ok());
  auto third = store_->Write(request);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_TRUE(third->created);
  EXPECT_EQ(third->version, 2u);
  EXPECT_EQ(Get("dev", "NEW"), "second");
}

// only_if_live writes the secret a writer opened: not a name whose secret was removed since,
// nor one removed, or destroyed, and made again (another incarnation than the one read at open).
TEST_F(SecretWriteTest, OnlyIfLiveWritesOnlyTheSecretAsItWasOpened) {
  ASSERT_TRUE(Put("dev", "LIVE", "v1").ok());
  WriteRequest request;
  request.workspace = "dev";
  request.key = "LIVE";
  request.only_if_live = true;
  request.opened = StatOk("LIVE").record.incarnation();  // as a writer reads it at open
  request.value = AsBytes("v2");
  auto written = store_->Write(request);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->incarnation, request.opened);

  ASSERT_TRUE(store_->Remove("dev", "LIVE", "tester").ok());
  request.value = AsBytes("after rm");
  EXPECT_EQ(store_->Write(request).status().code(), ENOENT);

  ASSERT_TRUE(Put("dev", "LIVE", "made again").ok());
  EXPECT_EQ(store_->Write(request).status().code(), ENOENT);
  EXPECT_EQ(Get("dev", "LIVE"), "made again");
  EXPECT_EQ(HistorySize("LIVE"), 3u);

  // A writer that opened the secret made again writes it.
  request.opened = StatOk("LIVE").record.incarnation();
  EXPECT_NE(request.opened.deleted_ns, 0);
  ASSERT_TRUE(store_->Write(request).ok());
  EXPECT_EQ(Get("dev", "LIVE"), "after rm");

  // Destroyed and made again: a new record, never deleted, like the one a writer opened first.
  ASSERT_TRUE(Put("dev", "NEVER_DELETED", "v1").ok());
  request.key = "NEVER_DELETED";
  request.opened = StatOk("NEVER_DELETED").record.incarnation();
  ASSERT_TRUE(store_->Destroy("dev", "NEVER_DELETED", std::nullopt).ok());
  ASSERT_TRUE(Put("dev", "NEVER_DELETED", "made again").ok());
  EXPECT_EQ(StatOk("NEVER_DELETED").record.deleted_ns, request.opened.deleted_ns);
  EXPECT_EQ(store_->Write(request).status().code(), ENOENT);
  EXPECT_EQ(Get("dev", "NEVER_DELETED"), "made again");

  // Replaced by a rename, with another value and then the same one (no new version is made):
  // the secret opened is gone either way.
  for (const char* moved : {"moved value", "moved value"}) {
    SCOPED_TRACE(Get("dev", "NEVER_DELETED") == moved ? "the same value" : "another value");
    request.opened = StatOk("NEVER_DELETED").record.incarnation();
    ASSERT_TRUE(Put("dev", "TEMP", moved).ok());
    auto renamed = store_->Rename("dev", "TEMP", "NEVER_DELETED", false, "tester");
    ASSERT_TRUE(renamed.ok()) << renamed.status().message();
    EXPECT_NE(renamed->incarnation, request.opened);
    EXPECT_EQ(StatOk("NEVER_DELETED").record.incarnation(), renamed->incarnation);
    EXPECT_EQ(store_->Write(request).status().code(), ENOENT);
    EXPECT_EQ(Get("dev", "NEVER_DELETED"), moved);
  }
  EXPECT_EQ(HistorySize("NEVER_DELETED"), 2u);
}

TEST_F(SecretWriteTest, ExpectVersionMismatchIsEbusyAndStoresNothing) {
  ASSERT_TRUE(Put("dev", "CAS", "v1").ok());
  ASSERT_TRUE(Put("dev", "CAS", "v2").ok());
  WriteRequest request;
  request.workspace = "dev";
  request.key = "CAS";
  request.value = AsBytes("lost update");
  request.metadata.description = "must not be stored either";
  for (uint64_t expected : {uint64_t{0}, uint64_t{1}, uint64_t{3}}) {
    request.expect_version = expected;
    auto written = store_->Write(request);
    ASSERT_FALSE(written.ok()) << "expected " << expected;
    EXPECT_EQ(written.status().code(), EBUSY) << "expected " << expected;
  }
  EXPECT_EQ(Get("dev", "CAS"), "v2");
  EXPECT_EQ(HistorySize("CAS"), 2u);
  EXPECT_EQ(StatOk("CAS").record.description, "");

  request.expect_version = 2;
  request.value = AsBytes("v3");
  auto written = store_->Write(request);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->version, 3u);
  EXPECT_EQ(Get("dev", "CAS"), "v3");
}

TEST_F(SecretWriteTest, ExpectVersionZeroMeansAbsent) {
  WriteRequest request;
  request.workspace = "dev";
  request.key = "FRESH";
  request.value = AsBytes("x");
  request.expect_version = 0;
  auto first = store_->Write(request);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->version, 1u);
  auto second = store_->Write(request);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EBUSY);
  // A deleted secret counts as absent.
  ASSERT_TRUE(store_->Remove("dev", "FRESH", "tester").ok());
  request.value = AsBytes("y");
  auto third = store_->Write(request);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ(third->version, 2u);
}

TEST_F(SecretWriteTest, MetadataIsStoredAndEdited) {
  WriteRequest request;
  request.workspace = "dev";
  request.key = "DB";
  request.value = AsBytes("postgres://u:p@h/db");
  request.author = "alice";
  request.metadata.description = "primary database";
  request.metadata.type = "database";
  request.metadata.tags["team"] = "core";
  request.metadata.tags["env"] = "dev";
  ASSERT_TRUE(store_->Write(request).ok());

  SecretInfo info = StatOk("DB");
  EXPECT_EQ(info.workspace, "dev");
  EXPECT_EQ(info.key, "DB");
  EXPECT_EQ(info.record.description, "primary database");
  EXPECT_EQ(info.record.type, "database");
  EXPECT_EQ(info.record.tags, (secretfs::store::Tags{{"env", "dev"}, {"team", "core"}}));
  EXPECT_EQ(info.record.updated_by, "alice");
  EXPECT_EQ(info.record.size, 19u);
  EXPECT_FALSE(info.record.deleted);
  EXPECT_GT(info.record.created_ns, 0);
  EXPECT_GE(info.record.updated_ns, info.record.created_ns);

  MetadataUpdate update;
  update.tags["env"] = std::nullopt;  // removed
  update.tags["owner"] = "bob";       // added
  update.type = "service";
  ASSERT_TRUE(store_->SetMetadata("dev", "DB", update, "bob").ok());
  info = StatOk("DB");
  EXPECT_EQ(info.record.description, "primary database") << "unset fields stay";
  EXPECT_EQ(info.record.type, "service");
  EXPECT_EQ(info.record.tags, (secretfs::store::Tags{{"owner", "bob"}, {"team", "core"}}));
  EXPECT_EQ(info.record.version, 1u) << "metadata is not a new version";
  EXPECT_EQ(info.record.size, 19u) << "the size is kept";
  EXPECT_EQ(info.record.updated_by, "alice") << "updated_by names the value's writer";
  EXPECT_EQ(Get("dev", "DB"), "postgres://u:p@h/db");

  // Metadata with an unchanged value: applied, still no new version.
  request.metadata = {};
  request.metadata.description = "renamed";
  auto same = store_->Write(request);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->unchanged);
  EXPECT_EQ(StatOk("DB").record.description, "renamed");
  EXPECT_EQ(HistorySize("DB"), 1u);

  // Metadata survives a new value.
  ASSERT_TRUE(Put("dev", "DB", "postgres://new").ok());
  info = StatOk("DB");
  EXPECT_EQ(info.record.description, "renamed");
  EXPECT_EQ(info.record.tags.size(), 2u);
  EXPECT_EQ(info.record.size, 14u);
}

TEST_F(SecretWriteTest, InvalidMetadataIsEinvalAndStoresNothing) {
  ASSERT_TRUE(Put("dev", "K", "v").ok());
  std::vector<MetadataUpdate> bad(6);
  bad[0].type = "password";
  bad[1].tags["bad tag"] = "x";
  bad[2].tags[""] = "x";
  bad[3].tags["t"] = "a,b";
  bad[4].tags["t"] = "line\nbreak";
  bad[5].description = std::string(1025, 'd');
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(ValidateMetadata(bad[i]).code(), EINVAL) << "case " << i;
    EXPECT_EQ(store_->SetMetadata("dev", "K", bad[i], "x").code(), EINVAL) << "case " << i;
    WriteRequest request;
    request.workspace = "dev";
    request.key = "K";
    request.value = AsBytes("changed");
    request.metadata = bad[i];
    EXPECT_EQ(store_->Write(request).status().code(), EINVAL) << "case " << i;
  }
  EXPECT_EQ(Get("dev", "K"), "v");
  EXPECT_EQ(HistorySize("K"), 1u);
  const SecretInfo info = StatOk("K");
  EXPECT_EQ(info.record.type, "");
  EXPECT_TRUE(info.record.tags.empty());
  EXPECT_EQ(info.record.description, "");

  for (const char* type : {"api-token", "database", "service", "generic", ""}) {
    MetadataUpdate good;
    good.type = type;
    EXPECT_TRUE(store_->SetMetadata("dev", "K", good, "x").ok()) << type;
    EXPECT_EQ(StatOk("K").record.type, type);
  }
  MetadataUpdate long_ok;
  long_ok.description = std::string(1024, 'd');
  long_ok.tags[std::string(63, 't')] = std::string(255, 'v');
  EXPECT_TRUE(store_->SetMetadata("dev", "K", long_ok, "x").ok());
}

TEST_F(SecretWriteTest, SetMetadataOfAMissingOrDeletedSecretIsEnoent) {
  MetadataUpdate update;
  update.description = "x";
  EXPECT_EQ(store_->SetMetadata("dev", "ABSENT", update, "x").code(), ENOENT);
  ASSERT_TRUE(Put("dev", "GONE", "v").ok());
  ASSERT_TRUE(store_->Remove("dev", "GONE", "x").ok());
  EXPECT_EQ(store_->SetMetadata("dev", "GONE", update, "x").code(), ENOENT);
}

TEST_F(SecretWriteTest, AuthorsAreRecordedPerVersion) {
  ASSERT_TRUE(Put("dev", "K", "1", "alice").ok());
  ASSERT_TRUE(Put("dev", "K", "2", "bob").ok());
  EXPECT_EQ(StatOk("K").record.updated_by, "bob");
  auto history = store_->History("dev", "K");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].author, "alice");
  EXPECT_EQ((*history)[1].author, "bob");
}

TEST_F(SecretWriteTest, EmptyValueRoundTrips) {
  auto written = Put("dev", "EMPTY", "");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->version, 1u);
  auto read = store_->Read("dev", "EMPTY");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE(read->value.empty());
  EXPECT_EQ(StatOk("EMPTY").record.size, 0u);
}

TEST_F(SecretWriteTest, BinaryValueWithNulBytesRoundTrips) {
  std::string value;
  for (int i = 0; i < 512; ++i) value.push_back(static_cast<char>(i % 256));
  value += std::string("\0\0\0", 3);
  ASSERT_TRUE(Put("dev", "BIN", value).ok());
  EXPECT_EQ(Get("dev", "BIN"), value);
  EXPECT_EQ(StatOk("BIN").record.size, value.size());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Get("dev", "BIN"), value);
}

TEST_F(SecretWriteTest, OneMebibyteRoundTripsAndOneMoreByteIsEfbig) {
  const std::vector<uint8_t> max = PatternBytes(kDefaultMaxValueBytes, 11);
  ASSERT_EQ(max.size(), size_t{1} << 20);
  WriteRequest request;
  request.workspace = "dev";
  request.key = "BIG";
  request.value = max;
  auto written = store_->Write(request);
  ASSERT_TRUE(written.ok()) << written.status().message();
  auto read = store_->Read("dev", "BIG");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE(read->value.Equals(max));
  EXPECT_EQ(StatOk("BIG").record.size, max.size());

  const std::vector<uint8_t> over = PatternBytes(kDefaultMaxValueBytes + 1, 12);
  request.value = over;
  auto refused = store_->Write(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), EFBIG);
  // The previous version is intact and still current.
  read = store_->Read("dev", "BIG");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->version, 1u);
  EXPECT_TRUE(read->value.Equals(max));
  EXPECT_EQ(HistorySize("BIG"), 1u);
  EXPECT_EQ(StatOk("BIG").record.size, max.size());

  // A new secret over the limit is not created at all.
  request.key = "BIG2";
  EXPECT_EQ(store_->Write(request).status().code(), EFBIG);
  EXPECT_EQ(store_->Stat("dev", "BIG2").status().code(), ENOENT);
}

TEST_F(SecretWriteTest, MaxValueBytesOptionIsHonoured) {
  StoreOptions options;
  options.max_value_bytes = 10;
  ASSERT_NO_FATAL_FAILURE(Reopen(options));
  EXPECT_TRUE(Put("dev", "K", "0123456789").ok());
  EXPECT_EQ(Put("dev", "K", "0123456789A").status().code(), EFBIG);
  EXPECT_EQ(Get("dev", "K"), "0123456789");
}

TEST_F(SecretWriteTest, ListShowsSecretsOfOneWorkspaceInOrder) {
  ASSERT_NO_FATAL_FAILURE(MakeWorkspace("dev2"));
  ASSERT_TRUE(Put("dev", "B", "b").ok());
  ASSERT_TRUE(Put("dev", "A", "a").ok());
  ASSERT_TRUE(Put("dev", "C", "c").ok());
  ASSERT_TRUE(store_->Remove("dev", "C", "x").ok());
  ASSERT_TRUE(Put("dev2", "Z", "z").ok());
  auto list = store_->List("dev");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, "A");
  EXPECT_EQ((*list)[1].key, "B");
  EXPECT_EQ((*list)[2].key, "C");
  EXPECT_TRUE((*list)[2].record.deleted);
  EXPECT_FALSE((*list)[0].record.deleted);
  for (const SecretInfo& info : *list) EXPECT_EQ(info.workspace, "dev");
}
