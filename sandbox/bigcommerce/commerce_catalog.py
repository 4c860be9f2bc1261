"""Catalog V3 for the BigCommerce sandbox: products (variants, options), categories, category trees.

Seed data mirrors a fresh BigCommerce store's sample catalog: simple products (one base
variant) and products with options (no base variant; a variant per option combination).
"""

from __future__ import annotations

import copy
from typing import Any

from bc2people.sandbox.bigcommerce.commerce_state import (
    CommerceState,
    QueryError,
    catalog_not_found,
    includes,
    int_list_param,
    int_param,
    iso_z,
    page_and_limit,
    paginate,
    tree_error,
    v3_error,
)
from bc2people.sandbox.http import Request, Response, Router

SEED_EPOCH = 1_700_000_000

SEED_CATEGORIES: list[tuple[int, int, str, str]] = [
    # (category_id, parent_id, name, description)
    (23, 0, "Shop All", "Everything the store sells."),
    (18, 0, "Bath", "Soaps, towels and bath accessories."),
    (19, 0, "Garden", "Tools and pots for the garden."),
    (20, 23, "Kitchen", "Cookware and utensils."),
    (21, 23, "Publications", "Books and magazines."),
    (22, 20, "Utility", "Everyday kitchen helpers."),
]

# (id, name, sku, price, categories, description, options: {display_name: [labels]} or None, type)
SEED_PRODUCTS: list[tuple[int, str, str, float, list[int], str, dict[str, list[str]] | None, str]] = [
    (77, "[Sample] Fog Linen Chambray Towel - Beige Stripe", "SLCTBS", 49.0, [18, 23],
     "The perfect beach towel: thin, lightweight and highly absorbent.", {"Size": ["Small", "Large"]}, "physical"),
    (80, "[Sample] Orbit Terrarium - Large", "OTL", 109.0, [19, 23], "A glass terrarium for small plants.", None, "physical"),
    (81, "[Sample] Shower Curtain", "SC", 59.0, [18, 23], "A classic shower curtain in organic cotton.", None, "physical"),
    (86, "[Sample] Able Brewing System", "ABS", 225.0, [20, 22, 23], "Brew coffee the slow way.", None, "physical"),
    (88, "[Sample] Chemex Coffeemaker 3 Cup", "CC3C", 49.5, [20, 23], "Pour-over coffee for three.", None, "physical"),
    (93, "[Sample] 1 L Le Parfait Jar", "SLLPJ", 7.0, [20, 22, 23], "A preserving jar with a rubber seal.", None, "physical"),
    (97, "[Sample] Tiered Wire Basket", "TWB", 119.95, [20, 22, 23], "Three tiers of wire for fruit.", None, "physical"),
    (98, "[Sample] Oak Cheese Grater", "OCG", 34.95, [20, 22, 23], "Grate cheese in style.", None, "physical"),
    (103, "[Sample] Canvas Laundry Cart", "CLC", 200.0, [22, 23], "A laundry cart on casters.", None, "physical"),
    (104, "[Sample] Utility Caddy", "OFSUC", 45.95, [22, 23], "Carry cleaning supplies around.", None, "physical"),
    (107, "[Sample] Dustpan & Brush", "DPB", 34.95, [22, 23], "Sweep small messes.", None, "physical"),
    (111, "[Sample] Smith Journal 13", "SM13", 25.0, [21, 23], "A quarterly journal.", None, "physical"),
    (112, "[Sample] Laundry Detergent", "CGLD", 29.95, [18, 23], "Plant-based detergent.",
     {"Scent": ["Lavender", "Citrus"], "Size": ["1 L", "2 L"]}, "physical"),
    (113, "[Sample] Field Guide eBook", "FGE", 9.99, [21, 23], "A downloadable guide to garden birds.", None, "digital"),
]


def _option_values(state: CommerceState, options: dict[str, list[str]], product_id: int) -> list[dict[str, Any]]:
    out = []
    for sort, (display, labels) in enumerate(options.items()):
        option_id = state.next_id("option", 100)
        values = []
        for vsort, label in enumerate(labels):
            values.append({"id": state.next_id("option_value", 60), "label": label, "sort_order": vsort,
                           "value_data": None, "is_default": vsort == 0})
        out.append({"id": option_id, "product_id": product_id, "display_name": display, "type": "rectangles",
                    "sort_order": sort, "config": {}, "option_values": values, "name": f"{display}{product_id}"})
    return out


VALUE_LIST_TYPES = frozenset({"checkbox", "radio_buttons", "rectangles", "dropdown", "swatch", "product_list",
                              "product_list_with_images"})


def _modifiers(state: CommerceState, modifiers: list[dict[str, Any]], product_id: int) -> list[dict[str, Any]]:
    """`[{"display_name", "type", "required", "values": [labels]}]` -> productModifier_Full objects."""
    out = []
    for sort, spec in enumerate(modifiers):
        mtype = spec.get("type", "dropdown")
        values = [{"id": state.next_id("option_value", 60), "option_id": 0, "label": label, "sort_order": vsort,
                   "value_data": {"checked_value": vsort == 0} if mtype == "checkbox" else None,
                   "is_default": False, "adjusters": {}} for vsort, label in enumerate(spec.get("values") or [])]
        mid = state.next_id("option", 100)
        for v in values:
            v["option_id"] = mid
        out.append({"id": mid, "product_id": product_id, "name": f"{spec['display_name']}{product_id}",
                    "display_name": spec["display_name"], "type": mtype, "required": bool(spec.get("required")),
                    "sort_order": sort, "config": {}, "option_values": values})
    return out


def _variants(state: CommerceState, product: dict[str, Any], options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    combos: list[list[tuple[dict[str, Any], dict[str, Any]]]] = [[]]
    for option in options:
        combos = [c + [(option, v)] for c in combos for v in option["option_values"]]
    variants = []
    for combo in combos:
        suffix = "-".join(v["label"].upper().replace(" ", "") for _, v in combo)
        variants.append({
            "id": state.next_id("variant", 60), "product_id": product["id"],
            "sku": product["sku"] + (f"-{suffix}" if suffix else ""), "sku_id": None,
            "price": None, "calculated_price": product["price"], "sale_price": None, "retail_price": None,
            "map_price": None, "weight": None, "calculated_weight": product["weight"], "width": None,
            "height": None, "depth": None, "is_free_shipping": False, "fixed_cost_shipping_price": None,
            "purchasing_disabled": False, "purchasing_disabled_message": "", "image_url": "", "cost_price": 0,
            "upc": "", "mpn": "", "gtin": "", "inventory_level": 0, "inventory_warning_level": 0,
            "bin_picking_number": "",
            "option_values": [{"id": v["id"], "label": v["label"], "option_id": o["id"],
                               "option_display_name": o["display_name"]} for o, v in combo],
        })
    return variants


def add_product(state: CommerceState, *, name: str, price: float, categories: list[int], sku: str = "",
                description: str = "", options: dict[str, list[str]] | None = None, product_id: int | None = None,
                type: str = "physical", inventory_level: int = 100, is_visible: bool = True,
                modifiers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Add a product (with a variant per option combination when `options` is given) and return it.

    `modifiers`: ``[{"display_name", "type", "required", "values": [labels]}]``; a required
    modifier must be chosen in a cart's `option_selections`.
    """
    with state.lock:
        pid = product_id if product_id is not None else state.next_id("product", 200)
        now = state.now() if product_id is None else SEED_EPOCH + pid * 3600
        product: dict[str, Any] = {
            "id": pid, "name": name, "type": type, "sku": sku or f"SKU-{pid}", "description": f"<p>{description}</p>",
            "weight": 1.0, "width": 0, "depth": 0, "height": 0, "price": price, "cost_price": 0, "retail_price": 0,
            "sale_price": 0, "map_price": 0, "tax_class_id": 0, "product_tax_code": "", "calculated_price": price,
            "categories": list(categories), "brand_id": 0, "option_set_id": 0, "option_set_display": "right",
            "inventory_level": inventory_level, "inventory_warning_level": 0, "inventory_tracking": "none",
            "reviews_rating_sum": 0, "reviews_count": 0, "total_sold": 0, "fixed_cost_shipping_price": 0,
            "is_free_shipping": False, "is_visible": is_visible, "is_featured": False, "related_products": [-1],
            "warranty": "", "bin_picking_number": "", "layout_file": "product.html", "upc": "", "mpn": "", "gtin": "",
            "search_keywords": "", "availability": "available", "availability_description": "",
            "gift_wrapping_options_type": "any", "gift_wrapping_options_list": [], "sort_order": 0,
            "condition": "New", "is_condition_shown": False, "order_quantity_minimum": 0,
            "order_quantity_maximum": 0, "page_title": "", "meta_keywords": [], "meta_description": "",
            "date_created": iso_z(now), "date_modified": iso_z(now), "view_count": 0, "preorder_release_date": None,
            "preorder_message": "", "is_preorder_only": False, "is_price_hidden": False, "price_hidden_label": "",
            "custom_url": {"url": "/" + "-".join(name.lower().replace("[sample]", "").split()) + "/",
                           "is_customized": False},
            "base_variant_id": None, "open_graph_type": "product", "open_graph_title": "",
            "open_graph_description": "", "open_graph_use_meta_description": True,
            "open_graph_use_product_name": True, "open_graph_use_image": True,
        }
        opts = _option_values(state, options, pid) if options else []
        variants = _variants(state, product, opts)
        if not opts:
            product["base_variant_id"] = variants[0]["id"]
        product["_options"] = opts
        product["_modifiers"] = _modifiers(state, modifiers or [], pid)
        product["_variants"] = variants
        product["_images"] = [{"id": state.next_id("image", 300), "product_id": pid, "is_thumbnail": True,
                               "sort_order": 0, "description": "", "image_file": f"sample/{pid}.jpg",
                               "url_zoom": f"https://cdn11.bigcommerce.com/s-{state.store_hash}/products/{pid}/1280.jpg",
                               "url_standard": f"https://cdn11.bigcommerce.com/s-{state.store_hash}/products/{pid}/500.jpg",
                               "url_thumbnail": f"https://cdn11.bigcommerce.com/s-{state.store_hash}/products/{pid}/220.jpg",
                               "url_tiny": f"https://cdn11.bigcommerce.com/s-{state.store_hash}/products/{pid}/44.jpg",
                               "date_modified": iso_z(now)}]
        state.products[pid] = product
        return product


def add_category(state: CommerceState, category_id: int, parent_id: int, name: str, description: str = "",
                 tree_id: int = 1) -> dict[str, Any]:
    """Add a category to a tree (category_id is the tree-API name for its id)."""
    with state.lock:
        slug = "-".join(name.lower().split())
        cat = {"category_id": category_id, "category_uuid": f"00000000-0000-4000-8000-{category_id:012d}",
               "parent_id": parent_id, "tree_id": tree_id, "name": name, "description": f"<p>{description}</p>",
               "views": 0, "sort_order": len(state.categories), "page_title": "", "meta_keywords": [],
               "meta_description": "", "layout_file": "category.html", "image_url": "", "is_visible": True,
               "search_keywords": "", "default_product_sort": "use_store_settings",
               "url": {"path": f"/{slug}/", "is_customized": False}}
        state.categories[category_id] = cat
        return cat


def seed_catalog(state: CommerceState) -> None:
    """The sample catalog every sandbox starts with."""
    state.trees[1] = {"id": 1, "name": "Default", "channels": [1]}
    for cid, parent, name, desc in SEED_CATEGORIES:
        add_category(state, cid, parent, name, desc)
    for pid, name, sku, price, cats, desc, opts, ptype in SEED_PRODUCTS:
        add_product(state, product_id=pid, name=name, sku=sku, price=price, categories=cats, description=desc,
                    options=opts, type=ptype)
    state.next_id("product", 200)  # new products continue after the seed ids


def render_product(product: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """The API shape of a product, with the sub-resources `include=` asks for."""
    out = {k: copy.deepcopy(v) for k, v in product.items() if not k.startswith("_")}
    if "variants" in include:
        out["variants"] = copy.deepcopy(product["_variants"])
    if "options" in include:
        out["options"] = copy.deepcopy(product["_options"])
    if "images" in include:
        out["images"] = copy.deepcopy(product["_images"])
    if "primary_image" in include:
        out["primary_image"] = copy.deepcopy(product["_images"][0]) if product["_images"] else None
    if "modifiers" in include:
        out["modifiers"] = copy.deepcopy(product["_modifiers"])
    return out


def bool_param(req: Request, name: str) -> bool:
    raw = (req.query.get(name) or "").lower()
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise QueryError(name, f"{name} must be true or false")


def _product_matches(p: dict[str, Any], req: Request) -> bool:
    q = req.query
    if "id" in q and str(p["id"]) != q["id"]:
        return False
    ids = int_list_param(req, "id:in")
    if ids is not None and p["id"] not in ids:
        return False
    if "name" in q and p["name"] != q["name"]:
        return False
    if "sku" in q and p["sku"] != q["sku"]:
        return False
    if "is_visible" in q and p["is_visible"] != bool_param(req, "is_visible"):
        return False
    if "type" in q and p["type"] != q["type"]:
        return False
    cats_in = int_list_param(req, "categories:in")
    if cats_in is not None and not all(c in p["categories"] for c in cats_in):
        return False  # the spec: "products that are in all the categories specified"
    if "categories" in q:
        exact = int_param(req, "categories")
        if p["categories"] != [exact]:
            return False  # the spec: a product in more than one category is not returned
    keyword = q.get("keyword")
    if keyword:
        hay = " ".join([p["name"], p["description"], p["sku"]]).lower()
        if not all(word in hay for word in keyword.lower().split()):
            return False
    return True


SORT_KEYS = {"id", "name", "sku", "price", "date_modified", "inventory_level", "is_visible", "total_sold",
             "calculated_price"}


def list_products(state: CommerceState, req: Request) -> Response:
    try:
        page, limit = page_and_limit(req)
        inc = includes(req)
        if inc & {"options", "modifiers"}:
            limit = min(limit, 10)
        sort = req.query.get("sort", "id")
        if sort not in SORT_KEYS:
            raise QueryError("sort", f"sort must be one of {sorted(SORT_KEYS)}")
        direction = req.query.get("direction", "asc")
        if direction not in ("asc", "desc"):
            raise QueryError("direction", "direction must be asc or desc")
        with state.lock:
            hits = [p for p in state.products.values() if _product_matches(p, req)]
    except QueryError as exc:
        return v3_error(422, "Invalid query parameter", {exc.name: str(exc)})
    hits.sort(key=lambda p: (p[sort], p["id"]), reverse=(direction == "desc"))
    chunk, meta = paginate(hits, page, limit)
    return Response(200, {"data": [render_product(p, inc) for p in chunk], "meta": meta})


def get_product(state: CommerceState, req: Request) -> Response:
    try:
        pid = int(req.path_params["product_id"])
    except ValueError:
        return catalog_not_found(req)
    with state.lock:
        product = state.products.get(pid)
        if product is None:
            return catalog_not_found(req)
        return Response(200, {"data": render_product(product, includes(req)), "meta": {}})


def list_variants(state: CommerceState, req: Request) -> Response:
    try:
        pid = int(req.path_params["product_id"])
    except ValueError:
        return catalog_not_found(req)
    with state.lock:
        product = state.products.get(pid)
        if product is None:
            return catalog_not_found(req)
        try:
            page, limit = page_and_limit(req)
        except QueryError as exc:
            return v3_error(422, "Invalid query parameter", {exc.name: str(exc)})
        chunk, meta = paginate(copy.deepcopy(product["_variants"]), page, limit)
    return Response(200, {"data": chunk, "meta": meta})


def _category_matches(c: dict[str, Any], req: Request) -> bool:
    q = req.query
    for key, field in (("tree_id:in", "tree_id"), ("category_id:in", "category_id"), ("parent_id:in", "parent_id")):
        wanted = int_list_param(req, key)
        if wanted is not None and c[field] not in wanted:
            return False
    if "name" in q and c["name"] != q["name"]:
        return False
    if "name:like" in q and q["name:like"].lower() not in c["name"].lower():
        return False
    if "keyword" in q and q["keyword"].lower() not in (c["name"] + " " + c["description"]).lower():
        return False
    return not ("is_visible" in q and c["is_visible"] != bool_param(req, "is_visible"))


def list_tree_categories(state: CommerceState, req: Request) -> Response:
    try:
        page, limit = page_and_limit(req)
        with state.lock:
            hits = [copy.deepcopy(c) for c in state.categories.values() if _category_matches(c, req)]
    except QueryError as exc:
        return tree_error(422, "Invalid query parameter", {exc.name: str(exc)})
    hits.sort(key=lambda c: c["category_id"])
    chunk, meta = paginate(hits, page, limit)
    return Response(200, {"data": chunk, "meta": meta})


def list_trees(state: CommerceState, req: Request) -> Response:
    with state.lock:
        trees = [copy.deepcopy(t) for t in state.trees.values()]
    chunk, meta = paginate(trees, 1, max(1, len(trees)))
    return Response(200, {"data": chunk, "meta": meta})


def tree_nested(state: CommerceState, req: Request) -> Response:
    try:
        tree_id = int(req.path_params["tree_id"])
        depth = int_param(req, "depth", None)
    except (ValueError, QueryError):
        return tree_error(422, "Invalid query parameter", {"depth": "depth must be an integer"})
    with state.lock:
        if tree_id not in state.trees:
            return tree_error(404, "Category tree not found", {"tree_id": str(tree_id)})
        cats = [c for c in state.categories.values() if c["tree_id"] == tree_id]

        def build(parent: int, path: list[int], level: int) -> list[dict[str, Any]]:
            nodes = []
            for c in sorted(cats, key=lambda c: (c["sort_order"], c["category_id"])):
                if c["parent_id"] != parent:
                    continue
                node = {"id": c["category_id"], "parent_id": parent, "depth": level, "path": path,
                        "name": c["name"], "is_visible": c["is_visible"], "url": c["url"]["path"], "children": []}
                if depth is None or level < depth:
                    node["children"] = build(c["category_id"], path + [c["category_id"]], level + 1)
                nodes.append(node)
            return nodes

        return Response(200, {"data": build(0, [], 1), "meta": {}})


def list_categories_legacy(state: CommerceState, req: Request) -> Response:
    """Deprecated `GET /v3/catalog/categories`: items use `id` and `custom_url`."""
    try:
        page, limit = page_and_limit(req)
        ids = int_list_param(req, "id:in")
        parent = int_param(req, "parent_id", None, minimum=0)
    except QueryError as exc:
        return v3_error(422, "Invalid query parameter", {exc.name: str(exc)})
    with state.lock:
        out = []
        for c in sorted(state.categories.values(), key=lambda c: c["category_id"]):
            if ids is not None and c["category_id"] not in ids:
                continue
            if parent is not None and c["parent_id"] != parent:
                continue
            item = {k: copy.deepcopy(v) for k, v in c.items() if k not in ("category_id", "category_uuid", "url",
                                                                            "tree_id")}
            item["id"] = c["category_id"]
            item["custom_url"] = {"url": c["url"]["path"], "is_customized": c["url"]["is_customized"]}
            out.append(item)
    chunk, meta = paginate(out, page, limit)
    return Response(200, {"data": chunk, "meta": meta})


def register(router: Router, state: CommerceState, v3: str) -> None:
    """Add the catalog routes under the store's V3 prefix."""
    router.add("GET", f"{v3}/catalog/products", lambda r: list_products(state, r))
    router.add("GET", f"{v3}/catalog/products/{{product_id}}", lambda r: get_product(state, r))
    router.add("GET", f"{v3}/catalog/products/{{product_id}}/variants", lambda r: list_variants(state, r))
    router.add("GET", f"{v3}/catalog/trees", lambda r: list_trees(state, r))
    router.add("GET", f"{v3}/catalog/trees/categories", lambda r: list_tree_categories(state, r))
    router.add("GET", f"{v3}/catalog/trees/{{tree_id}}/categories", lambda r: tree_nested(state, r))
    router.add("GET", f"{v3}/catalog/categories", lambda r: list_categories_legacy(state, r))
