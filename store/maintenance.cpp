// SecretStore: backup and verification.
#include <sys/stat.h>

#include <filesystem>

#include "store/secret_store.h"

namespace secretfs::store {

Status SecretStore::Backup(const std::string& dest) {
  std::error_code ec;
  const bool made = std::filesystem::create_directories(dest, ec);
  if (ec) return Status::FromErrno(ec.value(), "creating " + dest);
  if (made) chmod(dest.c_str(), 0700);
  const std::string file = dest + "/data.mdb";
  const Status taken(EEXIST, dest + " already holds a store; choose an empty directory");
  // Any entry of that name, a dangling symlink included (LMDB would not write through it).
  if (std::filesystem::exists(std::filesystem::symlink_status(file, ec))) return taken;
  // LMDB creates the copy 0666 less the umask, and a copy of a large store takes a while: with
  // the usual umask another user could open it meanwhile (in a DEST the operator made) and read
  // its key slots later. The umask is the process's: the CLI makes its backup on one thread.
  const mode_t umask_before = umask(077);
  Status s = env_->CopyCompact(dest);
  umask(umask_before);
  // LMDB creates the copy with O_EXCL: EEXIST means another backup to `dest` made the file
  // after the check above, and it is that backup's to keep.
  if (s.code() == EEXIST) return taken;
  if (!s.ok()) {
    std::filesystem::remove(file, ec);  // no half-written backup that looks like a store
    return s;
  }
  chmod(file.c_str(), 0600);  // 0600 under any umask, as the store's own
  return Status::Ok();
}

Result<VerifyReport> SecretStore::Verify(const std::function<void(size_t, size_t)>& progress) {
  SECRETFS_RETURN_IF_ERROR(RequireUnlocked());
  VerifyReport report;
  SECRETFS_RETURN_IF_ERROR(env_->Read([&](Txn& txn) -> Status {
    // Workspaces: each data key must unwrap.
    std::map<std::string, bool> key_ok;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kWorkspaces, {}, [&](Bytes k, Bytes v) {
      const std::string name(k.begin(), k.end());
      ++report.workspaces;
      auto rec = WorkspaceRecord::Decode(v);
      Status s = rec.status();
      if (rec) s = DataKeyFor(txn, name, rec->key_generation).status();
      key_ok[name] = s.ok();
      if (!s.ok()) report.problems.push_back({name, "", 0, s.message()});
      return true;
    }));

    // Secrets: each record decodes and its current version exists.
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSecrets, {}, [&](Bytes k, Bytes v) {
      VerifyProblem p;
      if (!SplitSecretKey(k, p.workspace, p.key)) {
        report.problems.push_back({"", "", 0, "a secret's name in the store is damaged"});
        return true;
      }
      ++report.secrets;
      auto rec = SecretRecord::Decode(v);
      if (!rec) {
        p.message = rec.status().message();
        report.problems.push_back(std::move(p));
        return true;
      }
      Bytes version;
      // A current version that is there but damaged is reported by the version scan below.
      if (txn.Get(Db::kVersions, VersionKey(p.workspace, p.key, rec->version), version).code() ==
          ENOENT)
        report.problems.push_back(
            {p.workspace, p.key, rec->version, "the current version is missing"});
      if (!key_ok.count(p.workspace))
        report.problems.push_back(
            {p.workspace, p.key, 0, "belongs to a workspace that does not exist"});
      return true;
    }));

    // Versions: each record opens.
    const size_t total = txn.Entries(Db::kVersions);
    size_t done = 0;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kVersions, {}, [&](Bytes k, Bytes) {
      VerifyProblem p;
      if (!SplitVersionKey(k, p.workspace, p.key, p.version)) {
        report.problems.push_back({"", "", 0, "a version's name in the store is damaged"});
      } else if (auto it = key_ok.find(p.workspace); it == key_ok.end() || !it->second) {
        p.message = "its workspace's data key is unavailable";
        report.problems.push_back(std::move(p));
      } else if (auto plain = OpenVersion(txn, p.workspace, p.key, p.version); !plain) {
        p.message = plain.status().message();
        report.problems.push_back(std::move(p));
      } else {
        ++report.versions_ok;
      }
      if (progress) progress(++done, total);
      return true;
    }));
    return Status::Ok();
  }));
  return report;
}

}  // namespace secretfs::store
