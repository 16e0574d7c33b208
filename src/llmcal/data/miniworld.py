"""A generated miniature world that stands in for the Pile, T-REx and MMLU in the mini preset.

Everything the three evaluation tasks need is derived from one seeded set of invented entities
and facts, so tiny models pretrained on ``corpus/train.jsonl`` can really learn the facts that
T-REx sentences and MMLU questions ask about. Fact frequency in the corpus is Zipf-skewed by
subject popularity, so knowledge grows gradually with model size and training steps instead of
jumping from nothing to everything.

Layout under ``out_dir``::

    corpus/train.jsonl                Pile-format pretraining documents
    pile/val.jsonl, pile/test.jsonl   held-out documents of the same distribution
    trex/trex_NN.json                 T-REx-schema documents (wording unseen in training)
    mmlu/data/{dev,test}/{subject}_{dev,test}.csv   Hendrycks MMLU layout, no header
    world.json                        entities, facts, MMLU question/fact links

Randomness comes only from ``random.Random`` instances seeded with strings (one stream per
part, so e.g. more held-out docs do not change the corpus); string seeds do not depend on
PYTHONHASHSEED and no set is iterated, so files are byte-identical for a given config.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from llmcal.data.mmlu_prompt import LETTERS
from llmcal.sections import Section, setting

PILE_SETS = ("MiniWiki", "MiniNews", "MiniQA", "MiniExams")
SUBJECTS = ("geography", "biography", "business", "science")
URI = "http://mini.world/entity/"
PROP_URI = "http://www.wikidata.org/prop/direct/"


@dataclass(frozen=True)
class WorldConfig(Section):
    """The `world:` section: the knobs of the generated miniature world."""

    section: ClassVar[str] = "world"

    seed: int = setting(1234, "seed of every random stream of the world")
    n_countries: int = setting(10, "invented countries")
    cities_per_country: int = setting(7, "cities per country")
    n_rivers: int = setting(12, "rivers")
    n_people: int = setting(60, "people")
    n_companies: int = setting(24, "companies")
    n_animals: int = setting(24, "animal species")
    n_train_docs: int = setting(2400, "pretraining documents (corpus/train.jsonl)")
    n_val_docs: int = setting(1100, "held-out Pile-format documents of the val split")
    n_test_docs: int = setting(1100, "held-out Pile-format documents of the test split")
    n_trex_docs: int = setting(1200, "T-REx-schema documents")
    trex_docs_per_file: int = setting(500, "T-REx documents per JSON file")
    subjects: tuple[str, ...] = setting(SUBJECTS, f"MMLU subjects, a subset of {', '.join(SUBJECTS)}")
    mmlu_test_per_subject: int = setting(60, "MMLU test questions per subject")
    mmlu_dev_per_subject: int = setting(5, "MMLU dev examples per subject (the shots; at least 5)")
    mmlu_quiz_facts_per_subject: int = setting(25, "facts per subject the MMLU questions are drawn from")
    min_doc_chars: int = setting(300, "shortest document in characters")
    max_doc_chars: int = setting(1500, "longest document in characters")
    zipf_alpha: float = setting(1.0, "exponent of the Zipf skew of fact frequency by subject popularity")
    # Shifts ranks so the head is not a handful of facts eating most of the corpus.
    zipf_offset: float = setting(10.0, "rank offset of the Zipf skew")
    min_mentions: int = setting(20, "fewest corpus mentions of any fact")
    # Pile-set mix of the corpus: (MiniWiki, MiniNews, MiniQA, MiniExams).
    set_weights: tuple[float, ...] = setting(
        (0.45, 0.35, 0.12, 0.08), f"corpus mix of the Pile sets {', '.join(PILE_SETS)}"
    )

    def __post_init__(self):
        if self.mmlu_dev_per_subject < 5:
            raise ValueError("mmlu_dev_per_subject must be >= 5 (the 5-shot prompt draws from dev)")
        if not 0 < self.min_doc_chars <= self.max_doc_chars - 250:
            raise ValueError("need 0 < min_doc_chars <= max_doc_chars - 250 (one unit of text fits)")
        unknown = set(self.subjects) - set(SUBJECTS)
        if unknown or not self.subjects:
            raise ValueError(f"subjects must be a non-empty subset of {SUBJECTS}, got {self.subjects}")
        if len(self.set_weights) != len(PILE_SETS) or min(self.set_weights) < 0:
            raise ValueError(f"set_weights needs {len(PILE_SETS)} non-negative weights")
        if min(self.n_countries, self.n_people, self.n_companies, self.n_animals) < 4:
            raise ValueError("each entity kind needs >= 4 members so questions have 3 distractors")
        if self.mmlu_quiz_facts_per_subject < 1 or self.mmlu_test_per_subject < 1:
            raise ValueError("mmlu_test_per_subject and mmlu_quiz_facts_per_subject must be >= 1")
        if self.trex_docs_per_file < 1:
            raise ValueError("trex_docs_per_file must be >= 1")

    @classmethod
    def tiny(cls, seed: int = 1234) -> WorldConfig:
        """A ~50 KB world for tests: every file kind, two T-REx shards, 8 test questions a subject."""
        return cls(
            seed=seed,
            n_countries=4,
            cities_per_country=3,
            n_rivers=4,
            n_people=16,
            n_companies=8,
            n_animals=8,
            n_train_docs=60,
            n_val_docs=20,
            n_test_docs=20,
            n_trex_docs=30,
            trex_docs_per_file=20,
            mmlu_test_per_subject=8,
            mmlu_dev_per_subject=5,
            mmlu_quiz_facts_per_subject=4,
            min_mentions=3,
        )


# Concept kinds use real words: only the named entities need to be novel tokens. Names are
# unique across kinds so a surface form always names one entity.
CONCEPTS = {
    "occupation": (
        "painter",
        "farmer",
        "doctor",
        "singer",
        "teacher",
        "sailor",
        "poet",
        "baker",
        "judge",
        "writer",
        "builder",
        "merchant",
    ),
    "product": ("steel", "tea", "glass", "paper", "cloth", "salt", "timber", "wool", "copper", "silk", "grain", "soap"),
    "habitat": ("forest", "desert", "swamp", "mountains", "grassland", "river", "coast", "caves"),
    "food": ("seeds", "shrimp", "insects", "grass", "fruit", "leaves", "roots", "worms", "berries"),
    "animal_class": ("bird", "fish", "mammal", "reptile", "insect", "amphibian"),
}


@dataclass(frozen=True)
class Relation:
    name: str
    pid: str
    subject_kind: str
    object_kind: str
    subject: str  # the MMLU subject asking about it
    train: tuple[str, ...]  # corpus wording
    # T-REx wording: sentences the corpus never uses, though the phrase before the object is a corpus phrase (as
    # real abstracts use the common relation phrases a model has read); the first starts with the subject.
    trex: tuple[str, ...]
    qa: str  # MiniQA question, worded unlike the MMLU one so test questions never leak
    mmlu: str


# Slots: {s} subject, {o} object, {ao} object with "a"/"an".
RELATIONS = (
    Relation(
        "capital",
        "P36",
        "country",
        "city",
        "geography",
        (
            "The capital of {s} is {o}.",
            "{o} is the capital of {s}.",
            "{s} has its capital at {o}.",
            "The capital city of {s} is {o}.",
            "{o} is the capital city of {s}.",
            "In {s}, the capital is {o}.",
        ),
        ("{s} is a country that has its capital at {o}.", "In the country of {s}, the capital is {o}."),
        "Does anyone know the capital of {s}?",
        "What is the capital of {s}?",
    ),
    Relation(
        "located_in",
        "P17",
        "city",
        "country",
        "geography",
        (
            "{s} is a city in {o}.",
            "{s} is located in {o}.",
            "The city of {s} lies in {o}.",
            "{s} is a town in {o}.",
            "The city of {s} is part of {o}.",
            "{s} is in {o}.",
        ),
        ("{s} is a city located in {o}.", "{s} is a small town in {o}."),
        "Where is {s}?",
        "In which country is the city of {s} located?",
    ),
    Relation(
        "flows_through",
        "P17",
        "river",
        "country",
        "geography",
        (
            "The {s} flows through {o}.",
            "The {s} runs across {o}.",
            "The {s} is a river in {o}.",
            "The {s} crosses {o}.",
            "{o} is crossed by the {s}.",
        ),
        ("The {s} is a long river in {o}.", "The {s} is a river which runs across {o}."),
        "Where does the {s} flow?",
        "Through which country does the {s} flow?",
    ),
    Relation(
        "born_in",
        "P19",
        "person",
        "city",
        "biography",
        (
            "{s} was born in {o}.",
            "{s} was born in the city of {o}.",
            "The birthplace of {s} is {o}.",
            "{s} is a native of {o}.",
            "{s} comes from {o}.",
            "{s}, who was born in {o}, is well known.",
        ),
        ("{s} is a person who was born in {o}.", "{s} was born in the city of {o} and lived there."),
        "Where was {s} born?",
        "In which city was {s} born?",
    ),
    Relation(
        "occupation",
        "P106",
        "person",
        "occupation",
        "biography",
        (
            "{s} is {ao}.",
            "{s} works as {ao}.",
            "{s} was {ao} by trade.",
            "By profession, {s} is {ao}.",
            "{s} earned a living as {ao}.",
            "The {o} {s} is well known.",
        ),
        ("{s} is a person who works as {ao}.", "{s} is well known and works as {ao}."),
        "What did {s} do for a living?",
        "What was the occupation of {s}?",
    ),
    Relation(
        "founded_by",
        "P112",
        "company",
        "person",
        "business",
        (
            "{s} was founded by {o}.",
            "{o} founded {s}.",
            "The founder of {s} is {o}.",
            "{s} was started by {o}.",
            "{o} is the founder of {s}.",
            "{s} was set up by {o}.",
        ),
        ("{s} is a company founded by {o}.", "{s} is a firm that was started by {o}."),
        "Who started {s}?",
        "Who founded {s}?",
    ),
    Relation(
        "headquarters",
        "P159",
        "company",
        "city",
        "business",
        (
            "{s} is based in {o}.",
            "{s} has its head office in {o}.",
            "The headquarters of {s} are in {o}.",
            "{s} is headquartered in {o}.",
            "The main office of {s} is in {o}.",
        ),
        ("{s} is a firm headquartered in {o}.", "{s} is a company based in {o}."),
        "Where is {s} based?",
        "In which city is {s} headquartered?",
    ),
    Relation(
        "product",
        "P1056",
        "company",
        "product",
        "business",
        (
            "{s} is a {o} company.",
            "{s} makes and sells {o}.",
            "{s} is known for its {o}.",
            "{s} deals in {o}.",
            "The main business of {s} is {o}.",
        ),
        ("{s} is a firm that makes and sells {o}.", "{s} is a company known for its {o}."),
        "What does {s} sell?",
        "What does {s} mainly produce?",
    ),
    Relation(
        "habitat",
        "P2974",
        "animal",
        "habitat",
        "science",
        (
            "The {s} lives in the {o}.",
            "The {s} is found in the {o}.",
            "The {s} makes its home in the {o}.",
            "In the {o} one can see the {s}.",
            "The natural home of the {s} is the {o}.",
        ),
        ("The {s} is an animal that lives in the {o}.", "The {s} is an animal found in the {o}."),
        "Where can one find the {s}?",
        "Where does the {s} live?",
    ),
    Relation(
        "diet",
        "P1034",
        "animal",
        "food",
        "science",
        (
            "The {s} eats {o}.",
            "The {s} feeds on {o}.",
            "The main food of the {s} is {o}.",
            "The {s} lives on {o}.",
            "The diet of the {s} is mostly {o}.",
        ),
        ("The {s} is an animal that feeds on {o}.", "The {s} is a creature that lives on {o}."),
        "What is the food of the {s}?",
        "What does the {s} eat?",
    ),
    Relation(
        "taxon",
        "P171",
        "animal",
        "animal_class",
        "science",
        (
            "The {s} is {ao}.",
            "The {s} is a kind of {o}.",
            "The {s} is a type of {o}.",
            "Scientists say the {s} is {ao}.",
        ),
        ("The {s} is an animal, a type of {o}.", "The {s} is a creature, a kind of {o}."),
        "What sort of creature is the {s}?",
        "What kind of animal is the {s}?",
    ),
)
REL = {r.name: r for r in RELATIONS}

WIKI_FILLERS = (
    "{t} is mentioned in many old books.",
    "Much has been written about {t}.",
    "{t} is well known in the region.",
    "Many people have heard of {t}.",
    "There are several stories about {t}.",
    "{t} appears in a number of records.",
    "Little else is known about {t}.",
)
NEWS_TITLES = ("Local news", "Weekly report", "News in brief", "Around the region", "Market notes")
NEWS_LEADS = (
    "Officials said that ",
    "It was reported that ",
    "This week it was noted that ",
    "Residents were reminded that ",
)
NEWS_FILLERS = (
    "The weather was mild for most of the week.",
    "Prices at the market rose again.",
    "The council met on Monday.",
    "Roads in the north were closed for repairs.",
    "A new school opened in the spring.",
    "Trade was slow this month.",
    "Farmers expect a good harvest this year.",
    "Many visitors came for the summer fair.",
    "The report will be published next week.",
    "Rain is expected later in the week.",
)
QA_TITLES = ("Questions and answers", "Reader questions", "Quick facts", "Ask the readers")

_KIND_WORDS = ("river", "works", "group", "trading")
_SLOT = re.compile(r"\{(s|o|ao)\}")
_WORD = re.compile(r"\w+|[^\w\s]")


def _render(template: str, s: str, o: str = "") -> tuple[str, dict[str, tuple[int, int]]]:
    """Fill a template; also return the character span of each filled slot."""
    out, spans, n, pos = [], {}, 0, 0
    for m in _SLOT.finditer(template):
        key = m.group(1)
        lit = template[pos : m.start()]
        if key == "ao":
            lit += "an " if o[0] in "aeiou" else "a "
            key = "o"
        val = s if key == "s" else o
        out += [lit, val]
        n += len(lit)
        spans[key] = (n, n + len(val))
        n += len(val)
        pos = m.end()
    out.append(template[pos:])
    text = "".join(out)
    return text[0].upper() + text[1:], spans


def _mmlu_prompt_header(subject: str) -> str:
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"


def _format_question(question: str, choices: list[str], answer: str) -> str:
    opts = "".join(f"{L}. {c}\n" for L, c in zip(LETTERS, choices))
    return f"{question}\n{opts}Answer: {answer}\n\n"


class _World:
    """Entities, facts, their MMLU split, and the sentence-level renderers the writers share."""

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        rng = random.Random(f"{cfg.seed}:world")
        self.entities: list[dict] = []
        self.facts: list[dict] = []
        self._names: list[str] = []
        self._make_entities(rng)
        self._make_facts(rng)
        self._split_mmlu(rng)

    # --- entities -----------------------------------------------------------------------------
    def _syllables(self, rng: random.Random) -> list[str]:
        onsets = (
            "b",
            "d",
            "f",
            "g",
            "h",
            "k",
            "l",
            "m",
            "n",
            "p",
            "r",
            "s",
            "t",
            "v",
            "z",
            "br",
            "dr",
            "gr",
            "kr",
            "st",
            "th",
            "sh",
            "tr",
        )
        codas = ("", "", "", "n", "r", "l", "s", "m", "sh", "th", "k")
        pool = sorted({o + v + c for o in onsets for v in "aeiou" for c in codas})
        # A small per-world inventory keeps the BPE vocabulary small and names share sub-word tokens.
        return rng.sample(pool, 36)

    def _new_name(self, rng: random.Random, make) -> str:
        banned = self._template_words
        for _ in range(2000):
            name = make()
            low = name.lower()
            # Invented parts must not be corpus words; kind markers ("River", "Works") are meant to be.
            if any(w in banned for w in low.split() if w not in _KIND_WORDS):
                continue
            # No name inside another (concept words included): substring checks in tests and
            # scoring stay unambiguous.
            core = " ".join(w for w in low.split() if w not in _KIND_WORDS)
            if any(c in core for c in self._concept_words) or any(low in o or o in low for o in self._names):
                continue
            self._names.append(low)
            return name
        raise ValueError("ran out of distinct names; enlarge the syllable inventory")

    def _add(self, kind: str, name: str) -> dict:
        e = {"id": f"E{len(self.entities):04d}", "kind": kind, "name": name}
        e["uri"] = URI + e["id"]
        self.entities.append(e)
        return e

    def _make_entities(self, rng: random.Random) -> None:
        cfg = self.cfg
        words = set()
        for r in RELATIONS:
            for t in (*r.train, *r.trex, r.qa, r.mmlu):
                words.update(w.lower() for w in re.findall(r"[A-Za-z]+", t))
        for t in (*WIKI_FILLERS, *NEWS_TITLES, *NEWS_LEADS, *NEWS_FILLERS, *QA_TITLES):
            words.update(w.lower() for w in re.findall(r"[A-Za-z]+", t))
        for vals in CONCEPTS.values():
            words.update(vals)
        self._concept_words = [v for vals in CONCEPTS.values() for v in vals]
        words.update(("company", "answer", "about", "following"))
        self._template_words = words
        syl = self._syllables(rng)
        self.syllables = syl
        two = lambda: rng.choice(syl) + rng.choice(syl)  # noqa: E731

        def country():
            return (two() + rng.choice(("ia", "and", "ora", "esh"))).capitalize()

        def city():
            return (two() + rng.choice(("", "um", "ton", "eth", "a"))).capitalize()

        def person():
            last = rng.choice(syl) + rng.choice(("", "", "en", "ik"))
            return f"{two().capitalize()} {last.capitalize()}"

        self.by_kind: dict[str, list[dict]] = {}
        for kind, n, make in (
            ("country", cfg.n_countries, country),
            ("city", cfg.n_countries * cfg.cities_per_country, city),
            ("river", cfg.n_rivers, lambda: two().capitalize() + " River"),
            ("person", cfg.n_people, person),
            ("company", cfg.n_companies, lambda: two().capitalize() + rng.choice((" Works", " Group", " Trading"))),
            ("animal", cfg.n_animals, two),
        ):
            self.by_kind[kind] = [self._add(kind, self._new_name(rng, make)) for _ in range(n)]
        self.named = list(self.entities)
        for kind, vals in CONCEPTS.items():
            self.by_kind[kind] = [self._add(kind, v) for v in vals]
        # Popularity is per entity (famous people have many well-known facts), Zipf over a random rank.
        order = self.named[:]
        rng.shuffle(order)
        for rank, e in enumerate(order, 1):
            e["popularity"] = round(1.0 / (rank + cfg.zipf_offset) ** cfg.zipf_alpha, 6)
        self.by_id = {e["id"]: e for e in self.entities}

    # --- facts --------------------------------------------------------------------------------
    def _fact(self, rng: random.Random, rel: str, s: dict, o: dict) -> None:
        self.facts.append(
            {
                "id": f"F{len(self.facts):04d}",
                "relation": rel,
                "subject": s["id"],
                "object": o["id"],
                "subject_name": s["name"],
                "object_name": o["name"],
                # Jitter so an entity's facts are not all exactly equally common.
                "weight": round(s["popularity"] * rng.uniform(0.5, 1.5), 6),
                "mmlu": None,
            }
        )

    def _make_facts(self, rng: random.Random) -> None:
        k, cpc = self.by_kind, self.cfg.cities_per_country
        for i, country in enumerate(k["country"]):
            cities = k["city"][i * cpc : (i + 1) * cpc]
            self._fact(rng, "capital", country, cities[0])
            for c in cities:
                self._fact(rng, "located_in", c, country)
        for r in k["river"]:
            self._fact(rng, "flows_through", r, rng.choice(k["country"]))
        for p in k["person"]:
            self._fact(rng, "born_in", p, rng.choice(k["city"]))
            self._fact(rng, "occupation", p, rng.choice(k["occupation"]))
        founders = (
            rng.sample(k["person"], len(k["company"]))
            if len(k["person"]) >= len(k["company"])
            else [rng.choice(k["person"]) for _ in k["company"]]
        )
        for c, f in zip(k["company"], founders):
            self._fact(rng, "founded_by", c, f)
            self._fact(rng, "headquarters", c, rng.choice(k["city"]))
            self._fact(rng, "product", c, rng.choice(k["product"]))
        for a in k["animal"]:
            self._fact(rng, "habitat", a, rng.choice(k["habitat"]))
            self._fact(rng, "diet", a, rng.choice(k["food"]))
            self._fact(rng, "taxon", a, rng.choice(k["animal_class"]))
        self.fact_by_id = {f["id"]: f for f in self.facts}
        self.own: dict[str, list[dict]] = {e["id"]: [] for e in self.entities}
        self.about: dict[str, list[dict]] = {e["id"]: [] for e in self.entities}
        for f in self.facts:
            self.own[f["subject"]].append(f)
            self.about[f["object"]].append(f)
        # Neighbourhood: facts about the named entities e's own facts link to (its city, its country,
        # its founder...). Wiki and T-REx pages mention these, as real pages mention linked pages.
        self.related = {}
        for e in self.named:
            mine = self.own[e["id"]] + self.about[e["id"]]
            links = {
                x
                for f in mine
                for x in (f["subject"], f["object"])
                if x != e["id"] and self.by_id[x]["kind"] not in CONCEPTS
            }
            self.related[e["id"]] = [
                f
                for f in self.facts
                if f["subject"] != e["id"] and (f["subject"] in links or f["object"] in links or f["object"] == e["id"])
            ]
        self.fact_cum = []
        total = 0.0
        for f in self.facts:
            total += f["weight"]
            self.fact_cum.append(total)
        self.entity_cum = []
        total = 0.0
        for e in self.named:
            total += e["popularity"]
            self.entity_cum.append(total)
        # Distractors of the right type: other objects of the same relation (e.g. other capitals).
        self.distractor_pool = {}
        for r in RELATIONS:
            objs = sorted({f["object_name"] for f in self.facts if f["relation"] == r.name})
            if len(objs) < 4:
                objs = [e["name"] for e in self.by_kind[r.object_kind]]
            self.distractor_pool[r.name] = objs

    def _split_mmlu(self, rng: random.Random) -> None:
        cfg = self.cfg
        self.mmlu: dict[str, dict] = {}
        for subj in cfg.subjects:
            pool = [f for f in self.facts if REL[f["relation"]].subject == subj]
            need = cfg.mmlu_test_per_subject + cfg.mmlu_dev_per_subject + 1
            if len(pool) < need:
                raise ValueError(
                    f"{subj}: {len(pool)} facts, need >= {need} for test+dev+quiz; "
                    "add entities or lower mmlu_test_per_subject"
                )
            rng.shuffle(pool)
            n_test, n_dev = cfg.mmlu_test_per_subject, cfg.mmlu_dev_per_subject
            test, dev = pool[:n_test], pool[n_test : n_test + n_dev]
            quiz = pool[n_test + n_dev : n_test + n_dev + cfg.mmlu_quiz_facts_per_subject]
            split = {"test": [], "dev": [], "quiz_facts": [f["id"] for f in quiz]}
            for name, facts in (("test", test), ("dev", dev)):
                # Balanced answer letters: each appears within one of n/4 times.
                letters = [LETTERS[i % 4] for i in range(len(facts))]
                rng.shuffle(letters)
                for f, letter in zip(facts, letters):
                    split[name].append(self.question(rng, f, letter))
            for f in test:
                f["mmlu"] = f"{subj}/test"
            for f in dev:
                f["mmlu"] = f"{subj}/dev"
            for f in quiz:
                f["mmlu"] = f"{subj}/quiz"
            self.mmlu[subj] = split

    def question(self, rng: random.Random, f: dict, letter: str | None = None) -> dict:
        rel = REL[f["relation"]]
        q, _ = _render(rel.mmlu, f["subject_name"])
        others = [n for n in self.distractor_pool[rel.name] if n != f["object_name"]]
        choices = rng.sample(others, 3)
        pos = LETTERS.index(letter) if letter else rng.randrange(4)
        choices.insert(pos, f["object_name"])
        return {"fact": f["id"], "question": q, "choices": choices, "answer": LETTERS[pos]}

    # --- text ---------------------------------------------------------------------------------
    def fact_sentence(self, rng: random.Random, f: dict) -> tuple[str, bool]:
        """A corpus sentence stating f; also whether it opens with template words (safe to lowercase)."""
        t = rng.choice(REL[f["relation"]].train)
        return _render(t, f["subject_name"], f["object_name"])[0], not t.startswith("{")

    def sample_fact(self, rng: random.Random) -> dict:
        return rng.choices(self.facts, cum_weights=self.fact_cum)[0]

    def sample_entity(self, rng: random.Random) -> dict:
        return rng.choices(self.named, cum_weights=self.entity_cum)[0]

    def topic_name(self, e: dict) -> str:
        return f"the {e['name']}" if e["kind"] == "animal" else e["name"]


class _DocWriter:
    """Builds Pile-style documents; counts fact mentions when writing the training split."""

    def __init__(self, world: _World, rng: random.Random, mentions: dict[str, int] | None):
        self.w, self.rng, self.mentions = world, rng, mentions
        self.lo, self.hi = world.cfg.min_doc_chars, world.cfg.max_doc_chars
        self.deficit: list[dict] = []
        self._pending: list[dict] = []  # facts stated by the unit being built
        self._popped: list[dict] = []  # deficit facts taken by it, returned if the unit is dropped

    def _say(self, f: dict) -> tuple[str, bool]:
        self._pending.append(f)
        return self.w.fact_sentence(self.rng, f)

    def _next_fact(self) -> dict:
        if self.deficit:
            self._popped.append(self.deficit.pop())
            return self._popped[-1]
        return self.w.sample_fact(self.rng)

    def _fill(self, head: str, unit, sep: str = " ") -> str:
        """Append units until a sampled target length, never past max_doc_chars.

        Mentions are only counted for units that make it into the document, so the training
        counts (and the min_mentions guarantee built on them) are exact.
        """
        target = self.rng.randint(self.lo, self.hi)
        text = head
        while len(text.rstrip()) < target:
            self._pending, self._popped = [], []
            u = unit()
            joined = text.endswith("\n") or u.startswith("\n")
            longer = text + ("" if joined else sep) + u
            if len(longer.rstrip()) > self.hi:
                self.deficit.extend(reversed(self._popped))
                if len(text.rstrip()) >= self.lo:
                    break
                continue
            text = longer
            if self.mentions is not None:
                for f in self._pending:
                    self.mentions[f["id"]] += 1
        return text.rstrip()

    def wiki(self) -> str:
        w, rng = self.w, self.rng
        e = w.sample_entity(rng)
        own, rel, t = w.own[e["id"]], w.related[e["id"]], w.topic_name(e)
        first = list(own)
        rng.shuffle(first)
        count = [0]

        def unit():
            count[0] += 1
            # Paragraph breaks, as in real pages; the break replaces the joining space.
            brk = "\n\n" if count[0] % rng.randint(3, 5) == 0 else ""
            if first:
                s = self._say(first.pop())[0]
            else:
                r = rng.random()
                if r < 0.2 or (r < 0.8 and not rel):
                    s = self._say(rng.choice(own))[0]
                elif r < 0.8:
                    s = self._say(rng.choice(rel))[0]
                else:
                    s = _render(rng.choice(WIKI_FILLERS).replace("{t}", "{s}"), t)[0]
            return brk + s

        title = e["name"][0].upper() + e["name"][1:]
        return self._fill(title + "\n\n", unit)

    def news(self) -> str:
        rng = self.rng

        def unit():
            if rng.random() < 0.25 and not self.deficit:
                return rng.choice(NEWS_FILLERS)
            s, lowerable = self._say(self._next_fact())
            if rng.random() < 0.3:
                s = rng.choice(NEWS_LEADS) + (s[0].lower() + s[1:] if lowerable else s)
            return s

        return self._fill(rng.choice(NEWS_TITLES) + "\n\n", unit)

    def qa(self) -> str:
        def unit():
            f = self._next_fact()
            q = _render(REL[f["relation"]].qa, f["subject_name"])[0]
            return f"Q: {q}\nA: {self._say(f)[0]}\n\n"

        return self._fill(self.rng.choice(QA_TITLES) + "\n\n", unit, sep="")

    def quiz(self) -> str:
        w, rng = self.w, self.rng
        subj = rng.choice([s for s in w.cfg.subjects if w.mmlu[s]["quiz_facts"]])
        facts = [w.fact_by_id[i] for i in w.mmlu[subj]["quiz_facts"]]

        def unit():
            q = w.question(rng, rng.choice(facts))
            return _format_question(q["question"], q["choices"], q["answer"])

        return self._fill(_mmlu_prompt_header(subj), unit, sep="")

    def doc(self) -> dict:
        kind = self.rng.choices(PILE_SETS, weights=self.w.cfg.set_weights)[0]
        text = {"MiniWiki": self.wiki, "MiniNews": self.news, "MiniQA": self.qa, "MiniExams": self.quiz}[kind]()
        return {"text": text, "meta": {"pile_set_name": kind}}


def _trex_doc(w: _World, rng: random.Random, i: int, e: dict) -> dict:
    own = list(w.own[e["id"]])
    rng.shuffle(own)
    extra = rng.sample(w.related[e["id"]], min(len(w.related[e["id"]]), rng.randint(1, 3)))
    text, sents, ents, triples = "", [], [], []
    for k, f in enumerate(own + extra):
        rel = REL[f["relation"]]
        # Abstracts open with their subject, so the page's entity sits at offset 0.
        tmpl = rel.trex[0] if k == 0 else rng.choice(rel.trex)
        sent, spans = _render(tmpl, f["subject_name"], f["object_name"])
        start = len(text) + (1 if text else 0)
        text += (" " if text else "") + sent
        sents.append([start, len(text)])
        pair = {}
        for slot in ("s", "o"):
            ent = w.by_id[f["subject" if slot == "s" else "object"]]
            a, b = spans[slot][0] + start, spans[slot][1] + start
            ann = {
                "uri": ent["uri"],
                "boundaries": [a, b],
                "surfaceform": text[a:b],
                "annotator": "Simple_String_Matching"
                if ent["kind"] in CONCEPTS
                else "Wikidata_Spotlight_Entity_Linker",
            }
            ents.append(ann)
            pair[slot] = ann
        triples.append(
            {
                "subject": pair["s"],
                "predicate": {
                    "uri": PROP_URI + rel.pid,
                    "boundaries": None,
                    "surfaceform": None,
                    "annotator": "NoSubject-Triple-aligner",
                },
                "object": pair["o"],
                "sentence_id": k,
                "dependency_path": None,
                "confidence": None,
                "annotator": "Simple-Aligner",
            }
        )
    ents.sort(key=lambda a: a["boundaries"])
    words = [[m.start(), m.end()] for m in _WORD.finditer(text)]
    return {
        "docid": f"mini-trex-{i:06d}",
        "title": e["name"],
        "uri": e["uri"],
        "text": text,
        "sentences_boundaries": sents,
        "words_boundaries": words,
        "entities": ents,
        "triples": triples,
    }


def _write_jsonl(path: Path, docs: list[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")
    path.write_bytes(data)
    return len(data)


def _write_csv(path: Path, questions: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        for q in questions:
            wr.writerow([q["question"], *q["choices"], q["answer"]])


def generate_world(out_dir: Path, config: WorldConfig = WorldConfig()) -> dict:
    """Write the miniature world under out_dir (see module docstring); return a summary of counts."""
    out_dir = Path(out_dir)
    cfg = config
    w = _World(cfg)

    # Training corpus; then top up facts still under min_mentions so every test fact is in the prose.
    mentions = {f["id"]: 0 for f in w.facts}
    train_w = _DocWriter(w, random.Random(f"{cfg.seed}:train"), mentions)
    train = [train_w.doc() for _ in range(cfg.n_train_docs)]
    short = [f for f in w.facts for _ in range(cfg.min_mentions - mentions[f["id"]])]
    train_w.rng.shuffle(short)
    train_w.deficit = short
    while train_w.deficit:
        train.append({"text": train_w.news(), "meta": {"pile_set_name": "MiniNews"}})
    train_w.rng.shuffle(train)
    for f in w.facts:
        f["train_mentions"] = mentions[f["id"]]

    # Held-out splits: same distribution, own random streams, never a copy of a seen document.
    seen = {d["text"] for d in train}
    held = {}
    for split, n in (("val", cfg.n_val_docs), ("test", cfg.n_test_docs)):
        dw, docs = _DocWriter(w, random.Random(f"{cfg.seed}:{split}"), None), []
        while len(docs) < n:
            d = dw.doc()
            if d["text"] not in seen:
                seen.add(d["text"])
                docs.append(d)
        held[split] = docs

    sizes = {"corpus/train.jsonl": _write_jsonl(out_dir / "corpus" / "train.jsonl", train)}
    for split, docs in held.items():
        sizes[f"pile/{split}.jsonl"] = _write_jsonl(out_dir / "pile" / f"{split}.jsonl", docs)

    trng = random.Random(f"{cfg.seed}:trex")
    order = []
    while len(order) < cfg.n_trex_docs:
        batch = w.named[:]
        trng.shuffle(batch)
        order += batch
    trex = [_trex_doc(w, trng, i, e) for i, e in enumerate(order[: cfg.n_trex_docs])]
    (out_dir / "trex").mkdir(parents=True, exist_ok=True)
    shards = [trex[i : i + cfg.trex_docs_per_file] for i in range(0, len(trex), cfg.trex_docs_per_file)]
    for k, shard in enumerate(shards):
        (out_dir / "trex" / f"trex_{k:02d}.json").write_text(json.dumps(shard, ensure_ascii=False), encoding="utf-8")

    for subj, split in w.mmlu.items():
        for name in ("dev", "test"):
            _write_csv(out_dir / "mmlu" / "data" / name / f"{subj}_{name}.csv", split[name])

    world = {
        "config": asdict(cfg),
        "syllables": w.syllables,
        "entities": w.entities,
        "relations": [
            {
                "name": r.name,
                "pid": r.pid,
                "subject_kind": r.subject_kind,
                "object_kind": r.object_kind,
                "mmlu_subject": r.subject,
            }
            for r in RELATIONS
        ],
        "facts": w.facts,
        "mmlu": w.mmlu,
    }
    (out_dir / "world.json").write_text(json.dumps(world, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    by_set = {s: 0 for s in PILE_SETS}
    for d in train:
        by_set[d["meta"]["pile_set_name"]] += 1
    kinds = {}
    for e in w.entities:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    return {
        "seed": cfg.seed,
        "entities": kinds,
        "facts": len(w.facts),
        "train_docs": len(train),
        "train_docs_by_set": by_set,
        "bytes": sizes,
        "pile_val_docs": len(held["val"]),
        "pile_test_docs": len(held["test"]),
        "trex_docs": len(trex),
        "trex_files": len(shards),
        "trex_entities": sum(len(d["entities"]) for d in trex),
        "trex_triples": sum(len(d["triples"]) for d in trex),
        "mmlu": {
            s: {"test": len(v["test"]), "dev": len(v["dev"]), "quiz_facts": len(v["quiz_facts"])}
            for s, v in w.mmlu.items()
        },
        "train_mentions_min": min(mentions.values()),
        "train_mentions_max": max(mentions.values()),
    }


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Generate the miniature world.")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = WorldConfig.tiny(args.seed) if args.tiny else WorldConfig(seed=args.seed)
    summary = generate_world(args.out_dir, cfg)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(summary, indent=1))
