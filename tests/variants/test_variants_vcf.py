"""`bend variants --vcf`: VCF, bgzipped VCF and BCF (written by pysam) on the real hg38 region.
SNV alleles (multi-allelic sites split) are scored exactly as the same variants given as a BED;
indels, MNPs, symbolic and missing ALTs are skipped and listed; labels come from an INFO key
through a mapping file, categories from another INFO key (ClinVar's SO prefixes removed)."""
import os
import sys
import unittest

import pysam

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
sys.path.insert(0, HERE)
import bendtest as bt  # noqa: E402
from test_variants_cli import FASTA, make_variants, read_table, write_bed  # noqa: E402

VCF_HEADER = """##fileformat=VCFv4.2
##contig=<ID={chrom},length=2333275>
##INFO=<ID=CLNSIG,Number=.,Type=String,Description="clinical significance">
##INFO=<ID=MC,Number=.,Type=String,Description="molecular consequence">
##INFO=<ID=AF,Number=A,Type=Float,Description="allele frequency">
##INFO=<ID=END,Number=1,Type=Integer,Description="end (pysam writes one for <DEL>: undeclared, its BCF is unreadable)">
##ALT=<ID=DEL,Description="deletion">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""
SIG = ["Pathogenic", "Benign", "Uncertain_significance"]
MC = ["SO:0001583|missense_variant", "SO:0001627|intron_variant,SO:0001583|missense_variant"]


class VariantsVcf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir()
        cls.rows = make_variants(12, seed=33)
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "16",
                 "--n-layers", "2", "--seed", "9"])
        cls.map = os.path.join(cls.work, "clnsig.tsv")
        with open(cls.map, "w") as f:
            f.write("# CLNSIG -> label\nPathogenic\t1\nBenign\t0\n")

    def write_vcf(self, name, chrom="chr2"):
        """Rows 0-1 multi-allelic with an indel ALT, a missing ALT, a symbolic ALT, an indel and
        an MNP record between the SNVs; returns the path and the SNV rows expected, in order."""
        lines, want = [], []
        for i, r in enumerate(self.rows):
            pos, ref, alt = int(r[1]) + 1, r[3], r[4]
            info = "CLNSIG=%s;MC=%s" % (SIG[i % 3], MC[i % 2])
            if i == 0:
                other = [b for b in "ACGT" if b not in (ref, alt)][0]
                lines.append([chrom, pos, "rs0", ref, "%s,%s,%sT" % (alt, other, ref), info + ";AF=0.1,0.2,0.3"])
                want += [(r, alt, "0.1"), (r, other, "0.2")]
                continue
            lines.append([chrom, pos, "rs%d" % i, ref, alt, info + ";AF=0.5"])
            want.append((r, alt, "0.5"))
            if i == 3:
                lines.append([chrom, pos + 5, ".", "A", ".", "."])
                lines.append([chrom, pos + 6, ".", "A", "<DEL>", "."])
                lines.append([chrom, pos + 7, ".", "AC", "A", "."])
                lines.append([chrom, pos + 8, ".", "AC", "GT", "."])
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(VCF_HEADER.format(chrom=chrom))
            for c, pos, vid, ref, alt, info in lines:
                f.write("%s\t%d\t%s\t%s\t%s\t.\tPASS\t%s\n" % (c, pos, vid, ref, alt, info))
        return path, want

    def run_vcf(self, vcf, out, *extra, check=True):
        return bt.bend(["variants", "--vcf", vcf, "--genome", FASTA, "--model", "resnetlm", "--checkpoint",
                        self.ckpt, "--out", out, "--label-from", "CLNSIG", "--label-map", self.map,
                        "--category-from", "MC", "--bootstrap", "20"] + list(extra), check=check)

    def test_vcf_vcfgz_and_bcf_score_their_snvs_as_the_same_bed(self):
        vcf, want = self.write_vcf("v.vcf")
        gz = vcf + ".gz"
        bt.run(["bgzip", "-k", "-f", vcf])
        bcf = os.path.join(self.work, "v.bcf")
        with pysam.VariantFile(vcf) as src, pysam.VariantFile(bcf, "wb", header=src.header) as dst:
            for rec in src:
                dst.write(rec)
        bed_rows = [[r[0], r[1], r[2], r[3], alt, "x", "x", "x"] for r, alt, _ in want]
        bed = write_bed(os.path.join(self.work, "same.bed"), bed_rows)
        bed_out = os.path.join(self.work, "bed_out")
        bt.bend(["variants", "--bed", bed, "--genome", FASTA, "--model", "resnetlm", "--checkpoint", self.ckpt,
                 "--out", bed_out])
        expect = [r["cosine"] for r in read_table(os.path.join(bed_out, "scores.tsv"))]
        tables = []
        for path in (vcf, gz, bcf):
            out = os.path.join(self.work, "out_" + os.path.basename(path).replace(".", "_"))
            r = self.run_vcf(path, out)
            self.assertIn("alleles skipped", r.stderr)
            table = read_table(os.path.join(out, "scores.tsv"))
            self.assertEqual([t["cosine"] for t in table], expect, path)
            tables.append(bt.read_bytes(os.path.join(out, "scores.tsv")))
            skipped = bt.read_text(os.path.join(out, "vcf_skipped.tsv")).splitlines()[1:]
            self.assertEqual([s.split("\t")[-1] for s in skipped],
                             ["indel", "missing ALT", "symbolic ALT", "indel", "MNP"], path)
        self.assertEqual(tables[0], tables[1])
        self.assertEqual(tables[0], tables[2])
        self.assertEqual(list(table[0]), ["chromosome", "start", "end", "ref", "alt", "id", "label", "category",
                                          "cosine"])
        for t, (r, alt, _) in zip(table, want):
            self.assertEqual((t["chromosome"], t["start"], t["ref"], t["alt"]), (r[0], r[1], r[3], alt))
        i_of = {r[1]: i for i, r in enumerate(self.rows)}
        for t in table:
            i = i_of[t["start"]]
            self.assertEqual(t["label"], {"Pathogenic": "1", "Benign": "0"}.get(SIG[i % 3], ""))
            self.assertEqual(t["category"], ["missense_variant", "intron_variant,missense_variant"][i % 2])
        auroc = read_table(os.path.join(self.work, "out_v_vcf", "auroc.csv"), ",")
        self.assertEqual([a["category"] for a in auroc], ["all", "intron_variant,missense_variant", "missense_variant"])

    def test_chr_prefix_and_ref_mismatch_in_a_vcf(self):
        vcf, want = self.write_vcf("nochr.vcf", chrom="2")
        out = os.path.join(self.work, "nochr")
        r = self.run_vcf(vcf, out)
        self.assertIn("contig '2'", r.stderr)
        self.assertEqual(len(read_table(os.path.join(out, "scores.tsv"))), len(want))
        text = bt.read_text(vcf).replace("\trs1\t%s\t" % self.rows[1][3],
                                         "\trs1\t%s\t" % [b for b in "ACGT" if b not in self.rows[1][3:5]][0])
        bad = os.path.join(self.work, "mismatch.vcf")
        with open(bad, "w") as f:
            f.write(text)
        r = self.run_vcf(bad, os.path.join(self.work, "mismatch"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("1 of %d variants have a REF that differs" % len(want), r.stderr)

    def test_unknown_info_key_and_bad_map_are_errors(self):
        vcf, _ = self.write_vcf("k.vcf")
        r = bt.bend(["variants", "--vcf", vcf, "--genome", FASTA, "--model", "onehot", "--out",
                     os.path.join(self.work, "k"), "--label-from", "CLNSIGX"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("defines no INFO key 'CLNSIGX'", r.stderr)
        bad_map = os.path.join(self.work, "bad_map.tsv")
        with open(bad_map, "w") as f:
            f.write("Pathogenic\t1\nBenign\tmaybe\n")
        r = bt.bend(["variants", "--vcf", vcf, "--genome", FASTA, "--model", "onehot", "--out",
                     os.path.join(self.work, "k"), "--label-from", "CLNSIG", "--label-map", bad_map], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad_map.tsv:2: expected", r.stderr)


if __name__ == "__main__":
    unittest.main()
