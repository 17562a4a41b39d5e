"""A recording's two channels as a picture, the redacted spans shaded: what QA (or a reviewer of
the redaction) checks at a glance without playing the caller's voice.

``callflows recordings plot CALL_ID --out call.png`` draws a stored recording (it needs the key);
:func:`plot_recording` draws any decoded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from callflows.recordings.tape import RATE, RedactionJson, read_wav

_COLOURS = {"pii_slot": "#d62728", "personal_turn": "#ff7f0e", "keypad": "#9467bd", "bot_readback": "#8c564b"}


def plot_recording(wav: bytes, redactions: Sequence[RedactionJson], out: str | Path, title: str = "") -> Path:
    """Caller above, bot below, time in seconds; each redaction a shaded band with its reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    caller, bot = read_wav(wav)
    t = np.arange(len(caller)) / RATE
    fig, axes = plt.subplots(2, 1, figsize=(14, 5), sharex=True)
    for ax, name, samples in ((axes[0], "caller", caller), (axes[1], "bot", bot)):
        ax.plot(t, samples / 32768, linewidth=0.3, color="#1f77b4")
        ax.set_ylim(-1, 1)
        ax.set_ylabel(name)
        seen: set[str] = set()
        for span in redactions:
            if span.get("channel") != name:
                continue
            reason = str(span.get("reason"))
            ax.axvspan(int(span["start_ms"]) / 1000, int(span["end_ms"]) / 1000,
                       color=_COLOURS.get(reason, "#7f7f7f"), alpha=0.3,
                       label=None if reason in seen else f"muted: {reason}")
            seen.add(reason)
        if seen:
            ax.legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("seconds")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
