// Builds the store of the scale benchmark (tests/bench/run_scale_bench.sh) through the store's
// own API, as the daemon and the CLI write it: 100 workspaces (ws000..ws099) of 1,000 secrets
// (KEY_0000..KEY_0999, 64 bytes each); 9 more versions of each secret of ws000 (1,000 secrets
// with 10 versions); a workspace `big` of 10,000 secrets; and 1,000,000 audit events (reads
// spread over every workspace and key), appended 1,000 per transaction.
//   scale_store DIR KEY_FILE    DIR must not exist yet; KEY_FILE unlocks it (-k file:KEY_FILE)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/event.h"
#include "keyring/key_slot.h"
#include "keyring/secure_buffer.h"
#include "store/secret_store.h"

namespace {

using secretfs::Status;
using secretfs::store::SecretStore;

constexpr int kWorkspaces = 100, kKeysPerWorkspace = 1000, kVersions = 10;
constexpr int kBigKeys = 10'000, kEvents = 1'000'000, kEventsPerTxn = 1000;

std::string Name(const char* format, int i) {
  char name[32];
  std::snprintf(name, sizeof name, format, i);
  return name;
}

// 64 bytes, different for every (secret, version).
std::vector<uint8_t> Value(int secret, int version) {
  std::string text = Name("%08d", secret) + "-" + Name("%02d", version) + "-";
  text.resize(64, 'v');
  return {text.begin(), text.end()};
}

Status Put(SecretStore& store, const std::string& ws, const std::string& key,
           const std::vector<uint8_t>& value) {
  secretfs::store::WriteRequest request;
  request.workspace = ws;
  request.key = key;
  request.value = value;
  request.author = "user:bench";
  return store.Write(request).status();
}

Status Build(SecretStore& store) {
  for (int w = 0; w < kWorkspaces; ++w) {
    const std::string ws = Name("ws%03d", w);
    SECRETFS_RETURN_IF_ERROR(store.CreateWorkspace(ws, secretfs::store::Naming::kDefault));
    for (int k = 0; k < kKeysPerWorkspace; ++k)
      SECRETFS_RETURN_IF_ERROR(
          Put(store, ws, Name("KEY_%04d", k), Value(w * kKeysPerWorkspace + k, 1)));
  }
  for (int v = 2; v <= kVersions; ++v)
    for (int k = 0; k < kKeysPerWorkspace; ++k)
      SECRETFS_RETURN_IF_ERROR(Put(store, "ws000", Name("KEY_%04d", k), Value(k, v)));
  SECRETFS_RETURN_IF_ERROR(store.CreateWorkspace("big", secretfs::store::Naming::kDefault));
  for (int k = 0; k < kBigKeys; ++k)
    SECRETFS_RETURN_IF_ERROR(Put(store, "big", Name("BIG_%05d", k), Value(k, 1)));

  auto audit_key = store.AuditKey();
  if (!audit_key) return audit_key.status();
  for (int done = 0; done < kEvents; done += kEventsPerTxn) {
    SECRETFS_RETURN_IF_ERROR(store.env().Write([&](secretfs::store::Txn& txn) -> Status {
      for (int i = done; i < done + kEventsPerTxn; ++i) {
        secretfs::audit::Event e;
        e.op = secretfs::audit::op::kRead;
        e.workspace = Name("ws%03d", i % kWorkspaces);
        e.key = Name("KEY_%04d", (i / kWorkspaces) % kKeysPerWorkspace);
        e.version = 1;
        e.uid = 1000 + static_cast<uint32_t>(i % 7);
        e.gid = 1000;
        e.pid = 4000 + i % 5000;
        e.comm = "app";
        e.exe = "/usr/local/bin/app";
        e.unit = "app.service";
        SECRETFS_RETURN_IF_ERROR(secretfs::audit::Append(txn, *audit_key, e));
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: scale_store DIR KEY_FILE\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream key_file(argv[2], std::ios::binary);
  const std::vector<uint8_t> key_bytes((std::istreambuf_iterator<char>(key_file)), {});
  secretfs::keyring::KeyMaterial key;
  key.kind = secretfs::keyring::KeyMaterial::Kind::kKeyFile;
  key.bytes = secretfs::keyring::SecretBuffer::CopyOf(key_bytes);
  key.origin = std::string("file:") + argv[2];

  const auto start = std::chrono::steady_clock::now();
  Status s = SecretStore::Create(dir, key, secretfs::keyring::PwhashLimits::Interactive(), "scale");
  auto store = s.ok() ? SecretStore::Open(dir) : secretfs::Result<std::unique_ptr<SecretStore>>(s);
  if (store) s = (*store)->Unlock(key);
  if (store && s.ok()) s = Build(**store);
  if (!store || !s.ok()) {
    std::fprintf(stderr, "scale_store: %s\n", (store ? s : store.status()).message().c_str());
    return 1;
  }
  std::printf(
      "built in %.1f s: %d secrets in %d workspaces + %d in `big`, %d versions of %d of "
      "them, %d audit events\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      kWorkspaces * kKeysPerWorkspace, kWorkspaces, kBigKeys, kVersions, kKeysPerWorkspace,
      kEvents);
  return 0;
}
