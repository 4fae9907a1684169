"""Process defaults hold whatever the import order; every environment variable is documented."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from yolo_lib import settings
from yolo_lib.paths import REPO_ROOT

PROBE = """
import jax, pytensor, pytensor.tensor as pt
import pytensor.link.jax.dispatch  # PyTensor's JAX dispatch decides JAX's 64-bit mode on import
from yolo_lib.compilation.functions import MODE
x = pt.matrix("x")
f = pytensor.function([x], (x * 2).sum(), mode=MODE)
print(pytensor.config.floatX, jax.config.jax_enable_x64, jax.numpy.zeros(1).dtype, x.dtype,
      f([[1.0, 2.0]]).dtype)
"""


@pytest.mark.parametrize("first", [
    "import pytensor, yolo_lib",
    "import yolo_lib, pytensor",
    "import jax, yolo_lib",
    "import pytensor.link.jax.dispatch, yolo_lib",  # JAX 64-bit switched on before yolo_lib
])
def test_float32_and_jax_32_bit_whatever_the_import_order(first):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "JAX_ENABLE_X64")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", first + "\n" + PROBE], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-5:] == ["float32", "False", "float32", "float32", "float32"], out.stdout


def test_a_floatx_chosen_by_the_user_is_respected():
    env = {**os.environ, "PYTENSOR_FLAGS": "floatX=float64"}
    code = "import pytensor, yolo_lib; print(pytensor.config.floatX)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-1:] == ["float64"], out.stderr[-2000:]


def test_environment_variables_are_read_in_settings_only():
    """No other module of yolo_lib reads os.environ / os.getenv."""
    readers = []
    for path in (REPO_ROOT / "yolo_lib").rglob("*.py"):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                    isinstance(node.value, ast.Name) and node.value.id in ("os", "_os"):
                readers.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not readers, readers


def test_every_variable_is_in_the_documentation_table():
    table = (REPO_ROOT / "docs" / "environment.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_0-9]+)` \|", table, re.MULTILINE))
    assert set(settings.VARIABLES) <= documented, set(settings.VARIABLES) - documented
