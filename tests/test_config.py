"""Profiles, overrides and command-line parameters: valid values resolve, bad ones name themselves."""

from __future__ import annotations

import pytest

from benchmark.cli import main, parse_overrides
from benchmark.config import PROFILES, flatten, load_config
from benchmark.errors import ConfigError


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_validates(profile):
    config = load_config(profile)
    assert config.profile == profile
    assert config.linking.k_neighbors == 10


def test_overrides_reach_the_resolved_config():
    config = load_config("quick", parse_overrides("linking.solver=greedy linking.time_limit_s=30 data.synth.n_frames=7"))
    assert config.linking.solver == "greedy"
    assert config.linking.time_limit_s == 30
    flat = flatten(config)
    assert flat["linking.solver"] == "greedy"
    assert flat["data.synth.n_frames"] == 7


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"linking.k_neighbors": 0}, "linking.k_neighbors"),
        ({"linking.w1": "heavy"}, "linking.w1"),
        ({"linking.no_such_field": 1}, "linking.no_such_field"),
        ({"linking.w1.deeper": 1}, "linking.w1"),
    ],
)
def test_bad_overrides_name_the_field(overrides, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config("quick", overrides)


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="profile='fast'"):
        load_config("fast")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["position", "--seed", "-1"], "--seed"),
        (["position", "--seed", "one"], "--seed"),
        (["position", "--profile", "fast"], "--profile"),
        (["position", "--dataset", " "], "--dataset"),
    ],
)
def test_bad_command_line_values_name_the_parameter(argv, named, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert named in capsys.readouterr().err


def test_bad_override_syntax_is_one_clear_line(capsys):
    assert main(["position", "--overrides", "linking.w1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ConfigError") and "KEY=VALUE" in err
    assert len(err.splitlines()) == 1
