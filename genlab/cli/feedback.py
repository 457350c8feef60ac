"""``genlab feedback collect|ai-label``: preference data from a person in the terminal, or from a judge.

``-k`` means shots in every genlab command, so the number of completions per prompt is ``--samples``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from genlab.cli.common import ModelOpt, help_when_bare

feedback_app = typer.Typer(help="Collect preference data: rank samples yourself, or let a judge and a "
                                "constitution do it.", invoke_without_command=True, callback=help_when_bare)

TaskOpt = typer.Option("support-summary", "--task", "-t", help="Task whose prompts to sample (`genlab data tasks`).")
SamplesOpt = typer.Option(4, "--samples", min=2, help="Completions sampled per prompt (-k means shots in genlab).")
LabelSamplesOpt = typer.Option(4, "--samples", min=1, help="Completions sampled per prompt, at least 2 to rank "
                                                          "(-k means shots in genlab).")
NOpt = typer.Option(20, "--n", "-n", min=1, help="Prompts (the first N of the split).")
SplitOpt = typer.Option("train", "--split", help="Split of the task's prompts.")
TempOpt = typer.Option(0.8, "--temperature", "-T", help="Sampling temperature.")
MaxNewOpt = typer.Option(96, "--max-new-tokens", help="Longest completion in tokens.")
SeedOpt = typer.Option(0, "--seed", help="Sampling seed.")


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


class _TerminalAsk:
    """Shows the prompt and numbered completions; reads a ranking (best first) from stdin, or with ``thumbs`` a
    good/bad label per completion."""

    def __init__(self, prompt_chars: int, thumbs: bool = False):
        from genlab.ui import console

        self.console, self.prompt_chars, self.quit, self.thumbs = console, prompt_chars, False, thumbs

    def __call__(self, prompt: str, completions: list[str], question: str):
        from rich.markup import escape
        from rich.panel import Panel
        from rich.text import Text

        from genlab.alignment.feedback import parse_ranking

        shown = prompt if len(prompt) <= self.prompt_chars else "..." + prompt[-self.prompt_chars:]
        self.console.print(Panel(Text(shown), title="prompt"))  # Text: model output is not rich markup
        if self.thumbs:
            return [self._label(c, i, len(completions), question) for i, c in enumerate(completions, 1)]
        for i, c in enumerate(completions, 1):
            self.console.print(Panel(Text(c), title=escape(f"[{i}]")))
        self.console.print(Text(question, style="bold"))
        while True:
            try:
                answer = input(f"rank best to worst (e.g. {' '.join(map(str, range(1, len(completions) + 1)))}), "
                               "s = skip, q = quit: ").strip()
            except EOFError:  # stdin closed: stop as with q
                answer = "q"
            if answer.lower() in ("q", "quit"):
                self.quit = True
                raise _Quit
            if answer.lower() in ("s", "skip", ""):
                return None
            try:
                return parse_ranking(answer, len(completions))
            except ValueError as e:
                self.console.print(Text(str(e), style="yellow"))

    def _label(self, completion: str, i: int, k: int, question: str) -> bool | None:
        from rich.markup import escape
        from rich.panel import Panel
        from rich.text import Text

        self.console.print(Panel(Text(completion), title=escape(f"[{i}/{k}]")))
        self.console.print(Text(question, style="bold"))
        while True:
            answer = self._input("good reply? y = good, n = bad, s = leave out, q = quit: ").lower()
            if answer in ("y", "yes", "g", "good", "+"):
                return True
            if answer in ("n", "no", "b", "bad", "-"):
                return False
            if answer in ("s", "skip", ""):
                return None
            self.console.print(Text("answer y, n, s or q", style="yellow"))

    def _input(self, text: str) -> str:
        try:
            answer = input(text).strip()
        except EOFError:  # stdin closed: stop as with q
            answer = "q"
        if answer.lower() in ("q", "quit"):
            self.quit = True
            raise _Quit
        return answer


class _Quit(Exception):
    pass


@feedback_app.command("collect")
def collect_cmd(
    model: str = ModelOpt, task: str = TaskOpt, samples: int = LabelSamplesOpt, n: int = NOpt,
    out: Path = typer.Option(..., "--out", help="JSONL file of rankings (appended to; a re-run continues)."),
    criterion: str = typer.Option("faithful", "--criterion",
                                  help="helpful | harmless | faithful, or a sentence of your own."),
    split: str = SplitOpt, temperature: float = TempOpt, max_new_tokens: int = MaxNewOpt, seed: int = SeedOpt,
    prompt_chars: int = typer.Option(1200, "--prompt-chars", help="Show at most this many characters of a prompt."),
    thumbs: bool = typer.Option(False, "--thumbs", help="Label each completion good or bad instead of ranking "
                                                        "them: unpaired feedback for KTO (--samples may be 1)."),
) -> None:
    """Rank sampled completions in the terminal (or label each good or bad, --thumbs); each answer is saved at
    once (Ctrl-C loses nothing)."""
    from genlab.alignment.feedback import collect_feedback
    from genlab.ui import RichReporter, console

    ask = _TerminalAsk(prompt_chars, thumbs)
    try:
        res = collect_feedback(model, task, out, ask, k=samples, n=n, criterion=criterion, split=split,
                               temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, thumbs=thumbs,
                               reporter=RichReporter())
    except _Quit:
        from genlab.alignment.feedback import read_done

        prompts = len({r.get("id") for r in read_done(out)})
        console.print(f"stopped; {prompts} {'labelled' if thumbs else 'ranked'} prompt(s) kept in {out} (run the "
                      "same command to continue)")
        return
    if thumbs:
        console.print(f"{res['ranked']} labelled now, {res['skipped']} skipped; {res['total']} prompt(s) in "
                      f"{res['path']}: {res['good']} good and {res['bad']} bad replies (genlab align dpo --loss kto "
                      f"-t {res['path']})")
        return
    console.print(f"{res['ranked']} ranked now, {res['skipped']} skipped; {res['total']} prompt(s) in {res['path']} "
                  f"= {res['pairs']} preference pairs (genlab align reward -t {res['path']})")


@feedback_app.command("ai-label")
def ai_label_cmd(
    model: str = ModelOpt, task: str = TaskOpt, samples: int = SamplesOpt, n: int = NOpt,
    out: Path = typer.Option(..., "--out", help="JSONL file of preference pairs (a re-run continues)."),
    constitution: Path = typer.Option(..., "--constitution", help="YAML list of principles (see "
                                                                    "genlab/alignment/constitutions/support.yaml)."),
    judge: str = typer.Option("rule", "--judge", help="rule (offline: toxicity + the constitution's checks) or a "
                                                      "model name for an LLM judge."),
    mode: str = typer.Option("rank", "--mode", help="rank (pairs from the judge's ranking) | revise "
                                                    "(critique and revise: revision preferred)."),
    split: str = SplitOpt, temperature: float = TempOpt, max_new_tokens: int = MaxNewOpt, seed: int = SeedOpt,
) -> None:
    """Preference pairs from a judge applying a constitution (RLAIF / Constitutional AI), no person needed."""
    from genlab.alignment.constitution import load_constitution
    from genlab.alignment.feedback import ai_label
    from genlab.alignment.judges import make_judge
    from genlab.ui import RichReporter, console

    judge_ = make_judge(judge, load_constitution(constitution))
    res = ai_label(model, task, out, judge_, k=samples, n=n, mode=mode, split=split, temperature=temperature,
                   max_new_tokens=max_new_tokens, seed=seed, reporter=RichReporter())
    console.print(f"{res['prompts']} prompt(s) judged by {judge_.name}: {res['pairs']} new pair(s), "
                  f"{res['total_pairs']} in {res['path']}")
