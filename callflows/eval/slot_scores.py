"""Slot scores of the evaluation (callflows/eval/runner.py): the NLU++ and SGD examples (typed or
ASR-styled, with their gold values), the student tagger's span F1, and exact normalised values -
end to end (tagged span -> value parser) and the parser alone on the gold span or whole turn."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from callflows.eval.gold import NLUPP_TYPES, nlupp_gold, sgd_date, sgd_time
from callflows.nlu.asr_style import AsrStyler
from callflows.nlu.values import ParseContext, extract, words_to_digits


def parsed_value(kind: str, text: str, ctx: ParseContext) -> str | None:
    if kind in ("date", "time"):
        vals = [v for v in extract(kind, text, ctx) if v.value is not None]
        return vals[0].value if vals else None
    if kind == "money":
        vals = extract("money", text, ctx)
        if vals:
            return vals[0].value
        digits = words_to_digits(text.lower())
        import re

        m = re.search(r"\d+(?:\.\d+)?", digits)
        return f"{float(m.group()):.2f}" if m else None
    if kind == "count":
        import re

        t = text.lower()
        m = re.search(r"\d+", words_to_digits(t))
        if m:
            return str(int(m.group()))
        if re.search(r"\b(a|an|one|single|me|myself|i)\b", t):
            return "1"
    return None


def nlupp_examples(items: list[dict], styler: AsrStyler | None) -> list[tuple[str, list, dict]]:
    """(text, spans, gold values by (slot, start, end)) per item, optionally ASR-styled."""
    out = []
    for e in items:
        spans = [(k, v["span"][0], v["span"][1]) for k, v in e.get("slots", {}).items() if "span" in v]
        golds = {k: nlupp_gold(k, v) for k, v in e.get("slots", {}).items()}
        text = e["text"]
        if styler is not None:
            text, spans = styler.convert_spans(text, spans)
        out.append((text, spans, golds))
    return out


def sgd_examples(turns: list[dict], styler: AsrStyler | None, slots=("appointment_date", "appointment_time")) -> list:
    out = []
    for t in turns:
        spans = [(s["slot"], s["start"], s["end"]) for s in t["slots"]]
        golds = {}
        for s in t["slots"]:
            if s["slot"] == "appointment_date":
                golds[s["slot"]] = sgd_date(s["text"])
            elif s["slot"] == "appointment_time":
                golds[s["slot"]] = sgd_time(s["text"])
        text = t["text"]
        if styler is not None:
            text, spans = styler.convert_spans(text, spans)
        out.append((text, spans, golds))
    return out


def span_f1(pred: list[list], gold: list[list], texts: list[str]) -> dict[str, float]:
    from callflows.nlu.student import tokenize_words

    tp = fp = fn = 0
    for p, g, text in zip(pred, gold, texts):
        toks = tokenize_words(text)

        def key(span):
            lab, s, e = span
            idx = [i for i, (_, ts, te) in enumerate(toks) if ts < e and te > s and text[ts:te] not in ".,?!"]
            return (lab, idx[0], idx[-1]) if idx else (lab, -1, -1)

        ps, gs = {key(x) for x in p}, {key(x) for x in g}
        tp += len(ps & gs)
        fp += len(ps - gs)
        fn += len(gs - ps)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"f1": round(f1, 4), "precision": round(prec, 4), "recall": round(rec, 4), "gold_spans": tp + fn}


def nlupp_values(pred: list[list], examples: list, ctx: ParseContext) -> dict[str, Any]:
    """Exact normalised value: end to end (tagger span -> parser) and parser on the gold span."""
    e2e = []
    on_gold = []
    by_kind: dict[str, list] = defaultdict(list)
    for p, (text, spans, golds) in zip(pred, examples):
        for slot, s, e in spans:
            gold = golds.get(slot)
            if gold is None:
                continue
            kind = NLUPP_TYPES[slot]
            dctx = ctx
            on_gold.append(parsed_value(kind, text[s:e], dctx) == gold)
            got = [parsed_value(kind, text[ps:pe], dctx) for lab, ps, pe in p if lab == slot]
            ok = gold in got
            e2e.append(ok)
            by_kind[kind].append(ok)
    return {"exact_end_to_end": round(float(np.mean(e2e)), 4) if e2e else float("nan"),
            "exact_parser_on_gold_span": round(float(np.mean(on_gold)), 4) if on_gold else float("nan"),
            "by_type_end_to_end": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_kind.items())},
            "n": len(e2e)}


def sgd_values(pred: list[list] | None, examples: list, ctx: ParseContext) -> dict[str, Any]:
    """Date/time exact: parser over the whole turn, and (if pred) parser over the tagged span."""
    res: dict[str, Any] = {}
    for slot, kind in (("appointment_date", "date"), ("appointment_time", "time")):
        whole, tagged, on_gold = [], [], []
        for i, (text, spans, golds) in enumerate(examples):
            gold = golds.get(slot)
            if not gold:
                continue
            span = [sp for sp in spans if sp[0] == slot][0]
            whole.append(parsed_value(kind, text, ctx) in gold)
            on_gold.append(parsed_value(kind, text[span[1]:span[2]], ctx) in gold)
            if pred is not None:
                got = [parsed_value(kind, text[ps:pe], ctx) for lab, ps, pe in pred[i] if lab == slot]
                tagged.append(any(g in gold for g in got))
        res[kind] = {"exact_parser_whole_turn": round(float(np.mean(whole)), 4) if whole else float("nan"),
                     "exact_parser_on_gold_span": round(float(np.mean(on_gold)), 4) if on_gold else float("nan"),
                     "n": len(whole)}
        if pred is not None:
            res[kind]["exact_student_span"] = round(float(np.mean(tagged)), 4) if tagged else float("nan")
    return res
