/* The floor a plain FUSE design pays: a libfuse (high-level API, defaults) filesystem serving
 * N files of fixed bytes from memory, opened with direct_io like secretfs' secret files. Writes
 * (open O_TRUNC, write, close) are accepted and dropped: the floor of the write benchmark.
 * Usage: minimal_fuse MOUNTPOINT -o files=N,size=BYTES [other FUSE options] */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct options {
  int files;
  int size;
} options = {1000, 64};

static const struct fuse_opt option_spec[] = {
    {"files=%d", offsetof(struct options, files), 1},
    {"size=%d", offsetof(struct options, size), 1},
    FUSE_OPT_END};

static char* content;

static int FileIndex(const char* path) {
  char* end = NULL;
  if (path[0] != '/' || path[1] == '\0') return -1;
  long i = strtol(path + 1, &end, 10);
  return (*end == '\0' && i >= 0 && i < options.files) ? (int)i : -1;
}

static int GetAttr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (FileIndex(path) < 0) return -ENOENT;
  st->st_mode = S_IFREG | 0644;
  st->st_nlink = 1;
  st->st_size = options.size;
  return 0;
}

static int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t offset,
                   struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
  (void)offset, (void)fi, (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  char name[32];
  for (int i = 0; i < options.files; ++i) {
    snprintf(name, sizeof name, "%04d", i);
    fill(buf, name, NULL, 0, 0);
  }
  return 0;
}

static int Open(const char* path, struct fuse_file_info* fi) {
  if (FileIndex(path) < 0) return -ENOENT;
  fi->direct_io = 1;
  return 0;
}

static int Read(const char* path, char* buf, size_t size, off_t offset, struct fuse_file_info* fi) {
  (void)path, (void)fi;
  if (offset >= options.size) return 0;
  if (offset + (off_t)size > options.size) size = (size_t)(options.size - offset);
  memcpy(buf, content + offset, size);
  return (int)size;
}

static int Write(const char* path, const char* buf, size_t size, off_t offset,
                 struct fuse_file_info* fi) {
  (void)path, (void)buf, (void)offset, (void)fi;
  return (int)size;
}

static int Truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  (void)size, (void)fi;
  return FileIndex(path) < 0 ? -ENOENT : 0;
}

static const struct fuse_operations operations = {.getattr = GetAttr,
                                                  .readdir = ReadDir,
                                                  .open = Open,
                                                  .read = Read,
                                                  .write = Write,
                                                  .truncate = Truncate};

int main(int argc, char* argv[]) {
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  if (fuse_opt_parse(&args, &options, option_spec, NULL) == -1) return 1;
  content = malloc((size_t)options.size);
  memset(content, 'x', (size_t)options.size);
  int rc = fuse_main(args.argc, args.argv, &operations, NULL);
  fuse_opt_free_args(&args);
  return rc;
}
