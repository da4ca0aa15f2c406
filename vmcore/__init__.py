"""vmcore: a laboratory for GPU virtual-memory management policies.

vmcore models how amdgpu keeps page tables, fences and the SDMA ring consistent while
retry page faults, evictions and migrations happen, and lets policy authors plug in
their own decisions and check them against scenarios.

What a plugin or scenario author needs is exported here; everything else is importable
but unadvertised.
"""

from __future__ import annotations

__version__ = "0.1.0"

from vmcore.engine import Result, Scenario
from vmcore.errors import VmcoreError
from vmcore.hookspecs import hookimpl
from vmcore.policies import Policy

__all__ = ["Policy", "Result", "Scenario", "VmcoreError", "__version__", "hookimpl"]
