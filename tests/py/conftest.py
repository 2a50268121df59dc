"""Shared fixtures: paths to the build, the assets and a converted model folder."""
import os
import subprocess
import pytest

BIN = os.environ.get("SP_BIN", os.path.join(os.path.dirname(__file__), "../../build"))
ASSETS = os.environ.get("SP_ASSETS", os.path.join(os.path.dirname(__file__), "../../assets"))
GGUF = os.path.join(ASSETS, "model", "smollm2-135m.gguf")


def tool(name):
    return os.path.join(BIN, name)


@pytest.fixture(scope="session")
def gguf_path():
    if not os.path.exists(GGUF):
        pytest.skip("assets/model/smollm2-135m.gguf missing (run scripts/fetch-assets.sh)")
    return GGUF


@pytest.fixture(scope="session")
def model_dir(gguf_path, tmp_path_factory):
    """The real model converted by `sparsity convert` into a fresh folder."""
    out = str(tmp_path_factory.mktemp("model") / "smollm2")
    subprocess.run([tool("sparsity"), "convert", gguf_path, out], check=True, capture_output=True)
    return out
