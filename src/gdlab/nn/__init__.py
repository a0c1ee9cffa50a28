"""The engine: layers with their forward and backward passes side by side, losses, initialisers,
the network that owns one flat parameter and one flat gradient buffer, the fused Dense + ReLU
plan, the L2 penalty and gradient checking.

The engine knows no optimizer, no training loop, no MPI and no command line. Import names from
here (``from gdlab.nn import Dense``) or from ``gdlab`` itself.
"""

from gdlab.nn.dropout import Dropout
from gdlab.nn.gradcheck import GradcheckReport, gradcheck, gradcheck_network
from gdlab.nn.init import INITIALIZERS, get_initializer
from gdlab.nn.layers import (
    ACTIVATIONS,
    ELU,
    Activation,
    Dense,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
)
from gdlab.nn.losses import (
    LOSSES,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    Loss,
    MSELoss,
    get_loss,
)
from gdlab.nn.normalization import BatchNorm
from gdlab.nn.penalty import L2Penalty
from gdlab.nn.sequential import Sequential, mlp

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LOSSES", "Activation", "BCEWithLogitsLoss", "BatchNorm",
    "CrossEntropyLoss", "Dense", "Dropout", "ELU", "GradcheckReport", "HuberLoss", "Identity",
    "L1Loss", "L2Penalty", "Layer", "LeakyReLU", "Loss", "MSELoss", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "get_activation", "get_initializer", "get_loss", "gradcheck",
    "gradcheck_network", "mlp",
]
