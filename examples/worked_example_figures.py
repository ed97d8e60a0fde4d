"""
The worked example, figure by figure
====================================

The figures of ``fastconv demo --out figs`` and of the tutorial "Transposed
convolution, step by step", drawn with :mod:`fastconv.plot` for the
notebook's numbers: a 4x4 input, a 3x3 kernel, their 2x2 convolution, the
convolution matrix, and the transposed convolution back to 4x4.  A value
has the same colour in every figure.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastconv
from fastconv import plot

x = np.array([[7, 6, 5, 3], [3, 1, 1, 1], [2, 7, 6, 8], [5, 5, 8, 6]])
w = np.array([[3, 3, 3], [4, 2, 4], [3, 1, 2]])
y = fastconv.conv2d(x, w)
C = fastconv.convolution_matrix(w, x.shape)
print("y =\n", y)

# %%
# The convolution, with output ``y[0, 0]``'s receptive field and its sum.
plot.plot_convolution(x, w)

# %%
# ``y = C @ x``: row ``i`` of the convolution matrix is the kernel laid into
# the flattened input at output cell ``i``.
plot.plot_convolution_matrix(C, x)

# %%
# The transposed convolution: one input value times the kernel, then the
# sum of all four.
plot.plot_transposed_terms(y, w)

# %%
# The same, computed as a convolution of the zero-inserted input (stride 2).
plot.plot_zero_insertion(y, w, stride=2)

# %%
# Kernel 3, stride 2 overlaps unevenly (the checkerboard); kernel 4 does not.
fig, axes = plt.subplots(1, 2, figsize=(10, 5.6), layout="constrained")
plot.plot_overlap(3, 2, ax=axes[0])
plot.plot_overlap(4, 2, ax=axes[1])
plt.show()
