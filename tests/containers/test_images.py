"""What the cloud relies on in the three images, checked in the built images themselves (scripts/build_images.sh):
non-root user, no credentials, no certificate authority of the build machine, no wheelhouse, the report
template, every module of this checkout, and KFP's executor entry point; each arm's stack in its own image (no
image holds PyCaret and torch together); the transformer image's CPU torch, its verified weights, and a real
fine-tune in it without network."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pipelines.docker_run import BUILD_IMAGES, TRANSFORMER_IMAGE

pytestmark = pytest.mark.container

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("runtime", "automl", "transformer")
# sha256 of all-MiniLM-L6-v2's model.safetensors as published (Hugging Face), independent of weights.py's constant
PUBLISHED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
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


def _unavailable(reason: str) -> None:
    """Skips, or fails under CI, as tests/containers/conftest.py's ``unavailable``."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: container tests may not be skipped; .ci/run starts the engine and builds)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def images(images: dict[str, str], docker_client: Any) -> dict[str, str]:
    """conftest's runtime and automl images, plus the transformer image (TRANSFORMER_IMAGE, default the dev tag),
    present: only these tests need it (a run without the transformer arm does not)."""
    import docker

    name = os.environ.get("TRANSFORMER_IMAGE", TRANSFORMER_IMAGE)
    try:
        docker_client.images.get(name)
    except docker.errors.ImageNotFound:
        _unavailable(f"image {name} not found: {BUILD_IMAGES}")
    return {**images, "transformer": name}


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


# --- each arm's stack in its own image -------------------------------------------------------------------------

# Run in an image: for each project, whether it is installed (distribution metadata) or importable.
PRESENT = """
import importlib.metadata, importlib.util, json, sys
def present(name):
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return importlib.util.find_spec(name) is not None
print(json.dumps({name: present(name) for name in sys.argv[1:]}))
"""
ARM_STACKS = ("pycaret", "torch", "transformers")


@pytest.fixture(scope="module")
def stacks(images: dict[str, str], run_in: Any) -> dict[str, dict[str, bool]]:
    return {target: json.loads(run_in(images[target], ["python", "-c", PRESENT, *ARM_STACKS])) for target in TARGETS}


def test_no_image_holds_pycaret_and_torch_together(stacks: dict[str, dict[str, bool]]):
    assert stacks["runtime"] == {"pycaret": False, "torch": False, "transformers": False}  # shared steps, scratch
    assert stacks["automl"] == {"pycaret": True, "torch": False, "transformers": False}
    assert stacks["transformer"] == {"pycaret": False, "torch": True, "transformers": True}


TORCH_INFO = """
import json, torch, transformers
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                  "transformers": transformers.__version__}))
"""


def _pin(project: str) -> str:
    """constraints.txt's version of ``project``."""
    text = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(project)}==(\S+)$", text, re.MULTILINE | re.IGNORECASE).group(1)


def test_transformer_image_has_the_pinned_cpu_torch_and_transformers(images: dict[str, str], run_in: Any):
    """Built here with the CPU wheel (no CUDA libraries: the GPU flavour is Cloud Build's, TORCH_INDEX_URL)."""
    info = json.loads(run_in(images["transformer"], ["python", "-c", TORCH_INFO]).strip().splitlines()[-1])
    assert info["torch"] == _pin("torch") and info["torch"].endswith("+cpu")
    assert info["cuda"] is None and info["cuda_available"] is False
    assert info["transformers"] == _pin("transformers")
    names = "import importlib.metadata as m; print(' '.join(d.metadata['Name'].lower() for d in m.distributions()))"
    installed = run_in(images["transformer"], ["python", "-c", names]).split()
    assert [name for name in installed if name.startswith(("nvidia-", "triton"))] == []  # no CUDA libraries


# The shipped weights through weights.py's API (extracted into the image's cache folder, any user may write it),
# and, independently, the hash of the weights file inside the installed model.zip.
WEIGHTS = """
import hashlib, json, zipfile
from components.arms.transformer import weights
folder = weights.pretrained_dir()
digest = hashlib.sha256()
with zipfile.ZipFile(weights.weights_zip()) as archive, archive.open(weights.WEIGHTS_FILE) as stream:
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
print(json.dumps({"folder": str(folder), "api": weights.sha256_of(folder / weights.WEIGHTS_FILE),
                  "constant": weights.WEIGHTS_SHA256, "in_zip": digest.hexdigest(),
                  "missing": weights.missing_requirements()}))
"""


def test_transformer_image_ships_the_published_weights(images: dict[str, str], run_in: Any):
    found = json.loads(run_in(images["transformer"], ["python", "-c", WEIGHTS]).strip().splitlines()[-1])
    assert found["missing"] is None
    assert found["api"] == found["constant"] == found["in_zip"] == PUBLISHED_WEIGHTS_SHA256
    assert found["folder"].startswith("/tmp/cache/emotion-pipeline/")  # XDG_CACHE_HOME of the image


def test_transformer_image_runs_as_any_user(images: dict[str, str], run_in: Any):
    """`run --runner docker` as a non-root caller runs the containers as that uid, whose home is not in the image:
    the weights still extract (XDG_CACHE_HOME) and nothing tries the network (the hub is off)."""
    code = "from components.arms.transformer.weights import pretrained_dir; print(pretrained_dir())"
    assert run_in(images["transformer"], ["python", "-c", code], user="4321:4321").strip().startswith("/tmp/cache/")
    env = "import os; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))"
    assert run_in(images["transformer"], ["python", "-c", env]).strip() == "1 1"


# A real fine-tune in the transformer image, as its step runs there: ~200 short texts of the demo data shipped in
# the image (34 per class), a small budget, then predictions on other rows, and the model through joblib.
FINE_TUNE = """
import csv, io, json, joblib
from components.arms.transformer.train import TransformerOptions, train_transformer_model
with open("/opt/emotion-pipeline/data/demo_emotions.csv", encoding="utf-8") as stream:
    rows = list(csv.DictReader(stream))
train, held_out, per_class = [], [], {}
for row in rows:
    taken = per_class.get(row["label"], 0)
    (train if taken < 34 else held_out).append(row)
    per_class[row["label"]] = taken + 1
options = TransformerOptions(budget_minutes=1.5, max_epochs=2, seed=7)
trained = train_transformer_model([r["text"] for r in train], [r["label"] for r in train], options=options,
                                  progress=print)
texts = [r["text"] for r in held_out[:60]]
predicted = trained.model.predict(texts).tolist()
probabilities = trained.model.predict_proba(texts)
buffer = io.BytesIO()
joblib.dump(trained.model, buffer)
buffer.seek(0)
reloaded = joblib.load(buffer).predict(texts).tolist()
print("RESULT", json.dumps({"train_rows": len(train), "classes": trained.model.classes_.tolist(),
                  "predicted": predicted, "truth": [r["label"] for r in held_out[:60]],
                  "proba_shape": list(probabilities.shape),
                  "proba_sums": [round(float(s), 6) for s in probabilities.sum(axis=1)], "reloaded": reloaded,
                  "device": trained.params["device"], "steps_run": trained.params["steps_run"],
                  "fit_seconds": trained.fit_seconds}))
"""


@pytest.mark.slow
def test_transformer_fine_tunes_and_predicts_in_its_image_without_network(images: dict[str, str], docker_client: Any):
    container = docker_client.containers.run(
        images["transformer"], ["python", "-c", FINE_TUNE], detach=True, network_mode="none"
    )
    try:
        status = container.wait(timeout=600)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
    finally:
        container.remove(force=True)
    assert status == 0, output[-4000:]
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    classes = ["anger", "fear", "joy", "love", "sadness", "surprise"]
    assert result["train_rows"] == 204 and result["classes"] == classes
    assert result["device"] == "cpu" and result["steps_run"] >= 1
    assert result["fit_seconds"] < 1.5 * 60 + 10  # the budget holds (a few seconds of slack)
    assert len(result["predicted"]) == 60 and set(result["predicted"]) <= set(classes)
    assert result["proba_shape"] == [60, 6] and all(abs(s - 1) < 1e-5 for s in result["proba_sums"])
    assert result["reloaded"] == result["predicted"]  # pickled and loaded again, it predicts the same
