// `bend` and `bend-torch`: thin executables built from these sources (torch_exec.hpp says why
// there are two). Each subcommand is in src/app/cmd_<name>.cpp; errors are printed once here
// and turn into a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "bend/core/error.hpp"
#include "commands.hpp"
#include "job_file.hpp"
#include "torch_exec.hpp"
#ifdef BEND_TORCH_BUILD
#include "bend/models/register.hpp"
#endif

int main(int argc, char** argv) {
  bend::set_program_args(argc, argv);
#ifdef BEND_TORCH_BUILD
  unsetenv("BEND_TORCH_EXEC");  // bend -> bend-torch happened; children may do it again
  bend::register_torch_embedders();
#endif
  CLI::App app{"bend: embed genomic regions with DNA language models and train BEND heads, at scale"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bend 0.1.0");
  app.set_config("--config", "", "TOML file with options; sections name subcommands, e.g. [embed]");
  app.fallthrough();  // `bend embed --config X`: the subcommand passes --config up to the root
  bend::add_embed_command(app);
  bend::add_inspect_command(app);
  bend::add_model_command(app);
  bend::add_train_command(app);
  bend::add_extract_command(app);
  bend::add_bench_command(app);
  bend::add_genome_command(app);
  try {
    bend::check_job_file_args(app, argc, argv);  // strict --config (job_file.hpp)
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bend::CollectiveError& e) {
    if (e.should_print()) std::fprintf(stderr, "bend: error: %s\n", e.what());
    return 1;
  } catch (const bend::Error& e) {
    std::fprintf(stderr, "bend: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bend: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
