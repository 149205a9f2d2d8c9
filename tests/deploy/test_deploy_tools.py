"""A missing kustomize or helm: a developer without Go is told how to get it; CI fails instead of
skipping, so a machine without the tools can never pass the deploy tests by skipping them."""

import shutil
from pathlib import Path

import pytest
from conftest import deploy_tool


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)


@pytest.mark.usefixtures("no_go")
def test_a_missing_tool_is_skipped_with_how_to_install_it_off_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"helm is not installed.*make deploy-tools"):
        deploy_tool(tmp_path / "helm")


@pytest.mark.usefixtures("no_go")
def test_a_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the deploy tests"):
        deploy_tool(tmp_path / "helm")


def test_an_installed_tool_is_used_as_it_is(tmp_path: Path) -> None:
    tool = tmp_path / "helm"
    tool.write_text("#!/bin/sh\n")
    assert deploy_tool(tool) == tool
