"""Issue 14, item 10: products with modifiers (option_selections), and every page of variants."""

from __future__ import annotations

from typing import Any

import pytest

from bc2people.answers import carts, catalog
from bc2people.answers.client import BigCommerceClient
from bc2people.answers.errors import BigCommerceError


@pytest.fixture
def engraved(commerce_sandbox: Any) -> dict[str, Any]:
    """A simple product with a required pick-list modifier and an optional text modifier."""
    return commerce_sandbox.commerce.add_product(
        name="Engraved Mug", price=20.0, categories=[23],
        modifiers=[{"display_name": "Gift box", "type": "dropdown", "required": True, "values": ["No box", "Box"]},
                   {"display_name": "Engraving", "type": "text", "required": False}])


def test_a_product_with_a_required_modifier_can_be_carted(answers_client: BigCommerceClient,
                                                          answers_customer: dict[str, Any],
                                                          engraved: dict[str, Any]) -> None:
    product = catalog.get_product_by_id(answers_client, engraved["id"])
    [box, text] = product["modifiers"]
    assert box["required"] is True and [v["label"] for v in box["option_values"]] == ["No box", "Box"]
    with pytest.raises(BigCommerceError) as err:  # refused without option_selections, and told what to send
        carts.create_cart(answers_client, answers_customer["id"], engraved["id"])
    assert err.value.status == 422
    hint = err.value.errors["option_selections"]
    assert f"{box['id']} 'Gift box'" in hint and f"{box['option_values'][1]['id']}=Box" in hint
    assert "Engraving" not in hint  # optional modifiers are not demanded
    choose = [{"option_id": box["id"], "option_value": box["option_values"][1]["id"]},
              {"option_id": text["id"], "option_value": "For Ana"}]
    cart = carts.create_cart(answers_client, answers_customer["id"], engraved["id"], 1, option_selections=choose)
    options = cart["cart"]["line_items"]["physical_items"][0]["options"]
    assert {o["value"] for o in options} == {"Box", "For Ana"}
    more = carts.add_item_to_cart(answers_client, cart["cart_id"], engraved["id"], 2,
                                  option_selections=[{"option_id": box["id"], "option_value": str(box["option_values"][0]["id"])}])
    assert more["item_count"] == 3


def test_add_item_describes_variant_and_modifiers_as_option_selections(commerce_sandbox: Any,
                                                                       answers_client: BigCommerceClient,
                                                                       answers_customer: dict[str, Any]) -> None:
    shirt = commerce_sandbox.commerce.add_product(
        name="Shirt with donation", price=30.0, categories=[23], options={"Size": ["S", "M"]},
        modifiers=[{"display_name": "Add a $5 Donation", "type": "checkbox", "required": True, "values": ["Yes", "No"]}])
    donation = shirt["_modifiers"][0]
    medium = next(v for v in shirt["_variants"] if v["option_values"][0]["label"] == "M")
    with pytest.raises(BigCommerceError) as err:
        carts.create_cart(answers_client, answers_customer["id"], shirt["id"])
    assert "variant_id" in err.value.errors and "option_selections" in err.value.errors
    pick = [{"option_id": donation["id"], "option_value": donation["option_values"][1]["id"]}]
    cart = carts.create_cart(answers_client, answers_customer["id"], shirt["id"], variant_id=medium["id"],
                             option_selections=pick)
    before = commerce_sandbox.requests_served.copy()
    added = carts.add_item_to_cart(answers_client, cart["cart_id"], shirt["id"], variant_id=medium["id"],
                                   option_selections=pick)
    assert added["item_count"] == 2 and added["line_items"][0]["variant_id"] == medium["id"]
    items_path = next(k for k in commerce_sandbox.requests_served if k.endswith(f"{cart['cart_id']}/items"))
    assert commerce_sandbox.requests_served[items_path] - before[items_path] == 1


def test_the_variant_choices_cover_every_page(commerce_sandbox: Any, answers_client: BigCommerceClient,
                                              answers_customer: dict[str, Any]) -> None:
    big = commerce_sandbox.commerce.add_product(
        name="Many sizes", price=5.0, categories=[23],
        options={"Width": [f"W{i}" for i in range(8)], "Length": [f"L{i}" for i in range(8)]})
    assert len(big["_variants"]) == 64  # more than one default page (50)
    with pytest.raises(BigCommerceError) as err:
        carts.create_cart(answers_client, answers_customer["id"], big["id"])
    listed = err.value.errors["variant_id"]
    assert all(f"{v['id']}=" in listed for v in big["_variants"]) and "W7/L7" in listed


def test_the_sandbox_refuses_required_modifiers_without_option_selections(answers_client: BigCommerceClient,
                                                                          answers_customer: dict[str, Any],
                                                                          engraved: dict[str, Any]) -> None:
    body = {"customer_id": answers_customer["id"], "line_items": [{"product_id": engraved["id"], "quantity": 1}]}
    with pytest.raises(BigCommerceError) as err:
        answers_client.request("POST", "v3", "carts", json=body)
    assert err.value.status == 422 and "Required modifiers" in err.value.title
    box = engraved["_modifiers"][0]
    bad = {**body, "line_items": [{"product_id": engraved["id"], "quantity": 1,
                                   "option_selections": [{"option_id": box["id"], "option_value": 999999}]}]}
    with pytest.raises(BigCommerceError):
        answers_client.request("POST", "v3", "carts", json=bad)
