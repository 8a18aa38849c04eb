"""The pinned requirements of the layers, the one source the images' requirements and the
layer folders are generated from."""

from __future__ import annotations

DEFAULT_LAYER_REQUIREMENTS = {
    "layers/runtime/requirements.txt": "numpy==2.2.6\norjson==3.13.0\nPyYAML==6.0.3\naws-lambda-powertools==3.37.0\n",
    "layers/gateway/requirements.txt": (
        "fastapi==0.165.0\nfastjsonschema==2.22.3\nmangum==0.22.0\nprometheus-client==0.26.0\n"
    ),
}


def runtime_pins() -> list[str]:
    """What every executor needs at run time: the runtime layer's pins."""
    text = DEFAULT_LAYER_REQUIREMENTS["layers/runtime/requirements.txt"]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
