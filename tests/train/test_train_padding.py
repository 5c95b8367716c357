"""`bend train` on variable-length rows (gene finding): every rank pads its slice of a global batch
to the longest row of the whole batch, as BEND's one process collates it
(bend/utils/data_downstream.py: collate_fn_pad_to_longest pads inputs with 0, labels with -100, to
the batch's longest). The head's 'same' convolutions carry what the padding becomes after the
first convolution (GELU(bias)) into a row's last positions, so padding each slice to its own
longest row made the results depend on the rank count.

1. np 1, 2 and 3 give the same losses, weights and test predictions (to float rounding of the
   gradient allreduce).
2. A PyTorch reference of BEND's step (BEND's CNN seeded with torch.manual_seed, the batch padded
   as BEND collates it, nn.CrossEntropyLoss(ignore_index=-100)) gives bend's training loss and,
   with bend's epoch-1 weights, its validation loss and MCC; a wrong reference that pads each
   rank's half separately does not.
"""
import csv
import os
import sys
import unittest

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import matthews_corrcoef

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "app"))
import bendtest as bt  # noqa: E402
import test_head_loss_reference as hl  # noqa: E402  (safetensors reader, BEND's CNN layout)

SEED = 3
GENEFIND = ["--label-depth", "9", "--criterion", "cross_entropy", "--metric", "mcc", "--hidden-size", "64",
            "--kernel-size", "3", "--output-window", "0", "--seed", str(SEED)]


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def bends_cnn(input_dim, hidden, kernel, n_out, seed):
    """BEND's CNN as scripts/train_on_task.py builds it after torch.manual_seed(seed): Conv1d,
    Conv1d, Linear in construction order (the one-hot embedding and GELUs draw nothing)."""
    torch.manual_seed(seed)
    return hl.RefHead(input_dim, hidden, kernel, None, n_out)


def collate(records):
    """BEND's collate_fn_pad_to_longest: inputs [n, max_len, dim] padded with 0, labels with -100."""
    x = nn.utils.rnn.pad_sequence([torch.from_numpy(np.array(r["inputs"])) for r in records], batch_first=True,
                                  padding_value=0.0)
    y = nn.utils.rnn.pad_sequence([torch.tensor(r["outputs"], dtype=torch.long) for r in records],
                                  batch_first=True, padding_value=-100)
    return x, y


def batch_loss_and_preds(model, records, split_in=1):
    """BEND's CrossEntropyLoss of one batch (the mean over every unpadded position) and the argmax
    predictions at those positions. split_in > 1 is the wrong reference: the batch cut into
    contiguous parts as ranks take them, each padded to its own longest row."""
    parts = np.array_split(np.arange(len(records)), split_in)
    total, count, preds, trues = 0.0, 0, [], []
    with torch.no_grad():
        for p in parts:
            x, y = collate([records[i] for i in p])
            logits = model(x)  # [n, len, 9]
            total += F.cross_entropy(logits.permute(0, 2, 1), y, ignore_index=-100, reduction="sum").item()
            count += int((y != -100).sum())
            keep = y != -100
            preds.append(logits.argmax(-1)[keep])
            trues.append(y[keep])
    return total / count, torch.cat(preds).numpy(), torch.cat(trues).numpy()


class TrainPadding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        bed, labels = cls.short_rows(os.path.join(cls.data, "genefind_demo"))
        cls.emb = os.path.join(cls.work, "gf")
        bt.bend(["embed", "--bed", bed, "--genome", os.path.join(cls.data, "genome", "demo.fa"), "--labels", labels,
                 "--model", "onehot", "--out", cls.emb, "--shard-rows", "32"])
        recs = bt.read_shard_dir(cls.emb)  # by BED row; a split's shard order is BED row order here
        cls.split = {s: [recs[i] for i in sorted(recs) if recs[i]["file"].startswith(s)]
                     for s in ("train", "valid", "test")}

    @classmethod
    def short_rows(cls, task):
        """The demo's gene-finding rows cut to 24..160 bp (seeded), labels cut with them: rows short
        enough that their last positions, where padding leaks in, weigh in the loss."""
        rng = np.random.default_rng(7)
        bed, labels = os.path.join(cls.work, "short.bed"), os.path.join(cls.work, "short.hdf5")
        header, rows = bt.read_bed_rows(os.path.join(task, "genefind_demo.bed"))
        with h5py.File(os.path.join(task, "genefind_demo.hdf5"), "r") as f:
            full = [np.asarray(f["labels"][i]) for i in range(len(rows))]
        cut = []
        with open(bed, "w") as f:
            f.write("\t".join(header) + "\n")
            for r, lab in zip(rows, full):
                n = int(rng.integers(24, 161))
                r[2] = str(int(r[1]) + n)
                f.write("\t".join(r) + "\n")
                cut.append(lab[:n])
        with h5py.File(labels, "w") as f:
            ds = f.create_dataset("labels", (len(cut),), dtype=h5py.vlen_dtype(np.int64))
            for i, lab in enumerate(cut):
                ds[i] = lab
        return bed, labels

    def train(self, out, extra, np_ranks):
        return bt.bend(["train", "--data", self.emb, "--out", out] + GENEFIND + list(extra), np_ranks=np_ranks)

    def test_one_two_and_three_ranks_agree(self):
        runs = {}
        for n in (1, 2, 3):
            out = os.path.join(self.work, "np%d" % n)
            self.train(out, ["--epochs", "3", "--batch-size", "8", "--lr", "0.01", "--save-predictions"], n)
            runs[n] = out
        a = read_csv(os.path.join(runs[1], "losses.csv"))
        wa = hl.read_safetensors(os.path.join(runs[1], "checkpoints", "epoch_3.safetensors"))
        pa = np.load(os.path.join(runs[1], "test_predictions.npz"))
        for n in (2, 3):
            b = read_csv(os.path.join(runs[n], "losses.csv"))
            self.assertEqual(len(a), len(b))
            for ra, rb in zip(a[1:], b[1:]):
                for x, y in zip(ra[1:], rb[1:]):
                    # stated bound, as tests/app/test_train.py: float32 gradient sums split over
                    # ranks round differently
                    print("np1 vs np%d: %s vs %s (diff %.3g)" % (n, x, y, float(x) - float(y)))
                    self.assertAlmostEqual(float(x), float(y), delta=1e-5 * max(1.0, abs(float(x))), msg=(n, ra, rb))
            wb = hl.read_safetensors(os.path.join(runs[n], "checkpoints", "epoch_3.safetensors"))
            for name in hl.NAMES:
                d = float(np.abs(wa[name] - wb[name]).max())
                print("np1 vs np%d: %s max |dw| %.3g" % (n, name, d))
                self.assertLess(d, 1e-4, (n, name))
            pb = np.load(os.path.join(runs[n], "test_predictions.npz"))
            for k in ("bed_row", "position", "y_true"):
                np.testing.assert_array_equal(pa[k], pb[k])
            differ = int((pa["y_pred"] != pb["y_pred"]).sum())
            print("np1 vs np%d: %d of %d test predictions differ" % (n, differ, len(pa["y_pred"])))
            self.assertEqual(differ, 0, n)
            ma, mb = (read_csv(os.path.join(runs[k], "best_model_metrics.csv")) for k in (1, n))
            self.assertEqual(ma[0], mb[0])
            for col, x, y in zip(ma[0], ma[1], mb[1]):
                self.assertAlmostEqual(float(x), float(y), delta=1e-5 * max(1.0, abs(float(x))), msg=(n, col))

    def test_steps_equal_bends_padded_batches_and_not_per_rank_padding(self):
        # Train on the small `valid` split as ONE global batch: every epoch is one step, so the
        # training loss of epoch e is the loss of one BEND step on the whole padded batch with the
        # weights of epoch e - 1. Evaluation runs on `test` in batches of that size, in shard order.
        train, test = self.split["valid"], self.split["test"]
        lengths = [len(r["outputs"]) for r in train]
        self.assertGreater(max(lengths) - min(lengths), 50, "variable-length rows")
        bsz = len(train)
        epochs = 6
        for n in (2, 3):
            out = os.path.join(self.work, "step_np%d" % n)
            self.train(out, ["--epochs", str(epochs), "--batch-size", str(bsz), "--lr", "0.03", "--train-splits",
                             "valid", "--valid-splits", "test", "--test-splits", "test"], n)
            rows = read_csv(os.path.join(out, "losses.csv"))[1:]
            model = bends_cnn(5, 64, 3, 9, SEED)  # epoch 1 starts from the seeded weights
            wrong_diff = 0.0  # the largest |bend - per-rank padding reference| over the losses

            def load(epoch):
                w = hl.read_safetensors(os.path.join(out, "checkpoints", "epoch_%d.safetensors" % epoch))
                model.load_state_dict({k: torch.from_numpy(np.array(w[k])) for k in hl.NAMES}, strict=True)

            for e in range(1, epochs + 1):
                if e > 1:
                    load(e - 1)
                want, _, _ = batch_loss_and_preds(model, train)
                wrong, _, _ = batch_loss_and_preds(model, train, split_in=n)
                got = float(rows[e - 1][1])
                print("np%d epoch %d train loss: bend %.8f, BEND's padding %.8f (diff %.2g), per-rank padding %.8f "
                      "(diff %.2g)" % (n, e, got, want, got - want, wrong, got - wrong))
                self.assertAlmostEqual(got, want, delta=1e-5)
                wrong_diff = max(wrong_diff, abs(got - wrong))
                # validation with this epoch's weights: batches of bsz rows, BEND's mean of batch losses
                load(e)
                batches = [test[k:k + bsz] for k in range(0, len(test), bsz)]
                res = [batch_loss_and_preds(model, b) for b in batches]
                want = float(np.mean([r[0] for r in res]))
                pred, true = np.concatenate([r[1] for r in res]), np.concatenate([r[2] for r in res])
                wrong = float(np.mean([batch_loss_and_preds(model, b, split_in=n)[0] for b in batches]))
                got = float(rows[e - 1][2])
                print("np%d epoch %d val loss: bend %.8f, BEND's padding %.8f (diff %.2g), per-rank padding %.8f "
                      "(diff %.2g)" % (n, e, got, want, got - want, wrong, got - wrong))
                self.assertAlmostEqual(got, want, delta=1e-5)
                wrong_diff = max(wrong_diff, abs(got - wrong))
                self.assertAlmostEqual(float(rows[e - 1][3]), matthews_corrcoef(true, pred), delta=1e-6)
            # the wrong reference (each rank's part padded to its own longest row) is told apart:
            # the padding's activations move the last positions' logits by more than the bound
            self.assertGreater(wrong_diff, 1e-4, "per-rank padding must give other losses")


    def test_resnet_supervised_agrees_across_rank_counts(self):
        # BEND's ResNet baseline end to end on the one-hot rows (bend masks the padding before each
        # convolution, docs/training.md): the same losses and predictions at np 1 and 3 (one epoch:
        # this 30-block model at BEND's lr amplifies rounding differences epoch after epoch)
        runs = {}
        for n in (1, 3):
            out = os.path.join(self.work, "resnet_np%d" % n)
            self.train(out, ["--model", "resnet-supervised", "--epochs", "1", "--batch-size", "4", "--train-splits",
                             "valid", "--valid-splits", "test", "--test-splits", "test", "--save-predictions"], n)
            runs[n] = out
        a = read_csv(os.path.join(runs[1], "losses.csv"))
        pa = np.load(os.path.join(runs[1], "test_predictions.npz"))
        for n in (3,):
            b = read_csv(os.path.join(runs[n], "losses.csv"))
            for ra, rb in zip(a[1:], b[1:]):
                for x, y in zip(ra[1:], rb[1:]):
                    print("resnet np1 vs np%d: %s vs %s (diff %.3g)" % (n, x, y, float(x) - float(y)))
                    self.assertAlmostEqual(float(x), float(y), delta=1e-5 * max(1.0, abs(float(x))), msg=(n, ra, rb))
            pb = np.load(os.path.join(runs[n], "test_predictions.npz"))
            np.testing.assert_array_equal(pa["y_true"], pb["y_true"])
            self.assertEqual(int((pa["y_pred"] != pb["y_pred"]).sum()), 0, n)


if __name__ == "__main__":
    unittest.main()
