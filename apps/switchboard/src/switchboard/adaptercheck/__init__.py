"""`switchboard-adapter-check`: the adapter conformance kit. It starts a throw-away gated where
the adapter under test is pointed, drives the adapter through the channel protocol (rule by
rule: `rules.py`) and prints a table of PASS/FAIL per rule (`main.py`)."""
