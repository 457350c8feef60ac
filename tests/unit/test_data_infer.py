"""A data file where a task is expected: input and target columns told from their names."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.errors import ConfigError, DataError, GenlabError
from genlab.tasks import load_task


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("columns, prompt_side", [
    (("prompt", "completion"), "P{i}"),
    (("question", "answer"), "P{i}"),
    (("input", "output"), "P{i}"),
    (("dialogue", "summary"), "Summarize this dialogue:\nP{i}"),
])
def test_common_shapes_render_input_and_target(tmp_path, columns, prompt_side):
    source, target = columns
    path = _jsonl(tmp_path / "mine.jsonl", [{"id": i, source: f"P{i}", target: f"T{i}"} for i in range(20)])
    task = load_task(str(path))
    assert task.name == "mine" and task.output_type == "generate"
    row = task.examples("train")[0]
    i = row["id"]
    assert task.variants()[0].render(row) == (prompt_side.format(i=i), f"T{i}")
    assert sum(len(task.examples(s)) for s in task.split_names()) == 20  # 80/10/10, every row once


def test_alpaca_input_is_optional_and_short_targets_score_quasi_exact_match(tmp_path):
    path = tmp_path / "alpaca.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["instruction", "input", "output"])
        for i in range(10):
            w.writerow([f"Translate word {i}", f"cat{i}" if i % 2 else "", f"chat{i}"])
    task = load_task(str(path))
    rendered = {r["output"]: task.variants()[0].render(r)[0] for s in task.split_names() for r in task.examples(s)}
    assert len(rendered) == 10  # empty inputs are not bad rows
    assert rendered["chat3"] == "Translate word 3\n\ncat3" and rendered["chat2"] == "Translate word 2"
    assert task.metrics == ["quasi_exact_match", "f1"] and task.generation == {"max_new_tokens": 16}
    assert "instruction + input -> output" in task.description


def test_long_targets_score_rouge_and_get_room_to_finish(tmp_path):
    summary = "word " * 300
    path = _jsonl(tmp_path / "docs.jsonl", [{"document": f"doc {i}", "summary": summary} for i in range(10)])
    task = load_task(str(path))
    assert task.metrics == ["rougeL", "rouge1", "bleu"]
    assert task.generation["max_new_tokens"] == 512  # 1.5 x 1500 characters / 4 per token, capped


def test_unknown_columns_name_them_and_print_a_yaml_to_start_from(tmp_path):
    path = _jsonl(tmp_path / "odd.jsonl", [{"foo": "a", "bar": "b"}])
    with pytest.raises(ConfigError) as err:
        load_task(str(path))
    text = err.value.render()
    assert "columns: foo, bar" in text  # in the file's order and 'jinja: "{{foo}} ||| {{bar}}"' in text
    assert "dataset: {path: odd.jsonl" in text
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="has no readable rows"):
        load_task(str(empty))


def test_eval_cli_takes_a_data_file_and_says_what_it_read(tiny_causal_dir, tmp_path):
    path = _jsonl(tmp_path / "qa.jsonl", [{"question": f"what is {i} plus {i}?", "answer": str(2 * i)}
                                          for i in range(30)])
    res = CliRunner().invoke(app, ["eval", "-m", str(tiny_causal_dir), "--task", str(path), "-n", "3", "--fp32",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "qa.jsonl: question -> answer" in res.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["metrics"]) == {"answer_accuracy", "exact_match"}  # numeric answers
    assert len((tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 3


def _conversations(path, n=20):
    rows = [{"messages": [{"role": "system", "content": "Answer in one word."},
                          {"role": "user", "content": f"Colour of item {i}?"},
                          {"role": "assistant", "content": f"Red{i}."},
                          {"role": "user", "content": "And its shape?"},
                          {"role": "assistant", "content": f"Round{i}."}]} for i in range(n)]
    return _jsonl(path, rows)


def test_conversations_prompt_with_every_earlier_turn_and_target_the_last_answer(tiny_causal, tmp_path):
    from genlab.prompts.chat import chat_prompt

    task = load_task(str(_conversations(tmp_path / "chat.jsonl")))
    assert task.metrics == ["quasi_exact_match", "f1"]
    assert "messages -> the last assistant turn" in task.description
    tok = tiny_causal.tokenizer
    (req,) = task.requests("test", n=1, tokenizer=tok)
    turns = req.raw["messages"]
    assert req.prompt == chat_prompt(tok, turns[:-1]) and req.target == turns[-1]["content"]
    assert turns[2]["content"] in req.prompt  # the earlier answer is context, not target
    rows = [{"messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": f"Hi {i}"},
                          {"role": "assistant", "content": "Yo."}]} for i in range(10)]
    dev = load_task(str(_jsonl(tmp_path / "dev.jsonl", rows)))
    assert dev.variants()[0].render(dev.examples("train")[0])[0][0] == {"role": "system", "content": "Be terse."}
    (plain,) = task.requests("test", n=1, chat=False)
    assert plain.prompt.startswith("System: Answer in one word.\n\nUser: Colour of item")
    assert plain.prompt.endswith("User: And its shape?\n\nAssistant:")
    with pytest.raises(ConfigError, match="few-shot demonstrations do not apply to a conversation task"):
        task.requests("test", n=1, shots=1)


def test_training_learns_every_answer_of_a_conversation_and_eval_scores_the_last(tiny_causal, tmp_path):
    from genlab.prompts.chat import chat_prompt

    task = load_task(str(_conversations(tmp_path / "chat.jsonl")))
    tok = tiny_causal.tokenizer
    first, last = task.training_pairs("train", n=1, tokenizer=tok)  # one conversation, two answers
    turns = last.raw["messages"]
    assert (first.prompt, first.target) == (chat_prompt(tok, turns[:2]), turns[2]["content"])
    assert (last.prompt, last.target) == (chat_prompt(tok, turns[:4]), turns[4]["content"])
    assert len(task.requests("train", n=1, tokenizer=tok)) == 1  # evaluation: the last answer only


def test_a_malformed_conversation_names_its_line(tmp_path):
    path = _conversations(tmp_path / "chat.jsonl", n=3)
    with path.open("a") as f:
        f.write(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "?"}]}) + "\n")
    task = load_task(str(path))
    with pytest.raises(GenlabError) as err:
        [task.variants()[0].render(r) for s in task.split_names() for r in task.examples(s)]
    assert "chat.jsonl:4" in err.value.render() and "ending with the assistant's answer" in err.value.render()


def test_tune_learns_from_a_conversation_file(tiny_causal_dir, tmp_path):
    from genlab.tuning import TrainConfig, tune

    cfg = TrainConfig(max_steps=2, batch_size=4, val_max_examples=2, val_generate=1, max_new_tokens=4, max_seq_len=128)
    res = tune(str(tiny_causal_dir), str(_conversations(tmp_path / "chat.jsonl")), "lora", {"r": 4}, cfg,
               tmp_path / "run", eval_cfg=None)
    assert (res.adapter_path / "adapter_config.json").is_file()


def test_a_dataset_folder_through_hf_keeps_its_own_splits_offline(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    folder = tmp_path / "tldr"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", [{"prompt": f"post {i}", "completion": f"short {i}"} for i in range(12)])
    _jsonl(folder / "test.jsonl", [{"prompt": f"new post {i}", "completion": f"gist {i}"} for i in range(4)])
    task = load_task(f"hf:{folder}")
    assert task.name == "tldr" and sorted(task.split_names()) == ["test", "train"]
    assert task.variants()[0].render(task.examples("test")[0]) == ("new post 0", "gist 0")
    assert f"hf:{folder}: prompt -> completion" in task.description


def test_eval_warns_when_test_inputs_occur_in_train(tiny_causal, tmp_path):
    from genlab.evaluation import evaluate
    from genlab.evaluation.task_eval import TrainOverlap

    dup = _jsonl(tmp_path / "dup.jsonl", [{"question": f"q{i % 5}", "answer": f"a{i}"} for i in range(40)])
    with pytest.warns(TrainOverlap, match=r"4 of 4 'test' examples have the same input as a train example"):
        result = evaluate(tiny_causal, str(dup), n=4, n_resamples=10)
    assert result.config["train_overlap"] == {"exact": 4, "of": 4}
    clean = _jsonl(tmp_path / "clean.jsonl", [{"question": f"q{i}", "answer": f"a{i}"} for i in range(40)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainOverlap)
        assert evaluate(tiny_causal, str(clean), n=4, n_resamples=10).config["train_overlap"] == {"exact": 0, "of": 4}


@pytest.mark.parametrize("answer_of", [lambda i: i % 3, lambda i: "ABC"[i % 3],
                                       lambda i: ["red", "green", "blue"][i % 3], lambda i: str(i % 3)])
def test_multiple_choice_rows_score_each_rows_own_choices(tmp_path, answer_of):
    rows = [{"question": f"Colour {i}?", "answer": answer_of(i),
             "choices": ["red", "green", "blue"] if i % 2 else ["red", "green", "blue", "x"]} for i in range(20)]
    task = load_task(str(_jsonl(tmp_path / "mc.jsonl", rows)))
    assert task.output_type == "multiple_choice" and task.metrics == ["acc", "acc_norm"]
    reqs = [r for s in task.split_names() for r in task.requests(s)]
    assert len(reqs) == 20
    for r in reqs:
        i = int(r.raw["question"].split()[1].rstrip("?"))
        assert r.choices == [" " + c for c in rows[i]["choices"]] and r.target_index == i % 3
        assert r.prompt.startswith(f"Colour {i}?\nA. red\nB. green\nC. blue") and r.prompt.endswith("\nAnswer:")
    (shot,) = task.requests("test", n=1, shots=1)
    assert shot.prompt.count("Answer:") == 2 and "\nAnswer: " in shot.prompt  # the demonstration reads "Answer: red"


def test_multiple_choice_from_csv_json_cells_and_a_bad_choice_list(tmp_path):
    path = tmp_path / "mc.csv"
    path.write_text('question,options,label\n"Sky?","[""blue"", ""green""]",0\n"Grass?","[""blue"", ""green""]",1\n'
                    '"Odd?","""not a list""",0\n')
    task = load_task(str(path))
    task.dataset["splits"] = {"test": 1.0}
    rows = task.examples("test")
    assert [task.variants()[0].render(r)[1] for r in rows[:2]] == ["blue", "green"]
    with pytest.raises(GenlabError, match='field "options" must be a list of at least 2 choices'):
        task.variants()[0].render(rows[2])
    from genlab.prompts.templates import JinjaTemplate

    with pytest.raises(ConfigError, match="answer_choices as a mapping is {field: COLUMN}"):
        JinjaTemplate("t", "{{q}} ||| {{a}}", {"column": "choices"})


def test_arc_rows_with_labelled_choices(tmp_path):
    rows = []
    for i in range(12):
        labels = ["A", "B", "C", "D"] if i % 2 else ["1", "2", "3"]
        rows.append({"question": f"Q{i}?", "choices": {"text": [f"t{i}-{j}" for j in range(len(labels))],
                                                      "label": labels}, "answerKey": labels[i % len(labels)]})
    task = load_task(str(_jsonl(tmp_path / "arc.jsonl", rows)))
    assert "choices -> answerKey (label)" in task.description
    reqs = [r for s in task.split_names() for r in task.requests(s)]
    for r in reqs:
        i = int(r.raw["question"][1:-1])
        assert r.target_index == i % (4 if i % 2 else 3) and r.target == f"t{i}-{r.target_index}"
    assert len(reqs) == 12


def test_a_recipe_fingerprints_a_parquet_task_by_its_bytes(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genlab.lifecycle.execute import _file_text

    path = tmp_path / "qa.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "q", "answer": "a"}]), path)
    first = _file_text(str(path))
    assert first.startswith("sha256:")
    pq.write_table(pa.Table.from_pylist([{"question": "q", "answer": "b"}]), path)
    assert _file_text(str(path)) != first  # edited data re-runs the stages
    assert _file_text("hf:owner/name") == "hf:owner/name"


def test_a_recipe_reads_its_task_file_beside_itself(tmp_path, monkeypatch):
    from genlab.lifecycle.recipe import load_recipe

    folder = tmp_path / "project"
    folder.mkdir()
    _jsonl(folder / "qa.jsonl", [{"question": "q", "answer": "a"}])
    (folder / "r.yaml").write_text("model: smollm2-135m-instruct\ntask: qa.jsonl\nforgetting: [reviews]\n"
                                   "stages: [zero-shot]\n")
    monkeypatch.chdir(tmp_path)  # run from elsewhere
    recipe = load_recipe(folder / "r.yaml")
    assert recipe.task == str(folder / "qa.jsonl") and recipe.forgetting == ["reviews"]
    assert load_task(recipe.task).name == "qa"


def test_generate_answers_a_conversation_from_a_prompt_file(tiny_causal, tmp_path):
    from genlab.cli.generate import read_prompt_file
    from genlab.generation import GenerationConfig
    from genlab.generation.generate import encode_prompts
    from genlab.prompts.chat import chat_prompt

    path = tmp_path / "p.jsonl"
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    path.write_text(json.dumps({"messages": turns}) + "\n" + json.dumps({"prompt": "Hello"}) + "\n")
    prompts = read_prompt_file(path)
    assert prompts == [turns, "Hello"]
    tok = tiny_causal.tokenizer
    ids = encode_prompts(tiny_causal, prompts, GenerationConfig(max_new_tokens=4), chat=True)
    assert ids[0] == tok(chat_prompt(tok, turns), add_special_tokens=False)["input_ids"]
    path.write_text(json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n")
    with pytest.raises(GenlabError, match="p.jsonl:1"):
        read_prompt_file(path)


def test_a_corpus_file_points_to_pretraining(tmp_path):
    path = _jsonl(tmp_path / "notes.jsonl", [{"id": 1, "text": "Once upon a time."}])
    with pytest.raises(ConfigError, match="holds documents") as err:
        load_task(str(path))
    assert "genlab pretrain --corpus notes.jsonl --text-field text" in err.value.render()
    labelled = _jsonl(tmp_path / "imdb.jsonl", [{"text": "Great film", "label": 1}])
    with pytest.raises(ConfigError, match="cannot tell which columns"):  # a classifier's data, not a corpus
        load_task(str(labelled))


def test_sharegpt_conversations(tiny_causal, tmp_path):
    from genlab.prompts.chat import chat_prompt

    rows = [{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": f"Hi {i}"},
                               {"from": "gpt", "value": f"Hello {i}."}]} for i in range(10)]
    task = load_task(str(_jsonl(tmp_path / "sharegpt.json", rows)))
    assert "conversations -> the last assistant turn" in task.description
    (req,) = task.requests("test", n=1, tokenizer=tiny_causal.tokenizer)
    i = req.target.split()[1].rstrip(".")
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Hi {i}"}]
    assert req.prompt == chat_prompt(tiny_causal.tokenizer, turns) and req.target == f"Hello {i}."


def test_text_and_label_is_classification_with_every_class_as_a_choice(tmp_path):
    rows = [{"sentence": f"movie {i}", "label": i % 3} for i in range(1200)]
    rows[-1]["label"] = 7  # a class past the rows sampled to tell the shape is still a choice
    task = load_task(str(_jsonl(tmp_path / "sst.jsonl", rows)))
    assert task.output_type == "multiple_choice" and task.metrics == ["acc", "macro_f1"]
    assert "classification, sentence -> label (4 classes: 0, 1, 2, 7)" in task.description
    assert "unlabeled" not in task.description
    req = task.requests("test", shots=0, n=3, seed=0)[0]
    assert req.choices == [" 0", " 1", " 2", " 7"] and req.prompt.endswith("- 7\nLabel:")
    row = next(r for r in task.examples("test") if r["sentence"] in req.prompt)
    assert req.choices[req.target_index] == f" {row['label']}"


def test_many_intents_are_classes_and_too_many_values_are_not(tmp_path):
    banking = load_task(str(_jsonl(tmp_path / "banking.jsonl", [{"text": f"m{i}", "label": f"intent_{i % 77}"}
                                                                 for i in range(300)])))
    assert "(77 classes:" in banking.description
    assert len(banking.requests("test", n=1)[0].choices) == 77
    with pytest.raises(ConfigError, match="cannot tell which columns"):
        load_task(str(_jsonl(tmp_path / "ids.jsonl", [{"text": f"m{i}", "label": f"id {i}"} for i in range(300)])))


def test_string_labels_sorted_and_a_text_pair(tmp_path):
    path = tmp_path / "nli.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Premise", "Hypothesis", "Label"])  # column names match in any case
        for i in range(30):
            w.writerow([f"p{i}", f"h{i}", ["entailment", "neutral", "contradiction"][i % 3]])
    task = load_task(str(path))
    assert "Premise + Hypothesis -> Label (3 classes: contradiction, entailment, neutral)" in task.description
    row = task.examples("train")[0]
    prompt, target = task.variants()[0].render(row)
    assert prompt.startswith(f"Premise: {row['Premise']}\nHypothesis: {row['Hypothesis']}\n\nOptions:")
    assert target == row["Label"]


def test_hub_class_names_and_an_unlabeled_test_split(tmp_path, monkeypatch, tiny_causal_dir):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    folder = tmp_path / "glue"
    folder.mkdir()
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    for split, labels in {"train": [0, 1] * 6, "validation": [1, 0] * 2, "test": [-1] * 4}.items():
        datasets.Dataset.from_dict({"sentence": [f"{split} {i}" for i in range(len(labels))], "label": labels},
                                   features=features).to_parquet(str(folder / f"{split}.parquet"))
    task = load_task(f"hf:{folder}")
    assert "(2 classes: negative, positive); rows labelled -1" in task.description
    assert task.variants()[0].render(task.examples("validation")[0])[1] == "positive"
    with pytest.raises(GenlabError) as err:
        task.requests("test", shots=0, n=1, seed=0)
    assert "no label" in err.value.render() and "--split" in err.value.render()
    res = CliRunner().invoke(app, ["eval", "-m", str(tiny_causal_dir), "--task", f"hf:{folder}", "--split",
                                   "validation", "--fp32", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["num_examples"] == 4


@pytest.mark.parametrize("rows, what, target, metrics", [
    ([{"question": f"What is {i}+{i}?", "answer": f"Add them.\n#### {i}"} for i in range(20)],
     "question -> answer", "Add them.\n#### {n}", ["answer_accuracy"]),  # GSM8K: the number after ####
    ([{"context": f"Paris {i} is in France.", "question": "Where?", "answers": {"text": ["France", "FR"],
                                                                                  "answer_start": [12, 0]}}
      for i in range(20)], "context + question -> answers.text[0]", "France", ["quasi_exact_match", "f1"]),
    ([{"question": f"Who {i}?", "answer": [f"Bob {i}", "Robert"]} for i in range(20)],  # NQ-open: answers
     "question -> answer[0]", "Bob {n}", ["quasi_exact_match", "f1"]),
    ([{"question": f"Who {i}?", "answer": {"value": f"Bob {i}", "aliases": ["Bob"]}} for i in range(20)],
     "question -> answer.value", "Bob {n}", ["quasi_exact_match", "f1"]),  # TriviaQA
    ([{"prompt": f"Say {i}", "chosen": f"Hello there {i}", "rejected": "Go away"} for i in range(20)],
     "prompt -> chosen (the chosen answers", "Hello there {n}", ["quasi_exact_match", "f1"]),
    ([{"problem": f"{i} + 0?", "answer": str(i)} for i in range(20)], "problem -> answer", "{n}",
     ["answer_accuracy", "exact_match"]),
    ([{"system_prompt": "Be brief." if i % 2 else "", "question": f"Q{i}?", "response": f"the reply number {i} here"}
      for i in range(20)], "question + system_prompt -> response", "the reply number {n} here",
     ["quasi_exact_match", "f1"]),  # OpenOrca: the system prompt, when a row has one, comes first
    ([{"translation": {"de": f"Hallo Welt {i}", "en": f"Hello big wide world {i}"}} for i in range(20)],
     "translation.de -> .en", "Hello big wide world {n}", ["bleu", "rougeL"]),
    ([{"Instruction": f"Summarize {i}", "Context": f"text {i}" if i % 2 else "", "Response": f"gist {i}"}
      for i in range(20)], "Instruction + Context -> Response", "gist {n}", ["quasi_exact_match", "f1"]),
    ([{"Question ": f"Q{i}?", "ANSWER": f"the answer is word {i} here"} for i in range(20)],
     "Question  -> ANSWER", "the answer is word {n} here", ["rougeL", "rouge1", "bleu"]),
])
def test_gsm8k_squad_wmt_dolly_and_column_names_in_any_case(tmp_path, rows, what, target, metrics):
    for i, r in enumerate(rows):
        r["n"] = i
    task = load_task(str(_jsonl(tmp_path / "data.jsonl", rows)))
    assert f"data.jsonl: {what}" in task.description and task.metrics == metrics
    for split in task.split_names():
        for row in task.examples(split):
            prompt, rendered = task.variants()[0].render(row)
            assert rendered == target.format(n=row["n"]) and prompt
    if "Instruction" in rows[0]:  # Dolly's context, when a row has one, follows the instruction
        rendered = {r["n"]: task.variants()[0].render(r)[0] for s in task.split_names() for r in task.examples(s)}
        assert rendered[1] == "Summarize 1\n\ntext 1" and rendered[2] == "Summarize 2"
    if "system_prompt" in rows[0]:
        rendered = {r["n"]: task.variants()[0].render(r)[0] for s in task.split_names() for r in task.examples(s)}
        assert rendered[1] == "Be brief.\n\nQ1?" and rendered[2] == "Q2?"
    if "translation" in rows[0]:
        assert task.variants()[0].render(rows[3])[0] == "Translate German to English:\nHallo Welt 3"


def test_a_target_column_that_is_not_text_says_so(tmp_path):
    path = _jsonl(tmp_path / "odd.jsonl", [{"question": f"q{i}", "answer": {"x": i}} for i in range(5)])
    with pytest.raises(ConfigError, match="target column 'answer' holds dict values, not text"):
        load_task(str(path))


def test_a_column_name_jinja_cannot_read_is_mapped_in_the_yaml_hint(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("User Input,Expected Output\n" + "".join(f"hi {i},hello {i}\n" for i in range(10)))
    with pytest.raises(ConfigError) as err:
        load_task(str(path))
    hint = err.value.hint
    start = hint.index("  name:")
    yaml_text = hint[start:hint.index("then pass")]
    (tmp_path / "odd.yaml").write_text(yaml_text)
    task = load_task(str(tmp_path / "odd.yaml"))  # the YAML the hint prints works as printed
    row = task.examples("train")[0]
    assert task.variants()[0].render(row) == (row["User Input"], row["Expected Output"])


def test_tune_on_a_classification_file_validates_by_choice_accuracy(tiny_causal_dir, tmp_path):
    from genlab.tuning import TrainConfig, tune

    path = _jsonl(tmp_path / "intent.jsonl", [{"text": f"please {i}", "intent": ["book", "cancel"][i % 2]}
                                             for i in range(40)])
    cfg = TrainConfig(max_steps=2, batch_size=4, val_max_examples=4, val_generate=3, max_seq_len=128)
    res = tune(str(tiny_causal_dir), str(path), "lora", {"r": 4}, cfg, tmp_path / "run", eval_cfg=None)
    logged = [json.loads(line) for line in (res.out_dir / "metrics.jsonl").read_text().splitlines()]
    accs = [r["val_acc"] for r in logged if "val_acc" in r]
    assert accs and all(a in (0, 1 / 3, 2 / 3, 1) for a in accs)  # over the 3 validation rows scored


def test_compressed_files_read_as_the_format_before_gz_bz2_xz(tmp_path):
    import bz2
    import gzip
    import lzma

    from genlab.data.loading import iter_file

    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(10)]
    with gzip.open(tmp_path / "qa.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    with gzip.open(tmp_path / "tab.tsv.gz", "wt") as f:
        f.write("question\tanswer\n" + "".join(f"q{i}\ta{i}\n" for i in range(10)))
    with bz2.open(tmp_path / "qb.csv.bz2", "wt") as f:
        f.write("question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(10)))
    with lzma.open(tmp_path / "qx.jsonl.xz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    cut = (tmp_path / "cut.jsonl.gz")
    cut.write_bytes((tmp_path / "qa.jsonl.gz").read_bytes()[:-6])
    with pytest.raises(DataError, match=r"cut.jsonl.gz: cannot decompress") as e:
        list(iter_file(cut))
    assert "suffix names its compression" in e.value.render()
    for name in ("qa.jsonl.gz", "tab.tsv.gz", "qb.csv.bz2", "qx.jsonl.xz"):
        task = load_task(str(tmp_path / name))
        assert task.name == name.split(".")[0] and f"{name}: question -> answer" in task.description
        got = sorted(r["answer"] for s in task.split_names() for r in task.examples(s))
        assert got == sorted(r["answer"] for r in rows)


def test_tune_cli_reads_a_data_file_once_and_records_its_path(tiny_causal_dir, tmp_path, monkeypatch):
    import genlab.data.infer as infer

    calls = []
    real = infer.task_spec_for_file
    monkeypatch.setattr(infer, "task_spec_for_file", lambda path: calls.append(path) or real(path))
    path = _jsonl(tmp_path / "qa.jsonl", [{"question": f"q {i}?", "answer": f"a{i}"} for i in range(20)])
    res = CliRunner().invoke(app, ["tune", "-m", str(tiny_causal_dir), "--task", str(path), "--method", "lora",
                                   "--max-steps", "1", "--no-test-eval", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert len(calls) == 1 and res.output.count("qa.jsonl: question -> answer") == 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"] == str(path)


def test_a_folder_of_split_files_is_a_task_with_those_splits(tmp_path, monkeypatch, tiny_causal_dir):
    import datasets

    from genlab.lifecycle.execute import _file_text

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    folder = tmp_path / "support"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", [{"question": f"q {i}?", "answer": f"a{i}"} for i in range(12)])
    _jsonl(folder / "test.jsonl", [{"question": f"new q {i}?", "answer": f"b{i}"} for i in range(4)])
    monkeypatch.chdir(tmp_path)
    task = load_task("support")  # a folder, not a built-in name
    assert task.name == "support" and sorted(task.split_names()) == ["test", "train"]
    assert task.description.startswith("support: question -> answer")
    res = CliRunner().invoke(app, ["eval", "-m", str(tiny_causal_dir), "--task", "support", "--fp32",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["num_examples"] == 4
    first = _file_text(str(folder))
    _jsonl(folder / "test.jsonl", [{"question": "other?", "answer": "c"}])
    assert _file_text(str(folder)) != first  # an edited file re-runs a recipe's stages
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenlabError, match="could not read the dataset folder empty"):
        load_task("empty")
