"""2-D test functions (gradients, optima) and minimize() (convergence, divergence, errors)."""

import warnings

import numpy as np
import pytest

from gdlab import optim
from gdlab.lab.functions import FUNCTIONS, Quadratic
from gdlab.lab.minimize import minimize

NAMES = ["quadratic", "rosenbrock", "beale", "himmelblau", "saddle", "rastrigin", "concave"]


def test_table():
    assert sorted(FUNCTIONS) == sorted(NAMES)
    for fn in FUNCTIONS.values():
        (x0, x1), (y0, y1) = fn.bounds
        assert x0 < fn.start[0] < x1 and y0 < fn.start[1] < y1
        for m in fn.minima + fn.maxima:
            assert x0 <= m[0] <= x1 and y0 <= m[1] <= y1


def central_diff(f, x, h):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", NAMES)
def test_grad_matches_finite_differences(name, rng):
    fn = FUNCTIONS[name]
    (x0, x1), (y0, y1) = fn.bounds
    points = np.column_stack([rng.uniform(x0, x1, 8), rng.uniform(y0, y1, 8)])
    for p in list(points) + [fn.start]:
        g = fn.grad(p)
        fd = central_diff(fn.f, p, 1e-6)
        assert g.shape == (2,)
        assert np.max(np.abs(g - fd)) <= 1e-5 * max(1.0, np.max(np.abs(fd))), (p, g, fd)


@pytest.mark.parametrize("name", NAMES)
def test_batches_and_dtype(name, rng):
    fn = FUNCTIONS[name]
    grid = rng.uniform(-2, 2, size=(3, 4, 2))
    values, grads = fn.f(grid), fn.grad(grid)
    assert values.shape == (3, 4) and grads.shape == (3, 4, 2)
    for i in range(3):
        for j in range(4):
            assert values[i, j] == pytest.approx(fn.f(grid[i, j]), rel=1e-14, abs=1e-14)
            np.testing.assert_allclose(grads[i, j], fn.grad(grid[i, j]), rtol=1e-14, atol=1e-14)
    p32 = np.array([0.3, -0.7], dtype=np.float32)
    assert fn.grad(p32).dtype == np.float32
    assert fn.f(grid.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        fn.f(np.zeros(3))


# The published optima (Wikipedia, "Test functions for optimization", to the digits published
# there; the quadratic's and the concave function's from their formulas, 1/2 (x^2 + k y^2)
# and 3 - (x - 1)^2 / 2 - 2 (y + 1/2)^2), written here rather than read from the code
PUBLISHED = {
    "quadratic": ([(0.0, 0.0)], 0.0),
    "rosenbrock": ([(1.0, 1.0)], 0.0),
    "beale": ([(3.0, 0.5)], 0.0),
    "himmelblau": ([(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                    (3.584428, -1.848126)], 0.0),
    "rastrigin": ([(0.0, 0.0)], 0.0),
    "concave": ([(1.0, -0.5)], 3.0),
}
# values away from the optima, from the published formulas
PUBLISHED_VALUES = {
    "quadratic": [((1.0, 1.0), 25.5)],            # cond 50
    "rosenbrock": [((-1.2, 1.0), 24.2), ((0.0, 0.0), 1.0)],
    "beale": [((0.0, 0.0), 14.203125), ((1.0, 1.0), 14.203125)],
    "himmelblau": [((0.0, 0.0), 170.0), ((1.0, 1.0), 106.0)],
    "rastrigin": [((0.5, 0.5), 40.5), ((1.0, 0.0), 1.0)],
    "saddle": [((1.0, 2.0), -3.0)],
    "concave": [((0.0, 0.0), 2.0)],
}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "saddle"])
def test_known_optima(name):
    fn = FUNCTIONS[name]
    maximize = fn.maximize  # the direction the function is meant for has a known optimum
    value, points = fn.optimum(maximize)
    published_points, published_value = PUBLISHED[name]
    assert value == published_value
    assert len(points) == len(published_points)
    sign = -1.0 if maximize else 1.0
    for m, published in zip(points, published_points):
        np.testing.assert_allclose(m, published, rtol=0, atol=1e-6)
        assert fn.f(published) == pytest.approx(value, abs=1e-9)
        assert fn.f(m) == pytest.approx(value, abs=1e-12)
        assert np.linalg.norm(fn.grad(m)) <= 1e-9
        # no better point nearby: it is a local optimum in the stated direction
        for d in ([1, 0], [0, 1], [1, 1], [1, -1], [-1, 0], [0, -1]):
            assert sign * fn.f(m + 1e-3 * np.array(d)) > sign * value


@pytest.mark.parametrize("name", NAMES)
def test_the_other_direction_is_unbounded(name):
    """Each function is unbounded in the direction it is not meant for (saddle: both): far
    along some line it exceeds any bound, so there is no optimum to state."""
    fn = FUNCTIONS[name]
    other = not fn.maximize
    value, points = fn.optimum(other)
    assert points == [] and value == (np.inf if other else -np.inf)
    sign = 1.0 if other else -1.0
    far = [sign * fn.f(t * np.array(d, dtype=float)) for t in (1e3, 1e4)
           for d in ([1, 0], [0, 1], [1, 1])]
    assert max(far) > 1e5
    assert fn.describe_optimum(other) == (
        f"no {'maximum' if other else 'minimum'}: the function is unbounded "
        f"{'above' if other else 'below'}")


@pytest.mark.parametrize("name", NAMES)
def test_values_of_the_published_formulas(name):
    fn = FUNCTIONS[name]
    for point, value in PUBLISHED_VALUES[name]:
        assert fn.f(np.array(point)) == pytest.approx(value, rel=1e-14, abs=1e-14), point


def test_himmelblau_minima_against_scipy():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    fn = FUNCTIONS["himmelblau"]
    assert len(fn.minima) == 4
    for m in fn.minima:
        res = scipy_optimize.minimize(fn.f, m + 0.3, jac=fn.grad, method="BFGS", tol=1e-14)
        np.testing.assert_allclose(res.x, m, atol=1e-8)


def test_saddle_is_a_saddle():
    fn = FUNCTIONS["saddle"]
    assert fn.minima == [] and fn.minimum == -np.inf
    assert np.all(fn.grad(np.zeros(2)) == 0)
    assert fn.f([0.1, 0.0]) > 0 > fn.f([0.0, 0.1])


def test_rastrigin_traps_gradient_descent_in_a_local_minimum():
    fn = FUNCTIONS["rastrigin"]
    res = minimize(fn, None, fn.start, optimizer="gd", lr=0.001, max_iter=2000)
    assert res.stopped_because == "tol"
    assert res.fun > 1.0  # a local minimum, not the global one (value 0)


# optimizer name -> (learning rate, steps allowed) on Quadratic(cond=50) from (-9, 3)
QUADRATIC_RUNS = {
    "sgd": (0.035, 700),        # GD is stable for lr < 2/cond = 0.04
    "gd": (0.035, 700),
    "momentum": (0.01, 500),
    "nesterov": (0.01, 400),
    "adagrad": (2.0, 200),
    "rmsprop": (0.03, 1000),
    "adadelta": (150.0, 150),   # Adadelta's unit-free step starts at sqrt(eps): a large lr
    "adamax": (0.3, 500),
    "adam": (0.3, 500),
    "adamw": (0.3, 500),
    "nadam": (0.3, 400),
    "radam": (0.1, 1600),
}


def test_every_optimizer_has_a_quadratic_run():
    assert set(QUADRATIC_RUNS) == set(optim.OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(QUADRATIC_RUNS))
def test_every_optimizer_converges_on_ill_conditioned_quadratic(name):
    fn = Quadratic(cond=50.0)
    lr, steps = QUADRATIC_RUNS[name]
    res = minimize(fn.f, fn.grad, [-9.0, 3.0], optimizer=name, lr=lr, max_iter=steps, tol=1e-6)
    assert res.stopped_because == "tol" and res.success, (name, res.stopped_because, res.n_iter)
    assert res.n_iter <= steps
    assert np.linalg.norm(res.x - fn.minima[0]) <= 1e-5
    assert res.fun <= 1e-10
    assert res.grad_norms[-1] <= 1e-6


@pytest.mark.parametrize("name, lr", [("sgd", 0.1), ("momentum", 0.05), ("adam", 0.1),
                                      ("rmsprop", 0.01)])
def test_maximize_finds_the_maximum_of_the_concave_function(name, lr):
    fn = FUNCTIONS["concave"]
    res = minimize(fn.f, fn.grad, fn.start, optimizer=name, lr=lr, max_iter=3000,
                   maximize=True)
    assert res.stopped_because == "tol"
    np.testing.assert_allclose(res.x, fn.maxima[0], atol=1e-5)
    assert res.fun == pytest.approx(fn.maximum, abs=1e-9) and fn.maximum == 3.0
    assert res.fun > res.values[0]


@pytest.mark.parametrize("name, lr", [
    ("quadratic", 0.05), ("quadratic", 10.0), ("quadratic", 1e200),
    ("rosenbrock", 0.01), ("rosenbrock", 1.0), ("rosenbrock", 1e100),
])
def test_too_large_learning_rate_is_reported(name, lr):
    fn = FUNCTIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NumPy may escape
        res = minimize(fn.f, fn.grad, fn.start, optimizer="gd", lr=lr, max_iter=1000)
    assert res.stopped_because in ("diverged", "non_finite")
    assert not res.success
    assert np.all(np.isfinite(res.path)) and np.all(np.isfinite(res.values))
    assert np.all(np.isfinite(res.grad_norms)) and np.isfinite(res.fun)
    assert res.path.shape == (res.n_iter + 1, 2)


def test_divergence_rule():
    fn = FUNCTIONS["quadratic"]
    res = minimize(fn.f, fn.grad, fn.start, optimizer="gd", lr=0.05, max_iter=1000)
    f0 = res.values[0]
    assert res.stopped_because == "diverged"
    assert res.values[-1] > f0 + 100.0 * abs(f0)  # the documented rule, default factor 100
    assert np.all(res.values[:-1] <= f0 + 100.0 * abs(f0))
    # f0 near zero: the scale is max(|f0|, 1), so the run stops once f > f0 + 100
    res = minimize(fn.f, fn.grad, [0.0, 1e-3], optimizer="gd", lr=0.05, max_iter=1000)
    assert res.stopped_because == "diverged"
    assert 100.0 < res.values[-1] - res.values[0] and np.all(res.values[:-1] <= 100.0 + 1e-5)
    # maximising: the loss is -f
    c = FUNCTIONS["concave"]
    res = minimize(c.f, c.grad, c.start, optimizer="gd", lr=5.0, maximize=True)
    assert res.stopped_because == "diverged"
    assert -res.values[-1] > -res.values[0] + 100.0 * abs(res.values[0])


def test_non_finite_is_reported_without_warnings():
    fn = FUNCTIONS["quadratic"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize(fn.f, fn.grad, fn.start, optimizer="gd", lr=1.0, max_iter=10000,
                       divergence_factor=np.inf)
    assert res.stopped_because == "non_finite" and not res.success
    assert np.all(np.isfinite(res.path)) and np.isfinite(res.fun)
    assert res.values[-1] > 1e300  # it ran until the numbers overflowed


def test_path_is_plain_gradient_descent_and_x0_untouched():
    fn = Quadratic(cond=10.0)
    x0 = np.array([2.0, -1.0], dtype=np.float32)
    res = minimize(fn.f, fn.grad, x0, optimizer="gd", lr=0.02, max_iter=5, tol=0.0)
    assert x0.tolist() == [2.0, -1.0] and x0.dtype == np.float32
    x = np.array([2.0, -1.0])
    expected = [x.copy()]
    for _ in range(5):
        x = x - 0.02 * np.array([x[0], 10.0 * x[1]])
        expected.append(x)
    np.testing.assert_allclose(res.path, np.array(expected), rtol=1e-15, atol=0)
    assert res.path.dtype == np.float64 and res.n_iter == 5
    assert res.stopped_because == "max_iter" and not res.success
    np.testing.assert_array_equal(res.x, res.path[-1])
    assert res.fun == res.values[-1] == fn.f(res.x)
    assert res.grad_norms[2] == pytest.approx(np.linalg.norm(fn.grad(res.path[2])), rel=1e-15)


def test_start_at_the_minimum_stops_at_once():
    fn = FUNCTIONS["rosenbrock"]
    res = minimize(fn.f, fn.grad, fn.minima[0])
    assert res.stopped_because == "tol" and res.success and res.n_iter == 0


def test_optimizer_class_and_kwargs():
    fn = FUNCTIONS["beale"]
    by_name = minimize(fn.f, fn.grad, fn.start, optimizer="adam", lr=0.05, max_iter=50)
    by_class = minimize(fn.f, fn.grad, fn.start, optimizer=optim.Adam, lr=0.05, max_iter=50)
    np.testing.assert_array_equal(by_name.path, by_class.path)
    preset = minimize(fn.f, fn.grad, fn.start, optimizer="momentum", lr=0.001, max_iter=50)
    explicit = minimize(fn.f, fn.grad, fn.start, optimizer="sgd", lr=0.001, max_iter=50,
                        momentum=0.9)
    np.testing.assert_array_equal(preset.path, explicit.path)
    plain = minimize(fn.f, fn.grad, fn.start, optimizer="sgd", lr=0.001, max_iter=50)
    assert not np.array_equal(plain.path, preset.path)


@pytest.mark.parametrize("start", [(0.0, 0.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0),
                                   (4.0, 4.0), (-4.0, 4.0), (-4.0, -4.0), (4.0, -4.0)])
def test_himmelblau_reaches_one_of_its_minima(start):
    fn = FUNCTIONS["himmelblau"]
    res = minimize(fn.f, fn.grad, start, optimizer="gd", lr=0.01, max_iter=2000)
    assert res.stopped_because == "tol"
    dists = [np.linalg.norm(res.x - m) for m in fn.minima]
    assert min(dists) <= 1e-6
    assert res.fun <= 1e-12


def test_himmelblau_starts_reach_all_four_minima():
    fn = FUNCTIONS["himmelblau"]
    reached = set()
    for start in [(4.0, 4.0), (-4.0, 4.0), (-4.0, -4.0), (4.0, -4.0)]:
        res = minimize(fn.f, fn.grad, start, optimizer="momentum", lr=0.002, max_iter=3000)
        reached.add(int(np.argmin([np.linalg.norm(res.x - m) for m in fn.minima])))
    assert reached == {0, 1, 2, 3}


@pytest.mark.parametrize("kwargs, match", [
    (dict(x0=[[1.0, 2.0]]), "x0"),
    (dict(x0=[np.nan, 1.0]), "x0"),
    (dict(x0=[]), "x0"),
    (dict(x0="ab"), "x0"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(optimizer="adamx"), "adamx"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_iter=2.5), "max_iter"),
    (dict(tol=-1.0), "tol"),
    (dict(divergence_factor=0.0), "divergence_factor"),
    (dict(divergence_factor=float("nan")), "divergence_factor"),
])
def test_bad_arguments(kwargs, match):
    fn = FUNCTIONS["quadratic"]
    args = dict(f=fn.f, grad=fn.grad, x0=fn.start)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        minimize(**args)


def test_grad_shape_is_checked():
    with pytest.raises(ValueError, match="grad"):
        minimize(lambda x: float(x @ x), lambda x: np.zeros(3) + 1.0, [1.0, 2.0])
