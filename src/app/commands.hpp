// Each `bend` subcommand lives in src/app/cmd_<name>.cpp and adds itself to the CLI here.
// A subcommand's callback does its work and throws bend::Error on failure; main() prints it.
#pragma once

namespace CLI {
class App;
}

namespace bend {

void add_embed_command(CLI::App& app);    // cmd_embed.cpp: the distributed embedding pipeline
void add_inspect_command(CLI::App& app);  // cmd_inspect.cpp: list/verify shards
void add_model_command(CLI::App& app);    // cmd_model.cpp: `bend model init`, `bend models`
void add_train_command(CLI::App& app);    // cmd_train.cpp: data-parallel head training
void add_extract_command(CLI::App& app);  // cmd_extract.cpp: BED regions -> FASTA (bend's extraction)
void add_bench_command(CLI::App& app);    // cmd_bench.cpp: `bend bench forward` (pure model forward)
void add_genome_command(CLI::App& app);   // cmd_genome.cpp: whole-genome windows (bend genome)
void add_variants_command(CLI::App& app); // cmd_variants.cpp: zero-shot variant effects (bend variants)
void add_report_command(CLI::App& app);   // cmd_report.cpp: results table and HTML page (bend report)

}  // namespace bend
