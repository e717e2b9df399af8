"""Schemathesis against the app's OpenAPI schema, on a real server on loopback: no request it
generates may get a 5xx answer (issue 19).

Bounded: a few examples per operation, no example database, no shrinking, so the run takes a few
seconds and gives the same kind of coverage each time.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sapphire_core.testing import signals
from sapphire_core.webapp import create_app
from sapphire_core.webapp.app import ADMIN_HEADER
from sapphire_core.webapp.memory import MemoryEngine
from sapphire_core.webapp.server import serve_in_thread

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e .[test] for schemathesis")
hypothesis = pytest.importorskip("hypothesis")

TOKEN = "test-admin-token"
#: Examples per operation: enough to reach every validation branch of these small endpoints.
EXAMPLES = 25


@pytest.mark.timeout(300)
def test_no_generated_request_gets_a_server_error(write_corpus, tmp_path):
    corpus = write_corpus({f"t{i}": (signals.chord([60 + i, 64 + i, 67 + i], sr=22050, seconds=0.5), 22050,
                                     {"title": f"chord {i}"}) for i in range(5)})
    model = MemoryEngine.from_corpus(corpus, model_version="model-v1")
    baseline = MemoryEngine(list(model.records.values()), np.roll(model.vectors, 1, axis=0),
                            model_version="baseline-v0")
    app = create_app(model, db_path=tmp_path / "fb.db", admin_token=TOKEN, baseline_engine=baseline,
                     sessions=[])
    failures: list[str] = []
    turn = itertools.count()
    seen: list[tuple[str, int]] = []
    with serve_in_thread(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10  # every API route is in the schema

        for operation in operations:
            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                 phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                                 suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.given(case=operation.as_strategy())
            def check(case):
                # With the admin token every other call, so the admin routes are exercised past the 401.
                headers = {ADMIN_HEADER: TOKEN} if next(turn) % 2 else {}
                response = case.call(base_url=base, headers=headers, timeout=30)
                seen.append((operation.label, response.status_code))
                if response.status_code >= 500:
                    failures.append(f"{operation.label}: {response.status_code} for {case.body!r:.200} "
                                    f"{case.query!r:.200}")

            check()
    statuses = {code for _, code in seen}
    assert {200, 401, 404, 422} <= statuses  # the run reached past validation and the token check
    assert failures == []
