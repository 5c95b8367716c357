#include "bend/variants/variant_table.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>

#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"

namespace bend {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t b = 0;
  while (true) {
    size_t e = line.find('\t', b);
    if (e == std::string::npos) {
      out.push_back(line.substr(b));
      return out;
    }
    out.push_back(line.substr(b, e - b));
    b = e + 1;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool parse_int64(const std::string& s, int64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  v = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

char upper_base(const std::string& s) {
  if (s.size() != 1) return 0;
  char c = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return (c == 'A' || c == 'C' || c == 'G' || c == 'T' || c == 'N') ? c : 0;
}

// Header checks: at least chromosome, start, end, ref, alt; names unique.
void parse_header(VariantTable& t, const std::string& line) {
  t.columns = split_tabs(line);
  const std::string where = t.path + ":1";
  int64_t v = 0;
  if (t.columns.size() < 2 || parse_int64(t.columns[1], v)) {
    fail("%s: a variant BED needs a header row naming its columns (chromosome start end ref alt "
         "label ...); line 1 is data", where.c_str());
  }
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].empty()) fail("%s: header column %zu has no name", where.c_str(), i + 1);
    for (size_t j = 0; j < i; ++j) {
      if (lower(t.columns[i]) == lower(t.columns[j])) {
        fail("%s: header names column '%s' twice", where.c_str(), t.columns[i].c_str());
      }
    }
  }
  t.col_ref = find_variant_column(t, "ref");
  t.col_alt = find_variant_column(t, "alt");
  if (t.columns.size() < 5 || t.col_ref < 3 || t.col_alt < 3) {
    fail("%s: a variant BED needs the columns chromosome, start, end, then 'ref' and 'alt' "
         "(header: %s)", where.c_str(), line.c_str());
  }
}

void parse_row(VariantTable& t, const std::string& line, int64_t line_no,
               std::map<std::string, int32_t>& chrom_ids) {
  std::vector<std::string> f = split_tabs(line);
  const std::string where = t.path + ":" + std::to_string(line_no);
  if (f.size() != t.columns.size()) {
    fail("%s: %zu tab-separated fields, the header has %zu", where.c_str(), f.size(), t.columns.size());
  }
  Variant v;
  v.line = line_no;
  int64_t end = 0;
  if (f[0].empty()) fail("%s: empty chromosome name", where.c_str());
  if (!parse_int64(f[1], v.pos_bp)) fail("%s: start '%s' is not a non-negative integer", where.c_str(), f[1].c_str());
  if (!parse_int64(f[2], end)) fail("%s: end '%s' is not a non-negative integer", where.c_str(), f[2].c_str());
  if (end != v.pos_bp + 1) {
    fail("%s: a variant row covers one base (end = start + 1); got start %lld, end %lld", where.c_str(),
         (long long)v.pos_bp, (long long)end);
  }
  v.ref = upper_base(f[t.col_ref]);
  if (!v.ref) fail("%s: ref '%s' is not one base (A, C, G, T or N)", where.c_str(), f[t.col_ref].c_str());
  v.alt = upper_base(f[t.col_alt]);
  if (!v.alt || v.alt == 'N') {
    fail("%s: alt '%s' is not one base A, C, G or T (only SNVs are scored)", where.c_str(), f[t.col_alt].c_str());
  }
  if (v.alt == v.ref) fail("%s: alt '%s' equals ref", where.c_str(), f[t.col_alt].c_str());
  auto it = chrom_ids.find(f[0]);
  if (it == chrom_ids.end()) {
    it = chrom_ids.emplace(f[0], static_cast<int32_t>(t.chrom_names.size())).first;
    t.chrom_names.push_back(f[0]);
  }
  v.chrom_id = it->second;
  t.rows.push_back(v);
}

}  // namespace

int find_variant_column(const VariantTable& table, const std::string& name) {
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (lower(table.columns[i]) == lower(name)) return static_cast<int>(i);
  }
  return -1;
}

VariantTable read_variant_bed(const std::string& path) {
  VariantTable t;
  t.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  std::string line;
  int64_t line_no = 0;
  std::map<std::string, int32_t> chrom_ids;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      parse_header(t, line);
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    parse_row(t, line, line_no, chrom_ids);
  }
  if (in.bad()) fail("%s: read error after line %lld", path.c_str(), (long long)line_no);
  if (line_no == 0) fail("%s: empty file (a variant BED needs a header row)", path.c_str());
  if (t.rows.empty()) fail("%s: no variant rows after the header", path.c_str());
  return t;
}

namespace {

// The FASTA name of each file contig: itself, else with "chr" added or removed.
void match_contigs(const VariantTable& t, const FastaReader& fa, GenomeCheck& g) {
  std::vector<int32_t> first_row(t.chrom_names.size(), -1);
  std::vector<int64_t> n_rows(t.chrom_names.size(), 0);
  for (size_t i = 0; i < t.rows.size(); ++i) {
    int32_t c = t.rows[i].chrom_id;
    if (first_row[c] < 0) first_row[c] = static_cast<int32_t>(i);
    ++n_rows[c];
  }
  for (size_t c = 0; c < t.chrom_names.size(); ++c) {
    const std::string& name = t.chrom_names[c];
    std::string other = name.compare(0, 3, "chr") == 0 ? name.substr(3) : "chr" + name;
    if (fa.chrom_length(name) >= 0) {
      g.fasta_names.push_back(name);
    } else if (!other.empty() && fa.chrom_length(other) >= 0) {
      g.fasta_names.push_back(other);
      g.renamed.push_back({name, other, n_rows[c]});
    } else {
      fail("%s:%lld: chromosome '%s' is not in %s (nor '%s')", t.path.c_str(),
           (long long)t.rows[first_row[c]].line, name.c_str(), fa.path().c_str(), other.c_str());
    }
  }
}

}  // namespace

GenomeCheck check_variants_against_genome(VariantTable& t, const FastaReader& fa, int64_t left_bp,
                                          int64_t right_bp) {
  GenomeCheck g;
  match_contigs(t, fa, g);
  std::vector<int64_t> len(g.fasta_names.size());
  for (size_t c = 0; c < len.size(); ++c) len[c] = fa.chrom_length(g.fasta_names[c]);
  // Genome order: faidx reads stay local whatever the row order.
  std::vector<int32_t> order(t.rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const Variant& x = t.rows[a];
    const Variant& y = t.rows[b];
    return x.chrom_id != y.chrom_id ? x.chrom_id < y.chrom_id : x.pos_bp < y.pos_bp;
  });
  std::string base;
  for (int32_t i : order) {
    Variant& v = t.rows[i];
    const std::string& chrom = g.fasta_names[v.chrom_id];
    if (v.pos_bp >= len[v.chrom_id]) {
      fail("%s:%lld: variant %s:%lld lies past the end of %s in %s (%lld bp)", t.path.c_str(), (long long)v.line,
           t.chrom_names[v.chrom_id].c_str(), (long long)v.pos_bp + 1, chrom.c_str(), fa.path().c_str(),
           (long long)len[v.chrom_id]);
    }
    fa.fetch(chrom, v.pos_bp, v.pos_bp + 1, false, base);
    v.status = base[0] == v.ref ? kVariantOk : kVariantRefMismatch;
    if (v.pos_bp - left_bp < 0 || v.pos_bp + 1 + right_bp > len[v.chrom_id]) v.status = kVariantOffContig;
  }
  g.mismatches_tsv = "line\tchromosome\tposition\tref\tgenome\n";
  g.skipped_tsv = "line\tchromosome\tposition\treason\n";
  for (const Variant& v : t.rows) {  // file order
    const std::string& chrom = t.chrom_names[v.chrom_id];
    if (v.status == kVariantOffContig) {
      ++g.n_off_contig;
      g.skipped_tsv += strfmt("%lld\t%s\t%lld\twindow of %lld bp runs past the contig (%lld bp)\n",
                              (long long)v.line, chrom.c_str(), (long long)v.pos_bp + 1,
                              (long long)(left_bp + 1 + right_bp), (long long)len[v.chrom_id]);
    } else if (v.status == kVariantRefMismatch) {
      ++g.n_ref_mismatch;
      fa.fetch(g.fasta_names[v.chrom_id], v.pos_bp, v.pos_bp + 1, false, base);
      g.mismatches_tsv += strfmt("%lld\t%s\t%lld\t%c\t%c\n", (long long)v.line, chrom.c_str(),
                                 (long long)v.pos_bp + 1, v.ref, base[0]);
    }
  }
  return g;
}

}  // namespace bend
