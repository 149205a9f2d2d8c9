"""The per-service files are generated from one service table and the topic registry."""

from types import ModuleType

from support import ROOT


def test_committed_files_are_what_generate_py_writes(generator: ModuleType) -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, content in generator.expected_files().items()
        if not path.exists() or path.read_text() != content
    ]
    assert not stale, f"run `uv run python deploy/k8s/generate.py`; out of date: {stale}"


def test_service_table_matches_each_services_settings_and_console_script(
    generator: ModuleType,
) -> None:
    import importlib
    import tomllib

    for service in generator.SERVICES:
        app = importlib.import_module(f"carepath.{service.name}.app")
        settings = next(
            value
            for name, value in vars(app).items()
            if name.endswith("Settings") and name != "ServiceSettings"
        )
        assert settings.model_fields["http_port"].default == service.port, service.name
        assert settings.model_fields["service_name"].default == service.name
        pyproject = tomllib.loads((ROOT / "services" / service.name / "pyproject.toml").read_text())
        target = pyproject["project"]["scripts"][service.script]
        assert target.startswith(f"carepath.{service.name}."), (service.script, target)


def test_every_workspace_member_is_copied_into_the_builder(generator: ModuleType) -> None:
    members = {
        str(path.parent.relative_to(ROOT))
        for pattern in (
            "contracts/pyproject.toml",
            "services/*/pyproject.toml",
            "infra/seed/pyproject.toml",
        )
        for path in ROOT.glob(pattern)
    }
    assert set(generator.WORKSPACE_MEMBERS) == members
