// `bend` and `bend-torch`: thin executables built from these sources (torch_exec.hpp says why
// there are two). Each subcommand is in src/app/cmd_<name>.cpp; errors are printed once here
// and turn into one of the documented exit statuses (docs/cli.md, "Exit status").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/invocation.hpp"
#include "commands.hpp"
#include "job_file.hpp"
#include "torch_exec.hpp"
#ifdef BEND_TORCH_BUILD
#include "bend/models/register.hpp"
#endif

namespace {

constexpr int kExitFailure = 1;  // bad input, failed run, internal error
constexpr int kExitUsage = 2;    // the command line itself: unknown or missing option, bad value

// Under a launcher every rank parses the same command line: only rank 0 (or a process that no
// launcher started) prints a usage error, so it appears once.
bool first_or_only_process() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    const char* r = std::getenv(v);
    if (r != nullptr) return std::string(r) == "0";
  }
  return true;
}

// The deepest subcommand the parser had reached (`app` itself when none).
const CLI::App* reached_command(const CLI::App& app) {
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) a = a->get_subcommands().back();
  return a;
}

// "bend embed": the subcommand the parser had reached, for the `--help` hint.
std::string command_path(const CLI::App& app) {
  std::string path = "bend";
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) {
    a = a->get_subcommands().back();
    path += " " + a->get_name();
  }
  return path;
}

// "unknown command 'x' (commands: embed, ...)" when a word that names no command was given.
std::string command_required(const CLI::App& app) {
  const CLI::App* a = reached_command(app);
  std::string names;
  for (const CLI::App* sub : a->get_subcommands([](const CLI::App*) { return true; })) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  std::vector<std::string> rest = a->remaining();
  if (rest.empty()) rest = app.remaining(true);  // fallthrough hands unknown words to the root
  if (!rest.empty()) return "unknown command '" + rest.front() + "' (commands: " + names + ")";
  return "a command is required (" + names + ")";
}

// A CLI11 parse error in bend's words: `bend: error: <what> (see `bend embed --help`)`, exit 2.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string what = e.what();
  if (e.get_name() == "RequiredError" && what.find("subcommand") != std::string::npos) {
    what = command_required(app);
  }
  for (const char* prefix : {"The following argument was not expected: ", "The following arguments were not expected: "}) {
    const std::string p = prefix;
    if (what.compare(0, p.size(), p) == 0) what = "unknown option or argument: " + what.substr(p.size());
  }
  if (first_or_only_process()) {
    std::fprintf(stderr, "bend: error: %s (see `%s --help`)\n", what.c_str(), command_path(app).c_str());
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  bend::set_program_args(argc, argv);
  bend::set_command_line(argc, argv);
#ifdef BEND_TORCH_BUILD
  unsetenv("BEND_TORCH_EXEC");  // bend -> bend-torch happened; children may do it again
  bend::register_torch_embedders();
#endif
  CLI::App app{"bend: embed genomic regions with DNA language models and train BEND heads, at scale"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("bend ") + bend::bend_version());
  app.set_config("--config", "", "TOML file with options; sections name subcommands, e.g. [embed]");
  app.fallthrough();  // `bend embed --config X`: the subcommand passes --config up to the root
  bend::add_embed_command(app);
  bend::add_inspect_command(app);
  bend::add_model_command(app);
  bend::add_train_command(app);
  bend::add_extract_command(app);
  bend::add_bench_command(app);
  bend::add_genome_command(app);
  bend::add_variants_command(app);
  bend::add_report_command(app);
  try {
    bend::check_job_file_args(app, argc, argv);  // strict --config (job_file.hpp)
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version (status 0) print through CLI11; a RuntimeError carries the exit
    // status of a clean stop (75, stop_exit.hpp) and prints nothing; the rest are usage errors.
    if (e.get_exit_code() == 0 || e.get_name() == "RuntimeError") return app.exit(e);
    return usage_error(app, e);
  } catch (const bend::CollectiveError& e) {
    if (e.should_print()) std::fprintf(stderr, "bend: error: %s\n", e.what());
    return kExitFailure;
  } catch (const bend::Error& e) {
    std::fprintf(stderr, "bend: error: %s\n", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bend: error: internal error (please report it): %s\n", e.what());
    return kExitFailure;
  }
  return 0;
}
