"""pyproject.toml and environment.yml describe one dependency set, with ranges, not pins."""

import re
import tomllib

from yolo_lib.paths import REPO_ROOT

# conda-forge names that differ from PyPI names
CONDA_TO_PIP: dict[str, str] = {}


def _name_and_spec(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    return m.group(1).lower().replace("_", "-"), m.group(3).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = data["dependencies"] + data["optional-dependencies"]["dev"]
    return dict(_name_and_spec(r) for r in reqs)


def _environment() -> dict[str, str]:
    deps = {}
    text = (REPO_ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+[^#]*)$", line)
        if m and not m.group(1).startswith(("python", "pip")):
            name, spec = _name_and_spec(m.group(1).strip())
            deps[CONDA_TO_PIP.get(name, name)] = spec
    return deps


def test_same_packages_and_ranges():
    assert _pyproject() == _environment()


def test_ranges_not_pins():
    for name, spec in _pyproject().items():
        assert spec and "==" not in spec, f"{name}: use a version range, not {spec!r}"


def test_environment_installs_the_package_editable():
    assert "- -e ." in (REPO_ROOT / "environment.yml").read_text()


def test_cuda_extra_brings_jax_with_cuda():
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("jax[cuda") for r in extras["cuda"])
