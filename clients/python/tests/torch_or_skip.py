"""torch (and the reference optimizers) for the drop-in's tests.

Without torch those tests skip, except where torch is required (STEPD_REQUIRE_TORCH=1, which
scripts/test sets, or CI set to anything but "", 0 or false): there each one fails, and the rest
of the suite still runs."""

import importlib
import os

import pytest


def required() -> bool:
    if os.environ.get("STEPD_REQUIRE_TORCH", "") not in ("", "0"):
        return True
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def load():
    """(torch, StepdOptimizer, error): the error is set only where torch is required but missing
    or broken; where it is optional and missing, the calling test module is skipped."""
    try:
        import torch
        from stepd.torch import StepdOptimizer
        return torch, StepdOptimizer, None
    except Exception as e:  # missing, or broken (a CUDA build without its libraries: ValueError)
        if not required():
            if not isinstance(e, ImportError):
                raise
            pytest.skip(f"torch is not importable: {e}", allow_module_level=True)
        return None, None, e


def fail_if_missing(error) -> None:
    if error is not None:
        pytest.fail(f"torch is required here (STEPD_REQUIRE_TORCH=1 or CI is set) but "
                    f"not importable: {error}; scripts/install-torch installs it", pytrace=False)


def reference_module(name: str):
    """A reference implementation (lion_pytorch, schedulefree): skipped if optional and missing,
    a failure where torch is required (scripts/install-torch installs them)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if required():
            pytest.fail(f"{name} is required here but not importable: {e}; scripts/install-torch installs it", pytrace=False)
        pytest.skip(f"{name} is not importable: {e}")
