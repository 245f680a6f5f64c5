"""Pytest configuration of the Pulumi toolchain smoke test (tests/toolchain)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pulumi: needs the Pulumi engine and OpenStack provider (toolchain/ensure-pulumi)"
    )
