"""`callflows eval`: the NLU evaluation on the development data (see bench/eval/README.md).

    from callflows.eval import run_eval
    results = run_eval(quick=True, out="bench/eval/results.json")
"""


def run_eval(*args, **kwargs):
    from .runner import run_eval as _run

    return _run(*args, **kwargs)


__all__ = ["run_eval"]
