"""Typed Beckn core v1.1.0 wire models (the subset the EV-charging profile uses).

Unknown fields are kept (``extra="allow"``): Beckn is extensible and a BAP may send more than we
read. Fields we read are typed and validated, so the domain never walks raw dicts. Outgoing
messages are built from the same models and dumped with :func:`dump`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

GPS_PATTERN = (
    r"^[-+]?([1-8]?\d(\.\d+)?|90(\.0+)?),\s*[-+]?(180(\.0+)?|((1[0-7]\d)|([1-9]?\d))(\.\d+)?)$"
)
Gps = Annotated[str, Field(pattern=GPS_PATTERN)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
DecimalText = Annotated[Decimal, Field(allow_inf_nan=False)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, ser_json_timedelta="iso8601")


class Image(Wire):
    url: str


class Descriptor(Wire):
    name: str | None = None
    code: str | None = None
    short_desc: str | None = None
    long_desc: str | None = None
    images: list[Image] | None = None


class Country(Wire):
    name: str | None = None
    code: str | None = None


class City(Wire):
    name: str | None = None
    code: str | None = None


MAX_TTL = timedelta(days=7)  # a request's ttl; far beyond any Beckn exchange


class ContextLocation(Wire):
    country: Country | None = None
    city: City | None = None


class Context(Wire):
    domain: Annotated[str, Field(min_length=1)]
    action: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)]
    bap_id: Id
    bap_uri: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
    bpp_id: Id | None = None
    bpp_uri: str | None = None
    transaction_id: Id
    message_id: Id
    timestamp: AwareDatetime
    ttl: timedelta | None = None
    location: ContextLocation | None = None

    @field_validator("ttl")
    @classmethod
    def _positive_ttl(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            msg = "ttl must be a positive ISO-8601 duration"
            raise ValueError(msg)
        if value is not None and value > MAX_TTL:  # timestamp + ttl must stay a date
            msg = f"ttl must be at most {MAX_TTL.days} days"
            raise ValueError(msg)
        return value


class Scalar(Wire):
    type: str | None = None
    value: DecimalText
    unit: str | None = None


class Circle(Wire):
    gps: Gps
    radius: Scalar


class Location(Wire):
    id: str | None = None
    descriptor: Descriptor | None = None
    gps: Gps | None = None
    address: str | None = None
    circle: Circle | None = None


class Tag(Wire):
    descriptor: Descriptor | None = None
    value: str | None = None


class TagGroup(Wire):
    descriptor: Descriptor | None = None
    tags: list[Tag] | None = Field(default=None, alias="list")


class TimeRange(Wire):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class Time(Wire):
    timestamp: AwareDatetime | None = None
    duration: timedelta | None = None
    range: TimeRange | None = None


class Stop(Wire):
    id: str | None = None
    type: str | None = None
    location: Location | None = None
    time: Time | None = None
    instructions: Descriptor | None = None


class State(Wire):
    descriptor: Descriptor | None = None
    updated_at: AwareDatetime | None = None


class Person(Wire):
    name: str | None = None


class Contact(Wire):
    phone: str | None = None
    email: str | None = None


class Customer(Wire):
    person: Person | None = None
    contact: Contact | None = None


class Fulfillment(Wire):
    id: str | None = None
    type: str | None = None
    state: State | None = None
    stops: list[Stop] | None = None
    customer: Customer | None = None
    tags: list[TagGroup] | None = None


class QuantityValue(Wire):
    count: Annotated[int, Field(ge=0)] | None = None
    measure: Scalar | None = None


class ItemQuantity(Wire):
    available: QuantityValue | None = None
    selected: QuantityValue | None = None
    maximum: QuantityValue | None = None
    minimum: QuantityValue | None = None


class Price(Wire):
    currency: str
    value: DecimalText


class Category(Wire):
    id: str | None = None
    descriptor: Descriptor | None = None


class AddOn(Wire):
    id: str | None = None
    descriptor: Descriptor | None = None
    price: Price | None = None


class Item(Wire):
    id: str | None = None
    descriptor: Descriptor | None = None
    price: Price | None = None
    quantity: ItemQuantity | None = None
    tags: list[TagGroup] | None = None
    category_ids: list[str] | None = None
    location_ids: list[str] | None = None
    fulfillment_ids: list[str] | None = None
    add_ons: list[AddOn] | None = None


class Provider(Wire):
    id: str | None = None
    descriptor: Descriptor | None = None
    categories: list[Category] | None = None
    locations: list[Location] | None = None
    items: list[Item] | None = None
    fulfillments: list[Fulfillment] | None = None


class Intent(Wire):
    descriptor: Descriptor | None = None
    provider: Provider | None = None
    fulfillment: Fulfillment | None = None
    item: Item | None = None
    category: Category | None = None
    tags: list[TagGroup] | None = None


class BreakupLine(Wire):
    title: str | None = None
    item: Item | None = None
    price: Price


class Quote(Wire):
    price: Price
    breakup: list[BreakupLine] | None = None
    ttl: timedelta | None = None


class Billing(Wire):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class PaymentParams(Wire):
    amount: DecimalText | None = None
    currency: str | None = None
    transaction_id: str | None = None


class Payment(Wire):
    url: str | None = None
    collected_by: str | None = None
    type: str | None = None
    status: str | None = None
    params: PaymentParams | None = None
    time: Time | None = None
    tags: list[TagGroup] | None = None


class Fee(Wire):
    percentage: str | None = None
    amount: Price | None = None


class MediaFile(Wire):
    mimetype: str | None = None
    url: str | None = None


class CancellationTerm(Wire):
    fulfillment_state: State | None = None
    reason_required: bool | None = None
    cancel_by: Time | None = None
    cancellation_fee: Fee | None = None
    external_ref: MediaFile | None = None


class Order(Wire):
    id: str | None = None
    status: str | None = None
    provider: Provider | None = None
    items: list[Item] | None = None
    fulfillments: list[Fulfillment] | None = None
    quote: Quote | None = None
    billing: Billing | None = None
    payments: list[Payment] | None = None
    cancellation_terms: list[CancellationTerm] | None = None
    tags: list[TagGroup] | None = None


class Catalog(Wire):
    descriptor: Descriptor | None = None
    providers: list[Provider] | None = None


class SearchMessage(Wire):
    intent: Intent


class SelectMessage(Wire):
    order: Order


class OnSearchMessage(Wire):
    catalog: Catalog


class OnSelectMessage(Wire):
    order: Order


class OrderMessage(Wire):
    """``init``/``confirm`` (and every ``on_*`` that answers with the order)."""

    order: Order


class OrderRef(Wire):
    """``status``/``track``: the order asked about."""

    order_id: Id


class UpdateMessage(Wire):
    update_target: Annotated[str, Field(min_length=1)]
    order: Order


class CancelMessage(Wire):
    order_id: Id
    cancellation_reason_id: str | None = None
    descriptor: Descriptor | None = None


class Rating(Wire):
    id: Id
    rating_category: Annotated[str, Field(min_length=1)]
    value: Annotated[str, Field(min_length=1, max_length=8)]
    comment: str | None = Field(default=None, max_length=2000)


class RatingMessage(Wire):
    ratings: Annotated[list[Rating], Field(min_length=1, max_length=50)]


class Support(Wire):
    ref_id: str | None = None
    callback_phone: str | None = None
    phone: str | None = None
    email: str | None = None
    url: str | None = None
    # tolerated extension: phone | email | chat (absent: callback_phone → phone, else chat)
    channel: str | None = None
    # tolerated extension in requests: tag group ``ticket`` (ticket-id, driver-response)
    tags: list[TagGroup] | None = None


class SupportMessage(Wire):
    support: Support


class EmptyMessage(Wire):
    """``get_rating_categories``/``get_cancellation_reasons`` carry no message."""


class Tracking(Wire):
    id: str | None = None
    url: str | None = None
    status: str | None = None


class OnTrackMessage(Wire):
    tracking: Tracking


class FeedbackForm(Wire):
    url: str


class FeedbackFormRef(Wire):
    form: FeedbackForm
    required: bool = False


class OnRatingMessage(Wire):
    feedback_form: FeedbackFormRef | None = None


class OnSupportMessage(Wire):
    support: Support


class RatingCategoriesMessage(Wire):
    rating_categories: list[str]


class Option(Wire):
    id: str
    descriptor: Descriptor


class CancellationReasonsMessage(Wire):
    cancellation_reasons: list[Option]


M = TypeVar("M", bound=BaseModel)


class Envelope(BaseModel, Generic[M]):
    """``{"context": …, "message": …}`` with a typed message."""

    model_config = ConfigDict(extra="allow")

    context: Context
    message: M

    @model_validator(mode="before")
    @classmethod
    def _no_message_is_empty(cls, data: Any) -> Any:
        # get_rating_categories / get_cancellation_reasons send no message at all
        if isinstance(data, dict) and "message" not in data:
            return {**data, "message": {}}
        return data


class _BapId(BaseModel):
    bap_id: Id


class Identity(BaseModel):
    """Just enough of a body to compare its ``context.bap_id`` with the signer."""

    context: _BapId


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict without unset optional fields, using wire names (``list`` for tags)."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def dump_json(model: BaseModel) -> bytes:
    """:func:`dump` serialised straight to JSON bytes (several times faster than dump + dumps)."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True, by_alias=True)
