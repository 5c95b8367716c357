// Variant tables for `bend variants`: BEND's variant BED (header row; `chromosome start end`
// = the 1-bp variant, then `ref`, `alt`, a label column and any other columns; no split
// column) parsed into a compact table, and checked against the reference genome.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

class FastaReader;

// One data row. 24 bytes: rank 0 holds one per variant; the other columns stay in the file
// and are copied into the output table when it is written.
struct Variant {
  int64_t pos_bp = 0;    // 0-based position of the variant base (the BED start)
  int64_t line = 0;      // 1-based line in the file, for messages
  int32_t chrom_id = 0;  // index into VariantTable::chrom_names
  char ref = 'N';        // upper case A/C/G/T/N
  char alt = 'N';        // upper case A/C/G/T
  uint8_t status = 0;    // VariantStatus, set by check_variants_against_genome
};

// What check_variants_against_genome found for a row.
enum VariantStatus : uint8_t {
  kVariantOk = 0,           // REF matches the genome
  kVariantRefMismatch = 1,  // REF differs from the genome (scored only when allowed)
  kVariantOffContig = 2,    // the context window runs past the contig's ends: skipped
};

// A parsed variant BED. Plain data; safe to share read-only between threads.
struct VariantTable {
  std::string path;
  std::vector<std::string> columns;      // header names, in file order
  int col_ref = -1, col_alt = -1;        // indexes into columns
  std::vector<std::string> chrom_names;  // as written in the file, order of first appearance
  std::vector<Variant> rows;             // file order
};

// Reads a variant BED (tab-separated). Line 1 is the header; columns 1-3 are chromosome, start,
// end whatever their names, `ref` and `alt` are found by name (case-insensitive). Every data
// row must have the header's number of fields, end = start + 1, a REF of one base (A/C/G/T/N,
// any case) and an ALT of one base A/C/G/T different from REF. A split column is neither
// needed nor used. Blank lines are skipped. Throws bend::Error "path:LINE: ..." for each
// violation, and for a missing header or missing ref/alt column.
VariantTable read_variant_bed(const std::string& path);

// Index of column `name` (case-insensitive) in table.columns, or -1.
int find_variant_column(const VariantTable& table, const std::string& name);

// A contig of the file matched to a FASTA sequence of another name by a `chr` prefix.
struct ContigRename {
  std::string file_name, fasta_name;
  int64_t n_rows = 0;
};

// The genome check of a whole table.
struct GenomeCheck {
  std::vector<std::string> fasta_names;   // per chrom_id: the FASTA sequence it reads
  std::vector<ContigRename> renamed;      // contigs matched by adding or removing "chr"
  int64_t n_ref_mismatch = 0;             // rows with kVariantRefMismatch
  int64_t n_off_contig = 0;               // rows with kVariantOffContig
  std::string mismatches_tsv;             // "line\tchrom\tpos\tref\tgenome\n" rows, with header
  std::string skipped_tsv;                // "line\tchrom\tpos\treason\n" rows, with header
};

// Matches each contig of `table` to `fa` (the same name, else the name with "chr" added or
// removed), reads the genome base under every variant and sets each row's status: REF equal
// to the genome base (upper-cased; any non-ACGT genome base counts as N) or not, and whether
// [pos - left_bp, pos + 1 + right_bp) lies on the contig. Throws bend::Error "path:LINE:
// chromosome 'X' is not in FASTA (nor 'chrX')" for a contig found under neither name.
GenomeCheck check_variants_against_genome(VariantTable& table, const FastaReader& fa,
                                          int64_t left_bp, int64_t right_bp);

}  // namespace bend
