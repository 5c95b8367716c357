#include "bend/core/invocation.hpp"

#include <unistd.h>

#include <climits>

#ifndef BEND_VERSION
#error "BEND_VERSION is defined by CMakeLists.txt from project(bend VERSION ...)"
#endif

namespace bend {

namespace {
std::vector<std::string>& args() {
  static std::vector<std::string> a;
  return a;
}
}  // namespace

const char* bend_version() { return BEND_VERSION; }

void set_command_line(int argc, char** argv) {
  args().assign(argv, argv + argc);
}

const std::vector<std::string>& command_line() { return args(); }

nlohmann::json invocation_json() {
  char cwd[PATH_MAX];
  const bool have_cwd = getcwd(cwd, sizeof cwd) != nullptr;
  return nlohmann::json{{"bend_version", bend_version()},
                        {"command_line", command_line()},
                        {"working_directory", have_cwd ? std::string(cwd) : std::string()}};
}

}  // namespace bend
