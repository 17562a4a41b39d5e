"""Goal-driven simulated callers for bench/call_success.py: personas (personas.py), the policy
that answers the bot (policy.py), caller voices (voices.py), store seeding and judging (judge.py)."""
