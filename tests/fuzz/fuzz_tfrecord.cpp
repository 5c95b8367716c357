// TFRecord framing (store/tfrecord.cpp, plain/ZLIB/GZIP by the first byte) and Example decoding
// (store/example.cpp) of every record read: clean errors only.
#include "bend/store/example.hpp"
#include "bend/store/tfrecord.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kNames[3] = {"in.tfrecord", "in.tfrecord.zlib", "in.tfrecord.gz"};
  const std::string path = bend_fuzz::write_scratch(kNames[data[0] % 3], data + 1, size - 1);
  bend_fuzz::expect_clean("tfrecord", [&] {
    bend::TFRecordReader r(path, bend::compression_from_path(path));
    std::string rec;
    for (int i = 0; i < 64 && r.next(rec); ++i) {
      bend_fuzz::expect_clean("example", [&] { (void)bend::decode_example(rec.data(), rec.size()); });
      bend_fuzz::expect_clean("embedding", [&] {
        bend::EmbeddingRecord e;
        bend::decode_embedding_view(rec.data(), rec.size(), e);
        if (!e.token_spans.empty()) (void)bend::check_token_spans(e.token_spans, e.length);
      });
    }
  });
  // The record bytes themselves as an Example, without framing.
  bend_fuzz::expect_clean("example_raw", [&] {
    (void)bend::decode_example(reinterpret_cast<const char*>(data), size);
  });
  return 0;
}
