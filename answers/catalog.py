"""List Product Categories, Get Products in Category, Search Product By Name, Get Product By ID."""

from __future__ import annotations

from typing import Any

from bc2people.answers import params
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import BigCommerceError

LIST_INCLUDE = "variants,primary_image"
PRODUCT_INCLUDE = "variants,images,primary_image,options,modifiers"


def _product_summary(products: list[dict[str, Any]]) -> dict[str, Any]:
    first = products[0] if products else {}
    return {"count": len(products), "first_product_id": first.get("id"), "first_product_name": first.get("name"),
            "products": products}


def list_product_categories(client: BigCommerceClient, tree_id: int | None = None) -> dict[str, Any]:
    """Every category of the store (`GET /v3/catalog/trees/categories`, all pages).

    Items keep the API shape, whose id key is ``category_id``.
    """
    tree_id = params.optional_int("tree_id", tree_id)
    query = {"tree_id:in": tree_id} if tree_id is not None else {}
    categories = list(client.paged_v3("catalog", "trees", "categories", params=query))
    return {"count": len(categories), "categories": categories}


def get_products_in_category(client: BigCommerceClient, category_id: int, limit: int | None = None) -> dict[str, Any]:
    """Products in a category (`GET /v3/catalog/products?categories:in=`), all pages or the first `limit`."""
    category_id = params.positive_int("category_id", category_id)
    limit = params.optional_int("limit", limit, maximum=10_000)
    products = list(client.paged_v3("catalog", "products", limit=limit,
                                    params={"categories:in": category_id, "include": LIST_INCLUDE}))
    return {"category_id": category_id, **_product_summary(products)}


def search_products_by_name(client: BigCommerceClient, name: str, exact: bool = False,
                            limit: int | None = None) -> dict[str, Any]:
    """Products matching a keyword (`keyword=`: name, description, SKU, brand) or, with exact, `name=`."""
    name = params.text("name", name)
    exact = params.flag("exact", exact)
    limit = params.optional_int("limit", limit, maximum=10_000)
    query = {"name" if exact else "keyword": name, "include": LIST_INCLUDE}
    products = list(client.paged_v3("catalog", "products", params=query, limit=limit))
    return {"query": name, "exact": exact, **_product_summary(products)}


def get_product_by_id(client: BigCommerceClient, product_id: int) -> dict[str, Any]:
    """One product with variants, images, options and modifiers (`GET /v3/catalog/products/{id}`).

    Returns the product itself plus ``found: true``, or ``{"found": false, "product_id": ...}``.
    """
    product_id = params.positive_int("product_id", product_id)
    try:
        body = client.get("v3", "catalog", "products", product_id, params={"include": PRODUCT_INCLUDE})
    except BigCommerceError as exc:
        if exc.status == 404:
            return {"found": False, "product_id": product_id}
        raise
    return {"found": True, **((body or {}).get("data") or {})}
