"""Learning-rate schedules, matched step by step against torch.optim.lr_scheduler."""

import json
import math
import warnings

import pytest

from gdlab import schedules as S

torch = pytest.importorskip("torch")
lrs = torch.optim.lr_scheduler

LR0 = 0.1
REL = 1e-12


class Opt:
    """The whole contract a schedule needs: a settable ``lr``."""

    def __init__(self, lr=LR0):
        self.lr = lr


def rel_err(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def torch_sequence(make, n, lr=LR0, metrics=None):
    """lr in use for units 0..n under a torch scheduler (optimizer.step before sched.step)."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        out = [opt.param_groups[0]["lr"]]
        for t in range(n):
            opt.step()
            sched.step(metrics[t]) if metrics is not None else sched.step()
            out.append(opt.param_groups[0]["lr"])
    return out


def our_sequence(sched, opt, n, metrics=None, start=0):
    out = [opt.lr] if start == 0 else []
    for t in range(start, n):
        sched.step(metrics[t]) if metrics is not None else sched.step()
        assert sched.get_last_lr() == [opt.lr]
        out.append(opt.lr)
    return out


def seq_then(o, make_then, W, sf):
    return lrs.SequentialLR(o, [lrs.LinearLR(o, start_factor=sf, total_iters=W), make_then(o)],
                            milestones=[W])


# (our constructor, torch constructor, number of units); chosen to cross milestones/restarts
CASES = {
    "constant": (lambda o: S.ConstantSchedule(o), lambda o: lrs.LambdaLR(o, lambda t: 1.0), 20),
    "step": (lambda o: S.StepLR(o, step_size=7, gamma=0.5),
             lambda o: lrs.StepLR(o, step_size=7, gamma=0.5), 60),
    "step_default": (lambda o: S.StepLR(o, 3), lambda o: lrs.StepLR(o, 3), 20),
    "multistep": (lambda o: S.MultiStepLR(o, milestones=[12, 5, 12, 30], gamma=0.3),
                  lambda o: lrs.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3), 40),
    "exponential": (lambda o: S.ExponentialLR(o, gamma=0.95),
                    lambda o: lrs.ExponentialLR(o, gamma=0.95), 150),
    "polynomial": (lambda o: S.PolynomialLR(o, total_iters=40, power=0.9),
                   lambda o: lrs.PolynomialLR(o, total_iters=40, power=0.9), 60),
    "polynomial_default": (lambda o: S.PolynomialLR(o), lambda o: lrs.PolynomialLR(o), 10),
    "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=25, eta_min=0.001),
               lambda o: lrs.CosineAnnealingLR(o, T_max=25, eta_min=0.001), 80),
    "cosine_zero": (lambda o: S.CosineAnnealingLR(o, T_max=10),
                    lambda o: lrs.CosineAnnealingLR(o, T_max=10), 45),
    "restarts_mult2": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3),
                       lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2,
                                                                 eta_min=1e-3), 100),
    "restarts": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7),
                 lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=7), 50),
    "warmup_cosine": (
        lambda o: S.LinearWarmup(o, 5, then=S.CosineAnnealingLR(o, T_max=30), start_factor=0.1),
        lambda o: seq_then(o, lambda o: lrs.CosineAnnealingLR(o, T_max=30), 5, 0.1), 50),
    "warmup_step": (
        lambda o: S.LinearWarmup(o, warmup_steps=4, then=S.StepLR(o, 6, gamma=0.5)),
        lambda o: seq_then(o, lambda o: lrs.StepLR(o, 6, gamma=0.5), 4, 1 / 3), 40),
    "warmup_only": (lambda o: S.LinearWarmup(o, warmup_steps=8, start_factor=0.01),
                    lambda o: seq_then(o, lambda o: lrs.LambdaLR(o, lambda t: 1.0), 8, 0.01), 20),
    "onecycle": (lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=50),
                 lambda o: lrs.OneCycleLR(o, max_lr=0.5, total_steps=50, cycle_momentum=False),
                 50),
    "onecycle_3phase_linear": (
        lambda o: S.OneCycleLR(o, max_lr=1.0, epochs=6, steps_per_epoch=7, pct_start=0.25,
                               anneal_strategy="linear", three_phase=True, div_factor=10.0,
                               final_div_factor=100.0),
        lambda o: lrs.OneCycleLR(o, max_lr=1.0, epochs=6, steps_per_epoch=7, pct_start=0.25,
                                 anneal_strategy="linear", three_phase=True, div_factor=10.0,
                                 final_div_factor=100.0, cycle_momentum=False), 42),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case):
    ours, theirs, n = CASES[case]
    expected = torch_sequence(theirs, n)
    opt = Opt()
    got = our_sequence(ours(opt), opt, n)
    assert len(got) == len(expected) == n + 1
    worst = max(rel_err(a, b) for a, b in zip(got, expected))
    assert worst <= REL, f"{case}: worst relative error {worst}"


def _metrics(n):
    # decreasing with plateaus, a NaN and a late improvement: exercises patience and cooldown
    out = []
    for t in range(n):
        out.append(1.0 / (1 + t // 6) + 0.01 * math.sin(t))
    out[17] = float("nan")
    out[40] = 0.01
    return out


PLATEAU = {
    "min_rel": dict(mode="min", factor=0.5, patience=2, cooldown=1),
    "min_abs": dict(mode="min", factor=0.3, patience=0, threshold=0.05, threshold_mode="abs",
                    min_lr=0.004),
    "max_rel": dict(mode="max", factor=0.9, patience=3, threshold=0.0, cooldown=2, eps=1e-3),
    "default": dict(),
}


@pytest.mark.parametrize("case", sorted(PLATEAU))
def test_plateau_matches_torch(case):
    kw, n = PLATEAU[case], 60
    metrics = _metrics(n)
    if kw.get("mode") == "max":
        metrics = [-m for m in metrics]
    expected = torch_sequence(lambda o: lrs.ReduceLROnPlateau(o, **kw), n, metrics=metrics)
    opt = Opt()
    sched = S.ReduceLROnPlateau(opt, **kw)
    got = our_sequence(sched, opt, n, metrics=metrics)
    assert len(set(expected)) > 1 or case == "default"  # the case really reduces the rate
    assert max(rel_err(a, b) for a, b in zip(got, expected)) <= REL


def sklearn_invscaling(learning_rate_init, power_t, time_step):
    # sklearn/neural_network/_stochastic_optimizers.py, SGDOptimizer.iteration_ends
    return float(learning_rate_init) / (time_step + 1) ** power_t


@pytest.mark.parametrize("power_t", [0.5, 0.25, 1.0])
def test_invscaling_matches_sklearn_formula(power_t):
    opt = Opt(0.3)
    sched = S.InverseScalingLR(opt, power_t=power_t)
    assert opt.lr == 0.3
    for t in range(1, 30):
        sched.step()
        assert rel_err(opt.lr, sklearn_invscaling(0.3, power_t, t)) <= REL
    seen = 0
    for _ in range(10):  # as the MLP does: t = number of samples seen, 32 per batch
        seen += 32
        sched.step(t=seen)
        assert rel_err(opt.lr, sklearn_invscaling(0.3, power_t, seen)) <= REL


def test_invscaling_matches_sklearn_optimizer():
    import numpy as np
    sgd = pytest.importorskip("sklearn.neural_network._stochastic_optimizers").SGDOptimizer
    ref = sgd([np.zeros(2)], learning_rate_init=0.05, lr_schedule="invscaling", power_t=0.3)
    opt = Opt(0.05)
    sched = S.InverseScalingLR(opt, power_t=0.3)
    for seen in (1, 7, 100, 1000, 12345):
        ref.iteration_ends(seen)
        sched.step(t=seen)
        assert rel_err(opt.lr, ref.learning_rate) <= REL


def _resume_check(build, n, k, metrics=None):
    opt_a = Opt()
    a = build(opt_a)
    full = our_sequence(a, opt_a, n, metrics)
    opt_b = Opt()
    b = build(opt_b)
    first = our_sequence(b, opt_b, k, metrics)
    state = json.loads(json.dumps(b.state_dict(), allow_nan=False))  # JSON types only
    opt_c = Opt(123.0)  # a fresh run whose lr must be restored from the checkpoint
    c = build(opt_c)
    c.load_state_dict(state)
    assert opt_c.lr == first[-1]
    rest = our_sequence(c, opt_c, n, metrics, start=k)
    assert first + rest == full


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trip(case):
    ours, _, n = CASES[case]
    _resume_check(ours, n, n // 2 + 1)


@pytest.mark.parametrize("case", sorted(PLATEAU))
def test_plateau_state_dict_round_trip(case):
    for k in (1, 13, 31):  # before any best (k=1 still has inf before the step), mid-cooldown
        _resume_check(lambda o: S.ReduceLROnPlateau(o, **PLATEAU[case]), 60, k, _metrics(60))
    sched = S.ReduceLROnPlateau(Opt())
    assert sched.state_dict()["best"] is None


def test_load_state_dict_rejects_other_schedule():
    state = S.StepLR(Opt(), 3).state_dict()
    with pytest.raises(ValueError, match="StepLR"):
        S.ExponentialLR(Opt(), 0.9).load_state_dict(state)


def test_base_lr_read_from_optimizer_and_is_plateau():
    opt = Opt(0.7)
    sched = S.ExponentialLR(opt, gamma=0.5)
    assert sched.base_lr == 0.7 and opt.lr == 0.7
    sched.step()
    assert opt.lr == pytest.approx(0.35, rel=1e-15)
    assert S.is_plateau(S.ReduceLROnPlateau(Opt())) is True
    assert S.is_plateau(sched) is False
    assert not S.is_plateau(S.make_schedule("warmup:warmup_steps=2,then=cosine", Opt(),
                                            horizon=10))


def test_onecycle_holds_after_total_steps():
    opt = Opt()
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    for _ in range(10):
        sched.step()
    last = opt.lr
    for _ in range(5):
        sched.step()
        assert opt.lr == last


# ---- spec parsing ----

def test_names_table():
    assert set(S.SCHEDULES) == {"constant", "step", "multistep", "exponential", "invscaling",
                                "polynomial", "cosine", "cosine_restarts", "warmup",
                                "onecycle", "plateau"}


@pytest.mark.parametrize("spec, cls, attrs", [
    ("constant", S.ConstantSchedule, {}),
    ("cosine:T_max=50", S.CosineAnnealingLR, {"T_max": 50, "eta_min": 0.0}),
    ("cosine", S.CosineAnnealingLR, {"T_max": 30}),
    ("step:step_size=10,gamma=0.5", S.StepLR, {"step_size": 10, "gamma": 0.5}),
    ("exponential:gamma=0.95", S.ExponentialLR, {"gamma": 0.95}),
    ("plateau:factor=0.5,patience=3,mode=max", S.ReduceLROnPlateau,
     {"factor": 0.5, "patience": 3, "mode": "max"}),
    ("multistep:milestones=10;20,gamma=0.5", S.MultiStepLR,
     {"milestones": [10, 20], "gamma": 0.5}),
    ("multistep:milestones=7", S.MultiStepLR, {"milestones": [7]}),
    ("onecycle:max_lr=0.1", S.OneCycleLR, {"max_lr": 0.1, "total_steps": 30}),
    ("onecycle:max_lr=1,three_phase=true,anneal_strategy=linear", S.OneCycleLR,
     {"three_phase": True, "anneal_strategy": "linear"}),
    ("polynomial:power=2", S.PolynomialLR, {"total_iters": 30, "power": 2.0}),
    (" Cosine_Restarts : T_0=5 , T_mult=2 ", S.CosineAnnealingWarmRestarts,
     {"T_0": 5, "T_mult": 2}),
    ("invscaling:power_t=0.25", S.InverseScalingLR, {"power_t": 0.25}),
    ("warmup:warmup_steps=5", S.LinearWarmup, {"warmup_steps": 5, "then": None}),
])
def test_make_schedule(spec, cls, attrs):
    sched = S.make_schedule(spec, Opt(), horizon=30)
    assert type(sched) is cls
    for key, value in attrs.items():
        assert getattr(sched, key) == value


def test_make_schedule_warmup_then_matches_torch():
    opt = Opt()
    sched = S.make_schedule("warmup:warmup_steps=5,then=cosine,eta_min=0.001,start_factor=0.2",
                            opt, horizon=50)
    assert isinstance(sched.then, S.CosineAnnealingLR)
    assert sched.then.T_max == 45 and sched.then.eta_min == 0.001
    expected = torch_sequence(
        lambda o: seq_then(o, lambda o: lrs.CosineAnnealingLR(o, T_max=45, eta_min=0.001),
                           5, 0.2), 50)
    got = our_sequence(sched, opt, 50)
    assert max(rel_err(a, b) for a, b in zip(got, expected)) <= REL
    assert got[-1] == pytest.approx(0.001, rel=1e-12)  # reaches eta_min at the horizon


@pytest.mark.parametrize("spec, match", [
    ("cosinus", "cosinus"),
    ("", "spec"),
    ("step:step_size=10,gama=0.5", "gama"),
    ("step:step_size=abc", "step_size"),
    ("step:step_size=2.5", "step_size"),
    ("step:step_size=0", "step_size"),
    ("step", "step_size"),
    ("step:step_size", "step_size"),
    ("step:step_size=3,step_size=4", "step_size"),
    ("exponential:gamma=-0.5", "gamma"),
    ("exponential:gamma=nan", "gamma"),
    ("plateau:factor=1.5", "factor"),
    ("plateau:mode=maximum", "mode"),
    ("plateau:threshold_mode=pct", "threshold_mode"),
    ("multistep:milestones=a;b", "milestones"),
    ("onecycle:max_lr=0.1,anneal_strategy=cubic", "anneal_strategy"),
    ("onecycle:max_lr=0.1,pct_start=2", "pct_start"),
    ("warmup:then=cosine", "warmup_steps"),
    ("warmup:warmup_steps=3,then=plateau", "then"),
    ("warmup:warmup_steps=3,then=nope", "then"),
    ("warmup:warmup_steps=3,gamma=0.5", "gamma"),
    ("warmup:warmup_steps=3,then=step,step_size=2,T_max=4", "T_max"),
])
def test_make_schedule_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        S.make_schedule(spec, Opt(), horizon=20)


def test_make_schedule_needs_horizon():
    with pytest.raises(ValueError, match="T_max"):
        S.make_schedule("cosine", Opt())
    with pytest.raises(ValueError, match="horizon"):
        S.make_schedule("cosine", Opt(), horizon=0)


def test_bad_optimizer_and_lr():
    with pytest.raises(TypeError, match="lr"):
        S.StepLR(object(), 3)
    with pytest.raises(ValueError, match="lr"):
        S.StepLR(Opt(float("nan")), 3)
    with pytest.raises(ValueError, match="t"):
        S.InverseScalingLR(Opt()).step(t=-1)


def test_load_state_dict_rejects_incomplete_state():
    state = S.ReduceLROnPlateau(Opt()).state_dict()
    del state["num_bad_epochs"]
    with pytest.raises(ValueError, match="num_bad_epochs"):
        S.ReduceLROnPlateau(Opt()).load_state_dict(state)


def test_drives_a_gdlab_optimizer():
    import numpy as np

    from gdlab.optim import SGD

    w = np.array([1.0])
    opt = SGD([w], lr=0.5)
    sched = S.StepLR(opt, step_size=1, gamma=0.1)
    opt.step([np.array([1.0])])  # uses lr 0.5
    sched.step()
    opt.step([np.array([1.0])])  # uses lr 0.05
    assert opt.lr == pytest.approx(0.05, rel=1e-15)
    assert w[0] == pytest.approx(1.0 - 0.5 - 0.05, rel=1e-15)


def test_invscaling_state_dict_round_trip():
    _resume_check(lambda o: S.InverseScalingLR(o, power_t=0.25), 30, 11)
