"""The test suite's own waits: bounds scaled to how slow the machine is now (tests/conftest.py)."""

from tests.conftest import SLOW_FACTOR_MAX, measured_slow_factor, scaled


def test_the_slow_factor_is_between_one_and_its_cap():
    assert 1.0 <= measured_slow_factor() <= SLOW_FACTOR_MAX


def test_a_test_without_its_own_bound_gets_pytest_timeouts_bound_scaled(request, pytestconfig):
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None
    assert marker.args[0] == scaled(float(pytestconfig.getini("timeout")))
