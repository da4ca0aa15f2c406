"""Shared test configuration."""

import os

from hypothesis import settings

pytest_plugins = ["pytester"]

# The sanitizer run repeats the core tests in a slower build: fewer examples there.
settings.register_profile("sanitize", max_examples=25, deadline=None)
if os.environ.get("VMCORE_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["VMCORE_HYPOTHESIS_PROFILE"])
