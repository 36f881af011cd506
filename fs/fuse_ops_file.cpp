// FUSE callbacks for file handles: open, create, read, write, flush, fsync, release.
#include <string.h>

#include "fs/fuse_ops_internal.h"

namespace secretfs::fs::ops {

// Tells the kernel to drop what it keeps of `ino`: its attributes, and with `pages` its page
// cache too. `what` names the request and the reason for the log.
void Invalidate(fuse_session* session, fuse_ino_t ino, bool pages, const std::string& what) {
  // Offset 0, length 0: every page; offset -1: none.
  const int rc = fuse_lowlevel_notify_inval_inode(session, ino, pages ? 0 : -1, 0);
  // ENOENT: the kernel forgot the inode, and all it kept of it. ENOTCONN, ENODEV: the mount is
  // going away, and its pages with the last of its open files.
  if (rc != 0 && rc != -ENOENT && rc != -ENOTCONN && rc != -ENODEV)
    LogError(what, Status(-rc, "the kernel did not drop what it cached"));
}

// Hands `file` to the kernel (fi->fh holds a reference until Release), with `entry` for a create.
// Secret files bypass the page cache for read(2) (the reads that go through it anyway are
// undone at release, see Read), and every open reads what the store holds now. Read-only
// handles need no FLUSH round trip.
void ReplyOpened(fuse_req_t req, fuse_file_info* fi, std::unique_ptr<OpenFile> file,
                 const fuse_entry_param* entry) {
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->noflush = file->writable ? 0 : 1;
  // Before the reply, so that an fstat after open(2) returned asks for the size of what it reads.
  // A create's reply carries the attributes itself.
  if (file->attributes_stale && entry == nullptr)
    Invalidate(DataOf(req).session, file->ino, /*pages=*/false, "open");
  KernelHandles<FileRef>& files = DataOf(req).files;
  fi->fh = files.Add(std::move(file));  // the kernel's now; taken back in Release
  SecretsFs& fs = FsOf(req);            // `req` is gone after the reply
  if ((entry ? fuse_reply_create(req, entry, fi) : fuse_reply_open(req, fi)) != 0)
    fs.Release(files.Take(fi->fh));  // the opener went away (interrupted)
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "open", [&] {
    std::unique_ptr<OpenFile> file;
    if (int rc = FsOf(req).Open(CallerOf(req), ino, fi->flags, file); rc != 0) return rc;
    ReplyOpened(req, fi, std::move(file), nullptr);
    return 0;
  });
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info* fi) {
  Guard(req, "create", [&] {
    SecretsFs& fs = FsOf(req);
    std::unique_ptr<OpenFile> file;
    EntryReply e;
    if (int rc = fs.Create(CallerOf(req), parent, name, fi->flags, e, file); rc != 0) return rc;
    fuse_entry_param param{};
    param.ino = e.ino;
    param.attr = e.attr;
    param.attr_timeout = fs.attr_timeout();
    param.entry_timeout = fs.entry_timeout();
    ReplyOpened(req, fi, std::move(file), &param);
    return 0;
  });
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t offset, fuse_file_info* fi) {
  Guard(req, "read", [&] {
    const FileRef file = *RefOf(fi);  // alive until the reply is sent, even past a release
    // direct_io keeps read(2) out of the page cache, but not a private mmap, sendfile(2) or
    // splice(2): those read through it even here, and the kernel keeps the page after the
    // reader is gone. It names a lock owner on every direct read (fuse_direct_io) and none on a
    // read that fills its page cache; the release drops that file's pages (see Release).
    if (fi->lock_owner == 0) file->page_cached = true;
    return FsOf(req).Read(*file, size, offset, [&](std::span<const uint8_t> bytes) {
      fuse_reply_buf(req, reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return 0;
    });
  });
}

void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t offset,
           fuse_file_info* fi) {
  Guard(req, "write", [&] {
    // fi->flags are the descriptor's flags at this write (FUSE_WRITE's `flags`).
    const long n =
        FsOf(req).Write(CallerOf(req), *FileOf(fi), {reinterpret_cast<const uint8_t*>(buf), size},
                        offset, (fi->flags & O_APPEND) != 0);
    // The bytes now live in the handle's locked memory. `buf` is libfuse's per-thread request
    // buffer, ordinary heap that is reused but never wiped: wipe the plaintext it still holds.
    explicit_bzero(const_cast<char*>(buf), size);
    if (n < 0) return static_cast<int>(n);
    fuse_reply_write(req, static_cast<size_t>(n));
    return 0;
  });
}

// The kernel keeps a file's attributes for attr_timeout, and the ones it got while the value was
// being written (a getattr or setattr before the close: an fstat, `cp -a` setting the times)
// show what the store held then. Once a close or an fsync has stored the value, they are
// dropped before the reply, so that a stat after close(2) returned asks the daemon again. Only
// then: every invalidation makes the kernel discard a getattr answered meanwhile (see Release).
int CommitAndForgetAttributes(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, bool closing) {
  const int rc = FsOf(req).Commit(CallerOf(req), *FileOf(fi), closing);
  if (rc < 0) return rc;
  if (rc > 0) Invalidate(DataOf(req).session, ino, /*pages=*/false, closing ? "close" : "fsync");
  fuse_reply_err(req, 0);
  return 0;
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "flush", [&] { return CommitAndForgetAttributes(req, ino, fi, /*closing=*/true); });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  Guard(req, "fsync", [&] { return CommitAndForgetAttributes(req, ino, fi, /*closing=*/false); });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FileRef file = DataOf(req).files.Take(fi->fh);
  const bool page_cached = file->page_cached;
  fuse_session* session = DataOf(req).session;  // `req` is gone after the reply
  // The last reference wipes the plaintext. A write handle's release stores what its closes
  // left unstored.
  const bool stored = FsOf(req).Release(std::move(file));
  fuse_reply_err(req, 0);
  // After the reply: to drop the pages (see Read), the kernel may need another read answered,
  // one that holds a page locked. Only when there is something to drop: every invalidation makes
  // the kernel discard the attributes of a getattr answered meanwhile, and the release comes
  // after the close has returned (a reader's lseek(SEEK_END) then kept the writer's size).
  if (page_cached || stored) Invalidate(session, ino, page_cached, "release");
}

}  // namespace secretfs::fs::ops
