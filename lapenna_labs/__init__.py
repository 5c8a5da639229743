"""lapenna_labs: reference code for the LAPENNA course.

Pure NumPy reference implementations of the pieces a neural network is made of,
in the style of cs231n's ``layers.py``: forward functions return ``(out, cache)``,
backward functions take ``(dout, cache)``. Batches are rows: ``x`` is ``(N, D)``.
Which week teaches which module is in the course manifest, ``course.yml``.

Modules
-------
activations  sigmoid, tanh, relu, leaky_relu, softmax and their derivatives
losses       MSE, half sum of squares, binary/categorical/softmax cross-entropy
layers       dense and activation layers, forward and backward
graph        a micrograd-sized scalar autodiff: gates with local gradients, backward
forward_ad   forward-mode autodiff with dual numbers of arrays: jvp, jacobian
mlp          a multilayer perceptron built on ``layers``
training     ``fit``: mini-batches, an optimizer, validation and history, for any model
optim        SGD, momentum, Nesterov, Adam, Nadam
schedules    learning-rate schedules: step, exponential and cosine decay
gradcheck    central-difference gradients and relative errors
blas         flop/byte counts, peak figures, correct CPU/GPU timing, blocked matmul
conv         convolution and pooling on NCHW batches: the loops, im2col and one GEMM, the counts,
             the Toeplitz, FFT and Winograd alternatives
norm         batch normalization (dense and spatial, running statistics) and layer normalization
cnn          a LeNet-5-style CNN on the conv, pool and dense layers, trained by ``training.fit``
architectures  per-layer parameters, multiply-adds and GEMM shapes of LeNet-5 to ResNet-50
detection    boxes, IoU, NMS, anchors, box coding, target assignment and COCO-style mAP
detector     a small FCOS-style single-shot detector: targets, loss, decoding, training, cost
segmentation per-pixel softmax cross-entropy, the confusion matrix, IoU and Dice per class
unet         the U-Net's shape algebra and per-level costs, and a U-Net in PyTorch to train
camera       the pinhole camera K[R|t], the road's homography, distances from boxes, frame rates
rnn          RNN, LSTM and GRU cells and sequences (BPTT, truncated), embeddings, masked temporal
             cross-entropy, converters to and from torch.nn and Keras recurrent layers
attention    scaled dot-product and multi-head attention, positional encoding, the pre-norm
             transformer block, attention's flops and bytes, a key-value cache
charlm       character language models on Python's own documentation: an LSTM in NumPy, a tiny
             GPT in PyTorch, temperature sampling
plots        GFLOP/s curves, the roofline, training curves, computational graphs
data         MNIST loading (online, cached, or offline subset), one-hot, mini-batches, and
             digit scenes for segmentation (masks) and detection (boxes)
examples     the lecture slides' worked examples as data, and the slides' errata
measurements recorded GPU figures (device, date, software, method, statistic) the book prints
grading      what the labs' tests share: blocking the reference, feedback, device detection
course       the course manifest (``course.yml``) and what is derived from it
"""

__version__ = "0.1.0"
