// SecretsFs: names, attributes, listings, access and statfs.
#include "fs/secrets_fs.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "common/text_format.h"
#include "fs/log.h"

namespace secretfs::fs {
namespace {

constexpr std::string_view kVersionsDirName = ".versions";

bool ParseVersionName(const std::string& name, uint64_t& version) {
  if (name.empty() || name[0] == '0') return false;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), version);
  return ec == std::errc() && end == name.data() + name.size();
}

}  // namespace

int ToNegErrno(const Status& status) { return status.ok() ? 0 : -status.code(); }

SecretsFs::SecretsFs(store::SecretStore& store, MountOptions options, uid_t owner_uid,
                     gid_t owner_gid, std::shared_ptr<const policy::Policy> policy,
                     audit::AuditLog& audit)
    : store_(store),
      options_(std::move(options)),
      caps_{options_.role_cap, options_.read_only},
      policy_(std::move(policy)),
      audit_(audit),
      mounted_ns_(store::NowNs()),
      owner_uid_(owner_uid),
      owner_gid_(owner_gid),
      inodes_(options_.workspace.empty() ? Node{NodeKind::kRoot, "", "", 0}
                                         : Node{NodeKind::kWorkspace, options_.workspace, "", 0}),
      locked_(options_.max_locked) {
  if (locked_.per_uid() < options_.max_size + LockedBudget::kHandleBytes)
    LogWarning("mount option max_locked",
               Status(EINVAL, "a user may hold " + std::to_string(locked_.per_uid()) +
                                  " bytes of open values (a quarter of max_locked), less than "
                                  "one value of max_size: opens of values that large fail "
                                  "with ENOMEM"));
}

std::string SecretsFs::Author(const Caller& who) const {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(authors_mutex_);
    auto it = authors_.find(who.uid);
    if (it != authors_.end() && now - it->second.looked_up < kAuthorTtl) return it->second.label;
  }
  std::string label = UserLabel(who.uid);  // outside the lock: the name service may be slow
  std::lock_guard lock(authors_mutex_);
  if (authors_.size() >= kMaxAuthors) authors_.clear();
  authors_[who.uid] = AuthorLabel{label, now};
  return label;
}

int SecretsFs::Child(const Node& parent, const std::string& name, Node& out) const {
  switch (parent.kind) {
    case NodeKind::kRoot:
      if (!store::ValidateWorkspaceName(name).ok()) return -ENOENT;
      out = {NodeKind::kWorkspace, name, "", 0};
      return 0;
    case NodeKind::kWorkspace:
      if (name == kVersionsDirName) {
        out = {NodeKind::kVersionsDir, parent.workspace, "", 0};
        return 0;
      }
      if (!store::ValidateKeyName(name).ok()) return -ENOENT;
      out = {NodeKind::kSecret, parent.workspace, name, 0};
      return 0;
    case NodeKind::kVersionsDir:
      if (!store::ValidateKeyName(name).ok()) return -ENOENT;
      out = {NodeKind::kVersionKeyDir, parent.workspace, name, 0};
      return 0;
    case NodeKind::kVersionKeyDir: {
      uint64_t version = 0;
      if (!ParseVersionName(name, version)) return -ENOENT;
      out = {NodeKind::kVersionFile, parent.workspace, parent.key, version};
      return 0;
    }
    default:
      return -ENOTDIR;
  }
}

void SecretsFs::FileAttr(uint64_t ino, mode_t mode, uint64_t size, int64_t mtime_ns,
                         struct stat& out) const {
  out = {};
  out.st_ino = ino;
  out.st_mode = S_IFREG | (mode & ~options_.umask);
  out.st_nlink = 1;
  out.st_uid = owner_uid_;
  out.st_gid = owner_gid_;
  out.st_size = static_cast<off_t>(size);
  out.st_blksize = 4096;
  out.st_blocks = static_cast<blkcnt_t>((size + 511) / 512);
  out.st_mtim = {static_cast<time_t>(mtime_ns / 1'000'000'000), mtime_ns % 1'000'000'000};
  out.st_ctim = out.st_mtim;
  out.st_atim = out.st_mtim;
}

void SecretsFs::DirAttr(uint64_t ino, struct stat& out) const {
  out = {};
  out.st_ino = ino;
  out.st_mode = S_IFDIR | (0777 & ~options_.umask);
  out.st_nlink = 2;
  out.st_uid = owner_uid_;
  out.st_gid = owner_gid_;
  out.st_blksize = 4096;
  out.st_mtim = {static_cast<time_t>(mounted_ns_ / 1'000'000'000), mounted_ns_ % 1'000'000'000};
  out.st_ctim = out.st_atim = out.st_mtim;
}

int SecretsFs::Attributes(const Node& node, uint64_t ino, struct stat& out) {
  switch (node.kind) {
    case NodeKind::kRoot:
    case NodeKind::kVersionsDir:
      DirAttr(ino, out);
      return 0;
    case NodeKind::kWorkspace: {
      auto ws = store_.GetWorkspace(node.workspace);
      if (!ws) return ToNegErrno(ws.status());
      DirAttr(ino, out);
      out.st_mtim = out.st_ctim = out.st_atim = {
          static_cast<time_t>(ws->created_ns / 1'000'000'000), ws->created_ns % 1'000'000'000};
      return 0;
    }
    case NodeKind::kSecret: {
      auto info = store_.Stat(node.workspace, node.key);
      if (info && !info->record.deleted) {
        FileAttr(ino, 0666, info->record.size, info->record.updated_ns, out);
        return 0;
      }
      std::lock_guard lock(creating_mutex_);
      if (creating_.count(ino)) {  // created, not yet committed: an empty file for now
        FileAttr(ino, 0666, 0, store::NowNs(), out);
        return 0;
      }
      return info ? -ENOENT : ToNegErrno(info.status());
    }
    case NodeKind::kVersionKeyDir: {
      auto info = store_.Stat(node.workspace, node.key);
      if (!info) return ToNegErrno(info.status());
      DirAttr(ino, out);
      return 0;
    }
    case NodeKind::kVersionFile: {
      auto history = store_.History(node.workspace, node.key);
      if (!history) return ToNegErrno(history.status());
      for (const auto& v : *history)
        if (v.version == node.version) {
          FileAttr(ino, 0444, v.size, v.created_ns, out);
          return 0;
        }
      return -ENOENT;
    }
  }
  return -ENOENT;
}

int SecretsFs::Lookup(const Caller& who, uint64_t parent, const std::string& name,
                      EntryReply& out) {
  auto dir = NodeOf(parent);
  if (!dir) return -ENOENT;
  Node node;
  if (int rc = Child(*dir, name, node); rc != 0) return rc;
  if (int rc = Check(who, node,
                     node.kind == NodeKind::kVersionFile || node.kind == NodeKind::kVersionKeyDir
                         ? Access::kReadVersions
                         : Access::kList);
      rc != 0)
    return Listed(who, node, rc);
  // Attributes first, so a name that does not exist never takes an inode.
  struct stat attr {};
  const uint64_t probe_ino = 0;
  if (int rc = Attributes(node, probe_ino, attr); rc != 0) return rc;
  out.ino = inodes_.Acquire(node);
  out.attr = attr;
  out.attr.st_ino = out.ino;
  return 0;
}

int SecretsFs::GetAttr(const Caller& who, uint64_t ino, OpenFile* file, struct stat& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  if (node->kind != NodeKind::kRoot)
    if (int rc = Check(who, *node, Access::kList); rc != 0) return rc;
  if (int rc = Attributes(*node, ino, out); rc != 0) return rc;
  if (file != nullptr) out.st_size = static_cast<off_t>(HandleSize(*file));
  return 0;
}

int SecretsFs::Permitted(const Caller& who, uint64_t ino, int mask) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  const bool history =
      node->kind == NodeKind::kVersionKeyDir || node->kind == NodeKind::kVersionFile;
  // F_OK: whether the name is there for the caller, as lookup and getattr answer.
  if (node->kind != NodeKind::kRoot)
    if (int rc = Check(who, *node, history ? Access::kReadVersions : Access::kList); rc != 0)
      return rc;
  struct stat st {};
  if (int rc = Attributes(*node, ino, st); rc != 0) return rc;
  if ((mask & W_OK) != 0) {
    if (int rc = CheckWritable(); rc != 0) return rc;
    switch (node->kind) {
      case NodeKind::kRoot:  // mkdir: who may make workspaces of any name ([*] rules)
        if (Check(who, {NodeKind::kWorkspace, "", "", 0}, Access::kManageWorkspaces) != 0)
          return -EACCES;
        break;
      case NodeKind::kWorkspace:  // create, unlink, rename: who may write keys here
      case NodeKind::kSecret:
        if (Check(who, *node, Access::kWrite) != 0) return -EACCES;
        break;
      default:  // history is read-only
        return -EACCES;
    }
  }
  // Directories: listing and entering them is what seeing them allows (checked above).
  if (node->is_dir() || (mask & (R_OK | X_OK)) == 0) return 0;
  if ((mask & X_OK) != 0) return -EACCES;  // values are not programs
  if (node->kind == NodeKind::kSecret && Check(who, *node, Access::kRead) != 0) return -EACCES;
  return 0;  // an old version is readable by who may see it: kReadVersions, checked above
}

int SecretsFs::ReadDir(const Caller& who, uint64_t ino, std::vector<DirEntry>& out) {
  auto node = NodeOf(ino);
  if (!node) return -ENOENT;
  out = {{".", true}, {"..", true}};
  switch (node->kind) {
    case NodeKind::kRoot: {
      auto list = store_.ListWorkspaces();
      if (!list) return ToNegErrno(list.status());
      for (const auto& w : *list)
        if (Check(who, {NodeKind::kWorkspace, w.name, "", 0}, Access::kList) == 0)
          out.push_back({w.name, true});
      return Listed(who, *node, 0);
    }
    case NodeKind::kWorkspace:
    case NodeKind::kVersionsDir: {
      if (int rc = Check(who, *node, Access::kList); rc != 0) return Listed(who, *node, rc);
      const bool versions = node->kind == NodeKind::kVersionsDir;
      if (!versions) out.push_back({std::string(kVersionsDirName), true});
      auto list = store_.List(node->workspace);
      if (!list) return ToNegErrno(list.status());
      for (const auto& s : *list) {
        const Node secret{NodeKind::kSecret, s.workspace, s.key, 0};
        // A removed secret is gone from listings (SPEC §4); its name stays under .versions only
        // for who may read its history there.
        if (s.record.deleted && (!versions || Check(who, secret, Access::kReadVersions) != 0))
          continue;
        if (Check(who, secret, Access::kList) == 0) out.push_back({s.key, versions});
      }
      return Listed(who, *node, 0);
    }
    case NodeKind::kVersionKeyDir: {
      if (int rc = Check(who, *node, Access::kReadVersions); rc != 0) return Listed(who, *node, rc);
      auto history = store_.History(node->workspace, node->key);
      if (!history) return ToNegErrno(history.status());
      for (const auto& v : *history) out.push_back({std::to_string(v.version), false});
      return Listed(who, *node, 0);
    }
    default:
      return -ENOTDIR;
  }
}

int SecretsFs::StatFs(const Caller& who, struct statvfs& out) {
  out = {};
  out.f_bsize = 4096;
  out.f_frsize = 4096;
  out.f_namemax = store::kMaxKeyName;
  size_t secrets = 0;
  // Only the workspaces the caller may list are counted: the time counting takes would tell one
  // with no role how many secrets the others hold.
  const auto listed = [&](std::string_view name) {
    return (options_.workspace.empty() || name == options_.workspace) &&
           Check(who, {NodeKind::kWorkspace, std::string(name), "", 0}, Access::kList) == 0;
  };
  if (auto list = store_.ListWorkspaces(listed))
    for (const auto& w : *list) {
      // Removed secrets count for who may see them under .versions (as ReadDir lists them).
      if (SeesEveryKey(who, w.name)) {
        const bool history =
            Check(who, {NodeKind::kWorkspace, w.name, "", 0}, Access::kReadVersions) == 0;
        secrets += w.live_secrets + w.damaged_secrets + (history ? w.deleted_secrets : 0);
        continue;
      }
      // Rules with key globs: the keys outside them are not there for the caller, nor is their
      // number (df -i).
      if (auto keys = store_.List(w.name))
        secrets += std::count_if(keys->begin(), keys->end(), [&](const auto& s) {
          const Node secret{NodeKind::kSecret, s.workspace, s.key, 0};
          return Check(who, secret, Access::kList) == 0 &&
                 (!s.record.deleted || Check(who, secret, Access::kReadVersions) == 0);
        });
    }
  // Capacity: the store's map; used: what LMDB has written.
  const auto usage = store_.Usage();
  out.f_blocks = usage.map_bytes / 4096;
  out.f_bfree =
      usage.map_bytes > usage.used_bytes ? (usage.map_bytes - usage.used_bytes) / 4096 : 0;
  out.f_bavail = out.f_bfree;
  out.f_files = secrets + 1'000'000;
  out.f_ffree = 1'000'000;
  out.f_favail = out.f_ffree;
  return 0;
}

}  // namespace secretfs::fs
