"""The optimizer base class and the formulas the optimizers share (each written once).

The algorithms live in :mod:`gdlab.optim.sgd`, :mod:`gdlab.optim.adaptive` and
:mod:`gdlab.optim.adam`; this module holds what they have in common: the parameter list and
step counter, the learning rate, the gradient as a rule sees it (maximize, coupled weight
decay), serialisation of the state, and the choice of the optional compiled kernels.
Optimizers see arrays, never layers.
"""

import numpy as np

from gdlab import _checks
from gdlab.kernels import builds

# --- validation ------------------------------------------------------------------------------

def check_betas(value):
    """``(beta1, beta2)``, each in [0, 1), or a ValueError naming ``betas[i]``."""
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {value!r}") from None
    return (_checks.real("betas[0]", b1, low=0.0, high=1.0, high_open=True),
            _checks.real("betas[1]", b2, low=0.0, high=1.0, high_open=True))


def kernels_for(fast, params):
    """The compiled kernels (:mod:`gdlab.kernels`) if the fast path is asked for or allowed, else
    None.

    ``fast=None`` takes it when a build of them is installed and ``params`` is one contiguous,
    aligned 1-D array (the training loop's flat vector) of at least ``FAST_MIN_SIZE`` elements
    (see :mod:`gdlab.kernels.builds`); ``True`` insists on it; ``False`` keeps NumPy. Both give
    the same bits. A step whose gradient the kernels cannot take (not contiguous, not aligned,
    or sharing memory with the parameters) runs the NumPy code, with the NumPy code's result.
    """
    fast = builds.check_fast(fast)
    if fast is False:
        return None
    p = params[0]
    if not (len(params) == 1 and p.ndim == 1 and p.flags.c_contiguous and p.flags.aligned):
        if fast:
            raise ValueError("fast=True needs params to be one contiguous, aligned 1-D array")
        return None
    return builds.select(fast, p.size)


def kernel_takes(p, g) -> bool:
    """Whether the kernels' contract holds for the gradient ``g`` of parameter ``p`` (the
    optimizer's own state always keeps it): contiguous, aligned, no memory shared with ``p``."""
    return g.flags.c_contiguous and g.flags.aligned and not np.may_share_memory(g, p)


# --- the formulas shared by several optimizers (each written once) ----------------------------

def ema_(avg, x, w, tmp):
    """avg <- avg + w (x - avg): an exponential moving average (torch's ``lerp_``)."""
    np.subtract(x, avg, out=tmp)
    tmp *= w
    avg += tmp


def ema_of_squares_(avg, x, beta, tmp):
    """avg <- beta avg + (1 - beta) x^2: the moving average of squares."""
    np.multiply(x, x, out=tmp)
    tmp *= 1.0 - beta
    avg *= beta
    avg += tmp


def axpy_(y, a, x, tmp):
    """y <- y + a x (``tmp`` may be ``x`` itself, which is then overwritten)."""
    if a == 1.0:  # exact, and one pass fewer (SGD without dampening)
        y += x
        return
    np.multiply(x, a, out=tmp)
    y += tmp


# --- the base class --------------------------------------------------------------------------

class Optimizer:
    """Base class: parameter list, step counter, learning rate, state and its serialisation.

    Subclasses set ``_hyper`` (names of their hyper-parameters besides ``lr``), implement
    ``_set_hyper(**hyper)`` (validate and store), ``_state_names()`` (per-parameter state
    arrays for the current settings) and ``_update(i, p, g)`` (one parameter, one step).
    """

    _hyper: tuple = ()
    _n_scratch = 1
    _coupled_decay = True  # weight decay added to the gradient (False: decoupled, AdamW)
    #: whether ``fast=`` can run the update as one compiled pass (:mod:`gdlab.kernels`)
    has_kernel = False
    #: the compiled kernels module this optimizer updates with (``fast=``), or None for NumPy
    kernels = None

    def __init__(self, params, lr, **hyper):
        if isinstance(params, np.ndarray) or not hasattr(params, "__len__"):
            raise TypeError("params must be a list of NumPy arrays (one flat vector: [theta])")
        self.params = list(params)
        if not self.params:
            raise ValueError("params must not be empty")
        for i, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
                kind = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
                raise TypeError(f"params[{i}] must be a float32 or float64 array, got {kind}")
            if not p.flags.writeable:
                raise ValueError(f"params[{i}] is read-only; the optimizer updates it in place")
        self.lr = lr
        self._set_hyper(**hyper)
        self.step_count = 0
        self._scratch = [[np.empty_like(p) for p in self.params] for _ in range(self._n_scratch)]
        self._gbuf = None
        self._alloc_state()

    # learning rate: a validated attribute, set between steps by schedules
    @property
    def lr(self):
        """The learning rate used by the next step."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _checks.non_negative("lr", value)

    def _set_hyper(self, *, weight_decay=0.0, maximize=False):
        self.weight_decay = _checks.non_negative("weight_decay", weight_decay)
        self.maximize = bool(maximize)

    def _state_names(self):
        return ()

    def _initial_value(self, name):
        return 0.0

    def _alloc_state(self):
        self.state = [{n: np.full_like(p, self._initial_value(n)) for n in self._state_names()}
                      for p in self.params]

    # -- stepping --
    def step(self, grads):
        """Update every parameter in place from ``grads`` (same order, shapes and dtypes)."""
        if isinstance(grads, np.ndarray) or not hasattr(grads, "__len__"):
            raise TypeError("grads must be a list of arrays, one per parameter")
        if len(grads) != len(self.params):
            raise ValueError(f"grads: expected {len(self.params)} arrays (one per parameter), "
                             f"got {len(grads)}")
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if getattr(g, "shape", None) != p.shape:
                raise ValueError(f"grads[{i}] has shape {getattr(g, 'shape', None)} but "
                                 f"params[{i}] has shape {p.shape}")
            if g.dtype != p.dtype:
                raise TypeError(f"grads[{i}] has dtype {g.dtype} but params[{i}] has {p.dtype}")
        # checked once per set of state arrays (the optimizer's own stay fit); the arrays are
        # kept with their ids, so that an id is never reused while it is compared
        ids = [id(a) for st in self.state for a in st.values()]
        if ids != self.__dict__.get("_checked_ids"):
            self.check_state()
            self._checked_ids = ids
            self._checked_arrays = [a for st in self.state for a in st.values()]
        self.step_count += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            self._update(i, p, g)

    def check_state(self):
        """A ValueError/TypeError naming the state array (``state[i][name]``) that no longer
        fits its parameter: another shape or dtype, read-only, not contiguous or aligned, or
        sharing memory with the parameter or another state array. The optimizer allocates its
        state to fit; this catches arrays replaced from outside, before any update uses them."""
        for i, (p, s) in enumerate(zip(self.params, self.state)):
            seen = [p]
            for name, a in s.items():
                where = f"state[{i}][{name!r}]"
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{where} must be a NumPy array, got {type(a).__name__}")
                if a.shape != p.shape:
                    raise ValueError(f"{where} has shape {a.shape} but params[{i}] has shape "
                                     f"{p.shape}")
                if a.dtype != p.dtype:
                    raise TypeError(f"{where} has dtype {a.dtype} but params[{i}] has {p.dtype}")
                flags = a.flags
                if not (flags.writeable and flags.aligned and (flags.c_contiguous
                                                               or flags.f_contiguous)):
                    raise ValueError(f"{where} must be a writable, aligned, contiguous array")
                if any(np.may_share_memory(a, b) for b in seen):
                    raise ValueError(f"{where} shares memory with params[{i}] or another of its "
                                     "state arrays")
                seen.append(a)

    def _grad(self, i, p, g):
        """The gradient the rule uses: -g when maximizing, plus lambda p for coupled decay."""
        wd = self.weight_decay if self._coupled_decay else 0.0
        if not self.maximize and wd == 0.0:
            return g
        if self._gbuf is None:
            self._gbuf = [np.empty_like(q) for q in self.params]
        buf = self._gbuf[i]
        if wd == 0.0:
            np.negative(g, out=buf)
        else:
            np.multiply(p, wd, out=buf)
            (np.subtract if self.maximize else np.add)(buf, g, out=buf)
        return buf

    def _decay(self, p):
        """Decoupled weight decay: theta <- (1 - lr lambda) theta."""
        if not self._coupled_decay and self.weight_decay != 0.0:
            p *= 1.0 - self.lr * self.weight_decay

    def _update(self, i, p, g):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- serialisation --
    def _extra_state(self):
        return {}

    def _load_extra_state(self, d):
        pass

    def state_dict(self):
        """Step count, hyper-parameters and copies of the state arrays (JSON types + arrays)."""
        hyper = {"lr": self.lr}
        for name in self._hyper:
            v = getattr(self, name)
            hyper[name] = list(v) if isinstance(v, tuple) else v
        d = {"optimizer": type(self).__name__, "step": self.step_count, "hyper": hyper,
             "state": [{n: a.copy() for n, a in s.items()} for s in self.state]}
        d.update(self._extra_state())
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict()`` (of the same optimizer class and parameter shapes)."""
        name = d.get("optimizer")
        if name != type(self).__name__:
            raise ValueError(f"state_dict is for optimizer {name!r}, not {type(self).__name__!r}")
        missing = [k for k in ("step", "hyper", "state", *self._extra_state()) if k not in d]
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        step = d["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"state_dict step must be an int >= 0, got {step!r}")
        hyper = dict(d["hyper"])
        if set(hyper) != {"lr", *self._hyper}:
            raise ValueError(f"state_dict hyper-parameters {sorted(hyper)} are not "
                             f"{sorted({'lr', *self._hyper})}")
        lr = hyper.pop("lr")
        state = d["state"]
        if len(state) != len(self.params):
            raise ValueError(f"state_dict state has {len(state)} entries but the optimizer "
                             f"has {len(self.params)} parameters")
        old = (self.lr, {k: getattr(self, k) for k in self._hyper})
        self.lr = lr
        try:
            self._set_hyper(**hyper)
            names = set(self._state_names())
            for i, (p, s) in enumerate(zip(self.params, state)):
                if set(s) != names:
                    raise ValueError(f"state_dict state[{i}] has arrays {sorted(s)}, "
                                     f"expected {sorted(names)}")
                for n, a in s.items():
                    if np.shape(a) != p.shape:
                        raise ValueError(f"state_dict state[{i}][{n!r}] has shape "
                                         f"{np.shape(a)} but params[{i}] has shape {p.shape}")
        except (ValueError, TypeError):
            self.lr = old[0]
            self._set_hyper(**old[1])
            raise
        self._alloc_state()
        for dst, src in zip(self.state, state):
            for n, a in src.items():
                np.copyto(dst[n], a)
        self.step_count = int(step)
        self._load_extra_state(d)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("lr",) + self._hyper)
        return f"{type(self).__name__}({args})"
