"""The plugin API: what a policy author programs against.

* :mod:`~vmcore.hooks.hookspecs` — the pluggy hook specifications (``vmcore_*``), one set
  of decision hooks per policy family plus the observers;
* :mod:`~vmcore.hooks.decisions` — the requests the decision hooks receive and the answers
  they return (``AllocRequest`` → ``AllocMode``, ``FaultInfo`` → ``FaultAction``, ...);
* :mod:`~vmcore.hooks.policies` — ``Policy``, ``PolicyError`` and the built-in policies,
  the upstream defaults among them;
* :mod:`~vmcore.hooks.manager` — the plugin manager: entry-point loading, ``-p``, the
  policy table, and ``ActivePolicies``, the typed questions the engine asks a scenario's
  active policies;
* :mod:`~vmcore.hooks.hookdoc` — ``docs/hooks.md``, generated from the hookspecs.

This layer sits on the C core and below the engine; it imports neither the engine nor the
language. Plugins import the public names from :mod:`vmcore` itself.
"""
