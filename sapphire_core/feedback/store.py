"""The judgement store: one SQLite file in WAL mode.

Every judgement row carries the rater id, the session, the time, and the exact model and
index versions the listener was shown, so a result can always be traced to what was heard.

Tables
------
sessions
    Listening-test definitions (:class:`~sapphire_core.feedback.sessions.SessionSpec` as JSON).
ab_trials
    A/B trials as served: which model is on the left and right and which tracks each list held.
    The browser only sees the trial id and the tracks, never the model names (blinding).
ab
    One judgement per trial: ``choice`` (left / right / tie) and/or 1-5 ratings, with the
    winning model resolved server-side.
triplets
    "Which of B or C sounds more like A?" (Dim-sim's form, Lee et al. 2020).

WAL lets readers (``sapphire ab-report``, ``sapphire finetune``) run while the server writes;
writes from the server's threads are serialised by one lock on one connection.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sapphire_core.errors import SapphireError

SCHEMA_VERSION = 1
TABLES = ("ab", "triplets", "ab_trials", "sessions")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ab_trials (
    id TEXT PRIMARY KEY, session TEXT NOT NULL, rater TEXT NOT NULL, created REAL NOT NULL,
    query_kind TEXT NOT NULL, query TEXT NOT NULL,
    left_model TEXT NOT NULL, right_model TEXT NOT NULL,
    left_model_version TEXT NOT NULL, right_model_version TEXT NOT NULL,
    left_index_version TEXT NOT NULL, right_index_version TEXT NOT NULL,
    left_ids TEXT NOT NULL, right_ids TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ab (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL UNIQUE REFERENCES ab_trials(id),
    session TEXT NOT NULL, rater TEXT NOT NULL, created REAL NOT NULL,
    query_kind TEXT NOT NULL, query TEXT NOT NULL,
    left_model TEXT NOT NULL, right_model TEXT NOT NULL,
    left_model_version TEXT NOT NULL, right_model_version TEXT NOT NULL,
    left_index_version TEXT NOT NULL, right_index_version TEXT NOT NULL,
    left_ids TEXT NOT NULL, right_ids TEXT NOT NULL,
    choice TEXT CHECK (choice IN ('left', 'right', 'tie') OR choice IS NULL),
    left_rating INTEGER CHECK (left_rating BETWEEN 1 AND 5 OR left_rating IS NULL),
    right_rating INTEGER CHECK (right_rating BETWEEN 1 AND 5 OR right_rating IS NULL),
    winner TEXT NOT NULL,
    response_ms INTEGER
);
CREATE TABLE IF NOT EXISTS triplets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL, rater TEXT NOT NULL, created REAL NOT NULL,
    anchor TEXT NOT NULL, b TEXT NOT NULL, c TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('b', 'c')),
    positive TEXT NOT NULL, negative TEXT NOT NULL,
    model_version TEXT NOT NULL, index_version TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'random',
    response_ms INTEGER
);
CREATE INDEX IF NOT EXISTS ab_session_rater ON ab (session, rater);
CREATE INDEX IF NOT EXISTS trials_session_rater ON ab_trials (session, rater);
CREATE INDEX IF NOT EXISTS triplets_session_rater ON triplets (session, rater);
"""

_JSON_COLUMNS = {"left_ids", "right_ids", "spec"}
#: A rater's served but unjudged trials of a session, oldest first.
_PENDING_SQL = ("SELECT * FROM ab_trials t WHERE t.session = ? AND t.rater = ? "
                "AND NOT EXISTS (SELECT 1 FROM ab WHERE ab.trial_id = t.id) ORDER BY t.created, t.id")


class FeedbackError(SapphireError):
    """A judgement or session cannot be stored or read (unknown trial, bad value, unreadable file)."""


def winner_of(choice: str | None, left_rating: int | None, right_rating: int | None,
              left_model: str, right_model: str) -> str:
    """The model that won a trial: the chosen side, else the higher rating; ``"tie"`` otherwise.

    Raises
    ------
    FeedbackError
        When neither a choice nor both ratings are given.
    """
    if choice is not None:
        return {"left": left_model, "right": right_model, "tie": "tie"}[choice]
    if left_rating is None or right_rating is None:
        raise FeedbackError("an A/B judgement needs a choice (left/right/tie) or a 1-5 rating of each side")
    if left_rating == right_rating:
        return "tie"
    return left_model if left_rating > right_rating else right_model


class FeedbackStore:
    """Listener judgements in one SQLite file (WAL mode).

    Parameters
    ----------
    path : path
        The database file; created with its folder if missing.

    Raises
    ------
    FeedbackError
        When the file is not a SAPPHIRE feedback database.

    Examples
    --------
    >>> store = FeedbackStore("feedback.db")  # doctest: +SKIP
    >>> store.add_triplet(session="s", rater="r1", anchor="a", b="b", c="c", choice="b",
    ...                   model_version="m", index_version="i")  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0,
                                         isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            # WAL: readers never block the writer; NORMAL sync is durable across app crashes in WAL mode
            # (only an OS crash can lose the last transactions), see https://sqlite.org/wal.html.
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise FeedbackError(f"{self.path}: not a usable feedback database ({exc}); point at a new file") from None
        self.journal_mode = str(mode).lower()

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_decode(dict(r)) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sessions
    def put_session(self, spec: dict[str, Any]) -> None:
        """Create or replace a session definition (``spec["name"]`` is the key)."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO sessions (name, spec, created) VALUES (?, ?, ?)",
                      (spec["name"], json.dumps(spec), time.time()))

    def session(self, name: str) -> dict[str, Any] | None:
        rows = self._query("SELECT spec FROM sessions WHERE name = ?", (name,))
        return rows[0]["spec"] if rows else None

    def sessions(self) -> list[dict[str, Any]]:
        return [r["spec"] for r in self._query("SELECT spec FROM sessions ORDER BY created, name")]

    # ------------------------------------------------------------------ A/B
    def add_ab_trial(self, *, session: str, rater: str, query_kind: str, query: str,
                     left: dict[str, Any], right: dict[str, Any], limit: int | None = None) -> str:
        """Record a served A/B trial; returns its id.

        ``left`` / ``right`` hold ``model``, ``model_version``, ``index_version`` and ``ids``
        (the track ids shown, in order).

        With ``limit`` (the session's trials per rater), the check and the insert are one
        ``BEGIN IMMEDIATE`` transaction, so concurrent requests cannot serve a rater more than
        ``limit`` trials: when the rater already has an unjudged trial in the session, that
        trial's id is returned and nothing is inserted (a reload or a second tab gets the same
        trial).

        Raises
        ------
        FeedbackError
            When the rater has already been served ``limit`` trials, all judged.
        """
        trial_id = uuid.uuid4().hex
        with self._tx() as c:
            if limit is not None:
                pending = c.execute(_PENDING_SQL, (session, rater)).fetchone()
                if pending is not None:
                    return str(pending["id"])
                served = c.execute("SELECT COUNT(*) FROM ab_trials WHERE session = ? AND rater = ?",
                                   (session, rater)).fetchone()[0]
                if served >= limit:
                    raise FeedbackError(f"rater {rater!r} has done the {limit} trials of session {session!r}")
            c.execute(
                "INSERT INTO ab_trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (trial_id, session, rater, time.time(), query_kind, query, left["model"], right["model"],
                 left["model_version"], right["model_version"], left["index_version"], right["index_version"],
                 json.dumps(list(left["ids"])), json.dumps(list(right["ids"]))),
            )
        return trial_id

    def pending_ab_trial(self, *, session: str, rater: str) -> dict[str, Any] | None:
        """The rater's oldest served but unjudged trial of the session, or None."""
        rows = self._query(_PENDING_SQL, (session, rater))
        return rows[0] if rows else None

    def count_ab_trials(self, *, session: str, rater: str) -> int:
        """How many trials of the session were served to the rater (judged or not)."""
        return int(self._query("SELECT COUNT(*) AS n FROM ab_trials WHERE session = ? AND rater = ?",
                               (session, rater))[0]["n"])

    def ab_trial(self, trial_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM ab_trials WHERE id = ?", (trial_id,))
        return rows[0] if rows else None

    def add_ab(self, trial_id: str, *, rater: str, choice: str | None = None, left_rating: int | None = None,
               right_rating: int | None = None, response_ms: int | None = None) -> int:
        """Store the judgement of a served trial; returns the row id.

        Raises
        ------
        FeedbackError
            Unknown trial, a trial served to another rater, or one already judged.
        """
        with self._tx() as c:
            row = c.execute("SELECT * FROM ab_trials WHERE id = ?", (trial_id,)).fetchone()
            if row is None:
                raise FeedbackError(f"unknown A/B trial {trial_id!r}; ask for a new one with /api/ab/next")
            t = dict(row)
            if t["rater"] != rater:
                raise FeedbackError(f"trial {trial_id!r} was served to another rater")
            if c.execute("SELECT 1 FROM ab WHERE trial_id = ?", (trial_id,)).fetchone():
                raise FeedbackError(f"trial {trial_id!r} is already judged")
            winner = winner_of(choice, left_rating, right_rating, t["left_model"], t["right_model"])
            cur = c.execute(
                "INSERT INTO ab (trial_id, session, rater, created, query_kind, query, left_model, right_model, "
                "left_model_version, right_model_version, left_index_version, right_index_version, left_ids, "
                "right_ids, choice, left_rating, right_rating, winner, response_ms) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (trial_id, t["session"], rater, time.time(), t["query_kind"], t["query"], t["left_model"],
                 t["right_model"], t["left_model_version"], t["right_model_version"], t["left_index_version"],
                 t["right_index_version"], t["left_ids"], t["right_ids"], choice, left_rating, right_rating,
                 winner, response_ms),
            )
            return int(cur.lastrowid)

    def count_ab(self, *, session: str, rater: str) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM ab WHERE session = ? AND rater = ?",
                               (session, rater))[0]["n"])

    # ------------------------------------------------------------------ triplets
    def add_triplet(self, *, session: str, rater: str, anchor: str, b: str, c: str, choice: str,
                    model_version: str, index_version: str, source: str = "random",
                    response_ms: int | None = None, limit: int | None = None) -> int:
        """Store one triplet judgement ("``choice`` sounds more like ``anchor``"); returns the row id.

        With ``limit``, the rater's judgements of the session are counted in the same transaction as
        the insert, so concurrent requests cannot store more than ``limit``.

        Raises
        ------
        FeedbackError
            When ``choice`` is not ``"b"`` or ``"c"``, the three tracks are not distinct, or the
            rater has reached ``limit``.
        """
        if choice not in ("b", "c"):
            raise FeedbackError(f"triplet choice {choice!r} is invalid; choose 'b' or 'c'")
        if len({anchor, b, c}) != 3:
            raise FeedbackError(f"a triplet needs three different tracks; got {anchor!r}, {b!r}, {c!r}")
        positive, negative = (b, c) if choice == "b" else (c, b)
        with self._tx() as conn:
            if limit is not None and conn.execute("SELECT COUNT(*) FROM triplets WHERE session = ? AND rater = ?",
                                                  (session, rater)).fetchone()[0] >= limit:
                raise FeedbackError(f"rater {rater!r} has finished the {limit} triplets of session {session!r}")
            cur = conn.execute(
                "INSERT INTO triplets (session, rater, created, anchor, b, c, choice, positive, negative, "
                "model_version, index_version, source, response_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (session, rater, time.time(), anchor, b, c, choice, positive, negative, model_version,
                 index_version, source, response_ms),
            )
            return int(cur.lastrowid)

    def count_triplets(self, *, session: str | None = None, rater: str | None = None) -> int:
        sql, params = "SELECT COUNT(*) AS n FROM triplets WHERE 1=1", []
        if session is not None:
            sql, params = sql + " AND session = ?", [*params, session]
        if rater is not None:
            sql, params = sql + " AND rater = ?", [*params, rater]
        return int(self._query(sql, tuple(params))[0]["n"])

    # ------------------------------------------------------------------ reading / export
    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` (one of :data:`TABLES`), oldest first, JSON columns decoded.

        Raises
        ------
        FeedbackError
            For an unknown table name.
        """
        if table not in TABLES:
            raise FeedbackError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
        order = "created, name" if table == "sessions" else ("created, id" if table == "ab_trials" else "id")
        return self._query(f"SELECT * FROM {table} ORDER BY {order}")  # noqa: S608 - table is whitelisted

    def counts(self) -> dict[str, int]:
        return {t: int(self._query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]) for t in TABLES}  # noqa: S608

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``"ok"`` when consistent)."""
        return str(self._query("PRAGMA integrity_check")[0]["integrity_check"])

    def export(self, out: str | Path, *, table: str, fmt: str = "csv") -> int:
        """Write one table to ``out`` as CSV or JSONL; returns the row count."""
        rows = self.rows(table)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(export_text(rows, fmt=fmt), encoding="utf-8")
        return len(rows)


def export_text(rows: list[dict[str, Any]], *, fmt: str) -> str:
    """Rows as CSV (JSON columns JSON-encoded) or JSONL text.

    Raises
    ------
    FeedbackError
        For a format other than ``csv`` or ``jsonl``.
    """
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt != "csv":
        raise FeedbackError(f"unknown export format {fmt!r}; choose csv or jsonl")
    import io

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    return buf.getvalue()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS & set(row):
        if isinstance(row[key], str):
            row[key] = json.loads(row[key])
    return row
