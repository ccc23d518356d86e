"""The from-scratch arm: our own text features and linear models, searched and voted (scikit-learn)."""

from components.arms.spec import Arm

ARM = Arm(
    name="scratch",
    display_name="from scratch",
    train_title="Train from scratch (scikit-learn)",
    options={"train_scratch": "components.arms.scratch.train:ScratchOptions"},
    parameters=("search_space", "budget_seconds", "max_candidates", "ensemble_size", "workers"),
    serving_image="serving",  # the slim image: no training stack
    serving_requirements=("scikit-learn", "numpy", "scipy", "joblib"),
    resources={
        "train_scratch": {"cpu_request": "2", "cpu_limit": "2", "memory_request": "2Gi", "memory_limit": "4Gi"},
        "predict_scratch": {"cpu_request": "1", "cpu_limit": "1", "memory_request": "1Gi", "memory_limit": "2Gi"},
    },
    component_module="components.arms.scratch.component",
)
