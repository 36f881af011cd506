// SecretStore: backup and verification.
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <utility>

#include "store/secret_store.h"
#include "store/store_directory.h"

namespace secretfs::store {

Status SecretStore::Backup(const std::string& dest, const std::function<Status()>& before_copy) {
  auto made = MakeDirectories(dest, 0700);
  if (!made) return made.status();
  const int dir = open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Status::FromErrno(errno, dest);
  // Everything below is done through `dir`, the directory checked here, and never by a name:
  // whoever else may write in it could have swapped a symlink in for data.mdb meanwhile, and
  // root's chmod by path followed it to any file.
  struct stat st {};
  Status s = fstat(dir, &st) == 0 ? CheckPrivateDirectory(st, dest, "the backup directory")
                                  : Status::FromErrno(errno, dest);
  const std::string file = dest + "/data.mdb";
  // The copy is made under a name that is no store's and renamed to data.mdb once whole: a
  // backup killed halfway left a data.mdb that `verify` called a damaged store. A partial copy
  // left by such a kill is this command's own leftover, in a directory only we may write.
  constexpr char kPartial[] = "data.mdb.partial";
  if (s.ok() && unlinkat(dir, kPartial, 0) != 0 && errno != ENOENT)
    s = Status::FromErrno(errno, dest + "/" + kPartial);
  struct stat existing {};
  if (s.ok() && fstatat(dir, "data.mdb", &existing, AT_SYMLINK_NOFOLLOW) == 0)
    s = Status(EEXIST, dest + " already holds a store; choose an empty directory");
  // 0600 from its first byte: a copy of a large store takes a while, and another user who opened
  // it meanwhile would keep a descriptor to its key slots. O_EXCL | O_NOFOLLOW: no entry of that
  // name, a symlink included, is followed.
  const int fd =
      s.ok() ? openat(dir, kPartial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
             : -1;
  if (s.ok() && fd < 0) s = Status::FromErrno(errno, dest + "/" + kPartial);
  if (fd >= 0) {
    if (fchmod(fd, 0600) != 0) s = Status::FromErrno(errno, file);  // exactly, under any umask
    if (s.ok() && before_copy) s = before_copy();
    if (s.ok()) s = env_->CopyCompact(fd, dest);
    if (s.ok() && fsync(fd) != 0) s = Status::FromErrno(errno, "writing " + file);
    if (close(fd) != 0 && s.ok()) s = Status::FromErrno(errno, "writing " + file);
    // RENAME_NOREPLACE: a data.mdb made meanwhile is not replaced.
    if (s.ok() && renameat2(dir, kPartial, dir, "data.mdb", RENAME_NOREPLACE) != 0)
      s = errno == EEXIST
              ? Status(EEXIST, dest + " already holds a store; choose an empty directory")
              : Status::FromErrno(errno, file);
    if (s.ok() && fsync(dir) != 0) s = Status::FromErrno(errno, "writing " + dest);
    // No half-written backup is left; only the file made here is removed.
    if (!s.ok()) unlinkat(dir, kPartial, 0);
  }
  close(dir);
  return s;
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

    // Secrets: each record decodes and its current version exists. Their current versions, for
    // the version scan (a damaged record maps to nullopt: its versions are not judged).
    std::map<std::pair<std::string, std::string>, std::optional<uint64_t>> current;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kSecrets, {}, [&](Bytes k, Bytes v) {
      VerifyProblem p;
      if (!SplitSecretKey(k, p.workspace, p.key)) {
        report.problems.push_back({"", "", 0, "a secret's name in the store is damaged"});
        return true;
      }
      ++report.secrets;
      auto rec = SecretRecord::Decode(v);
      current[{p.workspace, p.key}] = rec ? std::optional(rec->version) : std::nullopt;
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

    // Versions: each record opens, and belongs to a secret whose record has not been set back.
    // secretfs numbers a new version after the record's current one and never keeps a version
    // of a secret it has no record of, so either is a rollback of the secret's record (someone
    // who could write data.mdb restored an older record, to serve an older value as current).
    const size_t total = txn.Entries(Db::kVersions);
    size_t done = 0;
    SECRETFS_RETURN_IF_ERROR(txn.Scan(Db::kVersions, {}, [&](Bytes k, Bytes) {
      VerifyProblem p;
      const bool named = SplitVersionKey(k, p.workspace, p.key, p.version);
      auto owner = named ? current.find({p.workspace, p.key}) : current.end();
      if (named && owner == current.end()) {
        report.problems.push_back({p.workspace, p.key, p.version,
                                   "a version of a secret the store has no record of (its record "
                                   "was removed from data.mdb?)"});
      } else if (named && owner->second && p.version > *owner->second) {
        report.problems.push_back({p.workspace, p.key, p.version,
                                   "beyond the secret's current version " +
                                       std::to_string(*owner->second) +
                                       ": its record was set back (a rollback of data.mdb?)"});
      }
      if (!named) {
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
