// Writes the binary seeds of the fuzz corpora: valid encodings, made with the real encoders and
// the fixed keys of fuzz_fixtures.h, so the fuzzers start past the format checks.
//
//   build-fuzz/tests/fuzz/fuzz_seedgen tests/fuzz/corpus
//
// writes corpus/fuzz_record/*.bin and corpus/fuzz_audit_event/*.bin (sealed records get a fresh
// random nonce on every run, so rerunning changes those files). The text corpora (policy, mount
// options, names) are written by hand.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "audit/event.h"
#include "common/byte_codec.h"
#include "fuzz_fixtures.h"
#include "keyring/key_slot.h"
#include "keyring/keys.h"
#include "store/schema.h"

using namespace secretfs;

namespace {

void Write(const std::filesystem::path& dir, const std::string& name,
           const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

template <class T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().message().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

keyring::KeyMaterial Material(keyring::KeyMaterial::Kind kind, std::string_view bytes) {
  keyring::KeyMaterial m;
  m.kind = kind;
  m.bytes = keyring::SecretBuffer::CopyOf(AsBytes(bytes));
  m.origin = "seedgen";
  return m;
}

void Records(const std::filesystem::path& dir) {
  const keyring::DataKey key = fuzz::FixedDataKey();
  const std::string value = "s3cr3t-value";
  const std::vector<uint8_t> sealed =
      keyring::SealRecord(key, fuzz::FixedAddress(), AsBytes(value));
  Write(dir, "sealed_record.bin", sealed);
  Write(dir, "sealed_empty.bin", keyring::SealRecord(key, fuzz::FixedAddress(), {}));

  store::VersionRecord version;
  version.created_ns = 1'700'000'000'000'000'000;
  version.author = "user:root";
  version.key_generation = fuzz::kGeneration;
  version.sealed = sealed;
  Write(dir, "version_record.bin", version.Encode());

  store::SecretRecord secret;
  secret.version = 3;
  secret.created_ns = 1'700'000'000'000'000'000;
  secret.updated_ns = 1'700'000'100'000'000'000;
  secret.updated_by = "uid:1002";
  secret.description = "the API token of prod";
  secret.type = "api-token";
  secret.tags = {{"env", "prod"}, {"owner", "team-a"}};
  secret.size = value.size();
  Write(dir, "secret_record.bin", secret.Encode());
  secret.deleted = true;
  secret.deleted_ns = 1'700'000'200'000'000'000;
  secret.tags.clear();
  Write(dir, "secret_record_deleted.bin", secret.Encode());

  store::WorkspaceRecord workspace;
  workspace.naming = store::Naming::kEnv;
  workspace.created_ns = 1'700'000'000'000'000'000;
  workspace.key_generation = fuzz::kGeneration;
  workspace.wrapped_key.assign(fuzz::kWrappedDataKey.begin(), fuzz::kWrappedDataKey.end());
  workspace.keep_versions = 10;
  // (workspace_record_format1.bin, kept from before format 2, has no keep_versions.)
  Write(dir, "workspace_record.bin", workspace.Encode());

  const keyring::MasterKey master = fuzz::FixedMasterKey();
  const std::vector<uint8_t> store_id(keyring::kStoreIdBytes, 0x5a);
  using Kind = keyring::KeyMaterial::Kind;
  Write(dir, "slot_keyfile.bin",
        Must(keyring::MakeSlot(master, store_id, 1, "key file",
                               Material(Kind::kKeyFile, "0123456789abcdef0123456789abcdef"),
                               keyring::PwhashLimits::Interactive()),
             "key-file slot")
            .Encode());
  Write(dir, "slot_passphrase.bin",
        Must(keyring::MakeSlot(master, store_id, 2, "operator",
                               Material(Kind::kPassphrase, "correct horse battery staple"),
                               keyring::PwhashLimits::Interactive()),
             "passphrase slot")
            .Encode());
  std::string pub(keyring::kX25519KeyBytes, '\0');
  for (size_t i = 0; i < pub.size(); ++i) pub[i] = static_cast<char>(0x11 * (i % 13) + 9);
  Write(dir, "slot_recipient.bin",
        Must(keyring::MakeSlot(master, store_id, 3, "host", Material(Kind::kRecipient, pub),
                               keyring::PwhashLimits::Interactive()),
             "recipient slot")
            .Encode());
}

void AuditEvents(const std::filesystem::path& dir) {
  audit::Event read;
  read.seq = 42;
  read.time_ns = 1'700'000'000'123'456'789;
  read.op = audit::op::kRead;
  read.workspace = "prod";
  read.key = "DB_PASSWORD";
  read.version = 3;
  read.uid = 1001;
  read.gid = 1001;
  read.pid = 4242;
  read.comm = "nginx";
  read.exe = "/usr/sbin/nginx";
  read.unit = "nginx.service";
  Write(dir, "event_read.bin", audit::Encode(read));

  audit::Event denied = read;
  denied.seq = 43;
  denied.result = EACCES;
  denied.op = audit::op::kWrite;
  Write(dir, "event_denied.bin", audit::Encode(denied));

  audit::Event cli;
  cli.seq = 44;
  cli.time_ns = 1'700'000'001'000'000'000;
  cli.op = "keyring add";
  cli.origin = audit::Origin::kCli;
  cli.uid = 0;
  cli.detail = "slot 3";
  Write(dir, "event_cli.bin", audit::Encode(cli));

  audit::Anchor anchor;
  anchor.seq = 41;
  for (size_t i = 0; i < anchor.mac.size(); ++i) anchor.mac[i] = static_cast<uint8_t>(i * 7);
  const auto key = fuzz::FixedAuditKey();
  Write(dir, "anchor.bin", audit::EncodeAnchor(key, anchor));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  if (!keyring::InitCrypto().ok()) return 1;
  const std::filesystem::path out = argv[1];
  Records(out / "fuzz_record");
  AuditEvents(out / "fuzz_audit_event");
  return 0;
}
