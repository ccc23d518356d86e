"""What the cloud relies on in both images, checked in the built images themselves (scripts/build_images.sh):
non-root user, no credentials, no certificate authority of the build machine, no wheelhouse, the report
template, every module of this checkout, and KFP's executor entry point."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.container

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("runtime", "automl")
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", re.DOTALL)

# Run in the image: walks its files (not /proc, /sys, /dev) and reports what the checks below look at.
SCAN = r"""
import hashlib, json, os, re, base64
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", re.DOTALL)
NAMES = {"application_default_credentials.json", "credentials.db", "access_tokens.db", ".boto", ".netrc",
         ".pypirc", ".git-credentials", ".npmrc", "id_rsa", "id_ecdsa", "id_ed25519", "pip.conf", "pip.ini"}
found = {"credential_files": [], "private_keys": [], "service_account_keys": [], "certificates": {},
         "wheels": [], "wheelhouse": os.path.exists("/wheelhouse")}
for folder, dirs, files in os.walk("/"):
    if folder == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        lower = name.lower()
        if name in NAMES or lower.endswith((".p12", ".pfx")) or (folder.endswith("/.docker") and name == "config.json"):
            found["credential_files"].append(path)
        if lower.endswith(".whl"):
            found["wheels"].append(path)
        try:
            if os.path.getsize(path) > 5_000_000:
                continue
            if lower.endswith((".pem", ".crt", ".cer", ".key")):
                data = open(path, "rb").read()
                if b"PRIVATE KEY-----" in data:
                    found["private_keys"].append(path)
                prints = [hashlib.sha256(base64.b64decode(b"".join(m.split()))).hexdigest() for m in PEM.findall(data)]
                if prints:
                    found["certificates"][path] = prints
            elif lower.endswith(".json") and os.path.getsize(path) < 100_000:
                data = open(path, "rb").read()
                if b'"private_key"' in data and b"service_account" in data:
                    found["service_account_keys"].append(path)
        except (OSError, ValueError):
            continue
print(json.dumps(found))
"""


def _fingerprints(data: bytes) -> set[str]:
    return {hashlib.sha256(base64.b64decode(b"".join(m.split()))).hexdigest() for m in PEM_CERT.findall(data)}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def build_machine_authorities() -> set[str]:
    """Certificates this machine trusts beyond Debian's public set: its local CAs (such as a TLS-inspecting
    proxy's) in /usr/local/share/ca-certificates, and anything else in the bundles its tools are pointed at."""
    local: set[str] = set()
    for path in Path("/usr/local/share/ca-certificates").rglob("*"):
        local |= _fingerprints(_read(path)) if path.is_file() else set()
    public: set[str] = set()
    for path in Path("/usr/share/ca-certificates/mozilla").glob("*.crt"):
        public |= _fingerprints(_read(path))
    bundles = {os.environ.get(name, "") for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")}
    trusted: set[str] = set()
    for bundle in {*bundles, "/etc/ssl/certs/ca-certificates.crt"} - {""}:
        trusted |= _fingerprints(_read(Path(bundle)))
    return local | (trusted - public if public else set())


@pytest.fixture(scope="module")
def scans(images: dict[str, str], run_in: Any) -> dict[str, dict[str, Any]]:
    return {target: json.loads(run_in(images[target], ["python", "-c", SCAN])) for target in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_image_runs_as_uid_10001(images: dict[str, str], docker_client: Any, run_in: Any, target: str):
    assert docker_client.images.get(images[target]).attrs["Config"]["User"] == "10001"
    assert run_in(images[target], ["id", "-u"]).strip() == "10001"


@pytest.mark.parametrize("target", TARGETS)
def test_image_holds_no_credentials(images: dict[str, str], docker_client: Any, scans: dict, target: str):
    found = scans[target]
    assert found["credential_files"] == [] and found["private_keys"] == [] and found["service_account_keys"] == []
    secret = re.compile(r"(TOKEN|SECRET|PASSWORD|CREDENTIAL|API_KEY|ACCESS_KEY)", re.IGNORECASE)
    env = docker_client.images.get(images[target]).attrs["Config"]["Env"] or []
    assert [e for e in env if secret.search(e.split("=", 1)[0])] == []


@pytest.mark.parametrize("target", TARGETS)
def test_image_trusts_no_authority_of_the_build_machine(scans: dict, target: str):
    certificates = scans[target]["certificates"]
    assert any(path.endswith("ca-certificates.crt") for path in certificates)  # Debian's public bundle is there
    assert any(path.endswith("certifi/cacert.pem") for path in certificates)  # and certifi's
    ours = build_machine_authorities()
    leaked = {path for path, prints in certificates.items() if ours & set(prints)}
    assert leaked == set(), f"certificates of the build machine in {sorted(leaked)}"
    assert not [path for path in certificates if path.startswith("/usr/local/share/ca-certificates/")]


@pytest.mark.parametrize("target", TARGETS)
def test_image_holds_no_wheelhouse(images: dict[str, str], docker_client: Any, scans: dict, target: str):
    found = scans[target]
    assert not found["wheelhouse"]
    wheelhouse = {p.name for p in (REPO_ROOT / "build" / "wheelhouse").glob("*.whl")}
    assert {Path(p).name for p in found["wheels"]} & wheelhouse == set()
    assert [p for p in found["wheels"] if not p.startswith("/usr/share/python-wheels/")] == []  # Debian's ensurepip
    for layer in docker_client.api.history(images[target]):
        assert "wheelhouse" not in layer.get("CreatedBy", "") and "pip.conf" not in layer.get("CreatedBy", ""), layer


def _installed_files(run_in: Any, image: str) -> set[str]:
    code = (
        "import pathlib, components, pipelines\n"
        "for package in (components, pipelines):\n"
        "    root = pathlib.Path(package.__file__).parent\n"
        "    for path in root.rglob('*'):\n"
        "        if path.is_file() and '__pycache__' not in path.parts:\n"
        "            print(path.relative_to(root.parent).as_posix())\n"
    )
    return set(run_in(image, ["python", "-c", code]).split())


@pytest.mark.parametrize("target", TARGETS)
def test_image_has_every_module_template_and_config_of_this_checkout(images: dict[str, str], run_in: Any, target: str):
    expected = {
        p.relative_to(REPO_ROOT).as_posix()
        for package in ("components", "pipelines")
        for p in (REPO_ROOT / package).rglob("*")
        if p.is_file() and p.suffix in (".py", ".j2", ".yaml", ".csv") and "__pycache__" not in p.parts
    }
    assert "components/reporting/templates/report.html.j2" in expected
    missing = expected - _installed_files(run_in, images[target])
    assert missing == set(), f"not in {images[target]}: {sorted(missing)}"
    loaded = "from components.reporting.html import load_template; print(load_template().name)"
    assert run_in(images[target], ["python", "-c", loaded]).strip() == "report.html.j2"  # as the profile step does


@pytest.mark.parametrize("target", TARGETS)
def test_image_starts_kfps_executor(images: dict[str, str], run_in: Any, target: str):
    """KFP runs `python3 -m kfp.dsl.executor_main` in the step's container (install_kfp_package=False)."""
    usage = run_in(images[target], ["python3", "-m", "kfp.dsl.executor_main", "--help"])
    assert "--executor_input" in usage and "--function_to_execute" in usage
    version = run_in(images[target], ["python3", "-c", "import sys; print(sys.version_info[:2])"])
    assert version.strip() == "(3, 11)"


@pytest.mark.parametrize("target", TARGETS)
def test_image_is_labelled_with_the_code_it_was_built_from(images: dict[str, str], docker_client: Any, target: str):
    """scripts/build_images.sh labels the images; `run --runner docker` refuses images of other code."""
    from pipelines.docker_run import SOURCE_LABEL, source_digest

    assert docker_client.images.get(images[target]).labels.get(SOURCE_LABEL) == source_digest()


def test_automl_image_has_pycaret_and_openmp(images: dict[str, str], run_in: Any):
    code = "import ctypes, pycaret.classification; ctypes.CDLL('libgomp.so.1'); print('ok')"
    assert run_in(images["automl"], ["python", "-c", code]).strip().endswith("ok")
    absent = "import importlib.util; print(importlib.util.find_spec('pycaret') is None)"
    assert run_in(images["runtime"], ["python", "-c", absent]).strip() == "True"  # the lean image
