// Independent reference for tests/tokenize: Hugging Face's own JavaScript implementation of
// tokenizers (@huggingface/tokenizers, installed into tools/js by tools/install_deps.sh).
//
//   node hf_tokenize.mjs TOKENIZER_JSON TOKENIZER_CONFIG_JSON|- SEQS
//
// Prints one line per line of SEQS: {"ids": [...], "tokens": [...]} of tokenizer.encode(line)
// (special tokens added by the file's post-processor). $BEND_JS_MODULES overrides the
// node_modules folder (default: $BEND_SOURCE_DIR/tools/js/node_modules).
import fs from "fs";
import path from "path";
import { createRequire } from "module";
import { fileURLToPath } from "url";

const [tokenizerPath, configPath, seqsPath] = process.argv.slice(2);
if (!seqsPath) {
  console.error("usage: node hf_tokenize.mjs TOKENIZER_JSON TOKENIZER_CONFIG_JSON|- SEQS");
  process.exit(2);
}
const modules = process.env.BEND_JS_MODULES ||
  path.join(process.env.BEND_SOURCE_DIR ||
              path.join(path.dirname(fileURLToPath(import.meta.url)), "../.."),
            "tools/js/node_modules");
let Tokenizer;
try {
  ({ Tokenizer } = createRequire(path.join(modules, "..", "package.json"))("@huggingface/tokenizers"));
} catch (e) {
  console.error(`hf_tokenize: @huggingface/tokenizers not found under ${modules} ` +
                `(run tools/install_deps.sh): ${e.message}`);
  process.exit(3);
}
const tokenizerJson = JSON.parse(fs.readFileSync(tokenizerPath, "utf8"));
const tokenizerConfig = configPath === "-" ? {} : JSON.parse(fs.readFileSync(configPath, "utf8"));
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
const lines = fs.readFileSync(seqsPath, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const out = [];
for (const line of lines) {
  const e = tokenizer.encode(line);
  out.push(JSON.stringify({ ids: e.ids, tokens: e.tokens }));
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
