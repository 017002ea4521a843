"""Every event touchplan knows, and what a message template may read: the one catalogue.

`/v1/events` accepts the `ingested` types and validates their properties from here; the strategy's triggers
and exits may name any type; the template check renders each chain's messages against the example payloads
of the events that start it. A property a template reads must be declared here (or on the contact, the
offer or an order item): a declared one that was not sent reads as empty, anything else is an error.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# number: >= 0; count: a whole number >= 0; items: a list of order items (objects with a `sku`);
# item: one order item; object: any mapping; attributes: contact attributes (profile_updated).
Kind = Literal["number", "count", "text", "items", "item", "object", "attributes"]

# What templates may read of an order item (order.items, cart.items, recommendations, a refill's product);
# a recommendation's `why` is "repurchase" or "interest" (chalicelib/domain/purchases.py).
ITEM_FIELDS = ("sku", "name", "url", "category", "price", "quantity", "course_days", "count", "last_bought", "why")
ITEM_EXAMPLE: Mapping[str, object] = {
    "sku": "A1", "name": "Vitamin D3", "url": "https://www.example.com/p/a1", "price": 490, "quantity": 1,
    "course_days": 30,
}
MINIMAL_ITEM: Mapping[str, object] = {"sku": "A1"}

# Contact attributes templates may read as `contact.<name>`, with the value a full example contact has.
CONTACT_ATTRIBUTES: Mapping[str, object] = {
    "first_name": "Anna",
    "last_name": "Smirnova",
    "birthday": "1990-05-17",
    "interests": ["vitamins", "sport"],  # from survey answers
    "offer": {"promo_code": "ANNA5", "discount": "5%"},  # a personal code: wins over the occasion's
    # Given by a back end (profile_updated); without it, the products due for re-purchase from `purchases`.
    "recommendations": [ITEM_EXAMPLE],
    # What orders bought, newest first (chalicelib/domain/purchases.py); `recent_items` shows the last few.
    "purchases": [{**ITEM_EXAMPLE, "category": "vitamins", "count": 2, "last_bought": "2026-01-10T09:00:00+00:00"}],
    "recent_items": [{**ITEM_EXAMPLE, "category": "vitamins", "count": 2, "last_bought": "2026-01-10T09:00:00+00:00"}],
}
OFFER_FIELDS = ("promo_code", "discount", "expires_on")
OCCASION_FIELDS = ("id", "title")


@dataclass(frozen=True)
class Property:
    name: str
    kind: Kind
    required: bool = False
    example: object = None  # what the full example payload carries (items and item: see ITEM_EXAMPLE)

    def sample(self, full: bool) -> object:
        if self.kind == "items":
            return [dict(ITEM_EXAMPLE if full else MINIMAL_ITEM)]
        if self.kind == "item":
            return dict(ITEM_EXAMPLE if full else MINIMAL_ITEM)
        return self.example


@dataclass(frozen=True)
class EventType:
    name: str
    properties: tuple[Property, ...] = ()
    ingested: bool = True  # False: touchplan raises it itself (a confirmed sign-up, a lifecycle timer)
    shown_as: str | None = None  # the name a chain's templates see the starting event under
    added: tuple[Property, ...] = ()  # what the event worker adds before chains see it
    aliases: Mapping[str, str] = field(default_factory=dict)  # shown_as.<alias> reads this property

    @property
    def all_properties(self) -> tuple[Property, ...]:
        return self.properties + self.added

    def property_named(self, name: str) -> Property | None:
        return next((p for p in self.all_properties if p.name == name), None)

    @property
    def shown_fields(self) -> tuple[str, ...]:
        """The fields of the `shown_as` object: a property of that name holding an item, else the properties."""
        own = self.property_named(self.shown_as or "")
        if own is not None and own.kind == "item":
            return ITEM_FIELDS
        return tuple(p.name for p in self.all_properties) + tuple(self.aliases)

    def example(self, full: bool) -> dict[str, object]:
        """A payload as /v1/events accepts it: only the required properties, or every one (`full`)."""
        return {p.name: p.sample(full) for p in self.all_properties if full or p.required or p in self.added}


def _text(name: str, example: str, required: bool = False) -> Property:
    return Property(name, "text", required, example)


def _reaction(name: str, *extra: Property) -> EventType:
    return EventType(name, (_text("touch_id", "t-1"), _text("chain_id", "welcome"), *extra))


_EVENTS = (
    EventType("order_placed", (
        Property("amount", "number", True, 1290.5), Property("items", "items"), _text("order_id", "ord-1001"),
    ), shown_as="order", added=(Property("order_number", "count", example=5),), aliases={"number": "order_number"}),
    EventType("cart_updated", (Property("items", "items", True),)),
    EventType("cart_abandoned", (
        Property("items", "items"), _text("cart_id", "cart-17"), _text("cart_url", "https://www.example.com/cart/17"),
    ), shown_as="cart"),
    EventType("cart_emptied", (_text("cart_id", "cart-17"),)),
    EventType("product_viewed", (
        _text("sku", "A1", True), _text("name", "Vitamin D3"), _text("url", "https://www.example.com/p/a1"),
    ), shown_as="product"),
    EventType("search_performed", (
        _text("query", "vitamin d", True), _text("url", "https://www.example.com/search?q=vitamin+d"),
    ), shown_as="search"),
    EventType("favorite_added", (
        _text("sku", "A1", True), Property("favorites_count", "count", example=3), _text("name", "Vitamin D3"),
        _text("url", "https://www.example.com/p/a1"),
    ), shown_as="favorite"),
    EventType("site_visit", (_text("url", "https://www.example.com/"),)),
    _reaction("email_opened"),
    _reaction("email_clicked", _text("link", "https://www.example.com/offers")),
    _reaction("push_opened"),
    _reaction("sms_clicked", _text("link", "https://www.example.com/offers")),
    EventType("survey_completed", (Property("answers", "object", True, {"topics": ["vitamins"]}),)),
    EventType("profile_updated", (Property("attributes", "attributes", True, {"first_name": "Anna"}),)),
    EventType("push_token_registered", (_text("platform", "fcm", True), _text("token", "push-token-1", True))),
    EventType("signup_confirmed", ingested=False),
    EventType("consent_changed", ingested=False),
    EventType("segment_leaving", ingested=False),
    EventType("segment_sleeping", ingested=False),
    EventType("segment_lost", ingested=False),
    EventType("erasure_due", ingested=False),
    EventType("manual_send_due", ingested=False),
    EventType("stop_list_due", ingested=False),
    EventType("birthday", ingested=False),
    EventType("refill_due", (_text("sku", "A1", True), Property("product", "item")), ingested=False,
              shown_as="product"),
    EventType("audience_expired", ingested=False),
    EventType("audience_publish_due", ingested=False),
)
EVENTS: Mapping[str, EventType] = {event.name: event for event in _EVENTS}
INGESTED: Mapping[str, EventType] = {name: event for name, event in EVENTS.items() if event.ingested}


def chain_context(event_type: str, properties: Mapping[str, object]) -> dict[str, object]:
    """The template context a chain entered on this event keeps: its properties, also under the name the
    catalogue gives the event ({{ product.name }}, {{ search.query }}, {{ order.number }})."""
    context = dict(properties)
    event = EVENTS.get(event_type)
    if event is not None and event.shown_as is not None:
        nested = properties.get(event.shown_as)
        named = dict(nested) if isinstance(nested, Mapping) else dict(properties)
        for alias, source in event.aliases.items():
            named.setdefault(alias, properties.get(source))
        context[event.shown_as] = named
    return context
