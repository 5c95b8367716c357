// Reading BEND's variant BED and checking it against a genome (variant_table.hpp), and the
// output table written from shard score files (variant_output.hpp).
#include <catch2/catch.hpp>

#include "../common/temp_dir.hpp"
#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/variants/variant_output.hpp"
#include "bend/variants/variant_table.hpp"

using bend_test::TempDir;

namespace {
const char* kHeader = "chromosome\tstart\tend\tref\talt\tlabel\tconsequence\n";

std::string error_of(const std::string& path) {
  try {
    bend::read_variant_bed(path);
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("a BEND variant BED without split column is read, extra columns kept in the file", "[variants]") {
  TempDir d;
  std::string p = d.file("v.bed", std::string(kHeader) + "chr1\t10\t11\tA\tg\t1\tintron\n\nchr2\t5\t6\tn\tT\t0\tUTR\n");
  bend::VariantTable t = bend::read_variant_bed(p);
  REQUIRE(t.rows.size() == 2);
  CHECK(t.columns.size() == 7);
  CHECK(t.col_ref == 3);
  CHECK(t.col_alt == 4);
  CHECK(bend::find_variant_column(t, "CONSEQUENCE") == 6);
  CHECK(t.rows[0].pos_bp == 10);
  CHECK(t.rows[0].alt == 'G');
  CHECK(t.rows[1].ref == 'N');
  CHECK(t.rows[1].line == 4);  // the blank line counts
  CHECK(t.chrom_names == std::vector<std::string>{"chr1", "chr2"});
}

TEST_CASE("bad variant rows name file:line", "[variants]") {
  TempDir d;
  auto err = [&](const std::string& body) { return error_of(d.file("bad.bed", std::string(kHeader) + body)); };
  CHECK_THAT(err("chr1\t10\t11\tA\tG\t1\tx\nchr1\t10\t12\tA\tG\t1\tx\n"), Catch::Contains("bad.bed:3: a variant row covers one base"));
  CHECK_THAT(err("chr1\t10\t11\tA\tAT\t1\tx\n"), Catch::Contains("bad.bed:2: alt 'AT' is not one base"));
  CHECK_THAT(err("chr1\t10\t11\tA\tA\t1\tx\n"), Catch::Contains("bad.bed:2: alt 'A' equals ref"));
  CHECK_THAT(err("chr1\t10\t11\tR\tA\t1\tx\n"), Catch::Contains("bad.bed:2: ref 'R'"));
  CHECK_THAT(err("chr1\tx\t11\tA\tG\t1\tx\n"), Catch::Contains("bad.bed:2: start 'x'"));
  CHECK_THAT(err("chr1\t10\t11\tA\tG\t1\n"), Catch::Contains("bad.bed:2: 6 tab-separated fields, the header has 7"));
  CHECK_THAT(err(""), Catch::Contains("no variant rows"));
  CHECK_THAT(error_of(d.file("nohead.bed", "chr1\t10\t11\tA\tG\n")), Catch::Contains("nohead.bed:1: a variant BED needs a header"));
  CHECK_THAT(error_of(d.file("noalt.bed", "chromosome\tstart\tend\tref\tlabel\nchr1\t1\t2\tA\t0\n")),
             Catch::Contains("'ref' and 'alt'"));
}

TEST_CASE("genome check: REF mismatches listed, chr prefix matched, windows off the contig skipped", "[variants]") {
  TempDir d;
  // chr7: 20 bp ACGTACGTAC GTACGTACGT
  std::string fa = d.file("g.fa", ">chr7\nACGTACGTACGTACGTACGT\n>8\nTTTTTTTTTT\n");
  std::string p = d.file("v.bed", std::string(kHeader) +
                                      "7\t10\t11\tG\tA\t1\tx\n"      // chr7:11 is G: ok, via "chr7"
                                      "chr7\t11\t12\tA\tC\t0\tx\n"   // genome T: mismatch
                                      "chr8\t5\t6\tT\tC\t0\tx\n"     // "8" in the FASTA
                                      "7\t1\t2\tC\tA\t1\tx\n");      // window off the start
  bend::VariantTable t = bend::read_variant_bed(p);
  bend::FastaReader reader(fa);
  bend::GenomeCheck g = bend::check_variants_against_genome(t, reader, 3, 3);
  CHECK(g.fasta_names == std::vector<std::string>{"chr7", "chr7", "8"});
  REQUIRE(g.renamed.size() == 2);
  CHECK(g.renamed[0].file_name == "7");
  CHECK(g.renamed[0].n_rows == 2);
  CHECK(g.renamed[1].fasta_name == "8");
  CHECK(t.rows[0].status == bend::kVariantOk);
  CHECK(t.rows[1].status == bend::kVariantRefMismatch);
  CHECK(t.rows[2].status == bend::kVariantOk);
  CHECK(t.rows[3].status == bend::kVariantOffContig);
  CHECK(g.n_ref_mismatch == 1);
  CHECK(g.n_off_contig == 1);
  CHECK(g.mismatches_tsv == "line\tchromosome\tposition\tref\tgenome\n3\tchr7\t12\tA\tT\n");
  CHECK_THAT(g.skipped_tsv, Catch::Contains("5\t7\t2\twindow of 7 bp runs past the contig (20 bp)"));

  std::string bad = d.file("u.bed", std::string(kHeader) + "chr1\t1\t2\tA\tC\t1\tx\nchrUn\t1\t2\tA\tC\t1\tx\n");
  bend::VariantTable u = bend::read_variant_bed(bad);
  CHECK_THROWS_WITH(bend::check_variants_against_genome(u, reader, 0, 0),
                    Catch::Contains("u.bed:2: chromosome 'chr1' is not in") && Catch::Contains("(nor '1')"));
}

TEST_CASE("the output table: every input row once, scores from the shards, NA for the others", "[variants]") {
  TempDir d;
  std::string p = d.file("v.bed", std::string(kHeader) + "c\t1\t2\tA\tC\t1\tx\nc\t2\t3\tA\tC\t0\ty\n\nc\t3\t4\tA\tC\tNA\tx\n");
  bend::VariantTable t = bend::read_variant_bed(p);
  std::string s0 = d.file("s0.tsv", "0\t0.5\t1\n");
  std::string s1 = d.file("s1.tsv", "2\t0.25\t2\n");
  bend::VariantEvalSettings ev;
  ev.category_column = "consequence";
  ev.bootstrap = 0;
  std::string out = d.file("out.tsv");
  bend::VariantTableResult r = bend::write_variant_scores(t, {s0, s1}, {"cosine", "l2"}, ev, out);
  CHECK(bend_test::slurp(out) == std::string("chromosome\tstart\tend\tref\talt\tlabel\tconsequence\tcosine\tl2\n") +
                                     "c\t1\t2\tA\tC\t1\tx\t0.5\t1\nc\t2\t3\tA\tC\t0\ty\tNA\tNA\nc\t3\t4\tA\tC\tNA\tx\t0.25\t2\n");
  CHECK(r.n_rows == 3);
  CHECK(r.n_scored == 2);
  CHECK(r.n_unlabelled == 1);
  CHECK(r.evaluated);
  std::string bad = d.file("bad.tsv", "1\t0.5\n");
  CHECK_THROWS_WITH(bend::write_variant_scores(t, {bad}, {"cosine", "l2"}, ev, out), Catch::Contains("bad.tsv:1: 1 scores, expected 2"));
  CHECK(bend_test::slurp(out).find("0.25") != std::string::npos);  // the earlier table stays
}
