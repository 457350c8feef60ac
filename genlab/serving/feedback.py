"""``POST /v1/feedback``: users' thumbs-up / thumbs-down on the answers a server gave, kept for alignment.

Started with ``--feedback-file PATH``, the server appends one JSON line per vote:
``{"prompt": [turns before the reply], "completion", "label", "model", "comment"?, "time"}`` — the unpaired
rows ``genlab align dpo --loss kto -t PATH`` learns from (``genlab.alignment.kto``), the conversation kept as
turns so that training lays it out with the chat template as serving did. The playground's 👍/👎 buttons post
here. Without the flag the route answers 403 and says how to turn it on.

Each line is written whole (one ``write`` of the encoded line under a lock, then flushed to disk), so a
server killed mid-vote leaves at most a missing line, never a torn one in the middle of the file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from genlab.errors import DataError
from genlab.serving import protocol as P
from genlab.serving.protocol import APIError

_lock = threading.Lock()


def record(path: str | Path | None, body: dict, models: list[str]) -> dict:
    """Check a vote and append it to ``path``; the row written. APIError (4xx) on bad input or with no file."""
    from genlab.alignment.kto import read_label
    from genlab.prompts.templates import chat_turns

    if path is None:
        raise APIError(403, "this server does not record feedback; start it with --feedback-file PATH",
                       code="feedback_off", type="permission_error")
    model = body.get("model") or models[0]
    if model not in models:
        raise APIError(404, f"model '{model}' not found; this server has: {', '.join(models)}", param="model",
                       code="model_not_found")
    try:
        turns = chat_turns(body.get("messages"), "messages", None)
        label = read_label(body.get("label"), None)
    except DataError as e:
        raise P.bad(e.message, "messages" if "messages" in e.message else "label") from None
    completion = body.get("completion")
    if not isinstance(completion, str) or not completion.strip():
        raise P.bad("'completion' must be the reply's text", "completion")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise P.bad("'comment' must be text", "comment")
    row = {"prompt": turns, "completion": completion, "label": label, "model": model,
           **({"comment": comment} if comment else {}), "time": round(time.time(), 3)}
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock, open(path, "ab") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return row
