// VCF / VCF.gz / BCF input of `bend variants` (htslib): each SNV allele becomes one row of a
// variant BED that the rest of the command reads like BEND's own files. Multi-allelic sites
// give one row per SNV ALT; indels, MNPs, symbolic (<DEL>, *) and missing (.) ALTs are skipped
// and listed with their reason, never silently.
#pragma once

#include <cstdint>
#include <string>

namespace bend {

// Where labels and categories come from (ClinVar style: --label-from CLNSIG --label-map F,
// --category-from MC).
struct VcfConvertOptions {
  std::string label_from;      // INFO key for the `label` column; "" = no label column
  std::string label_map_path;  // TSV "INFO value<TAB>label" (label 0/1, or empty: unlabelled);
                               // "" = the INFO value itself is the label
  std::string category_from;   // INFO key for the `category` column; "" = none
};

// Counts of one conversion.
struct VcfConvertResult {
  int64_t n_records = 0;  // VCF records read
  int64_t n_rows = 0;     // SNV rows written
  int64_t n_skipped = 0;  // ALT alleles skipped (listed)
};

// Reads `vcf_path` and writes, atomically, `bed_path` (header: chromosome start end ref alt id,
// then label and category when asked for; one row per SNV ALT in file order) and
// `skipped_path` (header: record chromosome position ref alt reason; record = 1-based record
// number). INFO values: strings as written, with ClinVar's "SO:0001583|" accession prefixes
// removed from each comma-separated entry; numbers joined by ','; Number=A keys give the
// value of the row's ALT; an absent key gives an empty cell. Throws bend::Error naming the file
// (and record) for unreadable input, an INFO key the header does not define, a malformed map
// file (file:line), or a value containing a tab.
VcfConvertResult vcf_to_variant_bed(const std::string& vcf_path, const VcfConvertOptions& opts,
                                    const std::string& bed_path, const std::string& skipped_path);

}  // namespace bend
