"""Property tests: random geometries, dtypes, memory layouts and methods
against tests/reference.py; the adjoint identity
<conv(x), y> == <x, conv_transpose(y)>; invalid arguments raise ValueError
or TypeError.

One generator, :func:`build_spec`, draws a call as a JSON-able dict from two
primitives, ``ints(lo, hi)`` and ``choice(options)``: Hypothesis drives it
here (and shrinks a failure), tools/fuzz.py drives it from a seeded NumPy
generator for the long, crash-safe fuzz run.  :func:`reproducer` turns a
spec into a standalone script.

The number of examples: FASTCONV_PROPERTY_EXAMPLES (default 40 per test,
derandomized, so the normal suite is fast and repeatable).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastconv
from reference import conv, conv_transpose, same_padding
from test_adversarial import oracle

EXAMPLES = int(os.environ.get("FASTCONV_PROPERTY_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "uint8", "bool")
#: memory layouts, as expressions of the C-contiguous array ``a``
LAYOUTS = {
    "c": "a",
    "fortran": "np.asfortranarray(a)",
    "negative-strides": "np.flip(np.flip(a).copy())",
    "strided": "np.repeat(a, 2, axis=-1)[..., ::2]",
    "channels-last": "np.moveaxis(np.moveaxis(a, 1, -1).copy(), -1, 1)",
}
HUGE = (2**31, 2**40)
Ints = Callable[[int, int], int]
Choice = Callable[[Any], Any]


def build_spec(ints: Ints, choice: Choice, op: str | None = None) -> dict[str, Any]:
    """A random valid call: operation (or ``op``), geometry, dtypes, layouts,
    method."""
    op = op or choice(("conv", "conv_transpose"))
    ndim = ints(1, 3)
    groups = choice((1, 1, 2, 3))
    cin_g, cout_g, n = ints(1, 3), ints(1, 3), ints(1, 3)
    max_size = {1: 12, 2: 7, 3: 5}[ndim]
    form = choice(("pairs", "tuple", "int", "same", "valid"))
    if op == "conv_transpose" and form == "same":
        form = "pairs"
    huge = choice((False,) * 9 + (True,))   # one dim with a stride of 2**31 or 2**40
    size, kernel, stride, dilation, pads, out_pad = [], [], [], [], [], []
    pad_int = ints(0, 2)
    for i in range(ndim):
        k, s, d, L = ints(1, 3), ints(1, 3), ints(1, 2), ints(1, max_size)
        p = {"pairs": (ints(0, 2), ints(0, 2)), "tuple": (ints(0, 2),) * 2,
             "int": (pad_int, pad_int), "valid": (0, 0), "same": None}[form]
        op_ = 0
        if huge and i == 0:
            s = choice(HUGE)
            if op == "conv_transpose":   # crop the 2 * stride output back to a few
                L, p = 2, (s - ints(0, 2), ints(0, 1))
        span = d * (k - 1) + 1
        if op == "conv":
            if p is None:
                p = same_padding(L, k, s, d)
            L = max(L, span - p[0] - p[1], 1)
        else:
            if max(s, d) > 1 and not (huge and i == 0):
                op_ = ints(0, min(max(s, d) - 1, 2))
            if (L - 1) * s - p[0] - p[1] + span + op_ < 1:
                # an empty output: drop the padding after (for a huge stride
                # only that, so that the output stays a few samples long)
                p = (p[0], 0) if huge and i == 0 else (0, 0)
        size.append(L), kernel.append(k), stride.append(s), dilation.append(d)
        pads.append(list(p)), out_pad.append(op_)
    if form in ("tuple", "int", "valid") and any(p[0] != p[1] for p in pads):
        form = "pairs"
    if form == "int" and len({p[0] for p in pads}) > 1:
        form = "tuple"
    if form == "valid" and any(pads[i] != [0, 0] for i in range(ndim)):
        form = "pairs"
    x_dtype = choice(DTYPES)
    w_dtype = choice((x_dtype,) * 3 + DTYPES)
    methods = fastconv.CONV_METHODS if op == "conv" else fastconv.CONV_TRANSPOSE_METHODS
    return dict(
        op=op, ndim=ndim, groups=groups, cin_g=cin_g, cout_g=cout_g, n=n,
        size=size, kernel=kernel, stride=stride, dilation=dilation, pads=pads,
        output_padding=out_pad, padding_form=form, x_dtype=x_dtype, w_dtype=w_dtype,
        x_layout=choice(tuple(LAYOUTS)), w_layout=choice(tuple(LAYOUTS)),
        unbatched=choice((False, False, False, True)) and n == 1,
        bias=choice((False, True)), method=choice(methods), seed=ints(0, 2**32 - 1))


def spec_from_rng(rng: np.random.Generator, op: str | None = None) -> dict[str, Any]:
    """:func:`build_spec` driven by a NumPy generator (tools/fuzz.py)."""
    return build_spec(lambda lo, hi: int(rng.integers(lo, hi + 1)),
                      lambda options: options[int(rng.integers(len(options)))], op)


def _values(rng, shape, dtype):
    """Small exact values for integers and bool, normal floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return rng.integers(0 if dtype.kind == "u" else -9, 10, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def arguments(spec):
    """``(x, weight, kwargs)`` of the spec's call, the arrays C-contiguous."""
    rng = np.random.default_rng(spec["seed"])
    g, nd = spec["groups"], spec["ndim"]
    c_in, c_out = g * spec["cin_g"], g * spec["cout_g"]
    x = _values(rng, (spec["n"], c_in, *spec["size"]), spec["x_dtype"])
    wshape = ((c_out, spec["cin_g"]) if spec["op"] == "conv" else (c_in, spec["cout_g"]))
    w = _values(rng, wshape + tuple(spec["kernel"]), spec["w_dtype"])
    pads = [tuple(p) for p in spec["pads"]]
    padding = {"pairs": tuple(pads), "tuple": tuple(p[0] for p in pads),
               "int": pads[0][0], "valid": "valid", "same": "same"}[spec["padding_form"]]
    kwargs: dict[str, Any] = dict(stride=tuple(spec["stride"]), padding=padding,
                                  dilation=tuple(spec["dilation"]), groups=g,
                                  method=spec["method"])
    if spec["op"] == "conv_transpose":
        kwargs["output_padding"] = tuple(spec["output_padding"])
    if spec["bias"]:
        kwargs["bias"] = _values(rng, (c_out,), spec["x_dtype"])
    if spec["unbatched"]:
        x = x[0]
    return x, w, kwargs


def _layout(name, a):
    return eval(LAYOUTS[name], {"np": np, "a": a})


def expected(spec, x, w, kwargs):
    """The reference output: exact int64 for integers and bool, else float64."""
    wide = np.int64 if x.dtype.kind in "biu" and w.dtype.kind in "biu" else np.float64
    x5 = x[None] if spec["unbatched"] else x
    bias = kwargs.get("bias")
    geo = dict(stride=tuple(spec["stride"]), dilation=tuple(spec["dilation"]),
               padding=[tuple(p) for p in spec["pads"]], groups=spec["groups"],
               bias=None if bias is None else bias.astype(wide))
    if any(s in HUGE for s in spec["stride"]):   # reference.py pads explicitly
        out = oracle(x5.astype(wide), w.astype(wide), transpose=spec["op"] != "conv",
                     output_padding=tuple(spec["output_padding"]), **geo).astype(wide)
    elif spec["op"] == "conv":
        out = conv(x5.astype(wide), w.astype(wide), **geo)
    else:
        out = conv_transpose(x5.astype(wide), w.astype(wide),
                             output_padding=tuple(spec["output_padding"]), **geo)
    return out[0] if spec["unbatched"] else out


def result_dtype(*arrays):
    """fastconv's documented result dtype."""
    if all(a.dtype.kind in "biu" for a in arrays):
        return np.dtype(np.int64)
    return np.result_type(*arrays)


def check_spec(spec) -> str | None:
    """Run the spec's call: None if it matches the reference, else what is wrong."""
    x, w, kwargs = arguments(spec)
    want = expected(spec, x, w, kwargs)
    fn = getattr(fastconv, f"{spec['op']}{spec['ndim']}d")
    inputs = [x, w] + ([kwargs["bias"]] if "bias" in kwargs else [])
    integers = all(a.dtype.kind in "biu" for a in inputs)
    try:
        out = fn(_layout(spec["x_layout"], x), _layout(spec["w_layout"], w), **kwargs)
    except TypeError as e:
        if integers and spec["method"] == "gemm":
            return None   # documented: 'gemm' is floating-point only
        return f"TypeError: {e}"
    if integers and spec["method"] == "gemm":
        return "method='gemm' accepted integer input"
    dtype = result_dtype(*inputs)
    if out.dtype != dtype:
        return f"dtype {out.dtype}, expected {dtype}"
    if out.shape != want.shape:
        return f"shape {out.shape}, expected {want.shape}"
    if dtype.kind == "i":
        bad = int(np.count_nonzero(out != want))
        return f"{bad} of {out.size} integers differ" if bad else None
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    tol = {2: 4e-3, 4: 1e-5, 8: 1e-12}[dtype.itemsize] * scale
    err = float(np.max(np.abs(out.astype(np.float64) - want), initial=0.0))
    return f"max error {err:.3g} > {tol:.3g}" if not err <= tol else None


def check_spec_verdict(spec):
    """:func:`check_spec` as a JSON-able verdict (for tools/fuzz.py's worker)."""
    try:
        mismatch = check_spec(spec)
    except Exception as e:
        mismatch = f"{type(e).__name__}: {e}"
    return {"status": "ok" if mismatch is None else "fail", "message": mismatch}


def reproducer(spec) -> str:
    """A standalone script that makes the spec's call and prints the result
    next to the reference's (run it from the repository root)."""
    x, w, kwargs = arguments(spec)
    arrays = {"x": x, "weight": w, **({"bias": kwargs.pop("bias")} if "bias" in kwargs else {})}
    lines = ["import sys; sys.path.insert(0, 'tests')",
             "import numpy as np", "import fastconv", "import test_properties as t", ""]
    for name, a in arrays.items():
        lines.append(f"{name} = np.array({a.tolist()!r}, dtype=np.{a.dtype})")
    lines.append(f"x = t._layout({spec['x_layout']!r}, x)")
    lines.append(f"weight = t._layout({spec['w_layout']!r}, weight)")
    call = ", ".join(["x", "weight"] + (["bias"] if "bias" in arrays else [])
                     + [f"{k}={v!r}" for k, v in kwargs.items()])
    lines += [f"out = fastconv.{spec['op']}{spec['ndim']}d({call})",
              "print(out)",
              f"spec = {spec!r}",
              "print('reference:', t.expected(spec, *t.arguments(spec)))",
              "print('verdict:', t.check_spec(spec))"]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# the properties
# --------------------------------------------------------------------------

@st.composite
def specs(draw, op=None):
    return build_spec(lambda lo, hi: draw(st.integers(lo, hi)),
                      lambda options: draw(st.sampled_from(options)), op)


@SETTINGS
@given(specs())
def test_matches_reference(spec):
    mismatch = check_spec(spec)
    assert mismatch is None, f"{mismatch}\nreproducer:\n{reproducer(spec)}"


@SETTINGS
@given(specs("conv"), st.sampled_from(fastconv.CONV_TRANSPOSE_METHODS))
def test_adjoint(spec, transpose_method):
    """<conv(x), y> == <x, conv_transpose(y)>: exactly for integers."""
    spec = dict(spec, unbatched=False, bias=False)
    if spec["padding_form"] == "same":
        spec["padding_form"] = "pairs"
    spec["pads"] = [[p, q] for p, q in spec["pads"]]
    x, w, kwargs = arguments(spec)
    integers = x.dtype.kind in "biu" and w.dtype.kind in "biu"
    if not integers:
        x, w = x.astype(np.float64), w.astype(np.float64)
    if spec["method"] == "gemm" and integers:
        spec["method"] = kwargs["method"] = "direct"
    nd = spec["ndim"]
    y_conv = getattr(fastconv, f"conv{nd}d")(x, w, **kwargs)
    rng = np.random.default_rng(spec["seed"] + 1)
    y = _values(rng, y_conv.shape, np.int64 if integers else np.float64)
    # the output_padding that gives the transposed output the shape of x
    span = [d * (k - 1) + 1 for d, k in zip(spec["dilation"], spec["kernel"])]
    out_pad = tuple(L - ((m - 1) * s - p[0] - p[1] + sp)
                    for L, m, s, p, sp in zip(spec["size"], y.shape[2:], spec["stride"],
                                              spec["pads"], span))
    if integers and transpose_method == "gemm":
        transpose_method = "scatter"
    x_back = getattr(fastconv, f"conv_transpose{nd}d")(
        y, w, stride=tuple(spec["stride"]), padding=tuple(tuple(p) for p in spec["pads"]),
        output_padding=out_pad, dilation=tuple(spec["dilation"]), groups=spec["groups"],
        method=transpose_method)
    assert x_back.shape == x.shape
    lhs, rhs = np.vdot(y_conv, y), np.vdot(x, x_back)
    if integers:
        assert lhs == rhs, f"{lhs} != {rhs}\nreproducer:\n{reproducer(spec)}"
    else:
        scale = np.abs(y_conv).sum() * np.abs(y).max() + 1.0
        assert abs(lhs - rhs) <= 1e-10 * scale, f"{lhs} != {rhs}\n{reproducer(spec)}"


#: (argument, a bad value drawn by the strategy); every one must be refused
BAD = {
    "stride": st.sampled_from([0, -1, 2**40 + 1, 2**62, -2**63, 1.0, 2.5, "2", None, True,
                               (1, 1, 1, 1), ()]),
    "dilation": st.sampled_from([0, -3, 2**62, 1.5, "1", False, (0,) * 3, [1] * 4]),
    "padding": st.sampled_from([-1, 2**62, "full", "mirror", 1.0, True, ((1, 2, 3),) * 3,
                                ((-1, 0),) * 3, (1,) * 4, None]),
    "groups": st.sampled_from([0, -1, 5, 7, 2**62, 1.0, True, "1"]),
    "n_threads": st.sampled_from([0, -1, 1025, 2**62, 1.5, True, "2"]),
    "method": st.sampled_from(["fourier", "", "AUTO", None, 1, "zero_insertion_"]),
    "output_padding": st.sampled_from([-1, 3, 2**62, 1.5, True, (0,) * 4]),
    "x": st.sampled_from(["clongdouble", "object", "str", "ndim-1", "ndim+2", "channels"]),
    "weight": st.sampled_from(["clongdouble", "ndim+1", "kernel0", "groups-mismatch"]),
    "bias": st.sampled_from(["shape", "2d", "clongdouble"]),
}


@SETTINGS
@given(st.sampled_from(("conv", "conv_transpose")), st.integers(1, 3),
       st.sampled_from(sorted(BAD)), st.data())
def test_invalid_arguments_raise(op, nd, arg, data):
    """A bad argument raises ValueError or TypeError, never anything else."""
    if arg == "output_padding" and op == "conv":
        op = "conv_transpose"
    bad = data.draw(BAD[arg], label=arg)
    x = np.ones((2, 4) + (6,) * nd)
    w = np.ones((4, 2) + (3,) * nd)  # C_out 4 (conv) / C_out 2 per group (transposed)
    kwargs: dict[str, Any] = dict(stride=2, groups=2)
    mutate = {
        # complex64 / complex128 are computed; longer complex types are not
        "clongdouble": lambda a: a.astype(np.clongdouble),
        "object": lambda a: a.astype(object),
        "str": lambda a: a.astype(str),
        "ndim-1": lambda a: a[0, 0],
        "ndim+2": lambda a: a[None, None],
        "ndim+1": lambda a: a[None],
        "channels": lambda a: np.ones((2, 3) + a.shape[2:]),
        "kernel0": lambda a: a[..., :0],
        "groups-mismatch": lambda a: np.ones((3, 3) + a.shape[2:]),
    }
    if arg == "x":
        x = mutate[bad](x)
    elif arg == "weight":
        w = mutate[bad](w)
    elif arg == "bias":
        kwargs["bias"] = {"shape": np.ones(5), "2d": np.ones((4, 1)),
                          "clongdouble": np.ones(4, np.clongdouble)}[bad]
    else:
        kwargs[arg] = bad
    fn = getattr(fastconv, f"{op}{nd}d")
    with pytest.raises((ValueError, TypeError)):
        fn(x, w, **kwargs)


def test_build_spec_is_valid_for_every_draw():
    """The generator only makes calls fastconv must accept (seeded draws)."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        spec = spec_from_rng(rng)
        x, w, kwargs = arguments(spec)
        shape = expected(spec, x, w, kwargs).shape
        assert min(shape[2 - spec["unbatched"]:]) >= 1, spec
