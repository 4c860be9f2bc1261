"""The function registry: name -> callable and typed parameters, shared by the CLI and the HTTP adapter.

Each function is known by its Python name (``find_customer_by_email``) and by the name the
Answers block shows (``FindCustomerUsingEmail``). Parameters arrive as JSON values (HTTP) or
text (CLI) and are converted here; anything that does not fit is an `InvalidParameter`.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bc2people.answers import carts, catalog, checkouts, customers, orders, redirects
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import InvalidParameter

# (Answers block name, function), in the order the mission document lists them.
FUNCTIONS: tuple[tuple[str, Callable[..., dict[str, Any]]], ...] = (
    ("FindCustomerUsingEmail", customers.find_customer_by_email),
    ("GetOrdersUsingCustomerID", orders.get_orders_by_customer_id),
    ("ListProductCategories", catalog.list_product_categories),
    ("GetProductsInCategory", catalog.get_products_in_category),
    ("SearchProductByName", catalog.search_products_by_name),
    ("GetProductByID", catalog.get_product_by_id),
    ("CreateACart", carts.create_cart),
    ("GetACart", carts.get_cart),
    ("AddItemToCart", carts.add_item_to_cart),
    ("AddConsignment", checkouts.add_consignment),
    ("SelectShippingOption", checkouts.select_shipping_option),
    ("AddBillingAddress", checkouts.add_billing_address),
    ("CreateOrder", checkouts.create_order),
    ("GetRedirectURLs", redirects.get_redirect_urls),
)


# Other spellings the mission document uses for the same functions.
ALIASES = {"additemtocard": "add_item_to_cart", "addbillinginformation": "add_billing_address",
           "createcart": "create_cart", "getcart": "get_cart"}


@dataclass(frozen=True)
class Param:
    """One parameter: `kind` is "integer", "string", "boolean" or "array"."""

    name: str
    kind: str
    required: bool
    default: Any = None


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function: its names, summary, parameters and the callable."""

    name: str
    answers_name: str
    summary: str
    params: tuple[Param, ...]
    func: Callable[..., dict[str, Any]]

    def call(self, client: BigCommerceClient, values: Mapping[str, Any], *, from_text: bool = False) -> dict[str, Any]:
        """Convert `values` (JSON values, or text when `from_text`) and call the function."""
        if not isinstance(values, Mapping):
            raise InvalidParameter("body", "must be a JSON object of parameters")
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidParameter(unknown[0], f"unknown parameter; {self.name} takes {sorted(known)}")
        kwargs = {}
        for p in self.params:
            if p.name in values and values[p.name] is not None:
                kwargs[p.name] = convert(p, values[p.name], from_text)
            elif p.required:
                raise InvalidParameter(p.name, "is required")
        return self.func(client, **kwargs)


def _kind(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = typing.get_origin(args[0]) or args[0]
    return {int: "integer", str: "string", bool: "boolean", list: "array"}.get(base, "string")


def _spec(answers_name: str, func: Callable[..., dict[str, Any]]) -> FunctionSpec:
    hints = typing.get_type_hints(func)
    params = []
    for name, p in list(inspect.signature(func).parameters.items())[1:]:  # skip `client`
        required = p.default is inspect.Parameter.empty
        params.append(Param(name, _kind(hints[name]), required, None if required else p.default))
    summary = (inspect.getdoc(func) or "").split("\n\n")[0].replace("\n", " ")
    return FunctionSpec(func.__name__, answers_name, summary, tuple(params), func)


REGISTRY: dict[str, FunctionSpec] = {}
for _answers_name, _func in FUNCTIONS:
    _s = _spec(_answers_name, _func)
    REGISTRY[_s.name] = _s


def get_function(name: str) -> FunctionSpec:
    """By Python name or Answers name (case-insensitive); KeyError lists the known names."""
    spec = REGISTRY.get(name)
    if spec is not None:
        return spec
    folded = name.replace("_", "").lower()
    if folded in ALIASES:
        return REGISTRY[ALIASES[folded]]
    for s in REGISTRY.values():
        if folded in (s.answers_name.lower(), s.name.replace("_", "")):
            return s
    raise KeyError(f"unknown function {name!r}; known: {', '.join(REGISTRY)}")


def convert(param: Param, value: Any, from_text: bool = False) -> Any:
    """One value to the parameter's kind (the functions validate ranges themselves)."""
    if param.kind == "array":
        if from_text and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise InvalidParameter(param.name, "must be a JSON array") from None
        if not isinstance(value, list):
            raise InvalidParameter(param.name, "must be an array")
        return value
    if param.kind == "boolean":
        if isinstance(value, bool | str):
            return value  # params.flag reads "true"/"false"
        raise InvalidParameter(param.name, "must be true or false")
    if param.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidParameter(param.name, "must be an integer")
        return value  # params.positive_int accepts digit strings
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidParameter(param.name, "must be a string")
    return str(value)
