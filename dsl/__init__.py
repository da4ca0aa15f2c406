"""The .vms scenario language (installed as ``vmcore.dsl``).

The grammar, parser and compiler arrive with the language issue; this package is the
place they live.
"""
