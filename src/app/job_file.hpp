// Strict checking of `--config` job files against the CLI: CLI11 itself ignores unknown keys
// and sections and reads `read-strand = "maybe"` as true, so a typo ran with defaults.
#pragma once

namespace CLI {
class App;
}

namespace bend {

// When argv holds `--config FILE` (or `--config=FILE`), parses FILE strictly (job_toml.hpp) and
// checks every section names a subcommand of `app` (`[model.init]` for nested ones), every key
// one of its options, and every value the option's type (flags true/false, numbers for numeric
// options, arrays only for options that take several values). Throws bend::Error
// "FILE:LINE: ..." naming the section and key. Call after every command is added, before parse.
void check_job_file_args(const CLI::App& app, int argc, char** argv);

}  // namespace bend
