"""Writes the Keras generators of tests/corpus/ through tf2onnx: the model exported as a
Keras user exports it (TensorFlow's DCGAN tutorial generator, NHWC, channels last), and the
inputs and Keras' own output beside it. Run by scripts/make-corpus.py with the
TensorFlow venv it sets up (.deps/keras-venv: tensorflow-cpu and tf2onnx from PyPI); that
script then runs ONNX Runtime on the file and checks it against Keras' output.

    .deps/keras-venv/bin/python scripts/make-corpus-keras.py OUT_DIR
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

BATCH = 5


def settle_bn(model, rng):
    """BatchNormalization as after training: random gamma/beta and running statistics."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            n = gamma.shape[0]
            layer.set_weights(
                [
                    (rng.random(n) + 0.5).astype(np.float32),
                    (rng.standard_normal(n) * 0.1).astype(np.float32),
                    (rng.standard_normal(n) * 0.2).astype(np.float32),
                    (rng.random(n) * 0.5 + 0.5).astype(np.float32),
                ]
            )


def keras_dcgan(nz=16, classes=10, emb=8):
    """TensorFlow's DCGAN tutorial generator (Dense, BatchNormalization, LeakyReLU,
    Reshape to 7x7 channels-last, Conv2DTranspose 'same' with strides 1, 2, 2, tanh),
    scaled down, conditional through a Keras Embedding concatenated with the noise."""
    z = keras.Input((nz,), name="z")
    label = keras.Input((), dtype="int64", name="label")
    e = layers.Embedding(classes, emb)(label)
    h = layers.Concatenate()([z, e])
    h = layers.Dense(7 * 7 * 16, use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    h = layers.LeakyReLU(0.2)(h)
    h = layers.Reshape((7, 7, 16))(h)
    h = layers.Conv2DTranspose(16, 5, strides=1, padding="same", use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    h = layers.LeakyReLU(0.2)(h)
    h = layers.Conv2DTranspose(8, 5, strides=2, padding="same", use_bias=False)(h)
    h = layers.BatchNormalization()(h)
    h = layers.LeakyReLU(0.2)(h)
    x = layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")(h)
    return keras.Model([z, label], x), nz, classes


def keras_upsample(nz=12):
    """Unconditional, channels-last: Dense, Reshape to 4x4x3 RGB-like maps, bilinear
    UpSampling2D, Conv2D 'same' with ELU, ZeroPadding2D + 'valid' Conv2D, tanh: 3x16x16."""
    z = keras.Input((nz,), name="z")
    h = layers.Dense(4 * 4 * 8, activation="relu")(z)
    h = layers.Reshape((4, 4, 8))(h)
    h = layers.UpSampling2D(2, interpolation="bilinear")(h)
    h = layers.Conv2D(8, 3, padding="same", activation="elu")(h)
    h = layers.UpSampling2D(2, interpolation="bilinear")(h)
    h = layers.ZeroPadding2D(1)(h)
    x = layers.Conv2D(3, 3, padding="valid", activation="tanh")(h)
    return keras.Model(z, x), nz, None


def export(out, name, make, seed):
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model, nz, classes = make()
    settle_bn(model, rng)
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    z = rng.standard_normal((BATCH, nz)).astype(np.float32)
    sig = [tf.TensorSpec([None, nz], tf.float32, name="z")]
    args = [z]
    if classes is not None:
        label = (np.arange(BATCH) % classes).astype(np.int64)
        sig.append(tf.TensorSpec([None], tf.int64, name="label"))
        args.append(label)
        np.save(os.path.join(folder, "label.npy"), label)

        @tf.function(input_signature=sig)
        def f(z, label):
            return model([z, label], training=False)

    else:

        @tf.function(input_signature=sig)
        def f(z):
            return model(z, training=False)

    path = os.path.join(folder, "generator.onnx")
    tf2onnx.convert.from_function(f, input_signature=sig, opset=13, output_path=path)
    np.save(os.path.join(folder, "z.npy"), z)
    ref = model(args if classes is not None else z, training=False).numpy()
    np.save(os.path.join(folder, "keras_output.npy"), ref.astype(np.float32))
    print(f"{name}: keras output {list(ref.shape)}, {os.path.getsize(path)} B")


def main():
    out = sys.argv[1]
    export(out, "keras-dcgan", keras_dcgan, 11)
    export(out, "keras-upsample", keras_upsample, 12)


if __name__ == "__main__":
    main()
