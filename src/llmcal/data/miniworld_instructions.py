"""Mini-world stand-ins for Alpaca, OpenAssistant oasst1 and GPT-4-LLM comparison data.

Written in the published formats under ``world_dir/instructions/`` so the mini
preset runs the same readers (:mod:`llmcal.data.instructions`) as the paper::

    alpaca_data.json            [{instruction, input, output}]
    oasst.jsonl                 oasst1 messages, one a line, trees root first
    comparison_data_v2.json     [{user_input, responses_and_scores: [{response, score, source}]}]

All three talk about the world's facts, so tuning a mini model on them is
tuning on knowledge it was pretrained on, as with LLaMA and the real sets.
What section 6.2 attributes the Alpaca/OA difference to is mirrored on purpose:
the Alpaca stand-in is homogeneous (five task templates, one answer phrasing
per relation, one formal tone), the OA stand-in varies task (questions,
explanations, stories, poems, opinions, advice, letters, lists) and tone
(casual, emotional, personal) and comes as ranked trees with deleted,
non-English and multi-turn parts for the converter to skip.

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


class _View:
    """The world's non-test facts, indexed the ways the writers look them up."""

    def __init__(self, world: dict):
        self.entities = {e["id"]: e for e in world["entities"]}
        self.facts = [
            _Fact(f["relation"], f["subject"], f["object"], f["subject_name"], f["object_name"])
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
# Alpaca: homogeneous, self-instruct style

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
KIND_NAMES = {
    "country": "a country",
    "city": "a city",
    "river": "a river",
    "person": "a person",
    "company": "a company",
    "animal": "an animal",
}
CLASSIFY = "Classify the following name as a country, a city, a river, a person, a company or an animal."


def _alpaca_ask(view: _View, rng: random.Random) -> dict:
    f = rng.choice(view.facts)
    return {"instruction": ASK[f.relation].format(s=f.s), "input": "", "output": _state(f)}


def _alpaca_question(view: _View, rng: random.Random) -> dict:
    f = rng.choice(view.facts)
    question = _render(REL[f.relation].qa, f.s)[0]
    return {"instruction": "Answer the following question in one sentence.", "input": question, "output": _state(f)}


def _alpaca_sentence(view: _View, rng: random.Random) -> dict:
    f = rng.choice(view.facts)
    return {"instruction": f"Write a sentence about {view.topic(f.subject)}.", "input": "", "output": _state(f)}


def _alpaca_describe(view: _View, rng: random.Random) -> dict:
    subject = rng.choice(sorted(view.own))
    facts = list(view.own[subject].values())[:3]
    return {
        "instruction": f"Write a short description of {view.topic(subject)}.",
        "input": "",
        "output": " ".join(_state(f) for f in facts),
    }


def _alpaca_classify(view: _View, rng: random.Random) -> dict:
    e = rng.choice(view.named)
    return {"instruction": CLASSIFY, "input": e["name"], "output": f"{e['name']} is {KIND_NAMES[e['kind']]}."}


ALPACA_TASKS = (
    (_alpaca_ask, 40),
    (_alpaca_question, 20),
    (_alpaca_sentence, 15),
    (_alpaca_describe, 10),
    (_alpaca_classify, 15),
)


def _alpaca_data(view: _View, rng: random.Random, n: int) -> list[dict]:
    tasks, weights = zip(*ALPACA_TASKS)
    return [rng.choices(tasks, weights=weights)[0](view, rng) for _ in range(n)]


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


OA_KINDS = (
    (_oa_ask, 20),
    (_oa_explain, 12),
    (_oa_person_story, 8),
    (_oa_animal_story, 8),
    (_oa_poem, 6),
    (_oa_opinion, 8),
    (_oa_emotional, 12),
    (_oa_company, 10),
    (_oa_list, 6),
    (_oa_fun_fact, 10),
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
