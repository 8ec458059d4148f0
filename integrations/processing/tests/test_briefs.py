import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.processing.analysis import NextStep, next_steps_find
from integrations.processing.briefs import (
    ActionItem,
    Brief,
    BriefWriter,
    ExtractiveBriefWriter,
    brief_eligible,
)
from integrations.processing.transcript import Segment, segments_from_vtt, sentence_spans

ZOOM = Path(__file__).parent / "fixtures" / "zoom"
TITLE = "Acme discovery: call coaching and forecasting"


@pytest.fixture
def call():
    return segments_from_vtt((ZOOM / "discovery_call.vtt").read_text())


def write(call, title=TITLE):
    return ExtractiveBriefWriter().write(title=title, segments=call, next_steps=next_steps_find(call))


@pytest.mark.parametrize(("seconds", "eligible"), [(0, False), (599, False), (599.9, False), (600, True),
                                                    (3600, True)])
def test_no_brief_below_ten_minutes(seconds, eligible):
    assert brief_eligible(seconds) is eligible


def test_the_extractive_writer_is_a_brief_writer():
    writer: BriefWriter = ExtractiveBriefWriter()
    assert writer.engine == "extractive"


def test_summary_and_action_items_of_a_zoom_call(call):
    brief = write(call)
    lines = brief.summary.split("\n")
    assert 3 <= len(lines) <= 5
    said = {f"{s.speaker}: {s.text[a:b]}" for s in call for a, b in sentence_spans(s.text)}
    assert set(lines) <= said  # extractive: every line was said, attributed to its speaker
    order = [next(i for i, s in enumerate(call) if line.split(": ", 1)[1] in s.text) for line in lines]
    assert order == sorted(order)  # in spoken order
    assert not any(line.endswith("?") for line in lines)
    assert all(len(line.split(": ", 1)[1].split()) >= 6 for line in lines)
    assert lines[0] == ("Dana Whitfield: So the agenda today is to understand how your sales team reviews calls "
                        "and where forecasting breaks down for you.")
    assert brief.engine == "extractive"
    assert brief.action_items[0] == ActionItem("I can send over a formal quote after the call.", "Dana Whitfield")
    assert ActionItem("Let me check with Priya and get back to you on her availability.", "Marcus Lee") \
        in brief.action_items
    assert len(brief.action_items) == 7


def test_the_same_input_gives_the_same_brief(call):
    assert write(call) == write(list(call))


def test_the_brief_does_not_depend_on_hash_seeds():
    script = (
        "import json; from pathlib import Path;"
        "from integrations.processing.transcript import segments_from_vtt;"
        "from integrations.processing.analysis import next_steps_find;"
        "from integrations.processing.briefs import ExtractiveBriefWriter;"
        f"call = segments_from_vtt(Path({str(ZOOM / 'discovery_call.vtt')!r}).read_text());"
        f"b = ExtractiveBriefWriter().write(title={TITLE!r}, segments=call, next_steps=next_steps_find(call));"
        "print(json.dumps([b.summary, [[a.text, a.speaker] for a in b.action_items]]))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parents[3]).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop())[0].count("\n") >= 2


def test_repeated_sentences_are_not_summarised_twice():
    said = "Our forecasting spreadsheet breaks every quarter for the whole sales team."
    turns = [Segment("Al", i * 10, i * 10 + 9, t) for i, t in enumerate([
        said, said, "Forecasting accuracy matters to the board and the sales team every quarter.",
        "The sales team coaches reps from call recordings every week.", said,
        "Pricing for the sales team depends on seats and forecasting add-ons."])]
    lines = ExtractiveBriefWriter().write(title="", segments=turns, next_steps=[]).summary.split("\n")
    assert sum(said in line for line in lines) == 1


def test_title_words_weigh_more():
    topics = ["onboarding plan for new hires", "renewal contract terms", "office move next spring",
              "security review with legal", "dashboard rollout for managers"]
    turns = [Segment("Al", i * 5, i * 5 + 4, f"We spent some time on the {topic} today.")
             for i, topic in enumerate(topics)]
    writer = ExtractiveBriefWriter()
    untitled = writer.write(title="", segments=turns, next_steps=[]).summary
    assert untitled.count("\n") == 2  # three of the five
    left_out = next(t for t in topics if t not in untitled)
    titled = writer.write(title=left_out.title(), segments=turns, next_steps=[]).summary
    assert left_out in titled and titled.count("\n") == 2


def test_short_calls_and_chatter():
    writer = ExtractiveBriefWriter()
    assert writer.write(title="x", segments=[], next_steps=[]) == Brief("", [], "extractive")
    chatter = [Segment("Al", 0, 1, "Yeah."), Segment("Bo", 1, 2, "Okay, sure, sounds good."),
               Segment("Al", 2, 3, "Can you hear me now, is the audio working okay?")]
    step = NextStep("I'll send the notes.", "Bo", 2.5)
    assert writer.write(title="", segments=chatter, next_steps=[step]) == Brief(
        "", [ActionItem("I'll send the notes.", "Bo")], "extractive")


def test_summary_lines_are_clipped():
    long = "the forecasting rollout " + " ".join(f"topic{i} forecasting" for i in range(80))
    brief = ExtractiveBriefWriter().write(title="", segments=[Segment("Al", 0, 60, long)], next_steps=[])
    assert brief.summary.startswith("Al: the forecasting rollout") and brief.summary.endswith("…")
    assert len(brief.summary) <= len("Al: ") + 300


def test_action_items_are_capped():
    steps = [NextStep(f"I'll send item {i}.", "Al", i) for i in range(30)]
    brief = ExtractiveBriefWriter().write(title="", segments=[], next_steps=steps)
    assert [a.text for a in brief.action_items] == [f"I'll send item {i}." for i in range(10)]
