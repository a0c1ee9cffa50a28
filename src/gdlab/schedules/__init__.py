r"""Learning-rate schedules that drive an optimizer's ``lr``, after ``torch.optim.lr_scheduler``.

A schedule wraps any object with a settable ``lr`` attribute (every gdlab optimizer)::

    opt = Adam([w], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=50)
    for epoch in range(50):
        ...                # optimizer steps
        sched.step()       # sets opt.lr for the next unit

``make_schedule("cosine:T_max=50", opt)`` builds one from the command line's grammar. See
:mod:`gdlab.schedules.base` for the contract.
"""

from gdlab.schedules.base import ConstantSchedule, Schedule, is_plateau
from gdlab.schedules.cyclic import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
from gdlab.schedules.decay import ExponentialLR, InverseScalingLR, MultiStepLR, PolynomialLR, StepLR
from gdlab.schedules.plateau import ReduceLROnPlateau
from gdlab.schedules.spec import SCHEDULES, make_schedule
from gdlab.schedules.warmup import LinearWarmup

__all__ = [
    "Schedule", "ConstantSchedule", "StepLR", "MultiStepLR", "ExponentialLR",
    "InverseScalingLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
    "LinearWarmup", "OneCycleLR", "ReduceLROnPlateau", "SCHEDULES", "make_schedule",
    "is_plateau",
]
