import pytest
from domain_builders import shipped

from chalicelib.domain.model import Strategy


@pytest.fixture(scope="session")
def strategy() -> Strategy:
    return shipped()
