"""The network: modules, their shared protocol, losses and the Model that chains them.

Every module (``Layer``, ``Nonlinearity``, ``DropoutLayer``, ``BatchNorm1d``, ``LayerNorm``
and what a user registers) follows the protocol of ``mlp.nn.module.Module``; ``Model`` owns
the order of the modules and the layout of their arrays. The fused fast paths of one training
step, the reusable scratch buffers, sparse inputs, the input normalizer, gradient checking and
the bridge to PyTorch's modules live here too.

May import: the base modules of ``mlp`` (``errors``, ``arrays``, ``registry``, ``display``) and
``mlp.storage``.
"""
