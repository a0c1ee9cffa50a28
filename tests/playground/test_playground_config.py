"""The playground's configuration (a plain JSON object); its data sets are tested in
tests/data/test_toy.py."""

import json

import pytest
from bad_configs import BAD_CONFIGS

from gdlab.data.toy import GENERATORS
from gdlab.nn.layers import ACTIVATIONS, Softmax
from gdlab.optim.registry import OPTIMIZER_NAMES, optimizer_entry
from gdlab.playground.config import DEFAULTS, ConfigError, check_config, options

# ---- the configuration ---------------------------------------------------------------------

def test_an_empty_object_takes_every_default_of_the_issue():
    config = check_config({})
    assert list(config) == list(DEFAULTS)
    issue_defaults = {"n_samples": 400, "noise": 0.1, "layers": [8, 8], "activation": "tanh",
                      "optimizer": "adam", "lr": 0.03, "batch_size": 16, "seed": 0,
                      "max_steps": 5000}
    assert {k: config[k] for k in issue_defaults} == issue_defaults
    # about 500 history entries whatever the run's length
    assert config["record_every"] == 10
    assert check_config({"max_steps": 100})["record_every"] == 1
    assert check_config({"max_steps": 100_000})["record_every"] == 200


def test_the_checked_configuration_is_canonical_json():
    config = check_config({"activation": ["TANH", "ReLU"], "batch_size": "FULL",
                           "optimizer": "Adam", "betas": (0.8, 0.99), "schedule": " cosine "})
    assert config["activation"] == ["tanh", "relu"]
    assert config["batch_size"] == "full" and config["optimizer"] == "adam"
    assert config["betas"] == [0.8, 0.99] and config["schedule"] == "cosine"
    again = check_config(json.loads(json.dumps(config)))
    assert again == config


@pytest.mark.parametrize("name, body, field, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_each_bad_configuration_names_its_field(name, body, field, words):
    with pytest.raises(ConfigError) as info:
        check_config(json.loads(body))
    assert info.value.field == field
    message = str(info.value)
    assert words.lower() in message.lower()
    if field is not None:
        assert field in message


def test_options_come_from_the_registries():
    got = options()
    assert set(got["optimizers"]) == set(OPTIMIZER_NAMES)
    for name, takes in got["optimizers"].items():
        entry = optimizer_entry(name)
        for key in ("momentum", "betas", "weight_decay"):
            assert (key in takes) == entry.accepts(key), (name, key)
    assert got["optimizers"]["momentum"]["momentum"] == 0.9
    assert got["optimizers"]["adam"]["betas"] == [0.9, 0.999]
    assert "momentum" not in got["optimizers"]["adagrad"]
    assert set(got["datasets"]) == set(GENERATORS)
    assert got["datasets"]["curve"]["task"] == "regression"
    names = got["activations"]
    assert "softmax" not in names and {"tanh", "relu", "sigmoid"} <= set(names)
    # one name per activation: no alias twice
    assert len({ACTIVATIONS[n] for n in names}) == len(names)
    assert all(ACTIVATIONS[n] is not Softmax for n in names)
    json.dumps(got, allow_nan=False)


def test_the_readme_documents_every_setting_and_route():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The playground"):readme.index("## Distributed training")]
    for key in DEFAULTS:
        assert f"`{key}`" in section, key
    for route in ("/api/options", "POST /api/runs", "/api/runs/{id}", "/pause", "/resume",
                  "/step", "/stop", "/pace", "/data", "/boundary", "/events",
                  "POST /api/compare", "POST /api/code"):
        assert route in section, route
    for png in ("playground.png", "playground-compare.png"):
        assert f"docs/{png}" in section and (Path(__file__).resolve().parents[2] / "docs" /
                                             png).stat().st_size > 50_000
