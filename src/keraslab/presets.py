"""Named network presets, Keras-free so that the CLI can check ``--arch`` before loading Keras."""

GAN_ARCHITECTURES: dict[str, str] = {
    "dcgan": "DCGAN paper, small: BatchNorm+ReLU generator 7x7x128 -> 14x14x64 -> 28x28x32 -> "
    "3x3 conv; BatchNorm+LeakyReLU discriminator 64-128",
    "lecture": "the course's v2 networks: Dense 7x7x8, ConvT 64-128-128 (strides 2-2-1), "
    "LeakyReLU, no normalisation; discriminator 32-64-64 + dropout",
}
