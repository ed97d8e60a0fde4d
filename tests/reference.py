"""A slow, plainly written NumPy reference for convolution and transposed
convolution.  It shares no code with fastconv: padding is done by explicit
zero padding, and the transposed convolution by building the full
(uncropped) scatter-add output and cropping it.

Shapes follow PyTorch: x (N, C_in, *spatial), conv weight
(C_out, C_in/groups, *kernel), transposed weight (C_in, C_out/groups, *kernel).
``padding`` here is always explicit: one (before, after) pair per dim.
"""

import itertools
import math

import numpy as np


def same_padding(size, kernel, stride, dilation):
    """TensorFlow 'same' padding pair for one dim."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def conv(x, weight, bias=None, stride=None, padding=None, dilation=None, groups=1):
    """Convolution by explicit zero padding and a sum over kernel taps."""
    nd = x.ndim - 2
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    padding = padding or ((0, 0),) * nd
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding))
    kernel = weight.shape[2:]
    out_size = [
        (xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
        for i in range(nd)
    ]
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    cin_g, cout_g = c_in // groups, c_out // groups
    dtype = np.result_type(x, weight)
    out = np.zeros((n, c_out, *out_size), dtype=dtype)
    for g in range(groups):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = weight[g * cout_g:(g + 1) * cout_g]
        for tap in itertools.product(*(range(k) for k in kernel)):
            window = tuple(
                slice(tap[i] * dilation[i],
                      tap[i] * dilation[i] + (out_size[i] - 1) * stride[i] + 1,
                      stride[i])
                for i in range(nd)
            )
            patch = xs[(slice(None), slice(None)) + window]  # (n, cin_g, *out)
            w_tap = ws[(slice(None), slice(None)) + tap]      # (cout_g, cin_g)
            out[:, g * cout_g:(g + 1) * cout_g] += np.einsum(
                "nc...,oc->no...", patch, w_tap)
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * nd)
    return out


def conv_transpose(x, weight, bias=None, stride=None, padding=None,
                   output_padding=None, dilation=None, groups=1):
    """Transposed convolution: scatter every input value times the kernel
    into a full-size output, then crop ``padding`` from its borders and
    extend the after-side by ``output_padding``."""
    nd = x.ndim - 2
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    padding = padding or ((0, 0),) * nd
    output_padding = output_padding or (0,) * nd
    n, c_in = x.shape[:2]
    kernel = weight.shape[2:]
    cin_g, cout_g = c_in // groups, weight.shape[1]
    in_size = x.shape[2:]
    full = [(in_size[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1
            + output_padding[i] for i in range(nd)]
    dtype = np.result_type(x, weight)
    big = np.zeros((n, cout_g * groups, *full), dtype=dtype)
    for g in range(groups):
        xs = x[:, g * cin_g:(g + 1) * cin_g]
        ws = weight[g * cin_g:(g + 1) * cin_g]
        for tap in itertools.product(*(range(k) for k in kernel)):
            window = tuple(
                slice(tap[i] * dilation[i],
                      tap[i] * dilation[i] + (in_size[i] - 1) * stride[i] + 1,
                      stride[i])
                for i in range(nd)
            )
            w_tap = ws[(slice(None), slice(None)) + tap]  # (cin_g, cout_g)
            big[(slice(None), slice(g * cout_g, (g + 1) * cout_g)) + window] += \
                np.einsum("nc...,co->no...", xs, w_tap)
    crop = tuple(slice(padding[i][0], full[i] - padding[i][1]) for i in range(nd))
    out = big[(slice(None), slice(None)) + crop]
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nd)
    return out


def conv2d_plain(m, k):
    """The classic loop: a 2-D matrix and a 2-D kernel, no padding, stride 1."""
    rows = m.shape[0] - k.shape[0] + 1
    cols = m.shape[1] - k.shape[1] + 1
    out = np.zeros((rows, cols), dtype=np.result_type(m, k))
    for r in range(rows):
        for c in range(cols):
            out[r, c] = np.sum(m[r:r + k.shape[0], c:c + k.shape[1]] * k)
    return out


def conv_transpose2d_plain(m, k):
    """The classic loop: each input value adds value x kernel into the output."""
    out = np.zeros((m.shape[0] + k.shape[0] - 1, m.shape[1] + k.shape[1] - 1),
                   dtype=np.result_type(m, k))
    for r in range(m.shape[0]):
        for c in range(m.shape[1]):
            out[r:r + k.shape[0], c:c + k.shape[1]] += m[r, c] * k
    return out
