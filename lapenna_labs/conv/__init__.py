"""Convolution and pooling on NCHW batches: the loops, im2col and one GEMM, the counts, and
the alternatives (Toeplitz, FFT, Winograd).

Every public name of the submodules is also here, so ``from lapenna_labs import conv;
conv.conv2d_forward(...)`` reaches it:

============ ================================================================================
module       what it holds
============ ================================================================================
im2col       :func:`im2col` and its adjoint :func:`col2im` (rows (n, oh, ow), columns
             (c, kh, kw)), :func:`conv2d_forward` / :func:`conv2d_backward`: one GEMM per group
naive        :func:`conv2d_forward_naive` / :func:`conv2d_backward_naive`: the explicit loops
pooling      max and average pooling forward and backward, :func:`flatten_forward` /
             :func:`flatten_backward`
counts       multiply-adds, flops, bytes, im2col's memory blow-up and the intensity of a layer
alternatives the convolution as one doubly block Toeplitz matrix, by FFT, and by Winograd
             F(2x2, 3x3), with their multiplication counts
transpose    :func:`conv_transpose2d_forward` / :func:`conv_transpose2d_backward` (the adjoint
             of the convolution), nearest and bilinear upsampling, U-Net's
             :func:`crop_and_concat`
============ ================================================================================

The shape arithmetic (:class:`ConvGeometry`, :func:`output_size`) is written once, in
``_geometry``, and every function above checks its arguments there.

Examples
--------
>>> import numpy as np
>>> from lapenna_labs import conv
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> out, _ = conv.conv2d_forward(x, np.ones((1, 1, 3, 3)), np.zeros(1))
>>> out[0, 0]
array([[45., 54.],
       [81., 90.]])
"""

from ._geometry import ConvGeometry, as_pair, conv_geometry, output_size, pool_geometry
from .alternatives import (
    WINOGRAD_A_T,
    WINOGRAD_B_T,
    WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE,
    WINOGRAD_G,
    WINOGRAD_MULTIPLICATIONS_PER_TILE,
    conv2d_fft,
    conv2d_toeplitz,
    direct_multiplications,
    fft_multiplications,
    multiplication_counts,
    toeplitz_density,
    toeplitz_matrix,
    toeplitz_multiplications,
    toeplitz_nnz,
    winograd_f2x2_3x3,
    winograd_multiplications,
)
from .counts import ConvCounts, conv2d_counts, conv2d_flops, conv2d_macs
from .im2col import Conv2dCache, col2im, conv2d_backward, conv2d_forward, im2col
from .naive import NaiveConv2dCache, conv2d_backward_naive, conv2d_forward_naive
from .pooling import (
    AvgPoolCache,
    FlattenCache,
    MaxPoolCache,
    avg_pool2d_backward,
    avg_pool2d_forward,
    flatten_backward,
    flatten_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .transpose import (
    ConvTranspose2dCache,
    CropConcatCache,
    UpsampleCache,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose_output_size,
    crop_and_concat,
    crop_and_concat_backward,
    upsample_bilinear2d_backward,
    upsample_bilinear2d_forward,
    upsample_nearest2d_backward,
    upsample_nearest2d_forward,
)

__all__ = [
    "WINOGRAD_A_T",
    "WINOGRAD_B_T",
    "WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE",
    "WINOGRAD_G",
    "WINOGRAD_MULTIPLICATIONS_PER_TILE",
    "as_pair",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "AvgPoolCache",
    "col2im",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_counts",
    "conv2d_fft",
    "conv2d_flops",
    "conv2d_forward",
    "conv2d_forward_naive",
    "conv2d_macs",
    "conv2d_toeplitz",
    "Conv2dCache",
    "conv_geometry",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose_output_size",
    "ConvCounts",
    "ConvGeometry",
    "ConvTranspose2dCache",
    "crop_and_concat",
    "crop_and_concat_backward",
    "CropConcatCache",
    "direct_multiplications",
    "fft_multiplications",
    "flatten_backward",
    "flatten_forward",
    "FlattenCache",
    "im2col",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "MaxPoolCache",
    "multiplication_counts",
    "NaiveConv2dCache",
    "output_size",
    "pool_geometry",
    "toeplitz_density",
    "toeplitz_matrix",
    "toeplitz_multiplications",
    "toeplitz_nnz",
    "upsample_bilinear2d_backward",
    "upsample_bilinear2d_forward",
    "upsample_nearest2d_backward",
    "upsample_nearest2d_forward",
    "UpsampleCache",
    "winograd_f2x2_3x3",
    "winograd_multiplications",
]
