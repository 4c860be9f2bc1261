"""A local BigCommerce store API (customers, store clock, quota, faults) for tests and demos."""

from bc2people.sandbox.bigcommerce.server import BigCommerceSandbox

__all__ = ["BigCommerceSandbox"]
