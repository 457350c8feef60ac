import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test needs the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-causal"), "causal")


@pytest.fixture(scope="session")
def tiny_seq2seq_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-t5"), "seq2seq")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    from genlab.testing import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"), "encoder")


@pytest.fixture(scope="session")
def tiny_causal(tiny_causal_dir):
    from genlab.models import load

    return load(str(tiny_causal_dir), precision="fp32")  # fp32: tests compare numbers with transformers


@pytest.fixture(scope="session")
def tiny_seq2seq(tiny_seq2seq_dir):
    from genlab.models import load

    return load(str(tiny_seq2seq_dir), precision="fp32")


@pytest.fixture(scope="session")
def embedded():
    """The embedded default model, through the registry, in fp32 (slow tests only; tests pick autocast)."""
    from genlab.models import load

    return load(precision="fp32")
