"""vmcore: a laboratory for GPU virtual-memory management policies.

vmcore models how amdgpu keeps page tables, fences and the SDMA ring consistent while
retry page faults, evictions and migrations happen, and lets policy authors plug in
their own decisions and check them against scenarios.
"""

from __future__ import annotations

from vmcore.errors import VmcoreError

__version__ = "0.1.0"

__all__ = ["VmcoreError", "__version__"]
