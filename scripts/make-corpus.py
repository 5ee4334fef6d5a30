#!/usr/bin/python3
"""Writes tests/corpus/: generators written the way PyTorch and Keras users write them,
exported with torch.onnx.export (Debian's python3-torch 1.13, legacy exporter; PyPI's
torch 2.15 with `dynamo=True`, in a venv this script sets up) and with tf2onnx (Keras 3 on
tensorflow-cpu, in another venv this script sets up), and ONNX Runtime's outputs on fixed
inputs beside each.

    /usr/bin/python3 scripts/make-corpus.py          # needs python3-torch, python3-onnx
    PYTHONPATH=.deps/onnxruntime                      # (set by the script) for the outputs
    /usr/bin/python3 scripts/make-corpus.py --no-keras --no-dynamo   # Debian's torch only

The dynamo-exported models (torch-dynamo-*: the same generator definitions as their
legacy-exported twins, through `torch.onnx.export(..., dynamo=True)`) come from this script
run again with .deps/torch2-venv's python and `--dynamo-only` (the venv created here on
first use: `python3 -m venv` and pip's torch, onnxscript and onnx at the versions pinned in
TORCH2_PACKAGES; PyPI's Linux torch wheel pulls its CUDA libraries, about 3 GB downloaded
and 5.5 GB installed, which it loads even on a CPU-only machine).

The Keras models come from scripts/make-corpus-keras.py, run with .deps/keras-venv (created
here on first use: `python3 -m venv` and pip's tensorflow-cpu, tf2onnx and onnx at the
versions pinned in KERAS_PACKAGES; an existing venv with them is reused).

Each tests/corpus/<name>/ holds generator.onnx, the inputs (z.npy float32 [N, Z];
label.npy int64 [N] for label-conditioned models; mask.npy and masked.npy float32
[N, C, H, W] for inpainting models) and output.npy (ONNX Runtime's output, float32). The
weights are random (seeded) but BatchNorm statistics are set to non-trivial values so that
folding them is tested. Where torch cannot emit a node (it drops Dropout in eval mode),
the script inserts it with the onnx helper API exactly as an exporter in
training-preserving mode writes it.
"""
import os
import subprocess
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
KERAS_VENV = os.path.join(ROOT, ".deps", "keras-venv")
KERAS_PACKAGES = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx==1.23.2"]
TORCH2_VENV = os.path.join(ROOT, ".deps", "torch2-venv")
TORCH2_PACKAGES = ["torch==2.15.0", "onnxscript==0.7.2", "onnx==1.23.2"]


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


class UpsampleConv(nn.Module):
    """Upsample + conv instead of ConvTranspose2d: a F.one_hot label, Linear + LeakyReLU
    to 8x4x4, then twice bilinear nn.Upsample(scale_factor=2) (align_corners=False) and a
    Conv2d: the first after nn.ZeroPad2d(1) with no padding of its own, with ELU; the
    second with Softplus; a last Conv2d + Tanh. 1x16x16."""

    def __init__(self, nz=10, classes=5):
        super().__init__()
        self.classes = classes
        self.fc = nn.Linear(nz + classes, 8 * 4 * 4)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.pad = nn.ZeroPad2d(1)
        self.c1 = nn.Conv2d(8, 8, 3)
        self.c2 = nn.Conv2d(8, 6, 3, padding=1)
        self.c3 = nn.Conv2d(6, 1, 3, padding=1)

    def forward(self, z, label):
        h = torch.cat([z, F.one_hot(label, self.classes).float()], 1)
        h = F.leaky_relu(self.fc(h), 0.2).view(-1, 8, 4, 4)
        h = F.elu(self.c1(self.pad(self.up(h))))
        h = F.softplus(self.c2(self.up(h)))
        return torch.tanh(self.c3(h))


class ReflectPad(nn.Module):
    """pix2pix/CycleGAN-style padding in front of unpadded 3x3 Conv2d layers, conditional
    through nn.Embedding: nn.ReflectionPad2d(1), nn.ReplicationPad2d(1) (ONNX Pad `edge`)
    and nn.ConstantPad2d(1, 0.5) (a non-zero constant, which no Conv padding can take),
    BatchNorm2d + ReLU between, nearest Upsample, Tanh. 1x16x16."""

    def __init__(self, nz=8, classes=3):
        super().__init__()
        self.embed = nn.Embedding(classes, 4)
        self.fc = nn.Linear(nz + 4, 8 * 4 * 4)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.reflect = nn.ReflectionPad2d(1)
        self.c1 = nn.Conv2d(8, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.edge = nn.ReplicationPad2d(1)
        self.c2 = nn.Conv2d(8, 4, 3)
        self.const = nn.ConstantPad2d(1, 0.5)
        self.c3 = nn.Conv2d(4, 1, 3)

    def forward(self, z, label):
        h = F.relu(self.fc(torch.cat([z, self.embed(label)], 1))).view(-1, 8, 4, 4)
        h = F.relu(self.bn1(self.c1(self.reflect(self.up(h)))))
        h = F.relu(self.c2(self.edge(self.up(h))))
        return torch.tanh(self.c3(self.const(h)))


class UnetInpaint(nn.Module):
    """An inpainting U-Net in edgegan's contract (inputs z, mask, masked; 1 = known):
    the noise as a 16x16 plane beside the masked image and the mask, two strided Conv2d
    down (BatchNorm2d, LeakyReLU), ConvTranspose2d and nearest Upsample up, skip
    connections through torch.cat, Tanh, and the known pixels composited back:
    mask·masked + (1 − mask)·x. 1x16x16."""

    def __init__(self, nz=8):
        super().__init__()
        self.fc = nn.Linear(nz, 16 * 16)
        self.d1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.d2 = nn.Conv2d(8, 16, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(16)
        self.d3 = nn.Conv2d(16, 16, 4, 2, 1)
        self.u1 = nn.ConvTranspose2d(16, 16, 4, 2, 1)
        self.c1 = nn.Conv2d(32, 8, 3, 1, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c2 = nn.Conv2d(16, 8, 3, 1, 1)
        self.out = nn.Conv2d(8, 1, 3, 1, 1)

    def forward(self, z, mask, masked):
        n = self.fc(z).view(-1, 1, 16, 16)
        h1 = F.leaky_relu(self.d1(torch.cat([masked, mask, n], 1)), 0.2)
        h2 = F.leaky_relu(self.bn2(self.d2(h1)), 0.2)
        h3 = F.relu(self.d3(h2))
        u = F.relu(self.u1(h3))
        u = F.relu(self.c1(torch.cat([u, h2], 1)))
        u = F.relu(self.c2(torch.cat([self.up(u), h1], 1)))
        x = torch.tanh(self.out(u))
        return mask * masked + (1 - mask) * x


def test_masks(gen, n, c, h, w):
    """Rectangular holes (0 = to generate) of seeded sizes, and images in [-1, 1]."""
    mask = torch.ones(n, c, h, w)
    for i in range(n):
        y0, x0 = torch.randint(0, h // 2, (2,), generator=gen).tolist()
        mask[i, :, y0 : y0 + h // 2, x0 : x0 + w // 2] = 0
    image = torch.rand(n, c, h, w, generator=gen) * 2 - 1
    return mask, image * mask


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


def export(
    name, model, nz, classes=None, names=True, dropout_after=None, z_tail=(), mask=None, dynamo=False, seed=None
):
    # torch's default initialisation (seeded in export_all), embeddings N(0, 1)
    gen = torch.Generator().manual_seed(sum(map(ord, seed or name)))
    if mask is None:
        settle_bn(model, gen, (nz, *z_tail), classes)
    else:
        settle_bn_mask(model, gen, nz, mask)
    model.eval()
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "generator.onnx")
    z = torch.randn(BATCH, nz, *z_tail, generator=gen)
    args = (z,)
    if classes is not None:
        label = torch.arange(BATCH) % classes
        args = (z, label)
    if mask is not None:
        m, masked = test_masks(gen, BATCH, *mask)
        args = (z, m, masked)
    input_names = ["noise", "class_id"][: len(args)]
    if mask is not None:
        # edgegan's inpainting contract names: the roles need no flags
        input_names = ["z", "mask", "masked"]
    if dynamo:
        # as a torch >= 2.5 user exports: the exporter's default opset and optimisation,
        # the batch dimension dynamic; without names, inputs are named after forward()'s
        # parameters. The weights in the one file (dynamo's default writes them to
        # generator.onnx.data beside it, which the compiler does not read)
        batch = torch.export.Dim("batch")
        kw = dict(dynamo=True, external_data=False, dynamic_shapes=tuple({0: batch} for _ in args))
        if names:
            kw.update(input_names=input_names, output_names=["image"])
    else:
        kw = dict(opset_version=13, do_constant_folding=True)
        if names:
            kw.update(
                input_names=input_names,
                output_names=["image"],
                dynamic_axes={n: {0: "batch"} for n in input_names + ["image"]},
            )
    torch.onnx.export(model, args, path, **kw)
    if dropout_after:
        insert_dropout(path, dropout_after)
    with torch.no_grad():
        ref = model(*args).numpy()
    feeds = [a.numpy() for a in args]
    if classes is not None:
        feeds[1] = feeds[1].astype(np.int64)
    files = ["z.npy", "label.npy"] if mask is None else ["z.npy", "mask.npy", "masked.npy"]
    finish(name, folder, path, feeds, files, ref)


def finish(name, folder, path, feeds, files, ref):
    """Checks the file, saves the inputs under `files`, runs ONNX Runtime and saves its
    output; `ref` is the framework's own output, which ONNX Runtime must match."""
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    in_names = [i.name for i in m.graph.input]
    assert len(in_names) == len(feeds), (name, in_names)
    for f, a in zip(files, feeds):
        np.save(os.path.join(folder, f), a)
    sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, dict(zip(in_names, feeds)))
    assert np.abs(out - ref).max() < 1e-5, (name, np.abs(out - ref).max())
    np.save(os.path.join(folder, "output.npy"), out.astype(np.float32))
    print(f"{name}: inputs {in_names}, output {list(out.shape)}, {os.path.getsize(path)} B")


def settle_bn_mask(model, gen, nz, shape):
    """settle_bn for an inpainting model: its own inputs are noise, masks and images."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in bns:
        n = m.num_features
        m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
        m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(32):
            mask, masked = test_masks(gen, 64, *shape)
            model(torch.randn(64, nz, generator=gen), mask, masked)


def venv_python(venv, packages, modules):
    """The python of `venv`, created and given pip's `packages` unless it already
    imports `modules`."""
    py = os.path.join(venv, "bin", "python")
    check = [py, "-c", "import " + ", ".join(modules)]
    if not os.path.exists(py) or subprocess.run(check, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *packages], check=True)
    return py


def dynamo_models():
    """The dynamo-exported models: this script with --dynamo-only in the torch 2 venv (set
    up here on first use)."""
    py = venv_python(TORCH2_VENV, TORCH2_PACKAGES, ["torch", "onnxscript", "onnx"])
    subprocess.run([py, os.path.abspath(__file__), "--dynamo-only"], check=True)


def keras_models():
    """The Keras models: scripts/make-corpus-keras.py in the TensorFlow venv (set up here
    on first use), then ONNX Runtime's outputs, checked against Keras' own."""
    py = venv_python(KERAS_VENV, KERAS_PACKAGES, ["tensorflow", "tf2onnx", "onnx"])
    script = os.path.join(ROOT, "scripts", "make-corpus-keras.py")
    subprocess.run([py, script, OUT], check=True)
    for name in sorted(os.listdir(OUT)):
        folder = os.path.join(OUT, name)
        keras_out = os.path.join(folder, "keras_output.npy")
        if not name.startswith("keras-") or not os.path.exists(keras_out):
            continue
        ref = np.load(keras_out)
        os.remove(keras_out)
        files = ["z.npy"] + (["label.npy"] if os.path.exists(os.path.join(folder, "label.npy")) else [])
        feeds = [np.load(os.path.join(folder, f)) for f in files]
        finish(name, folder, os.path.join(folder, "generator.onnx"), feeds, files, ref)


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
    # variants of the supported ops that the compiler refuses, one node each, by name
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    f32c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
    image = [
        helper.make_node("Reshape", ["z", "to_image"], ["img"], name="reshape_image"),
    ]
    image_inits = [i64("to_image", [-1, 1, 4, 4])]

    def save_image(name, nodes, out_shape, inits):
        out = helper.make_tensor_value_info("y", T.FLOAT, out_shape)
        g = helper.make_graph(image + nodes, name, [f("z", ["N", 16])], [out], image_inits + inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, os.path.join(folder, f"{name}.onnx"))

    # bilinear Resize with align_corners (PyTorch's align_corners=True): not half-pixel
    save_image(
        "resize-align-corners",
        [
            helper.make_node(
                "Resize", ["img", "", "scales"], ["up"], name="up_ac", mode="linear",
                coordinate_transformation_mode="align_corners",
            ),
            helper.make_node("Tanh", ["up"], ["y"], name="out"),
        ],
        ["N", 1, 8, 8],
        [f32c("scales", [1, 1, 2, 2])],
    )
    # a Pad of the channel axis (the runtime pads height and width only)
    save_image(
        "pad-channels",
        [
            helper.make_node("Pad", ["img", "pads"], ["p"], name="pad_channels"),
            helper.make_node("Conv", ["p", "K"], ["c"], name="conv"),
            helper.make_node("Tanh", ["c"], ["y"], name="out"),
        ],
        ["N", 1, 2, 2],
        [i64("pads", [0, 1, 0, 0, 0, 1, 0, 0]), w("K", (1, 3, 3, 3))],
    )
    # a Transpose of a 6-D tensor (device tensors have at most 4 axes besides the batch)
    g = helper.make_graph(
        [
            helper.make_node("Reshape", ["z", "to_6d"], ["h"], name="reshape_6d"),
            helper.make_node("Transpose", ["h"], ["t"], name="shuffle_6d", perm=[0, 5, 4, 3, 2, 1]),
            helper.make_node("Reshape", ["t", "flat"], ["r"], name="flatten"),
            helper.make_node("Tanh", ["r"], ["y"], name="out"),
        ],
        "transpose-6d",
        [f("z", ["N", 48])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["N", 48])],
        [i64("to_6d", [-1, 2, 2, 2, 2, 3]), i64("flat", [-1, 48])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(folder, "transpose-6d.onnx"))
    # the label compared with 0..2 (dynamo's F.one_hot) and with 2..0 (not a one-hot)
    u = helper.make_node("Unsqueeze", ["c", "axis1"], ["u"], name="label_column")
    save(
        "equal-not-onehot",
        [
            u,
            helper.make_node("Equal", ["u", "arange"], ["oh"], name="eq_onehot"),
            helper.make_node("Cast", ["oh"], ["ohf"], name="onehot_float", to=T.FLOAT),
            helper.make_node("Equal", ["u", "reversed"], ["r"], name="eq_reversed"),
            helper.make_node("Cast", ["r"], ["rf"], name="reversed_float", to=T.FLOAT),
            helper.make_node("Add", ["ohf", "rf"], ["s"], name="both"),
            helper.make_node("MatMul", ["s", "W"], ["h"], name="fc"),
            helper.make_node("Add", ["z", "h"], ["a"], name="sum"),
            helper.make_node("Tanh", ["a"], ["y"], name="out"),
        ],
        [f("z", ["N", 4]), helper.make_tensor_value_info("c", T.INT64, ["N"])],
        [i64("axis1", [1]), i64("arange", [0, 1, 2]), i64("reversed", [2, 1, 0]), w("W", (3, 4))],
    )
    # the weights in a file beside the model (dynamo's default; the compiler reads one file)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["z", "W"], ["h"], name="fc"),
            helper.make_node("Tanh", ["h"], ["y"], name="out"),
        ],
        "external-data",
        [f("z", ["N", 4])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
        [w("W", (4, 4))],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m, full_check=True)
    data = os.path.join(folder, "external-data.onnx.data")
    if os.path.exists(data):
        os.remove(data)  # onnx.save appends to an existing data file
    onnx.save(
        m, os.path.join(folder, "external-data.onnx"), save_as_external_data=True,
        location="external-data.onnx.data", size_threshold=0,
    )
    print("bad: unsupported-ops, two-floats, float-label, dynamic-mask, resize-align-corners, "
          "pad-channels, transpose-6d, equal-not-onehot, external-data")


def export_one(name, make, nz, seed=None, **kw):
    # each model is initialised from its own seed, so adding one changes no other
    torch.manual_seed(sum(map(ord, seed or name)))
    export(name, make(), nz, seed=seed, **kw)


def export_dynamo():
    """The dynamo twins, run in the torch 2 venv: each is its legacy twin's definition
    with its seeds (the same weights and inputs), exported with dynamo=True; ONNX
    Runtime's output on it must match the twin's stored one."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if version < (2, 5):
        sys.exit(f"{sys.executable}: torch {torch.__version__}; dynamo=True needs >= 2.5")
    for name, twin, extra in DYNAMO_MODELS:
        _, make, nz, kw = next(m for m in TORCH_MODELS if m[0] == twin)
        export_one(name, make, nz, seed=twin, dynamo=True, **{**kw, **extra})
        ours, theirs = (np.load(os.path.join(OUT, n, "output.npy")) for n in (name, twin))
        err = np.abs(ours - theirs).max()
        assert err < 1e-5, f"{name}: ONNX Runtime's output {err} from {twin}'s"
        print(f"{name}: ONNX Runtime's output within {err:.1e} of {twin}'s")


def main():
    if "--dynamo-only" in sys.argv:
        # run by dynamo_models() with the torch 2 venv's python
        export_dynamo()
        return
    bad_models()
    for name, make, nz, kw in TORCH_MODELS:
        export_one(name, make, nz, **kw)
    if "--no-dynamo" not in sys.argv:
        dynamo_models()
    if "--no-keras" not in sys.argv:
        keras_models()


TORCH_MODELS = [
    ("torch-dcgan", Dcgan, 16, dict(classes=10)),
    ("torch-dcgan-tutorial", DcganTutorial, 12, dict(z_tail=(1, 1))),
    ("torch-mlp-bn", MlpBn, 8, dict(classes=4, names=False)),
    ("torch-onehot-mlp", OneHotMlp, 8, dict(classes=6)),
    ("torch-uncond-deconv", Uncond, 10, dict(dropout_after="Relu")),
    ("torch-sigmoid-mlp", SigmoidMlp, 6, {}),
    ("torch-unet-inpaint", UnetInpaint, 8, dict(mask=(1, 16, 16))),
    ("torch-upsample-conv", UpsampleConv, 10, dict(classes=5)),
    ("torch-reflect-pad", ReflectPad, 8, dict(classes=3)),
]
# the legacy-exported generators whose dynamo exports are in the corpus too (name, twin,
# changed arguments): the DCGAN (ConvTranspose2d + BatchNorm2d, which dynamo folds
# itself; Embedding label) and the OneHot MLP with the default names (dynamo names the
# inputs after forward()'s parameters; F.one_hot becomes Equal with an arange + Cast)
DYNAMO_MODELS = [
    ("torch-dynamo-dcgan", "torch-dcgan", {}),
    ("torch-dynamo-onehot-mlp", "torch-onehot-mlp", dict(names=False)),
    ("torch-dynamo-mlp-bn", "torch-mlp-bn", {}),
    ("torch-dynamo-unet-inpaint", "torch-unet-inpaint", dict(names=False)),
]


if __name__ == "__main__":
    main()
