"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and lint-imports catches a break."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = (
    "helpdesk",
    "tenants",
    "conversations",
    "whatsapp",
    "automations",
    "payments",
    "flows",
    "campaigns",
    "fakes",
)


def _contracts() -> list[dict[str, object]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["importlinter"]["contracts"]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_import_contract_is_kept():
    result = _lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The packages and pyproject.toml, copied: the probes below never touch the repository."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "broken", "named"),
    [
        (
            # Hidden in a function, as a lazy import would be: it still counts.
            "conversations/channel_probe.py",
            "def probe():\n    from whatsapp import services\n\n    return services\n",
            "The core (conversations) imports only tenants and helpdesk, never a channel BROKEN",
            "conversations.channel_probe -> whatsapp.services",
        ),
        (
            "conversations/feature_probe.py",
            "from automations import business_hours\n",
            "The core (conversations) imports only tenants and helpdesk, never a channel BROKEN",
            "conversations.feature_probe -> automations.business_hours",
        ),
        (
            "automations/channel_probe.py",
            "def probe():\n    from whatsapp import models\n\n    return models\n",
            "automations (a feature) imports no channel BROKEN",
            "automations.channel_probe -> whatsapp.models",
        ),
        (
            "payments/feature_probe.py",
            "def probe():\n    from automations import models\n\n    return models\n",
            "payments (a feature) imports no channel and no other feature BROKEN",
            "payments.feature_probe -> automations.models",
        ),
        (
            "tenants/feature_probe.py",
            "from automations import models\n",
            "tenants imports no other app (helpdesk's utilities only) BROKEN",
            "tenants.feature_probe -> automations.models",
        ),
        (
            "tenants/core_probe.py",
            "from conversations import models\n",
            "tenants imports no other app (helpdesk's utilities only) BROKEN",
            "tenants.core_probe -> conversations.models",
        ),
        (
            "helpdesk/app_probe.py",
            "from tenants import models\n",
            "helpdesk's utilities import no app (only the project wiring mounts the apps) BROKEN",
            "helpdesk.app_probe -> tenants.models",
        ),
        (
            # The fake transit operator reaching for the product's adapter (flows.* minus flows.fake itself).
            "flows/fake/product_probe.py",
            "def probe():\n    from flows import transit\n\n    return transit\n",
            "flows.fake (the fake transit operator) imports nothing of the product BROKEN",
            "flows.fake.product_probe -> flows.transit",
        ),
        (
            "campaigns/channel_probe.py",
            "def probe():\n    from whatsapp import models\n\n    return models\n",
            "campaigns (a feature) imports no channel and no other feature BROKEN",
            "campaigns.channel_probe -> whatsapp.models",
        ),
        (
            "whatsapp/feature_probe.py",
            "def probe():\n    from campaigns import models\n\n    return models\n",
            "whatsapp (a channel) imports no feature BROKEN",
            "whatsapp.feature_probe -> campaigns.models",
        ),
        (
            # The coordination of jobs calling back into the tasks: the cycle this contract forbids.
            "whatsapp/coordination.py",
            None,
            "No import cycles inside an app BROKEN",
            "No cycles are allowed in whatsapp.",
        ),
    ],
    ids=[
        "core-imports-a-channel",
        "core-imports-a-feature",
        "feature-imports-a-channel",
        "feature-imports-a-feature",
        "tenants-imports-a-feature",
        "tenants-imports-the-core",
        "helpdesk-utility-imports-an-app",
        "fake-transit-operator-imports-the-product",
        "campaigns-imports-a-channel",
        "whatsapp-imports-a-feature",
        "cycle-in-whatsapp",
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree_copy, module, source, broken, named):
    path = tree_copy / module
    if source is None:
        source = path.read_text() + "\n\ndef _probe():\n    from whatsapp import tasks\n\n    return tasks\n"
    path.write_text(source)

    result = _lint_imports(tree_copy)

    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
    assert named in result.stdout
    assert f"Contracts: {len(_contracts()) - 1} kept, 1 broken." in result.stdout
    assert not (ROOT / module).exists() or (ROOT / module).read_text() != source  # the repository is untouched
