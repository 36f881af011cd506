#include "tests/cli/record_locator.h"

#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace secretfs::testing {
namespace {

// The address at which this process mapped `file` (its mapping at file offset 0). LMDB hands
// out pointers into that map and, unless the map is fixed, does not say where it starts.
uintptr_t MapBaseOf(const std::string& file) {
  const std::string wanted = std::filesystem::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode >> path;
    if (path == wanted && std::stoull(offset, nullptr, 16) == 0)
      return std::stoull(range.substr(0, range.find('-')), nullptr, 16);
  }
  return 0;
}

std::string SecretKey(const std::string& workspace, const std::string& key) {
  return workspace + std::string(1, '\0') + key;
}

std::string VersionKey(const std::string& workspace, const std::string& key, uint64_t version) {
  std::string k = SecretKey(workspace, key);
  k.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(version >> shift));
  return k;
}

// The value of record `k` in table `table`.
std::optional<RecordLocation> LocateRecord(const std::string& store_dir, const char* table,
                                           std::string k) {
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) return std::nullopt;
  std::optional<RecordLocation> found;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  int rc = mdb_env_set_maxdbs(env, 32);
  if (rc == 0) rc = mdb_env_open(env, store_dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0600);
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, table, 0, &dbi);
  if (rc == 0) {
    MDB_val mk{k.size(), k.data()};
    MDB_val mv{};
    rc = mdb_get(txn, dbi, &mk, &mv);
    const uintptr_t base = MapBaseOf(store_dir + "/data.mdb");
    if (rc == 0 && base != 0) {
      RecordLocation at;
      at.offset = reinterpret_cast<uintptr_t>(mv.mv_data) - base;
      at.size = mv.mv_size;
      // Cross-check against the file itself: the map must be the file.
      std::ifstream data(store_dir + "/data.mdb", std::ios::binary);
      std::string bytes(at.size, '\0');
      data.seekg(static_cast<std::streamoff>(at.offset));
      data.read(bytes.data(), static_cast<std::streamsize>(at.size));
      if (data && std::memcmp(bytes.data(), mv.mv_data, at.size) == 0) found = at;
    }
  }
  if (txn != nullptr) mdb_txn_abort(txn);
  mdb_env_close(env);
  EXPECT_TRUE(found) << "no " << table << " record in " << store_dir << " (" << mdb_strerror(rc)
                     << ")";
  return found;
}

}  // namespace

std::optional<RecordLocation> LocateVersionRecord(const std::string& store_dir,
                                                  const std::string& workspace,
                                                  const std::string& key, uint64_t version) {
  return LocateRecord(store_dir, "versions", VersionKey(workspace, key, version));
}

std::optional<RecordLocation> LocateSecretRecord(const std::string& store_dir,
                                                 const std::string& workspace,
                                                 const std::string& key) {
  return LocateRecord(store_dir, "secrets", SecretKey(workspace, key));
}

}  // namespace secretfs::testing
