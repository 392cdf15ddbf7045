"""The API's views render, byte for byte, what their documented response models would.

Views build plain dicts and render them once (`JSONBody`); the routes keep the pydantic models as
`response_model` for the OpenAPI document. Each case here renders the same records both ways: the
model's JSON (what the API sent before the views built dicts) must equal the view's body.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from my_app import accounts, catalog
from my_app.accounts import Scope
from my_app.pagination import Page
from my_app_web.controllers.api import product_json, user_json
from my_app_web.controllers.api.json_response import JSONBody
from my_app_web.controllers.api.session_controller import SessionResponse, session_response
from tests.support.fixtures.accounts import confirmed_user_fixture, user_fixture
from tests.support.fixtures.catalog import product_fixture

pytestmark = pytest.mark.usefixtures("db")


def same_json(view: JSONBody, model: BaseModel) -> None:
    assert bytes(view.body) == model.model_dump_json().encode()


async def test_a_user_renders_as_its_model() -> None:
    for user in (await user_fixture(), await confirmed_user_fixture(name="Ädä Lovelace")):
        same_json(user_json.show(user), user_json.UserResponse(data=user_json.UserData.model_validate(user)))


async def test_a_page_of_users_renders_as_its_model() -> None:
    admin = await user_fixture()
    await accounts.update_user(Scope.for_system(), admin, {"role": "admin"})
    for _ in range(3):
        await confirmed_user_fixture()
    for page in (
        await accounts.paginate_users(Scope.for_system(), limit=2),
        Page[accounts.User](items=[], limit=20, next_cursor=None),
    ):
        model = user_json.UserListResponse(
            data=[user_json.UserData.model_validate(user) for user in page.items],
            meta=user_json.ListMeta(limit=page.limit, next_cursor=page.next_cursor),
        )
        same_json(user_json.index(page), model)


async def test_a_session_renders_as_its_model() -> None:
    user = await confirmed_user_fixture()
    token = await accounts.create_api_token(user)
    model = SessionResponse.model_validate({"data": {"token": token, "user": user_json.UserData.model_validate(user)}})

    same_json(session_response(user, token), model)


async def test_products_render_as_their_model() -> None:
    product = await product_fixture(description=None)
    await product_fixture(price="0.50")
    page = await catalog.list_products(Scope.for_system(), {"limit": 2})
    documented = product_json.ProductListResponse.model_validate(
        {
            "data": [product_json.data(item) for item in page.items],
            "meta": {"limit": 2, "next_cursor": page.next_cursor},
        }
    )

    same_json(
        product_json.show(product), product_json.ProductResponse.model_validate({"data": product_json.data(product)})
    )
    same_json(product_json.index(page), documented)
