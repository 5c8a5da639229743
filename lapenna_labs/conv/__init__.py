"""Convolution and pooling on NCHW batches: the loops, im2col and one GEMM, the counts, and
the alternatives (Toeplitz, FFT, Winograd). Weeks 5 to 7 of the course in code.

Every public name of the submodules is also here, so ``from lapenna_labs import conv;
conv.conv2d_forward(...)`` reaches it.
"""

from ._geometry import ConvGeometry, as_pair, conv_geometry, output_size, pool_geometry

__all__ = ["ConvGeometry", "as_pair", "conv_geometry", "output_size", "pool_geometry"]
