// secretfs put | get | rm | undelete | rollback | destroy
#include <fcntl.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"

namespace secretfs::cli {
namespace {

// The W/K argument, checked before anything else happens.
store::SecretPath PathArg(const std::string& text) {
  auto path = store::ParseSecretPath(text);
  if (!path) throw UsageError{path.status().message()};
  return *path;
}

struct PutArgs {
  std::string path;
  std::string file;
  std::optional<std::string> description;
  std::optional<std::string> type;
  std::vector<std::string> tags;
};

Result<store::MetadataUpdate> MetadataFrom(const PutArgs& a) {
  store::MetadataUpdate m;
  m.description = a.description;
  m.type = a.type;
  for (const std::string& t : a.tags) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos) return Status(EINVAL, "--tag " + t + ": use NAME=VALUE");
    // NAME= (an empty value) removes the tag.
    std::optional<std::string> value;
    if (eq + 1 < t.size()) value = t.substr(eq + 1);
    if (!m.tags.emplace(t.substr(0, eq), value).second)
      return Status(EINVAL, "--tag " + t.substr(0, eq) + " is given twice: give each tag once");
  }
  SECRETFS_RETURN_IF_ERROR(store::ValidateMetadata(m));
  return m;
}

int Put(CliContext& ctx, const PutArgs& a) {
  const store::SecretPath path = PathArg(a.path);
  const std::string what = "put " + path.text();
  auto metadata = MetadataFrom(a);
  if (!metadata) throw UsageError{metadata.status().message()};
  // "--file -" is standard input, as for most tools; a file named "-" is "./-".
  const bool from_stdin = a.file.empty() || a.file == "-";
  if (from_stdin) {
    // Either would store an empty value: stdin read to its end for the key, or no stdin at all.
    if (auto key = keyring::ParseKeySource(ctx.options().key_source);
        key && key->kind == keyring::KeySource::Kind::kFd && key->arg == "0")
      throw UsageError{
          "put: the key is read from standard input (-k fd:0): give the value with "
          "--file"};
    if (ctx.options().stdin_was_closed)
      throw UsageError{"put: standard input is closed: give the value on it or with --file"};
  }
  auto store = ctx.OpenFor("put", policy::Action::kWrite, path.workspace, path.key);
  if (!store) return CliContext::Fail(what, store.status());
  // Read the value only after the key: both may come from the terminal.
  const size_t limit = (*store)->options().max_value_bytes;
  const bool typed = from_stdin && isatty(STDIN_FILENO);
  if (typed)
    std::cerr << "Value of " << path.text()
              << " (not shown; end it with Enter, then Ctrl-D):" << std::endl;
  int fd = STDIN_FILENO;
  if (!from_stdin) {
    fd = open(a.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CliContext::Fail(what, Status::FromErrno(errno, a.file));
  }
  auto value = typed ? keyring::ReadTypedValue(fd, limit)
                     : keyring::ReadSecret(fd, limit, from_stdin ? "standard input" : a.file);
  if (fd != STDIN_FILENO) close(fd);
  if (!value) return CliContext::Fail(what, value.status());
  store::WriteRequest request;
  request.workspace = path.workspace;
  request.key = path.key;
  request.value = value->bytes();
  request.author = CliContext::Author();
  request.metadata = *metadata;
  // Under --policy, a caller who may write but not read must not learn whether its value was
  // already there (as through the mount).
  request.even_if_unchanged = !ctx.Check(policy::Action::kRead, path.workspace, path.key).ok();
  auto result = CliContext::Audited(**store, CliContext::CliEvent("put", path.workspace, path.key),
                                    [&] { return (*store)->Write(request); });
  if (!result) return CliContext::Fail(what, result.status());
  std::cout << path.text() << ": version " << result->version
            << (result->unchanged ? " (value unchanged, no new version)"
                : result->created ? " (created)"
                                  : "")
            << "\n";
  return kExitOk;
}

int Get(CliContext& ctx, const std::string& text, const std::optional<std::string>& version_text) {
  const store::SecretPath path = PathArg(text);
  std::optional<uint64_t> version;
  if (version_text) {
    auto v = ParseVersion(*version_text);
    if (!v) throw UsageError{v.status().message()};
    version = *v;
  }
  const std::string what = "get " + path.text();
  auto store = ctx.OpenFor("get", version ? policy::Action::kReadVersions : policy::Action::kRead,
                           path.workspace, path.key);
  if (!store) return CliContext::Fail(what, store.status());
  auto opened = (*store)->Read(path.workspace, path.key, version);
  audit::Event event = CliContext::CliEvent("get", path.workspace, path.key);
  if (opened) event.version = opened->version;
  // Fail-closed: nothing of the value is printed unless its read is on record.
  if (Status s = CliContext::Record(**store, std::move(event), opened.status()); !s.ok())
    return CliContext::Fail(what, s);
  if (!opened) return CliContext::Fail(what, opened.status());
  if (Status s = WriteAll(STDOUT_FILENO, opened->value.bytes()); !s.ok())
    return CliContext::Fail(what, s);
  return kExitOk;
}

// rm, undelete, rollback and destroy share their shape: parse W/K, unlock, one store call. A
// change that `frees_space` (destroy) may use the space reserve on a full disk (FreeingSpace).
int Change(
    CliContext& ctx, const std::string& verb, policy::Action needed, const std::string& text,
    const std::function<Result<std::string>(store::SecretStore&, const store::SecretPath&)>& change,
    bool frees_space = false) {
  const store::SecretPath path = PathArg(text);
  const std::string what = verb + " " + path.text();
  auto store = ctx.OpenFor(verb, needed, path.workspace, path.key);
  if (!store) return CliContext::Fail(what, store.status());
  const auto audited = [&] {
    return CliContext::Audited(**store, CliContext::CliEvent(verb, path.workspace, path.key),
                               [&] { return change(**store, path); });
  };
  auto done = frees_space ? CliContext::FreeingSpace(**store, audited) : audited();
  if (!done) return CliContext::Fail(what, done.status());
  std::cout << path.text() << ": " << *done << "\n";
  return kExitOk;
}

uint64_t VersionArg(const std::string& text) {
  auto v = ParseVersion(text);
  if (!v) throw UsageError{v.status().message()};
  return *v;
}

}  // namespace

void AddSecretCommands(CLI::App& app, CliContext& ctx, Action& action) {
  auto put_args = std::make_shared<PutArgs>();
  auto* put = app.add_subcommand("put", "Write a new version of W/K from stdin or --file");
  put->add_option("W/K", put_args->path, "Workspace and key")->required();
  put->add_option("--file", put_args->file,
                  "Read the value from this file instead of stdin (- is stdin)");
  put->add_option("--description", put_args->description, "Set the description");
  put->add_option("--tag", put_args->tags, "Set a tag NAME=VALUE (NAME= removes it); repeatable");
  put->add_option("--type", put_args->type, "api-token, database, service or generic");
  put->callback(
      [&ctx, &action, put_args] { action = [&ctx, put_args] { return Put(ctx, *put_args); }; });

  auto get_path = std::make_shared<std::string>();
  auto get_version = std::make_shared<std::string>();
  auto* get = app.add_subcommand("get", "Write the value of W/K, exact bytes, to stdout");
  get->add_option("W/K", *get_path, "Workspace and key")->required();
  auto* get_version_opt =
      get->add_option("--version", *get_version, "An earlier version instead of the current one");
  get->callback([&ctx, &action, get_path, get_version, get_version_opt] {
    std::optional<std::string> v;
    if (get_version_opt->count() > 0) v = *get_version;
    action = [&ctx, get_path, v] { return Get(ctx, *get_path, v); };
  });

  auto path = std::make_shared<std::string>();
  auto version = std::make_shared<std::string>();

  auto* rm = app.add_subcommand("rm", "Soft-delete W/K: hidden, versions kept (see undelete)");
  rm->add_option("W/K", *path, "Workspace and key")->required();
  rm->callback([&ctx, &action, path] {
    action = [&ctx, path] {
      return Change(ctx, "rm", policy::Action::kWrite, *path,
                    [&](store::SecretStore& s, const store::SecretPath& p) -> Result<std::string> {
                      SECRETFS_RETURN_IF_ERROR(s.Remove(p.workspace, p.key, CliContext::Author()));
                      return std::string("deleted (versions kept; secretfs undelete restores it)");
                    });
    };
  });

  auto* undelete = app.add_subcommand("undelete", "Restore a soft-deleted W/K");
  undelete->add_option("W/K", *path, "Workspace and key")->required();
  undelete->callback([&ctx, &action, path] {
    action = [&ctx, path] {
      return Change(
          ctx, "undelete", policy::Action::kWrite, *path,
          [&](store::SecretStore& s, const store::SecretPath& p) -> Result<std::string> {
            SECRETFS_RETURN_IF_ERROR(s.Undelete(p.workspace, p.key, CliContext::Author()));
            return std::string("restored");
          });
    };
  });

  auto* rollback =
      app.add_subcommand("rollback", "Make version N's value the current one (a new version)");
  rollback->add_option("W/K", *path, "Workspace and key")->required();
  rollback->add_option("N", *version, "The version to go back to")->required();
  rollback->callback([&ctx, &action, path, version] {
    action = [&ctx, path, version] {
      const uint64_t n = VersionArg(*version);
      return Change(ctx, "rollback", policy::Action::kWrite, *path,
                    [&](store::SecretStore& s, const store::SecretPath& p) -> Result<std::string> {
                      auto r = s.Rollback(p.workspace, p.key, n, CliContext::Author());
                      if (!r) return r.status();
                      if (r->unchanged)
                        return "version " + std::to_string(n) + " is already the current value";
                      return "version " + std::to_string(r->version) + " (the value of version " +
                             std::to_string(n) + ")";
                    });
    };
  });

  auto* destroy =
      app.add_subcommand("destroy", "Erase W/K and all its versions for good, or only --version N");
  destroy->add_option("W/K", *path, "Workspace and key")->required();
  auto* destroy_version = destroy->add_option("--version", *version, "Erase only this version");
  destroy->callback([&ctx, &action, path, version, destroy_version] {
    const bool one = destroy_version->count() > 0;
    action = [&ctx, path, version, one] {
      std::optional<uint64_t> n;
      if (one) n = VersionArg(*version);
      return Change(
          ctx, "destroy", policy::Action::kOwn, *path,
          [&](store::SecretStore& s, const store::SecretPath& p) -> Result<std::string> {
            SECRETFS_RETURN_IF_ERROR(s.Destroy(p.workspace, p.key, n));
            return n ? "version " + std::to_string(*n) + " destroyed"
                     : std::string("destroyed with every version");
          },
          /*frees_space=*/true);
    };
  });
}

}  // namespace secretfs::cli
