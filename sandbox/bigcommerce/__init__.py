"""A local BigCommerce store API (customers, store clock, quota, faults) for tests and demos."""

from sandbox.bigcommerce.server import BigCommerceSandbox

__all__ = ["BigCommerceSandbox"]
