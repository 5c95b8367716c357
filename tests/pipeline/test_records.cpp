// --reduce pooling and bend genome records (bend/pipeline/records.hpp): means against a
// double-precision loop written here, records decoded with the generic Example decoder.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/pipeline/records.hpp"
#include "bend/store/example.hpp"

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("parse_reduce accepts none, mean and bin:N and names --reduce otherwise") {
  CHECK(bend::parse_reduce("none") == bend::kReduceNone);
  CHECK(bend::parse_reduce("mean") == bend::kReduceMean);
  CHECK(bend::parse_reduce("bin:128") == 128);
  CHECK(bend::parse_reduce("bin:1") == 1);
  for (const char* bad : {"bin:0", "bin:", "bin:12x", "max", "bin:-3", ""}) {
    CHECK(error_of([&] { bend::parse_reduce(bad); }).find("--reduce must be none, mean or bin:N") == 0);
  }
}

TEST_CASE("mean_bins averages each bin, the last one shorter") {
  const int64_t dim = 3;
  for (int64_t length : {0, 1, 7, 10, 64}) {
    std::vector<float> in(static_cast<size_t>(length * dim));
    for (size_t i = 0; i < in.size(); ++i) in[i] = 0.1f * static_cast<float>((i * 37) % 11) - 0.3f;
    for (int64_t bin : {1, 3, 4, 64, 100}) {
      std::vector<float> out;
      int64_t n = bend::mean_bins(in.data(), length, dim, bin, out);
      REQUIRE(n == (length + bin - 1) / bin);
      REQUIRE(out.size() == static_cast<size_t>(n * dim));
      for (int64_t b = 0; b < n; ++b) {
        int64_t first = b * bin, last = std::min(length, first + bin);
        for (int64_t d = 0; d < dim; ++d) {
          double sum = 0;
          for (int64_t i = first; i < last; ++i) sum += in[i * dim + d];
          CHECK(out[b * dim + d] == static_cast<float>(sum / static_cast<double>(last - first)));
        }
      }
    }
  }
}

TEST_CASE("a genome record holds the embedding features plus chrom, start, end and bin_bp") {
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  bend::EmbeddingRecord rec;
  rec.inputs = reinterpret_cast<const char*>(values.data());
  rec.inputs_bytes = values.size() * sizeof(float);
  rec.length = 2;
  rec.dim = 3;
  rec.dtype = "float32";
  rec.outputs_shape = {0};
  rec.index = 42;
  rec.region = "chr2:100-102(.)";
  for (int64_t bin : {0, 2}) {
    std::string out = "prefix";
    bend::encode_genome_example(rec, "chr2", 100, 102, bin, out);
    REQUIRE(out.compare(0, 6, "prefix") == 0);
    bend::Example ex = bend::decode_example(out.data() + 6, out.size() - 6);
    CHECK(ex.at("chrom").bytes_list == std::vector<std::string>{"chr2"});
    CHECK(ex.at("start").int64_list == std::vector<int64_t>{100});
    CHECK(ex.at("end").int64_list == std::vector<int64_t>{102});
    CHECK(ex.count("bin_bp") == (bin > 0 ? 1u : 0u));
    if (bin > 0) CHECK(ex.at("bin_bp").int64_list == std::vector<int64_t>{2});
    CHECK(ex.at("index").int64_list == std::vector<int64_t>{42});
    CHECK(ex.at("region").bytes_list == std::vector<std::string>{"chr2:100-102(.)"});
    CHECK(ex.at("inputs_shape").int64_list == std::vector<int64_t>{2, 3});
    CHECK(ex.at("inputs").bytes_list[0] == std::string(rec.inputs, rec.inputs_bytes));
    std::string again;  // deterministic: re-encoding the decoded map gives the same bytes
    bend::encode_example(ex, again);
    CHECK(again == out.substr(6));
  }
  rec.inputs_bytes = 5;
  CHECK(error_of([&] {
          std::string o;
          bend::encode_genome_example(rec, "chr2", 100, 102, 0, o);
        }).find("inputs has 5 bytes") != std::string::npos);
}
