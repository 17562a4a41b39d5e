"""The evaluation's report (callflows/eval/runner.py): which targets the run met, the table it
prints, and the accuracy-against-latency plot (matplotlib, or a plain SVG without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def targets(r: dict[str, Any]) -> dict[str, Any]:
    """Each target of the evaluation (README) and whether this run met it."""
    s = r["systems"].get("student_dev", {})
    ft = r["systems"].get("student_finetuned", {})  # the same student with a fine-tuned encoder (if torch is there)
    t = r["systems"].get("teacher_zero_shot", {})
    sgd = r["slots"].get("sgd", {}).get("text", {}).get("values", {})
    out = {
        "banking77_accuracy>=0.92": max(s.get("banking77_accuracy", {}).get("text", 0),
                                        ft.get("banking77_accuracy", {}).get("text", 0)) >= 0.92,
        "sgd_date_exact>=0.90": sgd.get("date", {}).get("exact_student_span", 0) >= 0.90,
        "sgd_time_exact>=0.90": sgd.get("time", {}).get("exact_student_span", 0) >= 0.90,
        "clinc_oos_recall>=0.80": s.get("clinc150", {}).get("text", {}).get("oos_recall", 0) >= 0.80,
        "clinc_in_scope>=0.90": s.get("clinc150", {}).get("text", {}).get("in_scope_accuracy", 0) >= 0.90,
    }
    if "banking77_accuracy" in t:
        out["student>=teacher (banking77, text)"] = s["banking77_accuracy"]["text"] >= t["banking77_accuracy"]["text"]
        out["student 100x faster than teacher"] = t["latency"]["p50_ms"] >= 100 * s["latency"]["p50_ms"]
    return out


def _f(x: Any, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    return f"{100 * x:.1f}" if pct else f"{x:g}"


def format_table(r: dict[str, Any]) -> str:
    rows = [("system", "B77 text", "B77 asr", "B77 oos-off text", "B77 oos-off asr", "CLINC in text", "CLINC oos text", "CLINC in asr", "CLINC oos asr",
             "p50 ms", "p95 ms", "size MB", "mem MB")]
    for name in ("student_finetuned", "student_distilled", "student_dev", "student_seed", "teacher_zero_shot", "tfidf_lr_baseline"):
        s = r["systems"].get(name)
        if s is None:
            continue
        if "unavailable" in s:
            rows.append((name, "n/a",) + ("",) * 11)
            continue
        b = s.get("banking77_accuracy", {})
        c = s.get("clinc150", {})
        lat = s.get("latency", {})
        label = name + (f" (n={s['sample_n']})" if "sample_n" in s else "")
        bo = s.get("banking77_accuracy_oos_off", {})
        rows.append((label, _f(b.get("text")), _f(b.get("asr")), _f(bo.get("text")), _f(bo.get("asr")),
                     _f(c.get("text", {}).get("in_scope_accuracy")), _f(c.get("text", {}).get("oos_recall")),
                     _f(c.get("asr", {}).get("in_scope_accuracy")), _f(c.get("asr", {}).get("oos_recall")),
                     _f(lat.get("p50_ms"), False), _f(lat.get("p95_ms"), False),
                     _f(s.get("size_mb"), False), _f(s.get("memory_mb"), False)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    sl = r["slots"]
    lines += ["", "slots (student tagger + value parsers)        text      asr"]
    for ds in ("nlupp", "sgd"):
        if ds not in sl:
            continue
        lines.append(f"{ds} span F1                                   {_f(sl[ds]['text']['span']['f1']):>6}    {_f(sl[ds]['asr']['span']['f1']):>6}")
    if "nlupp" in sl:
        for key in ("exact_end_to_end", "exact_parser_on_gold_span"):
            lines.append(f"nlupp value {key:<33}{_f(sl['nlupp']['text']['values'][key]):>6}    {_f(sl['nlupp']['asr']['values'][key]):>6}")
        for kind, v in sl["nlupp"]["text"]["values"]["by_type_end_to_end"].items():
            lines.append(f"nlupp value end to end: {kind:<21}{_f(v):>6}    {_f(sl['nlupp']['asr']['values']['by_type_end_to_end'].get(kind)):>6}")
    if "sgd" in sl:
        for kind in ("date", "time"):
            for key in ("exact_student_span", "exact_parser_whole_turn", "exact_parser_on_gold_span"):
                lines.append(f"sgd {kind} {key:<36}{_f(sl['sgd']['text']['values'][kind].get(key)):>6}    "
                             f"{_f(sl['sgd']['asr']['values'][kind].get(key)):>6}")
    t = r["systems"].get("teacher_zero_shot", {})
    if "student_dev_on_same_sample" in t:
        lines += ["", f"teacher sample (n={t['sample_n']}): teacher {_f(t['banking77_accuracy']['text'])} text / "
                      f"{_f(t['banking77_accuracy']['asr'])} asr; student_dev on the same utterances "
                      f"{_f(t['student_dev_on_same_sample']['text'])} / {_f(t['student_dev_on_same_sample']['asr'])}"]
    lines += ["", "targets: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in r.get("targets", {}).items())]
    lines += [f"note: {n}" for n in r.get("notes", [])]
    return "\n".join(lines)


def write_plot(r: dict[str, Any], path: Path) -> Path:
    points = []
    for name, s in r["systems"].items():
        if "latency" in s and "banking77_accuracy" in s:
            points.append((name, s["latency"]["p50_ms"], s["banking77_accuracy"]["text"], s["banking77_accuracy"].get("asr")))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _write_svg(points, path.with_suffix(".svg"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, lat, acc, acc_asr in points:
        ax.scatter([lat], [100 * acc], s=50)
        ax.annotate(f"{name} (text)", (lat, 100 * acc), textcoords="offset points", xytext=(6, 4), fontsize=8)
        if acc_asr is not None:
            ax.scatter([lat], [100 * acc_asr], marker="x")
            ax.annotate("asr", (lat, 100 * acc_asr), textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per utterance, ms (log; students/baseline on 1 core)")
    ax.set_ylabel("Banking77 validation accuracy, %")
    ax.set_title("Callflows NLU: accuracy against latency")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _write_svg(points: list, path: Path) -> Path:
    import math

    w, h, pad = 640, 400, 60
    lats = [p[1] for p in points] or [1]
    lo, hi = math.log10(min(lats) / 2), math.log10(max(lats) * 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle" font-size="12">p50 latency ms (log)</text>',
             f'<text x="15" y="{h / 2}" font-size="12" transform="rotate(-90 15 {h / 2})">Banking77 accuracy %</text>']
    for name, lat, acc, _ in points:
        x = pad + (math.log10(lat) - lo) / (hi - lo) * (w - 2 * pad)
        y = h - pad - (acc - 0.5) / 0.5 * (h - 2 * pad)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="steelblue"/><text x="{x + 8:.1f}" y="{y - 6:.1f}" font-size="11">{name} {100 * acc:.1f}%, {lat:g} ms</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path
