// JSON as the CLI prints it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace secretfs::cli {

// Indented by `indent` (-1: one line). Bytes that are not UTF-8 (names and descriptions stored
// before they were checked) become U+FFFD instead of failing the whole command.
inline std::string JsonText(const nlohmann::json& json, int indent = 2) {
  return json.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace secretfs::cli
