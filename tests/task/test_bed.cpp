// read_bed / validate_regions / region_string on small hand-written files whose answers are
// known by eye (the generated-data comparison lives in test_bed_parse.py).
#include <unistd.h>

#include <catch2/catch.hpp>

#include "../common/temp_dir.hpp"
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>

#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/task/bed.hpp"

namespace {

using bend_test::TempDir;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("a BEND file with strand and label fills every field of the table") {
  TempDir dir;
  std::string path = dir.file("t.bed",
                              "chromosome\tstart\tend\tstrand\tlabel\tsplit\n"
                              "chr2\t100\t612\t-\t3,0\tvalid\n"
                              "chr1\t5\t10\t+\t\ttrain\n"
                              "\n"
                              "chr2\t7\t8\t.\t17\ttrain\n");
  bend::BedTable t = bend::read_bed(path);
  CHECK(t.path == path);
  CHECK(t.has_header);
  CHECK(t.has_strand);
  CHECK(t.has_label);
  CHECK(t.has_split);
  CHECK(t.chrom_names == std::vector<std::string>{"chr2", "chr1"});
  CHECK(t.split_names == std::vector<std::string>{"valid", "train"});
  REQUIRE(t.rows.size() == 3);
  const bend::Region& r = t.rows[0];
  CHECK(r.chrom_id == 0);
  CHECK(r.split_id == 0);
  CHECK(r.start_bp == 100);
  CHECK(r.end_bp == 612);
  CHECK(r.strand == '-');
  CHECK(t.line_of(0) == 2);
  CHECK(t.line_of(2) == 5);
  CHECK(t.label_offsets == std::vector<int64_t>{0, 2, 2, 3});
  CHECK(t.label_ids == std::vector<int32_t>{3, 0, 17});
  CHECK(bend::region_string(t, t.rows[0]) == "chr2:100-612(-)");
  CHECK(bend::region_string(t, t.rows[2]) == "chr2:7-8(.)");
  CHECK(bend::find_split(t, "train") == 1);
  CHECK(bend::find_split(t, "test") == -1);
}

TEST_CASE("without strand column every region is '.', without label column no ids") {
  TempDir dir;
  bend::BedTable t = bend::read_bed(dir.file("t.bed",
                                             "chromosome start end split\n"
                                             "chr1 1 2 test\n"));
  CHECK_FALSE(t.has_strand);
  CHECK_FALSE(t.has_label);
  CHECK(t.rows[0].strand == '.');
  CHECK(t.label_offsets.empty());  // no label column: no offsets (rank 0's memory)
}

TEST_CASE("headerless BED gets the default split only when the split is optional") {
  TempDir dir;
  std::string path = dir.file("b.bed", "chr1\t1\t2\tn1\t0\t-\n");
  std::string msg = error_of([&] { bend::read_bed(path); });
  CHECK_THAT(msg, Catch::Contains(path + ":1: missing split column"));
  bend::BedOptions opt;
  opt.require_split = false;
  bend::BedTable t = bend::read_bed(path, opt);
  CHECK_FALSE(t.has_header);
  CHECK_FALSE(t.has_split);
  CHECK(t.has_strand);
  CHECK(t.rows[0].strand == '-');
  CHECK(t.split_names == std::vector<std::string>{"all"});
}

TEST_CASE("label ids are checked against label_depth with file:line") {
  TempDir dir;
  std::string path = dir.file("t.bed",
                              "chromosome\tstart\tend\tlabel\tsplit\n"
                              "chr1\t1\t2\t0,4\ttrain\n");
  bend::BedOptions opt;
  opt.label_depth = 4;
  std::string msg = error_of([&] { bend::read_bed(path, opt); });
  CHECK_THAT(msg, Catch::Contains(path + ":2: label id 4 is >= label_depth 4"));
  opt.label_depth = 5;
  CHECK(bend::read_bed(path, opt).label_ids == std::vector<int32_t>{0, 4});
}

TEST_CASE("line numbers of data rows count comments, blank lines and the header, wherever they are") {
  TempDir dir;
  std::string fa_path = dir.file("g.fa", ">chr1\n" + std::string(100, 'A') + "\n");
  bend::FastaReader fa(fa_path);
  std::string path = dir.file("t.bed",
                              "# v2\n"                           // 1
                              "chromosome start end split\n"     // 2
                              "chr1 1 2 train\n"                 // 3: row 0
                              "\n"                               // 4
                              "chr1 2 3 train\n"                 // 5: row 1
                              "# two\n# comments\n"              // 6, 7
                              "chr1 3 4 train\n"                 // 8: row 2
                              "chr1 4 500 train\n");             // 9: row 3, past the end
  bend::BedTable t = bend::read_bed(path);
  REQUIRE(t.rows.size() == 4);
  CHECK(t.line_of(0) == 3);
  CHECK(t.line_of(1) == 5);
  CHECK(t.line_of(2) == 8);
  CHECK(t.line_of(3) == 9);
  CHECK_THAT(error_of([&] { bend::validate_regions(t, fa, 0); }), Catch::Contains(path + ":9: region chr1:4-500"));
  CHECK(sizeof(bend::Region) == 24);  // rank 0 holds one per row (docs/benchmarks.md, memory)
}

TEST_CASE("validate_regions checks chromosome names and flanked ends against the FASTA") {
  TempDir dir;
  std::string fa_path = dir.file("g.fa", ">chr1\n" + std::string(180, 'A') + "\n>chr2\nACGT\n");
  bend::FastaReader fa(fa_path);
  std::string bed = dir.file("t.bed",
                             "chromosome\tstart\tend\tsplit\nchr1\t100\t130\ttrain\n"
                             "chr1\t100\t200\ttrain\n");
  bend::BedTable t = bend::read_bed(bed);
  std::string msg = error_of([&] { bend::validate_regions(t, fa, 0); });
  CHECK_THAT(msg, Catch::Contains(bed +
                                  ":3: region chr1:100-200 with flank 0 extends past the "
                                  "end of chr1 (length 180) in " +
                                  fa_path));
  bend::BedTable ok = bend::read_bed(dir.file("ok.bed",
                                              "chromosome\tstart\tend\tsplit\n"
                                              "chr1\t100\t130\ttrain\n"));
  CHECK_NOTHROW(bend::validate_regions(ok, fa, 50));
  msg = error_of([&] { bend::validate_regions(ok, fa, 51); });
  CHECK_THAT(msg, Catch::Contains("extends past the end of chr1"));
  msg = error_of([&] { bend::validate_regions(ok, fa, 101); });
  CHECK_THAT(msg, Catch::Contains("starts before the beginning of chr1"));

  bend::BedTable unknown = bend::read_bed(dir.file("u.bed",
                                                   "chromosome\tstart\tend\tsplit\n"
                                                   "chrX\t1\t2\ttrain\n"));
  msg = error_of([&] { bend::validate_regions(unknown, fa, 0); });
  CHECK_THAT(msg, Catch::Contains(":2: unknown chromosome 'chrX' (FASTA " + fa_path +
                                  " has: chr1, chr2)"));
}
