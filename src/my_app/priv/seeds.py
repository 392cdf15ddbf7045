"""Demo data for dev (Phoenix's `priv/repo/seeds.exs`), loaded by `myapp db seed` and `make run`.

Every step goes through the contexts and is idempotent (get-or-create by a natural key), so
running it again changes nothing. Steps print what they made; demo passwords are dev-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from my_app import accounts, blog, catalog, chat
from my_app.accounts.scope import Scope
from my_app.config import Settings

SeedStep = Callable[[Settings], Awaitable[list[str]]]
OPERATOR = Scope.for_system()  # seeds act as the system, like the CLI that runs them

DEMO_PASSWORD = "demo password 1234"  # noqa: S105 - dev-only demo accounts, printed on purpose
DEMO_ADMIN = ("admin@example.com", "Ada Admin")
DEMO_USERS = [
    ("alice@example.com", "Alice Liddell"),
    ("bob@example.com", "Bob Martin"),
    ("carol@example.com", "Carol Shaw"),
]


async def seed_admin(settings: Settings) -> list[str]:
    """A demo admin, with the demo password (the only way in for a role: `admin_create_user`)."""
    email, name = DEMO_ADMIN
    if await accounts.get_user_by_email(email) is not None:
        return []
    admin = await accounts.admin_create_user(
        OPERATOR, {"email": email, "name": name, "password": DEMO_PASSWORD, "role": "admin"}
    )
    await _confirm(admin)
    return [f"admin {email} (password: {DEMO_PASSWORD!r})"]


async def seed_users(settings: Settings) -> list[str]:
    """Demo users with a shared demo password."""
    created = []
    for email, name in DEMO_USERS:
        if await accounts.get_user_by_email(email) is None:
            user = await accounts.create_user({"email": email, "name": name, "password": DEMO_PASSWORD})
            await _confirm(user)
            created.append(f"user {email} (password: {DEMO_PASSWORD!r})")
    return created


async def _confirm(user: accounts.User) -> None:
    """Confirm a demo account as its owner would, through the token of the confirmation link (the
    email itself is not sent): every flow works for it, magic links included, which phx.gen.auth
    refuses to unconfirmed accounts that have a password."""
    tokens: list[str] = []

    def link(token: str) -> str:
        tokens.append(token)
        return token

    await accounts.deliver_user_confirmation_instructions(user, link)
    await accounts.confirm_user(tokens[0])


# One step per context, in dependency order; each returns lines describing what it created.
DEMO_ROOMS = [
    # slug, name, member emails (admins may join every room anyway)
    ("general", "General", [email for email, _ in DEMO_USERS]),
    ("secret", "Secret", []),
]


async def seed_rooms(settings: Settings) -> list[str]:
    """Chat rooms for the channels demo: `room:general` for the demo users, `room:secret` for admins."""
    created = []
    for slug, name, members in DEMO_ROOMS:
        room = await chat.get_room_by_slug(slug)
        if room is None:
            room = await chat.create_room({"slug": slug, "name": name})
            created.append(f"room {slug} ({', '.join(members) or 'admins only'})")
        for email in members:
            user = await accounts.get_user_by_email(email)
            if user is not None:
                await chat.add_member(room, user)
    return created


STEPS: list[SeedStep] = [seed_admin, seed_users, seed_rooms]


async def run(settings: Settings) -> list[str]:
    """Run every seed step; refuses to run in prod (demo accounts must never exist there)."""
    if settings.env == "prod":
        raise PermissionError("seeds are demo data and never run in prod")
    report: list[str] = []
    for step in STEPS:
        report.extend(await step(settings))
    report.extend(await seed_catalog(settings))
    report.extend(await seed_blog(settings))
    return report


# --- Catalog: a few categories and their products (issue 11) ---

DEMO_CATEGORIES = [
    # slug, name, description, product names
    ("tea", "Tea", "Leaves and blends", ["Sencha", "Assam", "Darjeeling", "Earl Grey", "Oolong", "Rooibos"]),
    ("coffee", "Coffee", "Beans, ground or whole", ["Espresso", "Ethiopia Yirgacheffe", "Colombia", "Decaf"]),
    ("books", "Books", "Paper and ink", ["Programming Elixir", "Designing Data-Intensive Applications", "SICP"]),
    ("games", "Games", "Boards, cards and dice", ["Chess set", "Go board", "Playing cards", "Dice bag"]),
]
DEMO_SIZES = [("S", Decimal("1.00")), ("M", Decimal("1.75")), ("L", Decimal("2.50"))]


async def seed_catalog(settings: Settings) -> list[str]:
    """Demo categories and ~50 products (each product in three sizes), found again by slug and SKU."""
    created = []
    for index, (slug, name, description, products) in enumerate(DEMO_CATEGORIES):
        category = await catalog.get_category_by_slug(OPERATOR, slug)
        if category is None:
            category = await catalog.create_category(OPERATOR, {"slug": slug, "name": name, "description": description})
            created.append(f"category {slug} ({len(products) * len(DEMO_SIZES)} products)")
        for number, product in enumerate(products):
            for size, factor in DEMO_SIZES:
                sku = f"{slug.upper()}-{number + 1:03d}-{size}"
                if await catalog.get_product_by_sku(OPERATOR, sku) is None:
                    price = (Decimal(4 + 3 * index + number) * factor).quantize(Decimal("0.01"))
                    attrs = {
                        "name": f"{product} ({size})",
                        "description": f"{product}, size {size}: {description.lower()}",
                        "price": str(price),
                        "sku": sku,
                        "stock": (7 * number + 3 * index) % 25,
                        "category_id": category.id,
                    }
                    await catalog.create_product(OPERATOR, attrs)
    return created


# --- Blog: posts by the demo users, with comments (issue 11) ---


DEMO_POSTS = [
    # slug, title, author email, published, comments (author email, body)
    (
        "welcome-to-the-blog",
        "Welcome to the blog",
        "alice@example.com",
        True,
        [("bob@example.com", "Glad to be here."), ("carol@example.com", "Looking forward to more.")],
    ),
    (
        "keyset-pagination",
        "Keyset pagination, explained",
        "bob@example.com",
        True,
        [("alice@example.com", "Pages that never repeat a row: nice.")],
    ),
    ("scopes-in-contexts", "Scopes in contexts", "carol@example.com", True, []),
    ("a-draft-by-alice", "A draft by Alice", "alice@example.com", False, []),
    ("notes-for-later", "Notes for later", "bob@example.com", False, []),
]


async def seed_blog(settings: Settings) -> list[str]:
    """Demo posts by the demo users (some drafts: seen only by their author and admins), with comments.

    Written as their authors through the Blog context; a post whose slug exists is left alone."""
    created = []
    for slug, title, author_email, published, comments in DEMO_POSTS:
        author = await accounts.get_user_by_email(author_email)
        if author is None or await blog.get_post_by_slug(OPERATOR, slug) is not None:
            continue
        attrs = {"title": title, "slug": slug, "body": f"{title}: a demo post by {author.name}."}
        if published:
            attrs["published_at"] = "2026-12-01T10:00:00Z"
        post = await blog.create_post(Scope.for_user(author), attrs)
        for commenter_email, body in comments:
            commenter = await accounts.get_user_by_email(commenter_email)
            if commenter is not None:
                await blog.create_comment(Scope.for_user(commenter), post, {"body": body})
        created.append(f"post {slug} by {author_email}{'' if published else ' (draft)'}, {len(comments)} comment(s)")
    return created
