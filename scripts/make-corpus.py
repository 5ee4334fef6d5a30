#!/usr/bin/python3
"""Writes tests/corpus/: generators written the way PyTorch users write them, exported
with torch.onnx.export (Debian's python3-torch 1.13, legacy exporter), and ONNX Runtime's
outputs on fixed inputs beside each.

    /usr/bin/python3 scripts/make-corpus.py          # needs python3-torch, python3-onnx
    PYTHONPATH=.deps/onnxruntime                      # (set by the script) for the outputs

Each tests/corpus/<name>/ holds generator.onnx, the inputs (z.npy float32 [N, Z], and
label.npy int64 [N] for conditional models) and output.npy (ONNX Runtime's output,
float32). The weights are random (seeded) but BatchNorm statistics are set to non-trivial
values so that folding them is tested. Where torch cannot emit a node (it drops Dropout
in eval mode), the script inserts it with the onnx helper API exactly as an exporter in
training-preserving mode writes it.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".deps", "onnxruntime"))
import onnxruntime  # noqa: E402

OUT = os.path.join(ROOT, "tests", "corpus")
BATCH = 5


def settle_bn(model, gen, nz, classes):
    """BatchNorm as after training: random affine parameters, and running statistics
    measured on 32 batches of the model's own inputs (cumulative average), so folding
    them into the layer before is tested on realistic values."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in bns:
        n = m.num_features
        m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
        m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
        m.reset_running_stats()
        m.momentum = None
    if not bns:
        return
    model.train()
    with torch.no_grad():
        for _ in range(32):
            z = torch.randn(64, *nz, generator=gen)
            if classes is None:
                model(z)
            else:
                model(z, torch.randint(0, classes, (64,), generator=gen))


class Dcgan(nn.Module):
    """PyTorch's DCGAN tutorial generator, small, conditional through nn.Embedding:
    z [N, Z] and the class embedding as a [N, Z + E, 1, 1] column, ConvTranspose2d
    (bias-free) + BatchNorm2d + ReLU, Tanh, 1x16x16."""

    def __init__(self, nz=16, classes=10, emb=8):
        super().__init__()
        self.embed = nn.Embedding(classes, emb)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz + emb, 32, 4, 1, 0, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(True),
            nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z, label):
        h = torch.cat([z, self.embed(label)], 1)
        return self.net(h.unsqueeze(-1).unsqueeze(-1))


class DcganTutorial(nn.Module):
    """PyTorch's DCGAN tutorial generator as written there (unconditional, noise
    [N, nz, 1, 1], bias-free ConvTranspose2d + BatchNorm2d + ReLU, Tanh), scaled down to
    1x16x16."""

    def __init__(self, nz=12, ngf=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class MlpBn(nn.Module):
    """A conditional MLP with BatchNorm1d after each Linear; exported without names."""

    def __init__(self, nz=8, classes=4, emb=4):
        super().__init__()
        self.embed = nn.Embedding(classes, emb)
        self.net = nn.Sequential(
            nn.Linear(nz + emb, 48),
            nn.BatchNorm1d(48),
            nn.ReLU(),
            nn.Linear(48, 48),
            nn.BatchNorm1d(48),
            nn.ReLU(),
            nn.Linear(48, 2),
            nn.Tanh(),
        )

    def forward(self, z, label):
        return self.net(torch.cat([z, self.embed(label)], 1))


class OneHotMlp(nn.Module):
    """Label as F.one_hot(label, C).float() (ONNX OneHot + Cast), LeakyReLU."""

    def __init__(self, nz=8, classes=6):
        super().__init__()
        self.classes = classes
        self.l1 = nn.Linear(nz + classes, 32)
        self.l2 = nn.Linear(32, 3 * 4 * 4)

    def forward(self, z, label):
        h = torch.cat([z, F.one_hot(label, self.classes).float()], 1)
        h = F.leaky_relu(self.l1(h), 0.2)
        return torch.tanh(self.l2(h)).view(-1, 3, 4, 4)


class Uncond(nn.Module):
    """Unconditional: Linear, reshape to 7x7, ConvTranspose2d with output_padding (7 ->
    14 -> 28, with and without bias), BatchNorm2d, LeakyReLU, Tanh."""

    def __init__(self, nz=10):
        super().__init__()
        self.fc = nn.Linear(nz, 8 * 7 * 7)
        self.up1 = nn.ConvTranspose2d(8, 6, 3, 2, 1, output_padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.up2 = nn.ConvTranspose2d(6, 1, 3, 2, 1, output_padding=1)

    def forward(self, z):
        h = F.relu(self.fc(z)).view(-1, 8, 7, 7)
        h = F.leaky_relu(self.bn(self.up1(h)), 0.2)
        return torch.tanh(self.up2(h))


class SigmoidMlp(nn.Module):
    """A [0, 1] generator: Linear + ReLU, Sigmoid, output flattened to [N, 1, 8, 8] via
    Unsqueeze and a Flatten in between."""

    def __init__(self, nz=6):
        super().__init__()
        self.l1 = nn.Linear(nz, 32)
        self.l2 = nn.Linear(32, 64)

    def forward(self, z):
        h = torch.flatten(F.relu(self.l1(z)).unsqueeze(1), 1)
        return torch.sigmoid(self.l2(h)).view(-1, 8, 8).unsqueeze(1)


def insert_dropout(path, after_op):
    """Puts an inference Dropout (ratio 0.3) after the first `after_op` node, as an
    exporter that keeps Dropout writes it."""
    m = onnx.load(path)
    g = m.graph
    for i, node in enumerate(g.node):
        if node.op_type == after_op:
            old = node.output[0]
            new = old + "_predrop"
            node.output[0] = new
            drop = helper.make_node("Dropout", [new], [old], name="dropout_0", ratio=0.3)
            if m.opset_import[0].version >= 12:
                # opset 12+ takes the ratio as an input
                ratio = helper.make_tensor("dropout_ratio", onnx.TensorProto.FLOAT, [], [0.3])
                g.initializer.append(ratio)
                drop = helper.make_node("Dropout", [new, "dropout_ratio"], [old], name="dropout_0")
            g.node.insert(i + 1, drop)
            break
    else:
        raise SystemExit(f"{path}: no {after_op} node")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def export(name, model, nz, classes=None, names=True, dropout_after=None, z_tail=()):
    # torch's default initialisation (seeded in main), embeddings N(0, 1)
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    settle_bn(model, gen, (nz, *z_tail), classes)
    model.eval()
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "generator.onnx")
    z = torch.randn(BATCH, nz, *z_tail, generator=gen)
    args = (z,)
    feeds = {}
    if classes is not None:
        label = torch.arange(BATCH) % classes
        args = (z, label)
    kw = dict(opset_version=13, do_constant_folding=True)
    if names:
        input_names = ["noise", "class_id"][: len(args)]
        kw.update(
            input_names=input_names,
            output_names=["image"],
            dynamic_axes={n: {0: "batch"} for n in input_names + ["image"]},
        )
    torch.onnx.export(model, args, path, **kw)
    if dropout_after:
        insert_dropout(path, dropout_after)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    in_names = [i.name for i in m.graph.input]
    feeds = {in_names[0]: z.numpy()}
    np.save(os.path.join(folder, "z.npy"), z.numpy())
    if classes is not None:
        feeds[in_names[1]] = label.numpy().astype(np.int64)
        np.save(os.path.join(folder, "label.npy"), label.numpy().astype(np.int64))
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, feeds)
    with torch.no_grad():
        ref = model(*args).numpy()
    assert np.abs(out - ref).max() < 1e-5, (name, np.abs(out - ref).max())
    np.save(os.path.join(folder, "output.npy"), out.astype(np.float32))
    print(f"{name}: inputs {in_names}, output {list(out.shape)}, {os.path.getsize(path)} B")


def bad_models():
    """Foreign graphs the compiler must refuse with a clear error (tests/corpus/bad/)."""
    from onnx import TensorProto as T

    folder = os.path.join(OUT, "bad")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)

    def w(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    def save(name, nodes, inputs, inits=()):
        out = helper.make_tensor_value_info("y", T.FLOAT, ["N", 3 if name == "unsupported-ops" else 4] if name != "dynamic-mask" else ["N", 1, "H", "W"])
        g = helper.make_graph(nodes, name, inputs, [out], list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(m, full_check=False)
        onnx.save(m, os.path.join(folder, f"{name}.onnx"))

    f = lambda n, shape: helper.make_tensor_value_info(n, T.FLOAT, shape)
    # two ops with no lowering (Sin, Erf) on the way to the output
    save(
        "unsupported-ops",
        [
            helper.make_node("Sin", ["z"], ["s"], name="wave"),
            helper.make_node("MatMul", ["s", "W"], ["h"], name="fc"),
            helper.make_node("Erf", ["h"], ["e"], name="squash"),
            helper.make_node("Tanh", ["e"], ["y"], name="out"),
        ],
        [f("z", ["N", 4])],
        [w("W", (4, 3))],
    )
    # two float [N, Z] inputs: which is the noise?
    save(
        "two-floats",
        [
            helper.make_node("Add", ["a", "b"], ["s"], name="sum"),
            helper.make_node("Tanh", ["s"], ["y"], name="out"),
        ],
        [f("a", ["N", 4]), f("b", ["N", 4])],
    )
    # a label declared float32
    save(
        "float-label",
        [
            helper.make_node("Cast", ["c"], ["ci"], name="to_int", to=T.INT64),
            helper.make_node("Gather", ["E", "ci"], ["e"], name="embed"),
            helper.make_node("Add", ["z", "e"], ["s"], name="sum"),
            helper.make_node("Tanh", ["s"], ["y"], name="out"),
        ],
        [f("z", ["N", 4]), helper.make_tensor_value_info("c", T.FLOAT, ["N"])],
        [w("E", (3, 4))],
    )
    # an inpainting graph with symbolic height and width
    save(
        "dynamic-mask",
        [
            helper.make_node("Mul", ["m", "x"], ["k"], name="keep"),
            helper.make_node("Tanh", ["k"], ["y"], name="out"),
        ],
        [f("z", ["N", 4]), f("m", ["N", 1, "H", "W"]), f("x", ["N", 1, "H", "W"])],
    )
    print("bad: unsupported-ops, two-floats, float-label, dynamic-mask")


def main():
    bad_models()
    # each model is initialised from its own seed, so adding one changes no other
    models = [
        ("torch-dcgan", Dcgan, 16, dict(classes=10)),
        ("torch-dcgan-tutorial", DcganTutorial, 12, dict(z_tail=(1, 1))),
        ("torch-mlp-bn", MlpBn, 8, dict(classes=4, names=False)),
        ("torch-onehot-mlp", OneHotMlp, 8, dict(classes=6)),
        ("torch-uncond-deconv", Uncond, 10, dict(dropout_after="Relu")),
        ("torch-sigmoid-mlp", SigmoidMlp, 6, {}),
    ]
    for name, make, nz, kw in models:
        torch.manual_seed(sum(map(ord, name)))
        export(name, make(), nz, **kw)


if __name__ == "__main__":
    main()
