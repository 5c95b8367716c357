#include "bend/variants/variant_vcf.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <unistd.h>
#include <vector>

#include <htslib/hts.h>
#include <htslib/vcf.h>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"

namespace bend {

namespace {

// A text file written under "<path>.tmp" and renamed into place by commit().
class AtomicText {
 public:
  explicit AtomicText(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) fail("%s: cannot create: %s", tmp_.c_str(), std::strerror(errno));
  }
  ~AtomicText() {
    if (f_) {
      std::fclose(f_);
      std::remove(tmp_.c_str());
    }
  }
  void put(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
  }
  void commit() {
    bool ok = std::fflush(f_) == 0 && fsync(fileno(f_)) == 0;
    ok = std::fclose(f_) == 0 && ok;
    f_ = nullptr;
    if (!ok) fail("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
    rename_durable(tmp_, path_);
  }

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
};

// The htslib handles of one open file.
struct Vcf {
  htsFile* fp = nullptr;
  bcf_hdr_t* hdr = nullptr;
  bcf1_t* rec = nullptr;
  char* sbuf = nullptr;
  int32_t* ibuf = nullptr;
  float* fbuf = nullptr;
  int n_s = 0, n_i = 0, n_f = 0;
  ~Vcf() {
    std::free(sbuf);
    std::free(ibuf);
    std::free(fbuf);
    if (rec) bcf_destroy(rec);
    if (hdr) bcf_hdr_destroy(hdr);
    if (fp) hts_close(fp);
  }
};

std::map<std::string, std::string> read_label_map(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    std::string label = tab == std::string::npos ? "" : line.substr(tab + 1);
    if (tab == std::string::npos || (label != "0" && label != "1" && !label.empty()) ||
        line.find('\t', tab + 1) != std::string::npos) {
      fail("%s:%lld: expected 'INFO value<TAB>label' with label 0, 1 or empty", path.c_str(), (long long)n);
    }
    if (!m.emplace(line.substr(0, tab), label).second) {
      fail("%s:%lld: value '%s' is mapped twice", path.c_str(), (long long)n, line.substr(0, tab).c_str());
    }
  }
  return m;
}

int info_id(const Vcf& v, const std::string& key, const std::string& path) {
  int id = bcf_hdr_id2int(v.hdr, BCF_DT_ID, key.c_str());
  if (id < 0 || !bcf_hdr_idinfo_exists(v.hdr, BCF_HL_INFO, id)) {
    fail("%s: the header defines no INFO key '%s'", path.c_str(), key.c_str());
  }
  return id;
}

// "SO:0001583|missense_variant,SO:0001627|intron_variant" -> "missense_variant,intron_variant".
std::string strip_so(const std::string& s) {
  std::string out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    std::string item = s.substr(b, e - b);
    size_t bar = item.rfind('|');
    if (item.compare(0, 3, "SO:") == 0 && bar != std::string::npos) item = item.substr(bar + 1);
    out += (out.empty() && b == 0 ? "" : ",") + item;
    b = e + 1;
  }
  return out;
}

// The INFO value of `key` for ALT number `alt` (1-based) as text; "" when absent.
std::string info_text(Vcf& v, const std::string& key, int id, int alt) {
  const int type = bcf_hdr_id2type(v.hdr, BCF_HL_INFO, id);
  const bool per_alt = bcf_hdr_id2length(v.hdr, BCF_HL_INFO, id) == BCF_VL_A;
  std::vector<std::string> vals;
  if (type == BCF_HT_FLAG) {
    return bcf_get_info_flag(v.hdr, v.rec, key.c_str(), &v.ibuf, &v.n_i) == 1 ? "1" : "0";
  } else if (type == BCF_HT_STR) {
    int n = bcf_get_info_string(v.hdr, v.rec, key.c_str(), &v.sbuf, &v.n_s);
    if (n < 0) return "";
    std::string s(v.sbuf, strnlen(v.sbuf, static_cast<size_t>(n)));
    if (!per_alt) return strip_so(s);
    size_t b = 0;
    for (int i = 1; i < alt; ++i) b = s.find(',', b) == std::string::npos ? s.size() : s.find(',', b) + 1;
    size_t e = s.find(',', b);
    return strip_so(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
  } else if (type == BCF_HT_INT) {
    int n = bcf_get_info_int32(v.hdr, v.rec, key.c_str(), &v.ibuf, &v.n_i);
    for (int i = 0; i < n; ++i) {
      if (v.ibuf[i] == bcf_int32_vector_end) break;
      vals.push_back(v.ibuf[i] == bcf_int32_missing ? "." : std::to_string(v.ibuf[i]));
    }
  } else if (type == BCF_HT_REAL) {
    int n = bcf_get_info_float(v.hdr, v.rec, key.c_str(), &v.fbuf, &v.n_f);
    for (int i = 0; i < n; ++i) {
      if (bcf_float_is_vector_end(v.fbuf[i])) break;
      vals.push_back(bcf_float_is_missing(v.fbuf[i]) ? "." : strfmt("%g", v.fbuf[i]));
    }
  }
  if (per_alt) return alt - 1 < static_cast<int>(vals.size()) ? vals[alt - 1] : "";
  std::string out;
  for (size_t i = 0; i < vals.size(); ++i) out += (i ? "," : "") + vals[i];
  return out;
}

// Why allele `alt` of a record with `ref` is no SNV ("" for an SNV).
const char* skip_reason(const char* ref, const char* alt) {
  if (std::strcmp(alt, ".") == 0) return "missing ALT";
  if (alt[0] == '<' || std::strcmp(alt, "*") == 0 || std::strpbrk(alt, "[]")) return "symbolic ALT";
  size_t lr = std::strlen(ref), la = std::strlen(alt);
  if (lr != la) return "indel";
  if (lr != 1) return "MNP";
  if (!std::strchr("ACGTNacgtn", ref[0])) return "REF is not A/C/G/T/N";
  if (!std::strchr("ACGTacgt", alt[0])) return "ALT is not A/C/G/T";
  if ((ref[0] & ~0x20) == (alt[0] & ~0x20)) return "ALT equals REF";
  return "";
}

}  // namespace

VcfConvertResult vcf_to_variant_bed(const std::string& path, const VcfConvertOptions& o, const std::string& bed_path,
                                    const std::string& skipped_path) {
  Vcf v;
  v.fp = hts_open(path.c_str(), "r");
  if (!v.fp) fail("%s: cannot open as VCF/BCF: %s", path.c_str(), std::strerror(errno));
  v.hdr = bcf_hdr_read(v.fp);
  if (!v.hdr) fail("%s: not a VCF or BCF file (no header)", path.c_str());
  v.rec = bcf_init();
  std::map<std::string, std::string> label_map;
  if (!o.label_map_path.empty()) {
    if (o.label_from.empty()) fail("--label-map needs --label-from (the INFO key it maps)");
    label_map = read_label_map(o.label_map_path);
  }
  int label_id = o.label_from.empty() ? -1 : info_id(v, o.label_from, path);
  int cat_id = o.category_from.empty() ? -1 : info_id(v, o.category_from, path);
  AtomicText bed(bed_path), skipped(skipped_path);
  bed.put(std::string("chromosome\tstart\tend\tref\talt\tid") + (label_id >= 0 ? "\tlabel" : "") +
          (cat_id >= 0 ? "\tcategory" : "") + "\n");
  skipped.put("record\tchromosome\tposition\tref\talt\treason\n");
  VcfConvertResult r;
  std::string line;
  while (true) {
    int rc = bcf_read(v.fp, v.hdr, v.rec);
    if (rc == -1) break;
    ++r.n_records;
    if (rc < -1 || v.rec->errcode) fail("%s: record %lld: malformed (htslib error)", path.c_str(), (long long)r.n_records);
    bcf_unpack(v.rec, BCF_UN_STR | BCF_UN_INFO);
    const char* chrom = bcf_hdr_id2name(v.hdr, v.rec->rid);
    const int64_t pos = v.rec->pos;
    const char* ref = v.rec->d.allele[0];
    const int n_alt = v.rec->n_allele - 1;
    for (int a = 1; a <= std::max(n_alt, 1); ++a) {
      const char* alt = n_alt >= 1 ? v.rec->d.allele[a] : ".";
      const char* why = skip_reason(ref, alt);
      if (*why) {
        ++r.n_skipped;
        skipped.put(strfmt("%lld\t%s\t%lld\t%s\t%s\t%s\n", (long long)r.n_records, chrom, (long long)pos + 1, ref, alt, why));
        continue;
      }
      line = strfmt("%s\t%lld\t%lld\t%c\t%c\t%s", chrom, (long long)pos, (long long)pos + 1, ref[0] & ~0x20, alt[0] & ~0x20,
                    v.rec->d.id ? v.rec->d.id : ".");
      for (int k = 0; k < 2; ++k) {  // label, then category
        const int id = k == 0 ? label_id : cat_id;
        if (id < 0) continue;
        std::string val = info_text(v, k == 0 ? o.label_from : o.category_from, id, a);
        if (k == 0 && !o.label_map_path.empty()) {
          auto it = label_map.find(val);
          val = it == label_map.end() ? "" : it->second;
        }
        if (val.find_first_of("\t\n") != std::string::npos) {
          fail("%s: record %lld: INFO value with a tab or newline", path.c_str(), (long long)r.n_records);
        }
        line += "\t" + val;
      }
      bed.put(line + "\n");
      ++r.n_rows;
    }
  }
  bed.commit();
  skipped.commit();
  return r;
}

}  // namespace bend
