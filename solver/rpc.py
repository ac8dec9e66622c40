"""The nano-work-server RPC on ``POST /``: ``work_generate``, ``work_cancel`` and ``work_validate``.

Two kinds of caller speak it:

- the Kotlin reference work-adapter: ``{"action": "work_generate", "hash", "threshold"}`` with the
  threshold a decimal string, the Atto rule (difficulty <= threshold), answered ``{"work"}`` written
  as the other Atto routes write it. Its serializer may leave ``action`` out: a body with a
  ``threshold`` and no ``action`` is a ``work_generate``;
- Nano nodes (their work peers), wallets and work proxies: ``difficulty`` (16 hex) or ``multiplier``,
  the Nano rule (difficulty >= it, ``work.nano``), answered ``{"work", "difficulty", "multiplier",
  "hash"}`` as the Nano RPC does; without either, Nano's send difficulty.

Strings where the Nano RPC writes strings ("1"/"0", multipliers). Unlike nano-work-server, which
answers 200 to everything, errors here are ``{"error"}`` with the statuses of the other work routes
(400 bad input, 409 a ``work_generate`` stopped by ``work_cancel``, ``solver.errors`` for the rest).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from common.http import error
from solver.jobs import Rule, Solution
from solver.schemas import Target, Threshold, WorkResponse
from work import WorkError, difficulty, format_target, format_work, nano, parse_work

ACTIONS = ("work_generate", "work_cancel", "work_validate")
_HEX16 = "^[0-9A-Fa-f]{16}$"
_DECIMAL = re.compile(r"^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")

#: ``search(request, target, limit, rule)``: the work, or the error to answer (``solver.api``).
Search = Callable[[Request, bytes, int, Rule], Awaitable[Solution | JSONResponse]]
#: ``cancel(target)``: how many searches were stopped (None: no devices yet).
Cancel = Callable[[bytes], int | None]


def _parse_multiplier(value: object) -> float:
    """A positive multiplier from a decimal string (as the Nano RPC writes it) or a JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise WorkError("multiplier must be a positive decimal number (string or number)")
    if isinstance(value, str) and not _DECIMAL.match(value):
        raise WorkError("multiplier must be a positive decimal number such as \"1.5\"")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise WorkError("multiplier must be a positive decimal number")
    return number


Difficulty = Annotated[int, BeforeValidator(nano.parse_difficulty), WithJsonSchema({
    "type": "string", "pattern": _HEX16,
    "description": "Nano rule: smallest acceptable difficulty, 16 hex (e.g. fffffff800000000)",
})]
Multiplier = Annotated[float, BeforeValidator(_parse_multiplier), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": _DECIMAL.pattern}, {"type": "number", "exclusiveMinimum": 0}],
    "description": "Nano rule: the difficulty as a multiple of the send difficulty (overrides difficulty)",
})]


class _Rules(BaseModel):
    """One rule per request: an Atto ``threshold``, or a Nano ``difficulty`` / ``multiplier``."""

    threshold: Threshold | None = Field(None, description="Atto rule: largest acceptable difficulty")
    difficulty: Difficulty | None = None
    multiplier: Multiplier | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> _Rules:
        if self.threshold is not None and (self.difficulty is not None or self.multiplier is not None):
            raise ValueError("give a threshold (Atto rule) or a difficulty or multiplier (Nano rule), "
                             "not both")
        return self

    @property
    def rule(self) -> Rule:
        return Rule.ATTO if self.threshold is not None else Rule.NANO

    def limit(self) -> int:
        """The threshold, or the Nano difficulty (a multiplier overrides it; send by default)."""
        if self.threshold is not None:
            return self.threshold
        if self.multiplier is not None:
            return nano.from_multiplier(self.multiplier)
        return self.difficulty if self.difficulty is not None else nano.SEND_DIFFICULTY


class WorkGenerate(_Rules):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "work_generate", "hash": "0" * 64, "threshold": "429496729550000"},
        {"action": "work_generate", "hash": "0" * 64, "difficulty": "fffffff800000000"}]})
    action: Literal["work_generate"] = Field(
        "work_generate", description="may be left out when a threshold is given")
    hash: Target


class WorkCancel(BaseModel):
    action: Literal["work_cancel"]
    hash: Target


class WorkValidate(_Rules):
    action: Literal["work_validate"]
    hash: Target
    work: str = Field(pattern=_HEX16, description=(
        "16 hex: the 8 work bytes (Atto, with a threshold) or the Nano work value (otherwise)"))


def _action(body: Any) -> str | None:
    """Which action a body asks for (None: none this server answers)."""
    if isinstance(body, BaseModel):
        return getattr(body, "action", None)
    if not isinstance(body, dict):
        return None
    if "action" not in body:
        return "work_generate" if "threshold" in body else None
    return body["action"] if body["action"] in ACTIONS else None


RpcRequest = Annotated[
    Annotated[WorkGenerate, Tag("work_generate")]
    | Annotated[WorkCancel, Tag("work_cancel")]
    | Annotated[WorkValidate, Tag("work_validate")],
    Discriminator(_action, custom_error_type="unknown_action", custom_error_message=(
        f"action must be one of {', '.join(ACTIONS)} (work_generate may leave it out when it "
        "gives a threshold)")),
]


class NanoWork(BaseModel):
    work: str = Field(pattern="^[0-9a-f]{16}$", description="the work value, big-endian hex")
    difficulty: str = Field(pattern="^[0-9a-f]{16}$", description="the work's difficulty")
    multiplier: str = Field(description="the work's difficulty relative to the send difficulty")
    hash: str = Field(pattern="^[0-9A-F]{64}$")


class WorkCancelled(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NanoValidation(BaseModel):
    valid_all: Literal["1", "0"] = Field(description="meets the send difficulty")
    valid_receive: Literal["1", "0"] = Field(description="meets the receive difficulty")
    difficulty: str = Field(pattern="^[0-9a-f]{16}$")
    multiplier: str
    valid: Literal["1", "0"] | None = Field(None, description=(
        "meets the difficulty or multiplier given (present only when one was given)"))


class AttoValidation(BaseModel):
    valid: Literal["1", "0"] = Field(description="difficulty <= threshold")
    difficulty: str = Field(pattern="^[0-9]{1,20}$", description="the work's difficulty, decimal")


RpcAnswer = WorkResponse | NanoWork | WorkCancelled | NanoValidation | AttoValidation


def format_multiplier(value: float) -> str:
    """As nano-work-server writes it: shortest round-trip decimal, ``1`` rather than ``1.0``."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _flag(value: bool) -> str:
    return "1" if value else "0"


def nano_answer(target: bytes, work: int) -> dict[str, str]:
    """The Nano ``work_generate`` answer for ``work`` (its u64 value)."""
    found = nano.difficulty(work, target)
    return {"work": nano.format_work(work), "difficulty": nano.format_difficulty(found),
            "multiplier": format_multiplier(nano.multiplier(found)), "hash": format_target(target)}


def validate(body: WorkValidate) -> dict[str, str]:
    """``work_validate``: by the rule the body names (Nano without a threshold)."""
    if body.rule is Rule.ATTO:
        found = difficulty(parse_work(body.work), body.hash)
        return {"valid": _flag(found <= body.limit()), "difficulty": str(found)}
    found = nano.difficulty(nano.parse_work(body.work), body.hash)
    answer = {"valid_all": _flag(found >= nano.SEND_DIFFICULTY),
              "valid_receive": _flag(found >= nano.RECEIVE_DIFFICULTY),
              "difficulty": nano.format_difficulty(found),
              "multiplier": format_multiplier(nano.multiplier(found))}
    if body.difficulty is not None or body.multiplier is not None:
        answer["valid"] = _flag(found >= body.limit())
    return answer


def add_route(app: FastAPI, search: Search, cancel: Cancel, dependencies: Sequence[Depends],
              errors: dict[int | str, dict[str, Any]]) -> None:
    """``POST /`` on ``app``."""

    @app.post("/", response_model=RpcAnswer, responses=errors, tags=["rpc"],
              dependencies=list(dependencies),
              summary="nano-work-server RPC: work_generate, work_cancel, work_validate",
              description=(
                  "`threshold` (decimal u64): the Atto rule (difficulty <= threshold), answered "
                  "`{work}`; `action` may be left out. `difficulty` (16 hex) or `multiplier`, or "
                  "neither (send difficulty fffffff800000000): the Nano rule (difficulty >= it), "
                  "answered `{work, difficulty, multiplier, hash}`. `work_cancel` answers `{}` and "
                  "its waiting `work_generate` 409; `work_validate` answers by the rule given."))
    async def rpc(request: Request, body: RpcRequest) -> JSONResponse:
        if isinstance(body, WorkCancel):
            if cancel(body.hash) is None:
                return error(503, "devices are not initialised")
            return JSONResponse({})
        if isinstance(body, WorkValidate):
            return JSONResponse(validate(body))
        found = await search(request, body.hash, body.limit(), body.rule)
        if isinstance(found, JSONResponse):
            return found
        if body.rule is Rule.ATTO:
            return JSONResponse({"work": format_work(found.work)})
        return JSONResponse(nano_answer(body.hash, nano.from_raw(found.work)))
