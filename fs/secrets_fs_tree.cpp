// SecretsFs: unlink, rename, mkdir and rmdir.
#include <cstdio>

#include "audit/event.h"
#include "fs/log.h"
#include "fs/secrets_fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace secretfs::fs {

int SecretsFs::Unlink(const Caller& who, uint64_t parent, const std::string& name) {
  auto dir = NodeOf(parent);
  if (!dir) return -ENOENT;
  Node node;
  if (int rc = Child(*dir, name, node); rc != 0) return rc;
  if (node.kind != NodeKind::kSecret) return node.is_dir() ? -EISDIR : -EACCES;
  if (int rc = Check(who, node, Access::kList); rc != 0) return rc;
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (int rc = Check(who, node, Access::kWrite); rc != 0)
    return Audit(who, audit::op::kDelete, node, rc);
  return ToNegErrno(Audited(who, audit::op::kDelete, node,
                            [&] { return store_.Remove(node.workspace, node.key, Author(who)); }));
}

int SecretsFs::Rename(const Caller& who, uint64_t parent, const std::string& name,
                      uint64_t new_parent, const std::string& new_name, unsigned flags) {
  auto from_dir = NodeOf(parent);
  auto to_dir = NodeOf(new_parent);
  if (!from_dir || !to_dir) return -ENOENT;
  if (flags & RENAME_EXCHANGE) return -EINVAL;
  Node from, to;
  if (int rc = Child(*from_dir, name, from); rc != 0) return rc;
  if (from.kind != NodeKind::kSecret) return -EPERM;  // workspaces and history stay where they are
  if (to_dir->kind != NodeKind::kWorkspace)
    return to_dir->kind == NodeKind::kRoot ? -EPERM : -EACCES;
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (int rc = Check(who, from, Access::kList); rc != 0) return rc;
  // Across workspaces the value would change keys: mv falls back to copy + unlink.
  if (to_dir->workspace != from.workspace) return -EXDEV;
  auto ws = store_.GetWorkspace(from.workspace);
  if (!ws) return ToNegErrno(ws.status());
  if (Status s = store::ValidateKeyName(new_name, ws->naming); !s.ok())
    return RefusedName("rename in " + from.workspace, s);
  to = {NodeKind::kSecret, from.workspace, new_name, 0};
  // Moving a value changes both names: write on both (SPEC §5 lets a member rename).
  for (const Node* n : {&from, &to})
    if (int rc = Check(who, *n, Access::kWrite); rc != 0)
      return Audit(who, audit::op::kRename, to, rc == -ENOENT && n == &to ? -EACCES : rc, 0,
                   "from " + from.key);
  // But a move must not reveal a value to anyone: a name's readers are not its source's, so who
  // may not read the source moves only a value it wrote itself (a temporary file it saves by
  // renaming over the secret). Otherwise a `member` could move any secret onto a name it, or
  // the application it deploys, may read.
  const bool may_read_from = Check(who, from, Access::kRead) == 0;
  const bool may_read_to = Check(who, to, Access::kRead) == 0;
  // Onto a live secret with an equal value a rename makes no version, unless the caller may not
  // read that secret: "no new version" would confirm its guess of the value (as for writes).
  auto result = Audited(
      who, audit::op::kRename, to,
      [&] {
        return store_.Rename(from.workspace, from.key, to.key, (flags & RENAME_NOREPLACE) != 0,
                             Author(who), /*even_if_unchanged=*/!may_read_to,
                             /*only_own_value=*/!may_read_from);
      },
      "from " + from.key);
  if (!result) return ToNegErrno(result.status());
  inodes_.Rename(from, to);
  return 0;
}

int SecretsFs::Mkdir(const Caller& who, uint64_t parent, const std::string& name, EntryReply& out) {
  auto dir = NodeOf(parent);
  if (!dir) return -ENOENT;
  if (dir->kind != NodeKind::kRoot) return -EPERM;  // only workspaces are directories one makes
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (Status s = store::ValidateWorkspaceName(name); !s.ok()) return RefusedName("mkdir", s);
  const Node node{NodeKind::kWorkspace, name, "", 0};
  if (int rc = Check(who, node, Access::kManageWorkspaces); rc != 0)
    return Audit(who, audit::op::kMkdir, node, rc);
  if (Status s = Audited(who, audit::op::kMkdir, node,
                         [&] { return store_.CreateWorkspace(name, store::Naming::kDefault); });
      !s.ok())
    return ToNegErrno(s);
  if (int rc = Attributes(node, 0, out.attr); rc != 0) return rc;
  out.ino = inodes_.Acquire(node);
  out.attr.st_ino = out.ino;
  return 0;
}

int SecretsFs::Rmdir(const Caller& who, uint64_t parent, const std::string& name) {
  auto dir = NodeOf(parent);
  if (!dir) return -ENOENT;
  Node node;
  if (int rc = Child(*dir, name, node); rc != 0) return rc;
  if (node.kind != NodeKind::kWorkspace) return node.is_dir() ? -EPERM : -ENOTDIR;
  if (int rc = Check(who, node, Access::kList); rc != 0) return rc;
  if (int rc = CheckWritable(); rc != 0) return rc;
  if (int rc = Check(who, node, Access::kManageWorkspaces); rc != 0)
    return Audit(who, audit::op::kRmdir, node, rc);
  // A file created in it and not yet committed is one of its entries, as in any filesystem:
  // removing the workspace under it would lose that value at its close.
  if (CreatingIn(node.workspace)) return Audit(who, audit::op::kRmdir, node, -ENOTEMPTY);
  return ToNegErrno(Audited(who, audit::op::kRmdir, node,
                            [&] { return store_.DeleteWorkspace(name, /*purge=*/false); }));
}

}  // namespace secretfs::fs
