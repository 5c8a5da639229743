"""lapenna_labs: reference code for the LAPENNA course (weeks 1-4).

Pure NumPy reference implementations of the pieces a neural network is made of,
in the style of cs231n's ``layers.py``: forward functions return ``(out, cache)``,
backward functions take ``(dout, cache)``. Batches are rows: ``x`` is ``(N, D)``.

Modules
-------
activations  sigmoid, tanh, relu, leaky_relu, softmax and their derivatives
losses       MSE, half sum of squares, binary/categorical/softmax cross-entropy
layers       dense and activation layers, forward and backward
graph        a tiny scalar autodiff to draw computational graphs
mlp          a multilayer perceptron built on ``layers``
optim        SGD, momentum, Nesterov, Adam, Nadam
gradcheck    central-difference gradients and relative errors
blas         flop/byte counts, correct CPU/GPU timing, blocked matmul, roofline
data         MNIST loading (online, cached, or offline subset), one-hot, mini-batches
examples     the lecture slides' worked examples as data
"""

__version__ = "0.1.0"
