"""The AutoML arm: PyCaret's candidates on chi²-selected TF-IDF features, under a hard budget."""

from components.arms.spec import Arm

ARM = Arm(
    name="automl",
    display_name="AutoML",
    train_title="Train AutoML (PyCaret)",
    options={
        "vectorise": "components.arms.automl.vectorise:VectoriseOptions",
        "train_automl": "components.arms.automl.train:AutomlOptions",
    },
    parameters=("dense_features", "models", "budget_minutes", "folds", "tune_iterations"),
    image="automl",
    serving_image="automl",  # its model loads only with its own stack
    modules=("pycaret",),
    install='pip install -c constraints.txt -e ".[dev]"',
    serving_requirements=("pycaret", "scikit-learn", "numpy", "scipy", "joblib"),
    step_titles={"vectorise": "Vectorise for AutoML (TF-IDF, chi²)"},
    resources={
        "vectorise": {"cpu_request": "1", "cpu_limit": "2", "memory_request": "2Gi", "memory_limit": "4Gi"},
        "train_automl": {"cpu_request": "2", "cpu_limit": "4", "memory_request": "4Gi", "memory_limit": "8Gi"},
        "predict_automl": {"cpu_request": "1", "cpu_limit": "2", "memory_request": "2Gi", "memory_limit": "4Gi"},
    },
    component_module="components.arms.automl.component",
)
