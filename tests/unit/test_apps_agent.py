"""ReAct agents: the action parser (well-formed, malformed, adversarial), tools (typed args, errors as
observations), the read-only orders database (writes refused, missing/locked file), the generators, and the
loop with a tiny random model."""

from __future__ import annotations

import sqlite3

import pytest

from genlab.apps.agent import AgentConfig, ParseError, parse_step, run_agent
from genlab.apps.tools import Registry, builtin_tools
from genlab.errors import GenlabError


# -- parser -----------------------------------------------------------------------------
@pytest.mark.parametrize("text,tool,args,thought", [
    ("Thought: look it up\nAction: get_order[88-41972]", "get_order", "88-41972", "look it up"),
    ("Thought: done\nAction: finish[yes]\n", "finish", "yes", "done"),
    ("Action: calculator[(30 - 12) * 2]", "calculator", "(30 - 12) * 2", ""),
    ("Thought: two lines\nof thinking\nAction:  search [return window ShopRight]  ", "search",
     "return window ShopRight", "two lines\nof thinking"),
    ("Thought: a\nAction: finish[list[1]]", "finish", "list[1]", "a"),  # brackets inside the argument
    ("Thought: first\nAction: get_order[1]\nAction: get_order[2]", "get_order", "1", "first"),  # first only
])
def test_parser_on_well_formed_steps(text, tool, args, thought):
    step = parse_step(text)
    assert (step.tool, step.args, step.thought) == (tool, args, thought)


@pytest.mark.parametrize("text", [
    "", "I think the answer is yes.", "Thought: hmm\nAction get_order 123", "Action: get_order(123)",
    "Thought: x\nAction: [123]", "Action: get order[123]", "Thought: x\nAct: finish[yes]",
])
def test_parser_rejects_malformed_steps(text):
    with pytest.raises(ParseError):
        parse_step(text)


def test_parser_ignores_actions_after_an_invented_observation():
    text = "Thought: check\nObservation: status: delivered\nAction: finish[yes]"
    with pytest.raises(ParseError):  # the only action follows a fake observation
        parse_step(text)
    step = parse_step("Thought: a\nAction: get_order[1]\nObservation: total: 5\nAction: finish[5]")
    assert (step.tool, step.args) == ("get_order", "1")


def test_parser_keeps_adversarial_arguments_as_plain_text():
    step = parse_step("Action: calculator[__import__('os').system('rm -rf /')]")
    reg = builtin_tools(db=None)
    obs, ok = reg.run(step.tool, step.args)
    assert not ok and obs.startswith("Error:")


# -- tools -----------------------------------------------------------------------------
def _registry():
    reg = Registry()

    def add(a: int, b: int) -> str:
        """Add two whole numbers."""
        return str(a + b)

    def boom(x: str) -> str:
        """Always fails."""
        raise RuntimeError("kaput")

    reg.add("add", add)
    reg.add("boom", boom)
    return reg


def test_tools_typed_arguments_and_errors_become_observations():
    reg = _registry()
    assert reg.run("add", "2 | 40") == ("42", True)
    obs, ok = reg.run("add", "2")
    assert not ok and "takes 2 argument(s): add[a: int, b: int]" in obs
    obs, ok = reg.run("add", "two | 3")
    assert not ok and "must be a int" in obs
    obs, ok = reg.run("boom", "x")
    assert not ok and "RuntimeError: kaput" in obs
    obs, ok = reg.run("nope", "x")
    assert not ok and "unknown tool 'nope'" in obs and "add" in obs
    assert "- add[a: int, b: int]: Add two whole numbers." in reg.describe()
    with pytest.raises(GenlabError, match="docstring"):
        reg.add("nodoc", lambda x: x)


@pytest.mark.parametrize("expr,want", [("2 + 3 * 4", "14"), ("(30 - 12) / 4", "4.5"), ("$1,200.50 - 0.5", "1200"),
                                       ("-2 ** 2", "-4"), ("7 // 2 + 7 % 2", "4")])
def test_calculator_arithmetic(expr, want):
    assert builtin_tools(db=None).run("calculator", expr) == (want, True)


@pytest.mark.parametrize("expr", ["__import__('os')", "x + 1", "().__class__", "open('/etc/passwd')",
                                  "9 ** 9 ** 9", "1 / 0", "lambda: 1", "[1, 2]", "True + 1"])
def test_calculator_refuses_everything_but_arithmetic(expr):
    obs, ok = builtin_tools(db=None).run("calculator", expr)
    assert not ok and obs.startswith("Error:")


def test_calculator_computes_in_the_sandbox():
    reg = builtin_tools(db=None)
    assert reg.run("calculator", "30 - 12") == ("18", True)
    assert reg.run("calculator", "$1,200.50 / 2") == ("600.25", True)


# -- the database ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    from genlab.apps.orders_db import build_orders_db

    return build_orders_db(tmp_path_factory.mktemp("db") / "orders.sqlite")


def test_db_matches_the_generator_and_answers_questions(db_path):
    from genlab.apps.orders_db import OrdersDB
    from genlab.data.builtin.orders import generate_orders

    data = generate_orders()
    db = OrdersDB(db_path)
    first = data["orders"][0]
    row = db.order(first["order_number"])
    assert row["total"] == first["total"] and row["status"] == first["status"]
    name = next(c["name"] for c in data["customers"] if c["customer_id"] == first["customer_id"])
    assert row["customer"] == name
    assert first["order_number"] in [r["order_number"] for r in db.customer_orders(name.upper())]
    assert db.order("no-such") is None
    assert db.order("x' OR '1'='1") is None  # parameters, not string-built SQL


def test_tools_cannot_write_to_the_database(db_path):
    from genlab.apps.orders_db import OrdersDB

    db = OrdersDB(db_path)
    for sql in ("DELETE FROM orders", "UPDATE orders SET total = 0", "DROP TABLE customers",
                "INSERT INTO customers VALUES (9999, 'x', 'y')"):
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.con.execute(sql)
    before = db.order(db.customer_orders(db._query("SELECT name FROM customers LIMIT 1", ())[0]["name"])[0]
                      ["order_number"])
    reg = builtin_tools(db)
    obs, ok = reg.run("get_order", "1'; DROP TABLE orders; --")
    assert not ok and "no order" in obs
    assert db._query("SELECT count(*) AS n FROM orders", ())[0]["n"] > 0 and before


def test_missing_and_locked_database(db_path, tmp_path):
    from genlab.apps.orders_db import OrdersDB

    with pytest.raises(GenlabError, match="not found"):
        OrdersDB(tmp_path / "missing.sqlite")
    locked = tmp_path / "locked.sqlite"
    locked.write_bytes(db_path.read_bytes())
    writer = sqlite3.connect(locked)
    writer.execute("PRAGMA locking_mode = EXCLUSIVE")
    writer.execute("BEGIN EXCLUSIVE")
    try:
        db = OrdersDB(locked, timeout=0.1)
        with pytest.raises(GenlabError, match="locked"):
            db.order("123")
        obs, ok = builtin_tools(db).run("get_order", "123")  # inside the agent: an observation
        assert not ok and "locked" in obs
    finally:
        writer.rollback()
        writer.close()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(GenlabError, match="not a readable SQLite"):
        OrdersDB(junk).order("1")


def test_builtin_tools_answer_from_the_database(db_path):
    from genlab.apps.orders_db import OrdersDB
    from genlab.data.builtin.orders import TODAY, generate_orders

    reg = builtin_tools(OrdersDB(db_path))
    order = generate_orders()["orders"][3]
    obs, ok = reg.run("get_order", order["order_number"])
    assert ok and f"total: {order['total']}" in obs and f"status: {order['status']}" in obs
    assert reg.run("days_since", TODAY.isoformat()) == ("0", True)
    assert reg.run("days_since", "2026-11-10") == ("10", True)
    assert not reg.run("days_since", "last week")[1]


# -- generators ------------------------------------------------------------------------
def test_orders_and_questions_deterministic_varied_and_correct():
    import datetime as dt

    from genlab.data.builtin import generate
    from genlab.data.builtin.handbook import handbook_fact
    from genlab.data.builtin.orders import TODAY, generate_orders

    assert generate_orders() == generate_orders() and generate_orders(seed=1) != generate_orders()
    data = generate_orders()
    numbers = [o["order_number"] for o in data["orders"]]
    assert len(set(numbers)) == len(numbers) and any("-" in n for n in numbers)
    rows = generate("orders-agent", 300)
    assert rows == generate("orders-agent", 300) and rows[:20] == generate("orders-agent", 20)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"can_return", "total", "status", "item"}
    returns = [r for r in rows if r["kind"] == "can_return"]
    assert {r["answer"] for r in returns} == {"yes", "no"}
    by_number = {o["order_number"]: o for o in data["orders"]}
    for r in returns:  # recompute from the raw data and the handbook
        o = by_number[r["order_number"]]
        window = int(handbook_fact(o["company"], "return_window").answer.split()[0])
        ok = o["status"] == "delivered" and (TODAY - dt.date.fromisoformat(o["delivered_date"])).days <= window
        assert r["answer"] == ("yes" if ok else "no")
    unseen = generate("orders-agent", 40, part="unseen")
    assert not {r["question"] for r in unseen} & {r["question"] for r in rows}


# -- the loop ---------------------------------------------------------------------------
def test_agent_loop_with_scripted_steps_runs_tools_and_finishes(monkeypatch, db_path, tiny_causal):
    from genlab.apps import agent as agent_mod
    from genlab.apps.orders_db import OrdersDB
    from genlab.data.builtin.orders import generate_orders

    order = generate_orders()["orders"][0]
    outputs = iter(["garbage without an action", f" look it up\nAction: get_order[{order['order_number']}]",
                    " wrong tool\nAction: fly[home]", f" done\nAction: finish[${order['total']:.2f}]"])

    def fake_generate(lm, prompts, gen, **kw):
        from genlab.generation import Generation

        return [Generation(prompts[0], [next(outputs)], 1)]

    monkeypatch.setattr("genlab.generation.generate", fake_generate)
    run = run_agent(tiny_causal, "How much?", builtin_tools(OrdersDB(db_path)), AgentConfig(max_steps=5))
    assert run.stopped == "finish" and run.answer == f"${order['total']:.2f}"
    assert [s.tool for s in run.steps] == ["get_order", "fly", "finish"]
    assert run.steps[0].attempts == 2 and run.parse_failures == 1 and run.parse_attempts == 4
    assert f"total: {order['total']}" in run.steps[0].observation and not run.steps[1].ok
    assert "Observation: Error: unknown tool 'fly'" in run.transcript()
    assert agent_mod.FINISH == "finish"


def test_agent_with_a_tiny_random_model_respects_the_step_limit(tiny_causal, db_path):
    from genlab.apps.orders_db import OrdersDB

    run = run_agent(tiny_causal, "Can Ada Kim return order 123456?", builtin_tools(OrdersDB(db_path)),
                    AgentConfig(max_steps=2, retries=1, max_new_tokens=12))
    assert run.stopped in ("finish", "step_limit", "unparseable")
    assert len(run.steps) <= 2 and run.parse_attempts <= 2 * 2
    assert run.parse_attempts == run.parse_failures + len(run.steps)
    assert run.transcript().startswith("Question: Can Ada Kim")


def test_grade_exact_answers():
    from genlab.apps.agent_eval import grade

    assert grade("Yes, it can still be returned.", "yes") == 1.0
    assert grade("$392.51", "$392.51") == 1.0 and grade("392.51", "$392.51") == 1.0
    assert grade("No", "yes") == 0.0 and grade(None, "no") == 0.0 and grade("delivered.", "delivered") == 1.0
    assert grade("It was $392.51", "$392.51") == 0.0  # exact, not contained


def test_teacher_transcripts_run_the_real_tools_and_end_in_the_gold_answer(db_path, tiny_encoder_dir):
    from genlab.apps.agent import FINISH
    from genlab.apps.agent_tuning import TranscriptTask, teacher_steps
    from genlab.apps.chunking import ChunkConfig
    from genlab.apps.encoder import load_encoder
    from genlab.apps.kb_eval import handbook_index
    from genlab.apps.orders_db import OrdersDB
    from genlab.tasks import load_task

    encoder = load_encoder(str(tiny_encoder_dir))
    reg = builtin_tools(OrdersDB(db_path), handbook_index(encoder, ChunkConfig(200, 120)), encoder)
    rows = load_task("orders-agent").examples("train")[:24]
    assert {r["kind"] for r in rows} >= {"total", "status", "item", "can_return"}
    for row in rows:
        steps = teacher_steps(row, reg)
        assert all(s.ok for s in steps[:-1]) and steps[0].tool == "get_order"
        assert (steps[-1].tool, steps[-1].args) == (FINISH, row["answer"])
        if row["kind"] != "can_return":  # the thought carries the looked-up value the answer repeats
            assert row["answer"].lstrip("$") in steps[-1].thought
    pairs = TranscriptTask(reg).training_pairs("train", n=5)
    assert len(pairs) == 5 and all(t.startswith(" ") and "\nAction: " in t for _, t in pairs)


def test_orders_eval_scores_both_systems_and_its_report_shows_every_transcript(db_path, tiny_encoder_dir,
                                                                              tiny_causal, tmp_path):
    from genlab.apps.agent import AgentConfig
    from genlab.apps.agent_eval import evaluate_orders
    from genlab.apps.agent_report import write_report
    from genlab.apps.chunking import ChunkConfig
    from genlab.apps.encoder import load_encoder
    from genlab.apps.kb_eval import handbook_index
    from genlab.apps.orders_db import OrdersDB
    from genlab.tasks import load_task

    encoder = load_encoder(str(tiny_encoder_dir))
    index = handbook_index(encoder, ChunkConfig(200, 120))
    rows = load_task("orders-agent").examples("test")[:3]
    res = evaluate_orders(tiny_causal, rows, builtin_tools(OrdersDB(db_path), index, encoder), index=index,
                          encoder=encoder, cfg=AgentConfig(max_steps=2))
    assert res.n == 3 and set(res.metrics) == {"rag_only", "agent"} and len(res.runs) == 3
    assert res.parse_attempts >= 3 and 0 <= res.parse_success <= 1
    html = write_report(res, tmp_path / "report.html", "tiny").read_text()
    assert html.count("Question: ") == 3 and "RAG only (base model)" in html
    assert all(r["id"] in html and r["question"].replace("'", "&#x27;") in html for r in rows)
