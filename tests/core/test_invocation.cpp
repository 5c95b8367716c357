// bend/core/invocation.hpp: the version string and the remembered command line, as manifest.json
// and settings.json record them (tests/app/test_cli.py checks the version against CMakeLists.txt).
#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <unistd.h>

#include "bend/core/invocation.hpp"

TEST_CASE("bend_version is CMake's MAJOR.MINOR.PATCH") {
  CHECK(std::regex_match(std::string(bend::bend_version()), std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")));
}

TEST_CASE("the command line is kept as given, argv[0] first, and recorded with the version and cwd") {
  char a0[] = "./bend", a1[] = "embed", a2[] = "--out", a3[] = "dir with space";
  char* argv[] = {a0, a1, a2, a3, nullptr};
  bend::set_command_line(4, argv);
  a1[0] = 'X';  // a copy: later changes to argv do not leak in
  const std::vector<std::string> want = {"./bend", "embed", "--out", "dir with space"};
  CHECK(bend::command_line() == want);
  const nlohmann::json j = bend::invocation_json();
  CHECK(j.at("bend_version") == bend::bend_version());
  CHECK(j.at("command_line").get<std::vector<std::string>>() == want);
  char cwd[4096];
  REQUIRE(getcwd(cwd, sizeof cwd) != nullptr);
  CHECK(j.at("working_directory") == std::string(cwd));
}
