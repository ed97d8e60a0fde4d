"""Small helpers shared by the tests: seeded random arrays, the reference's
explicit arguments, the stride phases the taps read, and the environment of
a Python run in a subprocess."""

import math
import os
from pathlib import Path

import numpy as np

import fastconv


def random_arrays(seed, *shapes, dtype=np.float64):
    """Standard normal arrays of ``shapes``, in that order, cast to ``dtype``;
    ``seed`` is a seed or a Generator (which is drawn from)."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in shapes)


def explicit(nd, stride=1, padding=0, dilation=1, output_padding=None):
    """The reference's keyword arguments for int arguments, spelled out per
    dim (padding as (before, after) pairs); output_padding only if given."""
    kw = dict(stride=(stride,) * nd, padding=((padding, padding),) * nd,
              dilation=(dilation,) * nd)
    if output_padding is not None:
        kw["output_padding"] = (output_padding,) * nd
    return kw


def phases_read(geom):
    """Stride phases some tap reads: per dim, the distinct residues t*d % s
    of the taps t < k (at most min(k, s)), multiplied over dims."""
    return math.prod(len({t * d % s for t in range(k)})
                     for k, s, d in zip(geom.kernel_size, geom.stride, geom.dilation))


def python_env(**changes):
    """os.environ with ``changes`` made (a value of None removes the
    variable) and this fastconv first on PYTHONPATH: for a Python run in a
    subprocess."""
    env = dict(os.environ)
    for name, value in changes.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    package_root = str(Path(fastconv.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env
