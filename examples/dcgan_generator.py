"""
A DCGAN-style generator, checked against PyTorch
================================================

The generator of DCGAN (Radford, Metz and Chintala, 2015) turns a random
vector into an image with a stack of transposed convolutions: kernel 4,
stride 2, padding 1 doubles the side at every layer.  Here its forward pass
runs on NumPy arrays with :func:`fastconv.conv_transpose2d` (small widths,
random weights, batch normalisation left out), and, when PyTorch is
installed, the same weights through ``torch.nn.functional.conv_transpose2d``
give the same images.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastconv

rng = np.random.default_rng(0)
channels = [32, 16, 8, 4, 3]          # z -> 4x4 -> 8x8 -> 16x16 -> 32x32 RGB
z = rng.standard_normal((4, channels[0], 1, 1)).astype(np.float32)
weights = [(rng.standard_normal((c_in, c_out, 4, 4)) / np.sqrt(c_in * 4)).astype(np.float32)
           for c_in, c_out in zip(channels, channels[1:])]
# (stride, padding): the first layer turns 1x1 into 4x4, the others double
settings = [(1, 0)] + [(2, 1)] * (len(weights) - 1)


def generator(z, weights):
    h = z
    for layer, (weight, (stride, padding)) in enumerate(zip(weights, settings)):
        h = fastconv.conv_transpose2d(h, weight, stride=stride, padding=padding)
        h = np.tanh(h) if layer == len(weights) - 1 else np.maximum(h, 0)
        print(f"layer {layer + 1}: {weight.shape[0]:>2} -> {weight.shape[1]:>2} channels, "
              f"{h.shape[2]}x{h.shape[3]}")
    return h


images = generator(z, weights)

# %%
# The same forward pass in PyTorch, if it is installed.
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("PyTorch is not installed: the cross-check is skipped")
else:
    h = torch.from_numpy(z)
    for layer, (weight, (stride, padding)) in enumerate(zip(weights, settings)):
        h = F.conv_transpose2d(h, torch.from_numpy(weight), stride=stride, padding=padding)
        h = torch.tanh(h) if layer == len(weights) - 1 else torch.relu(h)
    difference = np.abs(h.numpy() - images).max()
    print(f"torch {torch.__version__}: largest difference {difference:.2e}")
    assert difference < 1e-4

# %%
# Four "generated" images (untrained weights, so only texture).
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), layout="constrained")
for ax, image in zip(axes, images):
    ax.imshow((image.transpose(1, 2, 0) + 1) / 2)
    ax.set_axis_off()
fig.suptitle("generator output, 4 samples of 32x32x3")
plt.show()
