"""The convolution as a matrix, and the methods that run it as one.

A convolution of one sample ``x`` of shape ``(C_in, *spatial)`` is a matrix
product ``C @ x.ravel()``.  Row ``(co, o)`` of ``C`` (output channel,
flattened output position) holds ``weight[co, ci - group offset, t]`` in
column ``(ci, o*stride + t*dilation - pad_before)`` for every tap ``t`` that
lands inside the input; taps that land in the zero padding have no entry.
The transposed convolution with the same arguments is ``C.T``.

The matrix is built without a Python loop over positions: per spatial dim,
the input position read by every (output position, tap) pair, broadcast
over the three dims and masked where it falls in padding, then repeated
over the channel pairs.  The spatial pattern costs (output size x taps)
once, the channel pairs one pass over the non-zeros: linear in the
non-zeros, up to the taps that fall in padding.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse.linalg import LinearOperator

from . import _api, _borders, _complex, _geometry, _methods, _validation
from ._typing import IntOrTuple, Padding

__all__ = ["convolution_matrix", "conv_operator"]

#: Valid ``format=`` values of :func:`convolution_matrix`.
FORMATS = ("csr", "csc", "coo", "dense")

#: Largest dense matrix, in bytes, that format="dense" / method="dense" builds.
DENSE_LIMIT = 2**30

#: Most non-zeros a sparse matrix (any sparse ``format=``, method="sparse")
#: may have, counted before anything is built as output positions x C_out x
#: C_in / groups x taps (taps that land in padding included, so an upper
#: bound).  Building takes about 20 (float32) to 28 (float64) bytes a
#: non-zero at its peak, so at most about 3.5 GiB.
SPARSE_LIMIT = 2**27


# --------------------------------------------------------------------------
# building the matrix from a checked 5-D weight and a geometry
# --------------------------------------------------------------------------

def _shape(weight, geom, groups):
    """(rows, cols) of the matrix: (C_out * output size, C_in * input size)."""
    return (weight.shape[0] * math.prod(geom.output_spatial),
            weight.shape[1] * groups * math.prod(geom.input_spatial))


def _coo(weight, geom, groups):
    """The convolution matrix of a 5-D conv-layout ``weight`` as a coo_array.

    Entries are generated in (output channel, input channel, output
    position, tap) order, so converting to CSR gives sorted column indices
    without a sort.
    """
    shape = _shape(weight, geom, groups)
    if weight.size == 0:
        # no channel pair: skip the spatial pattern, which input_shape alone
        # can make arbitrarily large
        return sparse.coo_array(shape, dtype=weight.dtype)
    c_out, cin_g = weight.shape[:2]
    cout_g = c_out // groups
    n_out = math.prod(geom.output_spatial)
    n_in = math.prod(geom.input_spatial)
    n_taps = geom.n_taps
    index = np.int32 if max(shape) <= np.iinfo(np.int32).max else np.int64

    # one spatial pattern, shared by every channel pair: a 6-D broadcast over
    # (output position d, h, w) x (tap d, h, w)
    flat, inside = 0, True
    for i, (n_o, k, s, d, p, size) in enumerate(zip(
            geom.output_spatial, geom.kernel_size, geom.stride, geom.dilation,
            geom.pad_before, geom.input_spatial)):
        o = np.arange(n_o).reshape((1,) * i + (-1,) + (1,) * (5 - i))
        t = np.arange(k).reshape((1,) * (3 + i) + (-1,) + (1,) * (2 - i))
        pos = o * s + t * d - p  # (n_o, k), int64: may lie far outside
        valid = (pos >= 0) & (pos < size)
        flat = flat * size + np.where(valid, pos, 0).astype(index)
        inside = inside & valid  # the full-size ops are these two
    cols = flat[inside]
    inside = inside.reshape(n_out, n_taps)
    rows = np.repeat(np.arange(n_out, dtype=index), inside.sum(axis=1))
    taps = np.broadcast_to(np.arange(n_taps, dtype=index), inside.shape)[inside]

    # every (output channel, input channel in its group) pair
    co = np.arange(c_out, dtype=index)[:, None, None]
    cj = np.arange(cin_g, dtype=index)[None, :, None]
    ci = co // cout_g * cin_g + cj
    rows = np.broadcast_to(co * n_out + rows, (c_out, cin_g, rows.size))
    cols = ci * n_in + cols
    data = weight.reshape(c_out, cin_g, n_taps)[:, :, taps]
    return sparse.coo_array((data.ravel(), (rows.ravel(), cols.ravel())), shape=shape)


def _check_dense_size(name, shape, dtype, fix):
    """Refuse, before allocating, a dense matrix larger than DENSE_LIMIT."""
    nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
    if nbytes > DENSE_LIMIT:
        raise ValueError(
            f"{name}: a dense convolution matrix of shape {shape} ({np.dtype(dtype)}) "
            f"would need {nbytes / 2**30:.3g} GiB ({nbytes} bytes), more than the "
            f"{DENSE_LIMIT // 2**30} GiB limit (DENSE_LIMIT); {fix}"
        )


def _check_sparse_size(name, weight, geom, fix):
    """Refuse, before building anything, a matrix of more than SPARSE_LIMIT
    non-zeros (the bound of SPARSE_LIMIT's comment)."""
    c_out, cin_g = weight.shape[:2]
    n_out = math.prod(geom.output_spatial)
    nonzeros = n_out * c_out * cin_g * geom.n_taps
    if nonzeros > SPARSE_LIMIT:
        raise ValueError(
            f"{name}: the convolution matrix would have up to {nonzeros} non-zeros "
            f"({n_out} output positions x {c_out} output channels x {cin_g} input "
            f"channels per group x {geom.n_taps} taps), more than the limit of "
            f"{SPARSE_LIMIT} (SPARSE_LIMIT, about 3.5 GiB while built); {fix}"
        )


def _checked_coo(name, fix, weight, geom, groups):
    """:func:`_coo`, refused first if over SPARSE_LIMIT (``name`` and ``fix``
    for the message)."""
    _check_sparse_size(name, weight, geom, fix)
    return _coo(weight, geom, groups)


def _dense(name, fix, weight, geom, groups):
    """The dense matrix, refused first if over DENSE_LIMIT (or, for the
    sparse matrix it is built from, SPARSE_LIMIT)."""
    _check_dense_size(name, _shape(weight, geom, groups), weight.dtype, fix)
    return _checked_coo(name, fix, weight, geom, groups).toarray()


# --------------------------------------------------------------------------
# methods: the matrix (or its transpose) applied to the whole batch at once.
# x is (N, C, *spatial) 5-D; its samples are the rows of x.reshape(N, -1).
# --------------------------------------------------------------------------

def _batch_product(matrix, x, out_shape):
    """``matrix @ sample`` for every sample of x, as one product."""
    out = matrix @ x.reshape(x.shape[0], -1).T
    return np.ascontiguousarray(out.T).reshape(out_shape)


#: What the methods' size errors suggest instead.
_METHOD_FIX = "use method='direct' or method='gemm', which build no matrix"


def _method_name(op, geom, method):
    """The call a method's error names, e.g. "conv2d(method='sparse')"."""
    return f"{op}{geom.ndim}d(method={method!r})"


@_methods.register(_methods.CONV, "sparse")
def conv_sparse(x, weight, plan):
    """The CSR convolution matrix times the batch (at most SPARSE_LIMIT,
    2**27, non-zeros)."""
    geom, groups = plan.geom, plan.groups
    matrix = _checked_coo(_method_name(_methods.CONV, geom, "sparse"), _METHOD_FIX,
                          weight, geom, groups).tocsr()
    return _batch_product(matrix, x, (x.shape[0], weight.shape[0]) + geom.output_spatial)


@_methods.register(_methods.CONV, "dense")
def conv_dense(x, weight, plan):
    """The dense convolution matrix times the batch (at most DENSE_LIMIT,
    1 GiB).

    The product multiplies every input value, by an explicit 0 where the
    kernel does not reach it, and 0 * NaN and 0 * inf are NaN: a NaN input
    makes every output of its sample NaN, an inf input makes the outputs
    that read it inf (as in the other methods) and every other output of its
    sample NaN.  The other methods spread NaN and inf only to the outputs
    that read them.
    """
    geom, groups = plan.geom, plan.groups
    matrix = _dense(_method_name(_methods.CONV, geom, "dense"), _METHOD_FIX,
                    weight, geom, groups)
    return _batch_product(matrix, x, (x.shape[0], weight.shape[0]) + geom.output_spatial)


@_methods.register(_methods.CONV_TRANSPOSE, "sparse")
def conv_transpose_sparse(x, weight, plan):
    """The transpose of the sparse convolution matrix times the batch (at
    most SPARSE_LIMIT, 2**27, non-zeros).

    The transposed-convolution weight (C_in, C_out / groups, *kernel) is the
    conv-layout weight of its adjoint, whose matrix is built as CSC so that
    its transpose is CSR.
    """
    geom, groups = plan.geom, plan.groups
    matrix = _checked_coo(_method_name(_methods.CONV_TRANSPOSE, geom, "sparse"),
                          _METHOD_FIX, weight, geom, groups).tocsc()
    return _batch_product(matrix.T, x,
                          (x.shape[0], weight.shape[1] * groups) + geom.input_spatial)


@_methods.register(_methods.CONV_TRANSPOSE, "dense")
def conv_transpose_dense(x, weight, plan):
    """The transpose of the dense convolution matrix times the batch (at
    most DENSE_LIMIT; NaN and inf inputs as for the convolution's 'dense')."""
    geom, groups = plan.geom, plan.groups
    matrix = _dense(_method_name(_methods.CONV_TRANSPOSE, geom, "dense"), _METHOD_FIX,
                    weight, geom, groups)
    return _batch_product(matrix.T, x,
                          (x.shape[0], weight.shape[1] * groups) + geom.input_spatial)


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------

def _normalise(name, weight, input_shape, stride, padding, dilation, groups
               ) -> tuple[NDArray[Any], tuple[int, ...], _geometry.ConvGeometry, int]:
    """Check the arguments as the convolution functions do.

    Returns ``(weight, input_shape, geom, groups)``: the weight in the
    compute dtype, always with its two channel axes (C_out, C_in / groups,
    *kernel), and ``input_shape`` always (C_in, *spatial).
    """
    weight = np.asarray(weight)
    compute, _ = _validation.dtypes({"weight": weight})
    if isinstance(input_shape, np.ndarray) or (
            isinstance(input_shape, (tuple, list))
            and any(isinstance(v, (tuple, list, np.ndarray)) for v in input_shape)):
        # the classic notebook's order, (x, kernel): the data where the shape goes
        raise TypeError(
            f"{name}: input_shape must be a tuple of ints, got an array of shape "
            f"{np.shape(input_shape)}; the arguments are the weight first, then "
            f"input_shape such as x.shape: {name}(kernel, x.shape), not {name}(x, kernel)"
        )
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{name}: input_shape must be a tuple of ints, got {input_shape!r}")
    input_shape = tuple(_validation.as_int(v, "input_shape") for v in input_shape)
    if weight.ndim == 2 and len(input_shape) == 2:
        # the plain matrix and kernel of the classic explanation
        weight, input_shape = weight[None, None], (1,) + input_shape
    ndim = weight.ndim - 2
    if not 1 <= ndim <= _geometry.MAX_SPATIAL_DIMS:
        raise ValueError(
            f"{name}: weight must be 3-D, 4-D or 5-D (C_out, C_in / groups, *kernel), "
            f"or 2-D with a 2-D input_shape, got shape {weight.shape}"
        )
    if len(input_shape) != ndim + 1:
        raise ValueError(
            f"{name}: input_shape must be (C_in, *spatial) with {ndim} spatial dims "
            f"for weight of shape {weight.shape}, got {input_shape}"
        )
    groups, _ = _validation.check_channels(_methods.CONV, name, (1,) + input_shape,
                                           weight.shape, groups)
    geom = _geometry.conv_geometry(input_shape[1:], weight.shape[2:], stride, padding,
                                   dilation)
    shape = _shape(weight, geom, groups)
    if max(shape) * compute.itemsize > np.iinfo(np.intp).max:
        # sizes up to 2**40 multiply past int64: refuse here, before NumPy
        # raises OverflowError or "array is too big" on an index or a vector
        raise ValueError(
            f"{name}: input_shape {input_shape} with padding={padding!r} makes a matrix of "
            f"shape {shape}, and a vector of {max(shape)} {compute} values is beyond "
            f"NumPy's 2**63 bytes; use a smaller input_shape"
        )
    return np.array(weight, dtype=compute, order="C"), input_shape, geom, groups


def convolution_matrix(weight: ArrayLike, input_shape: tuple[SupportsIndex, ...],
                       stride: IntOrTuple = 1, padding: Padding = 0,
                       dilation: IntOrTuple = 1, groups: SupportsIndex = 1, *,
                       format: Literal["csr", "csc", "coo", "dense"] = "csr",
                       padding_mode: str = "zeros",
                       ) -> sparse.sparray | NDArray[Any]:
    """The matrix ``C`` of a convolution: ``conv(x).ravel() == C @ x.ravel()``.

    ``C.T`` is the matrix of the transposed convolution with the same
    weight, stride, padding, dilation and groups, and the output_padding
    that makes its output ``input_shape``.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, *kernel) or (kH, kW)
        Convolution kernel with 1, 2 or 3 spatial dims, as for
        :func:`fastconv.conv2d`.  A 2-D kernel with a 2-D ``input_shape``
        describes a plain matrix convolved with a plain kernel.
    input_shape : tuple of ints, (C_in, *spatial) or (H, W)
        Shape of one input sample, e.g. ``x.shape`` for an unbatched ``x``
        (the weight comes first, then the shape).
    stride, padding, dilation, groups
        As for :func:`fastconv.conv2d`, every padding form included.
    format : {'csr', 'csc', 'coo', 'dense'}, default 'csr'
        A scipy.sparse array of that format, or a NumPy array for 'dense'.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        As for :func:`fastconv.conv2d`: with another mode than 'zeros', an
        input value read again in the padding adds to its entry.

    Returns
    -------
    scipy.sparse array or ndarray, shape (C_out * prod(out_spatial), C_in * prod(spatial))
        Rows are the flattened output ``(C_out, *out_spatial)``, columns the
        flattened input.  Every kernel tap that lands in the input has an
        entry (zero weights included); taps that land in padding have none.
        dtype as for the convolution functions: float32 / float64 kept,
        integers and bool as int64, float16 as float32 (scipy.sparse has no
        float16).

    Raises
    ------
    ValueError
        For arguments the convolution would refuse, an unknown ``format``,
        an ``input_shape`` whose rows or columns no NumPy vector could hold,
        a 'dense' matrix that would need more than 1 GiB (``DENSE_LIMIT``),
        or a sparse one with more than 2**27 (``SPARSE_LIMIT``) non-zeros,
        counted as output positions x C_out x C_in / groups x taps, or
        with more than 2**27 index pointers (rows for 'csr', columns for
        'csc').  :func:`conv_operator` has none of these limits.
    TypeError
        For unsupported dtypes, and for an array as ``input_shape`` (the
        arguments in the order ``(x, kernel)``).

    Examples
    --------
    A 4x4 input and a 3x3 kernel: each of the 4 rows is the kernel laid
    into the flattened input.

    >>> import numpy as np
    >>> from fastconv import convolution_matrix
    >>> convolution_matrix(np.arange(1, 10).reshape(3, 3), (4, 4), format="dense")
    array([[1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0],
           [0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0],
           [0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0],
           [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9]])
    >>> C = convolution_matrix(np.ones((8, 3, 3, 3)), (3, 32, 32), padding="same")
    >>> C.shape, C.format
    ((8192, 3072), 'csr')
    """
    name = "convolution_matrix"
    if format not in FORMATS:
        raise ValueError(f"{name}: format must be one of {FORMATS}, got {format!r}")
    weight, _, geom, groups = _normalise(name, weight, input_shape,
                                         stride, padding, dilation, groups)
    weight = _api.to5d(weight, geom.ndim)
    operator = "conv_operator, which builds no matrix"
    _borders.check_mode(name, padding_mode, geom)
    if padding_mode != "zeros":
        # the matrix of the convolution of the padded input, times P
        inner = _borders.padded_geometry(geom)
        kernel = np.asarray(weight)
        moded = (_checked_coo(name, f"use {operator}", kernel, inner, groups).tocsr()
                 @ _borders.matrix(geom, padding_mode, kernel.shape[1] * groups))
        if format == "dense":
            _check_dense_size(name, moded.shape, kernel.dtype,
                              f"use a sparse format, or {operator}")
            return moded.toarray()
        return moded.asformat(format)
    if format == "dense":
        return _dense(name, f"use a sparse format, or {operator}", weight, geom, groups)
    _check_sparse_size(name, weight, geom, f"use {operator}")
    # CSR keeps a pointer per row, CSC one per column: with few non-zeros
    # (a large stride, zero channels) they can outnumber the non-zeros
    shape = _shape(weight, geom, groups)
    pointers = {"csr": shape[0] + 1, "csc": shape[1] + 1}.get(format, 0)
    if pointers > SPARSE_LIMIT:
        raise ValueError(
            f"{name}: a {format} matrix of shape {shape} stores {pointers} index "
            f"pointers, more than the limit of {SPARSE_LIMIT} (SPARSE_LIMIT); use "
            f"format='coo', or {operator}"
        )
    return _coo(weight, geom, groups).asformat(format)


def conv_operator(weight: ArrayLike, input_shape: tuple[SupportsIndex, ...],
                  stride: IntOrTuple = 1, padding: Padding = 0, dilation: IntOrTuple = 1,
                  groups: SupportsIndex = 1, *, padding_mode: str = "zeros"
                  ) -> LinearOperator:
    """The convolution as a ``scipy.sparse.linalg.LinearOperator``.

    The operator is the matrix of :func:`convolution_matrix` without ever
    building it: ``matvec`` runs the convolution, ``rmatvec`` the
    transposed convolution, and ``matmat`` / ``rmatmat`` run all columns as
    one batch.  It works with the ``scipy.sparse.linalg`` solvers (``lsqr``,
    ``cg`` on the normal equations, ...).

    Parameters
    ----------
    weight, input_shape, stride, padding, dilation, groups
        As for :func:`convolution_matrix`.  The spatial sizes of
        ``input_shape`` must be at least 1; zero channels give an empty
        operator (shape ``(rows, 0)`` or ``(0, columns)``) whose products
        are empty or zeros.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        As for :func:`fastconv.conv2d`; ``rmatvec`` is then the transposed
        convolution with the same mode, its adjoint.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator, shape (C_out * prod(out_spatial), C_in * prod(spatial))
        Its dtype is the weight's compute dtype (float32, float64 or int64);
        products are in the common dtype of the weight and the vector.

    Raises
    ------
    ValueError, TypeError
        As for :func:`convolution_matrix`, but without its size limits: no
        matrix is built.

    Examples
    --------
    Undo a blur by least squares:

    >>> import numpy as np
    >>> from scipy.sparse.linalg import lsqr
    >>> from fastconv import conv2d, conv_operator
    >>> kernel = np.array([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]])
    >>> image = np.random.default_rng(0).random((16, 16))
    >>> blurred = conv2d(image, kernel, padding="same")
    >>> A = conv_operator(kernel, (16, 16), padding="same")
    >>> A.shape
    (256, 256)
    >>> recovered = lsqr(A, blurred.ravel(), atol=1e-12, btol=1e-12)[0].reshape(16, 16)
    >>> bool(np.abs(recovered - image).max() < 1e-6)
    True
    """
    weight, input_shape, geom, groups = _normalise(
        "conv_operator", weight, input_shape, stride, padding, dilation, groups)
    if 0 in input_shape[1:]:
        raise ValueError(f"conv_operator: input_shape must have spatial sizes >= 1, "
                         f"got {input_shape}")
    _borders.check_mode("conv_operator", padding_mode, geom)
    # the geometry once; per product a plan (it depends on the batch size)
    weight5 = _api.to5d(weight, geom.ndim)
    in5 = (input_shape[0],) + geom.input_spatial
    out5 = (weight.shape[0],) + geom.output_spatial
    adjoint = dataclasses.replace(geom, output_padding=geom.landing_output_padding())

    def product(op, columns, sample_shape, geometry, out_sample):
        # column j is one sample: the columns form a batch of k samples.  The
        # sizes are given, not -1: with zero channels every array is empty.
        columns = np.asarray(columns)
        compute, result = _validation.dtypes({"x": columns, "weight": weight5})
        batch = _api.as_kernel_array(columns.T, compute,
                                     (columns.shape[1],) + sample_shape)
        w = weight5.astype(compute, copy=False)
        if compute.kind == "i":
            _validation.check_exact_range("conv_operator", batch, w, None,
                                          math.prod(w.shape[1:]))
        threads = _validation.resolve_threads(None)

        def run(x, kernel):
            return _api.execute(op, geometry, groups, threads, x, kernel,
                                padding_mode=padding_mode)

        if compute.kind == "c":
            # rmatvec is the adjoint: the conjugate transpose
            out = _complex.product(run, batch, w if op == _methods.CONV else w.conj())
        else:
            out = run(batch, w)
        return out.reshape(batch.shape[0], math.prod(out_sample)).T.astype(result,
                                                                          copy=False)

    def matmat(columns):
        return product(_methods.CONV, columns, in5, geom, out5)

    def rmatmat(columns):
        return product(_methods.CONV_TRANSPOSE, columns, out5, adjoint, in5)

    return LinearOperator(
        (math.prod(out5), math.prod(in5)),
        matvec=lambda v: matmat(np.reshape(v, (-1, 1)))[:, 0],
        rmatvec=lambda v: rmatmat(np.reshape(v, (-1, 1)))[:, 0],
        matmat=matmat, rmatmat=rmatmat, dtype=weight.dtype,
    )
