// What the audit tests share: a real, unlocked store in a temporary directory (removed in
// TearDown), its audit key, and helpers that read and edit the raw audit table through the
// store's own environment (as an attacker with write access to the file could).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_query.h"
#include "audit/event.h"
#include "common/byte_codec.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"
#include "store/secret_store.h"

namespace audit_test {

using secretfs::Result;
using secretfs::Status;
using secretfs::audit::Event;
using secretfs::keyring::SecretBuffer;
using secretfs::store::Bytes;
using secretfs::store::Db;
using secretfs::store::SecretStore;
using secretfs::store::Txn;

inline secretfs::keyring::KeyMaterial KeyFileMaterial(const std::vector<uint8_t>& bytes) {
  secretfs::keyring::KeyMaterial m;
  m.kind = secretfs::keyring::KeyMaterial::Kind::kKeyFile;
  m.bytes = SecretBuffer::CopyOf(bytes);
  m.origin = "file:test.key";
  return m;
}

// An fs-style event with every field set.
inline Event SampleEvent(std::string_view op = "read", std::string_view ws = "prod",
                         std::string_view key = "API_KEY", uint32_t uid = 1000) {
  Event e;
  e.op = op;
  e.workspace = ws;
  e.key = key;
  e.version = 3;
  e.uid = uid;
  e.gid = 100;
  e.pid = 4242;
  e.comm = "cat";
  e.exe = "/usr/bin/cat";
  e.unit = "app.service";
  e.origin = secretfs::audit::Origin::kFs;
  return e;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/secretfs-audit-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    root_ = tmpl;
    dir_ = root_ + "/store";
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // Creates the store at dir_, opens and unlocks it into store_, and fetches its audit key.
  void CreateStore(const secretfs::store::StoreOptions& options = {}) {
    const Status created =
        SecretStore::Create(dir_, KeyFileMaterial(key_bytes_),
                            secretfs::keyring::PwhashLimits::Interactive(), "test", options);
    ASSERT_TRUE(created.ok()) << created.message();
    auto opened = SecretStore::Open(dir_, options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    const Status unlocked = store_->Unlock(KeyFileMaterial(key_bytes_));
    ASSERT_TRUE(unlocked.ok()) << unlocked.message();
    auto key = store_->AuditKey();
    ASSERT_TRUE(key.ok()) << key.status().message();
    audit_key_ = std::move(*key);
  }

  secretfs::store::Env& env() { return store_->env(); }

  // Appends `event` in a transaction of its own; returns the seq it got (0 on failure).
  uint64_t AppendOne(Event event) {
    const Status s =
        env().Write([&](Txn& txn) { return secretfs::audit::Append(txn, audit_key_, event); });
    EXPECT_TRUE(s.ok()) << s.message();
    return s.ok() ? event.seq : 0;
  }

  // Events 1..n, event i at time i * 1,000 ns (1970: older than any cut-off but their own).
  void AppendOldEvents(int n) {
    for (int i = 1; i <= n; ++i) {
      Event e = SampleEvent();
      e.time_ns = int64_t{i} * 1000;
      ASSERT_EQ(AppendOne(e), static_cast<uint64_t>(i));
    }
  }

  // Appends `n` events, many per transaction (a commit per event would take a sync each).
  void AppendMany(int n) {
    for (int done = 0; done < n;) {
      const int batch = std::min(n - done, 1000);
      const Status s = env().Write([&](Txn& txn) {
        for (int i = done; i < done + batch; ++i) {
          Event e = SampleEvent(i % 3 == 0 ? "write" : "read");
          e.version = static_cast<uint64_t>(i % 7) + 1;
          SECRETFS_RETURN_IF_ERROR(secretfs::audit::Append(txn, audit_key_, e));
        }
        return Status::Ok();
      });
      ASSERT_TRUE(s.ok()) << s.message();
      done += batch;
    }
  }

  // The stored value of event `seq` (Encode || MAC), or nullopt.
  std::optional<std::vector<uint8_t>> Stored(uint64_t seq) {
    std::optional<std::vector<uint8_t>> out;
    const Status s = env().Read([&](Txn& txn) {
      Bytes v;
      if (txn.Get(Db::kAudit, secretfs::audit::SeqKey(seq), v).ok())
        out.emplace(v.begin(), v.end());
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  void PutRaw(Db db, std::span<const uint8_t> key, std::span<const uint8_t> value) {
    const Status s = env().Write([&](Txn& txn) { return txn.Put(db, key, value); });
    ASSERT_TRUE(s.ok()) << s.message();
  }

  void DelRaw(Db db, std::span<const uint8_t> key) {
    const Status s = env().Write([&](Txn& txn) { return txn.Del(db, key); });
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Flips one bit of event `seq`'s stored value at `offset` (from the start).
  void FlipByte(uint64_t seq, size_t offset) {
    auto v = Stored(seq);
    ASSERT_TRUE(v.has_value()) << "no event " << seq;
    ASSERT_LT(offset, v->size());
    (*v)[offset] ^= 0x01;
    PutRaw(Db::kAudit, secretfs::audit::SeqKey(seq), *v);
  }

  std::optional<std::vector<uint8_t>> Anchor() {
    std::optional<std::vector<uint8_t>> out;
    const Status s = env().Read([&](Txn& txn) {
      Bytes v;
      if (txn.Get(Db::kMeta, secretfs::AsBytes(secretfs::audit::kAnchorKey), v).ok())
        out.emplace(v.begin(), v.end());
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  secretfs::audit::VerifyResult VerifyOk() {
    auto r = secretfs::audit::Verify(env(), audit_key_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : secretfs::audit::VerifyResult{};
  }

  // Every event of the log, oldest first.
  std::vector<Event> All(const secretfs::audit::Filter& filter = {}) {
    std::vector<Event> out;
    const Status s = secretfs::audit::Query(env(), filter, [&](const Event& e) {
      out.push_back(e);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

  std::string root_;
  std::string dir_;
  const std::vector<uint8_t> key_bytes_ = secretfs::keyring::RandomBytes(32);
  std::unique_ptr<SecretStore> store_;
  SecretBuffer audit_key_;
};

}  // namespace audit_test
