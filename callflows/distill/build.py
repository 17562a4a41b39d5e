"""The install's student build: `python -m callflows.distill.build VERTICAL [...]`.

Each vertical's student from its committed data (no teacher), taken from the machine's cache when
its inputs were built before (callflows/distill/cache.py), else trained (the encoder fine-tuned
unless CALLFLOWS_FINETUNE=0) and cached. Exit status 3 means fine-tuning needs torch, which is
not installed: scripts/install.sh then installs the pinned CPU build and runs it again, so a
fresh clone whose students are all cached never installs torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from callflows.distill.cache import enabled
from callflows.distill.encoder import TORCH_VERSION, TorchMissing
from callflows.distill.train import BuildCaches, train_student

logger = logging.getLogger(__name__)

NEEDS_TORCH = 3


def build(vertical: str) -> None:
    from callflows.distill.recipe import Recipe
    from callflows.flow.loader import load_flow
    from callflows.verticals import FLOW_FILE, vertical_root

    root = vertical_root(vertical)
    flow = load_flow(root / FLOW_FILE)
    t0 = time.time()
    out = train_student(flow, root, Recipe.load(root), caches=BuildCaches.default() if enabled() else None,
                        require_torch=True, log=lambda line: print(line, flush=True))
    print(f"[build] {vertical}: {out} in {time.time() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callflows.distill.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("verticals", nargs="+")
    args = parser.parse_args(argv)
    for vertical in args.verticals:
        try:
            build(vertical)
        except TorchMissing as exc:
            print(f"[build] {vertical}: {exc}", file=sys.stderr)
            print(f"torch=={TORCH_VERSION}")
            return NEEDS_TORCH
    return 0


if __name__ == "__main__":
    sys.exit(main())
