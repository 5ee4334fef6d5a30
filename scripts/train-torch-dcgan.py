#!/usr/bin/env python3
"""Trains a label-conditional DCGAN generator for Fashion-MNIST with PyTorch (CPU) and
writes it as ONNX, the way a PyTorch user would: ConvTranspose2d + BatchNorm2d + ReLU,
Tanh, the label through nn.Embedding, exported by torch.onnx.export with default
settings. `firmware-sim compile` then turns it into the device models of
models/torch-dcgan-fashion/ (scripts/compile-models.sh).

    nice scripts/train-torch-dcgan.py [--steps 1200] [--out models/foreign/torch-dcgan-fashion]
    firmware-sim compile models/foreign/torch-dcgan-fashion/generator.onnx \
        --out-dir models/foreign/torch-dcgan-fashion

Deterministic for a given --seed and thread count (torch.manual_seed; one thread by
default: on a busy two-core machine two OpenMP threads made a step ten times slower). Reads the Debian dataset-fashion-mnist files
(/usr/share/datasets/fashion-mnist, or --data DIR). Generator: z [N, 32] and an 8-wide
class embedding as a [N, 40, 1, 1] column -> ConvTranspose2d to 48 maps at 7x7 ->
ConvTranspose2d (stride 2) to 24 maps at 14x14 -> ConvTranspose2d (stride 2) to 1x28x28,
Tanh; 64,000 weights, 1.1 M MACs per sample. Discriminator: the image plus the label as
10 one-hot planes, two strided convolutions, a linear score.
"""

import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NZ = 32
CLASSES = 10
EMB = 8


class Generator(nn.Module):
    def __init__(self, nz=NZ, classes=CLASSES, emb=EMB, ngf=24):
        super().__init__()
        self.embed = nn.Embedding(classes, emb)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz + emb, ngf * 2, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z, label):
        h = torch.cat([z, self.embed(label)], 1)
        return self.net(h.unsqueeze(-1).unsqueeze(-1))


class Discriminator(nn.Module):
    def __init__(self, classes=CLASSES, ndf=16):
        super().__init__()
        self.classes = classes
        self.net = nn.Sequential(
            nn.Conv2d(1 + classes, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
            nn.Linear(ndf * 2 * 7 * 7, 1),
        )

    def forward(self, x, label):
        planes = F.one_hot(label, self.classes).float()[:, :, None, None]
        planes = planes.expand(-1, -1, x.shape[2], x.shape[3])
        return self.net(torch.cat([x, planes], 1)).squeeze(1)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir):
    try:
        x = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    except OSError as e:
        sys.exit(f"Fashion-MNIST not found in {data_dir} ({e}); scripts/setup.sh installs "
                 "dataset-fashion-mnist, or pass --data DIR")
    x = torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(y.astype(np.int64))


def export(g, path):
    g.eval()
    z = torch.randn(5, NZ, generator=torch.Generator().manual_seed(7))
    label = torch.arange(5) % CLASSES
    tmp = path + ".tmp"
    torch.onnx.export(
        g, (z, label), tmp, opset_version=13, input_names=["z", "label"],
        output_names=["x"],
        dynamic_axes={"z": {0: "N"}, "label": {0: "N"}, "x": {0: "N"}},
    )
    os.replace(tmp, path)


def write_reference(out):
    """Fixed inputs (z.npy float32 [8, 32], label.npy int64 [8]) and ONNX Runtime's output
    on them (output.npy), beside generator.onnx, as tests/corpus stores them: the
    cross-engine tests hold the device models to them."""
    sys.path.insert(0, os.path.join(ROOT, ".deps", "onnxruntime"))
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("onnxruntime is missing from .deps/onnxruntime: run scripts/setup.sh")
    rng = np.random.default_rng(1000)
    z = rng.standard_normal((8, NZ)).astype(np.float32)
    label = (np.arange(8) % CLASSES).astype(np.int64)
    session = ort.InferenceSession(os.path.join(out, "generator.onnx"),
                                   providers=["CPUExecutionProvider"])
    (x,) = session.run(None, {"z": z, "label": label})
    for name, array in [("z", z), ("label", label), ("output", x.astype(np.float32))]:
        np.save(os.path.join(out, name + ".npy"), array)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "foreign",
                                                  "torch-dcgan-fashion"))
    ap.add_argument("--reference-only", action="store_true",
                    help="only rewrite z.npy, label.npy and output.npy for OUT/generator.onnx")
    a = ap.parse_args()
    if a.reference_only:
        write_reference(a.out)
        return
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load(a.data)
    g, d = Generator(), Discriminator()
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(a.batch), torch.zeros(a.batch)
    start = time.time()
    for step in range(1, a.steps + 1):
        idx = torch.randint(0, x.shape[0], (a.batch,))
        real, label = x[idx], y[idx]
        z = torch.randn(a.batch, NZ)
        fake_label = torch.randint(0, CLASSES, (a.batch,))
        fake = g(z, fake_label)
        # D step: the fake batch labelled 0 and the real batch labelled 1
        od.zero_grad()
        ld = bce(d(real, label), ones) + bce(d(fake.detach(), fake_label), zeros)
        ld.backward()
        od.step()
        # G step, non-saturating
        og.zero_grad()
        lg = bce(d(fake, fake_label), ones)
        lg.backward()
        og.step()
        if step % 100 == 0 or step == a.steps:
            print(f"step {step} loss_d {ld.item() / 2:.3f} loss_g {lg.item():.3f} "
                  f"{time.time() - start:.0f} s", flush=True)
    os.makedirs(a.out, exist_ok=True)
    export(g, os.path.join(a.out, "generator.onnx"))
    write_reference(a.out)
    print(f"wrote {os.path.join(a.out, 'generator.onnx')} (and z/label/output.npy)")


if __name__ == "__main__":
    main()
