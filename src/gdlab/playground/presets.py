"""The classic lessons of gradient descent as playground links: each a comparison of two runs
from the same initial weights and batches that differ in one setting.

Each preset is a configuration (the first run, ``a``) and the one change that makes the second
(``b``); :func:`preset_link` gives its link (compare mode, started at once). What each lesson
claims is checked by ``tests/playground/test_playground_presets.py`` with these very settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdlab.playground.links import link


@dataclass(frozen=True)
class Preset:
    """A lesson: a title, what to watch, the first run's settings and the second's change."""

    title: str
    lesson: str
    a: dict
    b: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"title": self.title, "lesson": self.lesson, "a": self.a, "b": self.b,
                "link": preset_link(self)}


PRESETS = {
    "learning-rate": Preset(
        "Too large a learning rate",
        "Plain gradient descent fits the curve at learning rate 0.1 (A); ten times larger (B), "
        "every step overshoots further than the last: the loss explodes within a few dozen "
        "steps and the run stops as diverged.",
        {"dataset": "curve", "layers": [8, 8], "activation": "tanh", "optimizer": "sgd",
         "lr": 0.1, "momentum": 0.0, "batch_size": 16, "max_steps": 2000},
        {"lr": 1.0}),
    "batch-vs-stochastic": Preset(
        "Batch, stochastic and mini-batch gradient descent",
        "Batch gradient descent (A) uses every point at every step: its loss glides down. "
        "Stochastic gradient descent (B) steps on one point at a time: its loss jitters (the "
        "grey batch loss most of all), yet it moves as far in far less work per step. Swap "
        "B's batch size to 16 for mini-batches, in between.",
        {"dataset": "moons", "layers": [8, 8], "activation": "tanh", "optimizer": "sgd",
         "lr": 0.1, "momentum": 0.0, "batch_size": "full", "max_steps": 2000},
        {"batch_size": 1}),
    "momentum-ravine": Preset(
        "Momentum on a ravine",
        "The ravine's first coordinate is spread ten times wider than its second, so the loss "
        "is a long, narrow valley: plain gradient descent (A) crawls along its floor at the "
        "largest rate the steep walls allow. Momentum (B, 0.9) at the same rate builds up "
        "speed along the floor and gets as low in a quarter of the steps.",
        {"dataset": "ravine", "layers": [4], "activation": "tanh", "optimizer": "sgd",
         "lr": 0.1, "momentum": 0.0, "batch_size": "full", "max_steps": 1000},
        {"optimizer": "momentum"}),
    "deep-sigmoid-batchnorm": Preset(
        "A deep sigmoid network, with and without batch normalization",
        "Six sigmoid layers (A): the gradient shrinks layer by layer on its way back (see the "
        "gradient norms, orders of magnitude apart), the first layers hardly learn and the "
        "boundary stays flat. Batch normalization (B) keeps every layer's input centred and "
        "scaled: the gradients reach the first layer and the network learns the circles.",
        {"dataset": "circles", "layers": [8, 8, 8, 8, 8, 8], "activation": "sigmoid",
         "optimizer": "sgd", "lr": 0.3, "momentum": 0.0, "batch_size": 16,
         "max_steps": 3000},
        {"batchnorm": True}),
    "adam-vs-sgd-spirals": Preset(
        "Adam against SGD on the spirals",
        "At the same learning rate, Adam (A) scales each weight's step by its own gradient "
        "history and untangles the spirals; plain SGD (B) is still far from it when the steps "
        "run out.",
        {"dataset": "spirals", "layers": [16, 16], "activation": "tanh", "optimizer": "adam",
         "lr": 0.03, "batch_size": 16, "max_steps": 5000},
        {"optimizer": "sgd"}),
}


def preset_link(preset: Preset) -> str:
    """The query string of ``preset``: compare mode, started as soon as the page has loaded."""
    return link(preset.a, preset.b, compare=True, autostart=True)
