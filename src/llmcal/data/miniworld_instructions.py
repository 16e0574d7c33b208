"""Mini-world stand-ins for Alpaca, OpenAssistant oasst1 and GPT-4-LLM comparison data.

Written in the published formats under ``world_dir/instructions/`` so the mini
preset runs the same readers (:mod:`llmcal.data.instructions`) as the paper::

    alpaca_data.json            [{instruction, input, output}]
    oasst.jsonl                 oasst1 messages, one a line, trees root first
    comparison_data_v2.json     [{user_input, responses_and_scores: [{response, score, source}]}]

All three talk about the world's facts, so tuning a mini model on them is
tuning on knowledge it was pretrained on, as with LLaMA and the real sets.

Section 6.2 attributes the Alpaca/OA difference to how the sets were made, and
that is mirrored on purpose:

* The Alpaca stand-in is built the self-instruct way: a seed pool of nine tasks
  (``ALPACA_SEEDS``), each expanded into many near-duplicates. An instance keeps
  its seed's instruction, lightly reworded as a generator would, and the seed's
  one response format (the same corpus wording, the same frame). Each seed asks
  about one area (capitals, biographies, animals, companies, ...), and content is
  concentrated as self-instruct output is: subjects are drawn with probability
  proportional to popularity ** ``ALPACA_SKEW``, so the same favourite entities
  and facts recur across many instances. About 40% of rows have an input.
* The OA stand-in is crowd-like: twenty kinds of request (questions, one-word
  answers, explanations short and multi-paragraph, stories, poems, jokes,
  recipes, travel plans, advice, comparisons, summaries, role-play, pros and
  cons, letters, opinions), each with its own vocabulary, in casual, personal
  and emotional registers; facts are drawn uniformly. It comes as ranked trees
  with deleted, non-English, unreviewed, unranked and multi-turn parts for the
  converter to skip (450-500 English single-turn pairs from 600 trees).

Only diversity was tuned (the skew, the seed pool, the OA kinds), measured with
``bench/instruction_diversity.py`` (the embedder's mean pairwise cosine distance
of the responses, as Figure 6's rule computes it); never a calibration result.
Every response stays a correct statement of world facts (lesser OA replies are
worse but not wrong), so the tuning data never teaches a false fact.

Two leakage rules: facts in the world's MMLU test split are never stated, so
tuning cannot teach test answers; and neither MMLU question wording nor the
T-REx-only sentence templates are used, so the evaluation prompts stay unseen.

Randomness comes from ``random.Random`` seeded with strings, one stream per
file; output is byte-identical for a given world and seed.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from llmcal.data.instructions import build_comparison, oasst_single_turn
from llmcal.data.miniworld import CONCEPTS, REL, _render

ALPACA_FILE = "alpaca_data.json"
OASST_FILE = "oasst.jsonl"
COMPARISON_FILE = "comparison_data_v2.json"


# --------------------------------------------------------------------------
# The facts instruction data may state


@dataclass(frozen=True)
class _Fact:
    relation: str
    subject: str  # entity id
    object: str
    s: str  # subject name
    o: str  # object name
    weight: float = 1.0  # how often the corpus states it


class _View:
    """The world's non-test facts, indexed the ways the writers look them up."""

    def __init__(self, world: dict):
        self.entities = {e["id"]: e for e in world["entities"]}
        self.facts = [
            _Fact(f["relation"], f["subject"], f["object"], f["subject_name"], f["object_name"], f.get("weight", 1.0))
            for f in world["facts"]
            if not str(f.get("mmlu") or "").endswith("/test")
        ]
        if not self.facts:
            raise ValueError("the world has no facts outside its MMLU test split to write about")
        self.own: dict[str, dict[str, _Fact]] = defaultdict(dict)
        self.about: dict[str, list[_Fact]] = defaultdict(list)
        self.by_relation: dict[str, list[_Fact]] = defaultdict(list)
        for f in self.facts:
            self.own[f.subject][f.relation] = f
            self.about[f.object].append(f)
            self.by_relation[f.relation].append(f)
        # Wrong answers of the right type: other objects the relation has anywhere in the world.
        self.objects = {r: sorted({f["object_name"] for f in world["facts"] if f["relation"] == r}) for r in REL}
        self.named = [e for e in world["entities"] if e["kind"] not in CONCEPTS]

    def topic(self, entity_id: str) -> str:
        e = self.entities[entity_id]
        return f"the {e['name']}" if e["kind"] in ("animal", "river") else e["name"]

    def subjects_with(self, *relations: str) -> list[str]:
        return sorted(s for s, facts in self.own.items() if all(r in facts for r in relations))


def _state(f: _Fact, template: int = 0, obj: str | None = None) -> str:
    """A corpus-style sentence stating f (with ``obj`` in place of its object, for wrong answers)."""
    return _render(REL[f.relation].train[template], f.s, f.o if obj is None else obj)[0]


def _state_any(rng: random.Random, f: _Fact) -> str:
    return _state(f, rng.randrange(len(REL[f.relation].train)))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _inline(sentence: str) -> str:
    """A sentence to follow "I think " etc.: lowercase its first word unless it is a name."""
    first = sentence.split(" ", 1)[0]
    return sentence[:1].lower() + sentence[1:] if first in ("The", "In", "By") else sentence


# --------------------------------------------------------------------------
# Alpaca: self-instruct style, a few seed tasks expanded into near-duplicates

# How strongly the "generator" favours popular facts: a fact is drawn with probability proportional to
# its corpus weight to this power (1 would follow the corpus; self-instruct output is far more concentrated).
ALPACA_SKEW = 3.0

# Worded unlike the MMLU questions and the corpus's Q&A lines.
ASK = {
    "capital": "Name the capital city of {s}.",
    "located_in": "Identify the country in which the city of {s} lies.",
    "flows_through": "Name the country that the {s} flows through.",
    "born_in": "Name the city where {s} was born.",
    "occupation": "State the profession of {s}.",
    "founded_by": "Identify the founder of {s}.",
    "headquarters": "Name the city where {s} has its head office.",
    "product": "State the main product of {s}.",
    "habitat": "Name the natural habitat of the {s}.",
    "diet": "State what the {s} feeds on.",
    "taxon": "Classify the {s} as a bird, fish, mammal, reptile, insect or amphibian.",
}
# The leading verbs a generator swaps among when it paraphrases an ASK instruction.
ASK_VERBS = ("Name", "Identify", "State")
KIND_NAMES = {
    "country": "a country",
    "city": "a city",
    "river": "a river",
    "person": "a person",
    "company": "a company",
    "animal": "an animal",
}
CLASSIFY = "Classify the following name as a country, a city, a river, a person, a company or an animal."
# The generator rewords each seed instruction a little; the seed's own wording (the first) comes most often.
SEED_WORDING_WEIGHTS = (6, 2, 1, 1)


class _Favourites:
    """The generator's favourite topics: entities drawn with a strong popularity skew (``ALPACA_SKEW``).

    Facts are drawn by drawing their subject first, so a favourite entity's facts all recur across the
    seed tasks, as the same popular topics do across self-instruct's generations.
    """

    def __init__(self, view: _View, skew: float):
        self.view = view
        self.weight = {e["id"]: e.get("popularity", 1.0) ** skew for e in view.named}
        self._pools: dict[tuple, tuple[list[str], list[float]]] = {}

    def subject(self, rng: random.Random, *relations: str, kind: str | None = None) -> str | None:
        """A favourite subject with a fact of any of ``relations`` (all when none given), or None."""
        key = (relations, kind)
        if key not in self._pools:
            own, wanted = self.view.own, set(relations or REL)
            subjects = [
                s
                for s in sorted(own)
                if wanted & set(own[s]) and (kind is None or self.view.entities[s]["kind"] == kind)
            ]
            self._pools[key] = (subjects, list(accumulate(self.weight.get(s, 0.0) for s in subjects)))
        subjects, cum = self._pools[key]
        return rng.choices(subjects, cum_weights=cum)[0] if subjects and cum[-1] > 0 else None

    def fact(self, rng: random.Random, *relations: str) -> _Fact | None:
        subject = self.subject(rng, *relations)
        if subject is None:
            return None
        facts = [f for r, f in sorted(self.view.own[subject].items()) if not relations or r in relations]
        return rng.choice(facts)

    def named(self, rng: random.Random) -> dict:
        cum = list(accumulate(self.weight[e["id"]] for e in self.view.named))
        return rng.choices(self.view.named, cum_weights=cum)[0]


def _wording(rng: random.Random, wordings: tuple[str, ...], **slots: str) -> str:
    return rng.choices(wordings, weights=SEED_WORDING_WEIGHTS[: len(wordings)])[0].format(**slots)


def _row(instruction: str, output: str, input: str = "") -> dict:
    return {"instruction": instruction, "input": input, "output": output}


def _profile(view: _View, subject: str, relations: tuple[str, ...]) -> str:
    """The subject's facts of ``relations``, in that order, each in its first corpus wording."""
    return " ".join(_state(view.own[subject][r]) for r in relations if r in view.own[subject])


@dataclass(frozen=True)
class _Seed:
    """One seed task: its instruction rewordings, the relations it asks about, and its one response format.

    ``ask`` is "one" (one fact per instance) or "profile" (all the subject's facts of ``relations``);
    ``input`` says what the instance's input holds: "" (none), "name", "question" or "blank".
    """

    name: str
    weight: int
    wordings: tuple[str, ...]
    relations: tuple[str, ...]
    ask: str = "one"
    input: str = ""
    template: int = 0  # the corpus wording of the stated fact
    frame: str = "{out}"  # the response around the stated fact(s): {out}, {t} topic, {s} subject, {o} object


ALPACA_SEEDS = (
    _Seed(
        "capital",
        14,
        (
            "Name the capital city of {t}.",
            "Name the capital of {t}.",
            "Identify the capital city of {t}.",
            "State the capital city of {t}.",
        ),
        ("capital",),
        template=3,
        frame="{out} As the capital, {o} is the political and administrative centre of {s}.",
    ),
    _Seed(
        "city",
        8,
        (
            "Identify the country in which the following city lies.",
            "Identify the country where the following city lies.",
            "Name the country in which the following city lies.",
            "Identify the country in which the following city is located.",
        ),
        ("located_in",),
        input="name",
        template=2,
        frame="{out} Therefore, the answer is {o}.",
    ),
    _Seed(
        "river",
        6,
        (
            "Name the country that {t} flows through.",
            "Name the country {t} flows through.",
            "Identify the country that {t} flows through.",
            "State the country that {t} flows through.",
        ),
        ("flows_through",),
        frame="{out} Therefore, the answer is {o}.",
    ),
    _Seed(
        "biography",
        14,
        (
            "Write a short biography of {t}.",
            "Write a brief biography of {t}.",
            "Write a short biography for {t}.",
            "Give a short biography of {t}.",
        ),
        ("occupation", "born_in"),
        ask="profile",
        frame="Here is a short biography of {t}:\n\n{out}",
    ),
    _Seed(
        "company",
        12,
        (
            "Write a short company profile of {t}.",
            "Write a brief company profile of {t}.",
            "Write a short profile of the company {t}.",
            "Write a company profile of {t}.",
        ),
        ("founded_by", "headquarters", "product"),
        ask="profile",
        frame="Here is a short company profile of {t}:\n\n{out}",
    ),
    _Seed(
        "animal",
        14,
        (
            "Describe {t} in a few sentences.",
            "Describe {t} briefly.",
            "Write a few sentences describing {t}.",
            "Describe {t} in a few short sentences.",
        ),
        ("taxon", "habitat", "diet"),
        ask="profile",
        frame="Here is a short description of {t}:\n\n{out}",
    ),
    _Seed(
        "question",
        12,
        (
            "Answer the following question in one sentence.",
            "Answer the following question.",
            "Answer the question below in one sentence.",
            "Provide a one-sentence answer to the following question.",
        ),
        (),
        input="question",
        frame="The answer is {o}. {out}",
    ),
    _Seed(
        "blank",
        8,
        (
            "Fill in the blank in the following sentence.",
            "Fill in the blank.",
            "Complete the following sentence by filling in the blank.",
            "Fill in the blank in the sentence below.",
        ),
        (),
        input="blank",
        frame="The missing word is {o}. The completed sentence is: {out}",
    ),
    _Seed(
        "classify",
        6,
        (
            CLASSIFY,
            "Classify the following name as a country, city, river, person, company or animal.",
            "Classify the following as a country, a city, a river, a person, a company or an animal.",
            "Classify the following name into one of these categories: country, city, river, person, company, animal.",
        ),
        (),
        ask="kind",
        input="name",
    ),
)


def _alpaca_instance(fav: _Favourites, rng: random.Random, seed: _Seed) -> dict | None:
    view = fav.view
    if seed.ask == "kind":
        e = fav.named(rng)
        output = seed.frame.format(out=f"{e['name']} is {KIND_NAMES[e['kind']]}.", s=e["name"])
        return _row(_wording(rng, seed.wordings), output, e["name"])
    if seed.ask == "profile":
        subject = fav.subject(rng, *seed.relations)
        if subject is None:
            return None
        name = view.entities[subject]["name"]
        output = seed.frame.format(out=_profile(view, subject, seed.relations), t=view.topic(subject), s=name)
    else:
        f = fav.fact(rng, *seed.relations)
        if f is None:
            return None
        subject, name = f.subject, f.s
        output = seed.frame.format(out=_state(f, seed.template), t=view.topic(subject), s=f.s, o=f.o)
    instruction = _wording(rng, seed.wordings, t=view.topic(subject))
    if seed.input == "question":
        return _row(instruction, output, _question(f))
    if seed.input == "blank":
        return _row(instruction, output, _render(REL[f.relation].train[seed.template], f.s, "___")[0])
    return _row(instruction, output, name if seed.input == "name" else "")


def _alpaca_data(view: _View, rng: random.Random, n: int) -> list[dict]:
    fav = _Favourites(view, ALPACA_SKEW)
    weights = [s.weight for s in ALPACA_SEEDS]
    rows = []
    while len(rows) < n:
        row = _alpaca_instance(fav, rng, rng.choices(ALPACA_SEEDS, weights=weights)[0])
        if row is not None:
            rows.append(row)
    return rows


# --------------------------------------------------------------------------
# OpenAssistant: varied tasks and tones, in trees


@dataclass(frozen=True)
class _Thread:
    prompt: str
    best: str
    fact: _Fact  # what the lesser replies fall back on
    topic: str


_ALTERNATIVES = re.compile(r"\[([^\[\]]*)\]")


def _vary(rng: random.Random, template: str, **slots: str) -> str:
    """Pick one of each ``[a|b|c]`` in ``template``, then fill its ``{slots}``."""
    return _ALTERNATIVES.sub(lambda m: rng.choice(m.group(1).split("|")), template).format(**slots)


# Templates: "[a|b]" is one random alternative, "{x}" a slot; "[|x]" makes x optional.
ASK_PROMPT = (
    "[hey, quick question: {q}|{q}|I was reading about {t} earlier and got curious. {q}"
    "|{q} My teacher asked us today and I totally forgot 😅|Settle an argument for me. {q}"
    "|Random thought, but... {q}|Can you help me out? {q} Thanks in advance!"
    "|My kid just asked me this and I had no idea: {q}]"
)
ASK_REPLY = (
    "[Sure! {st} Let me know if you'd like to know more about {t}.|Good question. {st}"
    "|{st} Hope that settles it!|Happy to help: {st}|Of course. {st} It's a common thing to mix up."
    "|{st} Feel free to ask if anything else about {t} comes up.|Here's the short answer: {st}]"
)
EXPLAIN_PROMPT = (
    "[Can you tell me about {t}?|What do you know about {t}?"
    "|I keep hearing about {t}. What's the story there?|Give me a quick overview of {t}, please."
    "|Explain {t} to me like I'm ten.|Write a paragraph about {t} for my school project.]"
)
EXPLAIN_INTRO = "[Here's what I know. |Sure, here is a quick overview. |Happy to explain! |]"
EXPLAIN_MORE = " [Also|In addition|Interestingly|On top of that|Besides that], "
EXPLAIN_CLOSER = "[ I hope this helps!| Let me know if you want more detail.| Good luck with your project!|]"
PERSON_STORY_PROMPT = (
    "[Write a short story about {p}.|Tell me a bedtime story about {p}, the {job}."
    "|Could you write a little tale featuring {p}? Make it heartwarming.]"
)
PERSON_STORY = (
    "[Once upon a time|Long ago|Not so long ago], in the city of {city}, there lived {a_job} named {p}. "
    "Every day, {p} {day}. [One day, a stranger arrived with a mysterious letter."
    "|One winter, a terrible storm came.|Then, one morning, everything changed."
    "|But one evening, an old friend knocked at the door.] "
    "[In the end, everyone agreed it had been the best year of their lives."
    "|And from that day on, nothing was ever quite the same.|The town still tells the story today."
    "|And that, dear reader, is how the legend began.]"
)
OCCUPATION_DAYS = {
    "painter": "painted the hills at dawn",
    "farmer": "worked in the fields from sunrise to sunset",
    "doctor": "cared for the sick",
    "singer": "sang in the town square",
    "teacher": "taught the children to read",
    "sailor": "sailed out at first light",
    "poet": "wrote verses by candlelight",
    "baker": "baked bread before dawn",
    "judge": "listened patiently to every case",
    "writer": "filled notebook after notebook",
    "builder": "built houses for new families",
    "merchant": "traded goods at the market",
}
ANIMAL_STORY_PROMPT = (
    "[Write a children's story about the {a}."
    "|Can you make up a tiny story about a {a} for my daughter? She loves animals!"
    "|Explain like I'm five: where does the {a} live and what does it eat?]"
)
ANIMAL_STORY = (
    "Deep in the {home}, a little {a} woke up feeling very hungry. "
    "[It sniffed the air|It stretched and yawned|It peeked outside] and went looking for {food}, "
    "its favourite food. [After a long search|Before long|With a little help from a friend], it found "
    "plenty and [ate until it was full|shared it with its family]. "
    "[The end!|Sweet dreams!|And the {home} was peaceful again.]"
)
POEM_PROMPT = (
    "[Write a short poem about the {r}.|Compose a little poem about the {r}, please"
    "|can u write me a poem about the {r}? something calm]"
)
POEM = (
    "The {r}, so wide and slow,\nThrough {country} [it loves to flow|its waters go|it winds below].\n"
    "[Past fields of gold|Past towns of old|Through morning cold] [and skies of grey|by night and day"
    "|it finds its way],\n[It sings|It hums|It dreams] the quiet hours away."
)
OPINION_PROMPT = (
    "[Would you rather visit {a} or {b}?"
    "|Which sounds nicer to you, {a} or {b}? I can't decide where to travel this summer."
    "|I'm thinking of moving to {a} or maybe {b}. Thoughts?]"
)
OPINION = (
    "[That is a fun one to think about!|Tough choice!|Both could be great.] {a} is a city in {a_country}, "
    "while {b} is in {b_country}. [Personally|If it were me|Honestly], I'd lean towards {pick}, "
    "[just for the change of scenery|since it sounds a little quieter|mostly on a whim]. "
    "[But it really depends on what you enjoy.|Whatever you pick, have a great time!]"
)
EMOTIONAL_PROMPT = (
    "[I'm so stressed about my quiz tomorrow 😟|Ugh, long day and my brain is fried."
    "|My grandmother used to tell me about {t} and I really miss her."
    "|I feel kind of dumb asking this, but|Honestly I'm a bit embarrassed I don't know this.] {q}"
)
EMOTIONAL = (
    "[Take a deep breath, you've prepared more than you think.|That sounds tough, I'm sorry."
    "|There's nothing dumb about asking!|No worries at all.] {st}"
    "[ You've got this!| Be kind to yourself today.| Ask me anything else whenever you like.|]"
)
LETTER_PROMPT = (
    "[Write a thank-you note to {p} for founding {c}.|Help me write a short letter to {p}, who started {c}.]"
)
LETTER = (
    "Dear {p},\n\nThank you for founding {c}. {more}[It has made a real difference to many people."
    "|Your work inspires me.]\n\n[Warm regards|Best wishes|With gratitude],\nA grateful customer"
)
JOB_PROMPT = "[I got a job offer from {c}. Should I take it?|Thinking about applying to {c}. What should I know first?]"
JOB = (
    "[Congratulations!|Exciting!|Good on you for doing your research.] {facts} Whether it is right for you "
    "depends on the pay, the commute and the people you'd work with, "
    "[so trust your gut.|so ask to meet the team first.]"
)
LIST_PROMPT = "[List some cities in {c}.|What are a few towns I could visit in {c}?|name cities in {c} pls]"
LIST_BULLETS = "Here are a few cities in {c}:\n{bullets}\n[Enjoy your trip!|There are more, of course.]"
LIST_SENTENCE = "Sure! {cities} are all in {c}."
FUN_FACT_PROMPT = (
    "[Tell me a fun fact about {t}!|Give me something interesting about {t} 🙂"
    "|what's one thing everyone should know about {t}]"
)
FUN_FACT = "[Here's one: {st} Pretty neat, right?|Did you know? {st}|Fun fact: {st} 🙂]"


def _question(f: _Fact) -> str:
    return _render(REL[f.relation].qa, f.s)[0]


def _oa_ask(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    t = view.topic(f.subject)
    return _Thread(_vary(rng, ASK_PROMPT, q=_question(f), t=t), _vary(rng, ASK_REPLY, st=_state_any(rng, f), t=t), f, t)


def _oa_explain(view: _View, rng: random.Random) -> _Thread | None:
    subjects = [s for s in sorted(view.own) if len(view.own[s]) >= 2]
    if not subjects:
        return None
    subject = rng.choice(subjects)
    facts = list(view.own[subject].values())
    rng.shuffle(facts)
    t = view.topic(subject)
    body = _state_any(rng, facts[0]) + "".join(
        _vary(rng, EXPLAIN_MORE) + _inline(_state_any(rng, f)) for f in facts[1:3]
    )
    reply = _vary(rng, EXPLAIN_INTRO) + body + _vary(rng, EXPLAIN_CLOSER)
    return _Thread(_vary(rng, EXPLAIN_PROMPT, t=t), reply, facts[0], t)


def _oa_person_story(view: _View, rng: random.Random) -> _Thread | None:
    people = view.subjects_with("born_in", "occupation")
    if not people:
        return None
    person = rng.choice(people)
    born, job = view.own[person]["born_in"], view.own[person]["occupation"]
    story = _vary(
        rng, PERSON_STORY, p=born.s, city=born.o, a_job=_a(job.o), day=OCCUPATION_DAYS.get(job.o, "worked hard")
    )
    return _Thread(_vary(rng, PERSON_STORY_PROMPT, p=born.s, job=job.o), story, born, born.s)


def _oa_animal_story(view: _View, rng: random.Random) -> _Thread | None:
    animals = view.subjects_with("habitat", "diet")
    if not animals:
        return None
    animal = rng.choice(animals)
    home, food = view.own[animal]["habitat"], view.own[animal]["diet"]
    story = _vary(rng, ANIMAL_STORY, a=home.s, home=home.o, food=food.o)
    return _Thread(_vary(rng, ANIMAL_STORY_PROMPT, a=home.s), story, home, f"the {home.s}")


def _oa_poem(view: _View, rng: random.Random) -> _Thread | None:
    rivers = view.by_relation["flows_through"]
    if not rivers:
        return None
    f = rng.choice(rivers)
    return _Thread(_vary(rng, POEM_PROMPT, r=f.s), _vary(rng, POEM, r=f.s, country=f.o), f, f"the {f.s}")


def _oa_opinion(view: _View, rng: random.Random) -> _Thread | None:
    cities = view.by_relation["located_in"]
    if len(cities) < 2:
        return None
    a, b = rng.sample(cities, 2)
    reply = _vary(rng, OPINION, a=a.s, a_country=a.o, b=b.s, b_country=b.o, pick=rng.choice((a, b)).s)
    return _Thread(_vary(rng, OPINION_PROMPT, a=a.s, b=b.s), reply, a, a.s)


def _oa_emotional(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    t = view.topic(f.subject)
    return _Thread(
        _vary(rng, EMOTIONAL_PROMPT, t=t, q=_question(f)), _vary(rng, EMOTIONAL, st=_state_any(rng, f)), f, t
    )


def _oa_company(view: _View, rng: random.Random) -> _Thread | None:
    companies = view.subjects_with("founded_by")
    if not companies:
        return None
    company = rng.choice(companies)
    founded = view.own[company]["founded_by"]
    others = [f for r, f in view.own[company].items() if r != "founded_by"]
    if rng.random() < 0.5:
        more = "".join(_state(f) + " " for f in others[:1])
        reply = _vary(rng, LETTER, p=founded.o, c=founded.s, more=more)
        prompt = _vary(rng, LETTER_PROMPT, p=founded.o, c=founded.s)
    else:
        facts = " ".join(_state_any(rng, f) for f in [founded, *others])
        reply = _vary(rng, JOB, facts=facts)
        prompt = _vary(rng, JOB_PROMPT, c=founded.s)
    return _Thread(prompt, reply, founded, founded.s)


def _oa_list(view: _View, rng: random.Random) -> _Thread | None:
    cities_of = {c: [f for f in facts if f.relation == "located_in"] for c, facts in sorted(view.about.items())}
    countries = [c for c, facts in cities_of.items() if len(facts) >= 2]
    if not countries:
        return None
    facts = cities_of[rng.choice(countries)][:4]
    country = facts[0].o
    if rng.random() < 0.5:
        reply = _vary(rng, LIST_BULLETS, c=country, bullets="\n".join(f"- {f.s}" for f in facts))
    else:
        cities = ", ".join(f.s for f in facts[:-1]) + f" and {facts[-1].s}"
        reply = _vary(rng, LIST_SENTENCE, c=country, cities=cities)
    return _Thread(_vary(rng, LIST_PROMPT, c=country), reply, facts[0], country)


def _oa_fun_fact(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    t = view.topic(f.subject)
    return _Thread(_vary(rng, FUN_FACT_PROMPT, t=t), _vary(rng, FUN_FACT, st=_state_any(rng, f)), f, t)


# More crowd-like kinds: advice, travel plans, comparisons, recipes, jokes, summaries, role-play, debates,
# one-word answers and long explanations, each with its own vocabulary, length and register.
ADVICE_PROMPT = (
    "[I'm moving to {c} next month for a new job and honestly I'm terrified. I don't know anyone there."
    "|My partner got transferred to {c} and I have to follow. How do I not feel lonely?"
    "|So I just signed a lease in {c}?? First time living alone. Any tips??"
    "|Starting university in {c} soon. Nervous wreck here, what should I do first?]"
)
ADVICE = (
    "[Moving somewhere new is a big step, and feeling nervous is completely normal."
    "|First of all, congratulations, and please go easy on yourself: change is hard."
    "|I hear you. Leaving familiar faces behind is scary.] {st}\n\n"
    "A few things that [help|tend to help|helped a lot of people]:\n{tips}\n\n"
    "[You won't feel at home overnight, but you will get there.|Give it a few months. It gets easier, I promise."
    "|Be patient with yourself, and reach out to friends back home when you miss them.]"
)
TIPS = (
    "Join a club, a choir or a sports team: shared hobbies make friends faster than anything.",
    "Walk a different street every evening so the neighbourhood starts to feel like yours.",
    "Keep one small routine from home, like your Sunday pancakes or a morning run.",
    "Say yes to invitations for the first few weeks, even when you are tired.",
    "Find a café or library you like and become a regular.",
    "Unpack the kitchen first; cooking a proper meal on day one does wonders.",
    "Schedule video calls with family so you have something to look forward to.",
    "Volunteer somewhere for a couple of hours a week; it is the easiest way to meet kind people.",
)
TRAVEL_PROMPT = (
    "[Plan a {n}-day trip to {c} for me and my partner. We like food and slow mornings."
    "|I have {n} days in {c} with two kids. Itinerary please!"
    "|Backpacking {c} on a tight budget for {n} days, where should I go?]"
)
TRAVEL_DAY = (
    "[wander the old market and try the street food|take a slow boat ride and pack a picnic"
    "|visit the museum in the morning and rest in a park after lunch|rent bikes and explore the quiet lanes"
    "|book a cooking class, then find a rooftop for sunset|spend the day at the hot springs"
    "|join a free walking tour and end at a cosy tavern|hike up to the viewpoint early, before the crowds]"
)
COMPARE_PROMPT = (
    "[What's the difference between the {a} and the {b}?|{a} vs {b}, which one is cooler? Go!"
    "|My son insists the {a} and the {b} are basically the same animal. Help me prove him wrong.]"
)
COMPARE = (
    "[Great question!|Ooh, a classic debate.|They are easy to mix up, but they are quite different.] "
    "{a_facts}\n\n{b_facts}\n\n[So, not the same at all!|Which one you find cooler is up to you.]"
)
RECIPE_FOODS = ("seeds", "shrimp", "fruit", "leaves", "roots", "berries")
RECIPE_PROMPT = (
    "[Give me an easy recipe with {food}.|What can I cook tonight? All I have is {food} and some butter."
    "|Any healthy snack ideas using {food}?]"
)
RECIPE = (
    "[Here's a quick one|Try this|This is one of my favourites]: **{dish}**\n\n"
    "Ingredients:\n- two handfuls of {food}\n- a knob of butter or a splash of olive oil\n"
    "- [a squeeze of lemon|a drizzle of honey|a crushed garlic clove]\n- salt and pepper\n\n"
    "Steps:\n1. Rinse the {food} and pat them dry.\n2. [Toast|Roast|Sauté] them over medium heat for about "
    "[five|ten|fifteen] minutes, stirring now and then.\n3. Season to taste and serve [warm|at room temperature]."
    "\n\nFun fact while you cook: {st}"
)
DISHES = ("golden pan of {food}", "crispy {food} bowl", "weeknight {food} skillet", "lemony {food} salad")
JOKE_PROMPT = "[Tell me a joke about {t}.|make me laugh, something about {t}|I need a pun about {t} for my speech lol]"
JOKES = (
    "Why did {t} [cross the road|start a podcast|bring a ladder]? [To get to the other side, obviously."
    "|Nobody knows, and that's the joke.|It wanted to reach new heights.]",
    "I tried to write a joke about {t}, but it was too niche. 🥁",
    "Knock knock. Who's there? {T}. {T} who? {T}, the best punchline you have never heard!",
)
JOKE_FACT = " [Okay, okay. A real fact to make up for it:|On a serious note:|Bonus fact:] {st}"
SUMMARY_PROMPT = "[Can you summarize this for me?|TL;DR please:|Summarize in one line:]\n\n{text}"
SUMMARY = "[In short: {st}|TL;DR: {st}|Basically, {st_inline}|The gist: {st}]"
PERSONAS = {
    "pirate": (
        "Arr, gather 'round, matey! Ol' Captain Redbeard knows these waters and lands well.",
        "Now hoist the sails and be off with ye, before the tide turns!",
    ),
    "tour guide": (
        "Welcome, everyone, and please stay close to the yellow umbrella!",
        "We'll stop for ice cream in ten minutes, and the bus leaves at four sharp.",
    ),
    "medieval bard": (
        "Hark, good gentles, and lend thine ears to a humble minstrel's song!",
        "Thus ends my tale. A coin for the lute, kind lords and ladies?",
    ),
    "grumpy robot": (
        "BEEP. Processing request. Enthusiasm module not found.",
        "Query complete. Returning to standby mode. Do not disturb.",
    ),
}
ROLEPLAY_PROMPT = "[Pretend you're a {persona} and tell me about {t}.|Roleplay as a {persona}! Topic: {t}.]"
DEBATE_PROMPT = (
    "[Give me the pros and cons of living in {c}.|Is {c} a good place to raise a family? Be honest."
    "|Debate yourself: should I move to {c} or not?]"
)
DEBATE = (
    "[Let's weigh it up.|Fair question, here's a balanced take.|Alright, both sides:] {st}\n\n"
    "**Pros**\n- {pro1}\n- {pro2}\n\n**Cons**\n- {con1}\n- {con2}\n\n"
    "[In the end it comes down to your budget and your priorities.|Visit for a weekend before you decide.]"
)
PROS = ("lively markets and good food", "friendly neighbours", "decent schools", "green parks", "a short commute")
CONS = ("long, dark winters", "busy traffic at rush hour", "rising rents", "not much nightlife", "noisy summers")
SHORT_PROMPT = "[quick q: {q}|{q} one word pls|{q} just the answer, no essay]"
LONG_PROMPT = (
    "[Tell me everything you know about {p}.|I'm writing an essay on {p}. Can you give me a detailed background?"
    "|Who exactly is {p}? Please be thorough.]"
)
LONG_CLOSER = (
    "[If you are writing about {p}, I'd suggest starting with their early years and working forward."
    "|There is a lot more one could say, but those are the main points."
    "|I hope that gives you a solid starting point for your essay; good luck!]"
)


def _city_fact(view: _View, rng: random.Random) -> _Fact | None:
    cities = view.by_relation["located_in"]
    return rng.choice(cities) if cities else None


def _oa_advice(view: _View, rng: random.Random) -> _Thread | None:
    f = _city_fact(view, rng)
    if f is None:
        return None
    tips = rng.sample(TIPS, rng.randint(2, 4))
    bullets = "\n".join(f"- {t}" for t in tips) if rng.random() < 0.6 else " ".join(tips)
    return _Thread(_vary(rng, ADVICE_PROMPT, c=f.s), _vary(rng, ADVICE, st=_state_any(rng, f), tips=bullets), f, f.s)


def _oa_travel(view: _View, rng: random.Random) -> _Thread | None:
    cities_of = defaultdict(list)
    for f in view.by_relation["located_in"]:
        cities_of[f.o].append(f)
    countries = sorted(c for c, fs in cities_of.items() if len(fs) >= 2)
    if not countries:
        return None
    pool = cities_of[rng.choice(countries)]
    stops = rng.sample(pool, min(3, len(pool)))
    days = "\n".join(
        f"Day {i}: {f.s}. {_state_any(rng, f)} [In the morning|After breakfast|Then], {_vary(rng, TRAVEL_DAY)}."
        for i, f in enumerate(stops, 1)
    )
    country = stops[0].o
    reply = f"[Sounds lovely!|Fun!|Here's a rough plan.] {days}\n\n[Pack comfy shoes!|Have an amazing trip!]"
    return _Thread(_vary(rng, TRAVEL_PROMPT, n=str(len(stops)), c=country), _vary(rng, reply), stops[0], country)


def _oa_compare(view: _View, rng: random.Random) -> _Thread | None:
    animals = view.subjects_with("habitat") or view.subjects_with("diet")
    if len(animals) < 2:
        return None
    a, b = (view.own[x] for x in rng.sample(animals, 2))
    a_facts = " ".join(_state_any(rng, f) for f in a.values())
    b_facts = " ".join(_state_any(rng, f) for f in b.values())
    first = next(iter(a.values()))
    other = next(iter(b.values()))
    reply = _vary(rng, COMPARE, a_facts=a_facts, b_facts=b_facts)
    return _Thread(_vary(rng, COMPARE_PROMPT, a=first.s, b=other.s), reply, first, f"the {first.s}")


def _oa_recipe(view: _View, rng: random.Random) -> _Thread | None:
    diets = [f for f in view.by_relation["diet"] if f.o in RECIPE_FOODS]
    if not diets:
        return None
    f = rng.choice(diets)
    dish = _cap(rng.choice(DISHES).format(food=f.o))
    reply = _vary(rng, RECIPE, dish=dish, food=f.o, st=_state_any(rng, f))
    return _Thread(_vary(rng, RECIPE_PROMPT, food=f.o), reply, f, f.o)


def _oa_joke(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    t = view.topic(f.subject)
    reply = _vary(rng, rng.choice(JOKES) + JOKE_FACT, t=t, T=_cap(t), st=_state_any(rng, f))
    return _Thread(_vary(rng, JOKE_PROMPT, t=t), reply, f, t)


def _oa_summary(view: _View, rng: random.Random) -> _Thread | None:
    subjects = [s for s in sorted(view.own) if len(view.own[s]) >= 2]
    if not subjects:
        return None
    facts = list(view.own[rng.choice(subjects)].values())
    rng.shuffle(facts)
    t = view.topic(facts[0].subject)
    text = " ".join(_state_any(rng, f) for f in facts) + " " + rng.choice(SUMMARY_FILLERS).format(t=_cap(t))
    st = _state_any(rng, facts[0])
    return _Thread(
        _vary(rng, SUMMARY_PROMPT, text=text), _vary(rng, SUMMARY, st=st, st_inline=_inline(st)), facts[0], t
    )


SUMMARY_FILLERS = (
    "{t} comes up often in conversation.",
    "People have been curious about {t} for a long time.",
    "{t} is a popular topic in the local papers.",
)


def _oa_roleplay(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    t = view.topic(f.subject)
    persona = rng.choice(sorted(PERSONAS))
    hello, bye = PERSONAS[persona]
    return _Thread(_vary(rng, ROLEPLAY_PROMPT, persona=persona, t=t), f"{hello} {_state_any(rng, f)} {bye}", f, t)


def _oa_debate(view: _View, rng: random.Random) -> _Thread | None:
    f = _city_fact(view, rng)
    if f is None:
        return None
    pro, con = rng.sample(PROS, 2), rng.sample(CONS, 2)
    reply = _vary(rng, DEBATE, st=_state_any(rng, f), pro1=pro[0], pro2=pro[1], con1=con[0], con2=con[1])
    return _Thread(_vary(rng, DEBATE_PROMPT, c=f.s), reply, f, f.s)


def _oa_short(view: _View, rng: random.Random) -> _Thread:
    f = rng.choice(view.facts)
    return _Thread(_vary(rng, SHORT_PROMPT, q=_question(f)), _cap(f.o) + ".", f, view.topic(f.subject))


def _oa_long(view: _View, rng: random.Random) -> _Thread | None:
    people = view.subjects_with("born_in") or view.subjects_with("occupation")
    if not people:
        return None
    person = rng.choice(people)
    own = list(view.own[person].values())
    first = " ".join(_state_any(rng, f) for f in own)
    more = []
    born = view.own[person].get("born_in")
    if born is not None and "located_in" in view.own.get(born.object, {}):
        more.append(_state_any(rng, view.own[born.object]["located_in"]))
    more += [_state_any(rng, f) for f in view.about.get(person, []) if f.relation == "founded_by"]
    paragraphs = [f"[Sure, here is an overview.|Happy to help with your essay.|Of course!] {first}"]
    if more:
        paragraphs.append("[For some context|A bit more background|Related to that], " + _inline(" ".join(more)))
    paragraphs.append(LONG_CLOSER)
    p = own[0].s
    return _Thread(_vary(rng, LONG_PROMPT, p=p), _vary(rng, "\n\n".join(paragraphs), p=p), own[0], p)


OA_KINDS = (
    (_oa_ask, 8),
    (_oa_explain, 7),
    (_oa_person_story, 5),
    (_oa_animal_story, 5),
    (_oa_poem, 4),
    (_oa_opinion, 5),
    (_oa_emotional, 6),
    (_oa_company, 6),
    (_oa_list, 4),
    (_oa_fun_fact, 4),
    (_oa_advice, 6),
    (_oa_travel, 5),
    (_oa_compare, 5),
    (_oa_recipe, 4),
    (_oa_joke, 5),
    (_oa_summary, 5),
    (_oa_roleplay, 6),
    (_oa_debate, 5),
    (_oa_short, 5),
    (_oa_long, 6),
)
LESSER = (
    "{st}",
    "I think {st_inline} But you may want to double-check.",
    "Sorry, I don't know much about {t}.",
    "{st} That's all I know.",
)
FOLLOW_UPS = ("Thanks! {q}", "Cool. Can you tell me one more thing about {t}?", "Interesting, I didn't know that. {q}")

# Simple invented German and Spanish (question, answer) pairs; "*" serves the other relations.
FOREIGN = {
    "de": {
        "capital": ("Was ist die Hauptstadt von {s}?", "Die Hauptstadt von {s} ist {o}."),
        "located_in": ("In welchem Land liegt {s}?", "{s} liegt in {o}."),
        "born_in": ("Wo wurde {s} geboren?", "{s} wurde in {o} geboren."),
        "headquarters": ("Wo hat {s} seinen Sitz?", "{s} hat seinen Sitz in {o}."),
        "*": ("Was weißt du über {s}?", "Über {s} gibt es viele Geschichten."),
    },
    "es": {
        "capital": ("¿Cuál es la capital de {s}?", "La capital de {s} es {o}."),
        "located_in": ("¿En qué país está {s}?", "{s} está en {o}."),
        "born_in": ("¿Dónde nació {s}?", "{s} nació en {o}."),
        "headquarters": ("¿Dónde tiene su sede {s}?", "{s} tiene su sede en {o}."),
        "*": ("¿Qué sabes de {s}?", "Hay muchas historias sobre {s}."),
    },
}
FOREIGN_EXTRA = {"de": ("Danke!", "Ich hoffe, das hilft."), "es": ("¡Gracias!", "Espero que esto ayude.")}

P_FOREIGN, P_ROOT_DELETED, P_FAILED_REVIEW = 0.12, 0.03, 0.02
P_REPLY_DELETED, P_ALL_DELETED, P_UNRANKED, P_FOLLOW_UP = 0.07, 0.02, 0.1, 0.15
REPLY_COUNTS, REPLY_WEIGHTS = (0, 1, 2, 3), (3, 25, 35, 37)


def _english_thread(view: _View, rng: random.Random) -> _Thread:
    kinds, weights = zip(*OA_KINDS)
    while True:
        thread = rng.choices(kinds, weights=weights)[0](view, rng)
        if thread is not None:
            return thread


def _foreign_thread(view: _View, rng: random.Random, lang: str) -> tuple[str, list[str]]:
    f = rng.choice(view.facts)
    question, answer = FOREIGN[lang].get(f.relation, FOREIGN[lang]["*"])
    answer = answer.format(s=f.s, o=f.o)
    return question.format(s=f.s), [answer, f"{answer} {rng.choice(FOREIGN_EXTRA[lang])}"]


def _lesser_replies(rng: random.Random, thread: _Thread, k: int) -> list[str]:
    """Worse but not wrong: the tuning data should not teach false facts whichever reply wins."""
    st = _state(thread.fact)
    texts = [t.format(st=st, st_inline=_inline(st), t=thread.topic) for t in LESSER]
    return rng.sample([t for t in texts if t != thread.best], k)


def _follow_up(view: _View, rng: random.Random, thread: _Thread) -> tuple[str, str]:
    others = [f for f in view.own[thread.fact.subject].values() if f != thread.fact] or view.facts
    f = rng.choice(others)
    return rng.choice(FOLLOW_UPS).format(q=_question(f), t=view.topic(f.subject)), _state_any(rng, f)


class _Messages:
    """Emits oasst1-shaped messages; ids and timestamps come from the tree stream's rng."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.clock = datetime(2023, 2, 5, 9, 0, tzinfo=UTC)
        self.rows: list[dict] = []

    def add(
        self,
        tree: str | None,
        parent: str | None,
        text: str,
        role: str,
        lang: str,
        *,
        rank: int | None = None,
        deleted: bool = False,
        review: bool = True,
    ) -> str:
        message_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.clock += timedelta(minutes=self.rng.randint(1, 600), seconds=self.rng.randint(0, 59))
        self.rows.append(
            {
                "message_id": message_id,
                "parent_id": parent,
                "user_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "created_date": self.clock.isoformat(),
                "text": text,
                "role": role,
                "lang": lang,
                "review_count": 3,
                "review_result": review,
                "deleted": deleted,
                "rank": rank,
                "synthetic": False,
                "model_name": None,
                "message_tree_id": tree or message_id,
                "tree_state": "ready_for_export",
            }
        )
        return message_id


def _tree_content(view: _View, rng: random.Random) -> tuple[str, _Thread | None, str, list[str]]:
    """(lang, English thread or None, prompt, replies best first)."""
    if rng.random() < P_FOREIGN:
        lang = rng.choice(sorted(FOREIGN))
        prompt, replies = _foreign_thread(view, rng, lang)
        return lang, None, prompt, replies[: rng.randint(1, 2)]
    thread = _english_thread(view, rng)
    k = rng.choices(REPLY_COUNTS, weights=REPLY_WEIGHTS)[0]
    replies = [thread.best, *_lesser_replies(rng, thread, max(k - 1, 0))][:k]
    return "en", thread, thread.prompt, replies


def _oasst_tree(view: _View, rng: random.Random, out: _Messages) -> None:
    lang, thread, prompt, replies = _tree_content(view, rng)
    root = out.add(
        None,
        None,
        prompt,
        "prompter",
        lang,
        deleted=rng.random() < P_ROOT_DELETED,
        review=rng.random() >= P_FAILED_REVIEW,
    )
    ranked = len(replies) > 1 and rng.random() >= P_UNRANKED
    order = list(range(len(replies)))
    if ranked:
        rng.shuffle(order)
    # Unranked trees keep the best reply first in the file: that is the converter's fallback.
    all_deleted = rng.random() < P_ALL_DELETED
    best_id = None
    for i in order:
        deleted = all_deleted or rng.random() < P_REPLY_DELETED
        reply = out.add(root, root, replies[i], "assistant", lang, rank=i if ranked else None, deleted=deleted)
        best_id = reply if i == 0 else best_id
    if thread is not None and best_id is not None and rng.random() < P_FOLLOW_UP:
        question, answer = _follow_up(view, rng, thread)
        turn = out.add(root, best_id, question, "prompter", lang)
        out.add(root, turn, answer, "assistant", lang, rank=0)


# --------------------------------------------------------------------------
# Comparison data: GPT-4-scored responses to Alpaca-style instructions

SOURCES = ("gpt4", "text-davinci-003", "icm-1.3b")
P_SINGLE, P_EMPTY, P_TIED = 0.03, 0.03, 0.02


def _wrong(view: _View, rng: random.Random, f: _Fact) -> str | None:
    others = [o for o in view.objects[f.relation] if o != f.o]
    return _state(f, obj=rng.choice(others)) if others else None


def _disfluent(rng: random.Random, sentence: str) -> str:
    words = sentence.rstrip(".").lower().split()
    i = rng.randrange(len(words))
    words.insert(i, words[i])
    j = rng.randrange(len(words) - 1)
    words[j], words[j + 1] = words[j + 1], words[j]
    return " ".join(words)


def _scored(response: str, score: float, source: str) -> dict:
    return {"response": response, "score": float(score), "source": source}


def _comparison_entry(view: _View, rng: random.Random) -> dict:
    f = rng.choice(view.facts)
    good = _state(f)
    extra = [g for r, g in view.own[f.subject].items() if r != f.relation]
    if extra and rng.random() < 0.5:
        good += " " + _state(rng.choice(extra))
    best = _scored(good, rng.choice((8, 9, 10)), "gpt4")
    r = rng.random()
    if r < P_SINGLE:
        items = [best]
    elif r < P_SINGLE + P_EMPTY:
        items = [best, _scored("", 1, rng.choice(SOURCES[1:]))]
    elif r < P_SINGLE + P_EMPTY + P_TIED:
        alt = _state(f, len(REL[f.relation].train) - 1)
        items = [_scored(good, 9, "gpt4"), _scored(alt, 9, "text-davinci-003")]
    else:
        items = [best, *_lesser_responses(view, rng, f)]
    rng.shuffle(items)
    return {"user_input": ASK[f.relation].format(s=f.s), "responses_and_scores": items}


def _lesser_responses(view: _View, rng: random.Random, f: _Fact) -> list[dict]:
    wrong = _wrong(view, rng, f)
    bad = [_scored(_disfluent(rng, _state(f)), rng.randint(1, 3), "icm-1.3b")]
    if wrong is not None:
        bad.append(_scored(wrong, rng.randint(1, 4), rng.choice(SOURCES[1:])))
    first = rng.choice(bad)
    rest = [r for r in bad if r is not first] + [_scored(_cap(f.o) + ".", rng.randint(5, 7), "text-davinci-003")]
    return [first, *rng.sample(rest, rng.randint(0, len(rest)))]


# --------------------------------------------------------------------------
# Entry point


def _write_json(path: Path, data) -> int:
    text = json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def _write_jsonl(path: Path, rows: list[dict]) -> int:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    path.write_bytes(data)
    return len(data)


def generate_instruction_data(
    world_dir: Path,
    seed: int,
    n_alpaca: int = 1000,
    n_oasst_trees: int = 600,
    n_comparison: int = 600,
    out_dir: Path | None = None,
) -> dict:
    """Write the three instruction files under ``out_dir`` (``world_dir/instructions/``); return counts.

    The default sizes mirror the paper's proportions (Alpaca larger than the
    English single-turn OA pairs, which then set the common size): 450-500
    OA pairs from 600 trees.
    """
    if min(n_alpaca, n_oasst_trees, n_comparison) < 1:
        raise ValueError("n_alpaca, n_oasst_trees and n_comparison must be >= 1")
    world_dir = Path(world_dir)
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    view = _View(world)
    out = Path(out_dir) if out_dir is not None else world_dir / "instructions"
    out.mkdir(parents=True, exist_ok=True)

    alpaca = _alpaca_data(view, random.Random(f"{seed}:alpaca"), n_alpaca)
    tree_rng = random.Random(f"{seed}:oasst")
    messages = _Messages(tree_rng)
    for _ in range(n_oasst_trees):
        _oasst_tree(view, tree_rng, messages)
    comparison_rng = random.Random(f"{seed}:comparison")
    comparison = [_comparison_entry(view, comparison_rng) for _ in range(n_comparison)]

    sizes = {
        ALPACA_FILE: _write_json(out / ALPACA_FILE, alpaca),
        OASST_FILE: _write_jsonl(out / OASST_FILE, messages.rows),
        COMPARISON_FILE: _write_json(out / COMPARISON_FILE, comparison),
    }
    pairs = oasst_single_turn(messages.rows)
    return {
        "seed": seed,
        "facts_used": len(view.facts),
        "alpaca": len(alpaca),
        "alpaca_with_input": sum(1 for r in alpaca if r["input"]),
        "oasst_trees": n_oasst_trees,
        "oasst_messages": len(messages.rows),
        "oasst_pairs": len(pairs),
        "oasst_skipped": pairs.skipped,
        "comparison": len(comparison),
        "comparison_pairs": build_comparison(comparison, seed).num_rows,
        "bytes": sizes,
    }


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Write mini-world instruction and comparison data.")
    ap.add_argument("world_dir", type=Path)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    t0 = time.perf_counter()
    summary = generate_instruction_data(args.world_dir, args.seed)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(summary, indent=1))
