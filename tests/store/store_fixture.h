// What the store tests share: a real store in a temporary directory (removed in TearDown), key
// material, and read-only access to the raw LMDB records and files underneath.
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_codec.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "keyring/secure_buffer.h"
#include "store/secret_store.h"

inline secretfs::keyring::KeyMaterial KeyFileMaterial(const std::vector<uint8_t>& bytes,
                                                      std::string origin = "file:test.key") {
  secretfs::keyring::KeyMaterial m;
  m.kind = secretfs::keyring::KeyMaterial::Kind::kKeyFile;
  m.bytes = secretfs::keyring::SecretBuffer::CopyOf(bytes);
  m.origin = std::move(origin);
  return m;
}

inline secretfs::keyring::KeyMaterial PassphraseMaterial(std::string_view text) {
  secretfs::keyring::KeyMaterial m;
  m.kind = secretfs::keyring::KeyMaterial::Kind::kPassphrase;
  m.bytes = secretfs::keyring::SecretBuffer::CopyOf(secretfs::AsBytes(text));
  m.origin = "passphrase";
  return m;
}

inline std::string Text(const secretfs::keyring::SecretBuffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Every offset at which `needle` occurs in `haystack`.
inline std::vector<size_t> FindAll(const std::vector<uint8_t>& haystack,
                                   std::span<const uint8_t> needle) {
  std::vector<size_t> out;
  if (needle.empty()) return out;
  auto it = haystack.begin();
  while ((it = std::search(it, haystack.end(), needle.begin(), needle.end())) != haystack.end()) {
    out.push_back(static_cast<size_t>(it - haystack.begin()));
    ++it;
  }
  return out;
}

// Distinct, deterministic, incompressible-looking bytes.
inline std::vector<uint8_t> PatternBytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
  return out;
}

// The raw LMDB environment of a store, in one read-only transaction, or a write transaction when
// `writable` (committed by Commit(), else aborted). Only while no SecretStore has the same store
// open in this process (LMDB forbids opening one environment twice in a process).
class RawLmdb {
 public:
  explicit RawLmdb(const std::string& dir, bool writable = false) {
    rc_ = mdb_env_create(&env_);
    if (rc_ == 0) rc_ = mdb_env_set_maxdbs(env_, 8);
    if (rc_ == 0) rc_ = mdb_env_open(env_, dir.c_str(), writable ? 0 : MDB_RDONLY, 0600);
    if (rc_ == 0) rc_ = mdb_txn_begin(env_, nullptr, writable ? 0 : MDB_RDONLY, &txn_);
  }
  ~RawLmdb() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    if (env_ != nullptr) mdb_env_close(env_);
  }
  RawLmdb(const RawLmdb&) = delete;
  RawLmdb& operator=(const RawLmdb&) = delete;

  bool ok() const { return rc_ == 0; }
  std::string error() const { return mdb_strerror(rc_); }

  // The value stored under `key` in the named database, or nullopt.
  std::optional<std::vector<uint8_t>> Get(const char* db, std::span<const uint8_t> key) {
    MDB_dbi dbi = 0;
    if (mdb_dbi_open(txn_, db, 0, &dbi) != 0) return std::nullopt;
    MDB_val k{key.size(), const_cast<uint8_t*>(key.data())}, v{};
    if (mdb_get(txn_, dbi, &k, &v) != 0) return std::nullopt;
    const auto* p = static_cast<const uint8_t*>(v.mv_data);
    return std::vector<uint8_t>(p, p + v.mv_size);
  }

  // Stores `value` under `key` in the named database (writable only).
  bool Put(const char* db, std::span<const uint8_t> key, std::span<const uint8_t> value) {
    MDB_dbi dbi = 0;
    if (mdb_dbi_open(txn_, db, 0, &dbi) != 0) return false;
    MDB_val k{key.size(), const_cast<uint8_t*>(key.data())};
    MDB_val v{value.size(), const_cast<uint8_t*>(value.data())};
    return mdb_put(txn_, dbi, &k, &v, 0) == 0;
  }

  bool Commit() {
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // freed by commit, also when it fails
    return rc == 0;
  }

  // The number of keys in the named database starting with `prefix`.
  size_t Count(const char* db, std::span<const uint8_t> prefix) {
    MDB_dbi dbi = 0;
    if (mdb_dbi_open(txn_, db, 0, &dbi) != 0) return 0;
    MDB_cursor* cursor = nullptr;
    if (mdb_cursor_open(txn_, dbi, &cursor) != 0) return 0;
    size_t n = 0;
    MDB_val k{}, v{};
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      const auto* p = static_cast<const uint8_t*>(k.mv_data);
      if (k.mv_size >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p)) ++n;
    }
    mdb_cursor_close(cursor);
    return n;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  int rc_ = 0;
};

// A temporary root directory with the store at root/store, created and unlocked by
// CreateAndUnlock() with a random 32-byte key file.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/secretfs-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    root_ = tmpl;
    dir_ = root_ + "/store";
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  secretfs::keyring::KeyMaterial Key() const { return KeyFileMaterial(key_bytes_); }

  // Creates the store at dir_ and leaves it open and unlocked in store_.
  void CreateAndUnlock(const secretfs::store::StoreOptions& options = {}) {
    const secretfs::Status created = secretfs::store::SecretStore::Create(
        dir_, Key(), secretfs::keyring::PwhashLimits::Interactive(), "test", options);
    ASSERT_TRUE(created.ok()) << created.message();
    ASSERT_NO_FATAL_FAILURE(Reopen(options));
  }

  // Closes store_ (if open) and opens and unlocks dir_ again.
  void Reopen(const secretfs::store::StoreOptions& options = {}) {
    store_.reset();
    auto opened = secretfs::store::SecretStore::Open(dir_, options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
    const secretfs::Status unlocked = store_->Unlock(Key());
    ASSERT_TRUE(unlocked.ok()) << unlocked.message();
  }

  void MakeWorkspace(std::string_view name,
                     secretfs::store::Naming naming = secretfs::store::Naming::kDefault) {
    const secretfs::Status s = store_->CreateWorkspace(name, naming);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  secretfs::Result<secretfs::store::WriteResult> Put(std::string_view workspace,
                                                     std::string_view key, std::string_view value,
                                                     std::string author = "tester") {
    secretfs::store::WriteRequest request;
    request.workspace = workspace;
    request.key = key;
    request.value = secretfs::AsBytes(value);
    request.author = std::move(author);
    return store_->Write(request);
  }

  // The value as text, or "<errno N: message>" so a failure shows in the assertion.
  std::string Get(std::string_view workspace, std::string_view key,
                  std::optional<uint64_t> version = std::nullopt) {
    auto opened = store_->Read(workspace, key, version);
    if (!opened.ok())
      return "<errno " + std::to_string(opened.status().code()) + ": " + opened.status().message() +
             ">";
    return Text(opened->value);
  }

  // The errno of reading W/K (0 when it reads).
  int ReadErrno(std::string_view workspace, std::string_view key,
                std::optional<uint64_t> version = std::nullopt) {
    return store_->Read(workspace, key, version).status().code();
  }

  std::string root_;
  std::string dir_;
  const std::vector<uint8_t> key_bytes_ = secretfs::keyring::RandomBytes(32);
  std::unique_ptr<secretfs::store::SecretStore> store_;
};
