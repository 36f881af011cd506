// FUSE callbacks for names, attributes, directories and the tree: lookup, getattr, access,
// setattr, readdir, unlink, rename, mkdir, rmdir, statfs, and the refused mknod/symlink/link.
#include "fs/fuse_ops_internal.h"

namespace secretfs::fs::ops {

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup", [&] {
    EntryReply e;
    SecretsFs& fs = FsOf(req);
    if (int rc = fs.Lookup(CallerOf(req), parent, name, e); rc != 0) return rc;
    return ReplyEntry(req, fs, e);
  });
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  FsOf(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) FsOf(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "getattr", [&] {
    struct stat st {};
    SecretsFs& fs = FsOf(req);
    // With a handle (lseek to SEEK_END), its own size: a reader's version, a writer's value. Not
    // to be cached: the kernel keeps attributes for the file, not for one handle.
    OpenFile* file = FileOf(fi);
    if (int rc = fs.GetAttr(CallerOf(req), ino, file, st); rc != 0) return rc;
    fuse_reply_attr(req, &st, file != nullptr ? 0 : fs.attr_timeout());
    return 0;
  });
}

// access(2), faccessat(2) and chdir(2); the kernel asks only without default_permissions.
void CheckAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  Guard(req, "access", [&] {
    if (int rc = FsOf(req).Permitted(CallerOf(req), ino, mask); rc != 0) return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Guard(req, "setattr", [&] {
    AttrChange change;
    if (to_set & FUSE_SET_ATTR_MODE) change.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) change.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) change.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) change.size = attr->st_size;
    struct stat st {};
    SecretsFs& fs = FsOf(req);
    if (int rc = fs.SetAttr(CallerOf(req), ino, change, FileOf(fi), st); rc != 0) return rc;
    fuse_reply_attr(req, &st, fs.attr_timeout());
    return 0;
  });
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    std::vector<DirEntry> entries;
    if (int rc = FsOf(req).ReadDir(CallerOf(req), ino, entries); rc != 0) return rc;
    KernelHandles<std::vector<DirEntry>>& listings = DataOf(req).listings;
    fi->fh = listings.Add(std::move(entries));
    if (fuse_reply_open(req, fi) != 0) (void)listings.Take(fi->fh);  // the opener went away
    return 0;
  });
}

void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
  Guard(req, "readdir", [&] {
    const auto& entries = KernelHandles<std::vector<DirEntry>>::At(fi->fh);
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(offset); i < entries.size(); ++i) {
      struct stat st {};
      st.st_ino = i + 2;  // listing inodes are informational; lookups assign the real ones
      st.st_mode = entries[i].is_dir ? S_IFDIR : S_IFREG;
      const size_t need =
          fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(), &st,
                            static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
    return 0;
  });
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  (void)DataOf(req).listings.Take(fi->fh);
  fuse_reply_err(req, 0);
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "unlink", [&] {
    if (int rc = FsOf(req).Unlink(CallerOf(req), parent, name); rc != 0) return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned int flags) {
  Guard(req, "rename", [&] {
    if (int rc = FsOf(req).Rename(CallerOf(req), parent, name, new_parent, new_name, flags);
        rc != 0)
      return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t) {
  Guard(req, "mkdir", [&] {
    EntryReply e;
    SecretsFs& fs = FsOf(req);
    if (int rc = fs.Mkdir(CallerOf(req), parent, name, e); rc != 0) return rc;
    return ReplyEntry(req, fs, e);
  });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "rmdir", [&] {
    if (int rc = FsOf(req).Rmdir(CallerOf(req), parent, name); rc != 0) return rc;
    fuse_reply_err(req, 0);
    return 0;
  });
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] {
    struct statvfs st {};
    if (int rc = FsOf(req).StatFs(CallerOf(req), st); rc != 0) return rc;
    fuse_reply_statfs(req, &st);
    return 0;
  });
}

// Secrets are regular files only.
void Mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EPERM); }
void Symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }
void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EPERM); }

}  // namespace secretfs::fs::ops
