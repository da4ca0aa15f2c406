"""The typed AST of a .vms file.

Every node keeps its source position (excluded from equality, so that a file and its
formatted version compare equal); literals keep the text they were written as.
Statement nodes (``setup``, ``statements``) and predicates (``predicates``) carry what
the language does with them: their checks, their plan and their text.
"""

from __future__ import annotations

# A node is added to its module and that module's __all__; nothing here changes.
from vmcore.dsl.ast import predicates, setup, statements, top, values
from vmcore.dsl.ast.predicates import *  # noqa: F403
from vmcore.dsl.ast.setup import *  # noqa: F403
from vmcore.dsl.ast.statements import *  # noqa: F403
from vmcore.dsl.ast.top import *  # noqa: F403
from vmcore.dsl.ast.values import *  # noqa: F403

__all__: list[str] = []
__all__ += values.__all__
__all__ += predicates.__all__
__all__ += setup.__all__
__all__ += statements.__all__
__all__ += top.__all__
