"""``bulkload tables`` end to end against the in-process emulator.

click's CliRunner is synchronous and each command runs its own event loop, so the
emulator serves from a background thread with a loop of its own, for the whole module.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import bulkload.cli.tables  # registers the `tables` group on `cli`
from bulkload.cli import cli
from bulkload.emulator import EmulatorConfig, run_emulator

API_KEY = "cli-test-key"
CLIENT_ID = "cli-client"
CLIENT_SECRET = "cli-client-secret-42"
PEAK_VARIABLES = (
    "PEAK_API_KEY",
    "PEAK_AUTH_TOKEN",
    "PEAK_CLIENT_ID",
    "PEAK_CLIENT_SECRET",
    "PEAK_TOKEN_URL",
    "PEAK_AUDIENCE",
    "PEAK_BASE_URL",
)

ORDERS_DEFINITION = {
    "tableName": "ignored_by_name_argument",
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
        {"name": "day", "type": "date"},
        {"name": "seen_at", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
        {"name": "note", "type": "string"},
    ],
}


class EmulatorThread:
    """An emulator on loopback, served by its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.url = ""
        self.token_url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="emulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        config = EmulatorConfig(
            api_keys=(API_KEY,), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        async with run_emulator(config) as emulator:
            self.url, self.token_url = emulator.url, emulator.token_url
            self._ready.set()
            await self._stop.wait()


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emulator:
        yield emulator


@pytest.fixture
def emulator_url(emulator: EmulatorThread) -> str:
    return emulator.url


@pytest.fixture(autouse=True)
def working_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(
    args: list[str],
    url: str | None,
    *,
    key: str | None = API_KEY,
    input: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Result:
    env: dict[str, str | None] = dict.fromkeys(PEAK_VARIABLES)
    if url is not None:
        env["PEAK_BASE_URL"] = url
    if key is not None:
        env["PEAK_API_KEY"] = key
    env.update(extra_env or {})
    result = CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=True)
    # No traceback, ever: errors end as SystemExit with one line on stderr.
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def write_json(path: Path, obj: Any) -> Path:
    path.write_bytes(orjson.dumps(obj))
    return path


def create(url: str, name: str, tmp_path: Path, definition: Any = ORDERS_DEFINITION) -> Result:
    schema = write_json(tmp_path / f"{name}.json", definition)
    return invoke(["tables", "create", name, "--schema", str(schema)], url)


def test_create_then_get_shows_the_columns(emulator_url: str, tmp_path: Path) -> None:
    created = create(emulator_url, "cli_orders", tmp_path)
    assert created.exit_code == 0, created.output
    assert "created table cli_orders with 5 columns" in created.stdout

    shown = invoke(["tables", "get", "cli_orders"], emulator_url)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("table cli_orders: 5 columns, created ")
    assert lines[1].split() == ["COLUMN", "TYPE", "DETAILS"]
    assert lines[3].split() == ["amount", "numeric", "precision", "12,", "scale", "2"]
    assert 'format YYYY-MM-DD"T"HH24:MI:SS' in lines[5]

    as_json = invoke(["tables", "get", "cli_orders", "--json"], emulator_url)
    table = json.loads(as_json.stdout)
    assert table["tableName"] == "cli_orders"
    assert table["columns"] == ORDERS_DEFINITION["columns"]


def test_a_bare_columns_array_is_a_definition_too(emulator_url: str, tmp_path: Path) -> None:
    result = create(
        emulator_url, "cli_bare", tmp_path, definition=[{"name": "id", "type": "INTEGER"}]
    )
    assert result.exit_code == 0, result.output
    assert "created table cli_bare with 1 column" in result.stdout


def test_creating_an_existing_table_fails_with_exit_1(emulator_url: str, tmp_path: Path) -> None:
    assert create(emulator_url, "cli_twice", tmp_path).exit_code == 0
    again = create(emulator_url, "cli_twice", tmp_path)
    assert again.exit_code == 1
    assert "table 'cli_twice' already exists" in again.stderr


def test_list_follows_every_page_and_json_is_one_array(emulator_url: str, tmp_path: Path) -> None:
    names = [f"cli_list_{i}" for i in range(5)]
    for name in names:
        assert create(emulator_url, name, tmp_path).exit_code == 0

    listed = invoke(["tables", "list", "--limit", "2", "--json"], emulator_url)
    assert listed.exit_code == 0, listed.output
    tables = json.loads(listed.stdout)  # stdout holds exactly one JSON document
    assert isinstance(tables, list)
    listed_names = [t["tableName"] for t in tables]
    assert set(names) <= set(listed_names)
    assert len(listed_names) == len(set(listed_names))  # no page repeated

    readable = invoke(["tables", "list", "--limit", "3"], emulator_url)
    assert readable.exit_code == 0
    lines = readable.stdout.splitlines()
    assert lines[0].split() == ["NAME", "COLUMNS", "CREATED"]
    assert {line.split()[0] for line in lines[1:]} == set(listed_names)


def test_a_bad_key_exits_1_naming_the_variable(emulator_url: str) -> None:
    result = invoke(["tables", "list"], emulator_url, key="wrong-key-123")
    assert result.exit_code == 1
    assert "API key was not accepted (401)" in result.stderr
    assert "PEAK_API_KEY" in result.stderr
    assert "wrong-key-123" not in result.output
    assert result.stdout == ""


def oauth_env(emulator: EmulatorThread, secret: str) -> dict[str, str]:
    return {
        "PEAK_CLIENT_ID": CLIENT_ID,
        "PEAK_CLIENT_SECRET": secret,
        "PEAK_TOKEN_URL": emulator.token_url,
    }


def test_oauth_client_credentials_work_end_to_end(emulator: EmulatorThread, tmp_path: Path) -> None:
    schema = write_json(tmp_path / "s.json", ORDERS_DEFINITION)
    env = oauth_env(emulator, CLIENT_SECRET)
    created = invoke(
        ["tables", "create", "cli_oauth", "--schema", str(schema)],
        emulator.url,
        key=None,
        extra_env=env,
    )
    assert created.exit_code == 0, created.output
    listed = invoke(["tables", "list", "--json"], emulator.url, key=None, extra_env=env)
    assert "cli_oauth" in [t["tableName"] for t in json.loads(listed.stdout)]


def test_a_wrong_client_secret_exits_1_naming_the_variables(emulator: EmulatorThread) -> None:
    env = oauth_env(emulator, "wrong-secret-77")
    result = invoke(["tables", "list"], emulator.url, key=None, extra_env=env)
    assert result.exit_code == 1
    assert "PEAK_CLIENT_ID" in result.stderr and "PEAK_CLIENT_SECRET" in result.stderr
    assert "wrong-secret-77" not in result.output


def test_a_missing_table_exits_1_naming_it(emulator_url: str) -> None:
    result = invoke(["tables", "get", "no_such_table"], emulator_url)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "bulkload: error: table 'no_such_table' does not exist: create it with "
        "`bulkload tables create no_such_table --schema FILE`"
    )


def test_an_invalid_schema_file_exits_2_listing_every_problem(
    emulator_url: str, tmp_path: Path
) -> None:
    bad = {
        "columns": [
            {"name": "1id", "type": "integer"},
            {"name": "amount", "type": "money"},
            {"name": "note", "type": "string", "scale": 2},
        ]
    }
    result = create(emulator_url, "cli_bad", tmp_path, definition=bad)
    assert result.exit_code == 2
    message = result.stderr
    assert "cli_bad.json is not a valid table definition" in message
    assert "'1id'" in message and "'money'" in message and "precision/scale" in message
    assert len(message.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read schema file"), (b"{not json", "is not valid JSON")],
)
def test_an_unreadable_schema_file_exits_2_naming_it(
    emulator_url: str, tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_bytes(content)
    result = invoke(["tables", "create", "t", "--schema", str(path)], emulator_url)
    assert result.exit_code == 2
    assert expected in result.stderr and str(path) in result.stderr


def test_no_credentials_exits_2_naming_the_variables(emulator_url: str) -> None:
    result = invoke(["tables", "list"], emulator_url, key=None)
    assert result.exit_code == 2
    assert "PEAK_API_KEY" in result.stderr and "PEAK_CLIENT_ID" in result.stderr


def test_plain_http_to_a_remote_host_exits_2() -> None:
    result = invoke(["tables", "list"], "http://ingestion.example.com")
    assert result.exit_code == 2
    assert "plain http" in result.stderr and "--insecure" in result.stderr
    assert API_KEY not in result.output


def test_create_needs_exactly_one_source(emulator_url: str) -> None:
    neither = invoke(["tables", "create", "t"], emulator_url)
    assert neither.exit_code == 2
    assert "--schema FILE or --infer DATA_FILE" in neither.stderr


# -- --infer ---------------------------------------------------------------------------


@pytest.fixture
def sample_data(tmp_path: Path) -> Path:
    path = tmp_path / "sample.jsonl"
    rows = [
        {"id": 1, "name": "a", "paid": True, "day": "2026-01-02"},
        {"id": 2, "name": "b", "paid": False, "day": "2026-01-03"},
    ]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def needs_infer() -> None:
    pytest.importorskip(
        "bulkload.pipeline.infer", reason="bulkload/pipeline/infer.py has not landed yet"
    )


def test_infer_without_a_tty_or_yes_only_proposes(emulator_url: str, sample_data: Path) -> None:
    needs_infer()
    result = invoke(
        ["tables", "create", "cli_inferred_dry", "--infer", str(sample_data)], emulator_url
    )
    assert result.exit_code == 0, result.output
    assert "proposed table definition" in result.stderr
    assert "pass --yes" in result.stderr
    proposed = json.loads(result.stdout)  # stdout is the definition alone, ready to save
    assert proposed["tableName"] == "cli_inferred_dry"
    assert {c["name"] for c in proposed["columns"]} == {"id", "name", "paid", "day"}
    missing = invoke(["tables", "get", "cli_inferred_dry"], emulator_url)
    assert missing.exit_code == 1  # nothing was created

    saved = sample_data.with_name("proposed.json")
    saved.write_text(result.stdout)
    from_saved = invoke(
        ["tables", "create", "cli_inferred_dry", "--schema", str(saved)], emulator_url
    )
    assert from_saved.exit_code == 0, from_saved.output


def test_infer_with_yes_creates_the_proposed_table(emulator_url: str, sample_data: Path) -> None:
    needs_infer()
    result = invoke(
        ["tables", "create", "cli_inferred", "--infer", str(sample_data), "--yes"], emulator_url
    )
    assert result.exit_code == 0, result.output
    shown = invoke(["tables", "get", "cli_inferred", "--json"], emulator_url)
    columns = {c["name"]: c["type"] for c in json.loads(shown.stdout)["columns"]}
    assert columns["id"] == "integer"
    assert columns["name"] == "string"
    assert columns["paid"] == "boolean"


@pytest.mark.parametrize(("answer", "created"), [("y\n", True), ("n\n", False)])
def test_infer_on_a_terminal_asks_first(
    emulator_url: str,
    sample_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    created: bool,
) -> None:
    needs_infer()
    monkeypatch.setattr(bulkload.cli.tables, "stdin_is_interactive", lambda: True)
    name = f"cli_asked_{'yes' if created else 'no'}"
    result = invoke(
        ["tables", "create", name, "--infer", str(sample_data)], emulator_url, input=answer
    )
    assert result.exit_code == 0, result.output
    assert f"create table {name}?" in result.output
    assert (invoke(["tables", "get", name], emulator_url).exit_code == 0) is created


def test_infer_from_a_missing_file_exits_2(emulator_url: str, tmp_path: Path) -> None:
    needs_infer()
    result = invoke(
        ["tables", "create", "t", "--infer", str(tmp_path / "nope.jsonl")], emulator_url
    )
    assert result.exit_code == 2
    assert "nope.jsonl" in result.stderr
