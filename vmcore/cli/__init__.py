"""The front end: the ``vmcore`` command, its test session and what it reports.

:mod:`~vmcore.cli.main` parses the command line and dispatches the subcommands;
:mod:`~vmcore.cli.session` runs ``vmcore test`` over compiled scenarios with the help of
:mod:`~vmcore.cli.options`, :mod:`~vmcore.cli.keywords` (``-k``), :mod:`~vmcore.cli.files`,
:mod:`~vmcore.cli.report` (the terminal), :mod:`~vmcore.cli.workers` (``-n``, ``--dask``)
and :mod:`~vmcore.cli.junit`; :mod:`~vmcore.cli.config` reads ``[tool.vmcore]`` and
``vmcore.yaml``; :mod:`~vmcore.cli.scaffold` writes ``vmcore new-plugin``'s package;
:mod:`~vmcore.cli.pytest_plugin` lets plain ``pytest`` collect .vms files.

The front end is the top layer: it may import everything below, and nothing below
imports it.
"""
