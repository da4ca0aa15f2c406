"""``vmcore completion bash|zsh``: a shell completion script generated from the parser.

The script completes the subcommands, each subcommand's options (as the parser defines
them when the script is printed, so it never goes stale against ``--help``), the values
of options with fixed choices (``--strategy``, ``--color``), directories and ``.vms``
files for paths, and files for options that take one.  zsh uses it through bash
completion (``bashcompinit``).  Install: ``eval "$(vmcore completion bash)"`` in
``~/.bashrc`` (``zsh`` in ``~/.zshrc``).
"""

from __future__ import annotations

import argparse
import shlex


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    subs = _subparsers(parser)
    cases = []
    for name, sub in subs.items():
        opts = sorted(s for a in sub._actions for s in a.option_strings)
        choices = []
        for a in sub._actions:
            if a.option_strings and a.choices:
                alts = " ".join(shlex.quote(str(c)) for c in a.choices)
                pattern = "|".join(a.option_strings)
                choices.append(f'                {pattern}) COMPREPLY=($(compgen -W "{alts}" -- "$cur")); return;;')
        prev_case = "\n".join(choices)
        cases.append(
            f"        {name})\n"
            f'            case "$prev" in\n{prev_case}\n            esac\n'
            f'            if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "{" ".join(opts)}" -- "$cur")); return; fi\n'
            "            ;;"
        )
    body = "\n".join(cases)
    top = " ".join(sorted(subs)) + " --help --version"
    out = f"""# vmcore {shell} completion: eval "$(vmcore completion {shell})"
_vmcore() {{
    local cur prev cmd
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "{top}" -- "$cur"))
        return
    fi
    cmd="${{COMP_WORDS[1]}}"
    case "$cmd" in
{body}
    esac
    # paths: directories and .vms files (and any file after an option that takes one)
    COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.vms' -- "$cur"))
    case "$prev" in
        --junitxml|--json|--csv|--trace|--graph|--plot|--timeline|--replay|explain) COMPREPLY=($(compgen -f -- "$cur"));;
    esac
}}
complete -o filenames -F _vmcore vmcore
"""
    if shell == "zsh":
        out = "autoload -U +X bashcompinit && bashcompinit\n" + out
    return out


__all__ = ["script"]
