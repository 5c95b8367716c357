#!/usr/bin/env python3
"""Token ids of bend's tokenizers equal independent implementations, on the real tokenizer files in
tests/data/tokenizers and real human sequence (hg38 chr2: soft-masked lower case, N runs, every
length 1..300 and random lengths up to 5000):

- DNABERT-2 and GENA-LM: Hugging Face's JavaScript tokenizers (@huggingface/tokenizers, installed
  into tools/js by tools/install_deps.sh) on the tokenizer.json files;
- DNABERT k=3..6: the same library running BERT's WordPiece tokenizer over the vocab.txt on the
  space-joined k-mers, which is what BEND feeds DNABERT's BertTokenizer;
- Nucleotide Transformer v1/v2: a Python port of the Hugging Face slow tokenizer's trie split with
  EsmTokenizer's vocabulary lookup, and InstaDeep's split-on-N rule, over the vocabulary built from
  InstaDeep's definition (and from a vocab.txt with other ids);
- GROVER: BEND's max_match_tokenize; HyenaDNA: BEND's CharacterTokenizer.

Spans are checked against spans derived from the reference tokens, and the nucleotide -> token map
and the chunking against BEND's rules, including BEND's known failures (GENA-LM on long N runs,
DNABERT at exactly 512 bp, DNABERT-2's [UNK] count mismatch).
"""
import gzip
import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_tokenize")
SRC = os.environ.get("BEND_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
TOKDIR = os.path.join(DATA, "tokenizers")
HF_JS = os.path.join(SRC, "tests/tokenize/hf_tokenize.mjs")


def load_chr2():
    with gzip.open(os.path.join(DATA, "genome/hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        lines = f.read().split("\n")
    assert lines[0].startswith(">") and not any(l.startswith(">") for l in lines[1:])
    return "".join(lines[1:])


def make_sequences(chrom, rng):
    """Every length 1..300 plus random lengths up to 5000; a third as soft-masked (lower case),
    a third upper case, a third upper case with N runs of 1..200 (>= 10 included)."""
    lengths = list(range(1, 301)) + [rng.randint(301, 5000) for _ in range(100)]
    seqs = []
    for i, n in enumerate(lengths):
        if i % 25 == 0:  # across the end of chr2's leading 10,000 N
            start = max(0, 10000 - n // 2 + rng.randint(-5, 5))
        else:
            start = rng.randrange(10000, len(chrom) - n)
        s = chrom[start:start + n]
        if i % 3 != 0:
            s = s.upper()
        if i % 3 == 2:
            s = list(s)
            for _ in range(rng.randint(1, 4)):
                run = rng.choice([1, 2, 5, 9, 10, 11, 17, 40, 200])
                at = rng.randrange(len(s))
                s[at:at + run] = ["N"] * min(run, len(s) - at)
            s = "".join(s)
        seqs.append(s)
    seqs += ["N", "N" * 9, "N" * 10, "N" * 11, "N" * 5000, "N" * 10 + "ACGT", "ACGT" + "N" * 10,
             "acgtn" * 20, ""]
    return seqs


def write_lines(dirname, name, lines):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    return path


def run_json_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    return [json.loads(l) for l in out.splitlines()]


def run_hf_js(tokenizer_json, config_json, seqs_path):
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node not found: run tools/install_deps.sh (Debian: nodejs npm)")
    try:
        return run_json_lines([node, HF_JS, tokenizer_json, config_json, seqs_path])
    except subprocess.CalledProcessError as e:
        raise AssertionError("hf_tokenize.mjs failed (run tools/install_deps.sh?): " + e.stderr)


def run_bend(kind, dirname, seqs_path, *args):
    return run_json_lines([TOOL, kind, dirname, seqs_path] + list(args))


def spans_from_tokens(seq, tokens, specials, unk="[UNK]", dash=None):
    """Content spans implied by reference tokens: a token covers its own text; an unknown token
    one character (fuse_unk is false in both files); GENA-LM's dash the N run it replaced."""
    pos, out = 0, []
    for t in tokens:
        if t in specials:
            continue
        if t == unk:
            n = 1
        elif dash is not None and t == dash:
            n = len(seq) - pos - len(seq[pos:].lstrip("N"))
            assert n >= 10, (seq, pos)
        else:
            n = len(t)
            assert seq[pos:pos + n] == t, (seq, pos, t)
        out.append([pos, n])
        pos += n
    assert pos == len(seq), (seq, tokens)
    return out


def content_spans(result):
    return [s for s in result["spans"] if s[1] > 0]


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bend_tok_")
        cls.chrom = load_chr2()
        cls.seqs = make_sequences(cls.chrom, random.Random(6))
        cls.seqs_path = write_lines(cls.tmp, "seqs.txt", cls.seqs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)


class BpeVsHuggingFace(Fixture):
    def check_bpe(self, name, dash):
        d = os.path.join(TOKDIR, name)
        ref = run_hf_js(os.path.join(d, "tokenizer.json"), os.path.join(d, "tokenizer_config.json"),
                        self.seqs_path)
        ours = run_bend("bpe", d, self.seqs_path)
        self.assertEqual(len(ref), len(self.seqs))
        for seq, r, o in zip(self.seqs, ref, ours):
            self.assertEqual(o["ids"], r["ids"], "%s: ids differ for %r" % (name, seq[:80]))
            want = spans_from_tokens(seq, r["tokens"], {"[CLS]", "[SEP]"}, dash=dash)
            self.assertEqual(content_spans(o), want, "%s: spans differ for %r" % (name, seq[:80]))

    def test_dnabert2_ids_equal_hugging_face(self):
        self.check_bpe("dnabert2", None)

    def test_gena_lm_ids_equal_hugging_face(self):
        self.check_bpe("gena-lm-t2t-32k", "-")

    def test_byte_level_bpe_equals_hugging_face(self):
        # DNABERT-2's vocabulary behind a ByteLevel pre-tokenizer with a prefix space: 'Ġ' (the
        # mapped space) joins the vocabulary; printable ASCII maps to itself.
        with open(os.path.join(TOKDIR, "dnabert2/tokenizer.json")) as f:
            j = json.load(f)
        j["truncation"] = j["padding"] = None
        vocab = j["model"]["vocab"]
        vocab["\u0120"] = len(vocab)
        vocab["\u0120A"] = len(vocab)
        j["model"]["merges"] = ["\u0120 A"] + j["model"]["merges"]
        j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                              "use_regex": True}
        d = os.path.join(self.tmp, "bytelevel")
        os.makedirs(d)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(j, f)
        seqs = self.seqs[::7] + ["ACGT ACGT", "AC  GT\tA", "A'sCG 12 GT!!", "  "]
        path = write_lines(self.tmp, "bytelevel.txt", seqs)
        ref = run_hf_js(os.path.join(d, "tokenizer.json"), "-", path)
        ours = run_bend("bpe", d, path)
        for seq, r, o in zip(seqs, ref, ours):
            self.assertEqual(o["ids"], r["ids"], "byte-level: ids differ for %r" % seq[:80])


def wordpiece_json(vocab_path):
    """BERT's tokenizer over a DNABERT vocab.txt as a tokenizer.json (no lower-casing, as
    DNABERT's DNATokenizer)."""
    with open(vocab_path) as f:
        tokens = [l.rstrip("\n") for l in f]
    vocab = {t: i for i, t in enumerate(tokens)}
    specials = [t for t in tokens if t.startswith("[")]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for t in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": False},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", vocab["[SEP]"]],
                           "cls": ["[CLS]", vocab["[CLS]"]]},
        "decoder": None,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def kmers(seq, k):
    return [seq[i:i + k] for i in range(len(seq) + 1 - k)]


class DnabertVsHuggingFace(Fixture):
    def reference(self, k, seqs, name):
        tj = os.path.join(self.tmp, "wordpiece-%d.json" % k)
        if not os.path.exists(tj):
            with open(tj, "w") as f:
                json.dump(wordpiece_json(os.path.join(TOKDIR, "dnabert-%d/vocab.txt" % k)), f)
        path = write_lines(self.tmp, "%s-kmers-%d.txt" % (name, k),
                           [" ".join(kmers(s, k)) for s in seqs])
        return [r["ids"] for r in run_hf_js(tj, "-", path)]

    def test_kmer_ids_equal_bert_wordpiece(self):
        for k in range(3, 7):
            ref = self.reference(k, self.seqs, "all")
            ours = run_bend("dnabert", os.path.join(TOKDIR, "dnabert-%d" % k), self.seqs_path)
            for seq, r, o in zip(self.seqs, ref, ours):
                self.assertEqual(o["ids"], r, "k=%d: ids differ for %r" % (k, seq[:80]))
                self.assertEqual(content_spans(o), [[i, k] for i in range(len(seq) + 1 - k)])

    def test_chunks_at_and_beyond_512_bp(self):
        # BEND cut [CLS] k-mers [SEP] bare at 512 tokens (a 512 bp input padded to 514 ran a
        # 2-token second chunk); here 512 bp is one input, longer ones balanced inputs of at most
        # 512 ids, each with [CLS] and [SEP], and the map is BEND.md's edge-repeat rule.
        extra = {3: (1, 1), 4: (1, 2), 5: (2, 2), 6: (2, 3)}
        rng = random.Random(512)
        lens = [512, 513, 514, 515, 516, 517, 1024, 1100, 5000]
        seqs = [self.chrom[s:s + n].upper() for n in lens
                for s in [rng.randrange(10000, len(self.chrom) - n)]]
        path = write_lines(self.tmp, "long.txt", seqs)
        for k in range(3, 7):
            ref = self.reference(k, seqs, "long")
            ours = run_bend("dnabert", os.path.join(TOKDIR, "dnabert-%d" % k), path,
                            "--chunks", "0", "512", "--map")
            for seq, r, o in zip(seqs, ref, ours):
                chunks = o["chunks"]
                if len(r) <= 512:
                    self.assertEqual([c["ids"] for c in chunks], [r], "k=%d %d bp" % (k, len(seq)))
                sizes = [len(c["ids"]) for c in chunks]
                self.assertLessEqual(max(sizes), 512)
                self.assertLessEqual(max(sizes) - min(sizes), 1)
                self.assertEqual(len(chunks), -(-(len(r) - 2) // 510))
                content, where, at = [], [], 0
                for c in chunks:
                    self.assertEqual((c["ids"][0], c["ids"][-1]), (r[0], r[-1]))
                    content += c["ids"][1:-1]
                    where += list(range(at + 1, at + len(c["ids"]) - 1))
                    at += len(c["ids"])
                self.assertEqual(content, r[1:-1])
                a, b = extra[k]
                want = [where[0]] * a + where + [where[-1]] * b
                self.assertEqual(o["map"], want, "k=%d %d bp: map" % (k, len(seq)))


class Trie:
    """Port of transformers' tokenization_utils.Trie (split keeps the earliest, longest match)."""

    def __init__(self, words):
        self.data = {}
        for w in words:
            node = self.data
            for c in w:
                node = node.setdefault(c, {})
            node[""] = 1

    def split(self, text):
        states, offsets, skip = {}, [0], 0
        for current, char in enumerate(text):
            if skip and current < skip:
                continue
            to_remove, reset = set(), False
            for start, ptr in list(states.items()):
                if "" in ptr:
                    for lookstart, lptr in list(states.items()):
                        if lookstart > start:
                            break
                        elif lookstart < start:
                            look, end = current + 1, current + 1
                        else:
                            look, end = current, current
                        nxt = text[look] if look < len(text) else None
                        if "" in lptr:
                            start, end, skip = lookstart, look, look
                        while nxt in lptr:
                            lptr = lptr[nxt]
                            look += 1
                            if "" in lptr:
                                start, end, skip = lookstart, look, look
                            if look == len(text):
                                break
                            nxt = text[look]
                    offsets += [start, end]
                    reset = True
                    break
                elif char in ptr:
                    states[start] = ptr[char]
                else:
                    to_remove.add(start)
            if reset:
                states = {}
            else:
                for s in to_remove:
                    del states[s]
            if current >= skip and char in self.data:
                states[current] = self.data[char]
        for start, ptr in states.items():
            if "" in ptr:
                offsets += [start, len(text)]
                break
        offsets.append(len(text))  # cut_text
        pieces, start = [], 0
        for end in offsets:
            if start >= end:
                continue
            pieces.append((start, end))
            start = end
        return pieces


def nt_vocab(version):
    """InstaDeep's NucleotidesKmersTokenizer(k=6) vocabulary as the v1 / v2 checkpoints order it."""
    tokens = ["".join(p) for p in itertools.product("ATCG", repeat=6)] + list("ATCGN")
    first = ["<unk>", "<pad>", "<mask>", "<cls>"] + (["<eos>", "<bos>"] if version == 2 else [])
    last = ["<eos>", "<bos>"] if version == 1 else []
    return first + tokens + last


class NtReference:
    """EsmTokenizer: the trie over all tokens cuts the text; matched pieces are tokens, the rest
    is split at whitespace and each word looked up (-> <unk>); <cls> first."""

    def __init__(self, vocab):
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.trie = Trie(vocab)

    def __call__(self, seq):
        ids = self.ids
        out, spans = [ids["<cls>"]], []
        for a, b in self.trie.split(seq):
            piece = seq[a:b]
            if piece in ids:
                out.append(ids[piece])
                spans.append([a, b - a])
                continue
            pos = a
            for word in piece.split():
                at = seq.index(word, pos)
                out.append(ids.get(word, ids["<unk>"]))
                spans.append([at, len(word)])
                pos = at + len(word)
        return out, spans


def nt_instadeep(seq):
    """InstaDeep's own rule (ACGTN input): split at N, 6-mers from the left, leftovers single."""
    tokens = []
    parts = seq.split("N")
    for i, part in enumerate(parts):
        n6 = len(part) // 6
        tokens += [part[6 * j:6 * j + 6] for j in range(n6)] + list(part[6 * n6:])
        if i < len(parts) - 1:
            tokens.append("N")
    return tokens


class NucleotideTransformerVsHuggingFace(Fixture):
    def test_ids_equal_hf_slow_tokenizer_and_instadeep(self):
        for version in (1, 2):
            vocab = nt_vocab(version)
            reference = NtReference(vocab)
            index = {t: i for i, t in enumerate(vocab)}
            ours = run_bend("nt-v%d" % version, os.path.join(self.tmp, "none"), self.seqs_path)
            for seq, o in zip(self.seqs, ours):
                ids, spans = reference(seq)
                self.assertEqual(o["ids"], ids, "v%d: ids differ for %r" % (version, seq[:80]))
                self.assertEqual(content_spans(o), spans)
                if set(seq) <= set("ACGTN"):
                    self.assertEqual(o["ids"][1:], [index[t] for t in nt_instadeep(seq)])

    def test_a_checkpoint_vocab_txt_is_used(self):
        vocab = nt_vocab(2)
        rng = random.Random(3)
        shuffled = vocab[:6] + rng.sample(vocab[6:], len(vocab) - 6)
        d = os.path.join(self.tmp, "nt-shuffled")
        os.makedirs(d)
        write_lines(d, "vocab.txt", shuffled)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"vocab_size": len(shuffled)}, f)
        ours = run_bend("nt-v2", d, self.seqs_path)
        reference = NtReference(shuffled)
        for seq, o in zip(self.seqs, ours):
            self.assertEqual(o["ids"], reference(seq)[0])

    def test_chunks_as_bend_cuts_them(self):
        # BEND: pieces of 5994 bp (v1) / 12282 bp (v2), each tokenized with <cls>; a piece of more
        # than 1000 / 2048 tokens is cut bare. Here every input starts with <cls>; the content
        # is BEND's.
        rng = random.Random(7)
        s1 = self.chrom[500000:513000].upper()
        s2 = "".join("N" if i % 5 == 4 else c for i, c in enumerate(self.chrom[700000:707000]))
        s3 = self.chrom[900000:925000].upper()
        seqs = [s1, s2, s3, s2[:rng.randint(1, 6000)]]
        path = write_lines(self.tmp, "nt-long.txt", seqs)
        for version, max_bp, max_tok in ((1, 5994, 1000), (2, 12282, 2048)):
            vocab = nt_vocab(version)
            reference = NtReference(vocab)
            ours = run_bend("nt-v%d" % version, self.tmp, path, "--chunks", str(max_bp),
                            str(max_tok))
            for seq, o in zip(seqs, ours):
                bend_content = []
                for p in range(0, len(seq), max_bp):
                    bend_content += reference(seq[p:p + max_bp])[0][1:]
                content = []
                for c in o["chunks"]:
                    self.assertEqual(c["ids"][0], vocab.index("<cls>"))
                    self.assertLessEqual(len(c["ids"]), max_tok)
                    content += c["ids"][1:]
                self.assertEqual(content, bend_content)


class GroverAndHyenaVsBend(Fixture):
    def test_grover_ids_equal_bend_max_match(self):
        with open(os.path.join(TOKDIR, "dnabert2/tokenizer.json")) as f:
            v = json.load(f)["model"]["vocab"]
        tokens = sorted(v, key=v.get)
        d = os.path.join(self.tmp, "grover")
        os.makedirs(d)
        write_lines(d, "vocab.txt", tokens)
        vocab = {t: i for i, t in enumerate(tokens)}
        max_len = max(len(t) for t in vocab)
        ours = run_bend("grover", d, self.seqs_path)
        for seq, o in zip(self.seqs, ours):
            toks, i = [], 0
            while i < len(seq):  # BEND's GROVEREmbedder.max_match_tokenize
                for j in range(i + max_len, i, -1):
                    if seq[i:j] in vocab:
                        toks.append(seq[i:j])
                        i += len(seq[i:j])
                        break
                else:
                    toks.append("[UNK]")
                    i += 1
            want = [vocab["[CLS]"]] + [vocab[t] for t in toks] + [vocab["[SEP]"]]
            self.assertEqual(o["ids"], want, "grover: ids differ for %r" % seq[:80])

    def test_hyenadna_ids_equal_character_tokenizer(self):
        chars = {c: i + 7 for i, c in enumerate("ACGTN")}
        ours = run_bend("hyenadna", os.path.join(DATA, "configs/hyenadna-tiny-1k"),
                        self.seqs_path)
        for seq, o in zip(self.seqs, ours):
            self.assertEqual(o["ids"], [0] + [chars.get(c, 6) for c in seq] + [1])


class BendFailureModes(Fixture):
    def map_check(self, name, dash, seqs, bend_len):
        d = os.path.join(TOKDIR, name)
        path = write_lines(self.tmp, name + "-map.txt", seqs)
        ref = run_hf_js(os.path.join(d, "tokenizer.json"), "-", path)
        ours = run_bend("bpe", d, path, "--map")
        n_bend_wrong = 0
        for seq, r, o in zip(seqs, ref, ours):
            spans = spans_from_tokens(seq, r["tokens"], {"[CLS]", "[SEP]"}, dash=dash)
            want = []
            for i, (_, n) in enumerate(spans):
                want += [i + 1] * n  # + 1: [CLS] is token 0
            self.assertEqual(o["map"], want, "%s: map for %r" % (name, seq[:80]))
            bend = sum(bend_len(t) for t in r["tokens"][1:-1])  # BEND's repeat counts
            n_bend_wrong += bend != len(seq)
        return n_bend_wrong

    def test_gena_lm_long_n_runs_map_every_nucleotide(self):
        # BEND repeats each vector len(token) times: '-' (>= 10 N) counts 1, so its upsampled
        # output is shorter than the sequence; the spans give the whole run.
        rng = random.Random(10)
        seqs = []
        for run in (9, 10, 11, 57, 1000, 4000):
            s = self.chrom[rng.randrange(10000, 2000000):][:3000].upper()
            at = rng.randrange(len(s))
            seqs.append(s[:at] + "N" * run + s[at:])
        seqs.append(self.chrom[9000:14000].upper())  # chr2's leading N run, cut
        wrong = self.map_check("gena-lm-t2t-32k", "-", seqs, len)
        self.assertEqual(wrong, len(seqs) - 1)  # all but the 9-N run

    def test_dnabert2_unk_maps_one_nucleotide(self):
        # BEND's first rule repeated '[UNK]' len('[UNK]') = 5 times; each N is one nucleotide.
        rng = random.Random(11)
        seqs = []
        for n_n in (1, 2, 3, 25):
            s = list(self.chrom[rng.randrange(10000, 2000000):][:2000].upper())
            for _ in range(n_n):
                s[rng.randrange(len(s))] = "N"
            seqs.append("".join(s))
        wrong = self.map_check("dnabert2", None, seqs, len)
        self.assertEqual(wrong, len(seqs))

    def test_bpe_speed_on_1_mbp(self):
        seq = self.chrom[1000000:2000000].upper()
        path = write_lines(self.tmp, "mbp.txt", [seq])
        for name in ("dnabert2", "gena-lm-t2t-32k"):
            out = subprocess.run([TOOL, "bpe", os.path.join(TOKDIR, name), path, "--bench", "1"],
                                 check=True, capture_output=True, text=True).stdout.split()
            bp, n_tok, sec, cpu = int(out[1]), int(out[2]), float(out[3]), float(out[4])
            print("%s: %d bp -> %d tokens in %.3f s wall, %.3f s CPU: %.0f tokens/s, %.0f bp/s "
                  "(CPU)" % (name, bp, n_tok, sec, cpu, n_tok / cpu, bp / cpu))
            self.assertEqual(bp, 1000000)


if __name__ == "__main__":
    unittest.main()
