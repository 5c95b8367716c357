// What is running: bend's version (CMake's `project(bend VERSION ...)`, the one source of truth)
// and the command line main() was given. `bend --version`, manifest.json and the results of
// `bend train` (settings.json) record them (docs/formats.md).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bend {

// bend's version, e.g. "0.1.0" (CMakeLists.txt's project VERSION).
const char* bend_version();

// Remembers main()'s arguments (argv[0] as typed). Call once, before any thread starts.
void set_command_line(int argc, char** argv);

// The remembered arguments, argv[0] first; empty when set_command_line() was not called.
const std::vector<std::string>& command_line();

// {"bend_version": "0.1.0", "command_line": [argv...], "working_directory": "/abs/cwd"}: what a
// manifest or results directory records about the run that wrote it.
nlohmann::json invocation_json();

}  // namespace bend
