"""The network: modules, their shared protocol, losses and the Model that chains them.

Every module (``Layer``, ``Nonlinearity``, ``DropoutLayer``, ``BatchNorm1d``, ``LayerNorm``
and what a user registers) follows the protocol of ``mlp.nn.module.Module``; ``Model`` owns
the order of the modules and the layout of their arrays. The fused fast paths of one training
step, the reusable scratch buffers, sparse inputs, the input normalizer, gradient checking and
the bridge to PyTorch's modules live here too.

Modules:

- ``module``: ``Module``, the protocol every module follows; ``Context``; the module registry.
- ``activations``: one class per activation (forward, backward, ONNX, diagnostics' saturation).
- ``layers``: ``Layer``, ``Nonlinearity``, ``DropoutLayer``, and the fused bias+ReLU step.
- ``normalization``: ``BatchNorm1d`` and ``LayerNorm``.
- ``losses``: ``Loss`` and its registered kinds (per-sample terms, one weighted mean),
  ``Loss.evaluate`` (loss, accuracy, n).
- ``model``: ``Model`` and ``Model.mlp``: a validated sequence of registered modules; the owner
  of the state layout (``state_dict``).
- ``fused``: ``Kernels``: the compiled one-pass optimizer, bias-and-ReLU and cross-entropy loops,
  bit-identical to NumPy.
- ``blas_workers``: ``settle``: NumPy's OpenBLAS workers sleep soon after a product instead of
  spinning through the training step (once per process, the same bits).
- ``scratch``: reusable work arrays (``Buffers``) and ``private(obj)``, the one way to Pydantic's
  private state.
- ``sparse``: SciPy CSR inputs: the first layer's sparse products, checks and statistics (SciPy
  optional).
- ``torch_bridge``: ``Model.to_torch`` / ``Model.from_torch``: PyTorch's own modules, the same
  numbers (PyTorch optional).
- ``safetensors_file``: ``Model.save_safetensors`` / ``load_safetensors``: PyTorch's names and
  layout, the spec in the metadata, crafted files refused.
- ``gradient_check``: central finite differences against every backward; ``relative_error``.
- ``input_normalizer``: ``Normalizer``, the input scaling a saved model applies (re-exported by
  ``preprocess``).

Tested by: ``tests/test_gradients.py`` (every backward against central finite differences in
float64), ``tests/test_model.py`` (specs, validation errors, JSON round trips, initialisation
statistics, predictions), ``tests/test_normalization.py`` (BatchNorm1d and LayerNorm against
finite differences, closed forms and PyTorch, through resume, early stopping, ONNX, diagnostics,
the estimators and sweeps), ``tests/test_open_network.py`` (a user's Swish, Huber and Lion
through JSON, checkpoints, ``copy``, ``astype``, resume and export; unregistered and doubly
registered names, a backward of the wrong shape refused), ``tests/test_kernels.py`` (the
compiled kernels against the NumPy rules bit for bit, inf and NaN inputs, signed zeros, cross
entropy for 2 to 128 classes with ties and weights, whole runs, a step split over threads),
``tests/test_blas_workers.py`` (the workers' spin shortened once, a short one kept, products
the same bits, nothing done from another thread first),
``tests/test_sparse.py`` (sparse products equal SciPy's bit for bit, runs on CSR equal runs on
the same dense matrix, one epoch on a 4 GB-dense matrix under 10 MB of allocations, the library
without SciPy), ``tests/test_torch_bridge.py`` (outputs, gradients and running statistics
against PyTorch itself), ``tests/test_safetensors.py`` (round trips of every module kind,
crafted files refused), ``tests/test_course.py`` (CS231n's checks of its own layers),
``tests/test_weights.py`` (weighted-mean losses against finite differences and closed forms).

May import: the base modules of ``mlp`` (``errors``, ``arrays``, ``registry``, ``display``) and
``mlp.storage``."""
