"""PUT /v1/admin/catalog: a service manager uploads products as JSON or CSV; every row is checked first, so a
bad one is a 400 naming its row or line and field and nothing is stored; a re-upload upserts by sku, and
?replace=true removes what it does not list."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from chalicelib import wiring
from tests.integration.helpers import NOW

VITAMIN = {"sku": "A1", "name": "Vitamin D3", "url": "https://www.example.com/p/a1", "category": "Vitamins",
           "price": 490}
OMEGA = {"sku": "B2", "name": "Omega 3", "url": "https://www.example.com/p/b2", "category": "vitamins",
         "price": "19.90"}
CSV = (
    "price;Category;sku;name;url\n"  # columns in any order, as a spreadsheet saves them
    '19.90;vitamins;B2;Omega 3;https://www.example.com/p/b2\n'
    '1200;Sport;S1;"Bottle; 0,7 l";http://www.example.com/p/s1\n'
)


@pytest.fixture
def put(api: Any) -> Any:
    keys: dict[tuple[str, str | None], str] = {}

    def send(body: Any, *, content_type: str = "application/json", query: str = "", role: str = "service-manager",
             point: str | None = None) -> tuple[int, dict[str, Any]]:
        if (role, point) not in keys:
            keys[(role, point)] = wiring.api_keys().create(role, point, None, NOW)[1]
        payload = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {keys[(role, point)]}"}
        response = api.http.put(f"/v1/admin/catalog{query}", body=payload, headers=headers)
        return response.status_code, json.loads(response.body)

    return send


def _stored() -> dict[str, tuple[str, str, Decimal]]:
    return {sku: (p.category, p.name, p.price) for sku, p in wiring.catalog().everything().products.items()}


def test_a_json_upload_stores_the_products_by_category(put) -> None:
    status, answer = put({"products": [VITAMIN, OMEGA]})

    assert (status, answer) == (200, {"products": 2, "created": 2, "updated": 0, "unchanged": 0, "removed": 0,
                                      "categories": 1, "replace": False})
    assert _stored() == {"A1": ("vitamins", "Vitamin D3", Decimal(490)), "B2": ("vitamins", "Omega 3",
                                                                                Decimal("19.90"))}
    assert [p.sku for p in wiring.catalog().in_category("vitamins", 10)] == ["A1", "B2"]


def test_a_csv_upload_reads_its_header_in_any_order_and_quoted_cells(put) -> None:
    status, answer = put(CSV, content_type="text/csv; charset=utf-8")

    assert status == 200 and (answer["created"], answer["categories"]) == (2, 2)
    assert _stored()["S1"] == ("sport", "Bottle; 0,7 l", Decimal(1200))
    assert put("\ufeffsku,name,url,category,price\nK1,Kids,https://x.example/k1,kids,0\n",
               content_type="text/csv")[0] == 200  # a spreadsheet's byte-order mark


BAD_ROWS = [  # (the second product, field)
    ({**OMEGA, "sku": " "}, "products[1].sku"),
    ({**OMEGA, "url": "javascript:alert(1)"}, "products[1].url"),
    ({**OMEGA, "url": "https://"}, "products[1].url"),
    ({**OMEGA, "price": -1}, "products[1].price"),
    ({**OMEGA, "price": "19,90"}, "products[1].price"),
    ({**OMEGA, "price": True}, "products[1].price"),
    ({**OMEGA, "category": ""}, "products[1].category"),
    ({k: v for k, v in OMEGA.items() if k != "name"}, "products[1].name"),
    ({**OMEGA, "colour": "red"}, "products[1].colour"),
    ({**OMEGA, "sku": "A1"}, "products[1].sku"),  # listed twice
    ("B2", "products[1]"),
]
BAD_LINES = [  # (csv, field, line)
    ("sku,name,url,category,price\nA1,Vitamin,https://x.example/a1,vitamins,abc\n", "price", 2),
    ("sku,name,url,category,price\n\nA1,Vitamin,https://x.example/a1,vitamins,1\nB2,,https://x.example/b2,v,1\n",
     "name", 4),
    ("sku,name,url,category\nA1,Vitamin,https://x.example/a1,vitamins\n", "price", 1),
    ("sku,name,url,category,price,colour\nA1,Vitamin,https://x.example/a1,vitamins,1,red\n", "colour", 2),
    ("sku,name,url,category,price\nA1,Vitamin,https://x.example/a1,vitamins\n", None, 2),
    ("sku,name,url,category,price\nA1,V,https://x.example/a1,v,1\nA1,V,https://x.example/a1,v,2\n", "sku", 3),
]


def test_a_bad_json_row_is_a_400_naming_it_and_nothing_is_stored(put) -> None:
    for product, field in BAD_ROWS:  # one stack for all: each refusal is checked to store nothing
        status, answer = put({"products": [VITAMIN, product]})
        assert status == 400 and answer["field"] == field, answer
        assert _stored() == {}


def test_a_bad_csv_line_is_a_400_naming_the_line_and_column_and_nothing_is_stored(put) -> None:
    for csv, field, line in BAD_LINES:
        status, answer = put(csv, content_type="text/csv")
        assert status == 400 and (answer["field"], answer["line"]) == (field, line), answer
        assert answer["message"].startswith(f"Line {line}") or "header" in answer["message"]
        assert _stored() == {}


def test_a_re_upload_upserts_by_sku_and_a_replace_removes_what_it_does_not_list(put) -> None:
    put({"products": [VITAMIN, OMEGA]})

    status, answer = put({"products": [{**VITAMIN, "category": "Sport", "price": "450"}, OMEGA]})
    assert status == 200 and (answer["updated"], answer["unchanged"], answer["removed"]) == (1, 1, 0)
    assert _stored()["A1"] == ("sport", "Vitamin D3", Decimal(450))
    assert [p.sku for p in wiring.catalog().in_category("vitamins", 10)] == ["B2"]

    status, answer = put({"products": [OMEGA]}, query="?replace=true")
    assert status == 200 and (answer["unchanged"], answer["removed"], answer["replace"]) == (1, 1, True)
    assert set(_stored()) == {"B2"}
    assert put({"products": []}, query="?replace=maybe")[1]["field"] == "replace"


def test_only_a_service_manager_uploads_and_only_json_or_csv(put) -> None:
    status, answer = put({"products": [VITAMIN]}, role="point-manager", point="msk-01")
    assert (status, answer["error"]) == (403, "forbidden")
    status, answer = put("<products/>", content_type="application/xml")
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    assert _stored() == {}
