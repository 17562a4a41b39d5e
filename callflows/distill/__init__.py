"""Distillation: a teacher LLM writes labelled caller utterances for a vertical, a small
student model learns from them.

    callflows distill dental_clinic          # teacher -> verticals/dental_clinic/distilled.jsonl -> student

Stages (each resumable; see callflows/distill/run.py):
1. tasks.py      what to ask the teacher: utterances per intent, answers per form slot, labels
                 for the vertical's unlabelled real utterances;
2. teacher.py    the prompts, with JSON-schema constrained output;
3. filtering.py  drop what the teacher got wrong (round-trip value parse, a seed classifier's
                 and the teacher's own agreement, duplicates, meta-talk);
4. datafile.py   the reviewable, append-only data file kept in the vertical;
5. train.py      student (callflows.nlu.student) on seeds + distilled data (+ a vertical's
                 own labelled data sets), a held-out check and a model card.
"""
