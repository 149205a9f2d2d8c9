"""Clinic policy files: thresholds and rules are clinic decisions, kept in versioned files that a
service validates when it starts. A file that does not validate stops the start, naming the file,
the place and the problem."""

import tomllib
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class PolicyFileError(ValueError):
    """The policy file cannot be used; the message says which file, where and what."""


def load_policy_file(path: Path, model: type[M]) -> M:
    """Read a TOML or YAML policy file (by its suffix) and validate it as `model`."""
    try:
        text = path.read_text()
        document = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        return model.model_validate(document)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise PolicyFileError(f"policy file {path}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise PolicyFileError(f"policy file {path}: {problems}") from error
