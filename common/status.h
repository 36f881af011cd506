// Error values shared by every layer.
//
// Inside the layers, "not found", "wrong key" and "disk full" are ordinary results, not exceptions:
// a Status carries a POSIX errno (so the FUSE edge can return -errno unchanged) and a one-line
// message for people. Messages name things (workspaces, keys, files, rules) and never contain a
// secret value or key material. Exceptions remain for broken invariants and std::bad_alloc.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace secretfs {

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  Status(int errno_value, std::string message)
      : errno_(errno_value == 0 ? EIO : errno_value), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  // An error from a failed system call: "<what>: <strerror(errno)>".
  static Status FromErrno(int errno_value, const std::string& what) {
    return Status(errno_value, what + ": " + std::strerror(errno_value));
  }

  bool ok() const noexcept { return errno_ == 0; }
  explicit operator bool() const noexcept { return ok(); }
  // The POSIX errno this error stands for (EINVAL, ENOENT, EIO, ...); 0 when ok().
  int code() const noexcept { return errno_; }
  const std::string& message() const noexcept { return message_; }

  // The same error with "<context>: " in front of its message.
  Status Wrap(const std::string& context) const {
    if (ok()) return *this;
    return Status(errno_, context + ": " + message_);
  }

 private:
  int errno_ = 0;
  std::string message_;
};

// Either a value or an error Status. Move-only values (secret buffers) are fine.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose, like std::expected
  Result(Status error) : v_(std::move(error)) {
    if (std::get<Status>(v_).ok()) v_ = Status(EIO, "internal error: Result built from Ok status");
  }

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; Ok() when this holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace secretfs

// Returns the Status of `expr` from the enclosing function when it is an error. The variable's
// name carries the line number so that uses nested in a lambda argument do not shadow each other.
#define SECRETFS_CONCAT_INNER(a, b) a##b
#define SECRETFS_CONCAT(a, b) SECRETFS_CONCAT_INNER(a, b)
#define SECRETFS_RETURN_IF_ERROR(expr) \
  SECRETFS_RETURN_IF_ERROR_IMPL(SECRETFS_CONCAT(secretfs_status_, __LINE__), expr)
#define SECRETFS_RETURN_IF_ERROR_IMPL(var, expr) \
  do {                                           \
    ::secretfs::Status var = (expr);             \
    if (!var.ok()) return var;                   \
  } while (0)
