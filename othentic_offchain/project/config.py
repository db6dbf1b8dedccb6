"""``othentic.toml``: an AVS project's file, read and checked (pydantic), with errors naming the key.

A project is a folder holding ``othentic.toml``; commands run inside it find it upward from the
current folder (:func:`find_project`). The file declares the AVS (a ``path.py:attr`` reference to
its :class:`~othentic_offchain.avs.Avs`), its task definitions **by name** with every parameter
the chain's ``TaskDefinitionParams`` has and their triggers, and the devnet that serves it
(operators, stakes, how many are offline or lying, helper processes such as a fake data source)::

    [project]
    name = "demo"
    avs = "avs.py:avs"

    [devnet]
    operators = 4

    [definitions.uppercase]
    performer-reward = "0.05"
    example = { text = "hello {n}" }
    [definitions.uppercase.trigger]
    every-seconds = 30

Keys may be written with dashes or underscores. Amounts are in tokens (18 decimals), as a number
or a string ("0.05"), or exact with ``wei`` ("1000wei").
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams

__all__ = ["PROJECT_FILE", "Project", "ProjectError", "Definition", "find_project", "load_project"]

PROJECT_FILE = "othentic.toml"
PENALTIES = ("double", "incorrect", "rejected")


class ProjectError(Exception):
    """The project file is missing, is not TOML, or does not say what a project needs."""


def _amount(value: Any) -> int:
    """Tokens (``10``, ``0.05``, ``"0.05"``) or exact wei (``"1000wei"``) as an integer of wei."""
    if isinstance(value, bool):
        raise ValueError("an amount is a number of tokens, not true/false")
    text = str(value).strip().lower().replace("_", "")
    try:
        if text.endswith("wei"):
            wei = int(text[:-3])
        else:
            exact = Decimal(text) * TOKEN
            if exact != exact.to_integral_value():
                raise ValueError
            wei = int(exact)
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f'{value!r} is not an amount of tokens (e.g. 10, "0.05" or "1000wei")') from exc
    if wei < 0:
        raise ValueError(f"an amount cannot be negative, got {value!r}")
    return wei


Amount = Annotated[int, BeforeValidator(_amount)]
Offence = Literal["double", "incorrect", "rejected"]


class _Table(BaseModel):
    """A table of the file: unknown keys are errors (a typo must not silently mean the default)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=lambda n: n.replace("_", "-"))


class Trigger(_Table):
    """When the devnet's performer of a definition performs, besides on demand (always possible:
    ``othentic task send --definition NAME --params ...`` and ``POST /performer/v1/trigger``)."""

    every_seconds: float | None = Field(default=None, gt=0)
    every_blocks: int | None = Field(default=None, gt=0)
    # ADDRESS:Event(types), or CONTRACT:Event(types) with a contract name of the deployment file.
    on_event: str | None = None

    @field_validator("on_event")
    @classmethod
    def _event(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^:\s]+:\w+\([\w,\[\] ]*\)", value):
            raise ValueError(f"expected 'ADDRESS:Event(type,...)' or 'ContractName:Event(type,...)', got {value!r}")
        return value


class Definition(_Table):
    """One task definition: the chain's ``TaskDefinitionParams``, its trigger and its devnet roles."""

    attester_reward: Amount = 0
    performer_reward: Amount = 0
    aggregator_reward: Amount = 0
    expiry_block: int = Field(default=0, ge=0)  # last block tasks may land at (0: never)
    dispute_period: int = Field(default=0, ge=0)  # blocks after landing during which offences can be proven
    minimum_voting_power: Amount = 0
    max_attesters: int = Field(default=0, ge=0)  # signers per task (0: no limit)
    # The devnet's operators allowed to attest, by their place in [devnet] (1 = the first); [] = all.
    restrict: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    penalize: list[Offence] = Field(default_factory=lambda: list[Offence](["double"]))
    slash_bps: int = Field(default=1_000, ge=0, le=10_000)
    reporter_bps: int = Field(default=1_000, ge=0, le=10_000)
    trigger: Trigger = Field(default_factory=Trigger)
    performer: int = Field(default=1, ge=1)  # the devnet operator (1 = the first) running its performer
    # Parameters of the tasks `othentic devnet --tasks N` sends; "{n}" in a text becomes the task's number.
    example: dict[str, Any] = Field(default_factory=dict)

    def params(self, name: str, operator_ids: list[int] | None = None) -> TaskDefinitionParams:
        """The chain's parameters; ``operator_ids`` turns ``restrict`` (places) into operator ids."""
        restricted: tuple[int, ...] = ()
        if self.restrict:
            if operator_ids is None:
                raise ValueError("restrict needs the devnet's operator ids")
            restricted = tuple(sorted(operator_ids[place - 1] for place in self.restrict))
        return TaskDefinitionParams(
            name=name,
            block_expiry=self.expiry_block,
            attester_reward=self.attester_reward,
            performer_reward=self.performer_reward,
            aggregator_reward=self.aggregator_reward,
            dispute_period_blocks=self.dispute_period,
            minimum_voting_power=self.minimum_voting_power,
            restricted_attester_ids=restricted,
            maximum_number_of_attesters=self.max_attesters,
            penalties=PenaltyConfig(
                double_attestation="double" in self.penalize,
                incorrect_attestation="incorrect" in self.penalize,
                rejected_task="rejected" in self.penalize,
                slash_bps=self.slash_bps,
                reporter_bps=self.reporter_bps,
            ),
        )

    def example_params(self, n: int) -> dict[str, Any]:
        """The example parameters of task number ``n`` ("{n}" in any text replaced)."""

        def fill(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace("{n}", str(n))
            if isinstance(value, list):
                return [fill(v) for v in value]
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            return value

        return fill(self.example)


class Process(_Table):
    """A helper the devnet starts before the AVS's services (a fake data source, ...): a command run
    from the project folder that prints ``... listening on URL``; the URL is given to the AVS's
    functions as ``ctx.config[<its name>]``. A command starting with ``python`` runs with the
    interpreter of ``othentic`` itself."""

    command: list[str] = Field(min_length=1)


class DevnetSettings(_Table):
    operators: int = Field(default=4, ge=4, le=50)
    stake: Amount = 10 * TOKEN  # each operator's, unless `stakes` lists them one by one
    stakes: list[Amount] | None = None
    offline: int = Field(default=0, ge=0)  # registered, their attesters never started
    lying: int = Field(default=0, ge=0)  # attesters answering the opposite of every validation
    block_interval: float = Field(default=1.0, gt=0)  # an empty block this often (triggers by blocks)
    processes: dict[str, Process] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DevnetSettings:
        if self.stakes is not None and len(self.stakes) != self.operators:
            raise ValueError(f"stakes lists {len(self.stakes)} amounts for {self.operators} operators")
        if self.offline + self.lying >= self.operators / 3:
            raise ValueError(
                f"offline ({self.offline}) + lying ({self.lying}) must stay below a third of the "
                f"{self.operators} operators, or no honest task reaches the two thirds it needs"
            )
        return self

    def operator_stakes(self) -> list[int]:
        return list(self.stakes) if self.stakes is not None else [self.stake] * self.operators


class ProjectSettings(_Table):
    name: str = Field(min_length=1, max_length=64)
    avs: str = "avs.py:avs"  # the Avs object: path/to/file.py:attr, relative to the project folder
    config: dict[str, Any] = Field(default_factory=dict)  # ctx.config of the AVS's functions


class Hook(_Table):
    """An on-chain ``IAvsLogic`` hook the devnet compiles (solc needed), deploys and sets."""

    source: str  # the .sol file, relative to the project folder
    contract: str  # the contract in it; its constructor takes the attestation center's address
    solc: str | None = None  # the compiler [default: $SOLC, else solc on PATH]


class ProjectFile(_Table):
    project: ProjectSettings
    devnet: DevnetSettings = Field(default_factory=DevnetSettings)
    hook: Hook | None = None
    definitions: dict[str, Definition] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_and_places(self) -> ProjectFile:
        for name, definition in self.definitions.items():
            if not name.strip() or len(name.encode()) > 64 or name.isdigit():
                raise ValueError(f"definitions.{name}: a task definition name is 1 to 64 bytes, not only digits")
            for place in (*definition.restrict, definition.performer):
                if place > self.devnet.operators:
                    raise ValueError(
                        f"definitions.{name}: operator {place} does not exist (the devnet has {self.devnet.operators})"
                    )
        return self


class Project:
    """A loaded project: its folder, its file's settings and where the devnet keeps its state."""

    def __init__(self, root: Path, settings: ProjectFile):
        self.root = root
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.project.name

    @property
    def definitions(self) -> dict[str, Definition]:
        return self.settings.definitions

    @property
    def devnet(self) -> DevnetSettings:
        return self.settings.devnet

    @property
    def state_dir(self) -> Path:
        """Where ``othentic devnet`` keeps the deployment, databases and logs of this project."""
        return self.root / ".devnet"

    @property
    def avs_reference(self) -> str:
        """The AVS reference with its file made absolute (``/path/to/avs.py:avs``)."""
        target, sep, attribute = self.settings.project.avs.rpartition(":")
        if not sep:
            target, attribute = self.settings.project.avs, "avs"
        return f"{(self.root / target).resolve()}:{attribute}"

    @property
    def avs_file(self) -> Path:
        return Path(self.avs_reference.rpartition(":")[0])

    def definition(self, name: str) -> Definition:
        try:
            return self.definitions[name]
        except KeyError:
            raise ProjectError(
                f"{self.root / PROJECT_FILE} declares no task definition {name!r} "
                f"(it declares {', '.join(map(repr, self.definitions))})"
            ) from None


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_project(folder: str | Path) -> Project:
    """Read and check ``<folder>/othentic.toml``."""
    root = Path(folder).resolve()
    path = root / PROJECT_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"no {PROJECT_FILE} in {root}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{path} is not valid TOML: {exc}") from exc
    try:
        settings = ProjectFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"  {_location(error['loc']) or '(top level)'}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise ProjectError(f"{path} is not a valid project file:\n" + "\n".join(problems)) from None
    return Project(root, settings)


def find_project(start: str | Path | None = None) -> Project | None:
    """The project whose folder holds ``start`` (default: the current folder), or None."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return load_project(folder)
    return None
