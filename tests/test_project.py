"""The project's promises about its own set-up: one environment, three commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    return {
        m.group(1).lower(): m.group(2)
        for line in lines
        if (m := re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==(\S+)\s*$", line))
    }


def test_environment_yml_pins_equal_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    environment = pins((ROOT / "environment.yml").read_text().splitlines())
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"
    assert environment == requirements


def test_pyproject_pins_torch_exactly():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.14.1"' in text and '"torchvision==0.29.1"' in text


def test_readme_opens_with_the_three_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    lines = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    commands = [line.split("#")[0].strip() for line in lines]
    assert commands == ["bash scripts/main.sh", "bash scripts/test.sh", "bash scripts/lab.sh"]
    assert all(line.split("#", 1)[1].strip() for line in lines)  # each says what it is for
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci == ["exec " + commands[1]]


def test_readme_commands_use_the_projects_interpreter():
    # a bare `python` outside the virtualenv lacks histlib and its pins
    readme = (ROOT / "README.md").read_text() + (ROOT / "data" / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    bare = [line for block in blocks for line in block.splitlines() if re.match(r"\s*python3?\s", line)]
    assert not bare
