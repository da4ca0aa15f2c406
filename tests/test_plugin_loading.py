"""A plugin that fails to load is reported once, by name; the others still load."""

from __future__ import annotations

from importlib import metadata

import pytest

from vmcore.hooks.manager import PluginError, load_errors, plugin_manager


def fake_entry_points(group: str) -> list[metadata.EntryPoint]:
    assert group == "vmcore"
    return [
        metadata.EntryPoint("broken", "vmcore_no_such_module_xyz:plugin", "vmcore"),
        metadata.EntryPoint("fine", "vmcore.hooks.policies.fault", "vmcore"),
    ]


def test_a_broken_plugin_is_reported_and_the_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    pm = plugin_manager()
    assert pm.get_plugin("fine") is not None
    (msg,) = load_errors(pm)
    assert "plugin 'broken'" in msg and "ModuleNotFoundError" in msg and "-p no:broken" in msg


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    with pytest.raises(PluginError, match="plugin 'broken'"):
        plugin_manager(strict=True)
    monkeypatch.setenv("VMCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        plugin_manager()


def test_a_bad_module_named_on_the_command_line_is_an_error() -> None:
    with pytest.raises(PluginError, match="could not be imported"):
        plugin_manager(["vmcore_no_such_module_xyz"], entry_points=False)
