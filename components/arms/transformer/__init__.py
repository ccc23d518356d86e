"""The transformer arm: all-MiniLM-L6-v2 (shipped by a PyPI package, checked by its sha256) fine-tuned with a
classification head, under a budget; on a GPU on Vertex AI, on the CPU elsewhere."""

from components.arms.spec import Arm

ARM = Arm(
    name="transformer",
    display_name="fine-tuned transformer",
    train_title="Fine-tune a transformer (MiniLM, torch)",
    options={"train_transformer": "components.arms.transformer.train:TransformerOptions"},
    parameters=("budget_minutes", "max_epochs", "max_length", "batch_size", "learning_rate", "patience"),
    image="transformer",
    serving_image="transformer",  # its model loads only with its own stack
    modules=("torch", "transformers", "safetensors"),
    install='pip install -c constraints.txt -e ".[transformer]"',
    serving_requirements=("torch", "transformers", "tokenizers", "safetensors", "numpy", "scikit-learn"),
    resources={  # CPU here; pipelines/config/env/vertex.yaml gives the training step a GPU
        "train_transformer": {"cpu_request": "2", "cpu_limit": "4", "memory_request": "4Gi", "memory_limit": "8Gi"},
        "predict_transformer": {"cpu_request": "1", "cpu_limit": "2", "memory_request": "2Gi", "memory_limit": "4Gi"},
    },
    component_module="components.arms.transformer.component",
)
