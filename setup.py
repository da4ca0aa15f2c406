"""setuptools entry point: only the cffi extension lives here; metadata is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["vmcore/core/_build.py:ffibuilder"])
