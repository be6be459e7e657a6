"""A synthetic syndication set, generated here from a seed.

Stories on a handful of topics; every story is first published by one outlet and then
republished by a few others, each with its own byline and boilerplate, light edits
(words swapped for synonyms, a sentence dropped, the last paragraph cut), a headline of
its own and a tracking-laden URL. Different stories on one topic share their vocabulary,
sentence shapes and place names, so they are hard negatives.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import formatdate
from xml.sax.saxutils import escape

TOPICS: dict[str, dict[str, list[str]]] = {
    "rail": {
        "things": [
            "rail line",
            "signal box",
            "viaduct",
            "freight depot",
            "branch line",
            "level crossing",
            "station footbridge",
            "tunnel",
        ],
        "events": [
            "landslide",
            "flood",
            "signal failure",
            "derailment",
            "cable theft",
            "strike",
            "track fire",
            "bridge strike",
        ],
        "people": [
            "the operator",
            "the rail union",
            "the transport minister",
            "passenger groups",
            "network engineers",
            "the regional council",
        ],
        "acts": ["reopened", "closed", "inspected", "repaired", "rebuilt", "suspended"],
    },
    "harbour": {
        "things": [
            "harbour wall",
            "fish market",
            "ferry terminal",
            "slipway",
            "lifeboat station",
            "marina",
            "dredging scheme",
            "sea lock",
        ],
        "events": [
            "storm surge",
            "fuel spill",
            "collapse",
            "fire",
            "funding cut",
            "record catch",
            "protest",
            "grounding",
        ],
        "people": [
            "the harbour master",
            "the fishermen's association",
            "the coastguard",
            "the port authority",
            "local traders",
            "the county council",
        ],
        "acts": ["reopened", "closed", "expanded", "repaired", "sold", "evacuated"],
    },
    "health": {
        "things": [
            "hospital ward",
            "walk-in clinic",
            "ambulance station",
            "maternity unit",
            "vaccination centre",
            "mental health service",
            "dental practice",
            "pharmacy",
        ],
        "events": [
            "staff shortage",
            "norovirus outbreak",
            "funding row",
            "IT failure",
            "winter crisis",
            "strike",
            "inspection",
            "waiting list backlog",
        ],
        "people": [
            "the health board",
            "nursing unions",
            "the inspectorate",
            "patient groups",
            "hospital managers",
            "the health secretary",
        ],
        "acts": ["reopened", "closed", "merged", "downgraded", "expanded", "criticised"],
    },
    "election": {
        "things": [
            "council seat",
            "mayoral race",
            "ballot count",
            "polling station",
            "campaign fund",
            "party list",
            "recount",
            "turnout figure",
        ],
        "events": [
            "by-election",
            "recount",
            "defection",
            "funding inquiry",
            "hustings",
            "postal vote error",
            "boundary review",
            "leadership contest",
        ],
        "people": [
            "the returning officer",
            "party officials",
            "the electoral commission",
            "independent candidates",
            "campaigners",
            "the council leader",
        ],
        "acts": ["announced", "challenged", "confirmed", "delayed", "overturned", "won"],
    },
}
PLACES = [
    "Harrowgate",
    "Fenwick",
    "Quillmere",
    "Sorrowby",
    "Kettlebay",
    "Larchwood",
    "Tinkerford",
    "Meridian",
    "Ashcombe",
    "Brackenridge",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SYNONYMS = {
    "said": "told reporters",
    "about": "around",
    "after": "following",
    "before": "ahead of",
    "began": "started",
    "many": "numerous",
    "more than": "over",
    "expected": "due",
    "officials": "authorities",
    "residents": "locals",
    "people": "residents",
    "because": "as",
    "several": "a number of",
    "would": "will",
    "week": "seven days",
}
# Sentence shapes: every one has several slots, so two stories on one topic share words
# and short phrases but hardly ever a whole sentence.
SENTENCES = [
    "{people} said the {thing} in {place} had been {act} on {day} after a {event} that "
    "affected about {n1} people.",
    "The {event} began shortly before {hour} o'clock near the {thing2}, and {people} said it "
    "would take {n2} days to assess the damage.",
    "Residents of {place} told {people2} that the {thing} had worried them since {year}.",
    "{people} expected the cost to exceed {n3} million pounds and asked {people2} for help.",
    "In {place2}, where a {event2} happened in {year}, the {thing2} was {act2} within {n2} weeks.",
    "Officials from {people2} met on {day2} to agree a plan for the {thing} with {people3}.",
    "More than {n4} complaints about the {thing} were received in {n2} days, according to "
    "{people}.",
    "The {thing} in {place} is used by around {n1} people a day.",
    "Campaigners in {place2} said the {event} showed that the {thing2} also needed attention.",
    "A spokesperson for {people2} said a report on the {event} would follow within {n2} weeks.",
    "{people3} warned on {day2} that the {thing2} in {place2} faced a similar {event2}.",
    "Figures from {year} show the {thing} in {place} was {act2} {n2} times.",
    "The {event} in {place} is the {n2}th this year, {people2} said on {day}.",
    "{people} have promised {n3} million pounds for the {thing2} after the {event}.",
    "Talks between {people2} and {people3} about the {thing} will resume on {day2}.",
    "About {n4} people signed a petition calling for the {thing} in {place} to be {act2}.",
    "The {thing2} near {place2} was {act} in {year} after a {event2} cost {n3} million pounds.",
    "{people3} said the {event} at the {thing} had been handled well by {people2}.",
    "Engineers from {place2} arrived on {day2} with {n2} crews to help at the {thing}.",
    "Before the {event}, the {thing} in {place} had been {act2} for {n2} months.",
]
HEADLINES = [
    "{Thing} in {place} {act} after {event}",
    "{place} {thing} {act} following {event}",
    "{Event} leaves {place} {thing} {act}",
    "What the {event} means for {place}'s {thing}",
    "{People} respond as {place} {thing} is {act}",
    "{place}: {thing} {act} after {event}, {people} say",
]


@dataclass(frozen=True)
class Outlet:
    slug: str
    name: str
    site: str
    byline: str
    footer: str
    tracking: str


def _outlets(rng: random.Random, n: int) -> list[Outlet]:
    names = [
        "Courier",
        "Echo",
        "Gazette",
        "Herald",
        "Chronicle",
        "Observer",
        "Post",
        "Times",
        "Mercury",
        "Advertiser",
        "Argus",
        "Clarion",
    ]
    towns = [
        "Northern",
        "Valley",
        "Coastal",
        "County",
        "Western",
        "Evening",
        "Morning",
        "Weekly",
        "Daily",
        "Bay",
        "Upland",
        "Border",
    ]
    footers = [
        "Sign up to our morning briefing for the day's top stories delivered to your inbox.",
        "Copyright {name}. All rights reserved. This article may not be republished without "
        "permission. Do you have a story for us? Email the newsroom any time.",
        "Read more: our full coverage of the region. Follow us on social media for updates "
        "and join the conversation in the comments below.",
        "Support independent local journalism: subscribe today from just one pound a week "
        "and get unlimited access to every story.",
        "This story was produced with information from wire services. Additional reporting "
        "by our staff in the region.",
    ]
    trackers = [
        "utm_source=rss&utm_medium=feed&utm_campaign={c}",
        "fbclid=IwAR{c}",
        "ocid=rss&icid={c}",
        "mc_cid={c}&mc_eid=x{c}",
        "utm_source=partner&gclid={c}",
    ]
    out = []
    for i in range(n):
        name = f"{towns[i % len(towns)]} {names[i % len(names)]}"
        slug = name.lower().replace(" ", "")
        out.append(
            Outlet(
                slug=slug,
                name=name,
                site=f"https://www.{slug}.example",
                byline=rng.choice(
                    ["By {name} staff", "{name} news desk", "From our correspondent, {name}", ""]
                ).format(name=name),
                footer=rng.choice(footers).format(name=name),
                tracking=rng.choice(trackers),
            )
        )
    return out


def _fill(
    rng: random.Random, template: str, topic: dict[str, list[str]], facts: dict[str, str]
) -> str:
    words = dict(facts)
    for key in ("thing2", "act2", "people2", "people3", "place2", "day2", "event2"):
        words.setdefault(key, "")
    words["thing2"] = words["thing2"] or rng.choice(topic["things"])
    words["act2"] = words["act2"] or rng.choice(topic["acts"])
    words["people2"] = words["people2"] or rng.choice(topic["people"])
    words["people3"] = words["people3"] or rng.choice(topic["people"])
    words["place2"] = words["place2"] or rng.choice(PLACES)
    words["day2"] = words["day2"] or rng.choice(DAYS)
    words["event2"] = words["event2"] or rng.choice(topic["events"])
    text = template.format(**words)
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class Item:
    """One published article of the set: its story, outlet and whether it is a copy."""

    story: int
    copy: bool
    outlet: Outlet
    title: str
    url: str
    paragraphs: tuple[str, ...]
    published: float


def generate(
    seed: int = 5, *, stories_per_topic: int = 12, outlets: int = 10, max_copies: int = 4
) -> list[Item]:
    """The set in publication order: each story's original first, its copies later."""
    rng = random.Random(seed)
    shops = _outlets(rng, outlets)
    items: list[Item] = []
    t0 = 1_790_000_000.0
    story = 0
    for topic in TOPICS.values():
        for _ in range(stories_per_topic):
            facts = {
                "thing": rng.choice(topic["things"]),
                "event": rng.choice(topic["events"]),
                "people": rng.choice(topic["people"]),
                "act": rng.choice(topic["acts"]),
                "place": rng.choice(PLACES),
                "day": rng.choice(DAYS),
                "n1": str(rng.randrange(200, 20000)),
                "n2": str(rng.randrange(2, 30)),
                "n3": str(rng.randrange(2, 90)),
                "n4": str(rng.randrange(20, 900)),
                "hour": str(rng.randrange(1, 12)),
                "year": str(rng.randrange(1990, 2024)),
                "place2": rng.choice(PLACES),
                "people2": rng.choice(topic["people"]),
                "thing2": rng.choice(topic["things"]),
                "act2": rng.choice(topic["acts"]),
            }
            order = rng.sample(SENTENCES, k=rng.randrange(8, 12))
            sentences = [_fill(rng, s, topic, facts) for s in order]
            paragraphs = [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]
            publishers = rng.sample(shops, k=1 + rng.randrange(0, max_copies + 1))
            start = t0 + story * 3600 * 3
            for n, outlet in enumerate(publishers):
                body = list(paragraphs) if n == 0 else _edit(rng, paragraphs)
                head = _fill(
                    rng,
                    rng.choice(HEADLINES),
                    topic,
                    {
                        **facts,
                        "Thing": facts["thing"].capitalize(),
                        "Event": facts["event"].capitalize(),
                        "People": facts["people"].capitalize(),
                    },
                )
                slug = "-".join(head.lower().replace("'", "").replace(":", "").split()[:6])
                tracking = outlet.tracking.format(c=rng.randrange(10**6))
                items.append(
                    Item(
                        story=story,
                        copy=n > 0,
                        outlet=outlet,
                        title=head,
                        url=f"{outlet.site}/news/{story}-{slug}?{tracking}",
                        paragraphs=tuple(p for p in [outlet.byline, *body, outlet.footer] if p),
                        published=start + n * rng.randrange(600, 7200),
                    )
                )
            story += 1
    return sorted(items, key=lambda i: i.published)


def _edit(rng: random.Random, paragraphs: list[str]) -> list[str]:
    """Light edits a sub-editor makes: synonyms, a dropped sentence, a cut ending."""
    out = []
    for paragraph in paragraphs:
        edited = paragraph
        for word, other in SYNONYMS.items():
            if word in edited and rng.random() < 0.5:
                edited = edited.replace(word, other, 1)
        out.append(edited)
    if len(out) > 3 and rng.random() < 0.4:
        sentences = out[1].split(". ")
        out[1] = ". ".join(sentences[:-1]) or out[1]
    if len(out) > 3 and rng.random() < 0.3:
        out = out[:-1]
    return out


def rss(outlet: Outlet, items: list[Item]) -> bytes:
    """An outlet's feed document holding ``items``."""
    body = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.url)}</link>"
        f'<guid isPermaLink="false">{outlet.slug}-{i.story}</guid>'
        f"<pubDate>{formatdate(i.published, usegmt=True)}</pubDate>"
        f"<description>{escape(''.join(f'<p>{escape(p)}</p>' for p in i.paragraphs))}"
        f"</description></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(outlet.name)}</title><link>{outlet.site}/</link>{body}</channel></rss>"
    ).encode()
