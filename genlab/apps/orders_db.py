"""The orders database for agents: a real SQLite file, read through fixed parameterized queries.

The agent never writes SQL. Its tools call the functions here, each a fixed
query with ``?`` parameters, on a connection opened read-only
(``file:...?mode=ro``): even a bug in a tool cannot change the data. A
missing file or a database locked by a writer is a ``GenlabError`` that says
what to do, and inside the agent an error observation, not a crash.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from genlab.errors import GenlabError

SCHEMA = """
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE orders (order_number TEXT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers,
                     company TEXT NOT NULL, order_date TEXT NOT NULL, delivered_date TEXT, status TEXT NOT NULL,
                     total REAL NOT NULL);
CREATE TABLE items (order_number TEXT NOT NULL REFERENCES orders, item TEXT NOT NULL, quantity INTEGER NOT NULL,
                    unit_price REAL NOT NULL);
CREATE INDEX customers_name ON customers(name);
"""


def build_orders_db(path: str | Path, seed: int = 0) -> Path:
    """Write the generated orders to a new SQLite file at ``path`` (atomically: built beside it, then renamed)."""
    from genlab.data.builtin.orders import generate_orders

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = generate_orders(seed=seed)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        con.executescript(SCHEMA)
        for table, rows in data.items():
            cols = list(rows[0])
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [tuple(r[c] for c in cols) for r in rows])
        con.commit()
        con.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def default_db_path() -> Path:
    from genlab.paths import genlab_home

    return genlab_home() / "apps" / "orders.sqlite"


def ensure_default_db() -> Path:
    path = default_db_path()
    return path if path.is_file() else build_orders_db(path)


class OrdersDB:
    """Read-only access to an orders database file."""

    def __init__(self, path: str | Path, *, timeout: float = 1.0):
        self.path = Path(path)
        if not self.path.is_file():
            raise GenlabError(f"orders database {self.path} not found",
                              hint="build it with genlab.apps.orders_db.build_orders_db(path), or omit --db")
        # mode=ro: SQLite itself refuses every write on this connection
        self.con = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, timeout=timeout,
                                   check_same_thread=False)
        self.con.row_factory = sqlite3.Row

    def _query(self, sql: str, params: tuple) -> list[dict]:
        try:
            return [dict(r) for r in self.con.execute(sql, params).fetchall()]
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise GenlabError(f"orders database {self.path} is locked by another process",
                                  hint="wait for the writer to finish and try again") from None
            raise GenlabError(f"orders database {self.path}: {e}",
                              hint="the file may be damaged: rebuild it") from None
        except sqlite3.DatabaseError as e:
            raise GenlabError(f"orders database {self.path} is not a readable SQLite file: {e}",
                              hint="rebuild it with build_orders_db") from None

    def order(self, order_number: str) -> dict | None:
        rows = self._query(
            "SELECT o.order_number, c.name AS customer, o.company, i.item, i.quantity, o.total, o.order_date, "
            "o.delivered_date, o.status FROM orders o JOIN customers c USING (customer_id) "
            "JOIN items i USING (order_number) WHERE o.order_number = ?", (order_number.strip(),))
        return rows[0] if rows else None

    def customer_orders(self, name: str) -> list[dict]:
        return self._query(
            "SELECT o.order_number, o.company, i.item, o.total, o.order_date, o.status FROM orders o "
            "JOIN customers c USING (customer_id) JOIN items i USING (order_number) "
            "WHERE lower(c.name) = lower(?) ORDER BY o.order_date", (name.strip(),))

    def close(self) -> None:
        self.con.close()
